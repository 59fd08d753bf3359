-- GET /rpc/add_them?a=1&b=2
-- accept: pg/outfunc
WITH "pgrst_source" AS (SELECT "add_them"."pgrst_scalar" FROM (SELECT "api"."add_them"("a" => CAST($1 AS integer), "b" => CAST($2 AS integer)) AS "pgrst_scalar") AS "add_them") SELECT CAST(NULL AS BIGINT) AS total_result_set, pg_catalog.count(_postgrest_t) AS page_total, CAST(COALESCE(CAST("api"."outfunc_agg"(_postgrest_t."pgrst_scalar") AS TEXT), '') AS TEXT) AS body, NULLIF(pg_catalog.current_setting('response.headers', TRUE), '') AS response_headers, NULLIF(pg_catalog.current_setting('response.status', TRUE), '') AS response_status FROM (SELECT * FROM "pgrst_source") AS _postgrest_t
-- params: ['1', '2']
