/* Unit tests for ea_edge: rate specs (DRF's parse_rate, made strict),
 * origins (the URL standard's serialization of an origin, as browsers send
 * Origin), Django's ALLOWED_HOSTS check and anonymous throttle keys. */
#include "ea_edge.h"

#include <apr_general.h>
#include <apr_strings.h>
#include <check.h>

#include <stdarg.h>
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

/* A string of n copies of c. */
static char *repeat(char c, size_t n)
{
    char *s = apr_palloc(pool, n + 1);

    memset(s, c, n);
    s[n] = '\0';
    return s;
}

/* An apr array of the const char * arguments, up to NULL. */
static apr_array_header_t *list(const char *first, ...)
{
    apr_array_header_t *a = apr_array_make(pool, 4, sizeof(const char *));
    const char *s;
    va_list ap;

    va_start(ap, first);
    for (s = first; s != NULL; s = va_arg(ap, const char *))
        APR_ARRAY_PUSH(a, const char *) = s;
    va_end(ap);
    return a;
}

/* ---- rate specs ------------------------------------------------------------ */

/* "count/seconds", or "ERR:<reason>" with the outputs checked untouched. */
static const char *rate(const char *spec)
{
    long count = -7, secs = -9;
    const char *err = "unset";

    if (ea_rate_parse(spec, &count, &secs, &err) < 0) {
        ck_assert_int_eq(count, -7);
        ck_assert_int_eq(secs, -9);
        ck_assert_ptr_nonnull(err);
        ck_assert_str_ne(err, "unset");
        ck_assert_int_gt((int)strlen(err), 10);
        return apr_pstrcat(pool, "ERR:", err, NULL);
    }
    ck_assert_str_eq(err, "unset");
    return apr_psprintf(pool, "%ld/%ld", count, secs);
}

static int rate_bad(const char *spec)
{
    return strncmp(rate(spec), "ERR:", 4) == 0;
}

START_TEST(rate_drf_examples)
{
    ck_assert_str_eq(rate("5000/day"), "5000/86400");
    ck_assert_str_eq(rate("1000/day"), "1000/86400");
    ck_assert_str_eq(rate("10/min"), "10/60");
    ck_assert_str_eq(rate("200/min"), "200/60");
    ck_assert_str_eq(rate("3/s"), "3/1");
    ck_assert_str_eq(rate("100/hour"), "100/3600");
    ck_assert_str_eq(rate("1/d"), "1/86400");
    ck_assert_str_eq(rate("1/h"), "1/3600");
    ck_assert_str_eq(rate("1/m"), "1/60");
}
END_TEST

START_TEST(rate_every_word_any_case)
{
    static const struct { const char *word; long secs; } words[] = {
        {"s", 1}, {"sec", 1}, {"second", 1}, {"seconds", 1},
        {"m", 60}, {"min", 60}, {"minute", 60}, {"minutes", 60},
        {"h", 3600}, {"hour", 3600}, {"hours", 3600},
        {"d", 86400}, {"day", 86400}, {"days", 86400}
    };
    size_t i, j;

    for (i = 0; i < sizeof words / sizeof words[0]; i++) {
        char lower[16], upper[16], mixed[16];
        long count = 0, secs = 0;
        for (j = 0; words[i].word[j] != '\0'; j++) {
            lower[j] = words[i].word[j];
            upper[j] = (char)(lower[j] - 'a' + 'A');
            mixed[j] = j % 2 ? upper[j] : lower[j];
        }
        lower[j] = upper[j] = mixed[j] = '\0';
        ck_assert_int_eq(ea_rate_parse(apr_pstrcat(pool, "7/", lower, NULL), &count, &secs, NULL), 0);
        ck_assert_int_eq(count, 7);
        ck_assert_int_eq(secs, words[i].secs);
        ck_assert_str_eq(rate(apr_pstrcat(pool, "7/", upper, NULL)),
                         apr_psprintf(pool, "7/%ld", words[i].secs));
        ck_assert_str_eq(rate(apr_pstrcat(pool, "7/", mixed, NULL)),
                         apr_psprintf(pool, "7/%ld", words[i].secs));
    }
}
END_TEST

START_TEST(rate_count_bounds)
{
    ck_assert_str_eq(rate("1/s"), "1/1");
    ck_assert_str_eq(rate("1000000000/s"), "1000000000/1");
    ck_assert_str_eq(rate("999999999/day"), "999999999/86400");
    ck_assert_str_eq(rate("007/min"), "7/60");   /* leading zeros are plain digits */
    ck_assert_str_eq(rate(apr_pstrcat(pool, repeat('0', 5000), "1/s", NULL)), "1/1");
    ck_assert(rate_bad("0/s"));
    ck_assert(rate_bad("000/s"));
    ck_assert(rate_bad("1000000001/s"));
    ck_assert(rate_bad("2147483648/s"));
    ck_assert(rate_bad("4294967297/s"));
    ck_assert(rate_bad("9223372036854775808/s"));
    ck_assert(rate_bad("18446744073709551617/day"));
    ck_assert(rate_bad(apr_pstrcat(pool, repeat('9', 10000), "/day", NULL)));
    ck_assert_str_eq(rate("0/s"), "ERR:N must be a whole number from 1 to 1000000000");
}
END_TEST

