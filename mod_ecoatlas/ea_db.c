/* ea_db: PostgreSQL through mod_dbd's pooled connections.  mod_dbd owns the
 * connections (DBDriver pgsql, DBDParams, DBDMin/Keep/Max/Exptime); we take
 * the native libpq handle to run parameterised statements, prepare each
 * distinct statement of a fixed shape once per connection, and repair a
 * connection that a PostgreSQL restart broke (reset, statements prepared
 * again, one retry for reads). */
#include "ea_mod_conf.h"
#include "ea_logno.h"
#include "ea_mod_req.h"
#include "ea_mod_respond.h"
#include "ea_mod_db.h"
#include "ea_mod_metrics.h"
#include "apr_dbd.h"
#include "mod_dbd.h"
#include "apr_hash.h"
#include "apr_strings.h"
#include "apr_optional.h"
#include "apr_lib.h"
#include "apr_atomic.h"
#include "ea_sql_write.h"
#include "ea_fifo.h"
#include "ap_mpm.h"
#include <limits.h>
#include <stdio.h>

APLOG_USE_MODULE(ecoatlas);

/* Per connection, kept in the connection's own pool: statements prepared. */
typedef struct ea_conn_state {
    apr_pool_t *pool;
    apr_hash_t *stmts;       /* SQL text -> statement name */
    unsigned next;
    int configured;          /* session settings applied since (re)connect */
    int lost;                /* failed: the next success is a reconnect (metrics) */
    int backend_pid;         /* the server session they were applied to */
    int work_mem_low;        /* its work_mem is below a search's (ea_stmt.h) */
} ea_conn_state;

#define EA_MAX_PREPARED 512
#define EA_STATE_KEY "ecoatlas:conn"

int ea_db_post_config(apr_pool_t *pconf, server_rec *s)
{
    APR_OPTIONAL_FN_TYPE(ap_dbd_acquire) *dbd_acquire = APR_RETRIEVE_OPTIONAL_FN(ap_dbd_acquire);
    APR_OPTIONAL_FN_TYPE(ap_dbd_open) *dbd_open = APR_RETRIEVE_OPTIONAL_FN(ap_dbd_open);
    APR_OPTIONAL_FN_TYPE(ap_dbd_close) *dbd_close = APR_RETRIEVE_OPTIONAL_FN(ap_dbd_close);
    (void)pconf;
    ea_state(s)->dbd_acquire = (void (*)(void))dbd_acquire;
    ea_state(s)->dbd_open = (void (*)(void))dbd_open;
    ea_state(s)->dbd_close = (void (*)(void))dbd_close;
    ea_state(s)->dbd_module = ap_find_linked_module("mod_dbd.c");
    if (!dbd_acquire || !dbd_open || !dbd_close) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s,
                     EA_LOGNO(00014) "mod_ecoatlas needs mod_dbd: load it (LoadModule dbd_module ...) "
                     "and configure DBDriver pgsql and DBDParams");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    return OK;
}

/* Has another module of this request taken mod_dbd's per-request
 * connection (ap_dbd_acquire, e.g. mod_authn_dbd)?  Then that one is
 * shared, as mod_dbd intends: a second connection per request could wait
 * forever on a pool that such requests hold entirely. */
static int dbd_acquired_by_request(request_rec *r)
{
    module *m = ea_state(r->server)->dbd_module;
    while (r->prev || r->main)
        r = r->prev ? r->prev : r->main;
    return m && ap_get_module_config(r->request_config, m) != NULL;
}

/* ---- waiting for a connection in arrival order ------------------------------ */

/* mod_dbd's directives that decide which servers share a database and a
 * pool, and its size, are noted as they are read (httpd gives a directive
 * to every module that declares it), then handled by mod_dbd as usual. */
const char *ea_db_note_pool(cmd_parms *cmd, void *dconf, const char *arg)
{
    (void)dconf;
    if (!ap_find_linked_module("mod_dbd.c"))   /* as httpd says it without us */
        return apr_pstrcat(cmd->pool, "Invalid command '", cmd->directive->directive,
                           "', perhaps misspelled or defined by a module not included "
                           "in the server configuration", NULL);
    ea_srv_conf *sc = ea_sconf(cmd->server);
    *(const char **)((char *)sc + (apr_uintptr_t)cmd->info) = arg;
    return DECLINE_CMD;
}

/* mod_dbd's DBDMax when none is given (threaded MPMs). */
#define EA_DBD_DEFAULT_MAX 10

