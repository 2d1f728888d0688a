/* ea_task: reliable Redis task queue (see ea_task.h for the design). */
#include "ea_task.h"

#include <apr_strings.h>
#include <hiredis/hiredis.h>
#include <openssl/evp.h>

#include <pthread.h>
#include <stdarg.h>
#include <strings.h>

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/time.h>
#include <time.h>

/* ---- URLs --------------------------------------------------------------- */

static int url_hex(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* %-decode s[0..n); NULL when an escape is malformed or decodes to NUL. */
static char *url_decode(apr_pool_t *p, const char *s, size_t n)
{
    char *out = apr_palloc(p, n + 1), *o = out;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%') {
            int hi, lo;
            if (i + 2 >= n)
                return NULL;
            hi = url_hex((unsigned char)s[i + 1]);
            lo = url_hex((unsigned char)s[i + 2]);
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
                return NULL;
            *o++ = (char)(hi * 16 + lo);
            i += 2;
        }
        else {
            *o++ = s[i];
        }
    }
    *o = '\0';
    return out;
}

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

/* ?db=N&password=X (also virtual_host=N, Celery's name for the db). */
static int url_query(apr_pool_t *p, const char *q, ea_broker_url *u, const char **err)
{
    while (*q) {
        size_t n = strcspn(q, "&");
        const char *eq = memchr(q, '=', n);
        if (eq == NULL) {
            *err = apr_psprintf(p, "malformed query parameter '%.*s'", (int)n, q);
            return -1;
        }
        size_t kn = (size_t)(eq - q), vn = n - kn - 1;
        if ((kn == 2 && strncmp(q, "db", 2) == 0) || (kn == 12 && strncmp(q, "virtual_host", 12) == 0)) {
            if (url_int(eq + 1, vn, 0, 100000, &u->db) != 0) {
                *err = "the database number must be an integer from 0 to 100000";
                return -1;
            }
        }
        else if (kn == 8 && strncmp(q, "password", 8) == 0) {
            u->password = url_decode(p, eq + 1, vn);
            if (u->password == NULL) {
                *err = "malformed %-escape in the password";
                return -1;
            }
        }
        else if (kn == 8 && strncmp(q, "username", 8) == 0) {
            u->username = url_decode(p, eq + 1, vn);
            if (u->username == NULL) {
                *err = "malformed %-escape in the username";
                return -1;
            }
        }
        else {
            *err = apr_psprintf(p, "unknown query parameter '%.*s' (db, password, username)", (int)kn, q);
            return -1;
        }
        q += n;
        if (*q == '&')
            q++;
    }
    return 0;
}

/* user:password before the last '@' of the authority. */
static int url_userinfo(apr_pool_t *p, const char *s, size_t n, ea_broker_url *u, const char **err)
{
    const char *colon = memchr(s, ':', n);
    if (colon == NULL) {
        u->username = n ? url_decode(p, s, n) : NULL;
        if (n && u->username == NULL)
            goto bad;
        return 0;
    }
    if (colon > s) {
        u->username = url_decode(p, s, (size_t)(colon - s));
        if (u->username == NULL)
            goto bad;
    }
    u->password = url_decode(p, colon + 1, n - (size_t)(colon - s) - 1);
    if (u->password == NULL)
        goto bad;
    return 0;
bad:
    *err = "malformed %-escape in the user information";
    return -1;
}

int ea_broker_url_parse(apr_pool_t *p, const char *url, ea_broker_url *u, const char **err)
{
    const char *rest, *q;
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
    if (strncasecmp(url, "rediss://", 9) == 0) {
        *err = "rediss:// (TLS) is not supported: use a Unix socket or a TLS tunnel (stunnel)";
        return -1;
    }
    if (strncasecmp(url, "unix://", 7) == 0 || strncasecmp(url, "redis+socket://", 15) == 0) {
        rest = strstr(url, "://") + 3;
        const char *slash = strchr(rest, '/');
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
            if (url_userinfo(p, rest, (size_t)(at - rest), u, err) != 0)
                return -1;
        }
        q = strchr(slash, '?');
        size_t pn = q ? (size_t)(q - slash) : strlen(slash);
        u->is_unix = 1;
        u->path = url_decode(p, slash, pn);
        if (u->path == NULL || pn < 2) {
            *err = "expected unix:///path/to/redis.sock (a socket path)";
            return -1;
        }
        if (strlen(u->path) > 107) {
            *err = "the socket path is longer than 107 bytes";
            return -1;
        }
        return q ? url_query(p, q + 1, u, err) : 0;
    }
    if (strncasecmp(url, "redis://", 8) != 0) {
        *err = "expected redis://host[:port][/db] or unix:///path/to/redis.sock[?db=N]";
        return -1;
    }
    rest = url + 8;
    size_t an = strcspn(rest, "/?");
    const char *auth_end = rest + an, *hostp = rest;
    for (const char *c = rest; c < auth_end; c++)
        if (*c == '@')
            hostp = c + 1;
    if (hostp > rest && url_userinfo(p, rest, (size_t)(hostp - 1 - rest), u, err) != 0)
        return -1;
    size_t hn = (size_t)(auth_end - hostp);
    const char *portp = NULL;
    if (hn > 0 && *hostp == '[') {
        const char *close = memchr(hostp, ']', hn);
        if (close == NULL) {
            *err = "unterminated [IPv6 address]";
            return -1;
        }
        u->host = apr_pstrmemdup(p, hostp + 1, (size_t)(close - hostp - 1));
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
        u->host = apr_pstrmemdup(p, hostp, colon ? (size_t)(colon - hostp) : hn);
        if (colon)
            portp = colon + 1;
    }
    if (*u->host == '\0') {
        *err = "no host name (for a Unix socket: unix:///path/to/redis.sock)";
        return -1;
    }
    if (portp && url_int(portp, (size_t)(auth_end - portp), 1, 65535, &u->port) != 0) {
        *err = "the port must be an integer from 1 to 65535";
        return -1;
    }
    q = strchr(auth_end, '?');
    if (*auth_end == '/') {
        size_t dn = q ? (size_t)(q - auth_end - 1) : strlen(auth_end + 1);
        if (dn > 0 && url_int(auth_end + 1, dn, 0, 100000, &u->db) != 0) {
            *err = "the path must be a database number from 0 to 100000 (redis://host:6379/0)";
            return -1;
        }
    }
    return q ? url_query(p, q + 1, u, err) : 0;
}

const char *ea_broker_url_redact(apr_pool_t *p, const char *url)
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

/* ---- ids and times ---------------------------------------------------------- */