START_TEST(rate_strict_where_drf_is_lax)
{
    /* DRF takes these (int() is lenient, the period only its first letter) */
    ck_assert(rate_bad("+5/day"));
    ck_assert(rate_bad("-5/day"));
    ck_assert(rate_bad(" 5/day"));
    ck_assert(rate_bad("5 /day"));
    ck_assert(rate_bad("5/ day"));
    ck_assert(rate_bad("5/day "));
    ck_assert(rate_bad("5/day\n"));
    ck_assert(rate_bad("5_000/day"));
    ck_assert(rate_bad("\xd9\xa5/day"));          /* ARABIC-INDIC DIGIT FIVE */
    ck_assert(rate_bad("5/daily"));
    ck_assert(rate_bad("5/dayz"));
    ck_assert(rate_bad("5/mon"));                 /* DRF: per minute! */
    ck_assert(rate_bad("5/month"));
    ck_assert(rate_bad("5/hr"));
    ck_assert(rate_bad("5/secs"));
    ck_assert(rate_bad("5/mins"));
    ck_assert(rate_bad("5/sx"));
    ck_assert(rate_bad("5/da"));
    ck_assert(rate_bad("5/d\xc3\xa1y"));
    ck_assert(rate_bad("5/\xef\xbd\x84\xef\xbd\x81\xef\xbd\x99"));  /* fullwidth "day" */
}
END_TEST

START_TEST(rate_malformed)
{
    const char *syntax = "ERR:expected N/period with period s, sec, second, m, "
                         "min, minute, h, hour, d or day (or their plurals)";

    ck_assert_str_eq(rate(NULL), syntax);
    ck_assert_str_eq(rate(""), syntax);
    ck_assert_str_eq(rate("5"), syntax);
    ck_assert_str_eq(rate("5/"), syntax);
    ck_assert_str_eq(rate("5//day"), syntax);
    ck_assert_str_eq(rate("5/day/"), syntax);
    ck_assert_str_eq(rate("5/day/5"), syntax);
    ck_assert_str_eq(rate("5\\day"), syntax);
    ck_assert_str_eq(rate("5/\tday"), syntax);
    ck_assert_str_eq(rate("5/\x01"), syntax);
    ck_assert_str_eq(rate(apr_pstrcat(pool, "5/", repeat('d', 10000), NULL)), syntax);
    ck_assert(rate_bad("/day"));
    ck_assert(rate_bad("/"));
    ck_assert(rate_bad("0x10/s"));
    ck_assert(rate_bad("1e3/s"));
    ck_assert(rate_bad("5.0/day"));
    ck_assert(rate_bad("five/day"));
    ck_assert(rate_bad("5\x7f/day"));
    ck_assert_str_eq(rate("/day"), "ERR:N must be a whole number from 1 to 1000000000");
}
END_TEST

START_TEST(rate_err_may_be_null)
{
    long count = 3, secs = 4;

    ck_assert_int_eq(ea_rate_parse("x", &count, &secs, NULL), -1);
    ck_assert_int_eq(ea_rate_parse("0/s", &count, &secs, NULL), -1);
    ck_assert_int_eq(count, 3);
    ck_assert_int_eq(secs, 4);
}
END_TEST

/* ---- origins ---------------------------------------------------------------- */

/* The normalized origin, "NULL" when invalid; checks idempotence. */
static const char *norm(const char *origin)
{
    char *n = ea_origin_normalize(pool, origin);
    char *again;

    if (n == NULL)
        return "NULL";
    again = ea_origin_normalize(pool, n);
    ck_assert_ptr_nonnull(again);
    ck_assert_str_eq(again, n);
    ck_assert(strncmp(n, "http://", 7) == 0 || strncmp(n, "https://", 8) == 0);
    return n;
}

START_TEST(origin_basic_forms)
{
    ck_assert_str_eq(norm("http://a.com"), "http://a.com");
    ck_assert_str_eq(norm("https://example.org"), "https://example.org");
    ck_assert_str_eq(norm("HTTP://A.COM:80/"), "http://a.com");
    ck_assert_str_eq(norm("HtTpS://WwW.Example.ORG"), "https://www.example.org");
    ck_assert_str_eq(norm("http://localhost:3000"), "http://localhost:3000");
    ck_assert_str_eq(norm("http://localhost:5173/"), "http://localhost:5173");
    ck_assert_str_eq(norm("http://127.0.0.1:8000"), "http://127.0.0.1:8000");
    ck_assert_str_eq(norm("http://my_host:3000"), "http://my_host:3000");
    ck_assert_str_eq(norm("http://-a-.com"), "http://-a-.com");
    ck_assert_str_eq(norm("http://123.example"), "http://123.example");
    ck_assert_str_eq(norm("http://0x.com"), "http://0x.com");
    ck_assert_str_eq(norm("http://xn--bcher-kva.example"), "http://xn--bcher-kva.example");
    ck_assert_str_eq(norm("http://XN--BCHER-KVA.example"), "http://xn--bcher-kva.example");
}
END_TEST

START_TEST(origin_default_and_other_ports)
{
    ck_assert_str_eq(norm("http://a.com:80"), "http://a.com");
    ck_assert_str_eq(norm("https://a.com:443"), "https://a.com");
    ck_assert_str_eq(norm("https://a.com:443/"), "https://a.com");
    ck_assert_str_eq(norm("http://a.com:443"), "http://a.com:443");
    ck_assert_str_eq(norm("https://a.com:80"), "https://a.com:80");
    ck_assert_str_eq(norm("http://a.com:8080"), "http://a.com:8080");
    ck_assert_str_eq(norm("http://a.com:1"), "http://a.com:1");
    ck_assert_str_eq(norm("http://a.com:65535"), "http://a.com:65535");
    ck_assert_str_eq(norm("http://a.com:0080"), "http://a.com");
    ck_assert_str_eq(norm("http://a.com:008080"), "http://a.com:8080");
    ck_assert_str_eq(norm(apr_pstrcat(pool, "http://a.com:", repeat('0', 3000), "81", NULL)),
                     "http://a.com:81");
    ck_assert_str_eq(norm("http://a.com:0"), "NULL");
    ck_assert_str_eq(norm("http://a.com:00"), "NULL");
    ck_assert_str_eq(norm("http://a.com:65536"), "NULL");
    ck_assert_str_eq(norm("http://a.com:99999"), "NULL");
    ck_assert_str_eq(norm("http://a.com:4294967376"), "NULL");  /* 80 mod 2^32 */
    ck_assert_str_eq(norm(apr_pstrcat(pool, "http://a.com:", repeat('9', 5000), NULL)), "NULL");
    ck_assert_str_eq(norm("http://a.com:"), "NULL");
    ck_assert_str_eq(norm("http://a.com:/"), "NULL");
    ck_assert_str_eq(norm("http://a.com:-1"), "NULL");
    ck_assert_str_eq(norm("http://a.com:+80"), "NULL");
    ck_assert_str_eq(norm("http://a.com: 80"), "NULL");
    ck_assert_str_eq(norm("http://a.com:80 "), "NULL");
    ck_assert_str_eq(norm("http://a.com:8o"), "NULL");
    ck_assert_str_eq(norm("http://a.com:80:80"), "NULL");
    ck_assert_str_eq(norm("http://a.com:0x50"), "NULL");
}
END_TEST