/* One of mod_dbd's pools as this child sees it: the queue its requests
 * wait in for a connection, and the exports that hold one of its
 * connections while they send (docs/operations.md §5). */
typedef struct db_pool {
    ea_fifo *fifo;
    volatile apr_uint32_t exports;  /* running now */
    volatile apr_uint32_t held;     /* held outside requests (the cache's listener) */
    int size;                       /* its connections (DBDMax) */
} db_pool;

/* One pool per set of mod_dbd settings: servers whose settings are the
 * same share mod_dbd's pool, its queue and its exports.  None under a MPM
 * without threads (one request per process) or with DBDPersist Off (no
 * pool). */
void ea_db_child_init(apr_pool_t *pchild, server_rec *main_s)
{
    int threaded = AP_MPMQ_NOT_SUPPORTED;
    if (ap_mpm_query(AP_MPMQ_IS_THREADED, &threaded) != APR_SUCCESS || threaded == AP_MPMQ_NOT_SUPPORTED)
        return;
    apr_hash_t *by_key = apr_hash_make(pchild), *by_server = apr_hash_make(pchild);
    for (server_rec *s = main_s; s; s = s->next) {
        ea_srv_conf *sc = ea_sconf(s);
        if (sc->dbd_persist && strcasecmp(sc->dbd_persist, "off") == 0)
            continue;
        long max = sc->dbd_max ? strtol(sc->dbd_max, NULL, 10) : EA_DBD_DEFAULT_MAX;
        if (max < 1)
            continue;
        const char *d[] = { sc->dbd_params, sc->dbd_driver, sc->dbd_min, sc->dbd_keep, sc->dbd_max,
                            sc->dbd_exptime };
        const char *key = "";
        for (size_t i = 0; i < sizeof(d) / sizeof(d[0]); i++)
            key = apr_pstrcat(pchild, key, d[i] ? d[i] : "", "\n", NULL);
        db_pool *p = apr_hash_get(by_key, key, APR_HASH_KEY_STRING);
        if (!p) {
            p = apr_pcalloc(pchild, sizeof(*p));
            p->size = (int)(max < INT_MAX ? max : INT_MAX);
            if (!(p->fifo = ea_fifo_create(pchild, p->size)))
                continue;   /* no queue: mod_dbd's pool alone */
            apr_hash_set(by_key, key, APR_HASH_KEY_STRING, p);
        }
        server_rec **k = apr_palloc(pchild, sizeof(*k));
        *k = s;
        apr_hash_set(by_server, k, sizeof(*k), p);
    }
    ea_state(main_s)->db_queues = by_server;
}

static db_pool *pool_of(server_rec *s)
{
    apr_hash_t *h = ea_state(s)->db_queues;
    return h ? apr_hash_get(h, &s, sizeof(s)) : NULL;
}

static ea_fifo *queue_of(server_rec *s)
{
    db_pool *p = pool_of(s);
    return p ? p->fifo : NULL;
}

/* ---- connections held outside requests; exports, a bounded share ------------ */

void *ea_db_pool_hold(server_rec *s)
{
    db_pool *p = pool_of(s);
    if (p) {
        apr_atomic_inc32(&p->held);
        ea_fifo_resize(p->fifo, -1);   /* requests wait in line, not in mod_dbd's pool */
    }
    return p;
}

void ea_db_pool_unhold(void *pool)
{
    db_pool *p = pool;
    if (p) {
        apr_atomic_dec32(&p->held);
        ea_fifo_resize(p->fifo, 1);
    }
}

/* EcoAtlasMaxExports, or half of the connections the pool has for
 * requests (at least one). */
static apr_uint32_t export_limit(server_rec *s, const db_pool *p)
{
    int n = ea_sconf(s)->max_exports;
    if (n == EA_UNSET) {
        int spare = p->size - (int)apr_atomic_read32(&((db_pool *)p)->held);
        n = spare / 2 > 0 ? spare / 2 : 1;
    }
    return (apr_uint32_t)n;
}

static void export_slot_leave(ea_req *rq)
{
    if (rq->export_pool) {
        apr_atomic_dec32(&((db_pool *)rq->export_pool)->exports);
        rq->export_pool = NULL;
    }
}

static apr_status_t export_slot_cleanup(void *v)
{
    export_slot_leave(v);
    return APR_SUCCESS;
}

