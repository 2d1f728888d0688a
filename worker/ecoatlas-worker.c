/* ecoatlas-worker: runs the tasks that mod_ecoatlas (and `ecoatlas task
 * enqueue`) put on the Redis queue, the successor of the Celery worker.
 *
 * Threads: N workers, each with its own Redis and PostgreSQL connections,
 * reserve tasks (lib/ea_queue.c: leases with a visibility timeout), run them
 * (lib/ea_task_run.c) and store the outcome before acknowledging.  The main
 * thread is the supervisor: it takes the signals (sigtimedwait, so no
 * handler runs in a worker), extends the leases of the tasks being held
 * (heartbeat), enforces the time limit (PQcancel of the running statement,
 * the task marked FAILURE) and runs the shutdown: SIGTERM stops taking
 * tasks, lets the running ones finish for --grace seconds, then cancels and
 * hands them back to the queue undelivered, and exits 0.  SIGHUP reopens the
 * log file.  Redis and PostgreSQL outages are waited out with a backoff. */
#include "ea_conffile.h"
#include "ea_metrics.h"
#include "ea_queue.h"
#include "ea_redis.h"
#include "ea_settings.h"
#include "ea_stmt.h"
#include "ea_task_run.h"
#include "ea_version.h"
#include "ea_logno.h"

#include <apr_general.h>
#include <apr_strings.h>
#include <libpq-fe.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define WK_DEFAULT_CONFIG "/etc/apache2/apache2.conf"
#define WK_MAX_PREFETCH 64
#define WK_BEAT_S 5            /* heartbeat for the metrics' live-worker count */
#define WK_BEAT_FORGET_S 3600  /* names silent this long leave the heartbeat set */

/* ---- settings and shared state ----------------------------------------------- */

static struct {
    const char *config;
    const char *conninfo;
    const char *broker, *backend;
    const char *import_dir;     /* EcoAtlasImportDir; NULL: the temporary directory */
    int time_limit_s;
    int loglevel;
    int concurrency;
    int prefetch;
    int visibility_s;
    int max_retries;
    int grace_s;
    int foreground;
    int test_tasks;
    const char *log_path;
    const char *pidfile;
    const char *name;
} W;

static volatile sig_atomic_t wk_stopping;
static int wk_alive;                    /* worker threads still running (under wk_alive_mu) */
static pthread_mutex_t wk_alive_mu = PTHREAD_MUTEX_INITIALIZER;

static FILE *wk_log_file;
static pthread_mutex_t wk_log_mu = PTHREAD_MUTEX_INITIALIZER;

/* One worker thread, as the supervisor sees it (all under mu). */
typedef struct wk_slot {
    int idx;
    pthread_t thread;
    pthread_mutex_t mu;
    int nheld;                          /* reserved, not yet finished: heartbeat them */
    char held_id[WK_MAX_PREFETCH][EA_TASK_ID_LEN + 1];
    char held_lease[WK_MAX_PREFETCH][160];
    int running;
    char run_name[64];
    char run_id[EA_TASK_ID_LEN + 1];
    struct timespec run_start;
    volatile int cancel;                /* read by the task (imports check it) */
    int timed_out;
    int handback;
    PGcancel *pgcancel;
} wk_slot;

static wk_slot *wk_slots;

/* ---- logging: [LEVEL] YYYY-MM-DD HH:MM:SS,mmm ecoatlas.worker: message ------- */

static const char *wk_level_name(int level)
{
    switch (level) {
    case 0: case 1: case 2: return "CRITICAL";
    case EA_LOG_ERROR: return "ERROR";
    case EA_LOG_WARNING: return "WARNING";
    case 5: case EA_LOG_INFO: return "INFO";
    default: return "DEBUG";
    }
}

static void wk_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void wk_log(int level, const char *fmt, ...)
{
    struct timespec ts;
    struct tm tm;
    char when[32];
    va_list ap;
    if (level > W.loglevel)
        return;
    clock_gettime(CLOCK_REALTIME, &ts);
    localtime_r(&ts.tv_sec, &tm);
    strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm);
    pthread_mutex_lock(&wk_log_mu);
    FILE *f = wk_log_file ? wk_log_file : stderr;
    fprintf(f, "[%s] %s,%03ld ecoatlas.worker: ", wk_level_name(level), when, ts.tv_nsec / 1000000);
    va_start(ap, fmt);
    vfprintf(f, fmt, ap);
    va_end(ap);
    fputc('\n', f);
    fflush(f);
    pthread_mutex_unlock(&wk_log_mu);
}

