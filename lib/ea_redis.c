/* ea_redis: see ea_redis.h. */
#include "ea_redis.h"
#include "ea_buf.h"     /* ea_hex */
#include "ea_params.h"   /* ea_hexval */

#include <apr_strings.h>
#include <openssl/evp.h>

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>

/* ---- URLs ------------------------------------------------------------------- */

/* %-decode s[0..n) into out (size outlen); -1 when an escape is malformed
 * or decodes to NUL, -2 when out is too short. */
static int url_decode(char *out, size_t outlen, const char *s, size_t n)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '%') {
            int hi, lo;
            if (i + 2 >= n)
                return -1;
            hi = ea_hexval((unsigned char)s[i + 1]);
            lo = ea_hexval((unsigned char)s[i + 2]);
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
                return -1;
            c = (char)(hi * 16 + lo);
            i += 2;
        }
        if (o + 1 >= outlen)
            return -2;
        out[o++] = c;
    }
    out[o] = '\0';
    return 0;
}

/* A decimal integer lo..hi in s[0..n). */
static int url_int(const char *s, size_t n, long lo, long hi, int *out)
{
    long v = 0;
    if (n == 0 || n > 9)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    if (v < lo || v > hi)
        return -1;
    *out = (int)v;
    return 0;
}

/* A value given twice (?username=a&username=b): the last one, and nothing
 * of the first left behind its end. */
static int url_user(ea_redis_url *u, const char *s, size_t n, const char **err)
{
    memset(u->username, 0, sizeof u->username);
    int rc = url_decode(u->username, sizeof u->username, s, n);
    if (rc != 0) {
        *err = rc == -2 ? "the user name is longer than 255 bytes" : "malformed %-escape in the user name";
        return -1;
    }
    u->has_username = u->username[0] != '\0';   /* "": none */
    return 0;
}

static int url_password(ea_redis_url *u, const char *s, size_t n, const char **err)
{
    memset(u->password, 0, sizeof u->password);
    int rc = url_decode(u->password, sizeof u->password, s, n);
    if (rc != 0) {
        *err = rc == -2 ? "the password is longer than 511 bytes" : "malformed %-escape in the password";
        return -1;
    }
    u->has_password = 1;
    return 0;
}

/* ?db=N&password=X (also virtual_host=N, Celery's name for the db). */
static int url_query(const char *q, ea_redis_url *u, const char **err)
{
    while (*q) {
        size_t n = strcspn(q, "&");
        const char *eq = memchr(q, '=', n);
        if (eq == NULL) {
            *err = "malformed query parameter (expected name=value)";
            return -1;
        }
        size_t kn = (size_t)(eq - q), vn = n - kn - 1;
        if ((kn == 2 && strncmp(q, "db", 2) == 0) || (kn == 12 && strncmp(q, "virtual_host", 12) == 0)) {
            if (url_int(eq + 1, vn, 0, 65535, &u->db) != 0) {
                *err = "the database number must be an integer from 0 to 65535";
                return -1;
            }
        }
        else if (kn == 8 && strncmp(q, "password", 8) == 0) {
            if (url_password(u, eq + 1, vn, err) != 0)
                return -1;
        }
        else if (kn == 8 && strncmp(q, "username", 8) == 0) {
            if (url_user(u, eq + 1, vn, err) != 0)
                return -1;
        }
        else {
            *err = "unknown query parameter (db, password, username)";
            return -1;
        }
        q += n;
        if (*q == '&')
            q++;
    }
    return 0;
}

/* [user][:password] of the authority (before its last '@'). */
static int url_userinfo(const char *s, size_t n, ea_redis_url *u, const char **err)
{
    const char *colon = memchr(s, ':', n);
    if (colon == NULL)
        return n ? url_user(u, s, n, err) : 0;
    if (colon > s && url_user(u, s, (size_t)(colon - s), err) != 0)
        return -1;
    return url_password(u, colon + 1, n - (size_t)(colon - s) - 1, err);
}