ea_db_status ea_db_export_slot(ea_req *rq)
{
    db_pool *p;
    if (rq->export_pool || !(p = pool_of(rq->r->server)))
        return EA_DB_OK;   /* held already, or no pool shared by threads */
    apr_uint32_t limit = export_limit(rq->r->server, p);
    if (apr_atomic_inc32(&p->exports) >= limit) {
        apr_atomic_dec32(&p->exports);
        /* a line a minute at most: a flood of exports is not a flood of lines */
        if (ea_log_once(rq->r->server, "export-busy", (uint64_t)apr_time_sec(apr_time_now()) / 60))
            ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, rq->r,
                          EA_LOGNO(00084) "%u exports already stream from this pool in this process "
                          "(EcoAtlasMaxExports): export answered 503", limit);
        return EA_DB_BUSY;
    }
    rq->export_pool = p;
    apr_pool_cleanup_register(rq->r->pool, rq, export_slot_cleanup, apr_pool_cleanup_null);
    return EA_DB_OK;
}

static void give_back(ea_req *rq)
{
    APR_OPTIONAL_FN_TYPE(ap_dbd_close) *dbd_close =
        (APR_OPTIONAL_FN_TYPE(ap_dbd_close) *)ea_state(rq->r->server)->dbd_close;
    dbd_close(rq->r->server, rq->db);
    rq->db = NULL;
    rq->db_own = 0;
    if (rq->db_queue) {
        ea_fifo_leave(rq->db_queue);   /* to the next request in line */
        rq->db_queue = NULL;
    }
}

/* The request's own connection at its end, when nothing gave it back
 * before (an open transaction is rolled back first).  A pre-cleanup: with
 * DBDPersist Off the connection lives in a subpool of the request's pool,
 * which is destroyed before the ordinary cleanups run. */
static apr_status_t rollback_cleanup(void *v);

static apr_status_t give_back_cleanup(void *v)
{
    ea_req *rq = v;
    if (rq->db && rq->db_own) {
        rollback_cleanup(rq);
        give_back(rq);
    }
    return APR_SUCCESS;
}

void ea_db_release(ea_req *rq)
{
    if (!rq->db || !rq->db_own || rq->in_txn)
        return;
    ap_dbd_t *dbd = rq->db;
    if (PQtransactionStatus(apr_dbd_native_handle(dbd->driver, dbd->handle)) != PQTRANS_IDLE)
        return;   /* a statement still running (a stream): kept to the end */
    give_back(rq);
}

/* A connection for the request: its own from mod_dbd's pool (ap_dbd_open,
 * given back by ea_db_release or when the request ends), or the one
 * another module of the request acquired. */
static ap_dbd_t *db_take(ea_req *rq)
{
    request_rec *r = rq->r;
    ea_module_state *st = ea_state(r->server);
    if (dbd_acquired_by_request(r)) {
        rq->db_own = 0;
        return ((APR_OPTIONAL_FN_TYPE(ap_dbd_acquire) *)st->dbd_acquire)(r);
    }
    /* in line behind the requests that came first, then mod_dbd's pool,
     * which has a connection for each slot of the queue */
    ea_fifo *q = queue_of(r->server);
    if (q && ea_fifo_enter(q, r->pool) != 0)
        q = NULL;
    ap_dbd_t *dbd = ((APR_OPTIONAL_FN_TYPE(ap_dbd_open) *)st->dbd_open)(r->pool, r->server);
    if (!dbd && q)
        ea_fifo_leave(q);
    if (dbd) {
        rq->db_own = 1;
        rq->db_queue = q;
        if (!rq->db_cleanup) {
            apr_pool_pre_cleanup_register(r->pool, rq, give_back_cleanup);
            rq->db_cleanup = 1;
        }
    }
    return dbd;
}

static ea_conn_state *conn_state(ap_dbd_t *dbd)
{
    void *v = NULL;
    apr_pool_userdata_get(&v, EA_STATE_KEY, dbd->pool);
    if (!v) {
        ea_conn_state *st = apr_pcalloc(dbd->pool, sizeof(*st));
        st->pool = dbd->pool;
        st->stmts = apr_hash_make(dbd->pool);
        apr_pool_userdata_setn(st, EA_STATE_KEY, NULL, dbd->pool);
        v = st;
    }
    return v;
}

static PGconn *acquire(ea_req *rq, ap_dbd_t **dbdp)
{
    ap_dbd_t *dbd = rq->db;
    if (!dbd) {
        apr_time_t t0 = apr_time_now();
        dbd = db_take(rq);
        ea_count_wait(rq->r->server, apr_time_now() - t0);
        if (!dbd) {
            ea_count(rq->r->server, EA_C_DB_ACQUIRE_FAIL);
            return NULL;
        }
        rq->db = dbd;
        if (strcmp(apr_dbd_name(dbd->driver), "pgsql") != 0) {
            ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, rq->r,
                          EA_LOGNO(00015) "mod_ecoatlas needs DBDriver pgsql, not %s", apr_dbd_name(dbd->driver));
            if (rq->db_own)
                give_back(rq);
            rq->db = NULL;
            return NULL;
        }
    }
    *dbdp = dbd;
    return apr_dbd_native_handle(dbd->driver, dbd->handle);
}

