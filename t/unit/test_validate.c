/* Unit tests for ea_validate: DRF serializer validation of the six
 * resources.  The database hooks answer from fixed data: ids 1 and 2 exist
 * in every table; a unique lookup finds a row when one of its values is
 * "dup" (and the row is not the instance 7 itself). */
#include "ea_validate.h"
#include "ea_body.h"

#include <apr_general.h>
#include <apr_strings.h>
#include <check.h>
#include <json-c/json.h>

#include <string.h>

static apr_pool_t *pool;
static int hook_calls, fail_hooks;

static void setup(void)
{
    ck_assert_int_eq(apr_pool_create(&pool, NULL), APR_SUCCESS);
    hook_calls = fail_hooks = 0;
}

static void teardown(void)
{
    apr_pool_destroy(pool);
}

static int fk_exists(void *ctx, const char *table, const char *id)
{
    (void)ctx;
    (void)table;
    hook_calls++;
    return fail_hooks ? -1 : strcmp(id, "1") == 0 || strcmp(id, "2") == 0;
}

static int row_exists(void *ctx, const char *table, int n, const char *const *cols,
                      const char *const *vals, const char *exclude)
{
    (void)ctx;
    (void)table;
    (void)cols;
    hook_calls++;
    if (fail_hooks)
        return -1;
    for (int i = 0; i < n; i++)
        if (strcmp(vals[i], "dup") == 0)
            return !(exclude && strcmp(exclude, "7") == 0);
    return 0;
}

static const ea_vhooks hooks = { NULL, fk_exists, row_exists };

/* "ERR <400 body>", or "OK col=value ..." (NULL for SQL NULL). */
static const char *run(ea_res_id r, ea_vmode mode, const char *json, const char *const *current,
                       int form)
{
    struct json_object *data = NULL;
    ea_vresult v;
    const char *err;
    if (form) {
        ea_body b;
        ck_assert_int_eq(ea_body_parse(pool, "application/x-www-form-urlencoded", json, strlen(json), &b), 0);
        data = b.data;
    } else {
        ck_assert_msg(ea_body_json(pool, json, strlen(json), 512, &data, &err) == 0, "%s", json);
    }
    int rc = ea_validate(pool, &ea_vresources[r], mode, data, form, current,
                         current ? "7" : NULL, &hooks, &v);
    if (!form)
        json_object_put(data);
    if (rc < 0)
        return "HOOK FAILED";
    if (rc > 0)
        return apr_pstrcat(pool, "ERR ", v.errors.data, NULL);
    const char *s = "OK";
    for (int i = 0; i < v.n; i++)
        s = apr_psprintf(pool, "%s %s=%s", s, v.cols[i], v.vals[i] ? v.vals[i] : "NULL");
    return s;
}

#define C(json) run(EA_RES_COUNTRY, EA_V_CREATE, json, NULL, 0)
#define SITE(json) run(EA_RES_HYDROSITE, EA_V_CREATE, "{\"name\":\"S\",\"country\":1," json "}", NULL, 0)
#define METRIC(json) run(EA_RES_METRIC, EA_V_CREATE, \
    "{\"dataset\":1,\"country\":1,\"resource_type\":\"solar\",\"metric\":\"m\"," json "}", NULL, 0)

START_TEST(test_country)
{
    ck_assert_str_eq(C("{}"), "ERR {\"name\":[\"This field is required.\"],\"iso2\":[\"This field is required.\"],"
                              "\"iso3\":[\"This field is required.\"]}");
    ck_assert_str_eq(C("{\"name\":\" Benin \",\"iso2\":\"BJ\",\"iso3\":\"BEN\",\"id\":99,\"site_count\":5}"),
                     "OK name=Benin iso2=BJ iso3=BEN population=NULL boundary=NULL");
    ck_assert_str_eq(C("{\"name\":\"dup\",\"iso2\":\"dup\",\"iso3\":\"\",\"population\":null}"),
                     "ERR {\"name\":[\"country with this name already exists.\"],"
                     /* too long for the column: no lookup, it cannot exist */
                     "\"iso2\":[\"Ensure this field has no more than 2 characters.\"],"
                     "\"iso3\":[\"This field may not be blank.\"]}");
    /* characters, not bytes; numbers become strings */
    ck_assert_str_eq(C("{\"name\":12,\"iso2\":\"\\u00e9\\u00e9\",\"iso3\":1.5}"),
                     "OK name=12 iso2=\xc3\xa9\xc3\xa9 iso3=1.5 population=NULL boundary=NULL");
    ck_assert_str_eq(C("{\"name\":[],\"iso2\":{},\"iso3\":false}"),
                     "ERR {\"name\":[\"Not a valid string.\"],\"iso2\":[\"Not a valid string.\"],\"iso3\":[\"Not a valid string.\"]}");
    ck_assert_str_eq(C("{\"name\":\"a\\u0000b\",\"iso2\":\"\\ud800\",\"iso3\":\"X\"}"),
                     "ERR {\"name\":[\"Null characters are not allowed.\"],"
                     "\"iso2\":[\"Surrogate characters are not allowed: U+D800.\"]}");
}
END_TEST

