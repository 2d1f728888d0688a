/* Unit tests for the statements lib/ builds for the httpd glue
 * (lib/ea_stmt.c, ea_sql_stats.c, ea_sql_write.c, ea_sql_auth.c, and the
 * set's conditions in lib/ea_sql_list.c): the exact SQL for representative
 * sets, the numbering of the placeholders against the parameters, an empty
 * set's "WHERE false", and each statement's read/write flag (which decides
 * whether mod_ecoatlas/ea_db.c runs it again after a dead connection). */
#include "ea_params.h"
#include "ea_sql_list.h"
#include "ea_sql_auth.h"
#include "ea_sql_stats.h"
#include "ea_sql_write.h"
#include "ea_stmt.h"
#include "ea_keyset.h"

#include <apr_general.h>
#include <apr_strings.h>
#include <check.h>

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static apr_pool_t *pool;
static ea_listq q;

static void setup(void)
{
    ck_assert_int_eq(apr_pool_create(&pool, NULL), APR_SUCCESS);
}

static void teardown(void)
{
    apr_pool_destroy(pool);
}

static int fk_yes(void *ctx, const char *table, long long id)
{
    (void)ctx; (void)table; (void)id;
    return 1;
}

static ea_listq *set_of(ea_res_id res, const char *args)
{
    ck_assert_int_eq(ea_listq_build(pool, &ea_resources[res], ea_qs_parse(pool, args), fk_yes, NULL, NULL, &q), 0);
    return &q;
}

/* "sql|p1|p2|" */
static const char *text(ea_stmt s)
{
    char *out = apr_pstrcat(pool, s.sql, "|", NULL);
    for (int i = 0; s.params && i < s.params->nelts; i++)
        out = apr_pstrcat(pool, out, APR_ARRAY_IDX(s.params, i, const char *), "|", NULL);
    return out;
}

/* Every $n the text names is a parameter, and the highest is the last. */
static void placeholders_match(ea_stmt s)
{
    int n = s.params ? s.params->nelts : 0, max = 0;
    for (const char *p = strchr(s.sql, '$'); p; p = strchr(p + 1, '$')) {
        int k = atoi(p + 1);
        ck_assert_int_ge(k, 1);
        ck_assert_int_le(k, n);
        if (k > max)
            max = k;
    }
    ck_assert_int_eq(max, n);
}

/* The rule the declared flags replaced (the SQL text sniffed in
 * mod_ecoatlas/ea_db.c): a statement is a read when it begins with SELECT,
 * SHOW or BEGIN, or with WITH and no part INSERTs, UPDATEs or DELETEs. */
static int has_word(const char *sql, const char *word)
{
    size_t n = strlen(word);
    for (const char *p = sql; *p; p++)
        if (strncasecmp(p, word, n) == 0 && (p == sql || !(isalnum((unsigned char)p[-1]) || p[-1] == '_'))
            && !(isalnum((unsigned char)p[n]) || p[n] == '_'))
            return 1;
    return 0;
}

static int sniffed_read(const char *sql)
{
    if (strncasecmp(sql, "WITH", 4) == 0)
        return !has_word(sql, "INSERT") && !has_word(sql, "UPDATE") && !has_word(sql, "DELETE");
    return strncasecmp(sql, "SELECT", 6) == 0 || strncasecmp(sql, "SHOW", 4) == 0
           || strncasecmp(sql, "BEGIN", 5) == 0;
}

static void flag_as_before(ea_stmt s)
{
    ck_assert_int_eq(s.kind == EA_STMT_READ, sniffed_read(s.sql));
}

static void check(ea_stmt s, const char *expected)
{
    ck_assert_str_eq(text(s), expected);
    placeholders_match(s);
    flag_as_before(s);
}

START_TEST(where_of_a_set)
{
    ck_assert_str_eq(ea_listq_where(set_of(EA_RES_HYDROSITE, ""), 0), "");
    ck_assert_str_eq(ea_listq_and(&q), "");
    ck_assert_str_eq(ea_listq_where(set_of(EA_RES_HYDROSITE, "status=operational"), 0),
                     " WHERE t.status = $1");
    ck_assert_str_eq(ea_listq_where(&q, 1), " WHERE g.status = $1");
    ck_assert_str_eq(ea_listq_and(&q), " AND t.status = $1");
    /* a year beyond bigint: no row can match */
    set_of(EA_RES_METRIC, "year=99999999999999999999");
    ck_assert_int_eq(q.empty, 1);
    ck_assert_str_eq(ea_listq_where(&q, 0), " WHERE false");
    ck_assert_str_eq(ea_listq_where(&q, 1), " WHERE false");
    ck_assert_str_eq(ea_listq_and(&q), " AND false");
    /* ... with a search besides: its parameter is still named (PostgreSQL
     * cannot type a parameter that nothing names), behind the false */
    set_of(EA_RES_METRIC, "year=99999999999999999999&search=pot");
    ck_assert_int_eq(q.empty, 1);
    ck_assert_str_eq(ea_listq_where(&q, 0), " WHERE false AND ((UPPER(t.metric::text) LIKE UPPER($1)))");
    ck_assert_str_eq(ea_listq_count_sql(&q), "SELECT count(*) FROM core_resourcemetric t"
                                             " WHERE false AND ((UPPER(t.metric::text) LIKE UPPER($1)))");
    const char *page = ea_listq_select_sql(&q, ea_listq_count_sql(&q), 50, 0);
    placeholders_match(ea_stmt_read(page, q.page_params));
}
END_TEST

