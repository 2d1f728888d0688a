/* ea_queue: a reliable task queue on Redis (hiredis), shared by the module
 * (enqueue, eager records, task status), the worker and the CLI.
 *
 * Design (lists + a processing ZSET, every state change one Lua script):
 *   <p>queue        LIST of task ids ready to run (LPUSH in, RPOP out)
 *   <p>msg:<id>     HASH name, args, created, attempts, lease: the message
 *   <p>processing   ZSET id -> lease deadline (ms, Redis clock)
 *   <p>delayed      ZSET id -> time a retry becomes due
 *   <p>dead         LIST of JSON entries of tasks that failed for good
 *   <p>wakeup       LIST poked at each enqueue; idle workers BRPOP it
 *   <p>task:<id>    HASH the task record (result backend), with a TTL
 * Reserving pops ids, stamps each message with a fresh lease token and puts
 * it in the processing ZSET with a deadline (visibility timeout); the worker
 * extends the deadline while the task runs (heartbeat).  A worker that dies
 * stops extending it: the next reserve (any worker) finds the deadline past
 * and puts the id back at the head of the queue, so the task is delivered
 * again (at-least-once).  Ack, retry, dead-letter and hand-back check the
 * lease token first, so a worker that lost its lease cannot ack the new
 * delivery.  Deliveries are counted in the message: past max_attempts a
 * task goes to the dead-letter list instead of running again.  Redis's own
 * clock (TIME inside the scripts) scores the deadlines, so workers on
 * several machines need no synchronised clocks.  Streams + XAUTOCLAIM
 * would do too; this layout keeps delayed retries, leases and dead letters
 * in one small set of atomic scripts.
 *
 * Connections (ea_redis.h: URLs, AUTH, SELECT, scripts): lazily opened,
 * with a connect and a command timeout (a dead Redis makes calls fail
 * within timeout_ms, never hang), dropped on any error and reopened by
 * the next call.  Not thread-safe: one ea_taskq
 * per thread. */
#ifndef EA_QUEUE_H
#define EA_QUEUE_H

#include <apr_pools.h>
#include <stddef.h>

#include "ea_task_id.h"

typedef struct ea_taskq_opts {
    const char *broker_url;     /* required */
    const char *backend_url;    /* NULL or "": the broker */
    const char *prefix;         /* key prefix, NULL: "ecoatlas:" */
    int timeout_ms;             /* connect and command timeout, 0: 2000 */
    int visibility_ms;          /* lease length, 0: 30000 */
    int result_ttl_s;           /* finished records, 0: 86400 */
    int max_attempts;           /* deliveries before the dead-letter list, 0: 4 */
    const char *worker_name;    /* stamped into leases and records */
} ea_taskq_opts;

typedef struct ea_taskq ea_taskq;

/* Checks the URLs; connects on first use.  NULL with *err on bad URLs. */
ea_taskq *ea_taskq_create(apr_pool_t *p, const ea_taskq_opts *o, const char **err);
void ea_taskq_close(ea_taskq *q);
/* ea_taskq_close as a pool cleanup. */
apr_status_t ea_taskq_close_cleanup(void *q);
/* Message of the last failure (connection, Redis error). */
const char *ea_taskq_error(const ea_taskq *q);

/* Enqueue: the record (PENDING) and the message both, or neither.  id is
 * filled with the new task's id.  0, or -1 (ea_taskq_error). */
int ea_taskq_enqueue(ea_taskq *q, const char *name, const char *args_json,
                     char id[EA_TASK_ID_LEN + 1]);
/* Enqueue n tasks of the same name in one round trip (benchmarks). */
int ea_taskq_enqueue_many(ea_taskq *q, const char *name, const char *args_json, int n);

typedef struct ea_task_msg {
    char id[EA_TASK_ID_LEN + 1];
    char *name;
    char *args;
    char *created;
    int attempts;               /* deliveries so far, this one included */
    char *lease;
    int dead;                   /* delivered too often: record FAILURE, do not run */
} ea_task_msg;

/* Reserve up to max messages (allocated from p).  *n = 0 when the queue is
 * empty.  Also moves due retries and expired leases back to the queue. */
int ea_taskq_reserve(ea_taskq *q, apr_pool_t *p, int max, ea_task_msg *out, int *n);
/* Block up to timeout_ms for an enqueue to happen (or return at once). */
int ea_taskq_wait(ea_taskq *q, int timeout_ms);
/* Extend the leases of msgs (one round trip); *lost counts leases no
 * longer ours. */
int ea_taskq_heartbeat(ea_taskq *q, ea_task_msg *const *msgs, int n, int *lost);
/* Record STARTED (started time, attempts, worker). */
int ea_taskq_started(ea_taskq *q, const ea_task_msg *m);

typedef enum {
    EA_TASK_SUCCESS,    /* result_json stored, acked */
    EA_TASK_RETRY,      /* error stored as RETRY, redelivered after a backoff, or FAILURE past the limit */
    EA_TASK_FAILURE     /* error stored as FAILURE, dead-lettered */
} ea_task_outcome;

/* Store the outcome in the record, then ack / delay / dead-letter the
 * message.  *final_status is set to "SUCCESS", "RETRY" or "FAILURE".
 * Returns 0, 1 when the lease had been lost (the record is written all the
 * same; another delivery is under way), or -1. */
int ea_taskq_finish(ea_taskq *q, const ea_task_msg *m, ea_task_outcome outcome,
                    const char *result_json, const char *error, const char **final_status);
/* Hand a reserved message back to the queue, undelivered (shutdown). */
int ea_taskq_release(ea_taskq *q, const ea_task_msg *m);

/* Eager mode: store a complete record of a task run in-process. */
int ea_taskq_store_record(ea_taskq *q, const char *id, const char *name, const char *args_json,
                          const char *status, const char *result_json, const char *error,
                          const char *created, const char *started, const char *finished);

/* The record of id as JSON (allocated from p): {"task_id", "name",
 * "status", "result", "error", "attempts", "created", "started",
 * "finished"}; *json = NULL when there is none.  0 or -1. */
int ea_taskq_record_json(ea_taskq *q, apr_pool_t *p, const char *id, char **json);
/* The dead-letter entries, newest first, as a JSON array (up to max). */
int ea_taskq_dead_letters(ea_taskq *q, apr_pool_t *p, int max, char **json);
/* Queue lengths: ready, processing, delayed, dead. */
int ea_taskq_stats(ea_taskq *q, long long out[4]);

/* Figures for the metrics scrape (docs/operations.md).  A worker beats
 * every few seconds (a ZSET scored by Redis's clock; names older than
 * forget_s are dropped); live workers are those that beat within
 * within_s.  The workers' counters are one hash of "task|what" fields
 * (ea_metrics.h names them), added with HINCRBY. */
int ea_taskq_worker_beat(ea_taskq *q, const char *name, int forget_s);
int ea_taskq_live_workers(ea_taskq *q, int within_s, long long *n);
int ea_taskq_stats_add(ea_taskq *q, int n, const char *const *fields, const long long *incr);
int ea_taskq_stats_get(ea_taskq *q, apr_pool_t *p, const char ***fields, long long **values, int *n);

#endif
