/* Unit tests for the task worker's pure parts: the CSV reader, the GeoJSON
 * reader, broker URL parsing, task ids, and the import row rules of
 * docs/decisions.md §6.1 with decision D13. */
#include "ea_csv.h"
#include "ea_geojson.h"
#include "ea_import.h"
#include "ea_queue.h"

#include <apr_general.h>
#include <apr_strings.h>
#include <check.h>
#include <json-c/json.h>

#include <stdio.h>
#include <stdlib.h>
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

/* ---- CSV -------------------------------------------------------------------------- */

/* All records of s joined as "line:f1|f2;" (or "line!error;" for a bad
 * record, "FATAL line!error" at the end). */
static const char *csv_dump(const char *s, size_t len, size_t max_record, size_t max_fields)
{
    ea_csv *c = ea_csv_open_mem(s, len, max_record, max_fields);
    char *out = "";
    ea_csv_status st;
    ck_assert_ptr_nonnull(c);
    while ((st = ea_csv_next(c)) != EA_CSV_EOF) {
        if (st == EA_CSV_FATAL) {
            out = apr_psprintf(pool, "%sFATAL %lu!%s", out, ea_csv_error_line(c), ea_csv_error(c));
            break;
        }
        if (st == EA_CSV_BAD) {
            out = apr_psprintf(pool, "%s%lu!%s;", out, ea_csv_error_line(c), ea_csv_error(c));
            continue;
        }
        out = apr_psprintf(pool, "%s%lu:", out, ea_csv_line(c));
        for (size_t i = 0; i < ea_csv_nfields(c); i++) {
            size_t n;
            const char *f = ea_csv_field(c, i, &n);
            ck_assert_uint_eq(n, strlen(f));
            out = apr_psprintf(pool, "%s%s%s", out, i ? "|" : "", f);
        }
        out = apr_pstrcat(pool, out, ";", NULL);
    }
    ea_csv_close(c);
    return out;
}

#define CSV(s) csv_dump(s, sizeof(s) - 1, 0, 0)

START_TEST(csv_basic_lf_crlf_cr)
{
    ck_assert_str_eq(CSV("a,b\n1,2\n"), "1:a|b;2:1|2;");
    ck_assert_str_eq(CSV("a,b\r\n1,2\r\n"), "1:a|b;2:1|2;");
    ck_assert_str_eq(CSV("a,b\r1,2"), "1:a|b;2:1|2;");
    ck_assert_str_eq(CSV("a,b\n1,2"), "1:a|b;2:1|2;");        /* no final newline */
    ck_assert_str_eq(CSV("a,,\n"), "1:a||;");
    ck_assert_str_eq(CSV(""), "");
}
END_TEST

START_TEST(csv_bom_and_blank_lines)
{
    ck_assert_str_eq(CSV("\xEF\xBB\xBFiso3\nBEN\n"), "1:iso3;2:BEN;");
    ck_assert_str_eq(CSV("a\n\n\r\nb\n"), "1:a;4:b;");
    /* a BOM anywhere else is data */
    ck_assert_str_eq(CSV("a\n\xEF\xBB\xBF" "b\n"), "1:a;2:\xEF\xBB\xBF" "b;");
}
END_TEST

START_TEST(csv_quotes)
{
    ck_assert_str_eq(CSV("\"a,b\",\"c\"\"d\"\n"), "1:a,b|c\"d;");
    ck_assert_str_eq(CSV("\"\"\n"), "1:;");
    /* embedded line breaks keep the line count right */
    ck_assert_str_eq(CSV("h\n\"x\ny\r\nz\"\nnext\n"), "1:h;2:x\ny\r\nz;5:next;");
    /* a quote inside an unquoted field is kept, as Python's csv does */
    ck_assert_str_eq(CSV("ab\"c,d\n"), "1:ab\"c|d;");
    /* text after a closing quote: the record is rejected, reading goes on */
    ck_assert_str_eq(CSV("\"a\"x,b\nc\n"), "1!caractère après un guillemet fermant (champ 1);2:c;");
    /* an unterminated quote is fatal, reported on its first line */
    ck_assert_str_eq(CSV("a\n\"open\nmore\n"), "1:a;FATAL 2!guillemet ouvrant sans guillemet fermant");
}
END_TEST

