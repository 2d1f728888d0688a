/* ea_redis: the one Redis layer under the rate limits (ea_rlredis.c,
 * EcoAtlasThrottleBackend) and the task queue (ea_queue.c,
 * EcoAtlasBrokerURL / EcoAtlasResultBackend): the URL grammar, the
 * connection (connect and command timeouts, AUTH, SELECT) and the Lua
 * scripts (EVALSHA, EVAL after NOSCRIPT).
 *
 * URLs (docs/directives.md, EcoAtlasThrottleBackend and EcoAtlasBrokerURL):
 *   redis://[[user]:password@]host[:port][/db[/]][?query]
 *   unix://[[user]:password@]/path/to/redis.sock[?query]
 *   redis+socket://...        (Celery's spelling of unix://)
 * host: a DNS name (letters, digits, - . _), dotted quad or [IPv6]; port
 * 1..65535 (6379); db 0..65535 (0); query: db=N, virtual_host=N (Celery's
 * name for the db), password=..., username=...; user, password and the
 * socket path are %-decoded.  rediss:// is refused (TLS would need
 * hiredis_ssl).  Whether credentials are allowed is the caller's policy
 * (ea_redis_url_no_credentials). */
#ifndef EA_REDIS_H
#define EA_REDIS_H

#include <apr_pools.h>
#include <hiredis/hiredis.h>
#include <stddef.h>

typedef struct ea_redis_url {
    int is_unix;
    char host[256];          /* TCP; "" for a Unix socket */
    int port;
    char path[108];          /* the socket path; "" for TCP */
    int db;
    int has_username;        /* 0: AUTH password alone */
    int has_password;        /* 0: no AUTH */
    char username[256];
    char password[512];
} ea_redis_url;

/* 0 and *u filled, or -1 and *err (static text) a short English reason.
 * err may be NULL. */
int ea_redis_url_parse(const char *s, ea_redis_url *u, const char **err);
/* The policy of a URL that must carry no credentials: NULL when u has
 * none, else the reason to refuse it. */
const char *ea_redis_url_no_credentials(const ea_redis_url *u);
/* The URL with its password replaced by ****, for messages. */
const char *ea_redis_url_redact(apr_pool_t *p, const char *url);
/* "host:port" or the socket path, for messages. */
const char *ea_redis_url_where(const ea_redis_url *u, char *buf, size_t n);

/* ---- connections ---------------------------------------------------------- */

/* Where ea_redis_connect failed. */
typedef enum {
    EA_REDIS_OK = 0,
    EA_REDIS_FAIL_CONNECT,   /* no context or connect error (detail: hiredis' errstr) */
    EA_REDIS_FAIL_TIMEOUT,   /* the command timeout could not be set */
    EA_REDIS_FAIL_AUTH,      /* AUTH refused or unanswered */
    EA_REDIS_FAIL_SELECT     /* SELECT refused or unanswered */
} ea_redis_fail;

#define EA_REDIS_KEEPALIVE 1  /* flags: TCP keep-alive on the socket */

/* Connect with connect and command timeouts of timeout_ms, AUTH when u has
 * a password, SELECT when u->db is not 0.  The context, or NULL with
 * *fail saying which step failed and detail (the server's or hiredis'
 * words) in errbuf. */
redisContext *ea_redis_connect(const ea_redis_url *u, int timeout_ms, int flags, ea_redis_fail *fail,
                               char *errbuf, size_t errlen);
/* 1 when the last failure on c was the server closing or resetting the
 * connection (a connection older than a Redis restart): nothing the
 * command asked for was done.  Read it right after the failed call
 * (it looks at errno). */
int ea_redis_conn_gone(const redisContext *c);

/* ---- scripts ------------------------------------------------------------------ */

typedef struct ea_redis_script {
    const char *body;
    char sha[41];            /* "": EVAL every time */
} ea_redis_script;

/* The script's SHA-1 computed here (no round trip). */
void ea_redis_script_init(ea_redis_script *s, const char *body);
/* The script's SHA-1 from SCRIPT LOAD (loads it into the server's cache).
 * 0, or -1 with the reason in errbuf. */
int ea_redis_script_load(redisContext *c, ea_redis_script *s, const char *body, char *errbuf,
                         size_t errlen);
/* 1 when r is a NOSCRIPT error (the server lost its script cache). */
int ea_redis_noscript(const redisReply *r);
/* Append EVALSHA (EVAL with the body when eval_body is set) to c's output
 * buffer, for pipelines.  At most 12 keys + args.  REDIS_OK or REDIS_ERR. */
int ea_redis_script_append(redisContext *c, const ea_redis_script *s, int eval_body, int nkeys,
                           const char *const *keys, int nargs, const char *const *args);
/* Run s: EVALSHA, then EVAL after NOSCRIPT (SCRIPT FLUSH, a restart, a
 * failover).  The reply (maybe an error reply), or NULL when the
 * connection failed (c->err, ea_redis_conn_gone). */
redisReply *ea_redis_script_run(redisContext *c, const ea_redis_script *s, int nkeys,
                                const char *const *keys, int nargs, const char *const *args);

#endif