static void wk_task_log(void *baton, int level, const char *msg)
{
    const char *id = baton;
    wk_log(level, EA_LOG_RELAY "%s [%s]", msg, id);
}

/* Open (or reopen, after SIGHUP: logrotate moved the file) the log file. */
static int wk_log_open(void)
{
    FILE *f;
    if (W.log_path == NULL)
        return 0;
    f = fopen(W.log_path, "ae");
    if (f == NULL)
        return -1;
    pthread_mutex_lock(&wk_log_mu);
    if (wk_log_file)
        fclose(wk_log_file);
    wk_log_file = f;
    pthread_mutex_unlock(&wk_log_mu);
    return 0;
}

/* ---- time ------------------------------------------------------------------------ */

static double wk_elapsed(const struct timespec *since)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - since->tv_sec) + (now.tv_nsec - since->tv_nsec) / 1e9;
}

/* Sleep ms, in slices, returning early when a shutdown starts. */
static void wk_sleep_ms(int ms)
{
    while (ms > 0 && !wk_stopping) {
        int slice = ms > 100 ? 100 : ms;
        struct timespec ts = {0, slice * 1000000L};
        nanosleep(&ts, NULL);
        ms -= slice;
    }
}

static int wk_backoff(int *ms)
{
    int cur = *ms ? *ms : 100;
    *ms = cur * 2 > 5000 ? 5000 : cur * 2;
    return cur;
}

/* ---- worker threads ------------------------------------------------------------------ */

static ea_taskq *wk_queue(apr_pool_t *p, const char *who)
{
    ea_taskq_opts o;
    const char *err;
    memset(&o, 0, sizeof o);
    o.broker_url = W.broker;
    o.backend_url = W.backend;
    o.visibility_ms = W.visibility_s * 1000;
    o.max_attempts = W.max_retries + 1;
    o.worker_name = who;
    ea_taskq *q = ea_taskq_create(p, &o, &err);
    if (q == NULL)
        wk_log(EA_LOG_ERROR, EA_LOGNO(00052) "%s", err);
    return q;
}

/* A working PostgreSQL connection, waiting out an outage; NULL only when
 * shutting down. */
static PGconn *wk_pg(wk_slot *s, PGconn *pg)
{
    int backoff = 0, reported = 0;
    while (!wk_stopping) {
        if (pg != NULL && PQstatus(pg) == CONNECTION_OK)
            return pg;
        pthread_mutex_lock(&s->mu);
        if (s->pgcancel) {
            PQfreeCancel(s->pgcancel);
            s->pgcancel = NULL;
        }
        pthread_mutex_unlock(&s->mu);
        if (pg != NULL)
            PQfinish(pg);
        pg = PQconnectdb(W.conninfo);
        if (PQstatus(pg) == CONNECTION_OK && ea_task_pg_setup(pg) == 0) {
            pthread_mutex_lock(&s->mu);
            s->pgcancel = PQgetCancel(pg);
            pthread_mutex_unlock(&s->mu);
            if (reported)
                wk_log(EA_LOG_WARNING, EA_LOGNO(00053) "worker %d: PostgreSQL connection restored", s->idx);
            return pg;
        }
        if (!reported) {
            char *m = strdup(PQerrorMessage(pg));
            size_t n = m ? strlen(m) : 0;
            while (n > 0 && (m[n - 1] == '\n' || m[n - 1] == ' '))
                m[--n] = '\0';
            wk_log(EA_LOG_ERROR, EA_LOGNO(00054) "worker %d: PostgreSQL unavailable, retrying: %s", s->idx, m ? m : "");
            free(m);
            reported = 1;
        }
        wk_sleep_ms(wk_backoff(&backoff));
    }
    return pg;
}

static void wk_hold(wk_slot *s, const ea_task_msg *msgs, int n)
{
    pthread_mutex_lock(&s->mu);
    s->nheld = 0;
    for (int i = 0; i < n && i < WK_MAX_PREFETCH; i++) {
        if (msgs[i].dead)
            continue;
        memcpy(s->held_id[s->nheld], msgs[i].id, sizeof s->held_id[0]);
        snprintf(s->held_lease[s->nheld], sizeof s->held_lease[0], "%s", msgs[i].lease);
        s->nheld++;
    }
    pthread_mutex_unlock(&s->mu);
}