START_TEST(csv_formula_cells_are_data)
{
    ck_assert_str_eq(CSV("=cmd|'/c calc'!A1,+1,-2,@SUM(A1)\n"), "1:=cmd|'/c calc'!A1|+1|-2|@SUM(A1);");
}
END_TEST

START_TEST(csv_invalid_utf8_and_nul)
{
    ck_assert_str_eq(CSV("a\n\xff\xfe,b\nok\n"), "1:a;2!encodage invalide (UTF-8 attendu) dans le champ 1;3:ok;");
    /* a surrogate encoded in UTF-8 and an overlong form are invalid too */
    ck_assert_str_eq(CSV("\xed\xa0\x80\n"), "1!encodage invalide (UTF-8 attendu) dans le champ 1;");
    ck_assert_str_eq(CSV("\xc0\xaf\n"), "1!encodage invalide (UTF-8 attendu) dans le champ 1;");
    /* the line of the bad byte inside a multi-line field */
    ck_assert_str_eq(CSV("\"a\nb\xff\"\n"), "2!encodage invalide (UTF-8 attendu) dans le champ 1;");
    ck_assert_str_eq(csv_dump("a,b\0c\nd\n", 8, 0, 0), "1!octet NUL dans le champ 2;2:d;");
    ck_assert_str_eq(CSV("é,日本\n"), "1:é|日本;");
}
END_TEST

START_TEST(csv_limits)
{
    /* a record over the limit is rejected with its line; the next is read */
    const char *s = "abcdefghij,k\nok\n";
    ck_assert_str_eq(csv_dump(s, strlen(s), 8, 0), "1!ligne trop longue (plus de 8 octets);2:ok;");
    s = "a,b,c,d\nok\n";
    ck_assert_str_eq(csv_dump(s, strlen(s), 0, 3), "1!trop de champs (plus de 3);2:ok;");
    /* a 3 MB line with the default 1 MiB limit */
    size_t n = 3 * 1024 * 1024;
    char *big = malloc(n + 8);
    memset(big, 'x', n);
    memcpy(big + n, "\nok\n", 4);
    ck_assert_str_eq(csv_dump(big, n + 4, 0, 0), "1!ligne trop longue (plus de 1048576 octets);2:ok;");
    free(big);
}
END_TEST

START_TEST(csv_streaming_offsets)
{
    const char *s = "a,b\n1,2\n";
    ea_csv *c = ea_csv_open_mem(s, strlen(s), 0, 0);
    ck_assert_int_eq(ea_csv_next(c), EA_CSV_RECORD);
    ck_assert_uint_eq(ea_csv_offset(c), 4);
    ck_assert_int_eq(ea_csv_next(c), EA_CSV_RECORD);
    ck_assert_int_eq(ea_csv_next(c), EA_CSV_EOF);
    ck_assert_int_eq(ea_csv_next(c), EA_CSV_EOF);
    ck_assert_uint_eq(ea_csv_offset(c), 8);
    ea_csv_close(c);
}
END_TEST

/* ---- GeoJSON ---------------------------------------------------------------------------- */

static int gj(const char *s, ea_geojson **g, char *err)
{
    return ea_geojson_parse(s, strlen(s), NULL, g, err, 256);
}

START_TEST(geojson_features)
{
    ea_geojson *g;
    char err[256];
    const char *s = "{\"type\":\"FeatureCollection\",\"features\":["
                    "{\"type\":\"Feature\",\"properties\":{\"iso3\":\"BEN\",\"iso2\":\"BJ\",\"n\":12},"
                    "\"geometry\":{\"type\":\"Polygon\",\"coordinates\":[[[2.6,6.2],[1.7,6.2],[2.6,6.2]]]}},"
                    "{\"type\":\"Feature\",\"properties\":null,\"geometry\":null},"
                    "{\"type\":\"Feature\",\"properties\":{},\"geometry\":{\"type\":\"Blob\"}},"
                    "42]}";
    ck_assert_int_eq(gj(s, &g, err), 0);
    ck_assert_uint_eq(g->nfeatures, 4);
    ck_assert_ptr_null(g->features[0].error);
    ck_assert_str_eq(ea_geojson_prop(&g->features[0], "iso3"), "BEN");
    ck_assert_str_eq(ea_geojson_prop(&g->features[0], "n"), "12");
    ck_assert_ptr_null(ea_geojson_prop(&g->features[0], "missing"));
    ck_assert_str_eq(g->features[0].geometry, "{\"type\":\"Polygon\",\"coordinates\":[[[2.6,6.2],[1.7,6.2],[2.6,6.2]]]}");
    ck_assert_ptr_null(g->features[1].error);
    ck_assert_ptr_null(g->features[1].geometry);
    ck_assert_ptr_nonnull(g->features[2].error);
    ck_assert_ptr_nonnull(g->features[3].error);
    ck_assert_uint_eq(g->features[3].index, 4);
    ea_geojson_free(g);
}
END_TEST