static void clear_result(void *res)
{
    PQclear(res);
}

static apr_status_t clear_result_cleanup(void *res)
{
    clear_result(res);
    return APR_SUCCESS;
}

/* Connection-level failures: the server went away or restarted.  An
 * error without SQLSTATE was made by libpq itself ("server closed the
 * connection unexpectedly"), sometimes while PQstatus still says OK: the
 * connection failed, not the statement (docs/security.md). */
static int is_connection_failure(PGconn *conn, const PGresult *res)
{
    if (PQstatus(conn) != CONNECTION_OK || res == NULL)
        return 1;
    const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    if (state == NULL)
        return PQresultStatus(res) == PGRES_FATAL_ERROR;
    return strncmp(state, "08", 2) == 0 || strcmp(state, "57P01") == 0
           || strcmp(state, "57P02") == 0 || strcmp(state, "57P03") == 0;
}

/* Session settings, once per server session: UTC for to_char, and a bound
 * on every statement so that no request (and no pooled connection) waits
 * on a runaway query.  JIT off: LLVM compiling a large expression does not
 * check for interrupts, so neither statement_timeout nor pg_cancel_backend
 * stops it (docs/security.md). */
static void configure_session(ea_req *rq, PGconn *conn, ea_conn_state *st)
{
    ea_srv_conf *sc = ea_sconf(rq->r->server);
    int ms = ea_srv_get(sc, query_timeout_ms);
    /* the settings, then whether a search must raise work_mem: one round trip */
    PGresult *res = PQexec(conn, apr_pstrcat(rq->r->pool, ea_sql_session_settings(rq->r->pool, ms), "; ",
                                             ea_sql_work_mem_below(), NULL));
    if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1) {
        st->configured = 1;
        st->backend_pid = PQbackendPID(conn);
        st->work_mem_low = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    }
    PQclear(res);
}

/* A statement whose text grows with the input (oneshot) runs unnamed and
 * leaves no plan behind; the others are prepared once per connection. */
static PGresult *run(PGconn *conn, ea_conn_state *st, const char *sql, int n,
                     const char *const *values, int oneshot)
{
    const char *name = oneshot ? NULL : apr_hash_get(st->stmts, sql, APR_HASH_KEY_STRING);
    if (!name && !oneshot && st->next < EA_MAX_PREPARED) {
        char *nm = apr_psprintf(st->pool, "ea_%u", st->next);
        PGresult *pr = PQprepare(conn, nm, sql, n, NULL);
        int ok = PQresultStatus(pr) == PGRES_COMMAND_OK;
        if (!ok)
            return pr;   /* the caller reports the error */
        PQclear(pr);
        st->next++;
        apr_hash_set(st->stmts, apr_pstrdup(st->pool, sql), APR_HASH_KEY_STRING, nm);
        name = nm;
    }
    if (name)
        return PQexecPrepared(conn, name, n, values, NULL, NULL, 0);
    return PQexecParams(conn, sql, n, NULL, values, NULL, NULL, 0);
}

static void set_timeout(apr_pool_t *p, PGconn *conn, int ms)
{
    PQclear(PQexec(conn, ea_sql_set_timeout(p, ms)));
}

/* The search document of migration 0006 may be missing (dropped before a
 * Django migration of its fields, docs/operations.md, "Search"): the
 * statement that finds it gone is run again testing each search field, and
 * so is every search of this process for the next EA_SEARCH_DOC_RECHECK;
 * then the document is tried again. */
#define EA_SEARCH_DOC_RECHECK apr_time_from_sec(60)

static int search_doc_gone(server_rec *s)
{
    apr_time_t until = __atomic_load_n(&ea_state(s)->search_doc_gone_until, __ATOMIC_RELAXED);
    return until != 0 && apr_time_now() < until;
}