static void wk_unhold(wk_slot *s, const char *id)
{
    pthread_mutex_lock(&s->mu);
    for (int i = 0; i < s->nheld; i++) {
        if (strcmp(s->held_id[i], id) == 0) {
            s->nheld--;
            memmove(s->held_id[i], s->held_id[s->nheld], sizeof s->held_id[0]);
            memmove(s->held_lease[i], s->held_lease[s->nheld], sizeof s->held_lease[0]);
            break;
        }
    }
    pthread_mutex_unlock(&s->mu);
}

/* The run in the workers' counters (a Redis hash the metrics scrape
 * reads): outcome, time, rows imported.  Only known task names, so the
 * labels stay bounded; a failure to count is not worth a retry. */
static void wk_count(ea_taskq *q, const ea_task_msg *m, const char *what, double secs, const char *result)
{
    const char *f[3];
    long long v[3];
    int n = 0;
    char b[3][128];
    if (ea_task_index(m->name) < 0)
        return;
    snprintf(b[0], sizeof b[0], "%s|%s", m->name, what);
    snprintf(b[1], sizeof b[1], "%s|%s", m->name, EA_WSTAT_SECONDS_US);
    f[n] = b[0], v[n++] = 1;
    f[n] = b[1], v[n++] = (long long)(secs * 1e6);
    long long rows = result ? ea_metrics_result_rows(result) : -1;
    if (rows > 0) {
        snprintf(b[2], sizeof b[2], "%s|%s", m->name, EA_WSTAT_IMPORT_ROWS);
        f[n] = b[2], v[n++] = rows;
    }
    if (ea_taskq_stats_add(q, n, f, v) != 0)
        wk_log(EA_LOG_DEBUG, EA_LOGNO(00055) "Task %s[%s]: not counted in the metrics: %s", m->name, m->id,
               ea_taskq_error(q));
}

/* Store the outcome, retrying while Redis is away (up to half the
 * visibility timeout: after that another worker redoes the task anyway). */
static void wk_finish(ea_taskq *q, const ea_task_msg *m, ea_task_outcome out, const char *result,
                      const char *error, double secs, int timed_out)
{
    const char *status = "FAILURE";
    int backoff = 0, rc;
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while ((rc = ea_taskq_finish(q, m, out, result, error, &status)) < 0) {
        if (wk_elapsed(&t0) * 1000 > W.visibility_s * 500) {
            wk_log(EA_LOG_ERROR, EA_LOGNO(00056) "Task %s[%s]: cannot store its outcome (%s): it will run again",
                   m->name, m->id, ea_taskq_error(q));
            return;
        }
        wk_sleep_ms(wk_backoff(&backoff));
    }
    if (rc == 1)
        wk_log(EA_LOG_WARNING, EA_LOGNO(00057) "Task %s[%s]: lease lost while it ran (longer than the visibility "
               "timeout without heartbeat); another delivery may run it again", m->name, m->id);
    wk_count(q, m, timed_out ? EA_WSTAT_TIMED_OUT : strcmp(status, "SUCCESS") == 0 ? EA_WSTAT_SUCCEEDED
                   : strcmp(status, "RETRY") == 0 ? EA_WSTAT_RETRIED : EA_WSTAT_FAILED, secs, result);
    if (strcmp(status, "SUCCESS") == 0)
        wk_log(EA_LOG_INFO, EA_LOGNO(00058) "Task %s[%s] succeeded in %.3fs", m->name, m->id, secs);
    else if (strcmp(status, "RETRY") == 0)
        wk_log(EA_LOG_WARNING, EA_LOGNO(00059) "Task %s[%s] failed (attempt %d of %d), will retry: %s", m->name, m->id,
               m->attempts, W.max_retries + 1, error);
    else
        wk_log(EA_LOG_ERROR, EA_LOGNO(00060) "Task %s[%s] failed: %s", m->name, m->id, error ? error : "");
}