START_TEST(origin_ipv6)
{
    ck_assert_str_eq(norm("http://[::1]"), "http://[::1]");
    ck_assert_str_eq(norm("http://[::1]:8080/"), "http://[::1]:8080");
    ck_assert_str_eq(norm("http://[::1]:80"), "http://[::1]");
    ck_assert_str_eq(norm("https://[::1]:443"), "https://[::1]");
    ck_assert_str_eq(norm("http://[0:0:0:0:0:0:0:1]"), "http://[::1]");
    ck_assert_str_eq(norm("http://[0000:0000::0001]"), "http://[::1]");
    ck_assert_str_eq(norm("HTTP://[2001:DB8::A]"), "http://[2001:db8::a]");
    ck_assert_str_eq(norm("http://[::]"), "http://[::]");
    ck_assert_str_eq(norm("http://[1::]"), "http://[1::]");
    ck_assert_str_eq(norm("http://[1:2:3:4:5:6:7:8]"), "http://[1:2:3:4:5:6:7:8]");
    /* a single zero piece is not compressed; the first of equal runs is */
    ck_assert_str_eq(norm("http://[1:0:2:3:4:5:6:7]"), "http://[1:0:2:3:4:5:6:7]");
    ck_assert_str_eq(norm("http://[1:0:0:2:0:0:3:4]"), "http://[1::2:0:0:3:4]");
    ck_assert_str_eq(norm("http://[1:0:0:2:0:0:0:3]"), "http://[1:0:0:2::3]");
    /* embedded IPv4 printed in hex, as browsers do */
    ck_assert_str_eq(norm("http://[::ffff:1.2.3.4]"), "http://[::ffff:102:304]");
    ck_assert_str_eq(norm("http://[::ffff:102:304]"), "http://[::ffff:102:304]");
    ck_assert_str_eq(norm("http://[::1.2.3.4]"), "http://[::102:304]");

    ck_assert_str_eq(norm("http://[fe80::1%25eth0]"), "NULL");
    ck_assert_str_eq(norm("http://[fe80::1%eth0]"), "NULL");
    ck_assert_str_eq(norm("http://[::1"), "NULL");
    ck_assert_str_eq(norm("http://::1"), "NULL");
    ck_assert_str_eq(norm("http://::1]"), "NULL");
    ck_assert_str_eq(norm("http://[]"), "NULL");
    ck_assert_str_eq(norm("http://[:]"), "NULL");
    ck_assert_str_eq(norm("http://[1.2.3.4]"), "NULL");
    ck_assert_str_eq(norm("http://[::1]x"), "NULL");
    ck_assert_str_eq(norm("http://[::1]]"), "NULL");
    ck_assert_str_eq(norm("http://[[::1]]"), "NULL");
    ck_assert_str_eq(norm("http://[::1]:"), "NULL");
    ck_assert_str_eq(norm("http://[::1]:0"), "NULL");
    ck_assert_str_eq(norm("http://[1::2::3]"), "NULL");
    ck_assert_str_eq(norm("http://[1:2:3:4:5:6:7:8:9]"), "NULL");
    ck_assert_str_eq(norm("http://[12345::]"), "NULL");
    ck_assert_str_eq(norm("http://[g::]"), "NULL");
    ck_assert_str_eq(norm("http://[ ::1]"), "NULL");
    ck_assert_str_eq(norm("http://[::ffff:1.2.3.04]"), "NULL");
    ck_assert_str_eq(norm(apr_pstrcat(pool, "http://[", repeat('0', 60), "::1]", NULL)), "NULL");
    ck_assert_str_eq(norm("http://a[::1]"), "NULL");
}
END_TEST

START_TEST(origin_ipv4_and_numbers)
{
    ck_assert_str_eq(norm("http://0.0.0.0"), "http://0.0.0.0");
    ck_assert_str_eq(norm("http://255.255.255.255:1"), "http://255.255.255.255:1");
    /* browsers would rewrite or reject these: never sent as Origin */
    ck_assert_str_eq(norm("http://127.1"), "NULL");
    ck_assert_str_eq(norm("http://2130706433"), "NULL");
    ck_assert_str_eq(norm("http://0x7f.0.0.1"), "NULL");
    ck_assert_str_eq(norm("http://127.0.0.0x1"), "NULL");
    ck_assert_str_eq(norm("http://127.0.0.01"), "NULL");
    ck_assert_str_eq(norm("http://256.0.0.1"), "NULL");
    ck_assert_str_eq(norm("http://1.2.3.4.5"), "NULL");
    ck_assert_str_eq(norm("http://1.2.3.4."), "NULL");
    ck_assert_str_eq(norm("http://example.123"), "NULL");
    ck_assert_str_eq(norm("http://example.0x1F"), "NULL");
    ck_assert_str_eq(norm("http://a.0x"), "NULL");
    ck_assert_str_eq(norm("http://a.0x."), "NULL");
    /* not numbers: an ordinary last label */
    ck_assert_str_eq(norm("http://example.0x1g"), "http://example.0x1g");
    ck_assert_str_eq(norm("http://1.2.3.4a"), "http://1.2.3.4a");
}
END_TEST