int ea_task_uuid4(char out[EA_TASK_ID_LEN + 1])
{
    unsigned char b[16];
    size_t got = 0;
    while (got < sizeof b) {
        ssize_t n = getrandom(b + got, sizeof b - got, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        got += (size_t)n;
    }
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    snprintf(out, EA_TASK_ID_LEN + 1,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
             b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12],
             b[13], b[14], b[15]);
    return 0;
}

int ea_task_id_valid(const char *id)
{
    if (id == NULL || strlen(id) != EA_TASK_ID_LEN)
        return 0;
    for (int i = 0; i < EA_TASK_ID_LEN; i++) {
        int dash = (i == 8 || i == 13 || i == 18 || i == 23);
        if (dash ? id[i] != '-' : !(isdigit((unsigned char)id[i]) || (id[i] >= 'a' && id[i] <= 'f')))
            return 0;
    }
    return 1;
}

void ea_task_now_iso(char out[32])
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, 32 - n, ".%06ldZ", (long)(ts.tv_nsec / 1000) % 1000000);
}

/* ---- connections -------------------------------------------------------------- */

typedef struct taskq_conn {
    ea_broker_url url;
    redisContext *c;
} taskq_conn;

struct ea_taskq {
    apr_pool_t *pool;
    taskq_conn broker, backend_own;
    taskq_conn *backend;        /* &broker when they are the same server */
    const char *prefix;
    int timeout_ms, visibility_ms, result_ttl_s, max_attempts;
    const char *worker;
    char err[512];
    /* key names */
    const char *k_queue, *k_processing, *k_delayed, *k_dead, *k_wakeup, *k_msg, *k_task;
};

