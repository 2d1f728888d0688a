/* Unit tests for the SQL of ?search= (lib/ea_sql_list.c): Django's icontains
 * on PostgreSQL, UPPER(field::text) LIKE UPPER(pattern), in the form the
 * trigram indexes of migration 0005 serve; terms under three characters in
 * a form no index matches. */
#include "ea_params.h"
#include "ea_sql_list.h"

#include <apr_general.h>
#include <apr_strings.h>
#include <check.h>

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
    (void)ctx; (void)table; (void)id;
    return 0;
}

/* Build the set of resource res for query string args; "where|p1|p2|". */
static const char *built(ea_res_id res, const char *args)
{
    ea_listq q;
    ck_assert_int_eq(ea_listq_build(pool, &ea_resources[res], ea_qs_parse(pool, args),
                                    no_fk, NULL, NULL, &q), 0);
    char *out = apr_pstrcat(pool, q.where.data, "|", NULL);
    for (int i = 0; i < q.params->nelts; i++)
        out = apr_pstrcat(pool, out, APR_ARRAY_IDX(q.params, i, const char *), "|", NULL);
    return out;
}

START_TEST(one_term_is_djangos_icontains)
{
    ck_assert_str_eq(built(EA_RES_COUNTRY, "search=benin"),
                     "(UPPER(t.name::text) LIKE UPPER($1))|%benin%|");
}
END_TEST

START_TEST(every_search_field_ored)
{
    /* hydro sites: the stored document of the three fields (migration 0006) */
    ck_assert_str_eq(built(EA_RES_HYDROSITE, "search=lake"),
                     "(t.ecoatlas_search LIKE UPPER($1))|%lake%|");
    ck_assert_str_eq(built(EA_RES_DATASET, "search=world"),
                     "(UPPER(t.name::text) LIKE UPPER($1) OR UPPER(t.source::text) LIKE UPPER($1))|%world%|");
    ck_assert_str_eq(built(EA_RES_METRIC, "search=output"),
                     "(UPPER(t.metric::text) LIKE UPPER($1))|%output%|");
    ck_assert_str_eq(built(EA_RES_CLIMATE, "search=rain"),
                     "(UPPER(t.variable::text) LIKE UPPER($1))|%rain%|");
    ck_assert_str_eq(built(EA_RES_REGION, "search=lit"),
                     "(UPPER(t.name::text) LIKE UPPER($1))|%lit%|");
}
END_TEST

START_TEST(terms_anded_each_its_parameter)
{
    ck_assert_str_eq(built(EA_RES_DATASET, "search=alpha+world"),
                     "(UPPER(t.name::text) LIKE UPPER($1) OR UPPER(t.source::text) LIKE UPPER($1))"
                     " AND (UPPER(t.name::text) LIKE UPPER($2) OR UPPER(t.source::text) LIKE UPPER($2))"
                     "|%alpha%|%world%|");
}
END_TEST

START_TEST(filters_first_then_search)
{
    ck_assert_str_eq(built(EA_RES_DATASET, "dataset_type=phes&search=alp"),
                     "t.dataset_type = $1 AND (UPPER(t.name::text) LIKE UPPER($2)"
                     " OR UPPER(t.source::text) LIKE UPPER($2))|phes|%alp%|");
}
END_TEST

START_TEST(like_metacharacters_escaped)
{
    ck_assert_str_eq(built(EA_RES_COUNTRY, "search=50%25_x%5Cy"),
                     "(UPPER(t.name::text) LIKE UPPER($1))|%50\\%\\_x\\\\y%|");
}
END_TEST

/* Under three characters (code points, not bytes): no trigram, so not the
 * indexed expression; the raw term (strpos has no metacharacters). */
START_TEST(short_terms_not_indexed)
{
    ck_assert_str_eq(built(EA_RES_COUNTRY, "search=ab"),
                     "(strpos(UPPER(t.name::text), UPPER($1)) > 0)|ab|");
    ck_assert_str_eq(built(EA_RES_COUNTRY, "search=%25_"),
                     "(strpos(UPPER(t.name::text), UPPER($1)) > 0)|%_|");
    /* two characters, four bytes */
    ck_assert_str_eq(built(EA_RES_COUNTRY, "search=%C3%B4t%C3%A9"),
                     "(UPPER(t.name::text) LIKE UPPER($1))|%ôté%|");
    ck_assert_str_eq(built(EA_RES_COUNTRY, "search=%C3%B4%C3%A9"),
                     "(strpos(UPPER(t.name::text), UPPER($1)) > 0)|ôé|");
    ck_assert_str_eq(built(EA_RES_HYDROSITE, "search=ab+lake"),
                     "(strpos(t.ecoatlas_search, UPPER($1)) > 0)"
                     " AND (t.ecoatlas_search LIKE UPPER($2))|ab|%lake%|");
}
END_TEST

/* The document joins its fields with line feeds, so it may stand for them
 * only for a term without one: SearchFilter never makes such a term (it
 * splits at whitespace), and one given directly tests each field. */
