-- GET /items?select=id&limit=5
-- prefer: count=exact
WITH "pgrst_source" AS (SELECT "api"."items"."id" FROM "api"."items" LIMIT $1), "pgrst_source_count" AS (SELECT 1 FROM "api"."items") SELECT (SELECT pg_catalog.count(*) FROM "pgrst_source_count") AS total_result_set, pg_catalog.count(_postgrest_t) AS page_total, CAST(COALESCE(pg_catalog.json_agg(_postgrest_t), '[]') AS TEXT) AS body, NULLIF(pg_catalog.current_setting('response.headers', TRUE), '') AS response_headers, NULLIF(pg_catalog.current_setting('response.status', TRUE), '') AS response_status FROM (SELECT * FROM "pgrst_source") AS _postgrest_t
-- params: ['5']
