/* Unit tests for ea_body: JSON parsed as Python's json module (its error
 * messages, checked against CPython 3.11), DRF's parser selection (415,
 * charset), form-urlencoded and multipart bodies. */
#include "ea_body.h"

#include <apr_general.h>
#include <apr_strings.h>
#include <check.h>
#include <json-c/json.h>

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

/* "OK <compact json>" or the parse error. */
static const char *pyjson(const char *s, size_t n)
{
    struct json_object *v;
    const char *err;
    if (ea_body_json(pool, s, n, EA_BODY_MAX_DEPTH, &v, &err) != 0)
        return err;
    const char *r = apr_pstrcat(pool, "OK ", v ? json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE) : "null", NULL);
    json_object_put(v);
    return r;
}

static const struct { const char *in, *want; } py_cases[] = {
#include "body_python_cases.inc"  /* generated with CPython 3.11 json.loads */
};

START_TEST(test_python_messages)
{
    for (size_t i = 0; i < sizeof(py_cases) / sizeof(py_cases[0]); i++) {
        const char *got = pyjson(py_cases[i].in, strlen(py_cases[i].in));
        if (strcmp(py_cases[i].want, "OK") == 0)
            ck_assert_msg(strncmp(got, "OK", 2) == 0, "%s: %s", py_cases[i].in, got);
        else
            ck_assert_str_eq(got, py_cases[i].want);
    }
}
END_TEST

START_TEST(test_values)
{
    ck_assert_str_eq(pyjson("{\"a\": [1, -0, 2.50, 1e3, true, false, null, \"x\"]}", sizeof("{\"a\": [1, -0, 2.50, 1e3, true, false, null, \"x\"]}") - 1),
                     "OK {\"a\":[1,0,2.50,1e3,true,false,null,\"x\"]}");
    /* escapes, surrogate pairs, a lone surrogate kept as 3 bytes */
    ck_assert_str_eq(pyjson("\"\\u00e9\\ud83d\\ude00\\/\\n\"", sizeof("\"\\u00e9\\ud83d\\ude00\\/\\n\"") - 1), "OK \"\xc3\xa9\xf0\x9f\x98\x80/\\n\"");
    struct json_object *v;
    const char *err;
    ck_assert_int_eq(ea_body_json(pool, "\"\\ud800x\"", 9, 8, &v, &err), 0);
    ck_assert_int_eq(json_object_get_string_len(v), 4);
    ck_assert_int_eq(ea_body_has_surrogate(json_object_get_string(v), 4), 0xD800);
    json_object_put(v);
    /* NUL inside strings survives; in keys it can never match a field */
    ck_assert_int_eq(ea_body_json(pool, "{\"na\\u0000me\": \"a\\u0000b\"}", strlen("{\"na\\u0000me\": \"a\\u0000b\"}"), 8, &v, &err), 0);
    ck_assert(!json_object_object_get_ex(v, "na", NULL));
    json_object_object_foreach(v, k, val) {
        ck_assert_str_eq(k, "na\xC0\x80me");
        ck_assert_int_eq(json_object_get_string_len(val), 3);
    }
    json_object_put(v);
    /* duplicate keys: the last wins */
    ck_assert_str_eq(pyjson("{\"a\":1,\"a\":2}", sizeof("{\"a\":1,\"a\":2}") - 1), "OK {\"a\":2}");
}
END_TEST

START_TEST(test_numbers)
{
    struct json_object *v;
    const char *err;
    /* beyond int64: kept as digits */
    ck_assert_int_eq(ea_body_json(pool, "123456789012345678901234567890", 30, 8, &v, &err), 0);
    ck_assert(ea_body_bigint(v));
    ck_assert_str_eq(json_object_get_string(v), "123456789012345678901234567890");
    json_object_put(v);
    ck_assert_int_eq(ea_body_json(pool, "-9223372036854775808", 20, 8, &v, &err), 0);
    ck_assert(json_object_is_type(v, json_type_int));
    ck_assert(json_object_get_int64(v) == INT64_MIN);
    json_object_put(v);
    ck_assert_int_eq(ea_body_json(pool, "1e400", 5, 8, &v, &err), 0);   /* inf, as Python */
    ck_assert(!ea_body_bigint(v));
    json_object_put(v);
    ck_assert_str_eq(pyjson("NaN", sizeof("NaN") - 1), "Out of range float values are not allowed in JSON: 'NaN'");
    ck_assert_str_eq(pyjson("[Infinity]", sizeof("[Infinity]") - 1), "Out of range float values are not allowed in JSON: 'Infinity'");
    ck_assert_str_eq(pyjson("{\"a\":-Infinity}", sizeof("{\"a\":-Infinity}") - 1),
                     "Out of range float values are not allowed in JSON: '-Infinity'");
    char *big = apr_palloc(pool, 4302);
    memset(big, '7', 4301);
    big[4301] = 0;
    ck_assert_str_eq(pyjson(big, 4301), "Exceeds the limit (4300 digits) for integer string conversion: "
                     "value has 4301 digits; use sys.set_int_max_str_digits() to increase the limit");
    ck_assert_str_eq(pyjson(big, 4300), apr_pstrcat(pool, "OK ", apr_pstrndup(pool, big, 4300), NULL));
}
END_TEST