static void wk_run_one(wk_slot *s, ea_taskq *q, PGconn **pg, ea_task_msg *m, apr_pool_t *p)
{
    const ea_task_def *def = ea_task_find(m->name, W.test_tasks);
    char *result = NULL, *error = NULL;
    ea_taskrun_status st;
    int timed_out, handback;
    struct timespec t0;

    if (m->dead) {
        wk_finish(q, m, EA_TASK_FAILURE, NULL,
                  apr_psprintf(p, "delivered %d times without a result (worker lost or killed)",
                               m->attempts - 1), 0, 0);
        return;
    }
    if (def == NULL) {
        wk_finish(q, m, EA_TASK_FAILURE, NULL, apr_psprintf(p, "unknown task '%s'", m->name), 0, 0);
        return;
    }
    if (def->needs_db) {
        *pg = wk_pg(s, *pg);
        if (*pg == NULL || PQstatus(*pg) != CONNECTION_OK) {
            ea_taskq_release(q, m);     /* shutting down */
            return;
        }
    }
    if (ea_taskq_started(q, m) != 0)
        wk_log(EA_LOG_WARNING, EA_LOGNO(00061) "Task %s[%s]: cannot record STARTED: %s", m->name, m->id,
               ea_taskq_error(q));
    wk_log(EA_LOG_DEBUG, EA_LOGNO(00062) "Task %s[%s] received (attempt %d)", m->name, m->id, m->attempts);

    pthread_mutex_lock(&s->mu);
    s->running = 1;
    s->cancel = 0;
    s->timed_out = 0;
    s->handback = 0;
    snprintf(s->run_name, sizeof s->run_name, "%s", m->name);
    memcpy(s->run_id, m->id, sizeof s->run_id);
    clock_gettime(CLOCK_MONOTONIC, &s->run_start);
    t0 = s->run_start;
    pthread_mutex_unlock(&s->mu);

    ea_task_env env;
    memset(&env, 0, sizeof env);
    env.pool = p;
    env.pg = def->needs_db ? *pg : NULL;
    env.task_id = m->id;
    env.cancel = &s->cancel;
    env.log = wk_task_log;
    env.log_baton = m->id;
    env.import_dir = W.import_dir;
    st = ea_task_run(def, &env, m->args, &result, &error);

    pthread_mutex_lock(&s->mu);
    s->running = 0;
    timed_out = s->timed_out;
    handback = s->handback;
    pthread_mutex_unlock(&s->mu);
    if (def->needs_db && *pg && PQtransactionStatus(*pg) == PQTRANS_INERROR)
        PQclear(PQexec(*pg, EA_SQL_ROLLBACK));

    if (handback) {
        if (ea_taskq_release(q, m) == 0)
            wk_log(EA_LOG_WARNING, EA_LOGNO(00063) "Task %s[%s] handed back to the queue (shutdown)", m->name, m->id);
        else
            wk_log(EA_LOG_ERROR, EA_LOGNO(00064) "Task %s[%s]: cannot hand it back (%s); it returns after the "
                   "visibility timeout",
                   m->name, m->id, ea_taskq_error(q));
        return;
    }
    if (timed_out) {
        wk_finish(q, m, EA_TASK_FAILURE, NULL,
                  apr_psprintf(p, "Time limit exceeded: the task ran longer than %d s "
                                  "(EcoAtlasTaskTimeLimit) and was cancelled", W.time_limit_s),
                  wk_elapsed(&t0), 1);
        return;
    }
    wk_finish(q, m, st == EA_TASKRUN_OK ? EA_TASK_SUCCESS : st == EA_TASKRUN_RETRY ? EA_TASK_RETRY : EA_TASK_FAILURE,
              result, error, wk_elapsed(&t0), 0);
}

static void *wk_thread(void *arg)
{
    wk_slot *s = arg;
    apr_pool_t *tp;
    ea_taskq *q;
    PGconn *pg = NULL;
    int backoff = 0, redis_down = 0;
    ea_task_msg msgs[WK_MAX_PREFETCH];

    apr_pool_create_unmanaged_ex(&tp, NULL, NULL);
    q = wk_queue(tp, apr_psprintf(tp, "%s#%d", W.name, s->idx));
    while (q != NULL && !wk_stopping) {
        apr_pool_t *iter;
        int n = 0;
        /* no task is taken while the database is away */
        pg = wk_pg(s, pg);
        if (wk_stopping)
            break;
        apr_pool_create(&iter, tp);
        if (ea_taskq_reserve(q, iter, W.prefetch, msgs, &n) != 0) {
            if (!redis_down)
                wk_log(EA_LOG_ERROR, EA_LOGNO(00065) "worker %d: Redis unavailable, retrying: %s", s->idx,
                       ea_taskq_error(q));
            redis_down = 1;
            apr_pool_destroy(iter);
            wk_sleep_ms(wk_backoff(&backoff));
            continue;
        }
        if (redis_down)
            wk_log(EA_LOG_WARNING, EA_LOGNO(00066) "worker %d: Redis connection restored", s->idx);
        redis_down = 0;
        backoff = 0;
        if (n == 0) {
            ea_taskq_wait(q, 1000);
            apr_pool_destroy(iter);
            continue;
        }
        wk_hold(s, msgs, n);
        for (int i = 0; i < n; i++) {
            if (wk_stopping && !msgs[i].dead) {
                ea_taskq_release(q, &msgs[i]);      /* not started: back at once */
            }
            else {
                apr_pool_t *tpool;
                apr_pool_create(&tpool, iter);
                wk_run_one(s, q, &pg, &msgs[i], tpool);
                apr_pool_destroy(tpool);
            }
            wk_unhold(s, msgs[i].id);
        }
        apr_pool_destroy(iter);
    }
    pthread_mutex_lock(&s->mu);
    if (s->pgcancel)
        PQfreeCancel(s->pgcancel);
    s->pgcancel = NULL;
    pthread_mutex_unlock(&s->mu);
    if (pg)
        PQfinish(pg);
    ea_taskq_close(q);
    apr_pool_destroy(tp);
    pthread_mutex_lock(&wk_alive_mu);
    wk_alive--;
    pthread_mutex_unlock(&wk_alive_mu);
    return NULL;
}