/* Filters by a natural key, looked up first (ea_ref_ids_fn): the ids they
 * name are a parameter, on the rows and on the group counts alike; a failed
 * lookup fails the build; without the callback, the subquery form. */
static const char *asked_sql, *asked_value;
static const char *ids_of(void *ctx, const char *ref_sql, const char *value)
{
    (void)ctx;
    asked_sql = ref_sql;
    asked_value = value;
    return strcmp(value, "BEN") == 0 ? "{7}" : strcmp(value, "Twice") == 0 ? "{7,9}"
         : strcmp(value, "Bad") == 0 ? "7" : "{}";
}
static const char *lookup_fails(void *ctx, const char *ref_sql, const char *value)
{
    (void)ctx; (void)ref_sql; (void)value;
    return NULL;
}

START_TEST(natural_keys_looked_up_first)
{
    ck_assert_int_eq(ea_listq_build(pool, &ea_resources[EA_RES_HYDROSITE],
                                    ea_qs_parse(pool, "country__iso3=%20BEN%20&status=study"), fk_yes, ids_of, NULL, &q), 0);
    ck_assert_str_eq(asked_sql, "SELECT id FROM core_country WHERE iso3 = $1 ORDER BY id");
    ck_assert_str_eq(asked_value, "BEN");   /* stripped, as the subquery's value is */
    /* one id: an equality, on the rows and on the group counts alike */
    ck_assert_str_eq(ea_listq_count_sql(&q), "SELECT coalesce(sum(g.n), 0)::bigint FROM ecoatlas_hydrosite_count g"
                                             " WHERE g.country_id = $1::bigint AND g.status = $2");
    ck_assert_str_eq(q.where.data, "t.country_id = $1::bigint AND t.status = $2");
    ck_assert_str_eq(APR_ARRAY_IDX(q.params, 0, const char *), "7");
    ck_assert_int_eq(q.empty, 0);
    /* several: any of them */
    ck_assert_int_eq(ea_listq_build(pool, &ea_resources[EA_RES_HYDROSITE],
                                    ea_qs_parse(pool, "region__name=Twice"), fk_yes, ids_of, NULL, &q), 0);
    ck_assert_str_eq(asked_sql, "SELECT id FROM core_region WHERE name = $1 ORDER BY id");
    ck_assert_str_eq(q.where.data, "t.region_id = ANY ($1::bigint[])");
    ck_assert_str_eq(q.group_where.data, "g.region_id = ANY ($1::bigint[])");
    ck_assert_str_eq(APR_ARRAY_IDX(q.params, 0, const char *), "{7,9}");
    /* none: an empty set, nothing to ask */
    ck_assert_int_eq(ea_listq_build(pool, &ea_resources[EA_RES_HYDROSITE],
                                    ea_qs_parse(pool, "region__name=Nowhere"), fk_yes, ids_of, NULL, &q), 0);
    ck_assert_int_eq(q.empty, 1);
    ck_assert_int_eq(q.params->nelts, 0);
    ck_assert_str_eq(ea_listq_count_sql(&q), "SELECT 0::bigint");
    ck_assert_str_eq(ea_listq_where(&q, 0), " WHERE false");
    /* regions and climate series have no group counts: rows only */
    ck_assert_int_eq(ea_listq_build(pool, &ea_resources[EA_RES_REGION],
                                    ea_qs_parse(pool, "country__iso3=BEN"), fk_yes, ids_of, NULL, &q), 0);
    ck_assert_str_eq(q.where.data, "t.country_id = $1::bigint");
    ck_assert_int_eq(ea_listq_build(pool, &ea_resources[EA_RES_METRIC],
                                    ea_qs_parse(pool, "country__iso3=BEN"), fk_yes, ids_of, NULL, &q), 0);
    ck_assert_str_eq(q.group_where.data, "g.country_id = $1::bigint");
    ck_assert_int_eq(ea_listq_build(pool, &ea_resources[EA_RES_CLIMATE],
                                    ea_qs_parse(pool, "country__iso3=BEN"), fk_yes, ids_of, NULL, &q), 0);
    ck_assert_str_eq(q.where.data, "t.country_id = $1::bigint");
    /* an empty value is no filter: nothing looked up */
    asked_value = NULL;
    ck_assert_int_eq(ea_listq_build(pool, &ea_resources[EA_RES_HYDROSITE],
                                    ea_qs_parse(pool, "country__iso3=%20"), fk_yes, ids_of, NULL, &q), 0);
    ck_assert_ptr_null(asked_value);
    /* a failed lookup, or an answer that is no array: the build fails */
    ck_assert_int_eq(ea_listq_build(pool, &ea_resources[EA_RES_HYDROSITE],
                                    ea_qs_parse(pool, "country__iso3=BEN"), fk_yes, lookup_fails, NULL, &q), -1);
    ck_assert_int_eq(ea_listq_build(pool, &ea_resources[EA_RES_HYDROSITE],
                                    ea_qs_parse(pool, "country__iso3=Bad"), fk_yes, ids_of, NULL, &q), -1);
    /* no callback: the subquery */
    set_of(EA_RES_HYDROSITE, "country__iso3=BEN");
    ck_assert_str_eq(q.where.data, "t.country_id = (SELECT id FROM core_country WHERE iso3 = $1)");
}
END_TEST