static void q_seterr(ea_taskq *q, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void q_seterr(ea_taskq *q, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(q->err, sizeof q->err, fmt, ap);
    va_end(ap);
}

const char *ea_taskq_error(const ea_taskq *q)
{
    return q->err;
}

static struct timeval q_tv(int ms)
{
    struct timeval tv;
    tv.tv_sec = ms / 1000;
    tv.tv_usec = (ms % 1000) * 1000;
    return tv;
}

static const char *conn_where(const taskq_conn *k, char *buf, size_t n)
{
    if (k->url.is_unix)
        snprintf(buf, n, "%s", k->url.path);
    else
        snprintf(buf, n, "%s:%d", k->url.host, k->url.port);
    return buf;
}

static void conn_drop(taskq_conn *k)
{
    if (k->c != NULL) {
        redisFree(k->c);
        k->c = NULL;
    }
}

static redisReply *conn_cmd(ea_taskq *q, taskq_conn *k, int argc, const char **argv, const size_t *lens);

static int conn_ensure(ea_taskq *q, taskq_conn *k)
{
    char where[160];
    if (k->c != NULL)
        return 0;
    k->c = k->url.is_unix ? redisConnectUnixWithTimeout(k->url.path, q_tv(q->timeout_ms))
                          : redisConnectWithTimeout(k->url.host, k->url.port, q_tv(q->timeout_ms));
    if (k->c == NULL || k->c->err) {
        q_seterr(q, "cannot connect to Redis at %s: %s", conn_where(k, where, sizeof where),
                 k->c ? k->c->errstr : "out of memory");
        conn_drop(k);
        return -1;
    }
    redisSetTimeout(k->c, q_tv(q->timeout_ms));
    if (!k->url.is_unix)
        redisEnableKeepAlive(k->c);
    if (k->url.password != NULL) {
        const char *argv[3] = {"AUTH", k->url.username ? k->url.username : k->url.password,
                               k->url.password};
        redisReply *r = conn_cmd(q, k, k->url.username ? 3 : 2, argv, NULL);
        if (r == NULL)
            return -1;
        freeReplyObject(r);
    }
    if (k->url.db != 0) {
        char db[16];
        snprintf(db, sizeof db, "%d", k->url.db);
        const char *argv[2] = {"SELECT", db};
        redisReply *r = conn_cmd(q, k, 2, argv, NULL);
        if (r == NULL)
            return -1;
        freeReplyObject(r);
    }
    return 0;
}

/* One command; NULL (connection dropped or Redis error, q->err set) on failure. */
static redisReply *conn_cmd(ea_taskq *q, taskq_conn *k, int argc, const char **argv, const size_t *lens)
{
    char where[160];
    redisReply *r;
    if (conn_ensure(q, k) != 0)
        return NULL;
    r = redisCommandArgv(k->c, argc, argv, lens);
    if (r == NULL) {
        q_seterr(q, "Redis at %s: %s", conn_where(k, where, sizeof where),
                 k->c->errstr[0] ? k->c->errstr : "no reply");
        conn_drop(k);
        return NULL;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        q_seterr(q, "Redis at %s: %s (%s)", conn_where(k, where, sizeof where), r->str, argv[0]);
        freeReplyObject(r);
        return NULL;
    }
    return r;
}

/* Pipelines: append commands, then read every reply. */
static int pipe_append(ea_taskq *q, taskq_conn *k, int argc, const char **argv, const size_t *lens)
{
    if (conn_ensure(q, k) != 0)
        return -1;
    if (redisAppendCommandArgv(k->c, argc, argv, lens) != REDIS_OK) {
        q_seterr(q, "Redis: out of memory");
        conn_drop(k);
        return -1;
    }
    return 0;
}

/* Read n replies into rs (may be NULL to discard); -1 when the connection
 * failed (all replies freed), else the number of error replies. */
static int pipe_read(ea_taskq *q, taskq_conn *k, int n, redisReply **rs)
{
    char where[160];
    int errors = 0;
    for (int i = 0; i < n; i++) {
        redisReply *r = NULL;
        if (k->c == NULL || redisGetReply(k->c, (void **)&r) != REDIS_OK || r == NULL) {
            q_seterr(q, "Redis at %s: %s", conn_where(k, where, sizeof where),
                     k->c && k->c->errstr[0] ? k->c->errstr : "connection lost");
            conn_drop(k);
            if (rs != NULL)
                for (int j = 0; j < i; j++)
                    freeReplyObject(rs[j]), rs[j] = NULL;
            return -1;
        }
        if (r->type == REDIS_REPLY_ERROR) {
            errors++;
            q_seterr(q, "Redis at %s: %s", conn_where(k, where, sizeof where), r->str);
        }
        if (rs != NULL)
            rs[i] = r;
        else
            freeReplyObject(r);
    }
    return errors;
}

ea_taskq *ea_taskq_create(apr_pool_t *p, const ea_taskq_opts *o, const char **err)
{
    ea_taskq *q = apr_pcalloc(p, sizeof *q);
    const char *e;
    q->pool = p;
    if (o->broker_url == NULL || *o->broker_url == '\0') {
        *err = "no broker URL (EcoAtlasBrokerURL)";
        return NULL;
    }
    if (ea_broker_url_parse(p, o->broker_url, &q->broker.url, &e) != 0) {
        *err = apr_psprintf(p, "invalid broker URL '%s': %s", ea_broker_url_redact(p, o->broker_url), e);
        return NULL;
    }
    q->backend = &q->broker;
    if (o->backend_url != NULL && *o->backend_url && strcmp(o->backend_url, o->broker_url) != 0) {
        if (ea_broker_url_parse(p, o->backend_url, &q->backend_own.url, &e) != 0) {
            *err = apr_psprintf(p, "invalid result backend URL '%s': %s",
                                ea_broker_url_redact(p, o->backend_url), e);
            return NULL;
        }
        q->backend = &q->backend_own;
    }
    q->prefix = o->prefix ? o->prefix : "ecoatlas:";
    q->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : 2000;
    q->visibility_ms = o->visibility_ms > 0 ? o->visibility_ms : 30000;
    q->result_ttl_s = o->result_ttl_s > 0 ? o->result_ttl_s : 86400;
    q->max_attempts = o->max_attempts > 0 ? o->max_attempts : 4;
    q->worker = o->worker_name ? o->worker_name : "";
    q->k_queue = apr_pstrcat(p, q->prefix, "queue", NULL);
    q->k_processing = apr_pstrcat(p, q->prefix, "processing", NULL);
    q->k_delayed = apr_pstrcat(p, q->prefix, "delayed", NULL);
    q->k_dead = apr_pstrcat(p, q->prefix, "dead", NULL);
    q->k_wakeup = apr_pstrcat(p, q->prefix, "wakeup", NULL);
    q->k_msg = apr_pstrcat(p, q->prefix, "msg:", NULL);
    q->k_task = apr_pstrcat(p, q->prefix, "task:", NULL);
    return q;
}

void ea_taskq_close(ea_taskq *q)
{
    if (q == NULL)
        return;
    conn_drop(&q->broker);
    conn_drop(&q->backend_own);
}

apr_status_t ea_taskq_close_cleanup(void *q)
{
    ea_taskq_close(q);
    return APR_SUCCESS;
}

/* ---- scripts ------------------------------------------------------------------------
 * Run with EVALSHA; NOSCRIPT (a restarted Redis) falls back to EVAL, which
 * also caches the script again. */

typedef struct q_script {
    const char *body;
    char sha[41];       /* set once by q_scripts_init */
} q_script;

/* KEYS: queue processing delayed dead; ARGV: visibility_ms max lease_prefix
 * max_attempts msg_prefix.  Returns flat 7-tuples: id name args created
 * attempts lease dead. */
static q_script s_reserve = {
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "local due = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now, 'LIMIT', 0, 1000)\n"
    "for _, id in ipairs(due) do\n"
    "  redis.call('ZREM', KEYS[3], id)\n"
    "  redis.call('LPUSH', KEYS[1], id)\n"
    "end\n"
    "local lost = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, 1000)\n"
    "for _, id in ipairs(lost) do\n"
    "  redis.call('ZREM', KEYS[2], id)\n"
    "  redis.call('HDEL', ARGV[5] .. id, 'lease')\n"
    "  redis.call('RPUSH', KEYS[1], id)\n"
    "end\n"
    "local out = {}\n"
    "local want = tonumber(ARGV[2])\n"
    "local maxa = tonumber(ARGV[4])\n"
    "local got = 0\n"
    "while got < want do\n"
    "  local id = redis.call('RPOP', KEYS[1])\n"
    "  if not id then break end\n"
    "  local mk = ARGV[5] .. id\n"
    "  local m = redis.call('HMGET', mk, 'name', 'args', 'created')\n"
    "  if m[1] then\n"
    "    local a = redis.call('HINCRBY', mk, 'attempts', 1)\n"
    "    local lease = ARGV[3] .. ':' .. a .. ':' .. now\n"
    "    local dead = '0'\n"
    "    if a > maxa then\n"
    "      dead = '1'\n"
    "      redis.call('LPUSH', KEYS[4], cjson.encode({task_id = id, name = m[1], args = m[2],\n"
    "        error = 'delivered ' .. (a - 1) .. ' times without a result (worker lost or killed)',\n"
    "        attempts = a - 1, failed_at = now}))\n"
    "      redis.call('LTRIM', KEYS[4], 0, 9999)\n"
    "      redis.call('DEL', mk)\n"
    "    else\n"
    "      redis.call('HSET', mk, 'lease', lease)\n"
    "      redis.call('ZADD', KEYS[2], now + tonumber(ARGV[1]), id)\n"
    "    end\n"
    "    for _, v in ipairs({id, m[1], m[2] or '{}', m[3] or '', tostring(a), lease, dead}) do\n"
    "      out[#out + 1] = v\n"
    "    end\n"
    "    got = got + 1\n"
    "  end\n"
    "end\n"
    "return out\n",
    ""
};

/* KEYS: processing msg; ARGV: id lease visibility_ms */
static q_script s_heartbeat = {
    "if redis.call('HGET', KEYS[2], 'lease') ~= ARGV[2] then return 0 end\n"
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])\n"
    "return 1\n",
    ""
};

/* KEYS: processing msg; ARGV: id lease */
static q_script s_ack = {
    "if redis.call('HGET', KEYS[2], 'lease') ~= ARGV[2] then return 0 end\n"
    "redis.call('ZREM', KEYS[1], ARGV[1])\n"
    "redis.call('DEL', KEYS[2])\n"
    "return 1\n",
    ""
};

/* KEYS: processing msg delayed; ARGV: id lease delay_ms */
static q_script s_retry = {
    "if redis.call('HGET', KEYS[2], 'lease') ~= ARGV[2] then return 0 end\n"
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "redis.call('ZREM', KEYS[1], ARGV[1])\n"
    "redis.call('HDEL', KEYS[2], 'lease')\n"
    "redis.call('ZADD', KEYS[3], now + tonumber(ARGV[3]), ARGV[1])\n"
    "return 1\n",
    ""
};

/* KEYS: processing msg dead; ARGV: id lease entry */
static q_script s_dead = {
    "if redis.call('HGET', KEYS[2], 'lease') ~= ARGV[2] then return 0 end\n"
    "redis.call('ZREM', KEYS[1], ARGV[1])\n"
    "redis.call('DEL', KEYS[2])\n"
    "redis.call('LPUSH', KEYS[3], ARGV[3])\n"
    "redis.call('LTRIM', KEYS[3], 0, 9999)\n"
    "return 1\n",
    ""
};