static void search_doc_found_gone(request_rec *r, const char *message)
{
    apr_time_t now = apr_time_now();
    apr_time_t was = __atomic_exchange_n(&ea_state(r->server)->search_doc_gone_until, now + EA_SEARCH_DOC_RECHECK,
                                         __ATOMIC_RELAXED);
    if (was == 0 || was <= now)   /* a line per window and process, not one per search */
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r,
                      EA_LOGNO(00082) "the search document is missing (%s): searches test each field, "
                      "without its index, until `ecoatlas migrate` adds it back", message);
}

/* sql with each field tested instead of the document, while this process
 * knows the document gone; else sql.  *fell_back says which. */
static const char *while_doc_gone(request_rec *r, const char *sql, int *fell_back)
{
    const char *fields_sql = NULL;
    *fell_back = search_doc_gone(r->server) && (fields_sql = ea_search_doc_fallback(r->pool, sql)) != NULL;
    return *fell_back ? fields_sql : sql;
}

/* After res failed: when it says the document is missing (and sql tested
 * it), the same statement testing each field, and this process knows the
 * document gone from now on; else NULL. */
static const char *doc_missing_retry(request_rec *r, const PGresult *res, const char *sql)
{
    const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
    const char *fields_sql;
    if (!state || strcmp(state, "42703") != 0 || !ea_search_doc_named(msg)
        || !(fields_sql = ea_search_doc_fallback(r->pool, sql)))
        return NULL;
    search_doc_found_gone(r, msg);
    return fields_sql;
}

/* Run a statement.  With diag non-NULL, integrity violations (SQLSTATE class
 * 23) are expected outcomes: reported through diag, logged at debug only.
 * Inside a transaction a broken connection is not repaired and retried: the
 * transaction is gone with it.  Outside one, a read (as its builder
 * declared it, lib/ea_stmt.h) runs once more on the repaired connection; a
 * write may have been executed before the connection went and is not
 * repeated (the client gets 503 and decides). */
