/* ea_metrics: shared-memory counters and their Prometheus exposition (see
 * ea_metrics.h). */
#include "ea_metrics.h"
#include "ea_siphash.h"

#include <json-c/json.h>

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAGIC 0x6561206d65747269ULL   /* "ea metri" */

/* Upper bounds of the finite buckets, in microseconds. */
static const uint64_t bucket_us[EA_METRICS_BUCKETS] = {
    100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000,
    1000000, 2500000, 5000000, 10000000
};
static const char *const bucket_le[EA_METRICS_BUCKETS] = {
    "0.0001", "0.00025", "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1",
    "0.25", "0.5", "1", "2.5", "5", "10"
};

typedef struct hist_cells {
    uint64_t bucket[EA_METRICS_BUCKETS + 1];   /* the last one: above 10 s */
    uint64_t sum_us;
} hist_cells;

typedef struct shard {
    uint64_t counter[EA_C_COUNT];
    uint64_t task[EA_T_COUNT][EA_METRICS_TASKS];
    uint64_t req[EA_METRICS_ROUTES][6];        /* [0]: outside 100..599 */
    uint64_t xrows[EA_X_COUNT];
    uint64_t xbytes[EA_X_COUNT];
    hist_cells hist[EA_H_COUNT];
} __attribute__((aligned(64))) shard;

struct ea_metrics {
    uint64_t magic;
    uint64_t layout;
    uint64_t size;
    int64_t created;
    shard shards[EA_METRICS_SHARDS] __attribute__((aligned(64)));
};

size_t ea_metrics_size(void)
{
    return sizeof(ea_metrics);
}

ea_metrics *ea_metrics_init(void *mem, size_t size, uint64_t layout)
{
    ea_metrics *m = mem;
    if (!mem || size < sizeof(*m) || ((uintptr_t)mem & 63))
        return NULL;
    memset(m, 0, sizeof(*m));
    m->layout = layout;
    m->size = sizeof(*m);
    m->created = (int64_t)time(NULL);
    __atomic_store_n(&m->magic, MAGIC, __ATOMIC_RELEASE);
    return m;
}

ea_metrics *ea_metrics_attach(void *mem, size_t size, uint64_t layout)
{
    ea_metrics *m = mem;
    if (!mem || size < sizeof(*m) || ((uintptr_t)mem & 63))
        return NULL;
    if (__atomic_load_n(&m->magic, __ATOMIC_ACQUIRE) != MAGIC || m->size != sizeof(*m)
        || m->layout != layout)
        return NULL;
    return m;
}

uint64_t ea_metrics_layout(const char *const *routes, int nroutes, const char *const *tasks, int ntasks)
{
    static const uint8_t k[16] = "ecoatlas-metrics";
    uint64_t h = sizeof(ea_metrics) ^ ((uint64_t)EA_C_COUNT << 32);
    for (int i = 0; i < nroutes; i++)
        if (routes[i])
            h = h * 31 + ea_siphash24(k, routes[i], strlen(routes[i])) + (uint64_t)i;
    for (int i = 0; i < ntasks; i++)
        if (tasks[i])
            h = h * 37 + ea_siphash24(k, tasks[i], strlen(tasks[i]));
    return h;
}

int64_t ea_metrics_created(const ea_metrics *m)
{
    return m->created;
}

/* ---- writing ---------------------------------------------------------------------- */

/* A thread keeps its shard: taken once from its process id and a
 * per-process sequence (prefork children all have one thread at the same
 * address, so the thread's identity alone would not spread them). */
static __thread int my_shard = -1;

static shard *pick(ea_metrics *m)
{
    if (my_shard < 0) {
        static unsigned seq;
        unsigned n = __atomic_fetch_add(&seq, 1, __ATOMIC_RELAXED);
        my_shard = (int)(((unsigned)getpid() * 7u + n) % EA_METRICS_SHARDS);
    }
    return &m->shards[my_shard];
}

static void add(uint64_t *cell, uint64_t n)
{
    __atomic_fetch_add(cell, n, __ATOMIC_RELAXED);
}

static uint64_t load(const uint64_t *cell)
{
    return __atomic_load_n(cell, __ATOMIC_RELAXED);
}

