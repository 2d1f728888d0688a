/* ea_queue: reliable Redis task queue (see ea_queue.h for the design). */
#include "ea_queue.h"
#include "ea_buf.h"
#include "ea_json.h"
#include "ea_redis.h"

#include <apr_strings.h>
#include <hiredis/hiredis.h>

#include <stdarg.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/time.h>
#include <time.h>

/* ---- connections -------------------------------------------------------------- */

typedef struct taskq_conn {
    ea_redis_url url;
    redisContext *c;
} taskq_conn;

/* The queue's Lua scripts (below), by index into ea_taskq.scripts. */
enum { S_RESERVE, S_HEARTBEAT, S_ACK, S_RETRY, S_DEAD, S_RELEASE, S_BEAT, S_LIVE, S_COUNT };

struct ea_taskq {
    apr_pool_t *pool;
    taskq_conn broker, backend_own;
    taskq_conn *backend;        /* &broker when they are the same server */
    const char *prefix;
    int timeout_ms, visibility_ms, result_ttl_s, max_attempts;
    const char *worker;
    char err[512];
    ea_redis_script scripts[S_COUNT];  /* bodies and SHA-1s, set at first use (q_script) */
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
    return ea_redis_url_where(&k->url, buf, n);
}

static void conn_drop(taskq_conn *k)
{
    if (k->c != NULL) {
        redisFree(k->c);
        k->c = NULL;
    }
}

static int conn_ensure(ea_taskq *q, taskq_conn *k)
{
    char where[160], detail[256];
    ea_redis_fail fail;
    if (k->c != NULL)
        return 0;
    k->c = ea_redis_connect(&k->url, q->timeout_ms, EA_REDIS_KEEPALIVE, &fail, detail, sizeof detail);
    if (k->c == NULL) {
        conn_where(k, where, sizeof where);
        if (fail == EA_REDIS_FAIL_AUTH || fail == EA_REDIS_FAIL_SELECT)
            q_seterr(q, "Redis at %s: %s (%s)", where, detail, fail == EA_REDIS_FAIL_AUTH ? "AUTH" : "SELECT");
        else
            q_seterr(q, "cannot connect to Redis at %s: %s", where, detail);
        return -1;
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

/* ---- scripts ------------------------------------------------------------------------
 * Run with EVALSHA; NOSCRIPT (a restarted Redis) falls back to EVAL, which
 * also caches the script again (ea_redis.h).  Their SHA-1s are computed
 * by each queue at first use (q_script), not kept process-wide. */

/* KEYS: queue processing delayed dead; ARGV: visibility_ms max lease_prefix
 * max_attempts msg_prefix.  Returns flat 7-tuples: id name args created
 * attempts lease dead. */
static const char lua_reserve[] =
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
    "return out\n";

/* KEYS: processing msg; ARGV: id lease visibility_ms */
static const char lua_heartbeat[] =
    "if redis.call('HGET', KEYS[2], 'lease') ~= ARGV[2] then return 0 end\n"
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])\n"
    "return 1\n";

/* KEYS: processing msg; ARGV: id lease */
static const char lua_ack[] =
    "if redis.call('HGET', KEYS[2], 'lease') ~= ARGV[2] then return 0 end\n"
    "redis.call('ZREM', KEYS[1], ARGV[1])\n"
    "redis.call('DEL', KEYS[2])\n"
    "return 1\n";

/* KEYS: processing msg delayed; ARGV: id lease delay_ms */
static const char lua_retry[] =
    "if redis.call('HGET', KEYS[2], 'lease') ~= ARGV[2] then return 0 end\n"
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "redis.call('ZREM', KEYS[1], ARGV[1])\n"
    "redis.call('HDEL', KEYS[2], 'lease')\n"
    "redis.call('ZADD', KEYS[3], now + tonumber(ARGV[3]), ARGV[1])\n"
    "return 1\n";