START_TEST(origin_no_userinfo_path_query_fragment)
{
    ck_assert_str_eq(norm("http://a.com/"), "http://a.com");
    ck_assert_str_eq(norm("http://a.com//"), "NULL");
    ck_assert_str_eq(norm("http://a.com/x"), "NULL");
    ck_assert_str_eq(norm("http://a.com/x/"), "NULL");
    ck_assert_str_eq(norm("http://a.com/?x"), "NULL");
    ck_assert_str_eq(norm("http://a.com?"), "NULL");
    ck_assert_str_eq(norm("http://a.com?x=1"), "NULL");
    ck_assert_str_eq(norm("http://a.com#"), "NULL");
    ck_assert_str_eq(norm("http://a.com#f"), "NULL");
    ck_assert_str_eq(norm("http://a.com:80/x"), "NULL");
    ck_assert_str_eq(norm("http://user@a.com"), "NULL");
    ck_assert_str_eq(norm("http://user:pw@a.com"), "NULL");
    ck_assert_str_eq(norm("http://a.com@evil.com"), "NULL");
    ck_assert_str_eq(norm("http://a.com:80@evil.com"), "NULL");
    ck_assert_str_eq(norm("http://a.com\\@evil.com"), "NULL");
    ck_assert_str_eq(norm("http://a.com\\"), "NULL");
    ck_assert_str_eq(norm("http://a%2ecom"), "NULL");
    ck_assert_str_eq(norm("http://a.com;x"), "NULL");
    ck_assert_str_eq(norm(apr_pstrcat(pool, "http://a.com", repeat('/', 10000), NULL)), "NULL");
}
END_TEST

START_TEST(origin_schemes_and_null)
{
    ck_assert_str_eq(norm(NULL), "NULL");
    ck_assert_str_eq(norm(""), "NULL");
    ck_assert_str_eq(norm("null"), "NULL");
    ck_assert_str_eq(norm("NULL"), "NULL");
    ck_assert_str_eq(norm("http://"), "NULL");
    ck_assert_str_eq(norm("http:///"), "NULL");
    ck_assert_str_eq(norm("https://"), "NULL");
    ck_assert_str_eq(norm("http://:80"), "NULL");
    ck_assert_str_eq(norm("ftp://a.com"), "NULL");
    ck_assert_str_eq(norm("ws://a.com"), "NULL");
    ck_assert_str_eq(norm("file://"), "NULL");
    ck_assert_str_eq(norm("httpx://a.com"), "NULL");
    ck_assert_str_eq(norm("httpss://a.com"), "NULL");
    ck_assert_str_eq(norm("http:/a.com"), "NULL");
    ck_assert_str_eq(norm("http:a.com"), "NULL");
    ck_assert_str_eq(norm("http:\\\\a.com"), "NULL");
    ck_assert_str_eq(norm("//a.com"), "NULL");
    ck_assert_str_eq(norm("a.com"), "NULL");
    ck_assert_str_eq(norm("javascript:alert(1)"), "NULL");
    ck_assert_str_eq(norm("http"), "NULL");
    ck_assert_str_eq(norm("h"), "NULL");
}
END_TEST

START_TEST(origin_host_rules)
{
    char *label63 = repeat('a', 63), *label64 = repeat('a', 64);
    /* 4 labels of 63 with 3 dots = 255; 3 x 63 + 61 + 3 dots = 253 */
    char *host253 = apr_pstrcat(pool, label63, ".", label63, ".", label63, ".",
                                repeat('b', 61), NULL);
    char *host254 = apr_pstrcat(pool, host253, "c", NULL);

    ck_assert_int_eq((int)strlen(host253), 253);
    ck_assert_str_eq(norm(apr_pstrcat(pool, "http://", label63, ".com", NULL)),
                     apr_pstrcat(pool, "http://", label63, ".com", NULL));
    ck_assert_str_eq(norm(apr_pstrcat(pool, "http://", label64, ".com", NULL)), "NULL");
    ck_assert_str_eq(norm(apr_pstrcat(pool, "https://", host253, ":65535", NULL)),
                     apr_pstrcat(pool, "https://", host253, ":65535", NULL));
    ck_assert_str_eq(norm(apr_pstrcat(pool, "https://", host253, ".:65535/", NULL)),
                     apr_pstrcat(pool, "https://", host253, ".:65535", NULL));
    ck_assert_str_eq(norm(apr_pstrcat(pool, "http://", host254, NULL)), "NULL");
    ck_assert_str_eq(norm(apr_pstrcat(pool, "http://", repeat('a', 100000), NULL)), "NULL");
    ck_assert_str_eq(norm(apr_pstrcat(pool, "http://", repeat('.', 1000), NULL)), "NULL");

    /* the trailing dot is part of the origin for browsers: kept */
    ck_assert_str_eq(norm("http://a.com."), "http://a.com.");
    ck_assert_str_eq(norm("http://a.com.:8080/"), "http://a.com.:8080");
    ck_assert_str_eq(norm("http://a.com.."), "NULL");
    ck_assert_str_eq(norm("http://a..com"), "NULL");
    ck_assert_str_eq(norm("http://.a.com"), "NULL");
    ck_assert_str_eq(norm("http://."), "NULL");
    ck_assert_str_eq(norm("http://a b.com"), "NULL");
    ck_assert_str_eq(norm("http://a*b.com"), "NULL");
    ck_assert_str_eq(norm("http://a!b.com"), "NULL");
}
END_TEST

