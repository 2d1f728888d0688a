/* Unit tests for ea_params (lib/ea_params.c).  Expected values were produced with Python 3.11
 * (urllib.parse, int(), decimal.Decimal) and the Django 5 / DRF 3.16
 * algorithms (QueryDict, smart_split, search_smart_split, replace_query_param). */
#include "ea_params.h"
#include "ea_sql_list.h"
#include "ea_utf8.h"

#include <apr_general.h>
#include <apr_strings.h>
#include <check.h>

#include <limits.h>
#include <stdio.h>
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

/* The parsed query string rendered as "k=v|k=v|" for easy comparison. */
static const char *qs(const char *args)
{
    apr_array_header_t *a = ea_qs_parse(pool, args);
    const ea_param *prm = (const ea_param *)a->elts;
    char *out = "";
    int i;

    for (i = 0; i < a->nelts; i++)
        out = apr_pstrcat(pool, out, prm[i].key, "=", prm[i].val, "|", NULL);
    return out;
}

/* Search terms joined as "[t1][t2]". */
static const char *terms(const char *search)
{
    apr_array_header_t *a = ea_search_terms(pool, search);
    char *out = "";
    int i;

    for (i = 0; i < a->nelts; i++)
        out = apr_pstrcat(pool, out, "[", APR_ARRAY_IDX(a, i, const char *), "]", NULL);
    return out;
}

static const char *page_url(const char *args, long page)
{
    return ea_page_url(pool, "http://testserver/api/countries/",
                       ea_qs_parse(pool, args), page);
}

static int int64(const char *s, long long *v)
{
    *v = 12345;
    return ea_parse_int64(s, v);
}

/* ea_parse_decimal_trunc as text: the value, "overflow" or "invalid". */
static const char *dec(const char *s)
{
    long long v = 0;
    int overflow = -1;
    char text[32];

    if (ea_parse_decimal_trunc(s, &v, &overflow) < 0)
        return "invalid";
    ck_assert(overflow == 0 || overflow == 1);
    if (overflow)
        return "overflow";
    snprintf(text, sizeof text, "%lld", v);
    return apr_pstrdup(pool, text);
}

/* ---- query strings ------------------------------------------------------ */

START_TEST(qs_basic_and_decoding)
{
    ck_assert_str_eq(qs("a=1&b=2"), "a=1|b=2|");
    ck_assert_str_eq(qs("q=a+b%20c"), "q=a b c|");
    ck_assert_str_eq(qs("x=%2B+"), "x=+ |");
    ck_assert_str_eq(qs("%20a%20=%20"), " a = |");
    ck_assert_str_eq(qs("x==y"), "x==y|");
    ck_assert_str_eq(qs("%C3%A9=%E2%82%AC"), "\xc3\xa9=\xe2\x82\xac|");
    ck_assert_str_eq(qs("x=%c3%a9"), "x=\xc3\xa9|");
}
END_TEST

START_TEST(qs_invalid_escapes_kept)
{
    ck_assert_str_eq(qs("x=%41%42%4"), "x=AB%4|");
    ck_assert_str_eq(qs("x=%zz%"), "x=%zz%|");
    ck_assert_str_eq(qs("x=%%41"), "x=%A|");
    ck_assert_str_eq(qs("x=%"), "x=%|");
}
END_TEST

START_TEST(qs_pieces_and_separators)
{
    ck_assert_str_eq(qs("k&k=&=v&&&a=1&a=2"), "k=|k=|=v|a=1|a=2|");
    ck_assert_str_eq(qs("a=1;b=2"), "a=1;b=2|");   /* ';' is not a separator */
    ck_assert_str_eq(qs("&"), "");
    ck_assert_str_eq(qs(""), "");
    ck_assert_int_eq(ea_qs_parse(pool, NULL)->nelts, 0);
}
END_TEST

START_TEST(qs_bad_utf8_replaced)
{
    /* decoded bytes: errors='replace', one U+FFFD per maximal subpart */
    ck_assert_str_eq(qs("x=%FF%C3"), "x=\xef\xbf\xbd\xef\xbf\xbd|");
    ck_assert_str_eq(qs("x=%E2%82x"), "x=\xef\xbf\xbdx|");
    /* raw bytes that are not UTF-8: Django decodes the query as ISO-8859-1 */
    ck_assert_str_eq(qs("x=\xe9"), "x=\xc3\xa9|");
    ck_assert_str_eq(qs("x=caf\xc3\xa9"), "x=caf\xc3\xa9|");
}
END_TEST

