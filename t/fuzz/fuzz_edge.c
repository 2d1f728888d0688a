/* libFuzzer target for ea_edge: rate specs, origins, allowed hosts and
 * client keys, each given the whole input, with their invariants checked. */
#include "ea_edge.h"
#include "ea_redis.h"

#include <apr_general.h>
#include <apr_strings.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void ea_fz_check(int ok)
{
    if (!ok)
        abort();
}

static void ea_fz_init(apr_pool_t **pool)
{
    static int done;

    if (!done) {
        apr_initialize();
        atexit(apr_terminate);
        done = 1;
    }
    apr_pool_create(pool, NULL);
}

static apr_array_header_t *ea_fz_list(apr_pool_t *p, const char *only)
{
    apr_array_header_t *a = apr_array_make(p, 1, sizeof(const char *));

    APR_ARRAY_PUSH(a, const char *) = only;
    return a;
}

/* A parsed rate re-parses the same from its shortest spelling. */
static void ea_fz_rate(const char *s)
{
    long count = -1, secs = -1, c2 = 0, s2 = 0;
    const char *err = NULL;
    char text[32];

    if (ea_rate_parse(s, &count, &secs, &err) < 0) {
        ea_fz_check(err != NULL && *err != '\0' && count == -1 && secs == -1);
        return;
    }
    ea_fz_check(err == NULL && count >= 1 && count <= EA_RATE_MAX_COUNT);
    ea_fz_check(secs == 1 || secs == 60 || secs == 3600 || secs == 86400);
    ea_fz_check(strspn(s, "0123456789") == (size_t)(strchr(s, '/') - s));
    snprintf(text, sizeof text, "%ld/%c", count,
             secs == 1 ? 's' : secs == 60 ? 'm' : secs == 3600 ? 'h' : 'd');
    ea_fz_check(ea_rate_parse(text, &c2, &s2, NULL) == 0 && c2 == count && s2 == secs);
}

/* A normalized origin is a fixed point, lower-case, matches its source,
 * and nothing longer or shorter matches it. */
static void ea_fz_origin(apr_pool_t *p, const char *s)
{
    char *n = ea_origin_normalize(p, s), *again;
    apr_array_header_t *l;
    size_t len, i;

    if (n == NULL) {
        ea_fz_check(!ea_origin_allowed(ea_fz_list(p, s), s));
        return;
    }
    len = strlen(n);
    ea_fz_check(len < 280 && len <= strlen(s) + 1);
    ea_fz_check(strncmp(n, "http://", 7) == 0 || strncmp(n, "https://", 8) == 0);
    for (i = 0; i < len; i++)
        ea_fz_check(n[i] > ' ' && n[i] < 0x7f && !(n[i] >= 'A' && n[i] <= 'Z')
                    && !strchr("?#@\\%", n[i]));
    ea_fz_check(n[len - 1] != '/');
    again = ea_origin_normalize(p, n);
    ea_fz_check(again != NULL && strcmp(again, n) == 0);
    l = ea_fz_list(p, n);
    ea_fz_check(ea_origin_allowed(l, s) && ea_origin_allowed(l, n));
    ea_fz_check(!ea_origin_allowed(l, apr_pstrcat(p, n, ".evil.com", NULL)));
    ea_fz_check(!ea_origin_allowed(l, apr_pstrcat(p, n, "x", NULL)));
    ea_fz_check(!ea_origin_allowed(l, apr_pstrndup(p, n, len - 1)));
}

/* The host part of a header "*" accepts, as the pattern that names it. */
static char *ea_fz_host_part(apr_pool_t *p, const char *s)
{
    size_t n = s[0] == '[' ? (size_t)(strchr(s, ']') - s) + 1 : strcspn(s, ":");
    char *h = apr_pstrndup(p, s, n);
    size_t i;

    if (n > 0 && h[n - 1] == '.')
        h[n - 1] = '\0';
    for (i = 0; h[i] != '\0'; i++)
        if (h[i] >= 'A' && h[i] <= 'Z')
            h[i] = (char)(h[i] + 32);
    return h;
}

static void ea_fz_host(apr_pool_t *p, const char *s)
{
    char *host;

    if (!ea_host_allowed(ea_fz_list(p, "*"), s)) {
        ea_fz_check(!ea_host_allowed(ea_fz_list(p, s), s));
        ea_fz_check(!ea_host_allowed(ea_fz_list(p, apr_pstrcat(p, ".", s, NULL)), s));
        return;
    }
    host = ea_fz_host_part(p, s);
    ea_fz_check(*host != '\0');
    ea_fz_check(ea_host_allowed(ea_fz_list(p, host), s));
    ea_fz_check(!ea_host_allowed(ea_fz_list(p, apr_pstrcat(p, "x", host, NULL)), s));
    ea_fz_check(!ea_host_allowed(ea_fz_list(p, apr_pstrcat(p, host, "x", NULL)), s));
    if (*host != '[') {
        ea_fz_check(ea_host_allowed(ea_fz_list(p, apr_pstrcat(p, ".", host, NULL)), s));
        ea_fz_check(!ea_host_allowed(ea_fz_list(p, apr_pstrcat(p, ".x.", host, NULL)), s));
    }
}