START_TEST(search_document_only_for_terms_without_line_feeds)
{
    apr_array_header_t *terms = ea_search_terms(pool, "la\nke\x1fx\r\vq");
    ck_assert_int_eq(terms->nelts, 4); /* la ke x q */
    for (int i = 0; i < terms->nelts; i++)
        ck_assert_ptr_null(strchr(APR_ARRAY_IDX(terms, i, const char *), '\n'));
    ea_buf b;
    const char *param;
    ea_buf_init(&b, pool, 64);
    ea_search_term_sql(&b, &ea_resources[EA_RES_HYDROSITE], "la\nke", 3, pool, &param);
    ck_assert_str_eq(b.data, "(UPPER(t.name::text) LIKE UPPER($3) OR UPPER(t.notes::text) LIKE UPPER($3)"
                             " OR UPPER(t.properties::text) LIKE UPPER($3))");
    ck_assert_str_eq(param, "%la\nke%");
}
END_TEST

/* The count of a searched list is counted over the same condition (never
 * the trigger-kept per-group counts, which know nothing of the terms). */
START_TEST(searched_count_counts_the_rows)
{
    ea_listq q;
    ck_assert_int_eq(ea_listq_build(pool, &ea_resources[EA_RES_HYDROSITE],
                                    ea_qs_parse(pool, "status=study&search=lake"), no_fk, NULL, NULL, &q), 0);
    ck_assert_str_eq(ea_listq_count_sql(&q),
                     "SELECT count(*) FROM core_hydrosite t WHERE t.status = $1 AND "
                     "(t.ecoatlas_search LIKE UPPER($2))");
}
END_TEST

/* A searched page: the matches found once (ids and sort keys), the count
 * and the page both taken from them; LIMIT and OFFSET still parameters. */
START_TEST(searched_page_reads_the_matches_once)
{
    ea_listq q;
    ck_assert_int_eq(ea_listq_build(pool, &ea_resources[EA_RES_REGION],
                                    ea_qs_parse(pool, "level=x&search=lit"), no_fk, NULL, NULL, &q), 0);
    ck_assert_str_eq(ea_listq_select_sql(&q, ea_listq_count_sql(&q), 10, 20),
        "WITH m AS MATERIALIZED (SELECT t.id AS id, c.name AS k1, t.name AS k2, t.id AS k3"
        " FROM core_region t JOIN core_country c ON c.id = t.country_id"
        " WHERE t.level = $1 AND (UPPER(t.name::text) LIKE UPPER($2)))"
        " SELECT (SELECT count(*) FROM m), t.id, t.country_id, c.name, t.name, t.level, t.boundary,"
        " t.created_at, t.updated_at"
        " FROM core_region t JOIN core_country c ON c.id = t.country_id"
        " JOIN (SELECT * FROM m ORDER BY k1, k2, k3 LIMIT $3::bigint OFFSET $4::bigint) p ON p.id = t.id"
        " ORDER BY p.k1, p.k2, p.k3");
    ck_assert_int_eq(q.page_params->nelts, 4);
    ck_assert_str_eq(APR_ARRAY_IDX(q.page_params, 2, const char *), "10");
    ck_assert_str_eq(APR_ARRAY_IDX(q.page_params, 3, const char *), "20");

    ck_assert_int_eq(ea_listq_build(pool, &ea_resources[EA_RES_HYDROSITE],
                                    ea_qs_parse(pool, "search=ab&ordering=-head_m,name"), no_fk, NULL, NULL, &q), 0);
    const char *sql = ea_listq_select_sql(&q, NULL, 50, 0);
    ck_assert_msg(strstr(sql, "WITH m AS MATERIALIZED (SELECT t.id AS id, t.head_m AS k1, t.name AS k2, t.id AS k3"
                              " FROM core_hydrosite t WHERE (strpos(") == sql, "%s", sql);
    ck_assert_msg(strstr(sql, " FROM core_hydrosite t JOIN core_country c ON c.id = t.country_id"
                              " LEFT JOIN core_region r ON r.id = t.region_id JOIN (SELECT * FROM m") != NULL, "%s", sql);
    ck_assert_msg(strstr(sql, ") SELECT t.id, t.name, ") != NULL, "no count asked: %s", sql);
    ck_assert_msg(strstr(sql, " ORDER BY k1 DESC, k2, k3 DESC LIMIT $2::bigint OFFSET $3::bigint) p ON p.id = t.id"
                              " ORDER BY p.k1 DESC, p.k2, p.k3 DESC") != NULL, "%s", sql);

    /* default orders with DESC; unsearched lists keep their plain SELECT */
    ck_assert_int_eq(ea_listq_build(pool, &ea_resources[EA_RES_METRIC],
                                    ea_qs_parse(pool, "search=pot"), no_fk, NULL, NULL, &q), 0);
    sql = ea_listq_select_sql(&q, NULL, 50, 0);
    ck_assert_msg(strstr(sql, "t.created_at AS k1, t.id AS k2 FROM") != NULL, "%s", sql);
    ck_assert_msg(strstr(sql, "ORDER BY p.k1 DESC, p.k2 DESC") != NULL, "%s", sql);
    ck_assert_int_eq(ea_listq_build(pool, &ea_resources[EA_RES_METRIC],
                                    ea_qs_parse(pool, "year=2020"), no_fk, NULL, NULL, &q), 0);
    sql = ea_listq_select_sql(&q, NULL, 50, 0);
    ck_assert_msg(strncmp(sql, "SELECT t.id, ", 13) == 0, "%s", sql);
}
END_TEST

