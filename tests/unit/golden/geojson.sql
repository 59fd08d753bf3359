-- GET /items?id=eq.1
-- accept: application/geo+json
WITH "pgrst_source" AS (SELECT "api"."items".* FROM "api"."items" WHERE "api"."items"."id" = $1) SELECT CAST(NULL AS BIGINT) AS total_result_set, pg_catalog.count(_postgrest_t) AS page_total, CAST(pg_catalog.json_build_object('type', 'FeatureCollection', 'features', COALESCE(pg_catalog.json_agg(CAST("public"."st_asgeojson"(_postgrest_t) AS JSON)), '[]')) AS TEXT) AS body, NULLIF(pg_catalog.current_setting('response.headers', TRUE), '') AS response_headers, NULLIF(pg_catalog.current_setting('response.status', TRUE), '') AS response_status FROM (SELECT * FROM "pgrst_source") AS _postgrest_t
-- params: ['1']
