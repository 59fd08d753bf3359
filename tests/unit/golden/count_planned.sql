-- GET /items?select=id&id=gt.3&limit=5
-- prefer: count=planned
WITH "pgrst_source" AS (SELECT "api"."items"."id" FROM "api"."items" WHERE "api"."items"."id" > $1 LIMIT $2) SELECT CAST(NULL AS BIGINT) AS total_result_set, pg_catalog.count(_postgrest_t) AS page_total, CAST(COALESCE(pg_catalog.json_agg(_postgrest_t), '[]') AS TEXT) AS body, NULLIF(pg_catalog.current_setting('response.headers', TRUE), '') AS response_headers, NULLIF(pg_catalog.current_setting('response.status', TRUE), '') AS response_status FROM (SELECT * FROM "pgrst_source") AS _postgrest_t
-- params: ['3', '5']
EXPLAIN (FORMAT JSON) SELECT 1 FROM "api"."items" WHERE "api"."items"."id" > $1
-- params: ['3']