START_TEST(origin_control_and_non_ascii_bytes)
{
    int c;

    for (c = 1; c < 256; c++) {
        char host[8];
        const char *origin;
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
            || (c >= '0' && c <= '9') || c == '-' || c == '_';
        snprintf(host, sizeof host, "a%cb", c);
        origin = apr_pstrcat(pool, "http://", host, ".com", NULL);
        if (ok)
            ck_assert_str_ne(norm(origin), "NULL");
        else if (c != '.')
            ck_assert_msg(strcmp(norm(origin), "NULL") == 0, "byte %d accepted", c);
        /* after the host: more host, a port, the trailing '/' or nothing */
        if (ok)
            ck_assert_str_eq(norm(apr_psprintf(pool, "http://a.com%c", c)),
                             apr_psprintf(pool, "http://a.com%c", c >= 'A' && c <= 'Z' ? c + 32 : c));
        else
            ck_assert_str_eq(norm(apr_psprintf(pool, "http://a.com%c", c)),
                             c == '/' ? "http://a.com" : c == '.' ? "http://a.com." : "NULL");
        ck_assert_str_eq(norm(apr_psprintf(pool, "%chttp://a.com", c)), "NULL");
    }
    ck_assert_str_eq(norm("http://b\xc3\xbc" "cher.example"), "NULL");   /* UTF-8 IDN */
    ck_assert_str_eq(norm("http://\xef\xbd\x81.com"), "NULL");          /* fullwidth a */
    ck_assert_str_eq(norm("http://a.com\r\nX-Evil: 1"), "NULL");
    ck_assert_str_eq(norm("http://a.com\xe3\x80\x82" "evil.com"), "NULL"); /* ideographic full stop */
}
END_TEST

START_TEST(origin_allowed_exact_only)
{
    apr_array_header_t *allowed = list(ea_origin_normalize(pool, "https://a.com"),
                                       ea_origin_normalize(pool, "HTTP://LOCALHOST:3000/"),
                                       ea_origin_normalize(pool, "http://[::1]:8080"),
                                       NULL);

    ck_assert_int_eq(allowed->nelts, 3);
    ck_assert(ea_origin_allowed(allowed, "https://a.com"));
    ck_assert(ea_origin_allowed(allowed, "HTTPS://A.COM:443"));
    ck_assert(ea_origin_allowed(allowed, "https://a.com/"));
    ck_assert(ea_origin_allowed(allowed, "http://localhost:3000"));
    ck_assert(ea_origin_allowed(allowed, "http://[0::1]:8080"));

    ck_assert(!ea_origin_allowed(allowed, "https://a.com.evil.com"));
    ck_assert(!ea_origin_allowed(allowed, "https://a.comx"));
    ck_assert(!ea_origin_allowed(allowed, "https://a.co"));
    ck_assert(!ea_origin_allowed(allowed, "https://evila.com"));
    ck_assert(!ea_origin_allowed(allowed, "https://evil-a.com"));
    ck_assert(!ea_origin_allowed(allowed, "https://sub.a.com"));
    ck_assert(!ea_origin_allowed(allowed, "https://a.com."));
    ck_assert(!ea_origin_allowed(allowed, "https://a.com:8443"));
    ck_assert(!ea_origin_allowed(allowed, "http://a.com"));
    ck_assert(!ea_origin_allowed(allowed, "https://a.com/x"));
    ck_assert(!ea_origin_allowed(allowed, "https://a.com@evil.com"));
    ck_assert(!ea_origin_allowed(allowed, "https://evil.com/https://a.com"));
    ck_assert(!ea_origin_allowed(allowed, "http://localhost"));
    ck_assert(!ea_origin_allowed(allowed, "http://localhost:30000"));
    ck_assert(!ea_origin_allowed(allowed, "http://localhost:300"));
    ck_assert(!ea_origin_allowed(allowed, "https://localhost:3000"));
    ck_assert(!ea_origin_allowed(allowed, "http://[::1]"));
    ck_assert(!ea_origin_allowed(allowed, "null"));
    ck_assert(!ea_origin_allowed(allowed, ""));
    ck_assert(!ea_origin_allowed(allowed, NULL));
}
END_TEST

START_TEST(origin_allowed_degenerate_lists)
{
    ck_assert(!ea_origin_allowed(NULL, "https://a.com"));
    ck_assert(!ea_origin_allowed(list(NULL), "https://a.com"));
    /* NULL entries (a failed normalize) are skipped, not matched */
    ck_assert(ea_origin_allowed(list(ea_origin_normalize(pool, "junk"), NULL), "junk") == 0);
    /* "null" is never an allowed origin, even if listed */
    ck_assert(!ea_origin_allowed(list("null", NULL), "null"));
    ck_assert(!ea_origin_allowed(list("", NULL), ""));
}
END_TEST

/* ---- allowed hosts ------------------------------------------------------------ */