static int url_unix(const char *url, ea_redis_url *u, const char **err)
{
    const char *rest = strstr(url, "://") + 3, *slash = strchr(rest, '/'), *q;
    size_t pn;
    if (slash == NULL) {
        *err = "expected unix:///path/to/redis.sock[?db=N]";
        return -1;
    }
    if (slash > rest) {
        /* unix://:password@/path */
        const char *at = memchr(rest, '@', (size_t)(slash - rest));
        if (at == NULL || at + 1 != slash) {
            *err = "expected unix:///path/to/redis.sock (an absolute path, no host)";
            return -1;
        }
        if (url_userinfo(rest, (size_t)(at - rest), u, err) != 0)
            return -1;
    }
    q = strchr(slash, '?');
    pn = q ? (size_t)(q - slash) : strlen(slash);
    if (pn < 2) {
        *err = "expected unix:///path/to/redis.sock (a socket path)";
        return -1;
    }
    if (memchr(slash, '#', pn)) {
        *err = "no fragment allowed";
        return -1;
    }
    switch (url_decode(u->path, sizeof u->path, slash, pn)) {
    case 0:
        break;
    case -2:
        *err = "the socket path is longer than 107 bytes";
        return -1;
    default:
        *err = "malformed %-escape in the socket path";
        return -1;
    }
    u->is_unix = 1;
    u->port = 0;
    return q ? url_query(q + 1, u, err) : 0;
}

static int url_tcp(const char *url, ea_redis_url *u, const char **err)
{
    const char *rest = url + 8, *hostp = rest, *portp = NULL, *q;
    size_t an = strcspn(rest, "/?"), hn;
    const char *auth_end = rest + an;
    for (const char *c = rest; c < auth_end; c++)
        if (*c == '@')
            hostp = c + 1;
    if (hostp > rest && url_userinfo(rest, (size_t)(hostp - 1 - rest), u, err) != 0)
        return -1;
    hn = (size_t)(auth_end - hostp);
    if (hn > 0 && *hostp == '[') {   /* IPv6 literal */
        const char *close = memchr(hostp, ']', hn);
        if (close == NULL) {
            *err = "unterminated [IPv6 address]";
            return -1;
        }
        if (close - hostp < 3) {
            *err = "bad IPv6 address";
            return -1;
        }
        for (const char *c = hostp + 1; c < close; c++)
            if (!isxdigit((unsigned char)*c) && *c != ':' && *c != '.') {
                *err = "bad IPv6 address";
                return -1;
            }
        if ((size_t)(close - hostp - 1) >= sizeof u->host) {
            *err = "host too long";
            return -1;
        }
        memcpy(u->host, hostp + 1, (size_t)(close - hostp - 1));
        u->host[close - hostp - 1] = '\0';
        if (close + 1 < auth_end) {
            if (close[1] != ':') {
                *err = "unexpected characters after ]";
                return -1;
            }
            portp = close + 2;
        }
    }
    else {
        const char *colon = memchr(hostp, ':', hn);
        size_t n = colon ? (size_t)(colon - hostp) : hn;
        if (n == 0) {
            *err = "no host name (for a Unix socket: unix:///path/to/redis.sock)";
            return -1;
        }
        if (n > 253) {
            *err = "host too long";
            return -1;
        }
        for (const char *c = hostp; c < hostp + n; c++)
            if (!isalnum((unsigned char)*c) && *c != '-' && *c != '.' && *c != '_') {
                *err = "bad character in host";
                return -1;
            }
        memcpy(u->host, hostp, n);
        u->host[n] = '\0';
        if (colon)
            portp = colon + 1;
    }
    if (portp && url_int(portp, (size_t)(auth_end - portp), 1, 65535, &u->port) != 0) {
        *err = "the port must be an integer from 1 to 65535";
        return -1;
    }
    q = strchr(auth_end, '?');
    if (*auth_end == '/') {
        size_t dn = q ? (size_t)(q - auth_end - 1) : strlen(auth_end + 1);
        if (dn > 0 && auth_end[dn] == '/')
            dn--;       /* redis://host/2/ */
        if (dn > 0 && url_int(auth_end + 1, dn, 0, 65535, &u->db) != 0) {
            *err = "the path must be a database number from 0 to 65535 (redis://host:6379/0)";
            return -1;
        }
    }
    return q ? url_query(q + 1, u, err) : 0;
}

