/* Unit tests: page-boundary keys (lib/ea_keyset.c) — which orderings they
 * serve, the spacing, the map's bytes and the seek query's shape.  That the
 * pages equal OFFSET's is t/12_pagination.t's job (real PostgreSQL). */
#include "ea_keyset.h"
#include "ea_params.h"

#include <apr_general.h>
#include <apr_strings.h>
#include <check.h>
#include <stdlib.h>
#include <limits.h>
#include <string.h>

static apr_pool_t *pool;

static void setup(void)
{
    ck_assert_int_eq(apr_pool_create(&pool, NULL), APR_SUCCESS);
}

static void teardown(void)
{
    apr_pool_destroy(pool);
}

static int no_fk(void *ctx, const char *table, long long id)
{
    (void)ctx;
    (void)table;
    (void)id;
    return 1;
}

static ea_listq *set_of(ea_res_id res, const char *args)
{
    ea_listq *q = apr_pcalloc(pool, sizeof(*q));
    ck_assert_int_eq(ea_listq_build(pool, &ea_resources[res], ea_qs_parse(pool, args), no_fk, NULL, NULL, q), 0);
    return q;
}

START_TEST(orderings_served)
{
    ea_keyset_order o;
    ck_assert_int_eq(ea_keyset_order_of(set_of(EA_RES_HYDROSITE, NULL), &o), 1);
    ck_assert_str_eq(o.col, "t.name");
    ck_assert_int_eq(o.desc, 0);
    ck_assert_int_eq(ea_keyset_order_of(set_of(EA_RES_HYDROSITE, "ordering=-head_m&status=study"), &o), 1);
    ck_assert_str_eq(o.col, "t.head_m");
    ck_assert_int_eq(o.desc, 1);
    ck_assert_int_eq(ea_keyset_order_of(set_of(EA_RES_METRIC, NULL), &o), 1);
    ck_assert_str_eq(o.col, "t.created_at");
    ck_assert_int_eq(o.desc, 1);
    /* two fields, a joined column, a set empty by construction: OFFSET */
    ck_assert_int_eq(ea_keyset_order_of(set_of(EA_RES_HYDROSITE, "ordering=head_m,-name"), &o), 0);
    ck_assert_int_eq(ea_keyset_order_of(set_of(EA_RES_REGION, NULL), &o), 0);
    ck_assert_int_eq(ea_keyset_order_of(set_of(EA_RES_METRIC, "year=99999999999"), &o), 0);
}
END_TEST

START_TEST(spacing)
{
    ck_assert_int_eq(ea_keyset_every(0), EA_KEYSET_EVERY_MIN);
    ck_assert_int_eq(ea_keyset_every(1000000), 500);
    ck_assert_int_eq(ea_keyset_every(1000001), 501);
    ck_assert_int_eq(ea_keyset_every(10000000), 5000);
}
END_TEST

START_TEST(cover)
{
    /* four times as far as the page's end, a multiple of the spacing */
    ck_assert_int_eq(ea_keyset_cover(500, 10000, 50, 0), 40500);
    ck_assert_int_eq(ea_keyset_cover(501, 10000, 50, 0), 40581);
    /* at least twice what the shorter map read */
    ck_assert_int_eq(ea_keyset_cover(500, 12000, 50, 40500), 81000);
    ck_assert_int_eq(ea_keyset_cover(500, 100000, 50, 40500), 400500);
    /* no overflow, however far */
    ck_assert_int_gt(ea_keyset_cover(500, LLONG_MAX - 10, 200, 0), 1000000000000LL);
    ck_assert_int_gt(ea_keyset_cover(500, 10000, 50, LLONG_MAX), 0);
    ck_assert_int_gt(ea_keyset_cover(0, 10000, 50, 0), 0);
}
END_TEST