START_TEST(test_depth)
{
    char *deep = apr_palloc(pool, 2000);
    for (int i = 0; i < 512; i++)
        deep[i] = '[';
    for (int i = 0; i < 512; i++)
        deep[512 + i] = ']';
    ck_assert_str_eq(pyjson(deep, 1024) + 0, apr_pstrcat(pool, "OK ", apr_pstrndup(pool, deep, 1024), NULL));
    memmove(deep + 1, deep, 1024);
    deep[0] = '[';
    deep[1025] = ']';
    ck_assert_str_eq(pyjson(deep, 1026), "Maximum nesting depth of 512 exceeded: line 1 column 513 (char 512)");
    /* a hundred thousand levels: refused, no stack overflow */
    size_t n = 200000;
    char *huge = apr_palloc(pool, n);
    memset(huge, '[', n);
    ck_assert_str_eq(pyjson(huge, n), "Maximum nesting depth of 512 exceeded: line 1 column 513 (char 512)");
}
END_TEST

START_TEST(test_utf8_errors)
{
    ck_assert_ptr_null(ea_body_utf8_error(pool, "h\xc3\xa9", 3));
    ck_assert_str_eq(ea_body_utf8_error(pool, "\xff", 1),
                     "'utf-8' codec can't decode byte 0xff in position 0: invalid start byte");
    ck_assert_str_eq(ea_body_utf8_error(pool, "{\"a\":\"\xc3\"}", 9),
                     "'utf-8' codec can't decode byte 0xc3 in position 6: invalid continuation byte");
    ck_assert_str_eq(ea_body_utf8_error(pool, "{\"a\":\"\xc3", 7),
                     "'utf-8' codec can't decode byte 0xc3 in position 6: unexpected end of data");
    ck_assert_str_eq(ea_body_utf8_error(pool, "\xe2\x82\x41", 3),
                     "'utf-8' codec can't decode bytes in position 0-1: invalid continuation byte");
    ck_assert_str_eq(ea_body_utf8_error(pool, "\xe2\x82", 2),
                     "'utf-8' codec can't decode bytes in position 0-1: unexpected end of data");
    ck_assert_str_eq(ea_body_utf8_error(pool, "ab\xed\xa0\x80", 5),
                     "'utf-8' codec can't decode byte 0xed in position 2: invalid continuation byte");
}
END_TEST

/* status + detail, or status + compact data */
static const char *parse(const char *ct, const char *body, size_t n)
{
    ea_body b;
    int rc = ea_body_parse(pool, ct, body, n, &b);
    if (rc)
        return apr_psprintf(pool, "%d %s", rc, b.detail);
    return apr_psprintf(pool, "%s %s", b.is_form ? "form" : "json",
                        b.data ? json_object_to_json_string_ext(b.data, JSON_C_TO_STRING_PLAIN) : "null");
}

#define P(ct, s) parse(ct, s, sizeof(s) - 1)

START_TEST(test_content_types)
{
    ck_assert_str_eq(P("application/json", "{\"a\":1}"), "json {\"a\":1}");
    ck_assert_str_eq(P("Application/JSON ; charset=UTF-8", "[1]"), "json [1]");
    ck_assert_str_eq(P("application/json; charset=\"utf8\"", "null"), "json null");
    ck_assert_str_eq(P("application/json", ""), "json {}");
    ck_assert_str_eq(P(NULL, ""), "json {}");
    ck_assert_str_eq(P("text/plain", ""), "json {}");
    ck_assert_str_eq(P("application/x-www-form-urlencoded", ""), "form {}");
    ck_assert_str_eq(P("text/plain; charset=utf-8", "x"), "415 Unsupported media type \"text/plain\" in request.");
    ck_assert_str_eq(P(NULL, "x"), "415 Unsupported media type \"\" in request.");
    ck_assert_str_eq(P("application/vnd.api+json", "{}"),
                     "415 Unsupported media type \"application/vnd.api+json\" in request.");
    ck_assert_str_eq(P("application/json; charset=latin-1", "{}"),
                     "415 Unsupported charset \"latin-1\" in request: only UTF-8 is accepted.");
    ck_assert_str_eq(P("*/*", "{}"), "json {}");   /* DRF picks its first parser */
    ck_assert_str_eq(P("application/json", "{"),
                     "400 JSON parse error - Expecting property name enclosed in double quotes: "
                     "line 1 column 2 (char 1)");
    ck_assert_str_eq(P("application/json", "{\"a\":\"\xff\"}"),
                     "400 JSON parse error - 'utf-8' codec can't decode byte 0xff in position 6: "
                     "invalid start byte");
    ck_assert_str_eq(P("application/json", "\xef\xbb\xbf{}"),
                     "400 JSON parse error - Unexpected UTF-8 BOM (decode using utf-8-sig): "
                     "line 1 column 1 (char 0)");
}
END_TEST