static ea_db_status query(ea_req *rq, ea_stmt stmt, PGresult **out, ea_db_diag *diag)
{
    request_rec *r = rq->r;
    ap_dbd_t *dbd;
    PGconn *conn = acquire(rq, &dbd);
    const char *sql = stmt.sql;
    int n = stmt.params ? stmt.params->nelts : 0;
    const char *const *values = stmt.params ? (const char *const *)stmt.params->elts : NULL;

    *out = NULL;
    if (!conn)
        return EA_DB_UNAVAILABLE;
    int fell_back;
    sql = while_doc_gone(r, sql, &fell_back);
    for (int attempt = 0; attempt < 2; attempt++) {
        ea_conn_state *st = conn_state(dbd);
        /* mod_dbd may have reconnected it (its pool check resets a broken
         * handle): a new server session has none of our settings or plans */
        if (st->configured && PQbackendPID(conn) != st->backend_pid) {
            st->stmts = apr_hash_make(st->pool);
            st->configured = 0;
            st->lost = 1;     /* a reconnect, counted at its first success */
        }
        if (!st->configured)
            configure_session(rq, conn, st);
        /* a search gets its own bound and work_mem for this statement,
         * then the session's are back (the connection returns to the pool
         * with them) */
        int session_ms = ea_srv_get(ea_sconf(r->server), query_timeout_ms);
        int searching = !rq->in_txn && rq->search_timeout_ms > 0;
        /* EcoAtlasSearchTimeout where it is tighter than EcoAtlasQueryTimeout */
        int budget = searching && rq->search_timeout_ms < session_ms ? rq->search_timeout_ms : 0;
        int raise = searching && st->work_mem_low;
        int generic = !rq->in_txn && rq->db_generic && !rq->db_oneshot;
        if (budget || raise || generic)
            PQclear(PQexec(conn, ea_sql_search_begin(r->pool, budget ? budget : session_ms, raise, generic)));
        PGresult *res = run(conn, st, sql, n, values, rq->db_oneshot);
        if ((budget || raise || generic) && PQstatus(conn) == CONNECTION_OK)
            PQclear(PQexec(conn, ea_sql_search_end(r->pool, session_ms, raise, generic)));
        ExecStatusType es = PQresultStatus(res);
        if (es == PGRES_TUPLES_OK || es == PGRES_COMMAND_OK) {
            if (st->lost) {   /* re-established, by us (PQreset) or by mod_dbd's check */
                st->lost = 0;
                ea_count(r->server, EA_C_DB_RECONNECT);
            }
            apr_pool_cleanup_register(r->pool, res, clear_result_cleanup, apr_pool_cleanup_null);
            *out = res;
            return EA_DB_OK;
        }
        const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
        int broken = is_connection_failure(conn, res);
        int lost_stmt = state && strcmp(state, "26000") == 0;
        if (state && strcmp(state, "57014") == 0) {
            if (budget) {
                ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r,
                              EA_LOGNO(00081) "search cancelled after EcoAtlasSearchTimeout (%d ms): %s", budget,
                              r->unparsed_uri);
                rq->search_timed_out = budget;
            } else {
                ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r,
                              EA_LOGNO(00016) "query cancelled after EcoAtlasQueryTimeout: %s", r->unparsed_uri);
            }
            clear_result(res);
            return EA_DB_TIMEOUT;
        }
        if (!broken && !lost_stmt && diag && state && strncmp(state, "23", 2) == 0) {
            const char *cons = PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME);
            diag->sqlstate = apr_pstrdup(r->pool, state);
            diag->constraint = cons ? apr_pstrdup(r->pool, cons) : NULL;
            ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, EA_LOGNO(00017) "write refused by the database "
                          "(SQLSTATE %s, constraint %s)", state, cons ? cons : "?");
            clear_result(res);
            return EA_DB_ERROR;
        }
        const char *fields_sql;
        if (!broken && !fell_back && !rq->in_txn && (fields_sql = doc_missing_retry(r, res, sql))) {
            clear_result(res);
            sql = fields_sql;
            fell_back = 1;
            attempt--;       /* the same statement on each field: not a retry of a lost connection */
            continue;
        }
        if (!broken && !lost_stmt && state && strcmp(state, "42P01") == 0 && ea_names_version_named(
                PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY))) {
            /* a lean list page, and migration 0008's table gone: the
             * caller reads the page joined (ea_names.c) */
            ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r,
                          EA_LOGNO(00083) "the names' version is missing (%s): list pages join countries and "
                          "regions until `ecoatlas migrate` adds it back",
                          PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY));
            clear_result(res);
            return EA_DB_ERROR;
        }
        if (!broken && !lost_stmt) {
            ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                          EA_LOGNO(00018) "query failed (SQLSTATE %s): %s", state ? state : "?",
                          PQresultErrorMessage(res));
            clear_result(res);
            return EA_DB_ERROR;
        }
        clear_result(res);
        if (rq->in_txn && (broken || lost_stmt)) {
            ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r,
                          EA_LOGNO(00019) "database connection lost during a transaction: %s", PQerrorMessage(conn));
            rq->in_txn = 0;
            return EA_DB_UNAVAILABLE;
        }
        /* A fresh server session knows none of our statements or settings. */
        st->stmts = apr_hash_make(st->pool);
        st->configured = 0;
        st->lost = 1;
        if (broken) {
            PQreset(conn);
            if (PQstatus(conn) != CONNECTION_OK) {
                ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r,
                              EA_LOGNO(00020) "database connection lost and not yet back: %s",
                              PQerrorMessage(conn));
                return EA_DB_UNAVAILABLE;
            }
            ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r,
                          EA_LOGNO(00021) "database connection re-established");
            if (stmt.kind != EA_STMT_READ) {
                ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r,
                              EA_LOGNO(00022) "a write found its connection dead: not run again (503)");
                return EA_DB_UNAVAILABLE;
            }
        }
    }
    return EA_DB_UNAVAILABLE;
}

/* One statement and its outcome, for the metrics. */
static ea_db_status counted(ea_req *rq, ea_db_status st, const ea_db_diag *diag)
{
    server_rec *s = rq->r->server;
    ea_count(s, EA_C_DB_STATEMENT);
    if (st == EA_DB_TIMEOUT)
        ea_count(s, EA_C_DB_TIMEOUT);
    else if (st == EA_DB_UNAVAILABLE)
        ea_count(s, EA_C_DB_UNAVAILABLE);
    else if (st == EA_DB_ERROR)
        ea_count(s, diag && diag->sqlstate ? EA_C_DB_CONSTRAINT : EA_C_DB_ERROR);
    return st;
}

ea_db_status ea_db_query(ea_req *rq, ea_stmt stmt, PGresult **out)
{
    return counted(rq, query(rq, stmt, out, NULL), NULL);
}

ea_db_status ea_db_write(ea_req *rq, ea_stmt stmt, PGresult **out, ea_db_diag *diag)
{
    diag->sqlstate = diag->constraint = NULL;
    return counted(rq, query(rq, stmt, out, diag), diag);
}

/* ---- transactions (writes) ------------------------------------------------------ */

/* A request that ends inside its transaction (an error path) must not hand
 * the open transaction back to mod_dbd's pool. */