/* ---- supervisor --------------------------------------------------------------------- */

static void wk_cancel_sql(wk_slot *s)
{
    char err[256];
    s->cancel = 1;
    if (s->pgcancel && !PQcancel(s->pgcancel, err, sizeof err))
        wk_log(EA_LOG_WARNING, EA_LOGNO(00067) "cannot cancel the statement of worker %d: %s", s->idx, err);
}

static void wk_heartbeat(ea_taskq *q, apr_pool_t *p)
{
    int n = 0, lost = 0;
    ea_task_msg *msgs = apr_pcalloc(p, sizeof *msgs * (size_t)W.concurrency * WK_MAX_PREFETCH);
    ea_task_msg **ptrs = apr_pcalloc(p, sizeof *ptrs * (size_t)W.concurrency * WK_MAX_PREFETCH);
    for (int i = 0; i < W.concurrency; i++) {
        wk_slot *s = &wk_slots[i];
        pthread_mutex_lock(&s->mu);
        for (int j = 0; j < s->nheld; j++) {
            memcpy(msgs[n].id, s->held_id[j], sizeof msgs[n].id);
            msgs[n].lease = apr_pstrdup(p, s->held_lease[j]);
            ptrs[n] = &msgs[n];
            n++;
        }
        pthread_mutex_unlock(&s->mu);
    }
    if (n > 0 && ea_taskq_heartbeat(q, ptrs, n, &lost) != 0)
        wk_log(EA_LOG_WARNING, EA_LOGNO(00068) "heartbeat failed: %s", ea_taskq_error(q));
    else if (lost > 0)
        wk_log(EA_LOG_WARNING, EA_LOGNO(00069) "heartbeat: %d lease(s) no longer ours", lost);
}

static int wk_supervise(void)
{
    sigset_t set;
    struct timespec stop_at = {0, 0}, last_hb, last_beat = {0, 0};
    apr_pool_t *sp;
    ea_taskq *q;
    int signalled_stop = 0;

    apr_pool_create_unmanaged_ex(&sp, NULL, NULL);
    q = wk_queue(sp, apr_psprintf(sp, "%s#supervisor", W.name));
    if (q == NULL)
        return 1;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    clock_gettime(CLOCK_MONOTONIC, &last_hb);
    for (;;) {
        struct timespec tick = {0, 200 * 1000000L};
        siginfo_t si;
        int sig = sigtimedwait(&set, &si, &tick);
        if (sig == SIGTERM || sig == SIGINT) {
            if (!signalled_stop) {
                wk_log(EA_LOG_WARNING, EA_LOGNO(00070) "%s received: no new tasks; running tasks get %d s to finish",
                       sig == SIGTERM ? "SIGTERM" : "SIGINT", W.grace_s);
                wk_stopping = 1;
                signalled_stop = 1;
                clock_gettime(CLOCK_MONOTONIC, &stop_at);
            }
        }
        else if (sig == SIGHUP) {
            if (wk_log_open() != 0)
                wk_log(EA_LOG_ERROR, EA_LOGNO(00071) "cannot reopen %s: %s", W.log_path, strerror(errno));
            else
                wk_log(EA_LOG_INFO, EA_LOGNO(00072) "SIGHUP: log file reopened");
        }
        for (int i = 0; i < W.concurrency; i++) {
            wk_slot *s = &wk_slots[i];
            pthread_mutex_lock(&s->mu);
            if (s->running) {
                if (!s->timed_out && !s->handback && wk_elapsed(&s->run_start) > W.time_limit_s) {
                    s->timed_out = 1;
                    wk_log(EA_LOG_ERROR, EA_LOGNO(00073) "Task %s[%s] exceeded its time limit of %d s: cancelling it",
                           s->run_name, s->run_id, W.time_limit_s);
                    wk_cancel_sql(s);
                }
                if (signalled_stop && !s->handback && !s->timed_out && wk_elapsed(&stop_at) > W.grace_s) {
                    s->handback = 1;
                    wk_log(EA_LOG_WARNING, EA_LOGNO(00074) "Task %s[%s] still running after %d s: cancelling it and "
                           "handing it back", s->run_name, s->run_id, W.grace_s);
                    wk_cancel_sql(s);
                }
            }
            pthread_mutex_unlock(&s->mu);
        }
        if ((last_beat.tv_sec == 0 || wk_elapsed(&last_beat) >= WK_BEAT_S) && !wk_stopping) {
            if (ea_taskq_worker_beat(q, W.name, WK_BEAT_FORGET_S) != 0)
                wk_log(EA_LOG_DEBUG, EA_LOGNO(00075) "metrics heartbeat failed: %s", ea_taskq_error(q));
            clock_gettime(CLOCK_MONOTONIC, &last_beat);
        }
        if (wk_elapsed(&last_hb) * 1000 >= W.visibility_s * 1000 / 3.0) {
            apr_pool_t *hp;
            apr_pool_create(&hp, sp);
            wk_heartbeat(q, hp);
            apr_pool_destroy(hp);
            clock_gettime(CLOCK_MONOTONIC, &last_hb);
        }
        pthread_mutex_lock(&wk_alive_mu);
        int alive = wk_alive;
        pthread_mutex_unlock(&wk_alive_mu);
        if (alive == 0)
            break;
    }
    ea_taskq_close(q);
    apr_pool_destroy(sp);
    return 0;
}