START_TEST(qs_get_last_value_wins)
{
    apr_array_header_t *a = ea_qs_parse(pool, "a=1&b=&a=2&c");

    ck_assert_str_eq(ea_qs_get(a, "a"), "2");
    ck_assert_str_eq(ea_qs_get(a, "b"), "");
    ck_assert_str_eq(ea_qs_get(a, "c"), "");
    ck_assert_ptr_null(ea_qs_get(a, "d"));
    ck_assert_ptr_null(ea_qs_get(a, "A"));
}
END_TEST

/* ---- search terms ------------------------------------------------------- */

START_TEST(search_plain_and_commas)
{
    ck_assert_str_eq(terms("foo bar"), "[foo][bar]");
    ck_assert_str_eq(terms("foo,bar"), "[foo][bar]");
    ck_assert_str_eq(terms(" a , b ,, c "), "[a][b][c]");
    ck_assert_str_eq(terms("x\"y"), "[x\"y]");
    ck_assert_str_eq(terms("a\tb\nc"), "[a][b][c]");
}
END_TEST

START_TEST(search_quoted_phrases)
{
    ck_assert_str_eq(terms("\"hello world\" x"), "[hello world][x]");
    ck_assert_str_eq(terms("\"a \\\"quoted\\\" phrase\""), "[a \"quoted\" phrase]");
    ck_assert_str_eq(terms("'it\\'s'"), "[it's]");
    ck_assert_str_eq(terms("\"back\\\\slash\""), "[back\\slash]");
    ck_assert_str_eq(terms("'it''s' y"), "[it''s][y]");
    ck_assert_str_eq(terms(",\"a, b\","), "[a, b]");
    ck_assert_str_eq(terms("\"a 'b\" c"), "[a 'b][c]");
    ck_assert_str_eq(terms("\"a\"b\"c d\""), "[a\"b\"c d]");
}
END_TEST

START_TEST(search_mixed_and_unterminated)
{
    ck_assert_str_eq(terms("a\"b c\"d"), "[a\"b c\"d]");
    ck_assert_str_eq(terms("\"a b\",c"), "[\"a b\"][c]");
    ck_assert_str_eq(terms("\"unterminated phrase"), "[\"unterminated][phrase]");
    ck_assert_str_eq(terms("a\\\"b c\""), "[a\\\"b c\"]");
    /* regex "\\." does not match a newline, so the phrase is not closed */
    ck_assert_str_eq(terms("\"line\\\nbreak\""), "[\"line\\][break\"]");
}
END_TEST

START_TEST(search_unicode_whitespace)
{
    ck_assert_str_eq(terms("caf\xc3\xa9\xc2\xa0" "bar\xe3\x80\x80" "baz"),
                     "[caf\xc3\xa9][bar][baz]");
    ck_assert_str_eq(terms("a\x1c" "b"), "[a][b]");
}
END_TEST

START_TEST(search_empty)
{
    ck_assert_str_eq(terms(""), "");
    ck_assert_str_eq(terms("   "), "");
    ck_assert_str_eq(terms(",,,"), "");
    ck_assert_str_eq(terms("\""), "");
    ck_assert_str_eq(terms("\"\" ''"), "");
    ck_assert_int_eq(ea_search_terms(pool, NULL)->nelts, 0);
}
END_TEST

/* ---- links -------------------------------------------------------------- */

START_TEST(quote_plus_safe_set)
{
    ck_assert_str_eq(ea_quote_plus(pool, "a b"), "a+b");
    ck_assert_str_eq(ea_quote_plus(pool, "caf\xc3\xa9"), "caf%C3%A9");
    ck_assert_str_eq(ea_quote_plus(pool, "a&b=c"), "a%26b%3Dc");
    ck_assert_str_eq(ea_quote_plus(pool, "~._-AZaz09"), "~._-AZaz09");
    ck_assert_str_eq(ea_quote_plus(pool, "/?#+%"), "%2F%3F%23%2B%25");
    ck_assert_str_eq(ea_quote_plus(pool, ""), "");
}
END_TEST