/* KEYS: processing msg queue wakeup; ARGV: id lease */
static q_script s_release = {
    "if redis.call('HGET', KEYS[2], 'lease') ~= ARGV[2] then return 0 end\n"
    "redis.call('ZREM', KEYS[1], ARGV[1])\n"
    "redis.call('HDEL', KEYS[2], 'lease')\n"
    "redis.call('HINCRBY', KEYS[2], 'attempts', -1)\n"
    "redis.call('RPUSH', KEYS[3], ARGV[1])\n"
    "redis.call('LPUSH', KEYS[4], '1')\n"
    "redis.call('LTRIM', KEYS[4], 0, 99)\n"
    "return 1\n",
    ""
};

/* SHA-1 of every script body, computed once per process. */
static pthread_once_t q_scripts_once = PTHREAD_ONCE_INIT;

static void q_script_sha(q_script *s)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    if (EVP_Digest(s->body, strlen(s->body), md, &n, EVP_sha1(), NULL) != 1 || n != 20)
        return;     /* sha stays empty: EVAL every time */
    for (unsigned i = 0; i < n; i++)
        snprintf(s->sha + 2 * i, 3, "%02x", md[i]);
}

static void q_scripts_init(void)
{
    q_script_sha(&s_reserve);
    q_script_sha(&s_heartbeat);
    q_script_sha(&s_ack);
    q_script_sha(&s_retry);
    q_script_sha(&s_dead);
    q_script_sha(&s_release);
}

/* Append EVALSHA (EVAL with the body when eval_body is set). */
static int q_eval_append(ea_taskq *q, taskq_conn *k, const q_script *s, int eval_body, int nkeys,
                         const char **keys, int nargs, const char **args)
{
    const char *argv[16];
    char nk[8];
    int argc = 0;
    pthread_once(&q_scripts_once, q_scripts_init);
    if (!s->sha[0])
        eval_body = 1;
    snprintf(nk, sizeof nk, "%d", nkeys);
    argv[argc++] = eval_body ? "EVAL" : "EVALSHA";
    argv[argc++] = eval_body ? s->body : s->sha;
    argv[argc++] = nk;
    for (int i = 0; i < nkeys; i++)
        argv[argc++] = keys[i];
    for (int i = 0; i < nargs; i++)
        argv[argc++] = args[i];
    return pipe_append(q, k, argc, argv, NULL);
}

static int q_noscript(const redisReply *r)
{
    return r->type == REDIS_REPLY_ERROR && strncmp(r->str, "NOSCRIPT", 8) == 0;
}

/* Run one script: EVALSHA, and EVAL after NOSCRIPT (a restarted Redis). */
static redisReply *q_eval(ea_taskq *q, taskq_conn *k, const q_script *s, int nkeys, const char **keys,
                          int nargs, const char **args)
{
    redisReply *r = NULL;
    for (int round = 0; round < 2; round++) {
        if (q_eval_append(q, k, s, round, nkeys, keys, nargs, args) != 0)
            return NULL;
        if (pipe_read(q, k, 1, &r) < 0)
            return NULL;
        if (round == 0 && q_noscript(r)) {
            freeReplyObject(r);
            continue;
        }
        if (r->type == REDIS_REPLY_ERROR) {
            freeReplyObject(r);
            return NULL;
        }
        return r;
    }
    return NULL;
}

/* ---- enqueue ----------------------------------------------------------------------- */

static const char *q_key(ea_taskq *q, apr_pool_t *p, const char *prefix, const char *id)
{
    (void)q;
    return apr_pstrcat(p, prefix, id, NULL);
}

/* HSET of the PENDING record + EXPIRE (7 days until it finishes). */
#define EA_TASK_PENDING_TTL "604800"

static int append_record_pending(ea_taskq *q, taskq_conn *k, apr_pool_t *p, const char *id,
                                 const char *name, const char *args, const char *created)
{
    const char *key = q_key(q, p, q->k_task, id);
    const char *hset[] = {"HSET", key, "task_id", id, "name", name, "args", args, "status", "PENDING",
                          "attempts", "0", "created", created};
    const char *exp[] = {"EXPIRE", key, EA_TASK_PENDING_TTL};
    if (pipe_append(q, k, 14, hset, NULL) != 0 || pipe_append(q, k, 3, exp, NULL) != 0)
        return -1;
    return 0;
}

static int append_message(ea_taskq *q, taskq_conn *k, apr_pool_t *p, const char *id,
                          const char *name, const char *args, const char *created)
{
    const char *hset[] = {"HSET", q_key(q, p, q->k_msg, id), "name", name, "args", args,
                          "created", created, "attempts", "0"};
    const char *push[] = {"LPUSH", q->k_queue, id};
    const char *wake[] = {"LPUSH", q->k_wakeup, "1"};
    const char *trim[] = {"LTRIM", q->k_wakeup, "0", "99"};
    if (pipe_append(q, k, 10, hset, NULL) != 0 || pipe_append(q, k, 3, push, NULL) != 0
        || pipe_append(q, k, 3, wake, NULL) != 0 || pipe_append(q, k, 4, trim, NULL) != 0)
        return -1;
    return 0;
}

/* MULTI ... EXEC around what the caller appends: all or nothing. */
static int q_multi_run(ea_taskq *q, taskq_conn *k, int ncmds)
{
    redisReply *exec = NULL;
    int rc;
    /* replies: +OK for MULTI, +QUEUED per command, then EXEC's array */
    redisReply **rs = calloc((size_t)ncmds + 2, sizeof *rs);
    if (rs == NULL) {
        q_seterr(q, "out of memory");
        return -1;
    }
    rc = pipe_read(q, k, ncmds + 2, rs);
    if (rc >= 0) {
        exec = rs[ncmds + 1];
        if (exec->type != REDIS_REPLY_ARRAY) {
            if (exec->type == REDIS_REPLY_ERROR)
                q_seterr(q, "Redis refused the transaction: %s", exec->str);
            else
                q_seterr(q, "Redis refused the transaction");
            rc = -1;
        }
        else {
            rc = 0;
            for (size_t i = 0; i < exec->elements; i++) {
                if (exec->element[i]->type == REDIS_REPLY_ERROR) {
                    q_seterr(q, "Redis: %s", exec->element[i]->str);
                    rc = -1;
                }
            }
        }
        for (int i = 0; i < ncmds + 2; i++)
            freeReplyObject(rs[i]);
    }
    free(rs);
    return rc;
}

static int q_multi_begin(ea_taskq *q, taskq_conn *k)
{
    const char *m[] = {"MULTI"};
    return pipe_append(q, k, 1, m, NULL);
}