/* ---- configuration ---------------------------------------------------------------------- */

/* httpd's LogLevel: "warn ecoatlas:info" -> the ecoatlas level if given. */
static int wk_parse_loglevel(const char *s)
{
    static const struct { const char *name; int level; } map[] = {
        {"emerg", 0}, {"alert", 1}, {"crit", 2}, {"error", 3}, {"warn", 4}, {"notice", 5},
        {"info", 6}, {"debug", 7},
    };
    if (strncasecmp(s, "trace", 5) == 0)
        return 7;
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (strcasecmp(s, map[i].name) == 0)
            return map[i].level;
    return -1;
}

static int wk_read_config(apr_pool_t *p)
{
    const char *err = NULL;
    ea_conffile *cf = ea_conffile_read(p, W.config, &err);
    const apr_array_header_t *a;
    if (cf == NULL) {
        fprintf(stderr, "ecoatlas-worker: cannot read the configuration: %s\n", err);
        return -1;
    }
    a = ea_conffile_args(cf, "DBDParams");
    if (a == NULL || a->nelts == 0) {
        fprintf(stderr, "ecoatlas-worker: %s: no DBDParams directive\n", W.config);
        return -1;
    }
    W.conninfo = APR_ARRAY_IDX(a, 0, const char *);
    for (int i = 1; i < a->nelts; i++)
        W.conninfo = apr_pstrcat(p, W.conninfo, " ", APR_ARRAY_IDX(a, i, const char *), NULL);
    W.broker = ea_conffile_get(cf, "EcoAtlasBrokerURL", NULL);
    if (W.broker == NULL) {
        fprintf(stderr, "ecoatlas-worker: %s: no EcoAtlasBrokerURL directive\n", W.config);
        return -1;
    }
    W.backend = ea_conffile_get(cf, "EcoAtlasResultBackend", NULL);
    W.import_dir = ea_conffile_get(cf, "EcoAtlasImportDir", NULL);
    const char *tl = ea_conffile_get(cf, "EcoAtlasTaskTimeLimit", NULL);
    char why[128];
    long v = ea_setting_default("EcoAtlasTaskTimeLimit");
    if (tl != NULL && ea_setting_parse("EcoAtlasTaskTimeLimit", tl, &v, why, sizeof why) != 0) {
        fprintf(stderr, "ecoatlas-worker: %s: Invalid value for directive 'EcoAtlasTaskTimeLimit': '%s' "
                "(%s)\n", W.config, tl, why);
        return -1;
    }
    W.time_limit_s = (int)v;
    W.loglevel = EA_LOG_INFO;
    a = ea_conffile_args(cf, "LogLevel");
    for (int i = 0; a && i < a->nelts; i++) {
        const char *arg = APR_ARRAY_IDX(a, i, const char *);
        int lv = -1;
        if (strncasecmp(arg, "ecoatlas:", 9) == 0)
            lv = wk_parse_loglevel(arg + 9);
        else if (strchr(arg, ':') == NULL && W.loglevel == EA_LOG_INFO && i == 0)
            lv = wk_parse_loglevel(arg);
        if (lv >= 0)
            W.loglevel = lv;
    }
    /* the broker URL is checked now, not at the first task */
    ea_taskq_opts o;
    memset(&o, 0, sizeof o);
    o.broker_url = W.broker;
    o.backend_url = W.backend;
    if (ea_taskq_create(p, &o, &err) == NULL) {
        fprintf(stderr, "ecoatlas-worker: %s: %s\n", W.config, err);
        return -1;
    }
    return 0;
}