START_TEST(page_url_replace_and_remove)
{
    ck_assert_str_eq(page_url("page_size=10", 2),
                     "http://testserver/api/countries/?page=2&page_size=10");
    ck_assert_str_eq(page_url("page=2&page_size=10", 1),
                     "http://testserver/api/countries/?page=1&page_size=10");
    ck_assert_str_eq(page_url("page=2&page_size=10", 0),
                     "http://testserver/api/countries/?page_size=10");
    ck_assert_str_eq(page_url("page=3", 0), "http://testserver/api/countries/");
    ck_assert_str_eq(page_url("", -1), "http://testserver/api/countries/");
    ck_assert_str_eq(page_url(NULL, 2), "http://testserver/api/countries/?page=2");
    ck_assert_str_eq(page_url("q=a%26b%3Dc&page=1&page=9", 2),
                     "http://testserver/api/countries/?page=2&q=a%26b%3Dc");
}
END_TEST

START_TEST(page_url_sorted_stable_and_encoded)
{
    ck_assert_str_eq(page_url("z=1&a=2&z=0&m=", 2),
                     "http://testserver/api/countries/?a=2&m=&page=2&z=1&z=0");
    ck_assert_str_eq(page_url("b=x&a=1&b=y", 0),
                     "http://testserver/api/countries/?a=1&b=x&b=y");
    ck_assert_str_eq(page_url("search=caf%C3%A9+au+lait&page=2", 3),
                     "http://testserver/api/countries/?page=3&search=caf%C3%A9+au+lait");
    ck_assert_str_eq(page_url("%C3%A9=1&z=2&=e", 1),
                     "http://testserver/api/countries/?=e&page=1&z=2&%C3%A9=1");
    ck_assert_str_eq(page_url("x=%FF", 1),
                     "http://testserver/api/countries/?page=1&x=%EF%BF%BD");
    ck_assert_str_eq(page_url("k", 1), "http://testserver/api/countries/?k=&page=1");
}
END_TEST

/* ---- integers ----------------------------------------------------------- */

START_TEST(int_valid_forms)
{
    long long v;

    ck_assert_int_eq(int64("42", &v), 0);
    ck_assert_int_eq(v, 42);
    ck_assert_int_eq(int64(" \t+7\n ", &v), 0);
    ck_assert_int_eq(v, 7);
    ck_assert_int_eq(int64("-0005", &v), 0);
    ck_assert_int_eq(v, -5);
    ck_assert_int_eq(int64("1_000_000", &v), 0);
    ck_assert_int_eq(v, 1000000);
    ck_assert_int_eq(int64("\xc2\xa0" "5\xe3\x80\x80", &v), 0);  /* NBSP, ideographic space */
    ck_assert_int_eq(v, 5);
    ck_assert_int_eq(int64("\xd9\xa1\xd9\xa2\xd9\xa3", &v), 0);   /* Arabic-Indic 123 */
    ck_assert_int_eq(v, 123);
    ck_assert_int_eq(int64("\xef\xbc\x92", &v), 0);                /* fullwidth 2 */
    ck_assert_int_eq(v, 2);
}
END_TEST

START_TEST(int_invalid_forms)
{
    static const char *bad[] = {
        "", " ", "_1", "1_", "1__0", "+-1", "- 1", "1 2", "1.0", "1e3", "0x10",
        "abc", "\0345", "5\x1f", "+", "1\xff", "\xef\xbc\xa1", "\xc2\x85",
    };
    long long v;
    size_t i;

    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_msg(int64(bad[i], &v) == -1, "accepted #%zu", i);
        ck_assert_int_eq(v, 12345);     /* *out untouched on failure */
    }
}
END_TEST

START_TEST(int_limits_and_overflow)
{
    long long v;
    char *many;

    ck_assert_int_eq(int64("9223372036854775807", &v), 0);
    ck_assert(v == LLONG_MAX);
    ck_assert_int_eq(int64("-9223372036854775808", &v), 0);
    ck_assert(v == LLONG_MIN);
    ck_assert_int_eq(int64("9223372036854775808", &v), -2);
    ck_assert_int_eq(int64("-9223372036854775809", &v), -2);
    ck_assert_int_eq(int64("99999999999999999999999", &v), -2);
    /* Python 3.11 refuses more than 4300 digits outright */
    many = apr_palloc(pool, 4302);
    memset(many, '0', 4300);
    many[4300] = '\0';
    ck_assert_int_eq(int64(many, &v), 0);
    ck_assert_int_eq(v, 0);
    many[4300] = '1';
    many[4301] = '\0';
    ck_assert_int_eq(int64(many, &v), -1);
}
END_TEST