START_TEST(map_round_trip)
{
    const char *vals[] = { "Alpha", "7", "with space\nand newline", "12", NULL, "3", "", "99" };
    size_t len;
    char *map = ea_keyset_encode(pool, 500, 4, vals, 1, &len);
    long long pos;
    const char *key, *id;
    /* before the second boundary: OFFSET serves it */
    ck_assert_int_eq(ea_keyset_boundary(pool, map, len, 499, &pos, &key, &id), -1);
    ck_assert_int_eq(ea_keyset_boundary(pool, map, len, 500, &pos, &key, &id), 0);
    ck_assert_int_eq(pos, 500);
    ck_assert_str_eq(key, "with space\nand newline");
    ck_assert_str_eq(id, "12");
    ck_assert_int_eq(ea_keyset_boundary(pool, map, len, 1499, &pos, &key, &id), 0);
    ck_assert_int_eq(pos, 1000);
    ck_assert_ptr_null(key);
    ck_assert_str_eq(id, "3");
    ck_assert_int_eq(ea_keyset_boundary(pool, map, len, 1500, &pos, &key, &id), 0);
    ck_assert_str_eq(key, "");
    ck_assert_str_eq(id, "99");
    /* past the last boundary: the last one */
    ck_assert_int_eq(ea_keyset_boundary(pool, map, len, 1000000, &pos, &key, &id), 0);
    ck_assert_int_eq(pos, 1500);
    /* a complete map serves every offset; one of the first rows only,
     * those before its reach (4 boundaries of 500: 2,000 rows) */
    long long reach = 0;
    ck_assert_int_eq(ea_keyset_covers(map, len, 1000000, &reach), 1);
    char *part = ea_keyset_encode(pool, 500, 4, vals, 0, &len);
    ck_assert_int_eq(ea_keyset_covers(part, len, 1999, &reach), 1);
    ck_assert_int_eq(ea_keyset_covers(part, len, 2000, &reach), 0);
    ck_assert_int_eq(reach, 2000);
    /* ... and still gives its last boundary past it (exact, only slower) */
    ck_assert_int_eq(ea_keyset_boundary(pool, part, len, 5000, &pos, &key, &id), 0);
    ck_assert_int_eq(pos, 1500);
    ck_assert_str_eq(id, "99");
    /* anything else than a whole map: no boundary */
    ck_assert_int_eq(ea_keyset_boundary(pool, "building", 8, 1000, &pos, &key, &id), -1);
    ck_assert_int_eq(ea_keyset_covers("building", 8, 1000, &reach), -1);
    for (size_t cut = 0; cut < sizeof("EAKS2 500 4 0\n") - 1; cut++)
        ck_assert_int_eq(ea_keyset_covers(part, cut, 0, &reach), -1);
    ck_assert_int_eq(ea_keyset_covers("EAKS2 500 4 2\n", 14, 0, &reach), -1);
    ck_assert_int_eq(ea_keyset_covers("EAKS2 0 4 1\n", 12, 0, &reach), -1);
    for (size_t cut = 0; cut < len - 1; cut++)
        ck_assert_int_ne(ea_keyset_boundary(pool, map, cut, 1500, &pos, &key, &id) == 0
                         && strcmp(id, "99") == 0, 1);
}
END_TEST