START_TEST(host_exact)
{
    apr_array_header_t *p = list("example.org", NULL);

    ck_assert(ea_host_allowed(p, "example.org"));
    ck_assert(ea_host_allowed(p, "EXAMPLE.ORG"));
    ck_assert(ea_host_allowed(p, "example.org:8080"));
    ck_assert(ea_host_allowed(p, "example.org:1"));
    ck_assert(ea_host_allowed(p, "example.org:65535"));
    ck_assert(ea_host_allowed(p, "example.org."));
    ck_assert(ea_host_allowed(p, "example.org.:80"));
    ck_assert(ea_host_allowed(list("Example.ORG", NULL), "example.org"));

    ck_assert(!ea_host_allowed(p, "example.org.."));
    ck_assert(!ea_host_allowed(p, "www.example.org"));
    ck_assert(!ea_host_allowed(p, "example.org.evil.com"));
    ck_assert(!ea_host_allowed(p, "evilexample.org"));
    ck_assert(!ea_host_allowed(p, "example.orgx"));
    ck_assert(!ea_host_allowed(p, "example.or"));
    ck_assert(!ea_host_allowed(p, "xample.org"));
    ck_assert(!ea_host_allowed(p, "example.org:0"));
    ck_assert(!ea_host_allowed(p, "example.org:65536"));
    ck_assert(!ea_host_allowed(p, "example.org:"));
    ck_assert(!ea_host_allowed(p, "example.org:http"));
    ck_assert(!ea_host_allowed(p, "example.org/"));
    ck_assert(!ea_host_allowed(p, "example.org "));
    ck_assert(!ea_host_allowed(p, " example.org"));
    ck_assert(!ea_host_allowed(p, "example.org\r\n"));
    ck_assert(!ea_host_allowed(p, "user@example.org"));
    ck_assert(!ea_host_allowed(p, "example.org@evil.com"));
}
END_TEST

START_TEST(host_subdomain_pattern)
{
    apr_array_header_t *p = list(".example.org", NULL);

    ck_assert(ea_host_allowed(p, "example.org"));
    ck_assert(ea_host_allowed(p, "a.example.org"));
    ck_assert(ea_host_allowed(p, "A.B.Example.Org:443"));
    ck_assert(ea_host_allowed(p, "a.example.org."));
    ck_assert(!ea_host_allowed(p, "aexample.org"));
    ck_assert(!ea_host_allowed(p, "example.org.evil.com"));
    ck_assert(!ea_host_allowed(p, "example.com"));
    ck_assert(!ea_host_allowed(p, "org"));
    ck_assert(!ea_host_allowed(p, ".example.org"));
    ck_assert(!ea_host_allowed(p, "a..example.org"));
    /* no "*.x" wildcard in Django, and ports in patterns never match */
    ck_assert(!ea_host_allowed(list("*.example.org", NULL), "a.example.org"));
    ck_assert(!ea_host_allowed(list("example.org:8080", NULL), "example.org:8080"));
    ck_assert(!ea_host_allowed(list(".", NULL), "a.com"));
    ck_assert(!ea_host_allowed(list("", NULL), "a.com"));
    ck_assert(!ea_host_allowed(list("a.com.", NULL), "a.com."));
}
END_TEST

START_TEST(host_wildcard_needs_valid_syntax)
{
    apr_array_header_t *any = list("*", NULL);
    char *label63 = repeat('a', 63);

    ck_assert(ea_host_allowed(any, "anything.test"));
    ck_assert(ea_host_allowed(any, "localhost"));
    ck_assert(ea_host_allowed(any, "127.0.0.1:8000"));
    ck_assert(ea_host_allowed(any, "[::1]"));
    ck_assert(ea_host_allowed(any, "[::1]:8000"));
    ck_assert(ea_host_allowed(any, "[2001:DB8::1]:443"));
    ck_assert(ea_host_allowed(any, "[::ffff:1.2.3.4]"));
    ck_assert(ea_host_allowed(any, "a-b.c"));
    ck_assert(ea_host_allowed(any, apr_pstrcat(pool, label63, ".com", NULL)));

    ck_assert(!ea_host_allowed(any, NULL));
    ck_assert(!ea_host_allowed(any, ""));
    ck_assert(!ea_host_allowed(any, ":80"));
    ck_assert(!ea_host_allowed(any, "."));
    ck_assert(!ea_host_allowed(any, ".."));
    ck_assert(!ea_host_allowed(any, ".a.com"));
    ck_assert(!ea_host_allowed(any, "a..com"));
    ck_assert(!ea_host_allowed(any, "a.com:+80"));
    ck_assert(!ea_host_allowed(any, "a.com:-80"));
    ck_assert(!ea_host_allowed(any, "a.com:80:80"));
    ck_assert(!ea_host_allowed(any, "a.com: 80"));
    ck_assert(!ea_host_allowed(any, "a com"));
    ck_assert(!ea_host_allowed(any, "a.com/x"));
    ck_assert(!ea_host_allowed(any, "a_b.com"));        /* Django rejects '_' */
    ck_assert(!ea_host_allowed(any, "b\xc3\xbc" "cher.de"));
    ck_assert(!ea_host_allowed(any, "a.com\x01"));
    ck_assert(!ea_host_allowed(any, "a.com\x7f"));
    ck_assert(!ea_host_allowed(any, "a.com\t"));
    ck_assert(!ea_host_allowed(any, "[::1"));
    ck_assert(!ea_host_allowed(any, "::1"));
    ck_assert(!ea_host_allowed(any, "[::1]x"));
    ck_assert(!ea_host_allowed(any, "[::1]:"));
    ck_assert(!ea_host_allowed(any, "[::1]:0"));
    ck_assert(!ea_host_allowed(any, "[::1]:65536"));
    ck_assert(!ea_host_allowed(any, "[1.2.3.4]"));
    ck_assert(!ea_host_allowed(any, "[fe80::1%eth0]"));
    ck_assert(!ea_host_allowed(any, "[]"));
    ck_assert(!ea_host_allowed(any, "[::g]"));
    ck_assert(!ea_host_allowed(any, "a[::1]"));
    ck_assert(!ea_host_allowed(any, apr_pstrcat(pool, repeat('a', 64), ".com", NULL)));
    ck_assert(!ea_host_allowed(any, repeat('a', 100000)));
    ck_assert(!ea_host_allowed(any, apr_pstrcat(pool, "a.com:", repeat('9', 10000), NULL)));
}
END_TEST