START_TEST(test_integers)
{
#define POP(v) C("{\"name\":\"n\",\"iso2\":\"ab\",\"iso3\":\"abc\",\"population\":" v "}")
    ck_assert_str_eq(POP("\"12\""), "OK name=n iso2=ab iso3=abc population=12 boundary=NULL");
    ck_assert_str_eq(POP("3.0"), "OK name=n iso2=ab iso3=abc population=3 boundary=NULL");
    ck_assert_str_eq(POP("\" 7.00 \""), "OK name=n iso2=ab iso3=abc population=7 boundary=NULL");
    ck_assert_str_eq(POP("1e3"), "OK name=n iso2=ab iso3=abc population=1000 boundary=NULL");
    ck_assert_str_eq(POP("\"1_000\""), "OK name=n iso2=ab iso3=abc population=1000 boundary=NULL");
    ck_assert_str_eq(POP("9223372036854775807"),
                     "OK name=n iso2=ab iso3=abc population=9223372036854775807 boundary=NULL");
    ck_assert_str_eq(POP("9223372036854775808"),
                     "ERR {\"population\":[\"Ensure this value is less than or equal to 9223372036854775807.\"]}");
    ck_assert_str_eq(POP("-99999999999999999999999"),
                     "ERR {\"population\":[\"Ensure this value is greater than or equal to 0.\"]}");
    ck_assert_str_eq(POP("-1"), "ERR {\"population\":[\"Ensure this value is greater than or equal to 0.\"]}");
    ck_assert_str_eq(POP("1.5"), "ERR {\"population\":[\"A valid integer is required.\"]}");
    ck_assert_str_eq(POP("1e16"), "ERR {\"population\":[\"A valid integer is required.\"]}");   /* str: 1e+16 */
    ck_assert_str_eq(POP("true"), "ERR {\"population\":[\"A valid integer is required.\"]}");
    ck_assert_str_eq(POP("\"\""), "ERR {\"population\":[\"A valid integer is required.\"]}");
    ck_assert_str_eq(POP("[1]"), "ERR {\"population\":[\"A valid integer is required.\"]}");
    char *big = apr_pstrcat(pool, "\"", apr_psprintf(pool, "%01001d", 1), "\"", NULL);
    ck_assert_str_eq(C(apr_pstrcat(pool, "{\"name\":\"n\",\"iso2\":\"ab\",\"iso3\":\"abc\",\"population\":", big, "}", NULL)),
                     "ERR {\"population\":[\"String value too large.\"]}");
}
END_TEST