static void wk_usage(FILE *out)
{
    fputs("Usage: ecoatlas-worker [-f CONFIG] [--concurrency N] [--foreground] [OPTIONS]\n"
          "\n"
          "Run the tasks mod_ecoatlas queues in Redis (snapshots, imports).  Settings come\n"
          "from the Apache configuration httpd reads: DBDParams, EcoAtlasBrokerURL,\n"
          "EcoAtlasResultBackend, EcoAtlasTaskTimeLimit, EcoAtlasImportDir (imports read\n"
          "files below it only), LogLevel (ecoatlas:LEVEL).\n"
          "\n"
          "Options:\n"
          "  -f, --config FILE      Apache configuration (default: $ECOATLAS_CONFIG, else\n"
          "                         " WK_DEFAULT_CONFIG ")\n"
          "  -c, --concurrency N    tasks run at once, one thread and one database\n"
          "                         connection each (default: the number of CPUs)\n"
          "      --foreground       stay in the foreground, log to stderr (systemd, containers);\n"
          "                         the default without --log\n"
          "      --log FILE         log there and run as a daemon (with --foreground: log\n"
          "                         there, stay attached); SIGHUP reopens it\n"
          "      --pidfile FILE     write the process id there\n"
          "      --prefetch N       tasks a thread reserves at once (default 1; up to 64)\n"
          "      --visibility S     lease of a reserved task in seconds, renewed while it\n"
          "                         runs; a dead worker's tasks return after it (default 30)\n"
          "      --max-retries N    retries of a failing task before the dead-letter list\n"
          "                         (default 3; backoff 1 s, 2 s, 4 s ... 5 min)\n"
          "      --grace S          on SIGTERM, seconds running tasks may take to finish\n"
          "                         before they are cancelled and handed back (default 30)\n"
          "      --name NAME        worker name in leases and records (default host:pid)\n"
          "      --enable-test-tasks  also run the test-only task 'sleep' (tests only)\n"
          "  -h, --help             show this help\n"
          "  -V, --version          show the version\n"
          "\n"
          "Signals: TERM/INT stop gracefully (exit 0), HUP reopens the log file.\n", out);
}

static int wk_int(const char *opt, const char *v, int lo, int hi, int *out)
{
    char *end;
    long x;
    errno = 0;
    x = strtol(v, &end, 10);
    if (errno || *end || end == v || x < lo || x > hi) {
        fprintf(stderr, "ecoatlas-worker: invalid value for %s: '%s' (expected an integer from %d to %d)\n"
                "Try 'ecoatlas-worker --help' for more information.\n", opt, v, lo, hi);
        return -1;
    }
    *out = (int)x;
    return 0;
}