/* KEYS: processing msg dead; ARGV: id lease entry */
static const char lua_dead[] =
    "if redis.call('HGET', KEYS[2], 'lease') ~= ARGV[2] then return 0 end\n"
    "redis.call('ZREM', KEYS[1], ARGV[1])\n"
    "redis.call('DEL', KEYS[2])\n"
    "redis.call('LPUSH', KEYS[3], ARGV[3])\n"
    "redis.call('LTRIM', KEYS[3], 0, 9999)\n"
    "return 1\n";

/* KEYS: processing msg queue wakeup; ARGV: id lease */
static const char lua_release[] =
    "if redis.call('HGET', KEYS[2], 'lease') ~= ARGV[2] then return 0 end\n"
    "redis.call('ZREM', KEYS[1], ARGV[1])\n"
    "redis.call('HDEL', KEYS[2], 'lease')\n"
    "redis.call('HINCRBY', KEYS[2], 'attempts', -1)\n"
    "redis.call('RPUSH', KEYS[3], ARGV[1])\n"
    "redis.call('LPUSH', KEYS[4], '1')\n"
    "redis.call('LTRIM', KEYS[4], 0, 99)\n"
    "return 1\n";

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

static const char *const script_bodies[S_COUNT] = {
    [S_RESERVE] = lua_reserve, [S_HEARTBEAT] = lua_heartbeat, [S_ACK] = lua_ack,
    [S_RETRY] = lua_retry, [S_DEAD] = lua_dead, [S_RELEASE] = lua_release,
    [S_BEAT] = beat_lua, [S_LIVE] = live_lua,
};

/* Script si, its SHA-1 computed at its first use by this queue (a request
 * that enqueues hashes one script, not all). */
static const ea_redis_script *q_script(ea_taskq *q, int si)
{
    if (q->scripts[si].body == NULL)
        ea_redis_script_init(&q->scripts[si], script_bodies[si]);
    return &q->scripts[si];
}

/* Append EVALSHA (EVAL with the body when eval_body is set) of script si. */
static int q_eval_append(ea_taskq *q, taskq_conn *k, int si, int eval_body, int nkeys,
                         const char **keys, int nargs, const char **args)
{
    if (conn_ensure(q, k) != 0)
        return -1;
    if (ea_redis_script_append(k->c, q_script(q, si), eval_body, nkeys, keys, nargs, args) != REDIS_OK) {
        q_seterr(q, "Redis: out of memory");
        conn_drop(k);
        return -1;
    }
    return 0;
}

/* Run script si (ea_redis_script_run: EVALSHA, EVAL after NOSCRIPT);
 * NULL (q->err set) on failure. */