START_TEST(summary_from_groups_or_rows)
{
    set_of(EA_RES_HYDROSITE, "");
    check(ea_sql_summary_totals(&q),
          "SELECT coalesce(sum(g.n), 0), coalesce(sum(g.storage), 0), coalesce(sum(g.turbine), 0)"
          " FROM ecoatlas_hydrosite_count g|");
    set_of(EA_RES_HYDROSITE, "status=operational&country__iso3=BEN");
    ck_assert_int_eq(q.by_groups, 1);
    check(ea_sql_summary_top(&q),
          "SELECT c.iso3, c.name, sum(g.n) AS k FROM ecoatlas_hydrosite_count g"
          " JOIN core_country c ON c.id = g.country_id"
          " WHERE g.country_id = (SELECT id FROM core_country WHERE iso3 = $1) AND g.status = $2"
          " GROUP BY c.iso3, c.name ORDER BY k DESC, c.iso3 LIMIT 5|BEN|operational|");
    set_of(EA_RES_HYDROSITE, "search=lake");
    ck_assert_int_eq(q.by_groups, 0);
    check(ea_sql_summary_totals(&q),
          "SELECT count(*), coalesce(sum(t.storage_capacity_mwh), 0), coalesce(sum(t.turbine_capacity_mw), 0)"
          " FROM core_hydrosite t WHERE (t.ecoatlas_search LIKE UPPER($1))|%lake%|");
    check(ea_sql_summary_top(&q),
          "SELECT c.iso3, c.name, count(*) AS k FROM core_hydrosite t JOIN core_country c ON c.id = t.country_id"
          " WHERE (t.ecoatlas_search LIKE UPPER($1))"
          " GROUP BY c.iso3, c.name ORDER BY k DESC, c.iso3 LIMIT 5|%lake%|");
}
END_TEST

START_TEST(timeseries_adds_the_views_conditions)
{
    set_of(EA_RES_METRIC, "");
    check(ea_sql_timeseries(&q, NULL),
          "SELECT g.year, sum(g.total), sum(g.n) FROM ecoatlas_resourcemetric_count g WHERE g.year >= 0"
          " GROUP BY g.year ORDER BY g.year|");
    set_of(EA_RES_METRIC, "year=2020");
    check(ea_sql_timeseries(&q, "ben"),
          "SELECT g.year, sum(g.total), sum(g.n) FROM ecoatlas_resourcemetric_count g WHERE g.year = $1"
          " AND g.year >= 0 AND g.country_id IN (SELECT id FROM core_country WHERE upper(iso3) = upper($2))"
          " GROUP BY g.year ORDER BY g.year|2020|ben|");
    set_of(EA_RES_METRIC, "search=x");
    check(ea_sql_timeseries(&q, ""),
          "SELECT t.year, sum(t.value), count(*) FROM core_resourcemetric t"
          " WHERE (strpos(UPPER(t.metric::text), UPPER($1)) > 0) AND t.year IS NOT NULL"
          " GROUP BY t.year ORDER BY t.year|x|");
    /* an empty set stays empty whatever the view adds */
    set_of(EA_RES_METRIC, "year=99999999999999999999");
    ea_stmt s = ea_sql_timeseries(&q, "BEN");
    ck_assert_str_eq(s.sql, "SELECT g.year, sum(g.total), sum(g.n) FROM ecoatlas_resourcemetric_count g"
                            " WHERE false AND (g.year >= 0 AND g.country_id IN (SELECT id FROM core_country"
                            " WHERE upper(iso3) = upper($1))) GROUP BY g.year ORDER BY g.year");
    placeholders_match(s);   /* the view's parameter is still named: it has a type */
}
END_TEST

START_TEST(timeline_limits_the_points)
{
    set_of(EA_RES_CLIMATE, "");
    check(ea_sql_timeline(&q, "rain", "BEN", 500),
          "SELECT t.id, c.iso3, t.variable, t.unit, t.site_id, CASE WHEN jsonb_typeof(t.series) = 'array'"
          " THEN coalesce((SELECT jsonb_agg(e ORDER BY i) FROM jsonb_array_elements(t.series) WITH ORDINALITY"
          " AS x(e, i) WHERE i <= $3::bigint), '[]'::jsonb) ELSE '[]'::jsonb END FROM core_climateseries t"
          " JOIN core_country c ON c.id = t.country_id WHERE t.variable = $1 AND t.country_id IN"
          " (SELECT id FROM core_country WHERE upper(iso3) = upper($2)) ORDER BY t.created_at DESC, t.id DESC"
          " LIMIT 5|rain|BEN|500|");
    set_of(EA_RES_CLIMATE, "search=r");
    ea_stmt s = ea_sql_timeline(&q, "rain", NULL, 10);
    placeholders_match(s);
    ck_assert_ptr_nonnull(strstr(s.sql, "WHERE i <= $3::bigint"));
    ck_assert_ptr_nonnull(strstr(s.sql, " WHERE (strpos(UPPER(t.variable::text), UPPER($1)) > 0)"
                                        " AND t.variable = $2 ORDER BY"));
}
END_TEST