static apr_status_t rollback_cleanup(void *v)
{
    ea_req *rq = v;
    if (rq->in_txn && rq->db) {
        ap_dbd_t *dbd = rq->db;
        PGconn *conn = apr_dbd_native_handle(dbd->driver, dbd->handle);
        PQclear(PQexec(conn, EA_SQL_ROLLBACK));
        rq->in_txn = 0;
    }
    return APR_SUCCESS;
}

ea_db_status ea_db_begin(ea_req *rq)
{
    PGresult *res;
    ea_db_status st = query(rq, ea_stmt_read(EA_SQL_BEGIN, NULL), &res, NULL);
    if (st == EA_DB_OK) {
        if (!rq->txn_cleanup) {
            apr_pool_cleanup_register(rq->r->pool, rq, rollback_cleanup, apr_pool_cleanup_null);
            rq->txn_cleanup = 1;
        }
        rq->in_txn = 1;
    }
    return st;
}

ea_db_status ea_db_commit(ea_req *rq, ea_db_diag *diag)
{
    PGresult *res;
    ea_db_status st = ea_db_write(rq, ea_stmt_write(EA_SQL_COMMIT, NULL), &res, diag);
    rq->in_txn = 0;   /* committed, or rolled back by the failure */
    return st;
}

void ea_db_rollback(ea_req *rq)
{
    rollback_cleanup(rq);
}

int ea_db_fail(ea_req *rq, ea_db_status st)
{
    if (st == EA_DB_UNAVAILABLE)
        return ea_send_unavailable(rq);
    if (st == EA_DB_TIMEOUT && rq->search_timed_out) {
        /* the search's own bound (docs/decisions.md D16): the client can
         * narrow it; the same request again would fail the same way */
        char msg[96];   /* libc's %g: "0.9" (APR's would print ".9") */
        snprintf(msg, sizeof msg, "This search took longer than %g s. Use longer or more specific terms.",
                 rq->search_timed_out / 1000.0);
        return ea_send_field_error(rq, "search", msg);
    }
    if (st == EA_DB_BUSY) {
        apr_table_setn(rq->r->err_headers_out, "Retry-After", "10");
        return ea_send_detail(rq, HTTP_SERVICE_UNAVAILABLE,
                              "Too many exports are running. Try again in a few seconds.");
    }
    if (st == EA_DB_TIMEOUT) {
        apr_table_setn(rq->r->err_headers_out, "Retry-After", "5");
        return ea_send_detail(rq, HTTP_SERVICE_UNAVAILABLE,
                              "The request took too long to process. Try again later.");
    }
    return ea_send_server_error(rq, "database query failed");
}

int ea_db_fk_exists(void *ctx, const char *table, long long id)
{
    ea_db_lookup *lk = ctx;
    ea_req *rq = lk->rq;
    PGresult *res;
    const char *idtext = apr_psprintf(rq->r->pool, "%" APR_INT64_T_FMT, (apr_int64_t)id);
    ea_db_status st = ea_db_query(rq, ea_sql_fk_exists(rq->r->pool, table, idtext), &res);
    if (st != EA_DB_OK) {
        lk->failure = st;
        return -1;
    }
    return PQntuples(res) > 0;
}

const char **ea_row_values(ea_req *rq, PGresult *res, int row, int off, int n)
{
    const char **v = apr_palloc(rq->r->pool, sizeof(*v) * (size_t)n);
    for (int i = 0; i < n; i++)
        v[i] = PQgetisnull(res, row, off + i) ? NULL : PQgetvalue(res, row, off + i);
    return v;
}

/* ---- streaming (exports) ----------------------------------------------------- */

static void drain(PGconn *conn)
{
    PGresult *res;
    while ((res = PQgetResult(conn)) != NULL)
        PQclear(res);
}

static void cancel_running(PGconn *conn)
{
    char err[256];
    PGcancel *c = PQgetCancel(conn);
    if (c) {
        PQcancel(c, err, sizeof(err));
        PQfreeCancel(c);
    }
    drain(conn);
}