/* A key is its own key (bar the NAT64 /64), and fits any buffer that
 * holds it, and no smaller one. */
static void ea_fz_key(const char *s, size_t size)
{
    char out[EA_CLIENT_KEY_SIZE], again[EA_CLIENT_KEY_SIZE], prefix[EA_CLIENT_KEY_SIZE];
    char small[20];
    size_t len, outlen = size % sizeof small;
    int rc = ea_client_key(out, sizeof out, s);

    if (rc < 0) {
        ea_fz_check(rc == -1 && out[0] == '\0');
        ea_fz_check(ea_client_key(small, outlen, s) == -1);
        return;
    }
    len = strlen(out);
    ea_fz_check(len > 0 && len < sizeof out);
    if (strchr(out, '/') != NULL) {
        ea_fz_check(len > 3 && strcmp(out + len - 3, "/64") == 0 && strchr(out, ':'));
        memcpy(prefix, out, len - 3);
        prefix[len - 3] = '\0';
        ea_fz_check(ea_client_key(again, sizeof again, prefix) == 0);
        ea_fz_check(strcmp(again, out) == 0 || strcmp(out, "64:ff9b::/64") == 0);
    } else {
        ea_fz_check(strchr(out, ':') == NULL);
        ea_fz_check(ea_client_key(again, sizeof again, out) == 0 && strcmp(again, out) == 0);
    }
    rc = ea_client_key(small, outlen, s);
    ea_fz_check(len < outlen ? rc == 0 && strcmp(small, out) == 0 : rc == -1);
}

/* s with every byte but letters, digits, '.', '-', '_' (and '/' with slash) %-escaped. */
static const char *ea_fz_pct_as(apr_pool_t *p, const char *s, int slash)
{
    char *out = apr_palloc(p, strlen(s) * 3 + 1), *o = out;

    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        if ((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9')
            || (*c == '/' && slash) || *c == '.' || *c == '-' || *c == '_')
            *o++ = (char)*c;
        else
            o += sprintf(o, "%%%02X", *c);
    }
    *o = '\0';
    return out;
}

/* %-encoded for a path (slash kept) or for the authority's user information
 * (where a slash would end the authority). */
static const char *ea_fz_pct(apr_pool_t *p, const char *s)
{
    return ea_fz_pct_as(p, s, 1);
}

static const char *ea_fz_pct_user(apr_pool_t *p, const char *s)
{
    return ea_fz_pct_as(p, s, 0);
}

/* Redis URLs (ea_redis.h): a parsed URL is TCP xor Unix socket, within
 * range, and re-parses the same from its canonical spelling. */
static void ea_fz_redis_url(apr_pool_t *p, const char *s)
{
    ea_redis_url u, u2;
    const char *err = NULL;
    const char *text, *cred = "";

    if (ea_redis_url_parse(s, &u, &err) != 0) {
        ea_fz_check(err != NULL && *err != '\0');
        return;
    }
    ea_fz_check(u.db >= 0 && u.db <= 65535);
    ea_fz_check((u.host[0] != '\0') != (u.path[0] != '\0'));
    ea_fz_check(u.is_unix == (u.path[0] != '\0'));
    ea_fz_check((ea_redis_url_no_credentials(&u) == NULL) == !(u.has_username || u.has_password));
    if (u.has_password)
        cred = apr_psprintf(p, "%s:%s@", u.has_username ? ea_fz_pct_user(p, u.username) : "",
                            ea_fz_pct_user(p, u.password));
    else if (u.has_username)
        cred = apr_psprintf(p, "%s@", ea_fz_pct_user(p, u.username));
    if (u.path[0]) {
        ea_fz_check(u.path[0] == '/' && strlen(u.path) < sizeof u.path);
        text = apr_psprintf(p, "unix://%s%s?db=%d", cred, ea_fz_pct(p, u.path), u.db);
    } else {
        ea_fz_check(u.port >= 1 && u.port <= 65535 && !strpbrk(u.host, "@/?#[] "));
        text = apr_psprintf(p, strchr(u.host, ':') ? "redis://%s[%s]:%d/%d" : "redis://%s%s:%d/%d",
                            cred, u.host, u.port, u.db);
    }
    ea_fz_check(ea_redis_url_parse(text, &u2, NULL) == 0);
    ea_fz_check(memcmp(&u, &u2, sizeof u) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p;
    char *s;

    ea_fz_init(&p);
    s = apr_pstrmemdup(p, (const char *)data, size);
    ea_fz_rate(s);
    ea_fz_origin(p, s);
    ea_fz_host(p, s);
    ea_fz_key(s, size);
    ea_fz_redis_url(p, s);
    apr_pool_destroy(p);
    return 0;
}