int ea_redis_url_parse(const char *url, ea_redis_url *u, const char **err)
{
    const char *dummy;
    if (err == NULL)
        err = &dummy;
    memset(u, 0, sizeof *u);
    u->port = 6379;
    if (url == NULL || *url == '\0') {
        *err = "empty URL";
        return -1;
    }
    for (const char *c = url; *c; c++) {
        if ((unsigned char)*c <= ' ' || *c == 0x7f) {
            *err = "spaces or control characters in the URL";
            return -1;
        }
    }
    int rc;
    if (strncasecmp(url, "rediss://", 9) == 0) {
        *err = "rediss:// (TLS) is not supported: use a Unix socket or a TLS tunnel (stunnel)";
        rc = -1;
    }
    else if (strncasecmp(url, "unix://", 7) == 0 || strncasecmp(url, "redis+socket://", 15) == 0) {
        rc = url_unix(url, u, err);
    }
    else if (strncasecmp(url, "redis://", 8) == 0) {
        rc = url_tcp(url, u, err);
    }
    else {
        *err = "expected redis://host[:port][/db] or unix:///path/to/redis.sock[?db=N]";
        rc = -1;
    }
    if (rc != 0) {
        /* no half-parsed password left behind */
        memset(u, 0, sizeof *u);
        u->port = 6379;
    }
    return rc;
}

const char *ea_redis_url_no_credentials(const ea_redis_url *u)
{
    if (u->has_username || u->has_password)
        return "no user or password allowed (use Redis ACLs on a private network)";
    return NULL;
}

const char *ea_redis_url_redact(apr_pool_t *p, const char *url)
{
    const char *s = strstr(url ? url : "", "://"), *out;
    if (url == NULL)
        return "";
    out = url;
    if (s != NULL) {
        const char *auth = s + 3;
        size_t an = strcspn(auth, "/?");
        const char *at = NULL;
        for (const char *c = auth; c < auth + an; c++)
            if (*c == '@')
                at = c;
        if (at != NULL) {
            const char *colon = memchr(auth, ':', (size_t)(at - auth));
            if (colon != NULL)
                out = apr_pstrcat(p, apr_pstrmemdup(p, url, (size_t)(colon + 1 - url)), "****", at, NULL);
        }
    }
    const char *pw = strstr(out, "password=");
    if (pw != NULL && strchr(out, '?') != NULL && strchr(out, '?') < pw) {
        const char *end = pw + strcspn(pw, "&");
        out = apr_pstrcat(p, apr_pstrmemdup(p, out, (size_t)(pw + 9 - out)), "****", end, NULL);
    }
    return out;
}

const char *ea_redis_url_where(const ea_redis_url *u, char *buf, size_t n)
{
    if (u->is_unix)
        snprintf(buf, n, "%s", u->path);
    else
        snprintf(buf, n, "%s:%d", u->host, u->port);
    return buf;
}

/* ---- connections ---------------------------------------------------------------- */

static void set_detail(char *buf, size_t len, const char *s)
{
    if (buf && len)
        snprintf(buf, len, "%s", s ? s : "");
}

/* One command during the handshake: 0, or -1 with the detail in errbuf. */
static int handshake(redisContext *c, int argc, const char **argv, char *errbuf, size_t errlen)
{
    redisReply *r = redisCommandArgv(c, argc, argv, NULL);
    if (r == NULL) {
        set_detail(errbuf, errlen, c->errstr[0] ? c->errstr : "no reply");
        return -1;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        set_detail(errbuf, errlen, r->str);
        freeReplyObject(r);
        return -1;
    }
    freeReplyObject(r);
    return 0;
}

redisContext *ea_redis_connect(const ea_redis_url *u, int timeout_ms, int flags, ea_redis_fail *fail,
                               char *errbuf, size_t errlen)
{
    struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };
    redisContext *c = u->is_unix ? redisConnectUnixWithTimeout(u->path, tv)
                                 : redisConnectWithTimeout(u->host, u->port, tv);
    ea_redis_fail dummy;
    if (fail == NULL)
        fail = &dummy;
    *fail = EA_REDIS_FAIL_CONNECT;
    if (c == NULL) {
        set_detail(errbuf, errlen, "out of memory");
        return NULL;
    }
    if (c->err) {
        set_detail(errbuf, errlen, c->errstr);
        redisFree(c);
        return NULL;
    }
    if (redisSetTimeout(c, tv) != REDIS_OK) {
        *fail = EA_REDIS_FAIL_TIMEOUT;
        set_detail(errbuf, errlen, c->errstr);
        redisFree(c);
        return NULL;
    }
    if ((flags & EA_REDIS_KEEPALIVE) && !u->is_unix)
        redisEnableKeepAlive(c);
    if (u->has_password) {
        const char *argv[3] = { "AUTH", u->has_username ? u->username : u->password, u->password };
        if (handshake(c, u->has_username ? 3 : 2, argv, errbuf, errlen) != 0) {
            *fail = EA_REDIS_FAIL_AUTH;
            redisFree(c);
            return NULL;
        }
    }
    if (u->db != 0) {
        char db[16];
        snprintf(db, sizeof db, "%d", u->db);
        const char *argv[2] = { "SELECT", db };
        if (handshake(c, 2, argv, errbuf, errlen) != 0) {
            *fail = EA_REDIS_FAIL_SELECT;
            redisFree(c);
            return NULL;
        }
    }
    *fail = EA_REDIS_OK;
    return c;
}