static int q_multi_exec(ea_taskq *q, taskq_conn *k)
{
    const char *e[] = {"EXEC"};
    return pipe_append(q, k, 1, e, NULL);
}

int ea_taskq_enqueue(ea_taskq *q, const char *name, const char *args_json, char id[EA_TASK_ID_LEN + 1])
{
    apr_pool_t *p;
    char created[32];
    int rc = -1;
    if (ea_task_uuid4(id) != 0) {
        q_seterr(q, "no random numbers: %s", strerror(errno));
        return -1;
    }
    if (args_json == NULL)
        args_json = "{}";
    ea_task_now_iso(created);
    apr_pool_create(&p, q->pool);
    if (q->backend == &q->broker) {
        /* one server: record and message in one transaction */
        if (q_multi_begin(q, &q->broker) == 0
            && append_record_pending(q, &q->broker, p, id, name, args_json, created) == 0
            && append_message(q, &q->broker, p, id, name, args_json, created) == 0
            && q_multi_exec(q, &q->broker) == 0)
            rc = q_multi_run(q, &q->broker, 6);
        else
            conn_drop(&q->broker);      /* half-sent pipeline: start afresh */
    }
    else {
        /* two servers: the record first, then the message; a failed
         * message takes its record back so no PENDING record is orphaned */
        if (q_multi_begin(q, q->backend) == 0
            && append_record_pending(q, q->backend, p, id, name, args_json, created) == 0
            && q_multi_exec(q, q->backend) == 0)
            rc = q_multi_run(q, q->backend, 2);
        else
            conn_drop(q->backend);
        if (rc == 0) {
            if (q_multi_begin(q, &q->broker) == 0
                && append_message(q, &q->broker, p, id, name, args_json, created) == 0
                && q_multi_exec(q, &q->broker) == 0)
                rc = q_multi_run(q, &q->broker, 4);
            else {
                conn_drop(&q->broker);
                rc = -1;
            }
            if (rc != 0) {
                char save[sizeof q->err];
                memcpy(save, q->err, sizeof save);
                const char *del[] = {"DEL", q_key(q, p, q->k_task, id)};
                redisReply *r = conn_cmd(q, q->backend, 2, del, NULL);
                if (r)
                    freeReplyObject(r);
                memcpy(q->err, save, sizeof save);
            }
        }
    }
    apr_pool_destroy(p);
    return rc;
}

int ea_taskq_enqueue_many(ea_taskq *q, const char *name, const char *args_json, int n)
{
    apr_pool_t *p;
    char created[32], id[EA_TASK_ID_LEN + 1];
    int rc = 0, cmds = 0, batch = 0;
    apr_pool_create(&p, q->pool);
    ea_task_now_iso(created);
    for (int i = 0; i < n && rc == 0; i++) {
        if (ea_task_uuid4(id) != 0) {
            rc = -1;
            break;
        }
        if (q->backend != &q->broker) {
            if (append_record_pending(q, q->backend, p, id, name, args_json, created) != 0
                || pipe_read(q, q->backend, 2, NULL) != 0)
                rc = -1;
        }
        else if (append_record_pending(q, &q->broker, p, id, name, args_json, created) != 0) {
            rc = -1;
        }
        else {
            cmds += 2;
        }
        if (rc == 0 && append_message(q, &q->broker, p, id, name, args_json, created) != 0)
            rc = -1;
        cmds += 4;
        if (rc == 0 && (++batch == 500 || i == n - 1)) {
            if (pipe_read(q, &q->broker, cmds, NULL) != 0)
                rc = -1;
            cmds = 0;
            batch = 0;
            apr_pool_clear(p);
        }
    }
    apr_pool_destroy(p);
    return rc;
}

/* ---- reserve, heartbeat, finish ----------------------------------------------------- */

int ea_taskq_reserve(ea_taskq *q, apr_pool_t *p, int max, ea_task_msg *out, int *n)
{
    char vis[16], want[16], maxa[16];
    const char *keys[] = {q->k_queue, q->k_processing, q->k_delayed, q->k_dead};
    const char *args[5];
    redisReply *r;
    *n = 0;
    snprintf(vis, sizeof vis, "%d", q->visibility_ms);
    snprintf(want, sizeof want, "%d", max);
    snprintf(maxa, sizeof maxa, "%d", q->max_attempts);
    args[0] = vis;
    args[1] = want;
    args[2] = q->worker;
    args[3] = maxa;
    args[4] = q->k_msg;
    r = q_eval(q, &q->broker, &s_reserve, 4, keys, 5, args);
    if (r == NULL)
        return -1;
    if (r->type != REDIS_REPLY_ARRAY || r->elements % 7 != 0) {
        q_seterr(q, "unexpected reply to the reserve script");
        freeReplyObject(r);
        return -1;
    }
    for (size_t i = 0; i + 6 < r->elements && *n < max; i += 7) {
        ea_task_msg *m = &out[*n];
        redisReply **e = r->element + i;
        for (int j = 0; j < 7; j++)
            if (e[j]->type != REDIS_REPLY_STRING)
                goto bad;
        if (e[0]->len != EA_TASK_ID_LEN)
            goto bad;
        memcpy(m->id, e[0]->str, EA_TASK_ID_LEN + 1);
        m->name = apr_pstrmemdup(p, e[1]->str, e[1]->len);
        m->args = apr_pstrmemdup(p, e[2]->str, e[2]->len);
        m->created = apr_pstrmemdup(p, e[3]->str, e[3]->len);
        m->attempts = atoi(e[4]->str);
        m->lease = apr_pstrmemdup(p, e[5]->str, e[5]->len);
        m->dead = e[6]->str[0] == '1';
        (*n)++;
    }
    freeReplyObject(r);
    return 0;
bad:
    q_seterr(q, "unexpected reply to the reserve script");
    freeReplyObject(r);
    return -1;
}

int ea_taskq_wait(ea_taskq *q, int timeout_ms)
{
    char secs[32];
    redisReply *r;
    const char *argv[3] = {"BRPOP", q->k_wakeup, secs};
    snprintf(secs, sizeof secs, "%.3f", timeout_ms / 1000.0);
    if (conn_ensure(q, &q->broker) != 0)
        return -1;
    redisSetTimeout(q->broker.c, q_tv(timeout_ms + q->timeout_ms));
    r = conn_cmd(q, &q->broker, 3, argv, NULL);
    if (q->broker.c != NULL)
        redisSetTimeout(q->broker.c, q_tv(q->timeout_ms));
    if (r == NULL)
        return -1;
    freeReplyObject(r);
    return 0;
}