static ea_db_status stream_rows(ea_req *rq, ea_stmt stmt, ea_row_fn fn, void *ctx, int *delivered)
{
    request_rec *r = rq->r;
    ea_srv_conf *sc = ea_sconf(r->server);
    int ms = ea_srv_get(sc, query_timeout_ms);
    ap_dbd_t *dbd;
    PGresult *res;
    const char *sql = stmt.sql;
    int n = stmt.params ? stmt.params->nelts : 0;
    const char *const *values = stmt.params ? (const char *const *)stmt.params->elts : NULL;
    ea_db_status st;

    *delivered = 0;
    /* A cheap statement first: it repairs a connection a restart broke. */
    if ((st = ea_db_query(rq, ea_stmt_read(EA_SQL_PING, NULL), &res)) != EA_DB_OK)
        return st;
    PGconn *conn = acquire(rq, &dbd);
    /* Rows go out as fast as the client reads: allow ten query timeouts. */
    set_timeout(r->pool, conn, ms > INT_MAX / 10 ? INT_MAX : ms * 10);
    int fell_back;
    sql = while_doc_gone(r, sql, &fell_back);
    const char *fields_sql = NULL;   /* the statement once more, when the document is missing */
    for (;;) {
        st = EA_DB_OK;
        if (!PQsendQueryParams(conn, sql, n, NULL, values, NULL, NULL, 0) || !PQsetSingleRowMode(conn)) {
            ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, EA_LOGNO(00023) "export query not sent: %s", PQerrorMessage(conn));
            drain(conn);
            set_timeout(r->pool, conn, ms);
            return is_connection_failure(conn, NULL) ? EA_DB_UNAVAILABLE : EA_DB_ERROR;
        }
        while ((res = PQgetResult(conn)) != NULL) {
            ExecStatusType es = PQresultStatus(res);
            if (es == PGRES_SINGLE_TUPLE) {
                int stop = fn(ctx, res);
                PQclear(res);
                (*delivered)++;
                if (stop) {   /* the client went away: stop the query too */
                    cancel_running(conn);
                    break;
                }
                continue;
            }
            if (es != PGRES_TUPLES_OK) {
                const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
                /* the search document missing (above, query()): before any row */
                if (!*delivered && !fell_back && !fields_sql && (fields_sql = doc_missing_retry(r, res, sql))) {
                    PQclear(res);
                    continue;
                }
                ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, EA_LOGNO(00024) "export query failed (SQLSTATE %s): %s",
                              state ? state : "?", PQresultErrorMessage(res));
                st = is_connection_failure(conn, res) ? EA_DB_UNAVAILABLE
                     : state && strcmp(state, "57014") == 0 ? EA_DB_TIMEOUT : EA_DB_ERROR;
            }
            PQclear(res);
        }
        if (!fields_sql || fell_back || PQstatus(conn) != CONNECTION_OK)
            break;
        sql = fields_sql;     /* once more, testing each field */
        fell_back = 1;
    }
    if (PQstatus(conn) == CONNECTION_OK)
        set_timeout(r->pool, conn, ms);
    return counted(rq, st, NULL);
}

/* A stream holds its connection while the client reads: one slot of the
 * pool's exports for its time (taken before, by the handler, so that a
 * refusal comes before any header is set). */
ea_db_status ea_db_stream(ea_req *rq, ea_stmt stmt, ea_row_fn fn, void *ctx, int *delivered)
{
    ea_db_status st = ea_db_export_slot(rq);
    *delivered = 0;
    if (st != EA_DB_OK)
        return st;
    st = stream_rows(rq, stmt, fn, ctx, delivered);
    export_slot_leave(rq);
    return st;
}

/* ---- another statement timeout (eager tasks) ------------------------------------ */

ea_db_status ea_db_with_timeout(ea_req *rq, int ms, ea_db_conn_fn fn, void *baton)
{
    request_rec *r = rq->r;
    ap_dbd_t *dbd;
    PGresult *res;
    /* Through the usual path first: a pooled connection that PostgreSQL
     * dropped (a restart) is re-established here, not handed to fn. */
    ea_db_status st = ea_db_query(rq, ea_stmt_read(EA_SQL_PING, NULL), &res);
    if (st != EA_DB_OK)
        return st;
    PGconn *pg = acquire(rq, &dbd);
    if (pg == NULL)
        return EA_DB_UNAVAILABLE;
    res = PQexec(pg, EA_SQL_SHOW_TIMEOUT);
    char *saved = PQresultStatus(res) == PGRES_TUPLES_OK ? apr_pstrdup(r->pool, PQgetvalue(res, 0, 0)) : NULL;
    PQclear(res);
    set_timeout(r->pool, pg, ms);
    fn(pg, baton);
    if (PQtransactionStatus(pg) != PQTRANS_IDLE)
        PQclear(PQexec(pg, EA_SQL_ROLLBACK));
    if (saved) {
        const char *params[] = {saved};
        PQclear(PQexecParams(pg, EA_SQL_RESTORE_TIMEOUT, 1, NULL, params, NULL, NULL, 0));
    }
    return EA_DB_OK;
}