START_TEST(test_decimals)
{
    ck_assert_str_eq(SITE("\"head_m\":40"), "OK name=S country_id=1 region_id=NULL dataset_id=NULL latitude=NULL "
                     "longitude=NULL elevation_m=NULL head_m=40.00 storage_capacity_mwh=NULL turbine_capacity_mw=NULL "
                     "status=identified notes= properties={}");
#define HEAD(v) SITE("\"head_m\":" v ",\"status\":\"study\",\"notes\":\"x\",\"properties\":{\"a\":[1]}")
    ck_assert(strstr(HEAD("\"0.5\""), " head_m=0.50 "));
    ck_assert(strstr(HEAD("\"-0\""), " head_m=-0.00 "));
    ck_assert(strstr(HEAD("\"1E+3\""), " head_m=1000.00 "));
    ck_assert(strstr(HEAD("\"  \\u0661\\u0662.5 \""), " head_m=12.50 "));   /* Arabic-Indic digits */
    ck_assert(strstr(HEAD("1.25"), " properties={\"a\":[1]}"));
    ck_assert_str_eq(HEAD("\"1234567\""), "ERR {\"head_m\":[\"Ensure that there are no more than 6 digits in total.\"]}");
    ck_assert_str_eq(HEAD("\"12345\""),
                     "ERR {\"head_m\":[\"Ensure that there are no more than 4 digits before the decimal point.\"]}");
    ck_assert_str_eq(HEAD("\"1.000\""), "ERR {\"head_m\":[\"Ensure that there are no more than 2 decimal places.\"]}");
    ck_assert_str_eq(HEAD("\"0e6\""), "ERR {\"head_m\":[\"Ensure that there are no more than 6 digits in total.\"]}");
    ck_assert_str_eq(HEAD("1e-5"),   /* str(1e-05): five places */
                     "ERR {\"head_m\":[\"Ensure that there are no more than 2 decimal places.\"]}");
    ck_assert_str_eq(HEAD("\"-0.01\""), "ERR {\"head_m\":[\"Ensure this value is greater than or equal to 0.\"]}");
    ck_assert_str_eq(HEAD("\"NaN\""), "ERR {\"head_m\":[\"A valid number is required.\"]}");
    ck_assert_str_eq(HEAD("\"-Infinity\""), "ERR {\"head_m\":[\"A valid number is required.\"]}");
    ck_assert_str_eq(HEAD("1e400"), "ERR {\"head_m\":[\"A valid number is required.\"]}");
    ck_assert_str_eq(HEAD("\"\""), "ERR {\"head_m\":[\"A valid number is required.\"]}");
    ck_assert_str_eq(HEAD("true"), "ERR {\"head_m\":[\"A valid number is required.\"]}");
    ck_assert_str_eq(HEAD("\"1e999999999999999999\""),
                     "ERR {\"head_m\":[\"Ensure that there are no more than 6 digits in total.\"]}");
    ck_assert_str_eq(SITE("\"latitude\":\"-90.000000\",\"longitude\":180"),
                     "OK name=S country_id=1 region_id=NULL dataset_id=NULL latitude=-90.000000 longitude=180.000000 "
                     "elevation_m=NULL head_m=NULL storage_capacity_mwh=NULL turbine_capacity_mw=NULL status=identified "
                     "notes= properties={}");
}
END_TEST

START_TEST(test_site_validate)
{
    ck_assert_str_eq(SITE("\"latitude\":\"90.000001\",\"longitude\":\"-180.5\""),
                     "ERR {\"latitude\":[\"La latitude doit \xc3\xaatre comprise entre -90 et 90.\"]}");
    ck_assert_str_eq(SITE("\"longitude\":\"-180.5\""),
                     "ERR {\"longitude\":[\"La longitude doit \xc3\xaatre comprise entre -180 et 180.\"]}");
    /* PATCH: the instance's latitude counts */
    const char *cur[13] = { "S", "1", NULL, NULL, "95.000000" };
    ck_assert_str_eq(run(EA_RES_HYDROSITE, EA_V_PARTIAL, "{\"notes\":\"n\"}", cur, 0),
                     "ERR {\"latitude\":[\"La latitude doit \xc3\xaatre comprise entre -90 et 90.\"]}");
    ck_assert_str_eq(run(EA_RES_HYDROSITE, EA_V_PARTIAL, "{\"latitude\":null}", cur, 0), "OK latitude=NULL");
    /* unique together only when every field is valid */
    ck_assert_str_eq(run(EA_RES_HYDROSITE, EA_V_CREATE, "{\"name\":\"dup\",\"country\":1}", NULL, 0),
                     "ERR {\"non_field_errors\":[\"The fields country, name must make a unique set.\"]}");
    ck_assert_str_eq(run(EA_RES_HYDROSITE, EA_V_CREATE, "{\"name\":\"dup\",\"country\":3}", NULL, 0),
                     "ERR {\"country\":[\"Invalid pk \\\"3\\\" - object does not exist.\"]}");
    ck_assert_str_eq(run(EA_RES_HYDROSITE, EA_V_PARTIAL, "{\"country\":\"dup\"}", cur, 0),
                     "ERR {\"country\":[\"Incorrect type. Expected pk value, received str.\"]}");
    ck_assert_str_eq(run(EA_RES_HYDROSITE, EA_V_PARTIAL, "{\"status\":\"\"}", cur, 0),
                     "ERR {\"status\":[\"\\\"\\\" is not a valid choice.\"]}");
    ck_assert_str_eq(run(EA_RES_HYDROSITE, EA_V_PARTIAL, "{\"status\":[\"x\"]}", cur, 0),
                     "ERR {\"status\":[\"\\\"['x']\\\" is not a valid choice.\"]}");
}
END_TEST