START_TEST(geojson_errors)
{
    ea_geojson *g;
    char err[256];
    ck_assert_int_eq(gj("{\"features\":[]}", &g, err), 0);
    ck_assert_uint_eq(g->nfeatures, 0);
    ea_geojson_free(g);
    ck_assert_int_eq(gj("{}", &g, err), 0);
    ck_assert_uint_eq(g->nfeatures, 0);
    ea_geojson_free(g);
    ck_assert_int_eq(gj("[1]", &g, err), -1);
    ck_assert_ptr_nonnull(strstr(err, "FeatureCollection"));
    ck_assert_int_eq(gj("{\"features\":{}}", &g, err), -1);
    ck_assert_int_eq(gj("{\n\n\"features\": [,]}", &g, err), -1);
    ck_assert_ptr_nonnull(strstr(err, "ligne 3"));
    ck_assert_int_eq(gj("{\"a\":1} trailing", &g, err), -1);
    ck_assert_int_eq(gj("{\"a\":", &g, err), -1);
    ck_assert_int_eq(gj("", &g, err), -1);
    ck_assert_int_eq(gj("{\"a\":\"\xff\"}", &g, err), -1);            /* invalid UTF-8 */
    ck_assert_int_eq(gj("\xEF\xBB\xBF{\"features\":[]}", &g, err), 0); /* BOM tolerated */
    ea_geojson_free(g);
    /* nesting deeper than the limit */
    char deep[400];
    memset(deep, '[', 200);
    memset(deep + 200, ']', 200);
    char *s = apr_pstrcat(pool, "{\"features\":", apr_pstrmemdup(pool, deep, 400), "}", NULL);
    ck_assert_int_eq(gj(s, &g, err), -1);
    /* a NUL escape in a geometry cannot go to jsonb */
    ck_assert_int_eq(gj("{\"features\":[{\"geometry\":{\"type\":\"Point\",\"x\":\"\\u0000\"}}]}", &g, err), 0);
    ck_assert_ptr_nonnull(g->features[0].error);
    ea_geojson_free(g);
    /* feature count limit */
    ea_geojson_limits lim = {0, 0, 2};
    const char *three = "{\"features\":[{},{},{}]}";
    ck_assert_int_eq(ea_geojson_parse(three, strlen(three), &lim, &g, err, sizeof err), -1);
}
END_TEST

/* ---- ids and queue URLs (the URL grammar: test_redis.c) ----------------------------------------------------------------- */

START_TEST(task_ids)
{
    char a[EA_TASK_ID_LEN + 1], b[EA_TASK_ID_LEN + 1], now[32];
    ck_assert_int_eq(ea_task_uuid4(a), 0);
    ck_assert_int_eq(ea_task_uuid4(b), 0);
    ck_assert_str_ne(a, b);
    ck_assert(ea_task_id_valid(a));
    ck_assert_int_eq(a[14], '4');
    ck_assert(strchr("89ab", a[19]) != NULL);
    ck_assert(!ea_task_id_valid("3F1C2D9E-0000-4000-8000-000000000000"));
    ck_assert(!ea_task_id_valid("../../etc/passwd"));
    ck_assert(!ea_task_id_valid("3f1c2d9e-0000-4000-8000-00000000000"));
    ck_assert(!ea_task_id_valid(NULL));
    ea_task_now_iso(now);
    ck_assert_uint_eq(strlen(now), 27);
    ck_assert_int_eq(now[26], 'Z');
    ck_assert_int_eq(now[10], 'T');
}
END_TEST

