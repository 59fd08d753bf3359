-- GET /films?year=gt.1960
-- accept: application/vnd.twkb
WITH "pgrst_source" AS (SELECT "api"."films".* FROM "api"."films" WHERE "api"."films"."year" > $1) SELECT CAST(NULL AS BIGINT) AS total_result_set, pg_catalog.count(_postgrest_t) AS page_total, CAST(COALESCE(pg_catalog.encode(CAST("api"."twkb_agg"(CAST(_postgrest_t AS "api"."films")) AS BYTEA), 'hex'), '') AS TEXT) AS body, NULLIF(pg_catalog.current_setting('response.headers', TRUE), '') AS response_headers, NULLIF(pg_catalog.current_setting('response.status', TRUE), '') AS response_status FROM (SELECT * FROM "pgrst_source") AS _postgrest_t
-- params: ['1960']