START_TEST(stats_statements)
{
    check(ea_sql_stats_top(),
          "SELECT c.iso3, c.name, coalesce((SELECT sum(g.n) FROM ecoatlas_hydrosite_count g"
          " WHERE g.country_id = c.id), 0) AS k FROM core_country c ORDER BY k DESC, c.name, c.id LIMIT 5|");
    check(ea_sql_stats_resources(),
          "SELECT resource_type, sum(total), sum(n) FROM ecoatlas_resourcemetric_count"
          " GROUP BY resource_type ORDER BY resource_type|");
    check(ea_sql_stats_datasets(),
          "SELECT coalesce((SELECT n FROM ecoatlas_rowcount WHERE tbl = 'core_energydataset'), 0)|");
    check(ea_sql_country_by_iso3(pool, "ben"),
          "SELECT id, name FROM core_country WHERE upper(iso3) = upper($1) ORDER BY name, id LIMIT 1|ben|");
    check(ea_sql_country_sites(pool, "7"),
          "SELECT coalesce(sum(n), 0), coalesce(sum(storage), 0), coalesce(sum(turbine), 0)"
          " FROM ecoatlas_hydrosite_count WHERE country_id = $1|7|");
    check(ea_sql_country_resources(pool, "7"),
          "SELECT resource_type, sum(total), sum(n) FROM ecoatlas_resourcemetric_count WHERE country_id = $1"
          " GROUP BY resource_type ORDER BY resource_type|7|");
}
END_TEST

START_TEST(exports_in_the_sets_order)
{
    set_of(EA_RES_HYDROSITE, "status=operational");
    check(ea_sql_export_sites(&q),
          "SELECT t.id, t.name, c.iso3, coalesce(r.name, ''), t.latitude, t.longitude, t.head_m,"
          " t.storage_capacity_mwh, t.turbine_capacity_mw, t.status FROM core_hydrosite t"
          " JOIN core_country c ON c.id = t.country_id LEFT JOIN core_region r ON r.id = t.region_id"
          " WHERE t.status = $1 ORDER BY t.name, t.id|operational|");
    set_of(EA_RES_METRIC, "year=2020");
    const char *rows = "SELECT c.iso3, t.resource_type, t.metric, t.value, t.unit, t.year FROM core_resourcemetric t"
                       " JOIN core_country c ON c.id = t.country_id LEFT JOIN core_region r ON r.id = t.region_id"
                       " WHERE t.year = $1 ORDER BY t.created_at DESC, t.id DESC|2020|";
    check(ea_sql_export_metrics(&q), rows);
    check(ea_sql_export_pdf_rows(&q), rows);
    check(ea_sql_export_pdf_totals(&q),
          "SELECT g.resource_type, sum(g.total) FROM ecoatlas_resourcemetric_count g WHERE g.year = $1"
          " GROUP BY g.resource_type ORDER BY g.resource_type|2020|");
    set_of(EA_RES_METRIC, "year=99999999999999999999");
    check(ea_sql_export_pdf_totals(&q),
          "SELECT g.resource_type, sum(g.total) FROM ecoatlas_resourcemetric_count g WHERE false"
          " GROUP BY g.resource_type ORDER BY g.resource_type|");
    check(ea_sql_export_pdf_rows(&q),
          "SELECT c.iso3, t.resource_type, t.metric, t.value, t.unit, t.year FROM core_resourcemetric t"
          " JOIN core_country c ON c.id = t.country_id LEFT JOIN core_region r ON r.id = t.region_id"
          " WHERE false ORDER BY t.created_at DESC, t.id DESC|");
}
END_TEST

START_TEST(validation_lookups)
{
    const char *cols[] = { "country_id", "name" }, *vals[] = { "3", "Lake" };
    check(ea_sql_fk_exists(pool, "core_country", "3"), "SELECT 1 FROM core_country WHERE id = $1|3|");
    check(ea_sql_row_exists(pool, "core_region", 2, cols, vals, NULL),
          "SELECT 1 FROM core_region WHERE country_id = $1 AND name = $2 LIMIT 1|3|Lake|");
    check(ea_sql_row_exists(pool, "core_region", 2, cols, vals, "9"),
          "SELECT 1 FROM core_region WHERE country_id = $1 AND name = $2 AND id <> $3 LIMIT 1|3|Lake|9|");
    check(ea_sql_country_site_count(pool, "3"), "SELECT count(*) FROM core_hydrosite WHERE country_id = $1|3|");
}
END_TEST