START_TEST(test_fk)
{
#define REGION(v) run(EA_RES_REGION, EA_V_CREATE, "{\"name\":\"R\",\"country\":" v "}", NULL, 0)
    ck_assert_str_eq(REGION("1"), "OK country_id=1 name=R level= boundary=NULL");
    ck_assert_str_eq(REGION("\" 2 \""), "OK country_id=2 name=R level= boundary=NULL");
    ck_assert_str_eq(REGION("1.9"), "OK country_id=1 name=R level= boundary=NULL");   /* int(1.9) */
    ck_assert_str_eq(REGION("99"), "ERR {\"country\":[\"Invalid pk \\\"99\\\" - object does not exist.\"]}");
    ck_assert_str_eq(REGION("99.0"), "ERR {\"country\":[\"Invalid pk \\\"99.0\\\" - object does not exist.\"]}");
    ck_assert_str_eq(REGION("123456789012345678901234"),
                     "ERR {\"country\":[\"Invalid pk \\\"123456789012345678901234\\\" - object does not exist.\"]}");
    ck_assert_str_eq(REGION("true"), "ERR {\"country\":[\"Incorrect type. Expected pk value, received bool.\"]}");
    ck_assert_str_eq(REGION("{}"), "ERR {\"country\":[\"Incorrect type. Expected pk value, received dict.\"]}");
    ck_assert_str_eq(REGION("\"\""), "ERR {\"country\":[\"This field may not be null.\"]}");
    ck_assert_str_eq(REGION("null"), "ERR {\"country\":[\"This field may not be null.\"]}");
    fail_hooks = 1;
    ck_assert_str_eq(REGION("1"), "HOOK FAILED");
}
END_TEST

START_TEST(test_metric)
{
    ck_assert_str_eq(METRIC("\"value\":123.4"), "OK dataset_id=1 country_id=1 region_id=NULL resource_type=solar "
                     "metric=m value=123.4000 unit= year=NULL");
    ck_assert_str_eq(METRIC("\"value\":1,\"unit\":\"\",\"year\":1899"),
                     "ERR {\"unit\":[\"This field may not be blank.\"],"
                     "\"year\":[\"L\xe2\x80\x99" "ann\xc3\xa9" "e doit \xc3\xaatre comprise entre 1900 et 2100.\"]}");
    ck_assert(strstr(METRIC("\"value\":1,\"year\":0"), " year=0"));
    ck_assert_str_eq(METRIC("\"value\":1,\"year\":2147483648"),
                     "ERR {\"year\":[\"Ensure this value is less than or equal to 2147483647.\"]}");
    ck_assert_str_eq(METRIC("\"value\":\"1234567890.12345\""),
                     "ERR {\"value\":[\"Ensure that there are no more than 14 digits in total.\"]}");
    ck_assert_str_eq(METRIC("\"value\":1.23456789012345678"),   /* repr: 1.2345678901234568 */
                     "ERR {\"value\":[\"Ensure that there are no more than 14 digits in total.\"]}");
    ck_assert_str_eq(run(EA_RES_METRIC, EA_V_CREATE, "{}", NULL, 0),
                     "ERR {\"dataset\":[\"This field is required.\"],\"country\":[\"This field is required.\"],"
                     "\"resource_type\":[\"This field is required.\"],\"metric\":[\"This field is required.\"],"
                     "\"value\":[\"This field is required.\"]}");
    /* PUT: absent year (DRF default None) is written as NULL; absent unit kept */
    const char *cur[8] = { "1", "1", NULL, "solar", "m", "1.0000", "kWh", "2020" };
    ck_assert_str_eq(run(EA_RES_METRIC, EA_V_UPDATE, "{\"dataset\":1,\"country\":1,\"resource_type\":\"wind\","
                         "\"metric\":\"m\",\"value\":2}", cur, 0),
                     "OK dataset_id=1 country_id=1 resource_type=wind metric=m value=2.0000 year=NULL");
    ck_assert_str_eq(run(EA_RES_METRIC, EA_V_PARTIAL, "{\"year\":2021}", cur, 0), "OK year=2021");
}
END_TEST