void ea_metrics_add(ea_metrics *m, ea_metric_counter c, uint64_t n)
{
    if (m && (unsigned)c < EA_C_COUNT)
        add(&pick(m)->counter[c], n);
}

void ea_metrics_task(ea_metrics *m, ea_metric_task t, int task, uint64_t n)
{
    if (m && (unsigned)t < EA_T_COUNT && task >= 0 && task < EA_METRICS_TASKS)
        add(&pick(m)->task[t][task], n);
}

static void observe(shard *s, ea_metric_hist h, uint64_t usec)
{
    int b = 0;
    while (b < EA_METRICS_BUCKETS && usec > bucket_us[b])
        b++;
    add(&s->hist[h].bucket[b], 1);
    add(&s->hist[h].sum_us, usec);
}

void ea_metrics_observe(ea_metrics *m, ea_metric_hist h, uint64_t usec)
{
    if (m && (unsigned)h < EA_H_COUNT)
        observe(pick(m), h, usec);
}

void ea_metrics_request(ea_metrics *m, int route, int status, uint64_t usec)
{
    if (!m || route < 0 || route >= EA_METRICS_ROUTES)
        return;
    shard *s = pick(m);
    int cls = status >= 100 && status < 600 ? status / 100 : 0;
    add(&s->req[route][cls], 1);
    observe(s, (ea_metric_hist)(EA_H_ROUTE_BASE + route), usec);
}

void ea_metrics_export(ea_metrics *m, ea_metric_export x, uint64_t rows, uint64_t bytes, uint64_t usec)
{
    if (!m || (unsigned)x >= EA_X_COUNT)
        return;
    shard *s = pick(m);
    add(&s->xrows[x], rows);
    add(&s->xbytes[x], bytes);
    observe(s, (ea_metric_hist)(EA_H_EXPORT_BASE + x), usec);
}

/* ---- reading -------------------------------------------------------------------------- */

/* A cell summed over the shards, given its address in the first one. */
static uint64_t shard_sum(const uint64_t *first)
{
    uint64_t t = 0;
    for (int i = 0; i < EA_METRICS_SHARDS; i++)
        t += load((const uint64_t *)((const char *)first + (size_t)i * sizeof(shard)));
    return t;
}

#define SUM(m, field) shard_sum(&(m)->shards[0].field)

uint64_t ea_metrics_counter(const ea_metrics *m, ea_metric_counter c)
{
    return m && (unsigned)c < EA_C_COUNT ? SUM(m, counter[c]) : 0;
}

uint64_t ea_metrics_requests(const ea_metrics *m, int route, int status_class)
{
    uint64_t t = 0;
    if (!m)
        return 0;
    for (int r = route < 0 ? 0 : route; r < (route < 0 ? EA_METRICS_ROUTES : route + 1); r++)
        for (int c = status_class ? status_class : 0; c <= (status_class ? status_class : 5); c++)
            t += SUM(m, req[r][c]);
    return t;
}

/* ---- exposition ------------------------------------------------------------------------ */

/* The counters in exposition order: a family's first row carries its type and help. */
typedef struct { int id; const char *family; const char *labels; const char *type; const char *help; } row;