int ea_taskq_heartbeat(ea_taskq *q, ea_task_msg *const *msgs, int n, int *lost)
{
    apr_pool_t *p;
    char vis[16];
    int rc = 0;
    redisReply **rs;
    *lost = 0;
    if (n == 0)
        return 0;
    apr_pool_create(&p, q->pool);
    snprintf(vis, sizeof vis, "%d", q->visibility_ms);
    rs = apr_pcalloc(p, sizeof *rs * (size_t)n);
    for (int round = 0; round < 2; round++) {
        int noscript = 0;
        rc = 0;
        for (int i = 0; i < n && rc == 0; i++) {
            const char *keys[] = {q->k_processing, q_key(q, p, q->k_msg, msgs[i]->id)};
            const char *args[] = {msgs[i]->id, msgs[i]->lease, vis};
            rc = q_eval_append(q, &q->broker, &s_heartbeat, round, 2, keys, 3, args);
        }
        if (rc != 0 || pipe_read(q, &q->broker, n, rs) < 0) {
            conn_drop(&q->broker);
            rc = -1;
            break;
        }
        *lost = 0;
        for (int i = 0; i < n; i++) {
            if (q_noscript(rs[i]))
                noscript = 1;
            else if (rs[i]->type == REDIS_REPLY_ERROR)
                rc = -1;
            else if (rs[i]->type == REDIS_REPLY_INTEGER && rs[i]->integer == 0)
                (*lost)++;
            freeReplyObject(rs[i]);
        }
        if (!noscript)
            break;
    }
    apr_pool_destroy(p);
    return rc;
}

int ea_taskq_started(ea_taskq *q, const ea_task_msg *m)
{
    char started[32], att[16];
    apr_pool_t *p;
    redisReply *r;
    apr_pool_create(&p, q->pool);
    ea_task_now_iso(started);
    snprintf(att, sizeof att, "%d", m->attempts);
    const char *hset[] = {"HSET", q_key(q, p, q->k_task, m->id), "task_id", m->id, "name", m->name,
                          "args", m->args, "created", m->created, "status", "STARTED",
                          "started", started, "attempts", att, "worker", q->worker};
    r = conn_cmd(q, q->backend, 18, hset, NULL);
    apr_pool_destroy(p);
    if (r == NULL)
        return -1;
    freeReplyObject(r);
    return 0;
}

/* Backoff before retry n (n = deliveries so far): 1 s, 2 s, 4 s ... 5 min,
 * with up to 25% jitter so that a burst of failures does not return at once. */
static long q_backoff_ms(int attempts)
{
    long ms = 1000;
    unsigned r = 0;
    for (int i = 1; i < attempts && ms < 300000; i++)
        ms *= 2;
    if (ms > 300000)
        ms = 300000;
    if (getrandom(&r, sizeof r, GRND_NONBLOCK) != (ssize_t)sizeof r)
        r = (unsigned)time(NULL);
    return ms + (long)(r % (unsigned)(ms / 4 + 1));
}

static char *q_dead_entry(apr_pool_t *p, const ea_task_msg *m, const char *error, const char *when);

int ea_taskq_finish(ea_taskq *q, const ea_task_msg *m, ea_task_outcome outcome,
                    const char *result_json, const char *error, const char **final_status)
{
    apr_pool_t *p;
    char now[32], att[16], ttl[16], delay[16];
    const char *status;
    int rc = 0, nrec;
    apr_pool_create(&p, q->pool);
    ea_task_now_iso(now);
    snprintf(att, sizeof att, "%d", m->attempts);
    snprintf(ttl, sizeof ttl, "%d", q->result_ttl_s);
    if (outcome == EA_TASK_RETRY && m->attempts >= q->max_attempts)
        outcome = EA_TASK_FAILURE;
    status = outcome == EA_TASK_SUCCESS ? "SUCCESS" : outcome == EA_TASK_RETRY ? "RETRY" : "FAILURE";
    if (final_status)
        *final_status = status;
    const char *key = q_key(q, p, q->k_task, m->id);
    const char *mkey = q_key(q, p, q->k_msg, m->id);
    if (outcome == EA_TASK_SUCCESS) {
        const char *hset[] = {"HSET", key, "task_id", m->id, "name", m->name, "args", m->args,
                              "created", m->created, "status", status, "result",
                              result_json ? result_json : "null", "error", "", "finished", now,
                              "attempts", att};
        rc = pipe_append(q, q->backend, 20, hset, NULL);
    }
    else {
        const char *hset[] = {"HSET", key, "task_id", m->id, "name", m->name, "args", m->args,
                              "created", m->created, "status", status, "error",
                              error ? error : "unknown error", "finished",
                              outcome == EA_TASK_RETRY ? "" : now, "attempts", att};
        rc = pipe_append(q, q->backend, 18, hset, NULL);
    }
    /* the record lives result_ttl_s from its end; a pending retry keeps the long TTL */
    const char *exp[] = {"EXPIRE", key, outcome == EA_TASK_RETRY ? EA_TASK_PENDING_TTL : ttl};
    if (rc == 0)
        rc = pipe_append(q, q->backend, 3, exp, NULL);
    nrec = 2;
    if (rc == 0 && m->dead) {
        /* the reserve script already dead-lettered it: only the record */
        if (pipe_read(q, q->backend, 2, NULL) != 0)
            rc = -1;
        if (rc < 0)
            conn_drop(q->backend);
        apr_pool_destroy(p);
        return rc;
    }
    if (rc == 0 && q->backend != &q->broker) {
        /* the record must be stored before the ack */
        if (pipe_read(q, q->backend, 2, NULL) != 0)
            rc = -1;
        nrec = 0;
    }
    if (rc == 0) {
        const char *keys3[] = {q->k_processing, mkey, NULL};
        if (outcome == EA_TASK_SUCCESS) {
            const char *args[] = {m->id, m->lease};
            rc = q_eval_append(q, &q->broker, &s_ack, 0, 2, keys3, 2, args);
        }
        else if (outcome == EA_TASK_RETRY) {
            snprintf(delay, sizeof delay, "%ld", q_backoff_ms(m->attempts));
            const char *args[] = {m->id, m->lease, delay};
            keys3[2] = q->k_delayed;
            rc = q_eval_append(q, &q->broker, &s_retry, 0, 3, keys3, 3, args);
        }
        else {
            const char *args[] = {m->id, m->lease, q_dead_entry(p, m, error, now)};
            keys3[2] = q->k_dead;
            rc = q_eval_append(q, &q->broker, &s_dead, 0, 3, keys3, 3, args);
        }
    }
    if (rc == 0) {
        int nread = nrec + 1;
        redisReply *rs[3] = {NULL, NULL, NULL};
        if (pipe_read(q, &q->broker, nread, rs) < 0) {
            rc = -1;
        }
        else {
            redisReply *last = rs[nread - 1];
            for (int i = 0; i < nrec; i++)
                if (rs[i]->type == REDIS_REPLY_ERROR)
                    rc = -1;
            if (rc == 0 && q_noscript(last)) {
                /* script cache flushed (Redis restarted): run it with EVAL */
                const q_script *s = outcome == EA_TASK_SUCCESS ? &s_ack : outcome == EA_TASK_RETRY ? &s_retry : &s_dead;
                const char *keys3[] = {q->k_processing, mkey,
                                       outcome == EA_TASK_RETRY ? q->k_delayed : q->k_dead};
                const char *args[] = {m->id, m->lease,
                                      outcome == EA_TASK_RETRY ? delay : q_dead_entry(p, m, error, now)};
                redisReply *again = q_eval(q, &q->broker, s, outcome == EA_TASK_SUCCESS ? 2 : 3, keys3,
                                           outcome == EA_TASK_SUCCESS ? 2 : 3, args);
                if (again == NULL)
                    rc = -1;
                else
                    rc = again->type == REDIS_REPLY_INTEGER && again->integer == 0 ? 1 : 0;
                if (again)
                    freeReplyObject(again);
            }
            else if (rc == 0 && last->type == REDIS_REPLY_ERROR) {
                rc = -1;
            }
            else if (rc == 0 && last->type == REDIS_REPLY_INTEGER && last->integer == 0) {
                rc = 1;         /* lease lost: another delivery runs it */
            }
            for (int i = 0; i < nread; i++)
                freeReplyObject(rs[i]);
        }
    }
    if (rc < 0)
        conn_drop(&q->broker);
    apr_pool_destroy(p);
    return rc;
}