START_TEST(taskq_bad_urls)
{
    ea_taskq_opts o;
    const char *err = NULL;
    memset(&o, 0, sizeof o);
    ck_assert_ptr_null(ea_taskq_create(pool, &o, &err));
    o.broker_url = "redis://:topsecret@h:99999/0";
    ck_assert_ptr_null(ea_taskq_create(pool, &o, &err));
    ck_assert_ptr_null(strstr(err, "topsecret"));
    o.broker_url = "unix:///nonexistent/redis.sock";
    o.timeout_ms = 200;
    ea_taskq *q = ea_taskq_create(pool, &o, &err);
    ck_assert_ptr_nonnull(q);
    /* nothing listens: a quick error, not a hang */
    char id[EA_TASK_ID_LEN + 1];
    ck_assert_int_eq(ea_taskq_enqueue(q, "noop", "{}", id), -1);
    ck_assert_ptr_nonnull(strstr(ea_taskq_error(q), "cannot connect"));
    ea_taskq_close(q);
}
END_TEST

/* ---- import row rules ---------------------------------------------------------------------- */

static ea_import_opts opts;

static int row(const char *header, const char *line, ea_metric_row *r, char *why)
{
    char *h = apr_pstrdup(pool, header), *l = apr_pstrdup(pool, line), *tok, *last;
    const char *names[16], *fields[16];
    size_t nh = 0, nf = 0;
    ea_metric_cols cols;
    for (tok = apr_strtok(h, ",", &last); tok && nh < 16; tok = apr_strtok(NULL, ",", &last))
        names[nh++] = tok;
    /* fields split on ',' keeping empty ones */
    for (char *s = l;; ) {
        char *c = strchr(s, ',');
        fields[nf++] = s;
        if (c == NULL)
            break;
        *c = '\0';
        s = c + 1;
    }
    ea_import_map_header(names, nh, &cols);
    return ea_import_metric_row(&cols, fields, nf, &opts, pool, r, why, 256);
}

/* COPY text format, shared with `ecoatlas generate-sample`. */
START_TEST(copy_text_format)
{
    ea_buf b;
    ea_buf_init(&b, pool, 4);
    ea_copy_text(&b, "a\tb\\c\nd\re");
    ck_assert_str_eq(b.data, "a\\tb\\\\c\\nd\\re");
    ea_buf_reset(&b);
    ea_copy_field(&b, "x", 0);
    ea_copy_field(&b, NULL, 0);
    ea_copy_field(&b, "", 1);
    ck_assert_str_eq(b.data, "x\t\\N\t\n");
    ck_assert_int_eq(ea_copy_flush(NULL, &(ea_buf){ .len = 0 }), 0);
}
END_TEST