START_TEST(locate_within_the_set)
{
    const ea_vresource *vr = &ea_vresources[EA_RES_REGION];
    set_of(EA_RES_REGION, "country__iso3=BEN");
    check(ea_sql_locate(&q, vr, "9", 1),
          "SELECT t.id, t.country_id, t.name, t.level, t.boundary FROM core_region t"
          " JOIN core_country c ON c.id = t.country_id WHERE t.id = $2"
          " AND t.country_id = (SELECT id FROM core_country WHERE iso3 = $1) FOR UPDATE OF t|BEN|9|");
    /* the set's own parameters are not changed (the detail query reuses them) */
    ck_assert_int_eq(q.params->nelts, 1);
    set_of(EA_RES_REGION, "");
    check(ea_sql_locate(&q, vr, "9", 0),
          "SELECT t.id, t.country_id, t.name, t.level, t.boundary FROM core_region t"
          " JOIN core_country c ON c.id = t.country_id WHERE t.id = $1|9|");
}
END_TEST

START_TEST(writes)
{
    const ea_vresource *vr = &ea_vresources[EA_RES_REGION];
    const char *cols[] = { "country_id", "name" }, *vals[] = { "3", NULL };
    ea_vresult v;
    memset(&v, 0, sizeof v);
    v.n = 2;
    v.cols = cols;
    v.vals = vals;
    ea_stmt s = ea_sql_insert(pool, vr, &v);
    ck_assert_str_eq(s.sql, "INSERT INTO core_region (country_id, name, created_at, updated_at)"
                            " VALUES ($1, $2, now(), now()) RETURNING id");
    ck_assert_int_eq(s.params->nelts, 2);
    ck_assert_ptr_null(APR_ARRAY_IDX(s.params, 1, const char *));   /* SQL NULL */
    ck_assert_int_eq(s.kind, EA_STMT_WRITE);
    placeholders_match(s);
    vals[1] = "Lake";
    check(ea_sql_update(pool, vr, &v, "9"),
          "UPDATE core_region SET country_id = $1, name = $2, updated_at = now() WHERE id = $3|3|Lake|9|");
    check(ea_sql_delete(pool, vr, "9"), "DELETE FROM core_region WHERE id = $1|9|");
}
END_TEST

START_TEST(auth_statements)
{
    check(ea_sql_token_lookup(pool, "ab", "k"),
          "SELECT u.id, u.is_staff, u.is_active, coalesce(extract(epoch FROM k.expires)::bigint, 0), u.username,"
          " k.id FROM ecoatlas_token k JOIN auth_user u ON u.id = k.user_id WHERE k.key_sha256 = decode($1, 'hex')"
          " UNION ALL SELECT u.id, u.is_staff, u.is_active, 0, u.username, NULL FROM authtoken_token a"
          " JOIN auth_user u ON u.id = a.user_id WHERE a.key = $2 LIMIT 1|ab|k|");
    check(ea_sql_session_lookup(pool, "ab"),
          "SELECT u.id, u.is_staff, u.is_active, extract(epoch FROM s.expires)::bigint, u.username, s.id"
          " FROM ecoatlas_session s JOIN auth_user u ON u.id = s.user_id WHERE s.key_sha256 = decode($1, 'hex')|ab|");
    check(ea_sql_token_touch(pool, "5"),
          "UPDATE ecoatlas_token SET last_used = now() WHERE id = $1::bigint"
          " AND (last_used IS NULL OR last_used < now() - interval '30 seconds')|5|");
    check(ea_sql_user_by_name(pool, "bob"),
          "SELECT id, password, is_active, is_staff, username FROM auth_user WHERE username = $1|bob|");
    check(ea_sql_token_insert(pool, "1", "ab", "pre", "nm"),
          "INSERT INTO ecoatlas_token (user_id, key_sha256, prefix, name, created)"
          " VALUES ($1::integer, decode($2, 'hex'), $3, $4, now())|1|ab|pre|nm|");
    check(ea_sql_session_end(pool, "ab"), "DELETE FROM ecoatlas_session WHERE key_sha256 = decode($1, 'hex')|ab|");
    /* a WITH query that writes: never run twice */
    check(ea_sql_session_start(pool, "1", "ab", 1209600),
          "WITH s AS (INSERT INTO ecoatlas_session (user_id, key_sha256, created, expires)"
          " VALUES ($1::integer, decode($2, 'hex'), now(), now() + make_interval(secs => $3::integer))"
          " RETURNING user_id), x AS (DELETE FROM ecoatlas_session WHERE expires < now() - interval '1 day')"
          " UPDATE auth_user SET last_login = now() WHERE id IN (SELECT user_id FROM s)|1|ab|1209600|");
}
END_TEST