/* ---- decimals ----------------------------------------------------------- */

START_TEST(decimal_truncates_toward_zero)
{
    ck_assert_str_eq(dec("1"), "1");
    ck_assert_str_eq(dec("-2.50"), "-2");
    ck_assert_str_eq(dec("2020.9"), "2020");
    ck_assert_str_eq(dec("1e3"), "1000");
    ck_assert_str_eq(dec(".5"), "0");
    ck_assert_str_eq(dec("5."), "5");
    ck_assert_str_eq(dec("-0"), "0");
    ck_assert_str_eq(dec("  12.7e1  "), "127");
    ck_assert_str_eq(dec("1_0.5"), "10");
    ck_assert_str_eq(dec("_1_"), "1");
    ck_assert_str_eq(dec("\x1c" "7\x1f"), "7");
    ck_assert_str_eq(dec("\xd9\xa1.\xd9\xa5"), "1");
    ck_assert_str_eq(dec("123456e-3"), "123");
    ck_assert_str_eq(dec("1e-999999999999999999"), "0");
    ck_assert_str_eq(dec("0e999999999999999999"), "0");
}
END_TEST

START_TEST(decimal_invalid)
{
    static const char *bad[] = {
        "", "  ", ".", "e5", "1e", "1e+", "+.e1", "1 0", "_ 1", "1,5", "0x10",
        "NaN", "nan", "sNaN", "Infinity", "-inf", "1.2.3", "1e1.5", "abc",
        "1e9999999999999999999", "0e1000000000000000000",
        "1e-1999999999999999998", "10e999999999999999999",
    };
    size_t i;

    for (i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(strcmp(dec(bad[i]), "invalid") == 0, "accepted #%zu %s", i, bad[i]);
}
END_TEST

START_TEST(decimal_overflow)
{
    long long v;
    int overflow;

    ck_assert_str_eq(dec("9223372036854775807.99"), "9223372036854775807");
    ck_assert_str_eq(dec("-9223372036854775808.5"), "-9223372036854775808");
    ck_assert_str_eq(dec("9223372036854775808"), "overflow");
    ck_assert_str_eq(dec("1e19"), "overflow");
    ck_assert_str_eq(dec("1e999999999999999999"), "overflow");
    ck_assert_int_eq(ea_parse_decimal_trunc("-1e30", &v, &overflow), 0);
    ck_assert_int_eq(overflow, 1);
    ck_assert(v == LLONG_MIN);
}
END_TEST

/* ---- the private UTF-8 decoder both modules share ---------------------- */

START_TEST(utf8_decode_subparts)
{
    long cp;

    ck_assert_uint_eq(ea_utf8_decode((const unsigned char *)"\xc3\xa9", 2, &cp), 2);
    ck_assert_int_eq(cp, 0xE9);
    ck_assert_uint_eq(ea_utf8_decode((const unsigned char *)"\xf0\x9f\x98\x80", 4, &cp), 4);
    ck_assert_int_eq(cp, 0x1F600);
    ck_assert_uint_eq(ea_utf8_decode((const unsigned char *)"\xe2\x82x", 3, &cp), 2);
    ck_assert_int_eq(cp, EA_UTF8_BAD);
    ck_assert_uint_eq(ea_utf8_decode((const unsigned char *)"\xed\xa0\x80", 3, &cp), 1);
    ck_assert_int_eq(cp, EA_UTF8_BAD);
    ck_assert_uint_eq(ea_utf8_decode((const unsigned char *)"\xf0\x9f", 2, &cp), 2);
    ck_assert_int_eq(cp, EA_UTF8_BAD);
    ck_assert_int_eq(ea_utf8_valid("caf\xc3\xa9", 5), 1);
    ck_assert_int_eq(ea_utf8_valid("\xc3", 1), 0);
}
END_TEST

START_TEST(sizes)
{
    long long v = -7;
    ck_assert_int_eq(ea_parse_size("0", 100, &v), 0);
    ck_assert_int_eq((int)v, 0);
    ck_assert_int_eq(ea_parse_size("512K", 1LL << 40, &v), 0);
    ck_assert(v == 512 * 1024);
    ck_assert_int_eq(ea_parse_size("64m", 1LL << 40, &v), 0);
    ck_assert(v == 64LL * 1024 * 1024);
    ck_assert_int_eq(ea_parse_size("16G", 16LL << 30, &v), 0);
    ck_assert(v == 16LL << 30);
    ck_assert_int_eq(ea_parse_size("17G", 16LL << 30, &v), -1);
    ck_assert_int_eq(ea_parse_size("16385M", 16LL << 30, &v), -1);
    /* no overflow on the way, whatever the digits */
    ck_assert_int_eq(ea_parse_size("99999999999999999999999G", 16LL << 30, &v), -1);
    ck_assert_int_eq(ea_parse_size("9223372036854775807", 9223372036854775807LL, &v), 0);
    ck_assert_int_eq(ea_parse_size("9223372036854775808", 9223372036854775807LL, &v), -1);
    ck_assert_int_eq(ea_parse_size("8589934592G", 9223372036854775807LL, &v), -1);
    for (const char *const *bad = (const char *const[]){ "", "-1", "+1", " 1", "1 ", "1.5M", "1KB",
                                                         "K", "0x10", "1T", NULL }; *bad; bad++)
        ck_assert_msg(ea_parse_size(*bad, 1LL << 40, &v) == -1, "'%s' accepted", *bad);
}
END_TEST

/* ---- bounds on the work of one request (issue 11) ------------------------ */

static int no_fk(void *ctx, const char *table, long long id)
{
    (void)ctx; (void)table; (void)id;
    return 1;
}

/* ea_listq_build over the hydro sites: its return, and the set in q. */
static int build(const char *args, ea_listq *q)
{
    return ea_listq_build(pool, &ea_resources[EA_RES_HYDROSITE], ea_qs_parse(pool, args), no_fk, NULL, NULL, q);
}

START_TEST(bounds_search_terms)
{
    ea_listq q;
    /* the worst search allowed: 10 terms, 200 characters */
    char *ten = apr_pstrdup(pool, "search=");
    for (int i = 0; i < EA_SEARCH_MAX_TERMS; i++)
        ten = apr_pstrcat(pool, ten, i ? "+" : "", "abcdefghijklmnopq", NULL);
    ck_assert_int_eq(build(ten, &q), 0);
    ck_assert_int_eq(q.params->nelts, EA_SEARCH_MAX_TERMS);
    ck_assert_int_eq(q.shape_varies, 1);
    /* one term more: 400 naming the field */
    ck_assert_int_eq(build(apr_pstrcat(pool, ten, "+x", NULL), &q), 1);
    ck_assert_str_eq(q.errors.data, "{\"search\":[\"Ensure this value has at most 10 search terms (it has 11).\"]}");
    /* commas split terms too */
    ck_assert_int_eq(build("search=a,b,c,d,e,f,g,h,i,j,k,l", &q), 1);
    ck_assert_str_eq(q.errors.data, "{\"search\":[\"Ensure this value has at most 10 search terms (it has 12).\"]}");
    ck_assert_int_eq(q.plan_generic, 0);
    /* whether the text varies with the input (never kept prepared) and
     * whether the statement runs on one generic plan */
    static const struct { const char *args; int varies, generic; } kinds[] = {
        { "status=study", 0, 0 },                    /* no search: kept, planned per values */
        { "search=lake", 0, 1 },                     /* up to EA_SEARCH_GENERIC_TERMS terms alone */
        { "search=lake+ab+gorge", 0, 1 },
        { "search=lake&ordering=-head_m", 0, 1 },    /* ordering adds no condition */
        { "search=lake+ab+gorge+dam", 1, 0 },        /* one term more */
        { "search=lake&status=study", 1, 0 },        /* a filter besides */
    };
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        ck_assert_int_eq(build(kinds[i].args, &q), 0);
        ck_assert_msg(q.shape_varies == kinds[i].varies && q.plan_generic == kinds[i].generic,
                      "%s: shape_varies %d, plan_generic %d", kinds[i].args, q.shape_varies, q.plan_generic);
    }
}
END_TEST