/* Without the document (dropped for a Django migration): every statement
 * of a searched set tests each field instead, with the same placeholders,
 * and nothing else in it changes. */
START_TEST(search_document_fallback_tests_each_field)
{
    ea_listq q;
    ck_assert_int_eq(ea_listq_build(pool, &ea_resources[EA_RES_HYDROSITE],
                                    ea_qs_parse(pool, "status=study&search=ab+lake+x%25y&ordering=name"), no_fk, NULL, NULL, &q), 0);
    const char *sql = ea_listq_select_sql(&q, ea_listq_count_sql(&q), 50, 100);
    const char *fb = ea_search_doc_fallback(pool, sql);
    ck_assert_ptr_nonnull(fb);
    ck_assert_ptr_null(strstr(fb, "ecoatlas_search"));
    const char *fields2 = "(strpos(UPPER(t.name::text), UPPER($2)) > 0 OR strpos(UPPER(t.notes::text), UPPER($2)) > 0"
                          " OR strpos(UPPER(t.properties::text), UPPER($2)) > 0)";
    const char *fields3 = "(UPPER(t.name::text) LIKE UPPER($3) OR UPPER(t.notes::text) LIKE UPPER($3)"
                          " OR UPPER(t.properties::text) LIKE UPPER($3))";
    const char *fields4 = "(UPPER(t.name::text) LIKE UPPER($4) OR UPPER(t.notes::text) LIKE UPPER($4)"
                          " OR UPPER(t.properties::text) LIKE UPPER($4))";
    char *want = apr_pstrcat(pool, "WHERE t.status = $1 AND ", fields2, " AND ", fields3, " AND ", fields4, ")", NULL);
    ck_assert_msg(strstr(fb, want) != NULL, "%s", fb);
    /* the rest is untouched: the same text once the document is put back */
    char *back = apr_pstrdup(pool, fb);
    const char *docs[] = { "(strpos(t.ecoatlas_search, UPPER($2)) > 0)", "(t.ecoatlas_search LIKE UPPER($3))",
                           "(t.ecoatlas_search LIKE UPPER($4))" };
    const char *fields[] = { fields2, fields3, fields4 };
    for (int i = 0; i < 3; i++) {
        char *at = strstr(back, fields[i]);
        ck_assert_ptr_nonnull(at);
        back = apr_pstrcat(pool, apr_pstrmemdup(pool, back, (apr_size_t)(at - back)), docs[i],
                           at + strlen(fields[i]), NULL);
    }
    ck_assert_str_eq(back, sql);
    /* the count statement too; statements without a document: NULL */
    ck_assert_ptr_null(strstr(ea_search_doc_fallback(pool, ea_listq_count_sql(&q)), "ecoatlas_search"));
    ck_assert_ptr_null(ea_search_doc_fallback(pool, "SELECT t.ecoatlas_search FROM core_hydrosite t"));
    ck_assert_ptr_null(ea_search_doc_fallback(pool, "(t.ecoatlas_search LIKE UPPER($))"));
    ck_assert_ptr_null(ea_search_doc_fallback(pool, "(t.ecoatlas_search LIKE UPPER($1)"));
    ck_assert_int_eq(ea_listq_build(pool, &ea_resources[EA_RES_COUNTRY],
                                    ea_qs_parse(pool, "search=lake"), no_fk, NULL, NULL, &q), 0);
    ck_assert_ptr_null(ea_search_doc_fallback(pool, ea_listq_select_sql(&q, NULL, 50, 0)));
    /* PostgreSQL's error names the column */
    ck_assert_int_eq(ea_search_doc_named("ERROR:  column t.ecoatlas_search does not exist\nLINE 1: ..."), 1);
    ck_assert_int_eq(ea_search_doc_named("ERROR:  column t.nope does not exist"), 0);
    ck_assert_int_eq(ea_search_doc_named(NULL), 0);
}
END_TEST

static Suite *search_suite(void)
{
    Suite *s = suite_create("search");
    TCase *tc = tcase_create("sql");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, one_term_is_djangos_icontains);
    tcase_add_test(tc, every_search_field_ored);
    tcase_add_test(tc, terms_anded_each_its_parameter);
    tcase_add_test(tc, filters_first_then_search);
    tcase_add_test(tc, like_metacharacters_escaped);
    tcase_add_test(tc, short_terms_not_indexed);
    tcase_add_test(tc, search_document_only_for_terms_without_line_feeds);
    tcase_add_test(tc, searched_count_counts_the_rows);
    tcase_add_test(tc, searched_page_reads_the_matches_once);
    tcase_add_test(tc, search_document_fallback_tests_each_field);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    apr_initialize();
    SRunner *sr = srunner_create(search_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    apr_terminate();
    return failed == 0 ? 0 : 1;
}