START_TEST(connection_statements)
{
    ck_assert_str_eq(ea_sql_session_settings(pool, 30000),
                     "SET statement_timeout = 30000; SET jit = off; SET TimeZone = 'UTC'; SET DateStyle = 'ISO'");
    ck_assert_str_eq(ea_sql_set_timeout(pool, 2147483647), "SET statement_timeout = 2147483647");
    /* a search's statement: raises work_mem where the session's is lower
     * (asked once per session), never lowers it; then back */
    ck_assert_str_eq(ea_sql_work_mem_below(),
                     "SELECT pg_size_bytes(current_setting('work_mem')) < pg_size_bytes('32MB')");
    ck_assert_str_eq(ea_sql_search_begin(pool, 900, 1, 0), "SET statement_timeout = 900; SET work_mem = '32MB'");
    ck_assert_str_eq(ea_sql_search_end(pool, 30000, 1, 0), "SET statement_timeout = 30000; RESET work_mem");
    ck_assert_str_eq(ea_sql_search_begin(pool, 900, 0, 0), "SET statement_timeout = 900");
    ck_assert_str_eq(ea_sql_search_end(pool, 30000, 0, 0), "SET statement_timeout = 30000");
    ck_assert_str_eq(ea_sql_search_begin(pool, 900, 1, 1),
                     "SET statement_timeout = 900; SET work_mem = '32MB'; SET plan_cache_mode = force_generic_plan");
    ck_assert_str_eq(ea_sql_search_end(pool, 30000, 1, 1),
                     "SET statement_timeout = 30000; RESET work_mem; RESET plan_cache_mode");
    ck_assert_str_eq(ea_sql_search_begin(pool, 900, 0, 1), "SET statement_timeout = 900; SET plan_cache_mode = force_generic_plan");
    ck_assert_str_eq(ea_sql_search_end(pool, 30000, 0, 1), "SET statement_timeout = 30000; RESET plan_cache_mode");
    flag_as_before(ea_stmt_read(EA_SQL_BEGIN, NULL));
    flag_as_before(ea_stmt_read(EA_SQL_PING, NULL));
    flag_as_before(ea_stmt_write(EA_SQL_COMMIT, NULL));
    /* the searched list, a WITH query that only reads: run again after a dead connection */
    set_of(EA_RES_COUNTRY, "search=benin");
    flag_as_before(ea_stmt_read(ea_listq_select_sql(&q, "x", 10, 0), q.page_params));
}
END_TEST

/* The first page of a set without parameters is a statement without
 * parameters (planned once when prepared); any other page, and any set with
 * parameters, keeps LIMIT and OFFSET as parameters. */
START_TEST(first_unfiltered_page_without_parameters)
{
    set_of(EA_RES_COUNTRY, "");
    const char *sql = ea_listq_select_sql(&q, NULL, 50, 0);
    const char *all = text(ea_stmt_read(sql, q.page_params)), *tail = " FROM core_country t ORDER BY t.name, t.id LIMIT 50|";
    ck_assert_str_eq(all + strlen(all) - strlen(tail), tail);
    ck_assert_ptr_null(strchr(all, '$'));
    set_of(EA_RES_COUNTRY, "");
    sql = ea_listq_select_sql(&q, NULL, 50, 50);
    ck_assert_ptr_nonnull(strstr(text(ea_stmt_read(sql, q.page_params)), " LIMIT $1::bigint OFFSET $2::bigint|50|50|"));
    set_of(EA_RES_COUNTRY, "iso3=BEN");
    sql = ea_listq_select_sql(&q, NULL, 50, 0);
    placeholders_match(ea_stmt_read(sql, q.page_params));
    ck_assert_ptr_nonnull(strstr(text(ea_stmt_read(sql, q.page_params)), " LIMIT $2::bigint OFFSET $3::bigint|BEN|50|0|"));
    /* without a LIMIT (an export): no OFFSET either */
    set_of(EA_RES_COUNTRY, "");
    sql = ea_listq_select_sql(&q, NULL, -1, 0);
    ck_assert_ptr_null(strstr(sql, "LIMIT"));
    ck_assert_ptr_null(strstr(sql, "OFFSET"));
    ck_assert_int_eq(q.page_params->nelts, 0);
}
END_TEST

/* Pages from EA_LIST_IDS_FIRST_OFFSET on find their ids over the main
 * table first, in the set's order, then read and join those rows only;
 * an order on a joined table's column keeps the plain form. */
