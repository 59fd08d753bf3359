-- GET /items?limit=10&offset=20
WITH "pgrst_source" AS (SELECT "api"."items".* FROM "api"."items" LIMIT $1 OFFSET $2) SELECT CAST(NULL AS BIGINT) AS total_result_set, pg_catalog.count(_postgrest_t) AS page_total, CAST(COALESCE(pg_catalog.json_agg(_postgrest_t), '[]') AS TEXT) AS body, NULLIF(pg_catalog.current_setting('response.headers', TRUE), '') AS response_headers, NULLIF(pg_catalog.current_setting('response.status', TRUE), '') AS response_status FROM (SELECT * FROM "pgrst_source") AS _postgrest_t
-- params: ['10', '20']
