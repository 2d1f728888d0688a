/* ea_edge: rate specs, CORS origins, allowed hosts and client keys. */
#include "ea_edge.h"

#include <apr_strings.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <ctype.h>
#include <sys/socket.h>

/* "https://" + a 254-byte host (253 + trailing dot) + ":65535" + NUL. */
#define EA_ORIGIN_MAX 280
/* Longest IPv6 text inet_pton can accept, with its NUL. */
#define EA_IPV6_TEXT 46

/* ---- ASCII helpers (ctype would follow the locale) ------------------------ */

static int ea_is_digit(int c)
{
    return c >= '0' && c <= '9';
}

static int ea_is_alnum(int c)
{
    return ea_is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int ea_is_hex(int c)
{
    return ea_is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static int ea_lower(int c)
{
    return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

/* [a, a+an) equals [b, b+bn), ASCII case-insensitively. */
static int ea_ieq(const char *a, size_t an, const char *b, size_t bn)
{
    size_t i;

    if (an != bn)
        return 0;
    for (i = 0; i < an; i++)
        if (ea_lower((unsigned char)a[i]) != ea_lower((unsigned char)b[i]))
            return 0;
    return 1;
}

/* s starts with the lower-case prefix, in any case. */
static int ea_has_prefix(const char *s, const char *prefix)
{
    size_t n = strlen(prefix);

    return strnlen(s, n) == n && ea_ieq(s, n, prefix, n);
}

/* ---- rate specs ----------------------------------------------------------- */

static const char ea_rate_syntax[] =
    "expected N/period with period s, sec, second, m, min, minute, h, hour, "
    "d or day (or their plurals)";

/* Seconds in the period named by [s, s+n), judged by its first letter as
 * DRF does, or 0 when it is not one of the words we accept. */
static long ea_rate_period(const char *s, size_t n)
{
    static const char *const words[] = {
        "s", "sec", "second", "seconds", "m", "min", "minute", "minutes",
        "h", "hour", "hours", "d", "day", "days"
    };
    size_t i;

    for (i = 0; i < sizeof words / sizeof words[0]; i++) {
        if (!ea_ieq(s, n, words[i], strlen(words[i])))
            continue;
        switch (words[i][0]) {
        case 's': return 1;
        case 'm': return 60;
        case 'h': return 3600;
        default:  return 86400;
        }
    }
    return 0;
}

/* N in [s, end): ASCII digits only (Python's int() would also take a sign,
 * spaces, '_' and other scripts' digits), 1 .. EA_RATE_MAX_COUNT. */
static int ea_rate_count(const char *s, const char *end, long *out)
{
    long long v = 0;

    if (s == end)
        return -1;
    for (; s < end; s++) {
        if (!ea_is_digit((unsigned char)*s))
            return -1;
        v = v * 10 + (*s - '0');
        if (v > EA_RATE_MAX_COUNT)
            return -1;
    }
    if (v == 0)
        return -1;
    *out = (long)v;
    return 0;
}

static int ea_rate_fail(const char **err, const char *why)
{
    if (err != NULL)
        *err = why;
    return -1;
}

int ea_rate_parse(const char *spec, long *count, long *period_seconds,
                  const char **err)
{
    const char *slash = spec != NULL ? strchr(spec, '/') : NULL;
    long n, seconds;

    if (slash == NULL)
        return ea_rate_fail(err, ea_rate_syntax);
    seconds = ea_rate_period(slash + 1, strlen(slash + 1));
    if (seconds == 0)
        return ea_rate_fail(err, ea_rate_syntax);
    if (ea_rate_count(spec, slash, &n) < 0)
        return ea_rate_fail(err, "N must be a whole number from 1 to 1000000000");
    *count = n;
    *period_seconds = seconds;
    return 0;
}

/* ---- host syntax shared by origins and Host headers ------------------------ */

/* A port in [s, s+n): ASCII digits worth 1..65535 (leading zeros read as
 * the URL standard reads them; port 0 reaches nobody).  The port or -1. */
static long ea_port_parse(const char *s, size_t n)
{
    long v = 0;
    size_t i;

    if (n == 0)
        return -1;
    for (i = 0; i < n; i++) {
        if (!ea_is_digit((unsigned char)s[i]))
            return -1;
        v = v * 10 + (s[i] - '0');
        if (v > 65535)
            return -1;
    }
    return v == 0 ? -1 : v;
}

/* [s, s+n) is a DNS name: non-empty labels of letters, digits, '-' (and
 * '_' when underscore) of at most 63 bytes, 253 in all, plus one optional
 * trailing '.'. */
static int ea_dns_name_ok(const char *s, size_t n, int underscore)
{
    size_t i, label = 0;

    if (n > 0 && s[n - 1] == '.')
        n--;
    if (n == 0 || n > 253)
        return 0;
    for (i = 0; i < n; i++) {
        int c = (unsigned char)s[i];
        if (c == '.') {
            if (label == 0)
                return 0;
            label = 0;
            continue;
        }
        if (!ea_is_alnum(c) && c != '-' && !(underscore && c == '_'))
            return 0;
        if (++label > 63)
            return 0;
    }
    return label > 0;
}

/* Lower-case hex of v into out without leading zeros; returns the length. */
static size_t ea_hex16(unsigned v, char *out)
{
    static const char digits[] = "0123456789abcdef";
    char tmp[4];
    size_t n = 0, i;

    do {
        tmp[n++] = digits[v & 0xF];
        v >>= 4;
    } while (v != 0);
    for (i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    return n;
}

/* The first longest run (two pieces or more) of zero pieces, or -1: the
 * one that the URL standard's IPv6 serializer compresses to "::". */
static int ea_ipv6_zero_run(const unsigned w[8], int *len)
{
    int i, j, best = -1;

    *len = 1;
    for (i = 0; i < 8; i = j + 1) {
        for (j = i; j < 8 && w[j] == 0; j++)
            ;
        if (j - i > *len) {
            best = i;
            *len = j - i;
        }
    }
    return best;
}

/* The URL standard's IPv6 serialization of a (browsers print embedded
 * IPv4 in hex too, unlike inet_ntop); out needs 40 bytes. */
static void ea_ipv6_format(const unsigned char a[16], char *out)
{
    unsigned w[8];
    int i, run, len;

    for (i = 0; i < 8; i++)
        w[i] = (unsigned)a[2 * i] << 8 | a[2 * i + 1];
    run = ea_ipv6_zero_run(w, &len);
    for (i = 0; i < 8; i++) {
        if (i == run) {
            *out++ = ':';
            if (i == 0)
                *out++ = ':';
            i += len - 1;
            continue;
        }
        out += ea_hex16(w[i], out);
        if (i < 7)
            *out++ = ':';
    }
    *out = '\0';
}

/* [s, s+n) is "[IPv6]"; its address into a. */
static int ea_ipv6_bracketed(const char *s, size_t n, unsigned char a[16])
{
    char text[EA_IPV6_TEXT];

    if (n < 4 || s[0] != '[' || s[n - 1] != ']' || n - 2 >= sizeof text)
        return -1;
    memcpy(text, s + 1, n - 2);
    text[n - 2] = '\0';
    return inet_pton(AF_INET6, text, a) == 1 ? 0 : -1;
}

/* ---- origins ----------------------------------------------------------------- */

/* The URL standard's "ends in a number": the last label is all digits or
 * 0x-hex, so browsers parse the host as IPv4 or reject it. */
static int ea_ends_in_number(const char *s, size_t n)
{
    const char *label;
    size_t len, i, from = 0;
    int hex = 0;

    if (n > 0 && s[n - 1] == '.')
        n--;
    for (i = n; i > 0 && s[i - 1] != '.'; i--)
        ;
    label = s + i;
    len = n - i;
    if (len == 0)
        return 0;
    if (len >= 2 && label[0] == '0' && ea_lower((unsigned char)label[1]) == 'x') {
        hex = 1;
        from = 2;
    }
    for (i = from; i < len; i++)
        if (!(hex ? ea_is_hex : ea_is_digit)((unsigned char)label[i]))
            return 0;
    return 1;
}

/* A number-ending host must be a plain dotted quad ("127.0.0.1"), the only
 * form a browser sends; inet_pton takes no other. */
static int ea_ipv4_canonical(const char *s, size_t n)
{
    char text[16];
    struct in_addr a;

    if (n >= sizeof text)
        return 0;
    memcpy(text, s, n);
    text[n] = '\0';
    return inet_pton(AF_INET, text, &a) == 1;
}

/* The origin's host [s, s+n) serialized into out (EA_ORIGIN_MAX bytes). */
static int ea_origin_host(const char *s, size_t n, char *out)
{
    unsigned char a[16];
    size_t i;

    if (n > 0 && s[0] == '[') {
        if (ea_ipv6_bracketed(s, n, a) < 0)
            return -1;
        out[0] = '[';
        ea_ipv6_format(a, out + 1);
        strcat(out, "]");
        return 0;
    }
    if (!ea_dns_name_ok(s, n, 1))
        return -1;
    if (ea_ends_in_number(s, n) && !ea_ipv4_canonical(s, n))
        return -1;
    for (i = 0; i < n; i++)
        out[i] = (char)ea_lower((unsigned char)s[i]);
    out[n] = '\0';
    return 0;
}

/* The serialized origin into out (EA_ORIGIN_MAX bytes), or -1. */
static int ea_origin_norm(const char *origin, char *out)
{
    const char *scheme, *host, *hend, *end;
    char hostbuf[EA_ORIGIN_MAX];
    long port = 0, defport;

    if (origin == NULL)
        return -1;
    if (ea_has_prefix(origin, "https://")) {
        scheme = "https";
        defport = 443;
    } else if (ea_has_prefix(origin, "http://")) {
        scheme = "http";
        defport = 80;
    } else {
        return -1;
    }
    host = origin + strlen(scheme) + 3;
    end = host + strcspn(host, "/");
    if (*end == '/' && end[1] != '\0')
        return -1;
    if (*host == '[') {
        hend = memchr(host, ']', (size_t)(end - host));
        hend = hend != NULL ? hend + 1 : end;   /* no ']': rejected below */
    } else {
        hend = host + strcspn(host, ":/");
    }
    if (hend < end && (*hend != ':'
                       || (port = ea_port_parse(hend + 1, (size_t)(end - hend - 1))) < 0))
        return -1;
    if (ea_origin_host(host, (size_t)(hend - host), hostbuf) < 0)
        return -1;
    if (port == defport || port == 0)
        snprintf(out, EA_ORIGIN_MAX, "%s://%s", scheme, hostbuf);
    else
        snprintf(out, EA_ORIGIN_MAX, "%s://%s:%ld", scheme, hostbuf, port);
    return 0;
}

char *ea_origin_normalize(apr_pool_t *p, const char *origin)
{
    char buf[EA_ORIGIN_MAX];

    return ea_origin_norm(origin, buf) == 0 ? apr_pstrdup(p, buf) : NULL;
}

int ea_origin_allowed(const apr_array_header_t *normalized_list,
                      const char *origin)
{
    char buf[EA_ORIGIN_MAX];
    int i;

    if (normalized_list == NULL || ea_origin_norm(origin, buf) < 0)
        return 0;
    for (i = 0; i < normalized_list->nelts; i++) {
        const char *allowed = APR_ARRAY_IDX(normalized_list, i, const char *);
        if (allowed != NULL && strcmp(allowed, buf) == 0)
            return 1;
    }
    return 0;
}

/* ---- allowed hosts ------------------------------------------------------------ */

/* The host part of a Host header host[:port], without one trailing '.';
 * -1 when the header is not that (Django's host_validation_re, with the
 * IPv6 literal and the port really checked). */
static int ea_host_part(const char *h, const char **host, size_t *n)
{
    unsigned char a[16];
    const char *hend;

    if (*h == '[') {
        hend = strchr(h, ']');
        if (hend == NULL || ea_ipv6_bracketed(h, (size_t)(++hend - h), a) < 0)
            return -1;
    } else {
        hend = h + strcspn(h, ":");
        if (!ea_dns_name_ok(h, (size_t)(hend - h), 0))
            return -1;
    }
    if (*hend != '\0' && (*hend != ':' || ea_port_parse(hend + 1, strlen(hend + 1)) < 0))
        return -1;
    *host = h;
    *n = (size_t)(hend - h);
    if (h[*n - 1] == '.')
        (*n)--;
    return 0;
}

/* Django's is_same_domain(host, pattern), case-insensitively. */
static int ea_host_matches(const char *host, size_t n, const char *pattern)
{
    size_t pn = strlen(pattern);

    if (pattern[0] == '.')
        return ea_ieq(host, n, pattern + 1, pn - 1)
            || (n > pn && ea_ieq(host + n - pn, pn, pattern, pn));
    return ea_ieq(host, n, pattern, pn);
}

int ea_host_allowed(const apr_array_header_t *patterns, const char *host_header)
{
    const char *host;
    size_t n;
    int i;

    if (patterns == NULL || host_header == NULL
        || ea_host_part(host_header, &host, &n) < 0)
        return 0;
    for (i = 0; i < patterns->nelts; i++) {
        const char *pattern = APR_ARRAY_IDX(patterns, i, const char *);
        if (pattern == NULL)
            continue;
        if (strcmp(pattern, "*") == 0 || ea_host_matches(host, n, pattern))
            return 1;
    }
    return 0;
}

/* ---- client keys -------------------------------------------------------------- */

/* A zone id after '%' as APR prints it: an interface name or index. */
static int ea_zone_ok(const char *z)
{
    size_t n = strlen(z), i;

    if (n == 0 || n > 63)
        return 0;
    for (i = 0; i < n; i++)
        if (!ea_is_alnum((unsigned char)z[i]) && !strchr("._-", z[i]))
            return 0;
    return 1;
}

/* The IPv4 address carried in a: ::ffff:a.b.c.d (mapped) or
 * 64:ff9b::a.b.c.d (NAT64 well-known prefix, RFC 6052); NULL otherwise. */
static const unsigned char *ea_embedded_ipv4(const unsigned char a[16])
{
    static const unsigned char mapped[12] = {0,0,0,0, 0,0,0,0, 0,0,0xff,0xff};
    static const unsigned char nat64[12] = {0,0x64,0xff,0x9b, 0,0,0,0, 0,0,0,0};

    if (memcmp(a, mapped, 12) == 0 || memcmp(a, nat64, 12) == 0)
        return a + 12;
    return NULL;
}

static int ea_key_fail(char *out, size_t outlen)
{
    if (outlen > 0)
        out[0] = '\0';
    return -1;
}

/* Print the IPv4 address a, or its IPv6 /64 when v6. */
static int ea_key_print(char *out, size_t outlen, const unsigned char *a, int v6)
{
    char text[EA_IPV6_TEXT];
    int n;

    if (inet_ntop(v6 ? AF_INET6 : AF_INET, a, text, sizeof text) == NULL)
        return ea_key_fail(out, outlen);
    n = snprintf(out, outlen, v6 ? "%s/64" : "%s", text);
    if (n < 0 || (size_t)n >= outlen)
        return ea_key_fail(out, outlen);
    return 0;
}

int ea_client_key(char *out, size_t outlen, const char *ip)
{
    char text[EA_IPV6_TEXT];
    unsigned char a[16];
    const unsigned char *v4;
    size_t n;

    if (out == NULL)
        return -1;
    if (ip == NULL || (n = strcspn(ip, "%")) >= sizeof text)
        return ea_key_fail(out, outlen);
    memcpy(text, ip, n);
    text[n] = '\0';
    if (ip[n] == '\0' && inet_pton(AF_INET, text, a) == 1)
        return ea_key_print(out, outlen, a, 0);
    if (inet_pton(AF_INET6, text, a) != 1
        || (ip[n] == '%' && !ea_zone_ok(ip + n + 1)))
        return ea_key_fail(out, outlen);
    if ((v4 = ea_embedded_ipv4(a)) != NULL)
        return ea_key_print(out, outlen, v4, 0);
    memset(a + 8, 0, 8);    /* one subscriber, one /64 */
    return ea_key_print(out, outlen, a, 1);
}