START_TEST(deeper_pages_find_their_ids_first)
{
    set_of(EA_RES_HYDROSITE, "status=study&ordering=-head_m");
    const char *sql = ea_listq_select_sql(&q, "SELECT 7", 50, EA_LIST_IDS_FIRST_OFFSET);
    placeholders_match(ea_stmt_read(sql, q.page_params));
    ck_assert_ptr_nonnull(strstr(sql, "SELECT (SELECT 7), t.id, t.name,"));
    ck_assert_ptr_nonnull(strstr(sql, " FROM core_hydrosite t JOIN core_country c ON c.id = t.country_id"
                                      " LEFT JOIN core_region r ON r.id = t.region_id WHERE t.id IN (SELECT t.id"
                                      " FROM core_hydrosite t WHERE t.status = $1 ORDER BY t.head_m DESC, t.id DESC"
                                      " LIMIT $2::bigint OFFSET $3::bigint) ORDER BY t.head_m DESC, t.id DESC"));
    ck_assert_ptr_nonnull(strstr(text(ea_stmt_read(sql, q.page_params)), "|study|50|100|"));
    /* before it: the plain form */
    set_of(EA_RES_HYDROSITE, "status=study&ordering=-head_m");
    sql = ea_listq_select_sql(&q, NULL, 50, EA_LIST_IDS_FIRST_OFFSET - 1);
    ck_assert_ptr_null(strstr(sql, "t.id IN"));
    ck_assert_ptr_nonnull(strstr(sql, " WHERE t.status = $1 ORDER BY t.head_m DESC, t.id DESC LIMIT $2::bigint OFFSET $3::bigint"));
    /* without conditions */
    set_of(EA_RES_HYDROSITE, "");
    sql = ea_listq_select_sql(&q, NULL, 50, 5000);
    ck_assert_ptr_nonnull(strstr(sql, "WHERE t.id IN (SELECT t.id FROM core_hydrosite t ORDER BY t.name, t.id LIMIT $1::bigint OFFSET $2::bigint) ORDER BY t.name, t.id"));
    /* regions in their default order, by their country's name: plain */
    set_of(EA_RES_REGION, "");
    sql = ea_listq_select_sql(&q, NULL, 50, 5000);
    ck_assert_ptr_null(strstr(sql, "t.id IN"));
    ck_assert_ptr_nonnull(strstr(sql, "ORDER BY c.name, t.name, t.id LIMIT $1::bigint OFFSET $2::bigint"));
    /* no row can match: still every parameter named */
    set_of(EA_RES_METRIC, "year=99999999999999999999&resource_type=solar&ordering=value");
    ck_assert_int_eq(q.empty, 1);
    sql = ea_listq_select_sql(&q, NULL, 50, 5000);
    ck_assert_ptr_nonnull(strstr(sql, "t.id IN (SELECT t.id FROM core_resourcemetric t WHERE false AND"));
    placeholders_match(ea_stmt_read(sql, q.page_params));
}
END_TEST

/* The set of res for args, read lean (which it may be). */
static ea_listq *lean_set_of(ea_res_id res, const char *args)
{
    set_of(res, args);
    ck_assert_int_eq(ea_listq_lean_ok(&q), 1);
    q.lean = 1;
    return &q;
}

/* sql, a lean page of hydro sites: the name columns NULL, the names'
 * version last, then FROM core_hydrosite t and from, neither names' table
 * read, every placeholder a parameter. */
static void lean_sites_page(const char *sql, const char *from)
{
    ck_assert_ptr_nonnull(strstr(sql, "t.country_id, NULL, t.region_id, NULL, t.dataset_id"));
    ck_assert_ptr_nonnull(strstr(sql, apr_pstrcat(pool, ", (SELECT v FROM ecoatlas_names_version) FROM core_hydrosite t ",
                                                  from, NULL)));
    ck_assert_ptr_null(strstr(sql, "core_country"));
    ck_assert_ptr_null(strstr(sql, "core_region"));
    placeholders_match(ea_stmt_read(sql, q.page_params));
}

/* A lean page (ea_listq.lean) leaves the names of countries and regions
 * NULL, reads the main table without joining theirs, and ends each row
 * with the names' version; only where every ORDER BY key is a column of
 * the main table and the resource has a lean FROM. */
START_TEST(lean_pages_leave_the_names_out)
{
    lean_set_of(EA_RES_HYDROSITE, "");
    const char *sql = ea_listq_select_sql(&q, "SELECT 7", 50, 0);
    lean_sites_page(sql, "ORDER BY");
    ck_assert_ptr_null(strstr(sql, "JOIN"));
    ck_assert_ptr_null(strstr(sql, "c.name"));
    /* a deeper page: the ids first, then the rows, still unjoined */
    sql = ea_listq_select_sql(&q, NULL, 50, 5000);
    lean_sites_page(sql, "WHERE t.id IN (SELECT t.id");
    ck_assert_ptr_null(strstr(sql, "JOIN"));
    /* a searched set */
    lean_set_of(EA_RES_HYDROSITE, "search=lake&ordering=-head_m");
    sql = ea_listq_select_sql(&q, "SELECT 7", 50, 0);
    lean_sites_page(sql, "JOIN (SELECT * FROM m");
    ck_assert_ptr_null(strstr(sql, "c.id"));
    /* a page through a boundary map */
    lean_set_of(EA_RES_HYDROSITE, "status=study&ordering=head_m");
    ea_keyset_order o;
    ck_assert_int_eq(ea_keyset_order_of(&q, &o), 1);
    sql = ea_keyset_select_sql(&q, &o, NULL, 50, 5000, 4950, "12.5", "7");
    lean_sites_page(sql, "WHERE t.id IN");
    ck_assert_ptr_null(strstr(sql, "JOIN"));
    /* not lean: as before */
    set_of(EA_RES_HYDROSITE, "");
    sql = ea_listq_select_sql(&q, NULL, 50, 0);
    ck_assert_ptr_nonnull(strstr(sql, "t.country_id, c.name, t.region_id, r.name"));
    ck_assert_ptr_null(strstr(sql, "ecoatlas_names_version"));
    /* resource metrics too; regions (ordered by their country's name),
     * countries, datasets and climate series never */
    lean_set_of(EA_RES_METRIC, "ordering=value");
    ck_assert_ptr_nonnull(strstr(ea_listq_select_sql(&q, NULL, 50, 0),
                                 "t.country_id, NULL, t.region_id, NULL, t.resource_type"));
    ck_assert_int_eq(ea_listq_lean_ok(set_of(EA_RES_REGION, "")), 0);
    ck_assert_int_eq(ea_listq_lean_ok(set_of(EA_RES_COUNTRY, "")), 0);
    ck_assert_int_eq(ea_listq_lean_ok(set_of(EA_RES_DATASET, "")), 0);
    ck_assert_int_eq(ea_listq_lean_ok(set_of(EA_RES_CLIMATE, "")), 0);
    /* the error of a lean page once migration 0008's table is gone */
    ck_assert_int_eq(ea_names_version_named("relation \"ecoatlas_names_version\" does not exist"), 1);
    ck_assert_int_eq(ea_names_version_named("relation \"core_region\" does not exist"), 0);
    ck_assert_int_eq(ea_names_version_named(NULL), 0);
    /* the names and their version in one statement, bounded */
    ck_assert_str_eq(ea_names_load_sql(),
                     "SELECT (SELECT v FROM ecoatlas_names_version)::text, NULL, NULL"
                     " UNION ALL (SELECT 'c', id::text, name FROM core_country LIMIT 20000 + 1)"
                     " UNION ALL (SELECT 'r', id::text, name FROM core_region LIMIT 20000 + 1)");
}
END_TEST

