-- GET /films?select=id,title
-- accept: pg/outfunc
WITH "pgrst_source" AS (SELECT "api"."films"."id", "api"."films"."title" FROM "api"."films") SELECT CAST(NULL AS BIGINT) AS total_result_set, pg_catalog.count(_postgrest_t) AS page_total, CAST(COALESCE(CAST("api"."outfunc_agg"(_postgrest_t) AS TEXT), '') AS TEXT) AS body, NULLIF(pg_catalog.current_setting('response.headers', TRUE), '') AS response_headers, NULLIF(pg_catalog.current_setting('response.status', TRUE), '') AS response_status FROM (SELECT * FROM "pgrst_source") AS _postgrest_t
-- params: []