int ea_taskq_release(ea_taskq *q, const ea_task_msg *m)
{
    apr_pool_t *p;
    redisReply *r;
    apr_pool_create(&p, q->pool);
    const char *keys[] = {q->k_processing, q_key(q, p, q->k_msg, m->id), q->k_queue, q->k_wakeup};
    const char *args[] = {m->id, m->lease};
    r = q_eval(q, &q->broker, &s_release, 4, keys, 2, args);
    if (r != NULL) {
        /* the record says it waits again */
        const char *hset[] = {"HSET", q_key(q, p, q->k_task, m->id), "status", "PENDING"};
        redisReply *h = conn_cmd(q, q->backend, 4, hset, NULL);
        if (h)
            freeReplyObject(h);
    }
    apr_pool_destroy(p);
    if (r == NULL)
        return -1;
    freeReplyObject(r);
    return 0;
}

/* ---- records --------------------------------------------------------------------------- */

static void json_str(apr_pool_t *p, char **out, const char *s);

static char *q_dead_entry(apr_pool_t *p, const ea_task_msg *m, const char *error, const char *when)
{
    char *id, *name, *args, *err, *at;
    json_str(p, &id, m->id);
    json_str(p, &name, m->name);
    json_str(p, &args, m->args);
    json_str(p, &err, error ? error : "unknown error");
    json_str(p, &at, when);
    return apr_psprintf(p, "{\"task_id\":%s,\"name\":%s,\"args\":%s,\"error\":%s,\"attempts\":%d,\"failed_at\":%s}",
                        id, name, args, err, m->attempts, at);
}

/* s as a JSON string (UTF-8 kept, control characters escaped). */
static void json_str(apr_pool_t *p, char **out, const char *s)
{
    size_t n = strlen(s);
    char *o = apr_palloc(p, n * 6 + 3), *w = o;
    *w++ = '"';
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        switch (*c) {
        case '"': *w++ = '\\'; *w++ = '"'; break;
        case '\\': *w++ = '\\'; *w++ = '\\'; break;
        case '\n': *w++ = '\\'; *w++ = 'n'; break;
        case '\r': *w++ = '\\'; *w++ = 'r'; break;
        case '\t': *w++ = '\\'; *w++ = 't'; break;
        default:
            if (*c < 0x20) {
                w += sprintf(w, "\\u%04x", *c);
            }
            else {
                *w++ = (char)*c;
            }
        }
    }
    *w++ = '"';
    *w = '\0';
    *out = o;
}

int ea_taskq_store_record(ea_taskq *q, const char *id, const char *name, const char *args_json,
                          const char *status, const char *result_json, const char *error,
                          const char *created, const char *started, const char *finished)
{
    apr_pool_t *p;
    char ttl[16];
    int rc = -1;
    apr_pool_create(&p, q->pool);
    snprintf(ttl, sizeof ttl, "%d", q->result_ttl_s);
    const char *key = q_key(q, p, q->k_task, id);
    const char *hset[] = {"HSET", key, "task_id", id, "name", name, "args", args_json ? args_json : "{}",
                          "status", status, "result", result_json ? result_json : "null",
                          "error", error ? error : "", "attempts", "1", "created", created,
                          "started", started, "finished", finished, "worker", "eager"};
    const char *exp[] = {"EXPIRE", key, ttl};
    if (q_multi_begin(q, q->backend) == 0 && pipe_append(q, q->backend, 24, hset, NULL) == 0
        && pipe_append(q, q->backend, 3, exp, NULL) == 0 && q_multi_exec(q, q->backend) == 0)
        rc = q_multi_run(q, q->backend, 2);
    else
        conn_drop(q->backend);
    apr_pool_destroy(p);
    return rc;
}

static const char *reply_field(redisReply *r, const char *name)
{
    for (size_t i = 0; i + 1 < r->elements; i += 2)
        if (r->element[i]->type == REDIS_REPLY_STRING && strcmp(r->element[i]->str, name) == 0
            && r->element[i + 1]->type == REDIS_REPLY_STRING)
            return r->element[i + 1]->str;
    return NULL;
}

