/* Unit tests for ea_buf and ea_json.  Expected strings come from Python
 * 3.11 (json.dumps, repr(float)), the reference for DRF's output. */
#include "ea_buf.h"
#include "ea_json.h"

#include <apr_general.h>
#include <apr_strings.h>
#include <check.h>

#include <math.h>
#include <stdint.h>
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

static ea_buf *new_buf(size_t initial)
{
    ea_buf *b = apr_palloc(pool, sizeof *b);
    ea_buf_init(b, pool, initial);
    return b;
}

/* ea_json_str of n bytes, as a C string. */
static const char *jstr(const char *s, size_t n)
{
    ea_buf *b = new_buf(0);
    ea_json_str(b, s, n);
    return b->data;
}

static const char *pyfloat(double v)
{
    char *out = apr_palloc(pool, 32);
    int n = ea_fmt_pyfloat(out, 32, v);
    ck_assert_int_eq(n, (int)strlen(out));
    return out;
}

static double from_bits(uint64_t u)
{
    double d;
    memcpy(&d, &u, sizeof d);
    return d;
}

/* ea_json_compact of a C string; NULL when it refuses the input. */
static const char *compact(const char *in)
{
    ea_buf *b = new_buf(16);
    return ea_json_compact(b, in, strlen(in)) == 0 ? b->data : NULL;
}

static const char *indent(const char *in, int n)
{
    ea_buf *b = new_buf(16);
    return ea_json_indent(b, in, strlen(in), n) == 0 ? b->data : NULL;
}

/* "[[[...]]]" nested depth times. */
static const char *nested(int depth)
{
    char *s = apr_palloc(pool, (size_t)depth * 2 + 1);
    memset(s, '[', (size_t)depth);
    memset(s + depth, ']', (size_t)depth);
    s[depth * 2] = '\0';
    return s;
}

/* ---- ea_buf ------------------------------------------------------------- */

START_TEST(buf_grows_by_doubling_and_keeps_content)
{
    ea_buf *b = new_buf(1);
    size_t i, cap0 = b->cap;

    ck_assert_uint_eq(b->len, 0);
    ck_assert_str_eq(b->data, "");
    for (i = 0; i < 5000; i++)
        ea_buf_put(b, "0123456789", 10);
    ck_assert_uint_eq(b->len, 50000);
    ck_assert_int_eq(b->data[b->len], '\0');
    ck_assert_int_eq(memcmp(b->data + 49990, "0123456789", 10), 0);
    ck_assert_uint_ge(b->cap, b->len + 1);
    /* capacity only ever doubles */
    ck_assert_uint_eq(b->cap % cap0, 0);
    ck_assert_uint_eq((b->cap / cap0) & (b->cap / cap0 - 1), 0);
}
END_TEST

START_TEST(buf_putc_puts_printf)
{
    ea_buf *b = new_buf(0);
    char big[300];

    ea_buf_putc(b, 'x');
    ea_buf_puts(b, "yz");
    ea_buf_printf(b, "-%d-%s", 42, "ok");
    ck_assert_str_eq(b->data, "xyz-42-ok");
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    ea_buf_printf(b, "[%s]", big);          /* longer than the free room */
    ck_assert_uint_eq(b->len, 9 + 301);
    ck_assert_int_eq(b->data[9], '[');
    ck_assert_int_eq(b->data[b->len - 1], ']');
    ck_assert_int_eq(b->data[b->len], '\0');
}
END_TEST

START_TEST(hex_digits)
{
    char out[9];
    const unsigned char in[4] = { 0x00, 0x9f, 0xa0, 0xff };
    ea_hex(out, in, 4);
    ck_assert_str_eq(out, "009fa0ff");
    ea_hex(out, in, 0);
    ck_assert_str_eq(out, "");
}
END_TEST

START_TEST(buf_reserve_commit_reset)
{
    ea_buf *b = new_buf(4);
    char *w;

    ea_buf_puts(b, "ab");
    w = ea_buf_reserve(b, 1000);
    ck_assert_ptr_eq(w, b->data + 2);
    memcpy(w, "cde", 3);
    ea_buf_commit(b, 3);
    ck_assert_str_eq(b->data, "abcde");
    ck_assert_uint_ge(b->cap, 1003);
    ea_buf_reset(b);
    ck_assert_uint_eq(b->len, 0);
    ck_assert_str_eq(b->data, "");
    ea_buf_put(b, "q", 0);
    ck_assert_str_eq(b->data, "");
}
END_TEST