START_TEST(host_control_bytes)
{
    apr_array_header_t *any = list("*", NULL);
    int c;

    for (c = 1; c < 256; c++) {
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
            || (c >= '0' && c <= '9') || c == '-';
        const char *h = apr_psprintf(pool, "a%cb.com", c);
        if (c != '.' && c != ':')
            ck_assert_msg(ea_host_allowed(any, h) == ok, "byte %d", c);
    }
}
END_TEST

START_TEST(host_ipv6_patterns_and_lists)
{
    apr_array_header_t *v6 = list("[::1]", NULL);

    ck_assert(ea_host_allowed(v6, "[::1]"));
    ck_assert(ea_host_allowed(v6, "[::1]:8000"));
    ck_assert(!ea_host_allowed(v6, "[::2]"));
    ck_assert(!ea_host_allowed(v6, "[0::1]"));   /* compared as text, as Django */
    ck_assert(!ea_host_allowed(v6, "::1"));

    ck_assert(!ea_host_allowed(NULL, "a.com"));
    ck_assert(!ea_host_allowed(list(NULL), "a.com"));
    ck_assert(ea_host_allowed(list("b.com", "a.com", NULL), "a.com"));
    ck_assert(ea_host_allowed(list("b.com", ".a.com", NULL), "x.a.com"));
    ck_assert(!ea_host_allowed(list("b.com", ".a.com", NULL), "c.com"));
}
END_TEST

/* ---- client keys ------------------------------------------------------------- */

/* The key, or "ERR" (with out checked to be emptied). */
static const char *key(const char *ip)
{
    char out[EA_CLIENT_KEY_SIZE];

    memset(out, 'x', sizeof out);
    if (ea_client_key(out, sizeof out, ip) < 0) {
        ck_assert_str_eq(out, "");
        return "ERR";
    }
    ck_assert_uint_lt(strlen(out), sizeof out);
    return apr_pstrdup(pool, out);
}

START_TEST(key_ipv4)
{
    ck_assert_str_eq(key("192.0.2.1"), "192.0.2.1");
    ck_assert_str_eq(key("0.0.0.0"), "0.0.0.0");
    ck_assert_str_eq(key("255.255.255.255"), "255.255.255.255");
    ck_assert_str_eq(key("127.0.0.1"), "127.0.0.1");
    ck_assert_str_eq(key("1.2.3"), "ERR");
    ck_assert_str_eq(key("1.2.3.4.5"), "ERR");
    ck_assert_str_eq(key("01.2.3.4"), "ERR");
    ck_assert_str_eq(key("256.1.1.1"), "ERR");
    ck_assert_str_eq(key("1.2.3.-4"), "ERR");
    ck_assert_str_eq(key("0x7f.0.0.1"), "ERR");
    ck_assert_str_eq(key("2130706433"), "ERR");
    ck_assert_str_eq(key(" 1.2.3.4"), "ERR");
    ck_assert_str_eq(key("1.2.3.4 "), "ERR");
    ck_assert_str_eq(key("1.2.3.4\n"), "ERR");
    ck_assert_str_eq(key("1.2.3.4/24"), "ERR");
    ck_assert_str_eq(key("1.2.3.4:80"), "ERR");
    ck_assert_str_eq(key("1.2.3.4%eth0"), "ERR");
    ck_assert_str_eq(key("1.2.3.4, 5.6.7.8"), "ERR");   /* a raw X-Forwarded-For */
}
END_TEST

START_TEST(key_ipv6_by_64)
{
    ck_assert_str_eq(key("2001:db8:1:2:3:4:5:6"), "2001:db8:1:2::/64");
    ck_assert_str_eq(key("2001:DB8:0001:0002::"), "2001:db8:1:2::/64");
    ck_assert_str_eq(key("2001:db8:1:2:ffff:ffff:ffff:ffff"), "2001:db8:1:2::/64");
    ck_assert_str_eq(key("2001:db8::1"), "2001:db8::/64");
    ck_assert_str_eq(key("2001:db8::2"), key("2001:db8::1"));
    ck_assert_str_ne(key("2001:db8:0:1::1"), key("2001:db8:0:2::1"));
    ck_assert_str_eq(key("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"), "ffff:ffff:ffff:ffff::/64");
    ck_assert_str_eq(key("::1"), "::/64");
    ck_assert_str_eq(key("::"), "::/64");
    ck_assert_str_eq(key("1::"), "1::/64");
    ck_assert_str_eq(key("0:0:0:1::"), "0:0:0:1::/64");
    ck_assert_str_eq(key("1:0:0:1::"), "1:0:0:1::/64");
    /* IPv4-compatible (deprecated): an IPv6 address like any other */
    ck_assert_str_eq(key("::1.2.3.4"), "::/64");
    /* link-local with a zone, as APR prints it */
    ck_assert_str_eq(key("fe80::1%eth0"), "fe80::/64");
    ck_assert_str_eq(key("fe80::1%2"), "fe80::/64");
    ck_assert_str_eq(key("fe80::1%"), "ERR");
    ck_assert_str_eq(key("fe80::1%eth0 "), "ERR");
    ck_assert_str_eq(key("fe80::1%eth0%1"), "ERR");
    ck_assert_str_eq(key(apr_pstrcat(pool, "fe80::1%", repeat('e', 64), NULL)), "ERR");

    ck_assert_str_eq(key("[::1]"), "ERR");
    ck_assert_str_eq(key("::1:"), "ERR");
    ck_assert_str_eq(key(":::1"), "ERR");
    ck_assert_str_eq(key("1::2::3"), "ERR");
    ck_assert_str_eq(key("1:2:3:4:5:6:7:8:9"), "ERR");
    ck_assert_str_eq(key("12345::"), "ERR");
    ck_assert_str_eq(key("::ffff:1.2.3.256"), "ERR");
    ck_assert_str_eq(key("2001:db8::/64"), "ERR");
    ck_assert_str_eq(key(apr_pstrcat(pool, repeat('0', 100), "::1", NULL)), "ERR");
}
END_TEST