static const row rows[] = {
    { EA_C_CACHE_HIT, "ecoatlas_cache_lookups_total", "result=\"hit\"", "counter",
      "Response cache lookups (bypass: no healthy change listener, the cache is not used)" },
    { EA_C_CACHE_MISS, "ecoatlas_cache_lookups_total", "result=\"miss\"", NULL, NULL },
    { EA_C_CACHE_BYPASS, "ecoatlas_cache_lookups_total", "result=\"bypass\"", NULL, NULL },
    { EA_C_CACHE_STORE, "ecoatlas_cache_stores_total", "", "counter", "Responses stored in the cache" },
    { EA_C_CACHE_EVICTION, "ecoatlas_cache_evictions_total", "", "counter",
      "Stores that replaced another key's entry" },
    { EA_C_CACHE_INVAL_WRITE, "ecoatlas_cache_invalidations_total", "cause=\"write\"", "counter",
      "Generation bumps that invalidated cached entries: a write through the API, a PostgreSQL "
      "notification, or a listener (re)connecting" },
    { EA_C_CACHE_INVAL_NOTIFY, "ecoatlas_cache_invalidations_total", "cause=\"notify\"", NULL, NULL },
    { EA_C_CACHE_INVAL_LISTEN, "ecoatlas_cache_invalidations_total", "cause=\"listen\"", NULL, NULL },
    { EA_C_CACHE_LISTENER_LOST, "ecoatlas_cache_listener_lost_total", "", "counter",
      "Change listener connections lost" },
    { EA_C_MAP_BUILT, "ecoatlas_cache_page_maps_total", "result=\"built\"", "counter",
      "Page-boundary maps a deep page needed and did not find: built by the request, waited for while "
      "another request built it, or neither (failed: the page read with OFFSET)" },
    { EA_C_MAP_WAITED, "ecoatlas_cache_page_maps_total", "result=\"waited\"", NULL, NULL },
    { EA_C_MAP_FAILED, "ecoatlas_cache_page_maps_total", "result=\"failed\"", NULL, NULL },
    { EA_C_RL_ANON_OK, "ecoatlas_ratelimit_decisions_total", "scope=\"anon\",result=\"admitted\"", "counter",
      "Rate-limit decisions by scope (anon, user, login, credentials: failed credentials)" },
    { EA_C_RL_ANON_NO, "ecoatlas_ratelimit_decisions_total", "scope=\"anon\",result=\"refused\"", NULL, NULL },
    { EA_C_RL_USER_OK, "ecoatlas_ratelimit_decisions_total", "scope=\"user\",result=\"admitted\"", NULL, NULL },
    { EA_C_RL_USER_NO, "ecoatlas_ratelimit_decisions_total", "scope=\"user\",result=\"refused\"", NULL, NULL },
    { EA_C_RL_LOGIN_OK, "ecoatlas_ratelimit_decisions_total", "scope=\"login\",result=\"admitted\"", NULL, NULL },
    { EA_C_RL_LOGIN_NO, "ecoatlas_ratelimit_decisions_total", "scope=\"login\",result=\"refused\"", NULL, NULL },
    { EA_C_RL_CRED_OK, "ecoatlas_ratelimit_decisions_total", "scope=\"credentials\",result=\"admitted\"", NULL, NULL },
    { EA_C_RL_CRED_NO, "ecoatlas_ratelimit_decisions_total", "scope=\"credentials\",result=\"refused\"", NULL, NULL },
    { EA_C_RL_REDIS_ERROR, "ecoatlas_ratelimit_backend_errors_total", "", "counter",
      "Failed calls to the Redis rate-limit backend (EcoAtlasThrottleBackend)" },
    { EA_C_RL_FAIL_OPEN, "ecoatlas_ratelimit_backend_fallbacks_total", "mode=\"open\"", "counter",
      "Decisions taken without the Redis backend: counted locally (open) or refused with 503 (closed)" },
    { EA_C_RL_FAIL_CLOSED, "ecoatlas_ratelimit_backend_fallbacks_total", "mode=\"closed\"", NULL, NULL },
    { EA_C_AUTH_TOKEN, "ecoatlas_auth_success_total", "method=\"token\"", "counter",
      "Authenticated requests (token, session) and successful logins and token requests" },
    { EA_C_AUTH_SESSION, "ecoatlas_auth_success_total", "method=\"session\"", NULL, NULL },
    { EA_C_AUTH_LOGIN, "ecoatlas_auth_success_total", "method=\"login\"", NULL, NULL },
    { EA_C_AUTH_TOKEN_ISSUED, "ecoatlas_auth_success_total", "method=\"token_issued\"", NULL, NULL },
    { EA_C_AUTH_F_INVALID, "ecoatlas_auth_failures_total", "reason=\"invalid_token\"", "counter",
      "Refused authentication and authorisation by reason" },
    { EA_C_AUTH_F_INACTIVE, "ecoatlas_auth_failures_total", "reason=\"inactive_user\"", NULL, NULL },
    { EA_C_AUTH_F_EXPIRED, "ecoatlas_auth_failures_total", "reason=\"expired_token\"", NULL, NULL },
    { EA_C_AUTH_F_MALFORMED, "ecoatlas_auth_failures_total", "reason=\"malformed_header\"", NULL, NULL },
    { EA_C_AUTH_F_BLOCKED, "ecoatlas_auth_failures_total", "reason=\"blocked\"", NULL, NULL },
    { EA_C_AUTH_F_DATABASE, "ecoatlas_auth_failures_total", "reason=\"database\"", NULL, NULL },
    { EA_C_AUTH_F_BAD_CREDENTIALS, "ecoatlas_auth_failures_total", "reason=\"bad_credentials\"", NULL, NULL },
    { EA_C_AUTH_F_NOT_AUTHENTICATED, "ecoatlas_auth_failures_total", "reason=\"not_authenticated\"", NULL, NULL },
    { EA_C_AUTH_F_FORBIDDEN, "ecoatlas_auth_failures_total", "reason=\"forbidden\"", NULL, NULL },
    { EA_C_AUTH_F_CSRF, "ecoatlas_auth_failures_total", "reason=\"csrf\"", NULL, NULL },
    { EA_C_DB_STATEMENT, "ecoatlas_db_statements_total", "", "counter", "Statements sent to PostgreSQL" },
    { EA_C_DB_ERROR, "ecoatlas_db_errors_total", "kind=\"error\"", "counter",
      "Failed statements: errors, EcoAtlasQueryTimeout cancellations, connection lost, constraint violations" },
    { EA_C_DB_TIMEOUT, "ecoatlas_db_errors_total", "kind=\"timeout\"", NULL, NULL },
    { EA_C_DB_UNAVAILABLE, "ecoatlas_db_errors_total", "kind=\"unavailable\"", NULL, NULL },
    { EA_C_DB_CONSTRAINT, "ecoatlas_db_errors_total", "kind=\"constraint\"", NULL, NULL },
    { EA_C_DB_RECONNECT, "ecoatlas_db_reconnects_total", "", "counter",
      "Pooled connections that failed (PostgreSQL restarted or went away) and worked again" },
    { EA_C_DB_ACQUIRE_FAIL, "ecoatlas_db_acquire_failures_total", "", "counter",
      "Requests that got no connection from mod_dbd's pool" },
    { EA_C_TASK_BROKER_ERROR, "ecoatlas_task_broker_errors_total", "", "counter",
      "Failed calls to the task broker or result backend from httpd" },
};