/* ---- strings ------------------------------------------------------------ */

START_TEST(str_escapes_controls_quotes_backslash)
{
    ck_assert_str_eq(jstr("a\"b\\c", 5), "\"a\\\"b\\\\c\"");
    ck_assert_str_eq(jstr("\b\f\n\r\t", 5), "\"\\b\\f\\n\\r\\t\"");
    ck_assert_str_eq(jstr("\x00\x01\x1f", 3), "\"\\u0000\\u0001\\u001f\"");
    ck_assert_str_eq(jstr("\x1b[0m", 4), "\"\\u001b[0m\"");
    /* json.dumps leaves '/', DEL and printable ASCII alone */
    ck_assert_str_eq(jstr("a/b\x7f~", 5), "\"a/b\x7f~\"");
    ck_assert_str_eq(jstr("", 0), "\"\"");
}
END_TEST

START_TEST(str_keeps_unicode_but_escapes_line_separators)
{
    ck_assert_str_eq(jstr("caf\xc3\xa9 \xf0\x9f\x98\x80", 10),
                     "\"caf\xc3\xa9 \xf0\x9f\x98\x80\"");
    ck_assert_str_eq(jstr("a\xe2\x80\xa8" "b\xe2\x80\xa9" "c", 9),
                     "\"a\\u2028b\\u2029c\"");
    /* U+2027 and U+202A are neighbours that stay raw */
    ck_assert_str_eq(jstr("\xe2\x80\xa7\xe2\x80\xaa", 6), "\"\xe2\x80\xa7\xe2\x80\xaa\"");
}
END_TEST