int ea_redis_conn_gone(const redisContext *c)
{
    return c->err == REDIS_ERR_EOF || (c->err == REDIS_ERR_IO && (errno == ECONNRESET || errno == EPIPE));
}

/* ---- scripts ------------------------------------------------------------------------ */

void ea_redis_script_init(ea_redis_script *s, const char *body)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    s->body = body;
    s->sha[0] = '\0';
    if (EVP_Digest(body, strlen(body), md, &n, EVP_sha1(), NULL) != 1 || n != 20)
        return;     /* sha stays empty: EVAL every time */
    ea_hex(s->sha, md, n);
}

int ea_redis_script_load(redisContext *c, ea_redis_script *s, const char *body, char *errbuf,
                         size_t errlen)
{
    redisReply *r = redisCommand(c, "SCRIPT LOAD %s", body);
    s->body = body;
    s->sha[0] = '\0';
    if (r == NULL || r->type != REDIS_REPLY_STRING || r->len >= sizeof s->sha) {
        set_detail(errbuf, errlen, r && r->type == REDIS_REPLY_ERROR ? r->str : c->errstr);
        if (r)
            freeReplyObject(r);
        return -1;
    }
    memcpy(s->sha, r->str, r->len);
    s->sha[r->len] = '\0';
    freeReplyObject(r);
    return 0;
}

int ea_redis_noscript(const redisReply *r)
{
    return r->type == REDIS_REPLY_ERROR && strncmp(r->str, "NOSCRIPT", 8) == 0;
}

#define EA_REDIS_SCRIPT_ARGS 12

/* EVALSHA/EVAL argv; the number of arguments, or -1 when too many. */
static int script_argv(const ea_redis_script *s, int eval_body, int nkeys, const char *const *keys,
                       int nargs, const char *const *args, const char **argv, char nk[8])
{
    int argc = 0;
    if (nkeys < 0 || nargs < 0 || nkeys + nargs > EA_REDIS_SCRIPT_ARGS)
        return -1;
    if (!s->sha[0])
        eval_body = 1;
    snprintf(nk, 8, "%d", nkeys);
    argv[argc++] = eval_body ? "EVAL" : "EVALSHA";
    argv[argc++] = eval_body ? s->body : s->sha;
    argv[argc++] = nk;
    for (int i = 0; i < nkeys; i++)
        argv[argc++] = keys[i];
    for (int i = 0; i < nargs; i++)
        argv[argc++] = args[i];
    return argc;
}

int ea_redis_script_append(redisContext *c, const ea_redis_script *s, int eval_body, int nkeys,
                           const char *const *keys, int nargs, const char *const *args)
{
    const char *argv[EA_REDIS_SCRIPT_ARGS + 3];
    char nk[8];
    int argc = script_argv(s, eval_body, nkeys, keys, nargs, args, argv, nk);
    if (argc < 0)
        return REDIS_ERR;
    return redisAppendCommandArgv(c, argc, argv, NULL);
}

redisReply *ea_redis_script_run(redisContext *c, const ea_redis_script *s, int nkeys,
                                const char *const *keys, int nargs, const char *const *args)
{
    const char *argv[EA_REDIS_SCRIPT_ARGS + 3];
    char nk[8];
    redisReply *r = NULL;
    for (int round = 0; round < 2; round++) {
        int argc = script_argv(s, round, nkeys, keys, nargs, args, argv, nk);
        if (argc < 0)
            return NULL;
        r = redisCommandArgv(c, argc, argv, NULL);
        if (r == NULL || round == 1 || !ea_redis_noscript(r))
            return r;
        /* SCRIPT FLUSH, a restarted Redis, or a failover to a server without it */
        freeReplyObject(r);
    }
    return r;
}