START_TEST(test_forms)
{
    /* HTML input: "" is null for nullable fields, absent for optional ones */
    ck_assert_str_eq(run(EA_RES_METRIC, EA_V_CREATE, "dataset=1&country=1&region=&resource_type=solar&metric=m"
                         "&value=1&unit=&year=", NULL, 1),
                     "OK dataset_id=1 country_id=1 region_id=NULL resource_type=solar metric=m value=1.0000 "
                     "unit= year=NULL");
    ck_assert_str_eq(run(EA_RES_DATASET, EA_V_CREATE, "name=D&dataset_type=&metadata=", NULL, 1),
                     "ERR {\"dataset_type\":[\"\\\"\\\" is not a valid choice.\"],\"metadata\":[\"Value must be valid JSON.\"]}");
    ck_assert_str_eq(run(EA_RES_DATASET, EA_V_CREATE, "name=D&dataset_type=phes&metadata=%7B%22k%22%3A%5B1%2C2%5D%7D&source=",
                         NULL, 1),
                     "OK name=D dataset_type=phes source= description= file_name= file_checksum= metadata={\"k\":[1,2]}");
    ck_assert_str_eq(run(EA_RES_DATASET, EA_V_CREATE, "name=D&dataset_type=phes&metadata=null", NULL, 1),
                     "ERR {\"metadata\":[\"This field may not be null.\"]}");
    ck_assert_str_eq(run(EA_RES_COUNTRY, EA_V_CREATE, "name=&iso2=a&iso3=b&boundary=null", NULL, 1),
                     "ERR {\"name\":[\"This field may not be blank.\"]}");
}
END_TEST

START_TEST(test_shapes)
{
    ck_assert_str_eq(C("[]"), "ERR {\"non_field_errors\":[\"Invalid data. Expected a dictionary, but got list.\"]}");
    ck_assert_str_eq(C("\"x\""), "ERR {\"non_field_errors\":[\"Invalid data. Expected a dictionary, but got str.\"]}");
    ck_assert_str_eq(C("1.5"), "ERR {\"non_field_errors\":[\"Invalid data. Expected a dictionary, but got float.\"]}");
    ck_assert_str_eq(C("null"), "ERR {\"non_field_errors\":[\"No data provided\"]}");
    ck_assert_str_eq(run(EA_RES_CLIMATE, EA_V_CREATE, "{\"variable\":\"v\",\"unit\":\"mm\",\"dataset\":1,\"country\":1,"
                         "\"series\":[{\"a\":\"\\u0000\"}]}", NULL, 0),
                     "ERR {\"series\":[\"Value must be valid JSON.\"]}");
    ck_assert_str_eq(run(EA_RES_CLIMATE, EA_V_CREATE, "{\"variable\":\"dup\",\"unit\":\"mm\",\"dataset\":1,\"country\":1}",
                         NULL, 0),
                     "OK variable=dup unit=mm statistics={} series=[] dataset_id=1 country_id=1 region_id=NULL site_id=NULL");
    /* the unique-set message, mapped from the database's constraint names */
    ck_assert_str_eq(ea_validate_unique_body(pool, &ea_vresources[EA_RES_COUNTRY], "core_country_iso3_key"),
                     "{\"iso3\":[\"country with this iso3 already exists.\"]}");
    ck_assert_str_eq(ea_validate_unique_body(pool, &ea_vresources[EA_RES_DATASET], "core_energydataset_name_b9a1ee2f_uniq"),
                     "{\"name\":[\"energy dataset with this name already exists.\"]}");
    ck_assert_str_eq(ea_validate_unique_body(pool, &ea_vresources[EA_RES_CLIMATE], "unique_climate_series"),
                     "{\"non_field_errors\":[\"The fields dataset, country, region, site, variable must make a unique set.\"]}");
    ck_assert_ptr_null(ea_validate_unique_body(pool, &ea_vresources[EA_RES_COUNTRY], "other"));
}
END_TEST

static Suite *validate_suite(void)
{
    Suite *s = suite_create("validate");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_country);
    tcase_add_test(tc, test_integers);
    tcase_add_test(tc, test_decimals);
    tcase_add_test(tc, test_site_validate);
    tcase_add_test(tc, test_fk);
    tcase_add_test(tc, test_metric);
    tcase_add_test(tc, test_forms);
    tcase_add_test(tc, test_shapes);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    apr_initialize();
    SRunner *sr = srunner_create(validate_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    apr_terminate();
    return failed ? 1 : 0;
}