START_TEST(key_embedded_ipv4)
{
    ck_assert_str_eq(key("::ffff:192.0.2.1"), "192.0.2.1");
    ck_assert_str_eq(key("::FFFF:192.0.2.1"), "192.0.2.1");
    ck_assert_str_eq(key("::ffff:c000:0201"), "192.0.2.1");
    ck_assert_str_eq(key("0:0:0:0:0:ffff:c000:201"), "192.0.2.1");
    ck_assert_str_eq(key("64:ff9b::192.0.2.1"), "192.0.2.1");
    ck_assert_str_eq(key("64:ff9b::c000:201"), "192.0.2.1");
    /* not the well-known NAT64 prefix, nor mapped */
    ck_assert_str_eq(key("64:ff9b:1::c000:201"), "64:ff9b:1::/64");
    ck_assert_str_eq(key("::fffe:c000:201"), "::/64");
    ck_assert_str_eq(key("1::ffff:c000:201"), "1::/64");
    ck_assert_str_eq(key("::ffff:192.0.2.1%eth0"), "192.0.2.1");
}
END_TEST

START_TEST(key_buffer_limits)
{
    char out[32], small[17];
    size_t i;

    /* "2001:db8:1:2::/64" is 17 bytes + NUL */
    ck_assert_int_eq(ea_client_key(out, 18, "2001:db8:1:2::1"), 0);
    ck_assert_str_eq(out, "2001:db8:1:2::/64");
    memset(small, 'x', sizeof small);
    ck_assert_int_eq(ea_client_key(small, sizeof small, "2001:db8:1:2::1"), -1);
    ck_assert_str_eq(small, "");
    ck_assert_int_eq(ea_client_key(out, 10, "192.0.2.1"), 0);
    ck_assert_str_eq(out, "192.0.2.1");
    ck_assert_int_eq(ea_client_key(out, 9, "192.0.2.1"), -1);
    ck_assert_str_eq(out, "");
    /* outlen 0: nothing written at all */
    out[0] = 'q';
    ck_assert_int_eq(ea_client_key(out, 0, "192.0.2.1"), -1);
    ck_assert_int_eq(out[0], 'q');
    ck_assert_int_eq(ea_client_key(NULL, 64, "192.0.2.1"), -1);
    ck_assert_int_eq(ea_client_key(out, sizeof out, NULL), -1);
    ck_assert_str_eq(out, "");
    ck_assert_int_eq(ea_client_key(out, sizeof out, ""), -1);
    /* no byte appended to a valid address is accepted (bar a zone) */
    for (i = 1; i < 256; i++) {
        const char *ip = apr_psprintf(pool, "2001:db8::1%c", (int)i);
        int expect = (i >= '0' && i <= '9') || (i >= 'a' && i <= 'f')
            || (i >= 'A' && i <= 'F') ? 0 : -1;
        ck_assert_msg(ea_client_key(out, sizeof out, ip) == expect, "byte %zu", i);
    }
}
END_TEST

static Suite *edge_suite(void)
{
    Suite *s = suite_create("ea_edge");
    TCase *r = tcase_create("rate"), *o = tcase_create("origin"),
          *h = tcase_create("host"), *k = tcase_create("client_key");

    tcase_add_checked_fixture(r, setup, teardown);
    tcase_add_test(r, rate_drf_examples);
    tcase_add_test(r, rate_every_word_any_case);
    tcase_add_test(r, rate_count_bounds);
    tcase_add_test(r, rate_strict_where_drf_is_lax);
    tcase_add_test(r, rate_malformed);
    tcase_add_test(r, rate_err_may_be_null);
    suite_add_tcase(s, r);

    tcase_add_checked_fixture(o, setup, teardown);
    tcase_add_test(o, origin_basic_forms);
    tcase_add_test(o, origin_default_and_other_ports);
    tcase_add_test(o, origin_ipv6);
    tcase_add_test(o, origin_ipv4_and_numbers);
    tcase_add_test(o, origin_no_userinfo_path_query_fragment);
    tcase_add_test(o, origin_schemes_and_null);
    tcase_add_test(o, origin_host_rules);
    tcase_add_test(o, origin_control_and_non_ascii_bytes);
    tcase_add_test(o, origin_allowed_exact_only);
    tcase_add_test(o, origin_allowed_degenerate_lists);
    suite_add_tcase(s, o);

    tcase_add_checked_fixture(h, setup, teardown);
    tcase_add_test(h, host_exact);
    tcase_add_test(h, host_subdomain_pattern);
    tcase_add_test(h, host_wildcard_needs_valid_syntax);
    tcase_add_test(h, host_control_bytes);
    tcase_add_test(h, host_ipv6_patterns_and_lists);
    suite_add_tcase(s, h);

    tcase_add_checked_fixture(k, setup, teardown);
    tcase_add_test(k, key_ipv4);
    tcase_add_test(k, key_ipv6_by_64);
    tcase_add_test(k, key_embedded_ipv4);
    tcase_add_test(k, key_buffer_limits);
    suite_add_tcase(s, k);
    return s;
}

int main(void)
{
    SRunner *sr;
    int failed;

    apr_initialize();
    sr = srunner_create(edge_suite());
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    apr_terminate();
    return failed == 0 ? 0 : 1;
}