/* A row as the API shows it; with lengths (PQgetlength's), exactly that
 * many bytes of each value, and a negative length read with strlen. */
START_TEST(rows_serialised_with_their_lengths)
{
    const ea_resource *res = &ea_resources[EA_RES_HYDROSITE];
    const char *vals[] = {
        "7", "Dam \"A\"", "2", "Chad", "3", NULL, "1", "-2.537066", "13.5", "10.00", "1.5",
        "2.0", "3.0", "identified", "line\nbreak", "{\"a\": 262.70, \"b\": [1, 2.0], \"c\": \"\u00e9\"}",
        "2024-10-19 17:04:32+00", "2024-10-19 17:04:32.5+00",
    };
    const char *want = "{\"id\":7,\"name\":\"Dam \\\"A\\\"\",\"country\":2,\"country_name\":\"Chad\","
        "\"region\":3,\"region_name\":null,\"dataset\":1,\"latitude\":\"-2.537066\",\"longitude\":\"13.5\","
        "\"elevation_m\":\"10.00\",\"head_m\":\"1.5\",\"storage_capacity_mwh\":\"2.0\","
        "\"turbine_capacity_mw\":\"3.0\",\"status\":\"identified\",\"notes\":\"line\\nbreak\","
        "\"properties\":{\"a\":262.7,\"b\":[1,2.0],\"c\":\"\u00e9\"},"
        "\"created_at\":\"2024-10-19T17:04:32Z\",\"updated_at\":\"2024-10-19T17:04:32.500000Z\"}";
    int lens[18];
    ea_buf b;

    ck_assert_int_eq(res->nfields, 18);
    for (int i = 0; i < 18; i++)
        lens[i] = vals[i] ? (int)strlen(vals[i]) : 0;
    lens[3] = -1;
    ea_buf_init(&b, pool, 16);
    ck_assert_int_eq(ea_serialize(&b, res, vals), 0);
    ck_assert_str_eq(b.data, want);
    ea_buf_reset(&b);
    ck_assert_int_eq(ea_serialize_n(&b, res, vals, lens), 0);
    ck_assert_str_eq(b.data, want);
    /* only the bytes the lengths give: "Dam", 1 digit of the id */
    lens[0] = 1;
    vals[0] = "72";
    lens[1] = 3;
    ea_buf_reset(&b);
    ck_assert_int_eq(ea_serialize_n(&b, res, vals, lens), 0);
    const char *head = "{\"id\":7,\"name\":\"Dam\",\"country\":2,";
    ck_assert_msg(strncmp(b.data, head, strlen(head)) == 0, "%s", b.data);
    /* invalid JSON in a JSON column is refused */
    vals[15] = "{\"a\": }";
    lens[15] = (int)strlen(vals[15]);
    ck_assert_int_eq(ea_serialize_n(&b, res, vals, lens), -1);
}
END_TEST

static Suite *sql_suite(void)
{
    Suite *s = suite_create("sql");
    TCase *tc = tcase_create("builders");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, where_of_a_set);
    tcase_add_test(tc, natural_keys_looked_up_first);
    tcase_add_test(tc, summary_from_groups_or_rows);
    tcase_add_test(tc, timeseries_adds_the_views_conditions);
    tcase_add_test(tc, timeline_limits_the_points);
    tcase_add_test(tc, stats_statements);
    tcase_add_test(tc, exports_in_the_sets_order);
    tcase_add_test(tc, validation_lookups);
    tcase_add_test(tc, locate_within_the_set);
    tcase_add_test(tc, writes);
    tcase_add_test(tc, auth_statements);
    tcase_add_test(tc, connection_statements);
    tcase_add_test(tc, first_unfiltered_page_without_parameters);
    tcase_add_test(tc, deeper_pages_find_their_ids_first);
    tcase_add_test(tc, lean_pages_leave_the_names_out);
    tcase_add_test(tc, rows_serialised_with_their_lengths);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    apr_initialize();
    SRunner *sr = srunner_create(sql_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    apr_terminate();
    return failed == 0 ? 0 : 1;
}
