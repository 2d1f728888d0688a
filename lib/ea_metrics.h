/* ea_metrics: counters and histograms in one shared-memory region, written
 * by every httpd child and thread without locks, and their Prometheus text
 * exposition.
 *
 * Each figure is a relaxed 64-bit atomic add (C11 __atomic, never
 * apr_atomic_*64).  The region is split into shards, one cache line apart,
 * and a thread always adds to the same shard, so that two cores seldom
 * write the same line; a scrape sums the shards.  The region holds numbers
 * only (no pointers); names come from the code at scrape time, and a hash
 * of them in the header tells a restart whether the layout is unchanged.
 *
 * Histograms keep one count per bucket (not cumulative) and the sum in
 * microseconds: a scrape derives _count from the buckets, so _count always
 * equals the +Inf bucket however the reads interleave with writers. */
#ifndef EA_METRICS_H
#define EA_METRICS_H

#include "ea_buf.h"

#include <stddef.h>
#include <stdint.h>

#define EA_METRICS_ROUTES 48        /* distinct route names; 0 and 1 are reserved */
#define EA_METRICS_ROUTE_NONE 0     /* under the API, no route (404) */
#define EA_METRICS_ROUTE_REDIRECT 1 /* the trailing-slash redirect */
#define EA_METRICS_TASKS 8          /* task names (lib/ea_task_run.c) */
#define EA_METRICS_DBS 8            /* databases whose cache listener is reported */
#define EA_METRICS_BUCKETS 16       /* finite bucket bounds, 0.1 ms to 10 s */
#define EA_METRICS_SHARDS 16

/* Plain counters.  Keep the members of one family together: the
 * exposition writes a family's HELP and TYPE once, before its samples. */
typedef enum {
    /* response cache */
    EA_C_CACHE_HIT, EA_C_CACHE_MISS, EA_C_CACHE_BYPASS,
    EA_C_CACHE_STORE,
    EA_C_CACHE_EVICTION,
    EA_C_CACHE_INVAL_WRITE, EA_C_CACHE_INVAL_NOTIFY, EA_C_CACHE_INVAL_LISTEN,
    EA_C_CACHE_LISTENER_LOST,
    /* page-boundary maps of deep pages */
    EA_C_MAP_BUILT, EA_C_MAP_WAITED, EA_C_MAP_FAILED,
    /* rate limits */
    EA_C_RL_ANON_OK, EA_C_RL_ANON_NO, EA_C_RL_USER_OK, EA_C_RL_USER_NO,
    EA_C_RL_LOGIN_OK, EA_C_RL_LOGIN_NO, EA_C_RL_CRED_OK, EA_C_RL_CRED_NO,
    EA_C_RL_REDIS_ERROR,
    EA_C_RL_FAIL_OPEN, EA_C_RL_FAIL_CLOSED,
    /* authentication */
    EA_C_AUTH_TOKEN, EA_C_AUTH_SESSION, EA_C_AUTH_LOGIN, EA_C_AUTH_TOKEN_ISSUED,
    EA_C_AUTH_F_INVALID, EA_C_AUTH_F_INACTIVE, EA_C_AUTH_F_EXPIRED, EA_C_AUTH_F_MALFORMED,
    EA_C_AUTH_F_BLOCKED, EA_C_AUTH_F_DATABASE, EA_C_AUTH_F_BAD_CREDENTIALS,
    EA_C_AUTH_F_NOT_AUTHENTICATED, EA_C_AUTH_F_FORBIDDEN, EA_C_AUTH_F_CSRF,
    /* database */
    EA_C_DB_STATEMENT,
    EA_C_DB_ERROR, EA_C_DB_TIMEOUT, EA_C_DB_UNAVAILABLE, EA_C_DB_CONSTRAINT,
    EA_C_DB_RECONNECT,
    EA_C_DB_ACQUIRE_FAIL,
    /* tasks (module side) */
    EA_C_TASK_BROKER_ERROR,
    EA_C_COUNT
} ea_metric_counter;

