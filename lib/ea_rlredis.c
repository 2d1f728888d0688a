/* ea_rlredis: see ea_rlredis.h. */
#include "ea_rlredis.h"
#include "ea_siphash.h"
#include "ea_redis.h"

#include <hiredis/hiredis.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* The algorithm of ea_throttle.c's decide(), on the state string
 * "seen:0 stamp:count stamp:count ..." (buckets oldest first).  KEYS[1]:
 * the key; ARGV: limit, period (ms), slots.  Returns {admitted, remaining,
 * reset_ms, retry_after_ms, at_ms}. */
const char ea_rlredis_script[] =
    "if redis.replicate_commands then pcall(redis.replicate_commands) end\n"
    "local key = KEYS[1]\n"
    "local limit = tonumber(ARGV[1])\n"
    "local period = tonumber(ARGV[2])\n"
    "local S = tonumber(ARGV[3])\n"
    "local tm = redis.call('TIME')\n"
    "local at = tonumber(tm[1]) * 1000 + math.floor(tonumber(tm[2]) / 1000)\n"
    "local st, ct = {}, {}\n"
    "local raw = redis.call('GET', key)\n"
    "if raw then\n"
    "  local first = true\n"
    "  for a, b in string.gmatch(raw, '(%d+):(%d+)') do\n"
    "    local s = tonumber(a)\n"
    "    if first then\n"
    "      if s > at then at = s end\n"
    "      first = false\n"
    "    elseif s + period > at then\n"
    "      st[#st + 1] = s\n"
    "      ct[#ct + 1] = tonumber(b)\n"
    "    end\n"
    "  end\n"
    "end\n"
    "local n, live = #st, 0\n"
    "for i = 1, n do live = live + ct[i] end\n"
    "local admitted, remaining, reset, retry = 0, 0, 0, 0\n"
    "if live < limit then\n"
    "  local g = 1\n"
    "  if limit > S then g = math.floor((period + S - 2) / (S - 1)) end\n"
    "  if n > 0 and (st[n] >= at or math.floor(st[n] / g) == math.floor(at / g) or n >= S) then\n"
    "    if st[n] < at then st[n] = at end\n"
    "    ct[n] = ct[n] + 1\n"
    "  else\n"
    "    n = n + 1\n"
    "    st[n] = at\n"
    "    ct[n] = 1\n"
    "  end\n"
    "  admitted = 1\n"
    "  remaining = limit - live - 1\n"
    "  reset = period\n"
    "else\n"
    "  local drop, acc = live - limit + 1, 0\n"
    "  retry = 1\n"
    "  for i = 1, n do\n"
    "    acc = acc + ct[i]\n"
    "    if acc >= drop then retry = st[i] + period - at break end\n"
    "  end\n"
    "  if retry < 1 then retry = 1 end\n"
    "  reset = st[n] + period - at\n"
    "end\n"
    "local parts = { string.format('%.0f:0', at) }\n"
    "for i = 1, n do parts[#parts + 1] = string.format('%.0f:%.0f', st[i], ct[i]) end\n"
    "redis.call('SET', key, table.concat(parts, ' '), 'PX', string.format('%.0f', st[n] + period - at))\n"
    "return { admitted, remaining, reset, retry, at }\n";

struct ea_rlredis {
    redisContext *ctx;
    ea_redis_script script;
};

void ea_rlredis_secret(uint8_t out[16], const char *secret)
{
    static const uint8_t k1[16] = "ecoatlas-rl-k1..", k2[16] = "ecoatlas-rl-k2..";
    const char *s = secret ? secret : "";
    uint64_t a = ea_siphash24(k1, s, strlen(s)), b = ea_siphash24(k2, s, strlen(s));
    memcpy(out, &a, 8);
    memcpy(out + 8, &b, 8);
}

void ea_rlredis_key(char out[EA_RLREDIS_KEY_SIZE], const uint8_t secret[16], const char *key,
                    size_t klen)
{
    uint8_t k2[16];
    for (int i = 0; i < 16; i++)
        k2[i] = secret[i] ^ 0x5c;
    uint64_t a = ea_siphash24(secret, key, klen), b = ea_siphash24(k2, key, klen);
    snprintf(out, EA_RLREDIS_KEY_SIZE, "ecoatlas:rl:%016llx%016llx", (unsigned long long)a,
             (unsigned long long)b);
}