START_TEST(bounds_search_length)
{
    ea_listq q;
    char *v = apr_palloc(pool, 400);
    memset(v, 'a', 200);
    v[200] = '\0';
    ck_assert_int_eq(build(apr_pstrcat(pool, "search=", v, NULL), &q), 0);
    v[200] = 'a';
    v[201] = '\0';
    ck_assert_int_eq(build(apr_pstrcat(pool, "search=", v, NULL), &q), 1);
    ck_assert_str_eq(q.errors.data, "{\"search\":[\"Ensure this value has at most 200 characters (it has 201).\"]}");
    /* characters, not bytes: 200 two-byte characters pass */
    char *e = "";
    for (int i = 0; i < 200; i++)
        e = apr_pstrcat(pool, e, "%C3%A9", NULL);
    ck_assert_int_eq(build(apr_pstrcat(pool, "search=", e, NULL), &q), 0);
}
END_TEST

START_TEST(bounds_ordering)
{
    ea_listq q;
    ck_assert_int_eq(build("ordering=name,-head_m,name,name,-name,bogus,head_m,name", &q), 0);
    /* names given again are dropped: the first one decides */
    ck_assert_str_eq(q.order_by, "t.name, t.head_m DESC, t.id");
    ck_assert_int_eq(build("ordering=name,name,name,name,name,name,name,name,name", &q), 1);
    ck_assert_str_eq(q.errors.data, "{\"ordering\":[\"Ensure this value has at most 8 fields (it has 9).\"]}");
    /* filter errors come first, alone (django-filter runs before the others) */
    ck_assert_int_eq(build("status=nope&ordering=a,a,a,a,a,a,a,a,a,a", &q), 1);
    ck_assert_str_eq(q.errors.data, "{\"status\":[\"Select a valid choice. nope is not one of the available choices.\"]}");
}
END_TEST