/* Counters with a task-name label (index from ea_task_index). */
typedef enum { EA_T_ENQUEUED, EA_T_EAGER_OK, EA_T_EAGER_FAIL, EA_T_IMPORT_UPLOADS,
               EA_T_IMPORT_UPLOAD_BYTES, EA_T_EAGER_IMPORT_ROWS, EA_T_COUNT } ea_metric_task;

/* Exports (CSV and PDF). */
typedef enum { EA_X_SITES_CSV, EA_X_METRICS_CSV, EA_X_METRICS_PDF, EA_X_COUNT } ea_metric_export;

/* Histograms. */
typedef enum { EA_H_DB_WAIT, EA_H_EXPORT_BASE,
               EA_H_ROUTE_BASE = EA_H_EXPORT_BASE + EA_X_COUNT,
               EA_H_COUNT = EA_H_ROUTE_BASE + EA_METRICS_ROUTES } ea_metric_hist;

typedef struct ea_metrics ea_metrics;

/* Bytes the region needs. */
size_t ea_metrics_size(void);
/* A fresh region in mem (ea_metrics_size bytes) for this layout (a hash of
 * the route and task names: ea_metrics_layout). */
ea_metrics *ea_metrics_init(void *mem, size_t size, uint64_t layout);
/* An existing region (a graceful restart): NULL unless its size, magic and
 * layout are those of this build. */
ea_metrics *ea_metrics_attach(void *mem, size_t size, uint64_t layout);
uint64_t ea_metrics_layout(const char *const *routes, int nroutes, const char *const *tasks, int ntasks);
/* Seconds since the epoch when the region was created (counts start). */
int64_t ea_metrics_created(const ea_metrics *m);

/* ---- the hot path: one relaxed atomic add each ---- */
void ea_metrics_add(ea_metrics *m, ea_metric_counter c, uint64_t n);
void ea_metrics_task(ea_metrics *m, ea_metric_task t, int task, uint64_t n);
/* A request: status class from the status code, latency into the route's histogram. */
void ea_metrics_request(ea_metrics *m, int route, int status, uint64_t usec);
void ea_metrics_observe(ea_metrics *m, ea_metric_hist h, uint64_t usec);
void ea_metrics_export(ea_metrics *m, ea_metric_export x, uint64_t rows, uint64_t bytes, uint64_t usec);

/* ---- reading ---- */
uint64_t ea_metrics_counter(const ea_metrics *m, ea_metric_counter c);
/* Requests of a route (-1: every route) with a status class (1..5, 0: all). */
uint64_t ea_metrics_requests(const ea_metrics *m, int route, int status_class);

/* What a scrape learns outside the region. */
typedef struct ea_metrics_scrape {
    const char *const *routes;  /* names, index = route id; NULL entries skipped */
    int nroutes;
    const char *const *tasks;   /* task names, index = task id */
    int ntasks;
    int ndbs;                   /* databases with a cache listener */
    int listener_up[EA_METRICS_DBS];
    long long listener_pid[EA_METRICS_DBS];        /* the leading child, 0: none */
    uint64_t listener_starts[EA_METRICS_DBS];      /* listens started (each empties the cache) */
    uint64_t cache_slots;
    int broker;                 /* -1 none configured, 0 unreachable, 1 answered */
    long long queue[4];         /* ready, processing, delayed, dead */
    long long workers;          /* live workers (heartbeat within the window) */
    /* the workers' own counters (Redis hash), "task|what" -> value */
    int nworker;
    const char *const *worker_field;
    const long long *worker_value;
} ea_metrics_scrape;

/* The whole exposition (text format 0.0.4) appended to b. */
void ea_metrics_write(const ea_metrics *m, const ea_metrics_scrape *s, ea_buf *b);

/* The "imported" count of an import task's JSON result, or -1. */
long long ea_metrics_result_rows(const char *result_json);

/* Field names of the workers' hash (ea_taskq_stats_add), one per outcome. */
#define EA_WSTAT_SUCCEEDED "succeeded"
#define EA_WSTAT_FAILED "failed"
#define EA_WSTAT_RETRIED "retried"
#define EA_WSTAT_TIMED_OUT "timed_out"
#define EA_WSTAT_SECONDS_US "duration_us"
#define EA_WSTAT_IMPORT_ROWS "import_rows"

#endif