_Static_assert(sizeof(rows) / sizeof(rows[0]) == EA_C_COUNT, "every counter has one row");

static const char *const export_names[EA_X_COUNT] = { "hydro_sites_csv", "resource_metrics_csv",
                                                       "resource_metrics_pdf" };

static void family(ea_buf *b, const char *name, const char *type, const char *help)
{
    ea_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A label value, escaped as the text format wants (\\, \", \n). */
static void label_value(ea_buf *b, const char *v)
{
    for (; *v; v++) {
        if (*v == '\\' || *v == '"')
            ea_buf_putc(b, '\\');
        if (*v == '\n') {
            ea_buf_puts(b, "\\n");
            continue;
        }
        ea_buf_putc(b, *v);
    }
}

static void sample(ea_buf *b, const char *name, const char *labels, uint64_t v)
{
    if (labels && *labels)
        ea_buf_printf(b, "%s{%s} %llu\n", name, labels, (unsigned long long)v);
    else
        ea_buf_printf(b, "%s %llu\n", name, (unsigned long long)v);
}

/* One histogram's samples; labels like "route=\"X\"" (may be empty). */
static void histogram(ea_buf *b, const ea_metrics *m, const char *name, const char *labels, ea_metric_hist h)
{
    uint64_t cum = 0, sum = 0;
    const char *sep = labels && *labels ? "," : "";
    for (int i = 0; i <= EA_METRICS_BUCKETS; i++) {
        cum += SUM(m, hist[h].bucket[i]);
        ea_buf_printf(b, "%s_bucket{%s%sle=\"%s\"} %llu\n", name, labels ? labels : "", sep,
                      i < EA_METRICS_BUCKETS ? bucket_le[i] : "+Inf", (unsigned long long)cum);
    }
    sum = SUM(m, hist[h].sum_us);
    ea_buf_printf(b, "%s_sum%s%s%s %llu.%06llu\n", name, *sep ? "{" : "", labels && *labels ? labels : "",
                  *sep ? "}" : "", (unsigned long long)(sum / 1000000), (unsigned long long)(sum % 1000000));
    ea_buf_printf(b, "%s_count%s%s%s %llu\n", name, *sep ? "{" : "", labels && *labels ? labels : "",
                  *sep ? "}" : "", (unsigned long long)cum);
}

static const char *route_label(ea_buf *tmp, const char *name)
{
    ea_buf_reset(tmp);
    ea_buf_puts(tmp, "route=\"");
    label_value(tmp, name);
    ea_buf_putc(tmp, '"');
    return tmp->data;
}

static void write_requests(const ea_metrics *m, const ea_metrics_scrape *s, ea_buf *b, ea_buf *tmp)
{
    static const char *const cls[6] = { "other", "1xx", "2xx", "3xx", "4xx", "5xx" };
    family(b, "ecoatlas_http_requests_total", "counter",
           "API requests by route name (as OPTIONS reports it) and status class");
    for (int r = 0; r < s->nroutes && r < EA_METRICS_ROUTES; r++) {
        if (!s->routes[r])
            continue;
        for (int c = 0; c < 6; c++) {
            uint64_t v = SUM(m, req[r][c]);
            if (!v && c != 2 && c != 5)
                continue;   /* every route shows 2xx and 5xx, even at zero */
            route_label(tmp, s->routes[r]);
            ea_buf_printf(tmp, ",code=\"%s\"", cls[c]);
            sample(b, "ecoatlas_http_requests_total", tmp->data, v);
        }
    }
    family(b, "ecoatlas_http_request_duration_seconds", "histogram",
           "Time from the request line to the end of the response, by route name");
    for (int r = 0; r < s->nroutes && r < EA_METRICS_ROUTES; r++)
        if (s->routes[r])
            histogram(b, m, "ecoatlas_http_request_duration_seconds", route_label(tmp, s->routes[r]),
                      (ea_metric_hist)(EA_H_ROUTE_BASE + r));
}

static void write_counters(const ea_metrics *m, ea_buf *b)
{
    const char *last = NULL;
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        if (!last || strcmp(last, rows[i].family) != 0) {
            family(b, rows[i].family, rows[i].type, rows[i].help);
            last = rows[i].family;
        }
        sample(b, rows[i].family, rows[i].labels, ea_metrics_counter(m, (ea_metric_counter)rows[i].id));
    }
}

static void write_tasks(const ea_metrics *m, const ea_metrics_scrape *s, ea_buf *b, ea_buf *tmp)
{
    static const struct { int t; const char *name, *extra, *help; } fams[] = {
        { EA_T_ENQUEUED, "ecoatlas_tasks_enqueued_total", "", "Tasks put on the queue by httpd, by task name" },
        { EA_T_EAGER_OK, "ecoatlas_tasks_eager_total", ",outcome=\"success\"",
          "Tasks run inside the request (EcoAtlasTaskAlwaysEager On), by task name and outcome" },
        { EA_T_EAGER_FAIL, "ecoatlas_tasks_eager_total", ",outcome=\"failure\"", NULL },
        { EA_T_IMPORT_UPLOADS, "ecoatlas_import_uploads_total", "", "Files accepted by POST /api/imports/" },
        { EA_T_IMPORT_UPLOAD_BYTES, "ecoatlas_import_upload_bytes_total", "", "Bytes of those files" },
        { EA_T_EAGER_IMPORT_ROWS, "ecoatlas_import_rows_eager_total", "",
          "Rows imported by import tasks run inside the request" },
    };
    for (size_t f = 0; f < sizeof(fams) / sizeof(fams[0]); f++) {
        if (fams[f].help)
            family(b, fams[f].name, "counter", fams[f].help);
        for (int t = 0; t < s->ntasks && t < EA_METRICS_TASKS; t++) {
            if (!s->tasks[t])
                continue;
            ea_buf_reset(tmp);
            ea_buf_printf(tmp, "task=\"%s\"%s", s->tasks[t], fams[f].extra);
            sample(b, fams[f].name, tmp->data, SUM(m, task[fams[f].t][t]));
        }
    }
}

static void write_exports(const ea_metrics *m, ea_buf *b, ea_buf *tmp)
{
    family(b, "ecoatlas_export_rows_total", "counter", "Rows streamed by the CSV and PDF exports");
    for (int x = 0; x < EA_X_COUNT; x++) {
        ea_buf_reset(tmp);
        ea_buf_printf(tmp, "export=\"%s\"", export_names[x]);
        sample(b, "ecoatlas_export_rows_total", tmp->data, SUM(m, xrows[x]));
    }
    family(b, "ecoatlas_export_bytes_total", "counter", "Bytes sent by the exports");
    for (int x = 0; x < EA_X_COUNT; x++) {
        ea_buf_reset(tmp);
        ea_buf_printf(tmp, "export=\"%s\"", export_names[x]);
        sample(b, "ecoatlas_export_bytes_total", tmp->data, SUM(m, xbytes[x]));
    }
    family(b, "ecoatlas_export_duration_seconds", "histogram", "Duration of the exports");
    for (int x = 0; x < EA_X_COUNT; x++) {
        ea_buf_reset(tmp);
        ea_buf_printf(tmp, "export=\"%s\"", export_names[x]);
        histogram(b, m, "ecoatlas_export_duration_seconds", tmp->data, (ea_metric_hist)(EA_H_EXPORT_BASE + x));
    }
    family(b, "ecoatlas_db_pool_wait_seconds", "histogram",
           "Time waiting for a connection from mod_dbd's pool (first statement of a request)");
    histogram(b, m, "ecoatlas_db_pool_wait_seconds", "", EA_H_DB_WAIT);
}

/* The workers' hash: "task|what" fields, known task names only (a label
 * must not grow with what a client could enqueue). */
static long long worker_value(const ea_metrics_scrape *s, const char *task, const char *what)
{
    size_t tl = strlen(task);
    for (int i = 0; i < s->nworker; i++) {
        const char *f = s->worker_field[i];
        if (strncmp(f, task, tl) == 0 && f[tl] == '|' && strcmp(f + tl + 1, what) == 0)
            return s->worker_value[i];
    }
    return 0;
}

static void write_broker(const ea_metrics_scrape *s, ea_buf *b, ea_buf *tmp)
{
    static const char *const qnames[4] = { "ready", "processing", "delayed", "dead" };
    static const char *const outcomes[4] = { EA_WSTAT_SUCCEEDED, EA_WSTAT_FAILED, EA_WSTAT_RETRIED,
                                             EA_WSTAT_TIMED_OUT };
    if (s->broker < 0)
        return;
    family(b, "ecoatlas_task_broker_up", "gauge", "1 when the task broker answered this scrape");
    sample(b, "ecoatlas_task_broker_up", "", s->broker > 0);
    if (s->broker <= 0)
        return;
    family(b, "ecoatlas_task_queue_length", "gauge",
           "Tasks in the broker by state (dead: the dead-letter list)");
    for (int i = 0; i < 4; i++) {
        ea_buf_reset(tmp);
        ea_buf_printf(tmp, "state=\"%s\"", qnames[i]);
        sample(b, "ecoatlas_task_queue_length", tmp->data, s->queue[i] > 0 ? (uint64_t)s->queue[i] : 0);
    }
    family(b, "ecoatlas_workers_live", "gauge", "ecoatlas-worker processes with a recent heartbeat");
    sample(b, "ecoatlas_workers_live", "", s->workers > 0 ? (uint64_t)s->workers : 0);
    family(b, "ecoatlas_worker_tasks_total", "counter",
           "Task runs finished by the workers, by task name and outcome (timed_out: EcoAtlasTaskTimeLimit)");
    for (int t = 0; t < s->ntasks; t++)
        for (int o = 0; s->tasks[t] && o < 4; o++) {
            ea_buf_reset(tmp);
            ea_buf_printf(tmp, "task=\"%s\",outcome=\"%s\"", s->tasks[t], outcomes[o]);
            long long v = worker_value(s, s->tasks[t], outcomes[o]);
            sample(b, "ecoatlas_worker_tasks_total", tmp->data, v > 0 ? (uint64_t)v : 0);
        }
    family(b, "ecoatlas_worker_task_duration_seconds", "summary", "Time the workers spent running tasks");
    for (int t = 0; t < s->ntasks; t++) {
        if (!s->tasks[t])
            continue;
        long long us = worker_value(s, s->tasks[t], EA_WSTAT_SECONDS_US), n = 0;
        for (int o = 0; o < 4; o++)
            n += worker_value(s, s->tasks[t], outcomes[o]);
        if (us < 0)
            us = 0;
        ea_buf_printf(b, "ecoatlas_worker_task_duration_seconds_sum{task=\"%s\"} %lld.%06lld\n",
                      s->tasks[t], us / 1000000, us % 1000000);
        ea_buf_printf(b, "ecoatlas_worker_task_duration_seconds_count{task=\"%s\"} %lld\n", s->tasks[t],
                      n > 0 ? n : 0);
    }
    family(b, "ecoatlas_worker_import_rows_total", "counter", "Rows imported by the workers' import tasks");
    for (int t = 0; t < s->ntasks; t++) {
        if (!s->tasks[t])
            continue;
        ea_buf_reset(tmp);
        ea_buf_printf(tmp, "task=\"%s\"", s->tasks[t]);
        long long v = worker_value(s, s->tasks[t], EA_WSTAT_IMPORT_ROWS);
        sample(b, "ecoatlas_worker_import_rows_total", tmp->data, v > 0 ? (uint64_t)v : 0);
    }
}

/* One family with a sample per database (label database="<index>"). */
static void per_database(ea_buf *b, ea_buf *tmp, int ndbs, const char *name, const char *type,
                         const char *help, const uint64_t *v)
{
    family(b, name, type, help);
    for (int d = 0; d < ndbs && d < EA_METRICS_DBS; d++) {
        ea_buf_reset(tmp);
        ea_buf_printf(tmp, "database=\"%d\"", d);
        sample(b, name, tmp->data, v[d]);
    }
}

void ea_metrics_write(const ea_metrics *m, const ea_metrics_scrape *s, ea_buf *b)
{
    ea_buf tmp;
    ea_buf_init(&tmp, b->pool, 256);
    family(b, "ecoatlas_metrics_start_time_seconds", "gauge",
           "When these counts started (kept across graceful restarts)");
    ea_buf_printf(b, "ecoatlas_metrics_start_time_seconds %lld\n", (long long)m->created);
    write_requests(m, s, b, &tmp);
    write_counters(m, b);
    family(b, "ecoatlas_cache_slots", "gauge", "Entries the response cache can hold");
    sample(b, "ecoatlas_cache_slots", "", s->cache_slots);
    uint64_t up[EA_METRICS_DBS], pid[EA_METRICS_DBS];
    for (int d = 0; d < s->ndbs && d < EA_METRICS_DBS; d++) {
        up[d] = s->listener_up[d] ? 1 : 0;
        pid[d] = s->listener_pid[d] > 0 ? (uint64_t)s->listener_pid[d] : 0;
    }
    per_database(b, &tmp, s->ndbs, "ecoatlas_cache_listener_up", "gauge",
                 "1 while the change listener of the database is healthy (the cache is used only then)", up);
    per_database(b, &tmp, s->ndbs, "ecoatlas_cache_listener_pid", "gauge",
                 "Process id of the httpd child listening for changes of the database (0: none)", pid);
    per_database(b, &tmp, s->ndbs, "ecoatlas_cache_listener_starts_total", "counter",
                 "Times a child started listening for changes of the database (each start empties its cache)",
                 s->listener_starts);
    write_tasks(m, s, b, &tmp);
    write_exports(m, b, &tmp);
    write_broker(s, b, &tmp);
}

long long ea_metrics_result_rows(const char *result_json)
{
    json_object *o, *v;
    long long n = -1;
    if (!result_json || !(o = json_tokener_parse(result_json)))
        return -1;
    if (json_object_is_type(o, json_type_object) && json_object_object_get_ex(o, "imported", &v)
        && json_object_is_type(v, json_type_int))
        n = json_object_get_int64(v);
    json_object_put(o);
    return n;
}