START_TEST(test_form)
{
    ck_assert_str_eq(P("application/x-www-form-urlencoded", "name=A+b&iso2=%C3%A9&name=Last&x"),
                     "form {\"name\":\"Last\",\"iso2\":\"\xc3\xa9\",\"x\":\"\"}");
    ck_assert_str_eq(P("application/x-www-form-urlencoded; charset=utf-8", "a=%ff"),
                     "form {\"a\":\"\xef\xbf\xbd\"}");
    ck_assert_str_eq(P("application/x-www-form-urlencoded", "a=b%00c"),
                     "400 Null characters are not allowed.");
}
END_TEST

START_TEST(test_multipart)
{
    const char body[] =
        "preamble\r\n"
        "--XyZ\r\n"
        "Content-Disposition: form-data; name=\"name\"\r\n\r\n"
        "Benin\r\n"
        "--XyZ\r\n"
        "content-disposition: form-data; name=\"notes\"\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\n"
        "line 1\r\nline 2 --XyZ not a delimiter\r\n"
        "--XyZ\r\n"
        "Content-Disposition: form-data; name=\"file\"; filename=\"a \\\"b\\\".csv\"\r\n"
        "Content-Type: text/csv\r\n\r\n"
        "x,y\r\n1,2\r\n"
        "--XyZ\r\n"
        "Content-Disposition: form-data; name=\"name\"\r\n\r\n"
        "Togo\r\n"
        "--XyZ--\r\n"
        "epilogue";
    ea_body b;
    ck_assert_int_eq(ea_body_parse(pool, "multipart/form-data; boundary=\"XyZ\"", body, sizeof(body) - 1, &b), 0);
    ck_assert(b.is_form);
    ck_assert_str_eq(json_object_to_json_string_ext(b.data, JSON_C_TO_STRING_PLAIN),
                     "{\"name\":\"Togo\",\"notes\":\"line 1\\r\\nline 2 --XyZ not a delimiter\"}");
    ck_assert_int_eq(b.files->nelts, 1);
    ea_body_file *f = &APR_ARRAY_IDX(b.files, 0, ea_body_file);
    ck_assert_str_eq(f->name, "file");
    ck_assert_str_eq(f->filename, "a \"b\".csv");
    ck_assert_str_eq(f->content_type, "text/csv");
    ck_assert_int_eq(f->len, 8);
    ck_assert(memcmp(f->data, "x,y\r\n1,2", 8) == 0);

    /* LF-only line ends, an empty value, a part without a name */
    ck_assert_str_eq(P("multipart/form-data; boundary=b",
                       "--b\nContent-Disposition: form-data; name=a\n\n\n--b\n"
                       "Content-Disposition: form-data\n\nzzz\n--b--"),
                     "form {\"a\":\"\"}");
    ck_assert_str_eq(P("multipart/form-data", "--b\r\n"),
                     "400 Multipart form parse error - Invalid boundary in multipart: None");
    ck_assert_str_eq(P("multipart/form-data; boundary=b", "no delimiter at all"),
                     "400 Multipart form parse error - no boundary found in the body.");
    ck_assert_str_eq(P("multipart/form-data; boundary=b",
                       "--b\r\nContent-Disposition: form-data; name=a\r\n\r\nunterminated"),
                     "400 Multipart form parse error - unexpected end of the body.");
    ck_assert_str_eq(P("multipart/form-data; boundary=b",
                       "--b\r\nContent-Disposition: form-data; name=a"),
                     "400 Multipart form parse error - unexpected end of the body.");
    ck_assert_str_eq(P("multipart/form-data; boundary=b", "--bX\r\n"),
                     "400 Multipart form parse error - malformed part delimiter.");
    /* an empty filename is no file (as Django) */
    ck_assert_str_eq(P("multipart/form-data; boundary=b",
                       "--b\r\nContent-Disposition: form-data; name=f; filename=\"\"\r\n\r\n\r\n--b--"),
                     "form {}");
    ck_assert_str_eq(P("multipart/form-data; boundary=b",
                       "--b\r\nContent-Disposition: form-data; name=a\r\n\r\nx\xffy\r\n--b--"),
                     "form {\"a\":\"x\xef\xbf\xbdy\"}");
}
END_TEST

static Suite *body_suite(void)
{
    Suite *s = suite_create("body");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_python_messages);
    tcase_add_test(tc, test_values);
    tcase_add_test(tc, test_numbers);
    tcase_add_test(tc, test_depth);
    tcase_add_test(tc, test_utf8_errors);
    tcase_add_test(tc, test_content_types);
    tcase_add_test(tc, test_form);
    tcase_add_test(tc, test_multipart);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    apr_initialize();
    SRunner *sr = srunner_create(body_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    apr_terminate();
    return failed ? 1 : 0;
}