int ea_taskq_record_json(ea_taskq *q, apr_pool_t *p, const char *id, char **json)
{
    redisReply *r;
    const char *status, *result, *error, *started, *finished, *attempts, *name, *created;
    char *js_id, *js_name, *js_status, *js_err, *js_c, *js_s, *js_f;
    *json = NULL;
    if (!ea_task_id_valid(id))
        return 0;
    const char *argv[] = {"HGETALL", q_key(q, p, q->k_task, id)};
    r = conn_cmd(q, q->backend, 2, argv, NULL);
    if (r == NULL)
        return -1;
    if (r->type != REDIS_REPLY_ARRAY || r->elements == 0 || (status = reply_field(r, "status")) == NULL) {
        freeReplyObject(r);
        return 0;
    }
    result = reply_field(r, "result");
    error = reply_field(r, "error");
    started = reply_field(r, "started");
    finished = reply_field(r, "finished");
    attempts = reply_field(r, "attempts");
    name = reply_field(r, "name");
    created = reply_field(r, "created");
    json_str(p, &js_id, id);
    json_str(p, &js_name, name ? name : "");
    json_str(p, &js_status, status);
    if (error && *error)
        json_str(p, &js_err, error);
    else
        js_err = "null";
    if (created && *created)
        json_str(p, &js_c, created);
    else
        js_c = "null";
    if (started && *started)
        json_str(p, &js_s, started);
    else
        js_s = "null";
    if (finished && *finished)
        json_str(p, &js_f, finished);
    else
        js_f = "null";
    *json = apr_psprintf(p, "{\"task_id\":%s,\"name\":%s,\"status\":%s,\"result\":%s,\"error\":%s,"
                            "\"attempts\":%d,\"created\":%s,\"started\":%s,\"finished\":%s}",
                         js_id, js_name, js_status,
                         strcmp(status, "SUCCESS") == 0 && result && *result ? apr_pstrdup(p, result) : "null",
                         js_err, attempts ? atoi(attempts) : 0, js_c, js_s, js_f);
    freeReplyObject(r);
    return 0;
}

int ea_taskq_dead_letters(ea_taskq *q, apr_pool_t *p, int max, char **json)
{
    char stop[16];
    redisReply *r;
    snprintf(stop, sizeof stop, "%d", max > 0 ? max - 1 : 0);
    const char *argv[] = {"LRANGE", q->k_dead, "0", stop};
    r = conn_cmd(q, &q->broker, 4, argv, NULL);
    if (r == NULL)
        return -1;
    char *out = "[";
    for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements; i++)
        if (r->element[i]->type == REDIS_REPLY_STRING)
            out = apr_pstrcat(p, out, i ? "," : "", r->element[i]->str, NULL);
    *json = apr_pstrcat(p, out, "]", NULL);
    freeReplyObject(r);
    return 0;
}

int ea_taskq_stats(ea_taskq *q, long long out[4])
{
    const char *a[] = {"LLEN", q->k_queue};
    const char *b[] = {"ZCARD", q->k_processing};
    const char *c[] = {"ZCARD", q->k_delayed};
    const char *d[] = {"LLEN", q->k_dead};
    redisReply *rs[4] = {NULL, NULL, NULL, NULL};
    if (pipe_append(q, &q->broker, 2, a, NULL) != 0 || pipe_append(q, &q->broker, 2, b, NULL) != 0
        || pipe_append(q, &q->broker, 2, c, NULL) != 0 || pipe_append(q, &q->broker, 2, d, NULL) != 0) {
        conn_drop(&q->broker);
        return -1;
    }
    int rc = pipe_read(q, &q->broker, 4, rs);
    if (rc < 0)
        return -1;
    for (int i = 0; i < 4; i++) {
        out[i] = rs[i]->type == REDIS_REPLY_INTEGER ? rs[i]->integer : -1;
        freeReplyObject(rs[i]);
    }
    return rc == 0 ? 0 : -1;
}

/* ---- figures for the metrics scrape (ecoatlas-worker writes, httpd reads) ---- */

/* Worker heartbeats: a ZSET of worker names scored by Redis's clock, so
 * that workers and httpd on several machines need no common clock. */
static const char beat_lua[] =
    "local t = redis.call('TIME') "
    "redis.call('ZADD', KEYS[1], t[1], ARGV[1]) "
    "redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', t[1] - tonumber(ARGV[2])) "
    "return 1";
static const char live_lua[] =
    "local t = redis.call('TIME') "
    "return redis.call('ZCOUNT', KEYS[1], t[1] - tonumber(ARGV[1]), '+inf')";

int ea_taskq_worker_beat(ea_taskq *q, const char *name, int forget_s)
{
    char s[16], key[256];
    snprintf(s, sizeof s, "%d", forget_s);
    snprintf(key, sizeof key, "%sworkers", q->prefix);
    const char *argv[] = {"EVAL", beat_lua, "1", key, name, s};
    redisReply *r = conn_cmd(q, &q->broker, 6, argv, NULL);
    if (r == NULL)
        return -1;
    freeReplyObject(r);
    return 0;
}

int ea_taskq_live_workers(ea_taskq *q, int within_s, long long *n)
{
    char s[16], key[256];
    snprintf(s, sizeof s, "%d", within_s);
    snprintf(key, sizeof key, "%sworkers", q->prefix);
    const char *argv[] = {"EVAL", live_lua, "1", key, s};
    redisReply *r = conn_cmd(q, &q->broker, 5, argv, NULL);
    if (r == NULL)
        return -1;
    *n = r->type == REDIS_REPLY_INTEGER ? r->integer : 0;
    freeReplyObject(r);
    return 0;
}

int ea_taskq_stats_add(ea_taskq *q, int n, const char *const *fields, const long long *incr)
{
    char key[256];
    int rc = 0;
    snprintf(key, sizeof key, "%sworker-stats", q->prefix);
    for (int i = 0; i < n; i++) {
        char v[32];
        snprintf(v, sizeof v, "%lld", incr[i]);
        const char *argv[] = {"HINCRBY", key, fields[i], v};
        if (pipe_append(q, &q->broker, 4, argv, NULL) != 0) {
            conn_drop(&q->broker);
            return -1;
        }
    }
    for (int i = 0; i < n && rc == 0; i++) {
        redisReply *r = NULL;
        if (pipe_read(q, &q->broker, 1, &r) != 0)
            rc = -1;
        if (r != NULL)
            freeReplyObject(r);
    }
    return rc;
}

int ea_taskq_stats_get(ea_taskq *q, apr_pool_t *p, const char ***fields, long long **values, int *n)
{
    const char *argv[] = {"HGETALL", apr_pstrcat(p, q->prefix, "worker-stats", NULL)};
    redisReply *r = conn_cmd(q, &q->broker, 2, argv, NULL);
    *n = 0;
    if (r == NULL)
        return -1;
    size_t pairs = r->type == REDIS_REPLY_ARRAY ? r->elements / 2 : 0;
    *fields = apr_pcalloc(p, sizeof(char *) * (pairs + 1));
    *values = apr_pcalloc(p, sizeof(long long) * (pairs + 1));
    for (size_t i = 0; i < pairs; i++) {
        redisReply *f = r->element[2 * i], *v = r->element[2 * i + 1];
        if (f->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING)
            continue;
        (*fields)[*n] = apr_pstrmemdup(p, f->str, f->len);
        (*values)[*n] = strtoll(v->str, NULL, 10);
        (*n)++;
    }
    freeReplyObject(r);
    return 0;
}