START_TEST(seek_query)
{
    ea_keyset_order o;
    ea_listq *q = set_of(EA_RES_HYDROSITE, "ordering=-head_m&status=study");
    ck_assert_int_eq(ea_keyset_order_of(q, &o), 1);
    const char *sql = ea_keyset_select_sql(q, &o, "SELECT 1", 50, 1234, 1000, "12.50", "77");
    /* status, then id, key, branch limit, limit, offset */
    ck_assert_int_eq(q->page_params->nelts, 6);
    ck_assert_str_eq(APR_ARRAY_IDX(q->page_params, 0, const char *), "study");
    ck_assert_str_eq(APR_ARRAY_IDX(q->page_params, 1, const char *), "77");
    ck_assert_str_eq(APR_ARRAY_IDX(q->page_params, 2, const char *), "12.50");
    ck_assert_str_eq(APR_ARRAY_IDX(q->page_params, 3, const char *), "284");
    ck_assert_str_eq(APR_ARRAY_IDX(q->page_params, 4, const char *), "50");
    ck_assert_str_eq(APR_ARRAY_IDX(q->page_params, 5, const char *), "234");
    ck_assert_ptr_nonnull(strstr(sql, "(t.head_m, t.id) <= ($3, $2::bigint)"));
    ck_assert_ptr_null(strstr(sql, "IS NULL"));   /* descending: NULLs lie before the boundary */
    ck_assert_ptr_nonnull(strstr(sql, "LIMIT $5::bigint OFFSET $6::bigint) ORDER BY t.head_m DESC, t.id DESC"));
    ck_assert_int_eq(q->plan_generic, 0);   /* filtered: planned for its values */
    q = set_of(EA_RES_HYDROSITE, "ordering=head_m");
    ck_assert_int_eq(ea_keyset_order_of(q, &o), 1);
    ck_assert_int_eq(q->plan_generic, 0);
    sql = ea_keyset_select_sql(q, &o, NULL, 50, 1020, 1000, "3", "5");
    /* no condition: one plan for every boundary, the page size written out */
    ck_assert_int_eq(q->plan_generic, 1);
    ck_assert_int_eq(q->page_params->nelts, 4);   /* id, key, branch limit, offset */
    ck_assert_str_eq(APR_ARRAY_IDX(q->page_params, 2, const char *), "70");
    ck_assert_str_eq(APR_ARRAY_IDX(q->page_params, 3, const char *), "20");
    ck_assert_ptr_nonnull(strstr(sql, "LIMIT 50::bigint OFFSET $4::bigint) ORDER BY t.head_m, t.id"));
    /* ascending from a non-NULL key: the NULLs at the end come too */
    ck_assert_ptr_nonnull(strstr(sql, "(t.head_m, t.id) >= ($2, $1::bigint)"));
    ck_assert_ptr_nonnull(strstr(sql, " UNION ALL (SELECT t.id, t.head_m AS k FROM core_hydrosite t WHERE t.head_m IS NULL ORDER BY t.id"));
    /* the map's query: the whole set ... */
    sql = ea_keyset_map_sql(q, &o, 500, 0);
    ck_assert_ptr_nonnull(strstr(sql, "row_number() OVER (ORDER BY t.head_m, t.id)"));
    ck_assert_ptr_null(strstr(sql, "LIMIT"));
    ck_assert_ptr_nonnull(strstr(sql, "SELECT s.k::text, s.id FROM (SELECT t.head_m AS k, t.id, "));
    ck_assert_int_eq(q->page_params->nelts, 1);
    ck_assert_str_eq(APR_ARRAY_IDX(q->page_params, 0, const char *), "500");
    /* ... or its first rows, numbered in the same order */
    q = set_of(EA_RES_HYDROSITE, "ordering=-head_m&status=study");
    ck_assert_int_eq(ea_keyset_order_of(q, &o), 1);
    sql = ea_keyset_map_sql(q, &o, 500, 20000);
    ck_assert_ptr_nonnull(strstr(sql, "row_number() OVER (ORDER BY t.head_m DESC, t.id DESC) AS rn FROM core_hydrosite t WHERE "));
    ck_assert_ptr_nonnull(strstr(sql, " ORDER BY t.head_m DESC, t.id DESC LIMIT $2::bigint) s WHERE s.rn % $3::bigint = 1"));
    ck_assert_int_eq(q->page_params->nelts, 3);
    ck_assert_str_eq(APR_ARRAY_IDX(q->page_params, 0, const char *), "study");
    ck_assert_str_eq(APR_ARRAY_IDX(q->page_params, 1, const char *), "20000");
    ck_assert_str_eq(APR_ARRAY_IDX(q->page_params, 2, const char *), "500");
    /* the map's key names the conditions and their values */
    const char *k1 = ea_keyset_map_key(set_of(EA_RES_HYDROSITE, "status=study"), 1024);
    const char *k2 = ea_keyset_map_key(set_of(EA_RES_HYDROSITE, "status=operational"), 1024);
    ck_assert_str_ne(k1, k2);
    ck_assert_ptr_null(ea_keyset_map_key(set_of(EA_RES_HYDROSITE, "status=study"), 10));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("keyset");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, orderings_served);
    tcase_add_test(tc, spacing);
    tcase_add_test(tc, cover);
    tcase_add_test(tc, map_round_trip);
    tcase_add_test(tc, seek_query);
    suite_add_tcase(s, tc);
    apr_initialize();
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    apr_terminate();
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