static Suite *query_suite(void)
{
    Suite *s = suite_create("ea_query");
    TCase *q = tcase_create("qs"), *st = tcase_create("search"),
          *l = tcase_create("links"), *n = tcase_create("numbers");

    tcase_add_checked_fixture(q, setup, teardown);
    tcase_add_test(q, qs_basic_and_decoding);
    tcase_add_test(q, qs_invalid_escapes_kept);
    tcase_add_test(q, qs_pieces_and_separators);
    tcase_add_test(q, qs_bad_utf8_replaced);
    tcase_add_test(q, qs_get_last_value_wins);
    tcase_add_test(q, utf8_decode_subparts);
    suite_add_tcase(s, q);

    tcase_add_checked_fixture(st, setup, teardown);
    tcase_add_test(st, search_plain_and_commas);
    tcase_add_test(st, search_quoted_phrases);
    tcase_add_test(st, search_mixed_and_unterminated);
    tcase_add_test(st, search_unicode_whitespace);
    tcase_add_test(st, search_empty);
    tcase_add_test(st, bounds_search_terms);
    tcase_add_test(st, bounds_search_length);
    tcase_add_test(st, bounds_ordering);
    suite_add_tcase(s, st);

    tcase_add_checked_fixture(l, setup, teardown);
    tcase_add_test(l, quote_plus_safe_set);
    tcase_add_test(l, page_url_replace_and_remove);
    tcase_add_test(l, page_url_sorted_stable_and_encoded);
    suite_add_tcase(s, l);

    tcase_add_checked_fixture(n, setup, teardown);
    tcase_add_test(n, int_valid_forms);
    tcase_add_test(n, int_invalid_forms);
    tcase_add_test(n, int_limits_and_overflow);
    tcase_add_test(n, decimal_truncates_toward_zero);
    tcase_add_test(n, decimal_invalid);
    tcase_add_test(n, decimal_overflow);
    tcase_add_test(n, sizes);
    suite_add_tcase(s, n);
    return s;
}

int main(void)
{
    SRunner *sr;
    int failed;

    apr_initialize();
    sr = srunner_create(query_suite());
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    apr_terminate();
    return failed == 0 ? 0 : 1;
}