START_TEST(import_rows)
{
    ea_metric_row r;
    char why[256];
    ea_import_opts_init(&opts);
    ck_assert_int_eq(row("iso3,country,metric,value,unit,year", "ben,Benin,solar_kwh,2100,kWh/m2,2024", &r, why), 0);
    ck_assert_str_eq(r.iso3, "BEN");
    ck_assert_str_eq(r.country, "Benin");
    ck_assert_str_eq(r.iso2, "BE");                     /* iso3[:2] */
    ck_assert_str_eq(r.resource_type, "solar");         /* --resource-type default */
    ck_assert_str_eq(r.metric, "solar_kwh");
    ck_assert_str_eq(r.value, "2100");
    ck_assert_str_eq(r.unit, "kWh/m2");
    ck_assert_int_eq(r.year, 2024);
    /* case variants, defaults, an empty year is NULL */
    ck_assert_int_eq(row("ISO3,Value,Year,ISO2", " ner ,1e3,,ne", &r, why), 0);
    ck_assert_str_eq(r.iso3, "NER");
    ck_assert_str_eq(r.country, "NER");
    ck_assert_str_eq(r.iso2, "NE");
    ck_assert_str_eq(r.metric, "potential_kwh");        /* --default-metric */
    ck_assert_str_eq(r.value, "1e3");
    ck_assert_int_eq(r.year, -1);
    ck_assert_str_eq(r.unit, "");
    /* lower-case first, then Capitalised: `row['iso3'] or row['ISO3']` */
    ck_assert_int_eq(row("ISO3,iso3,value", "AAA,,1", &r, why), 0);
    ck_assert_str_eq(r.iso3, "AAA");
    ck_assert_int_eq(row("ISO3,iso3,value", "AAA,BBB,1", &r, why), 0);
    ck_assert_str_eq(r.iso3, "BBB");
    /* D13: a resource_type column per row, validated */
    ck_assert_int_eq(row("iso3,value,resource_type", "CMR,6500,Hydro", &r, why), 0);
    ck_assert_str_eq(r.resource_type, "hydro");
    ck_assert_int_eq(row("iso3,value,resource_type", "CMR,6500,", &r, why), 0);
    ck_assert_str_eq(r.resource_type, "solar");
    ck_assert_int_eq(row("iso3,value,resource_type", "CMR,6500,nuclear", &r, why), -1);
    ck_assert_ptr_nonnull(strstr(why, "nuclear"));
    /* the contract's messages */
    ck_assert_int_eq(row("iso3,value", ",1", &r, why), -1);
    ck_assert_str_eq(why, "iso3 manquant.");
    ck_assert_int_eq(row("iso3,metric,value", "BEN,m,abc", &r, why), -1);
    ck_assert_str_eq(why, "Valeur invalide pour BEN/m, ligne ignorée.");
    ck_assert_int_eq(row("iso3,value", "BEN,", &r, why), -1);
    ck_assert_int_eq(row("iso3,value", "BEN,nan", &r, why), -1);
    ck_assert_int_eq(row("iso3,value", "BEN,inf", &r, why), -1);
    ck_assert_int_eq(row("iso3,value", "BEN,0x10", &r, why), -1);
    ck_assert_int_eq(row("iso3,value", "BEN,1e400", &r, why), -1);
    ck_assert_int_eq(row("iso3,value", "BEN,10000000000", &r, why), -1);
    ck_assert_int_eq(row("iso3,value", "BEN,-5.5", &r, why), 0);     /* negatives were accepted */
    ck_assert_int_eq(row("iso3,value", "BEN,9999999999.9999", &r, why), 0);
    ck_assert_int_eq(row("iso3,value,year", "BEN,1,20x4", &r, why), -1);
    ck_assert_int_eq(row("iso3,value,year", "BEN,1,-1", &r, why), -1);
    ck_assert_int_eq(row("iso3,value,year", "BEN,1,2147483648", &r, why), -1);
    ck_assert_int_eq(row("iso3,value", "BENIN,1", &r, why), -1);
    ck_assert_int_eq(row("iso3,value,iso2", "BEN,1,BJX", &r, why), -1);
    /* formula-looking cells are plain data */
    ck_assert_int_eq(row("iso3,value,metric,unit", "BEN,1,=HYPERLINK(\"x\"),@SUM(A1)", &r, why), 0);
    ck_assert_str_eq(r.metric, "=HYPERLINK(\"x\")");
    ck_assert_str_eq(r.unit, "@SUM(A1)");
    /* lengths count characters, not bytes */
    ck_assert_int_eq(row("iso3,value,unit", "BEN,1,ééééééééééééééééééééééééééééééé", &r, why), 0);
    ck_assert_int_eq(row("iso3,value,unit", "BEN,1,éééééééééééééééééééééééééééééééééé", &r, why), -1);
    ck_assert(ea_import_resource_type_valid("biomass"));
    ck_assert(!ea_import_resource_type_valid("Solar"));
}
END_TEST

static Suite *tasks_suite(void)
{
    Suite *s = suite_create("ea_tasks");
    TCase *c = tcase_create("csv"), *g = tcase_create("geojson"), *q = tcase_create("queue"),
          *i = tcase_create("import");
    tcase_add_checked_fixture(c, setup, teardown);
    tcase_add_checked_fixture(g, setup, teardown);
    tcase_add_checked_fixture(q, setup, teardown);
    tcase_add_checked_fixture(i, setup, teardown);
    tcase_add_test(c, csv_basic_lf_crlf_cr);
    tcase_add_test(c, csv_bom_and_blank_lines);
    tcase_add_test(c, csv_quotes);
    tcase_add_test(c, csv_formula_cells_are_data);
    tcase_add_test(c, csv_invalid_utf8_and_nul);
    tcase_add_test(c, csv_limits);
    tcase_add_test(c, csv_streaming_offsets);
    tcase_add_test(g, geojson_features);
    tcase_add_test(g, geojson_errors);
    tcase_add_test(q, task_ids);
    tcase_add_test(q, taskq_bad_urls);
    tcase_add_test(i, import_rows);
    tcase_add_test(i, copy_text_format);
    suite_add_tcase(s, c);
    suite_add_tcase(s, g);
    suite_add_tcase(s, q);
    suite_add_tcase(s, i);
    return s;
}

int main(void)
{
    SRunner *sr;
    int failed;

    apr_initialize();
    sr = srunner_create(tasks_suite());
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    apr_terminate();
    return failed == 0 ? 0 : 1;
}