static redisReply *q_eval(ea_taskq *q, taskq_conn *k, int si, int nkeys, const char **keys,
                          int nargs, const char **args)
{
    char where[160];
    redisReply *r;
    if (conn_ensure(q, k) != 0)
        return NULL;
    r = ea_redis_script_run(k->c, q_script(q, si), nkeys, keys, nargs, args);
    if (r == NULL) {
        q_seterr(q, "Redis at %s: %s", conn_where(k, where, sizeof where),
                 k->c->errstr[0] ? k->c->errstr : "connection lost");
        conn_drop(k);
        return NULL;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        q_seterr(q, "Redis at %s: %s", conn_where(k, where, sizeof where), r->str);
        freeReplyObject(r);
        return NULL;
    }
    return r;
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
    if (ea_redis_url_parse(o->broker_url, &q->broker.url, &e) != 0) {
        *err = apr_psprintf(p, "invalid broker URL '%s': %s", ea_redis_url_redact(p, o->broker_url), e);
        return NULL;
    }
    q->backend = &q->broker;
    if (o->backend_url != NULL && *o->backend_url && strcmp(o->backend_url, o->broker_url) != 0) {
        if (ea_redis_url_parse(o->backend_url, &q->backend_own.url, &e) != 0) {
            *err = apr_psprintf(p, "invalid result backend URL '%s': %s",
                                ea_redis_url_redact(p, o->backend_url), e);
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
    r = q_eval(q, &q->broker, S_RESERVE, 4, keys, 5, args);
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
            rc = q_eval_append(q, &q->broker, S_HEARTBEAT, round, 2, keys, 3, args);
        }
        if (rc != 0 || pipe_read(q, &q->broker, n, rs) < 0) {
            conn_drop(&q->broker);
            rc = -1;
            break;
        }
        *lost = 0;
        for (int i = 0; i < n; i++) {
            if (ea_redis_noscript(rs[i]))
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
            rc = q_eval_append(q, &q->broker, S_ACK, 0, 2, keys3, 2, args);
        }
        else if (outcome == EA_TASK_RETRY) {
            snprintf(delay, sizeof delay, "%ld", q_backoff_ms(m->attempts));
            const char *args[] = {m->id, m->lease, delay};
            keys3[2] = q->k_delayed;
            rc = q_eval_append(q, &q->broker, S_RETRY, 0, 3, keys3, 3, args);
        }
        else {
            const char *args[] = {m->id, m->lease, q_dead_entry(p, m, error, now)};
            keys3[2] = q->k_dead;
            rc = q_eval_append(q, &q->broker, S_DEAD, 0, 3, keys3, 3, args);
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
            if (rc == 0 && ea_redis_noscript(last)) {
                /* script cache flushed (Redis restarted): run it with EVAL */
                int s = outcome == EA_TASK_SUCCESS ? S_ACK : outcome == EA_TASK_RETRY ? S_RETRY : S_DEAD;
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
    r = q_eval(q, &q->broker, S_RELEASE, 4, keys, 2, args);
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


static char *q_dead_entry(apr_pool_t *p, const ea_task_msg *m, const char *error, const char *when)
{
    ea_buf b;
    ea_buf_init(&b, p, 256);
    ea_buf_puts(&b, "{\"task_id\":");
    ea_json_cstr(&b, m->id);
    ea_buf_puts(&b, ",\"name\":");
    ea_json_cstr(&b, m->name);
    ea_buf_puts(&b, ",\"args\":");
    ea_json_cstr(&b, m->args);
    ea_buf_puts(&b, ",\"error\":");
    ea_json_cstr(&b, error ? error : "unknown error");
    ea_buf_printf(&b, ",\"attempts\":%d,\"failed_at\":", m->attempts);
    ea_json_cstr(&b, when);
    ea_buf_putc(&b, '}');
    return b.data;
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
    ea_buf b;
    ea_buf_init(&b, p, 512);
    ea_buf_puts(&b, "{\"task_id\":");
    ea_json_cstr(&b, id);
    ea_buf_puts(&b, ",\"name\":");
    ea_json_cstr(&b, name ? name : "");
    ea_buf_puts(&b, ",\"status\":");
    ea_json_cstr(&b, status);
    ea_buf_puts(&b, ",\"result\":");
    ea_buf_puts(&b, strcmp(status, "SUCCESS") == 0 && result && *result ? result : "null");
    ea_buf_puts(&b, ",\"error\":");
    ea_json_cstr(&b, error && *error ? error : NULL);
    ea_buf_printf(&b, ",\"attempts\":%d,\"created\":", attempts ? atoi(attempts) : 0);
    ea_json_cstr(&b, created && *created ? created : NULL);
    ea_buf_puts(&b, ",\"started\":");
    ea_json_cstr(&b, started && *started ? started : NULL);
    ea_buf_puts(&b, ",\"finished\":");
    ea_json_cstr(&b, finished && *finished ? finished : NULL);
    ea_buf_putc(&b, '}');
    *json = b.data;
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

int ea_taskq_worker_beat(ea_taskq *q, const char *name, int forget_s)
{
    char s[16], key[256];
    snprintf(s, sizeof s, "%d", forget_s);
    snprintf(key, sizeof key, "%sworkers", q->prefix);
    const char *keys[] = {key}, *args[] = {name, s};
    redisReply *r = q_eval(q, &q->broker, S_BEAT, 1, keys, 2, args);
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
    const char *keys[] = {key}, *args[] = {s};
    redisReply *r = q_eval(q, &q->broker, S_LIVE, 1, keys, 1, args);
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