START_TEST(str_replaces_invalid_utf8_like_python)
{
    /* bytes.decode('utf-8', 'replace'): one U+FFFD per maximal subpart */
    ck_assert_str_eq(jstr("a\xff" "b", 3), "\"a\xef\xbf\xbd" "b\"");
    ck_assert_str_eq(jstr("\xe2\x82x", 3), "\"\xef\xbf\xbdx\"");
    ck_assert_str_eq(jstr("\xed\xa0\x80", 3),
                     "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"");
    ck_assert_str_eq(jstr("\xc0\xaf", 2), "\"\xef\xbf\xbd\xef\xbf\xbd\"");
    ck_assert_str_eq(jstr("\xf0\x9f\x98", 3), "\"\xef\xbf\xbd\"");
    ck_assert_str_eq(jstr("\xf4\x90\x80\x80", 4),
                     "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"");
}
END_TEST

/* Plain text is skipped eight bytes at a time: every byte that ends a run
 * (quote, backslash, controls, NUL, a multi-byte character, U+2028, an
 * invalid byte) is found at every position of a word and across words, in
 * a string of every length around them, by ea_json_str and, inside a JSON
 * document, by ea_json_compact. */
START_TEST(str_special_at_every_offset)
{
    static const struct { const char *in; size_t n; const char *out; } sp[] = {
        { "\"", 1, "\\\"" }, { "\\", 1, "\\\\" }, { "\n", 1, "\\n" },
        { "\x1f", 1, "\\u001f" }, { "\0", 1, "\\u0000" }, { "\x7f", 1, "\x7f" },
        { "\xc3\xa9", 2, "\xc3\xa9" }, { "\xe2\x80\xa8", 3, "\\u2028" },
        { "\xff", 1, "\xef\xbf\xbd" },
    };
    char in[64], want[96];

    for (size_t k = 0; k < sizeof sp / sizeof sp[0]; k++)
        for (size_t before = 0; before <= 17; before++)
            for (size_t after = 0; after <= 9; after += 3) {
                size_t n = 0, w = 0;
                want[w++] = '"';
                for (size_t i = 0; i < before; i++)
                    in[n++] = want[w++] = (char)('a' + i % 26);
                memcpy(in + n, sp[k].in, sp[k].n);
                n += sp[k].n;
                memcpy(want + w, sp[k].out, strlen(sp[k].out));
                w += strlen(sp[k].out);
                for (size_t i = 0; i < after; i++)
                    in[n++] = want[w++] = (char)('A' + i);
                want[w++] = '"';
                want[w] = '\0';
                ck_assert_str_eq(jstr(in, n), want);
                /* the same text as a JSON document: what ea_json_str wrote
                 * (raw \x7f, UTF-8 and \u escapes) compacts to itself */
                ck_assert_str_eq(compact(want), want);
            }
}
END_TEST

START_TEST(cstr_null_and_text)
{
    ea_buf *b = new_buf(0);

    ea_json_cstr(b, NULL);
    ea_buf_putc(b, ',');
    ea_json_cstr(b, "x\ny");
    ck_assert_str_eq(b->data, "null,\"x\\ny\"");
}
END_TEST

/* ---- floats ------------------------------------------------------------- */

START_TEST(pyfloat_common_values)
{
    ck_assert_str_eq(pyfloat(0.0), "0.0");
    ck_assert_str_eq(pyfloat(-0.0), "-0.0");
    ck_assert_str_eq(pyfloat(50.0), "50.0");
    ck_assert_str_eq(pyfloat(346.8), "346.8");
    ck_assert_str_eq(pyfloat(123.4), "123.4");
    ck_assert_str_eq(pyfloat(0.5), "0.5");
    ck_assert_str_eq(pyfloat(100.0), "100.0");
    ck_assert_str_eq(pyfloat(0.1 + 0.2), "0.30000000000000004");
    ck_assert_str_eq(pyfloat(123456.789), "123456.789");
    ck_assert_str_eq(pyfloat(-1.5e-10), "-1.5e-10");
}
END_TEST

START_TEST(pyfloat_fixed_scientific_boundaries)
{
    ck_assert_str_eq(pyfloat(1e16), "1e+16");
    ck_assert_str_eq(pyfloat(1e15), "1000000000000000.0");
    ck_assert_str_eq(pyfloat(9999999999999998.0), "9999999999999998.0");
    ck_assert_str_eq(pyfloat(0.0001), "0.0001");
    ck_assert_str_eq(pyfloat(9.999999999999999e-05), "9.999999999999999e-05");
    ck_assert_str_eq(pyfloat(1e-5), "1e-05");
    ck_assert_str_eq(pyfloat(0.001), "0.001");
    ck_assert_str_eq(pyfloat(1e22), "1e+22");
    ck_assert_str_eq(pyfloat(1e100), "1e+100");
    ck_assert_str_eq(pyfloat(1.2345678901234568e+17), "1.2345678901234568e+17");
    ck_assert_str_eq(pyfloat(1.23e-18), "1.23e-18");
}
END_TEST

START_TEST(pyfloat_extremes_and_rounding)
{
    /* 2^53 + 1 is not a double: it reads as 2^53 */
    ck_assert_str_eq(pyfloat(9007199254740993.0), "9007199254740992.0");
    ck_assert_str_eq(pyfloat(from_bits(1)), "5e-324");
    ck_assert_str_eq(pyfloat(from_bits(0x7fefffffffffffffULL)), "1.7976931348623157e+308");
    ck_assert_str_eq(pyfloat(-from_bits(0x7fefffffffffffffULL)), "-1.7976931348623157e+308");
    ck_assert_str_eq(pyfloat(from_bits(0x000fffffffffffffULL)), "2.225073858507201e-308");
    /* a power of two whose nearest 16-digit decimal misses the lopsided
     * round-trip interval; Python still prints 16 digits */
    ck_assert_str_eq(pyfloat(from_bits(0x60000000000000ULL)), "7.120236347223045e-307");
}
END_TEST

START_TEST(pyfloat_nan_inf_become_zero)
{
    ck_assert_str_eq(pyfloat(NAN), "0.0");
    ck_assert_str_eq(pyfloat(INFINITY), "0.0");
    ck_assert_str_eq(pyfloat(-INFINITY), "0.0");
}
END_TEST

START_TEST(pyfloat_truncates_to_outlen)
{
    char small[5];
    int n = ea_fmt_pyfloat(small, sizeof small, 346.8);

    ck_assert_int_eq(n, 5);             /* snprintf-style: the full length */
    ck_assert_str_eq(small, "346.");
}
END_TEST

START_TEST(numeric_as_float_values)
{
    ea_buf *b = new_buf(0);

    ea_json_numeric_as_float(b, "346.8000");
    ea_buf_putc(b, ' ');
    ea_json_numeric_as_float(b, "100.00");
    ea_buf_putc(b, ' ');
    ea_json_numeric_as_float(b, "-0.5");
    ea_buf_putc(b, ' ');
    ea_json_numeric_as_float(b, "0.00001");
    ea_buf_putc(b, ' ');
    ea_json_numeric_as_float(b, "12345678901234567890.123");
    ea_buf_putc(b, ' ');
    ea_json_numeric_as_float(b, NULL);
    ea_buf_putc(b, ' ');
    ea_json_numeric_as_float(b, "");
    ea_buf_putc(b, ' ');
    ea_json_numeric_as_float(b, "NaN");
    ck_assert_str_eq(b->data, "346.8 100.0 -0.5 1e-05 1.2345678901234567e+19 0.0 0.0 0.0");
}
END_TEST

/* ---- datetimes ---------------------------------------------------------- */

START_TEST(datetime_forms)
{
    ea_buf *b = new_buf(0);

    ea_json_datetime(b, "2025-12-03T16:00:41.123456");
    ea_buf_putc(b, ',');
    ea_json_datetime(b, "2025-01-01T00:00:00.000000");
    ea_buf_putc(b, ',');
    ea_json_datetime(b, "2025-12-03T16:00:41.120000");
    ea_buf_putc(b, ',');
    ea_json_datetime(b, "2025-12-03T16:00:41.000001");
    ea_buf_putc(b, ',');
    ea_json_datetime(b, "2025-12-03T16:00:41");
    ea_buf_putc(b, ',');
    ea_json_datetime(b, NULL);
    ck_assert_str_eq(b->data,
                     "\"2025-12-03T16:00:41.123456Z\",\"2025-01-01T00:00:00Z\","
                     "\"2025-12-03T16:00:41.120000Z\",\"2025-12-03T16:00:41.000001Z\","
                     "\"2025-12-03T16:00:41Z\",null");
    /* PostgreSQL's own output in a UTC session */
    ea_buf_reset(b);
    ea_json_datetime(b, "2025-12-03 16:00:41.12+00");
    ea_buf_putc(b, ',');
    ea_json_datetime(b, "2025-01-01 00:00:00+00");
    ea_buf_putc(b, ',');
    ea_json_datetime(b, "2025-12-03 16:00:41.000001+00");
    ea_buf_putc(b, ',');
    ea_json_datetime(b, "infinity");
    ea_buf_putc(b, ',');
    ea_json_datetime(b, "0044-03-15 12:00:00+00 BC");
    ck_assert_str_eq(b->data,
                     "\"2025-12-03T16:00:41.120000Z\",\"2025-01-01T00:00:00Z\","
                     "\"2025-12-03T16:00:41.000001Z\",\"infinity\","
                     "\"0044-03-15T12:00:00Z\"");
    /* found by fuzz_json: every digit position is checked, else the text
     * went out unescaped inside the quotes (invalid JSON) */
    ea_buf_reset(b);
    ea_json_datetime(b, "6724-04-0, 04:\"[:04");
    ea_buf_putc(b, ',');
    ea_json_datetime(b, "2025-1x-03 16:00:41");
    ea_buf_putc(b, ',');
    ea_json_datetime(b, "2025-12-03 16:0\\:41");
    ck_assert_str_eq(b->data, "\"6724-04-0, 04:\\\"[:04\",\"2025-1x-03 16:00:41\","
                     "\"2025-12-03 16:0\\\\:41\"");
}
END_TEST

/* ---- compact ------------------------------------------------------------ */

START_TEST(compact_pg_jsonb_output)
{
    ck_assert_str_eq(compact("{\"a\": 1, \"b\": [1.50, \"x\\ny\"]}"),
                     "{\"a\":1,\"b\":[1.5,\"x\\ny\"]}");
    ck_assert_str_eq(compact(" \t\r\n[ ]\n"), "[]");
    ck_assert_str_eq(compact("{ }"), "{}");
    ck_assert_str_eq(compact("{\"k\" : {\"n\" : null , \"t\" : true , \"f\" : false}}"),
                     "{\"k\":{\"n\":null,\"t\":true,\"f\":false}}");
    ck_assert_str_eq(compact("\"top\""), "\"top\"");
    ck_assert_str_eq(compact("7"), "7");
}
END_TEST

START_TEST(compact_numbers_like_python)
{
    ck_assert_str_eq(compact("[1e2, 1E2, 2.5e-7, 0.0000001, 100.000, -0.0, 0.10]"),
                     "[100.0,100.0,2.5e-07,1e-07,100.0,-0.0,0.1]");
    /* integers are Python ints: any size, copied; "-0" reads as 0 */
    ck_assert_str_eq(compact("[123456789012345678901234567890, -5, 0, -0]"),
                     "[123456789012345678901234567890,-5,0,0]");
    ck_assert_str_eq(compact("[12345678901234567.0]"), "[1.2345678901234568e+16]");
    /* float('1e400') is inf, which ea_fmt_pyfloat writes as 0.0 */
    ck_assert_str_eq(compact("1e400"), "0.0");
    /* plain decimals of up to 15 digits are Python's repr as they are
     * (json.dumps(json.loads(s)) gave the expected texts); the others are not */
    ck_assert_str_eq(compact("{\"a\": 313.7, \"b\": 0.0001, \"c\": 0.00001, \"d\": 183.20, "
                             "\"e\": 1234567890.12345, \"f\": 12345678901234567.5, \"g\": -0.5, "
                             "\"h\": 0.1234567890123456, \"i\": 123456789012345.6, "
                             "\"j\": 0.000123456789012345, \"k\": 9.0, \"l\": 1.5e3, \"m\": 0.3}"),
                     "{\"a\":313.7,\"b\":0.0001,\"c\":1e-05,\"d\":183.2,\"e\":1234567890.12345,"
                     "\"f\":1.2345678901234568e+16,\"g\":-0.5,\"h\":0.1234567890123456,"
                     "\"i\":123456789012345.6,\"j\":0.000123456789012345,\"k\":9.0,\"l\":1500.0,\"m\":0.3}");
}
END_TEST

START_TEST(compact_string_escapes_reencoded)
{
    ck_assert_str_eq(compact("\"\\u00e9\""), "\"\xc3\xa9\"");
    ck_assert_str_eq(compact("\"\\u00E9\\u0041\""), "\"\xc3\xa9" "A\"");
    ck_assert_str_eq(compact("\"\\u2028\\u2029\""), "\"\\u2028\\u2029\"");
    ck_assert_str_eq(compact("\"\xe2\x80\xa8\""), "\"\\u2028\"");
    ck_assert_str_eq(compact("\"\\u0001\\u001F\\u0000\""), "\"\\u0001\\u001f\\u0000\"");
    ck_assert_str_eq(compact("\"\\/\\b\\f\\n\\r\\t\\\"\\\\\""), "\"/\\b\\f\\n\\r\\t\\\"\\\\\"");
    ck_assert_str_eq(compact("\"\\u0022\\u005c\""), "\"\\\"\\\\\"");
    /* surrogate pair to UTF-8; lone surrogates pass through as written */
    ck_assert_str_eq(compact("\"\\ud83d\\ude00\""), "\"\xf0\x9f\x98\x80\"");
    ck_assert_str_eq(compact("\"\\uD83D\\uDE00\""), "\"\xf0\x9f\x98\x80\"");
    ck_assert_str_eq(compact("\"\\ud800x\""), "\"\\ud800x\"");
    ck_assert_str_eq(compact("\"\\uDC00\\ud800\\u0041\""), "\"\\uDC00\\ud800A\"");
    ck_assert_str_eq(compact("\"caf\xc3\xa9\""), "\"caf\xc3\xa9\"");
}
END_TEST

/* Decimals copied without a trip through a double (trailing zeros of the
 * fraction dropped) read as the same float that ea_fmt_pyfloat prints:
 * texts of 1 to 18 digits, the point anywhere, up to 4 trailing zeros,
 * leading zeros after the point, signs, compared with the printed form. */
START_TEST(compact_copied_decimals_equal_printed_floats)
{
    unsigned long long seed = 88172645463325252ULL;
    char text[64], doc[64], num[32];

    ck_assert_str_eq(compact("[262.70, 12.000, 0.00, -0.000, 10.0, 1.10, 0.00010, 0.000010]"),
                     "[262.7,12.0,0.0,-0.0,10.0,1.1,0.0001,1e-05]");
    ck_assert_str_eq(compact("[123456789012345.0, 1234567890123456.0, 999999999999999.00]"),
                     "[123456789012345.0,1234567890123456.0,999999999999999.0]");
    for (int k = 0; k < 200000; k++) {
        size_t n = 0;
        seed ^= seed << 13; seed ^= seed >> 7; seed ^= seed << 17;
        int digits = 1 + (int)(seed % 18), point = (int)((seed >> 8) % (unsigned)digits),
            zeros = (int)((seed >> 16) % 5), lead = (int)((seed >> 20) % 6);
        if (seed >> 63)
            text[n++] = '-';
        if (point == 0) {
            text[n++] = '0';
            text[n++] = '.';
            for (int i = 0; i < lead; i++)
                text[n++] = '0';
        }
        for (int i = 0; i < digits; i++) {
            int d = (int)((seed >> (24 + i * 2)) % 10);
            text[n++] = (char)('0' + ((i == 0 && point > 0 && d == 0) ? 7 : d));
            if (point > 0 && i + 1 == point)
                text[n++] = '.';
        }
        if (text[n - 1] == '.')
            text[n++] = '0';
        for (int i = 0; i < zeros; i++)
            text[n++] = '0';
        text[n] = '\0';
        snprintf(doc, sizeof doc, "[%s]", text);
        ea_fmt_pyfloat(num, sizeof num, strtod(text, NULL));
        ck_assert_str_eq(compact(doc), apr_psprintf(pool, "[%s]", num));
    }
}
END_TEST

START_TEST(compact_refuses_invalid_json)
{
    static const char *bad[] = {
        "", "   ", "[1] x", "[1]]", "{\"a\":1}}", "[1,]", "{\"a\":1,}", "[,1]",
        "{\"a\" 1}", "{1:2}", "{\"a\"}", "[1 2]", "01", "1.", ".5", "+1", "-",
        "1e", "1e+", "--1", "NaN", "Infinity", "-Infinity", "tru", "nul", "True",
        "\"abc", "\"\x01\"", "\"a\nb\"", "\"\\q\"", "\"\\u12\"", "\"\\u12G4\"",
        "\"\xff\"", "\"\xed\xa0\x80\"", "'a'", "[", "{", "\"\\", "\xef\xbb\xbf[]",
    };
    size_t i;

    for (i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(compact(bad[i]) == NULL, "accepted invalid input #%zu", i);
}
END_TEST

START_TEST(compact_depth_limit)
{
    ck_assert_str_eq(compact(nested(512)), nested(512));
    ck_assert_ptr_null(compact(nested(513)));
    ck_assert_ptr_null(compact(nested(100000)));
}
END_TEST

START_TEST(compact_is_idempotent)
{
    const char *once = compact("{\"s\": \"\\u00e9\\u2028\\ud800\", \"n\": [1.50, 2e0, -0.0]}");

    ck_assert_ptr_nonnull(once);
    ck_assert_str_eq(once, "{\"s\":\"\xc3\xa9\\u2028\\ud800\",\"n\":[1.5,2.0,-0.0]}");
    ck_assert_str_eq(compact(once), once);
}
END_TEST

START_TEST(compact_keeps_len_not_nul)
{
    ea_buf *b = new_buf(0);

    /* only the first 6 bytes are the document */
    ck_assert_int_eq(ea_json_compact(b, "[1, 2]garbage", 6), 0);
    ck_assert_str_eq(b->data, "[1,2]");
    /* a NUL inside the given length is not whitespace */
    ck_assert_int_eq(ea_json_compact(b, "[1]\0", 4), -1);
    ck_assert_int_eq(ea_json_compact(b, "\"a\0b\"", 5), -1);
}
END_TEST

/* ---- indent ------------------------------------------------------------- */

START_TEST(indent_matches_python)
{
    /* json.dumps(o, indent=4, separators=(',', ': ')), DRF's INDENT_SEPARATORS */
    ck_assert_str_eq(indent("{\"a\":[1,{\"b\":[]},{}],\"c\":\"x\"}", 4),
                     "{\n    \"a\": [\n        1,\n        {\n            \"b\": []\n"
                     "        },\n        {}\n    ],\n    \"c\": \"x\"\n}");
    ck_assert_str_eq(indent("{\"a\":[1,{\"b\":[]},{}],\"c\":\"x\"}", 0),
                     "{\n\"a\": [\n1,\n{\n\"b\": []\n},\n{}\n],\n\"c\": \"x\"\n}");
    ck_assert_str_eq(indent("[1,2]", 2), "[\n  1,\n  2\n]");
}
END_TEST

START_TEST(indent_leaves_scalars_and_strings_alone)
{
    ck_assert_str_eq(indent("\"[a,b]{c:d}\"", 4), "\"[a,b]{c:d}\"");
    ck_assert_str_eq(indent("[]", 4), "[]");
    ck_assert_str_eq(indent("{}", 4), "{}");
    ck_assert_str_eq(indent("3", 4), "3");
    ck_assert_str_eq(indent("[\"a,b\"]", 1), "[\n \"a,b\"\n]");
}
END_TEST

START_TEST(indent_refuses_invalid)
{
    ck_assert_ptr_null(indent("[1,", 4));
    ck_assert_ptr_null(indent("{\"a\":}", 4));
    ck_assert_ptr_null(indent("", 4));
    ck_assert_ptr_null(indent(nested(513), 1));
}
END_TEST

static Suite *json_suite(void)
{
    Suite *s = suite_create("ea_json");
    TCase *buf = tcase_create("buf"), *str = tcase_create("str"),
          *num = tcase_create("numbers"), *doc = tcase_create("documents");

    tcase_add_checked_fixture(buf, setup, teardown);
    tcase_add_test(buf, buf_grows_by_doubling_and_keeps_content);
    tcase_add_test(buf, buf_putc_puts_printf);
    tcase_add_test(buf, buf_reserve_commit_reset);
    tcase_add_test(buf, hex_digits);
    suite_add_tcase(s, buf);

    tcase_add_checked_fixture(str, setup, teardown);
    tcase_add_test(str, str_escapes_controls_quotes_backslash);
    tcase_add_test(str, str_keeps_unicode_but_escapes_line_separators);
    tcase_add_test(str, str_replaces_invalid_utf8_like_python);
    tcase_add_test(str, str_special_at_every_offset);
    tcase_add_test(str, cstr_null_and_text);
    tcase_add_test(str, datetime_forms);
    suite_add_tcase(s, str);

    tcase_add_checked_fixture(num, setup, teardown);
    tcase_add_test(num, pyfloat_common_values);
    tcase_add_test(num, pyfloat_fixed_scientific_boundaries);
    tcase_add_test(num, pyfloat_extremes_and_rounding);
    tcase_add_test(num, pyfloat_nan_inf_become_zero);
    tcase_add_test(num, pyfloat_truncates_to_outlen);
    tcase_add_test(num, numeric_as_float_values);
    suite_add_tcase(s, num);

    tcase_add_checked_fixture(doc, setup, teardown);
    tcase_add_test(doc, compact_pg_jsonb_output);
    tcase_add_test(doc, compact_numbers_like_python);
    tcase_add_test(doc, compact_string_escapes_reencoded);
    tcase_add_test(doc, compact_copied_decimals_equal_printed_floats);
    tcase_add_test(doc, compact_refuses_invalid_json);
    tcase_add_test(doc, compact_depth_limit);
    tcase_add_test(doc, compact_is_idempotent);
    tcase_add_test(doc, compact_keeps_len_not_nul);
    tcase_add_test(doc, indent_matches_python);
    tcase_add_test(doc, indent_leaves_scalars_and_strings_alone);
    tcase_add_test(doc, indent_refuses_invalid);
    suite_add_tcase(s, doc);
    return s;
}

int main(void)
{
    SRunner *sr;
    int failed;

    apr_initialize();
    sr = srunner_create(json_suite());
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    apr_terminate();
    return failed == 0 ? 0 : 1;
}