static void set_err(char *buf, size_t len, const char *what, const char *detail)
{
    if (buf && len)
        snprintf(buf, len, "%s%s%s", what, detail ? ": " : "", detail ? detail : "");
}

ea_rlredis *ea_rlredis_connect(const ea_redis_url *u, int timeout_ms, char *errbuf, size_t errlen)
{
    static const char *const step[] = {
        [EA_REDIS_OK] = "connect", [EA_REDIS_FAIL_CONNECT] = "connect", [EA_REDIS_FAIL_TIMEOUT] = "cannot set the command timeout",
        [EA_REDIS_FAIL_AUTH] = "AUTH", [EA_REDIS_FAIL_SELECT] = "SELECT",
    };
    char detail[256];
    ea_redis_fail fail;
    redisContext *ctx = ea_redis_connect(u, timeout_ms, 0, &fail, detail, sizeof detail);
    if (!ctx) {
        set_err(errbuf, errlen, step[fail], detail);
        return NULL;
    }
    ea_rlredis *c = calloc(1, sizeof(*c));
    if (!c) {
        redisFree(ctx);
        set_err(errbuf, errlen, "out of memory", NULL);
        return NULL;
    }
    c->ctx = ctx;
    if (ea_redis_script_load(ctx, &c->script, ea_rlredis_script, detail, sizeof detail) != 0) {
        set_err(errbuf, errlen, "SCRIPT LOAD", detail);
        ea_rlredis_free(c);
        return NULL;
    }
    return c;
}

void ea_rlredis_free(ea_rlredis *c)
{
    if (c) {
        redisFree(c->ctx);
        free(c);
    }
}

static unsigned ceil_s(uint64_t ms)
{
    uint64_t s = (ms + 999) / 1000;
    return s > 0xffffffffu ? 0xffffffffu : (unsigned)s;
}

int ea_rlredis_admit(ea_rlredis *c, const char *rkey, unsigned limit, uint64_t period_ms,
                     unsigned slots, ea_throttle_verdict *v, char *errbuf, size_t errlen)
{
    char a1[16], a2[24], a3[16];
    snprintf(a1, sizeof a1, "%u", limit);
    snprintf(a2, sizeof a2, "%llu", (unsigned long long)period_ms);
    snprintf(a3, sizeof a3, "%u", slots);
    const char *keys[1] = { rkey }, *args[3] = { a1, a2, a3 };
    redisReply *r = ea_redis_script_run(c->ctx, &c->script, 1, keys, 3, args);
    if (!r) {
        /* closed or reset by the server: nothing was counted on it */
        int gone = ea_redis_conn_gone(c->ctx);
        set_err(errbuf, errlen, "EVALSHA", c->ctx->errstr[0] ? c->ctx->errstr : "no reply");
        return gone ? -2 : -1;
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 5) {
        set_err(errbuf, errlen, "unexpected reply to the rate-limit script",
                r->type == REDIS_REPLY_ERROR ? r->str : NULL);
        freeReplyObject(r);
        return -1;
    }
    long long x[5];
    for (int i = 0; i < 5; i++) {
        if (r->element[i]->type != REDIS_REPLY_INTEGER) {
            set_err(errbuf, errlen, "unexpected reply to the rate-limit script", NULL);
            freeReplyObject(r);
            return -1;
        }
        x[i] = r->element[i]->integer;
    }
    freeReplyObject(r);
    memset(v, 0, sizeof(*v));
    v->admitted = x[0] == 1;
    v->remaining = x[1] > 0 ? (unsigned)x[1] : 0;
    v->reset_ms = x[2] > 0 ? (uint64_t)x[2] : 0;
    v->reset_s = ceil_s(v->reset_ms);
    if (!v->admitted) {
        v->retry_after_ms = x[3] > 0 ? (uint64_t)x[3] : 1;
        v->retry_after_s = ceil_s(v->retry_after_ms);
    }
    v->at_ms = x[4] > 0 ? (uint64_t)x[4] : 0;
    return 0;
}