static int wk_daemonize(void)
{
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid > 0)
        _exit(0);
    if (setsid() < 0)
        return -1;
    pid = fork();
    if (pid < 0)
        return -1;
    if (pid > 0)
        _exit(0);
    if (chdir("/") != 0)
        return -1;
    int fd = open("/dev/null", O_RDWR);
    if (fd >= 0) {
        dup2(fd, 0);
        dup2(fd, 1);
        dup2(fd, 2);
        if (fd > 2)
            close(fd);
    }
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'f'},
        {"concurrency", required_argument, NULL, 'c'},
        {"foreground", no_argument, NULL, 'F'},
        {"log", required_argument, NULL, 'L'},
        {"pidfile", required_argument, NULL, 'P'},
        {"prefetch", required_argument, NULL, 'p'},
        {"visibility", required_argument, NULL, 'v'},
        {"max-retries", required_argument, NULL, 'r'},
        {"grace", required_argument, NULL, 'g'},
        {"name", required_argument, NULL, 'n'},
        {"enable-test-tasks", no_argument, NULL, 'T'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    apr_pool_t *p;
    int c;
    sigset_t set;
    char host[128];

    apr_app_initialize(&argc, (const char *const **)&argv, NULL);
    atexit(apr_terminate);
    apr_pool_create(&p, NULL);
    const char *env = getenv("ECOATLAS_CONFIG");
    W.config = env && *env ? env : WK_DEFAULT_CONFIG;
    W.concurrency = (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (W.concurrency < 1)
        W.concurrency = 1;
    W.prefetch = 1;
    W.visibility_s = 30;
    W.max_retries = 3;
    W.grace_s = 30;
    while ((c = getopt_long(argc, argv, "f:c:hV", longopts, NULL)) != -1) {
        switch (c) {
        case 'f': W.config = optarg; break;
        case 'c': if (wk_int("--concurrency", optarg, 1, 256, &W.concurrency) != 0) return 2; break;
        case 'F': W.foreground = 1; break;
        case 'L': W.log_path = optarg; break;
        case 'P': W.pidfile = optarg; break;
        case 'p': if (wk_int("--prefetch", optarg, 1, WK_MAX_PREFETCH, &W.prefetch) != 0) return 2; break;
        case 'v': if (wk_int("--visibility", optarg, 1, 86400, &W.visibility_s) != 0) return 2; break;
        case 'r': if (wk_int("--max-retries", optarg, 0, 100, &W.max_retries) != 0) return 2; break;
        case 'g': if (wk_int("--grace", optarg, 0, 86400, &W.grace_s) != 0) return 2; break;
        case 'n': W.name = optarg; break;
        case 'T': W.test_tasks = 1; break;
        case 'h': wk_usage(stdout); return 0;
        case 'V': printf("ecoatlas-worker (mod_ecoatlas) %s\n", EA_VERSION); return 0;
        default:
            fprintf(stderr, "Try 'ecoatlas-worker --help' for more information.\n");
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "ecoatlas-worker: unexpected argument '%s'\nTry 'ecoatlas-worker --help' for more information.\n",
                argv[optind]);
        return 2;
    }
    /* No log file: stay attached and log to stderr, as daemons in
     * containers and under systemd do (a daemon without a log would be
     * silent). */
    if (W.log_path == NULL)
        W.foreground = 1;
    if (wk_read_config(p) != 0)
        return 1;
    if (W.name == NULL) {
        if (gethostname(host, sizeof host) != 0)
            snprintf(host, sizeof host, "localhost");
        host[sizeof host - 1] = '\0';
        W.name = apr_psprintf(p, "%s:%ld", host, (long)getpid());
    }
    if (wk_log_open() != 0) {
        fprintf(stderr, "ecoatlas-worker: cannot open %s: %s\n", W.log_path, strerror(errno));
        return 1;
    }
    if (!W.foreground && wk_daemonize() != 0) {
        fprintf(stderr, "ecoatlas-worker: cannot become a daemon: %s\n", strerror(errno));
        return 1;
    }
    if (!W.foreground)
        W.name = apr_psprintf(p, "%s", W.name);
    if (W.pidfile) {
        FILE *f = fopen(W.pidfile, "we");
        if (f == NULL) {
            wk_log(EA_LOG_ERROR, EA_LOGNO(00076) "cannot write %s: %s", W.pidfile, strerror(errno));
            return 1;
        }
        fprintf(f, "%ld\n", (long)getpid());
        fclose(f);
    }
    /* every thread inherits the mask: only the supervisor takes these */
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    wk_log(EA_LOG_INFO, EA_LOGNO(00077) "ecoatlas-worker %s starting: %d thread(s), broker %s, time limit %d s",
           EA_VERSION, W.concurrency, ea_redis_url_redact(p, W.broker), W.time_limit_s);
    wk_slots = apr_pcalloc(p, sizeof *wk_slots * (size_t)W.concurrency);
    wk_alive = W.concurrency;
    for (int i = 0; i < W.concurrency; i++) {
        wk_slots[i].idx = i;
        pthread_mutex_init(&wk_slots[i].mu, NULL);
        if (pthread_create(&wk_slots[i].thread, NULL, wk_thread, &wk_slots[i]) != 0) {
            wk_log(EA_LOG_ERROR, EA_LOGNO(00078) "cannot start worker thread %d", i);
            return 1;
        }
    }
    int rc = wk_supervise();
    if (rc != 0) {
        wk_stopping = 1;
    }
    for (int i = 0; i < W.concurrency; i++)
        pthread_join(wk_slots[i].thread, NULL);
    wk_log(EA_LOG_INFO, EA_LOGNO(00079) "ecoatlas-worker stopped");
    if (W.pidfile)
        unlink(W.pidfile);
    return rc;
}
