/* ea_db: PostgreSQL through mod_dbd's pooled connections.  mod_dbd owns the
 * connections (DBDriver pgsql, DBDParams, DBDMin/Keep/Max/Exptime); we take
 * the native libpq handle to run parameterised statements, prepare each
 * distinct statement of a fixed shape once per connection, and repair a
 * connection that a PostgreSQL restart broke (reset, statements prepared
 * again, one retry for reads). */
#include "mod_ecoatlas.h"
#include "apr_dbd.h"
#include "mod_dbd.h"
#include "apr_hash.h"
#include "apr_strings.h"
#include "apr_optional.h"
#include "apr_lib.h"
#include "ea_logno.h"
#include <limits.h>

APLOG_USE_MODULE(ecoatlas);

static APR_OPTIONAL_FN_TYPE(ap_dbd_acquire) *dbd_acquire;

/* Per connection, kept in the connection's own pool: statements prepared. */
typedef struct ea_conn_state {
    apr_pool_t *pool;
    apr_hash_t *stmts;       /* SQL text -> statement name */
    unsigned next;
    int configured;          /* session settings applied since (re)connect */
    int lost;                /* failed: the next success is a reconnect (metrics) */
    int backend_pid;         /* the server session they were applied to */
} ea_conn_state;

#define EA_MAX_PREPARED 512
#define EA_STATE_KEY "ecoatlas:conn"

int ea_db_post_config(apr_pool_t *pconf, server_rec *s)
{
    dbd_acquire = APR_RETRIEVE_OPTIONAL_FN(ap_dbd_acquire);
    if (!dbd_acquire) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s,
                     EA_LOGNO(00014) "mod_ecoatlas needs mod_dbd: load it (LoadModule dbd_module ...) "
                     "and configure DBDriver pgsql and DBDParams");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    return OK;
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
        dbd = dbd_acquire(rq->r);
        ea_count_wait(rq->r->server, apr_time_now() - t0);
        if (!dbd) {
            ea_count(rq->r->server, EA_C_DB_ACQUIRE_FAIL);
            return NULL;
        }
        if (strcmp(apr_dbd_name(dbd->driver), "pgsql") != 0) {
            ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, rq->r,
                          EA_LOGNO(00015) "mod_ecoatlas needs DBDriver pgsql, not %s", apr_dbd_name(dbd->driver));
            return NULL;
        }
        rq->db = dbd;
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

/* May a statement whose connection died be run again?  Reads yes; a write
 * may have been executed before the connection went, so it is not repeated
 * (the client gets 503 and decides). */
static int has_word(const char *sql, const char *word)
{
    size_t n = strlen(word);
    for (const char *p = sql; *p; p++) {
        if (strncasecmp(p, word, n) == 0 && (p == sql || !(apr_isalnum(p[-1]) || p[-1] == '_'))
            && !(apr_isalnum(p[n]) || p[n] == '_'))
            return 1;
    }
    return 0;
}

static int is_read(const char *sql)
{
    while (apr_isspace(*sql))
        sql++;
    /* A WITH query reads unless one of its parts writes (the session
     * insert is one); the SQL text is ours, values are parameters. */
    if (strncasecmp(sql, "WITH", 4) == 0)
        return !has_word(sql, "INSERT") && !has_word(sql, "UPDATE") && !has_word(sql, "DELETE");
    return strncasecmp(sql, "SELECT", 6) == 0 || strncasecmp(sql, "SHOW", 4) == 0
           || strncasecmp(sql, "BEGIN", 5) == 0;
}

/* Session settings, once per server session: UTC for to_char, and a bound
 * on every statement so that no request (and no pooled connection) waits
 * on a runaway query.  JIT off: LLVM compiling a large expression does not
 * check for interrupts, so neither statement_timeout nor pg_cancel_backend
 * stops it (docs/security.md). */
static void configure_session(ea_req *rq, PGconn *conn, ea_conn_state *st)
{
    ea_srv_conf *sc = ap_get_module_config(rq->r->server->module_config, &ecoatlas_module);
    int ms = sc->query_timeout_ms == EA_UNSET ? EA_DEFAULT_QUERY_TIMEOUT_MS : sc->query_timeout_ms;
    char sql[160];
    snprintf(sql, sizeof(sql), "SET statement_timeout = %d; SET jit = off; SET TimeZone = 'UTC'; "
             "SET DateStyle = 'ISO'", ms);
    PGresult *res = PQexec(conn, sql);
    if (PQresultStatus(res) == PGRES_COMMAND_OK) {
        st->configured = 1;
        st->backend_pid = PQbackendPID(conn);
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

/* Run a statement.  With diag non-NULL, integrity violations (SQLSTATE class
 * 23) are expected outcomes: reported through diag, logged at debug only.
 * Inside a transaction a broken connection is not repaired and retried: the
 * transaction is gone with it. */
static ea_db_status query(ea_req *rq, const char *sql, const apr_array_header_t *params,
                          PGresult **out, ea_db_diag *diag)
{
    request_rec *r = rq->r;
    ap_dbd_t *dbd;
    PGconn *conn = acquire(rq, &dbd);
    int n = params ? params->nelts : 0;
    const char *const *values = params ? (const char *const *)params->elts : NULL;

    *out = NULL;
    if (!conn)
        return EA_DB_UNAVAILABLE;
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
        PGresult *res = run(conn, st, sql, n, values, rq->db_oneshot);
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
            ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r,
                          EA_LOGNO(00016) "query cancelled after EcoAtlasQueryTimeout: %s", r->unparsed_uri);
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
            if (!is_read(sql)) {
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

ea_db_status ea_db_query(ea_req *rq, const char *sql, const apr_array_header_t *params,
                         PGresult **out)
{
    return counted(rq, query(rq, sql, params, out, NULL), NULL);
}

ea_db_status ea_db_write(ea_req *rq, const char *sql, const apr_array_header_t *params,
                         PGresult **out, ea_db_diag *diag)
{
    diag->sqlstate = diag->constraint = NULL;
    return counted(rq, query(rq, sql, params, out, diag), diag);
}

/* ---- transactions (writes) ------------------------------------------------------ */

/* A request that ends inside its transaction (an error path) must not hand
 * the open transaction back to mod_dbd's pool. */
static apr_status_t rollback_cleanup(void *v)
{
    ea_req *rq = v;
    if (rq->in_txn) {
        ap_dbd_t *dbd = rq->db;
        PGconn *conn = apr_dbd_native_handle(dbd->driver, dbd->handle);
        PQclear(PQexec(conn, "ROLLBACK"));
        rq->in_txn = 0;
    }
    return APR_SUCCESS;
}

ea_db_status ea_db_begin(ea_req *rq)
{
    PGresult *res;
    ea_db_status st = query(rq, "BEGIN", NULL, &res, NULL);
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
    ea_db_status st = ea_db_write(rq, "COMMIT", NULL, &res, diag);
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
    if (st == EA_DB_TIMEOUT) {
        apr_table_setn(rq->r->err_headers_out, "Retry-After", "5");
        return ea_send_detail(rq, HTTP_SERVICE_UNAVAILABLE,
                              "The request took too long to process. Try again later.");
    }
    return ea_send_server_error(rq, "database query failed");
}

int ea_db_fk_exists(void *ctx, const char *table, long long id)
{
    ea_req *rq = ctx;
    PGresult *res;
    apr_array_header_t *params = apr_array_make(rq->r->pool, 1, sizeof(const char *));
    APR_ARRAY_PUSH(params, const char *) = apr_psprintf(rq->r->pool, "%" APR_INT64_T_FMT, (apr_int64_t)id);
    const char *sql = apr_psprintf(rq->r->pool, "SELECT 1 FROM %s WHERE id = $1", table);
    ea_db_status st = ea_db_query(rq, sql, params, &res);
    if (st != EA_DB_OK) {
        rq->db_failure = st;
        return -1;
    }
    return PQntuples(res) > 0;
}

const char *const *ea_row_values(ea_req *rq, PGresult *res, int row, int off, int n)
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

static void set_timeout(PGconn *conn, int ms)
{
    char sql[64];
    snprintf(sql, sizeof(sql), "SET statement_timeout = %d", ms);
    PQclear(PQexec(conn, sql));
}

ea_db_status ea_db_stream(ea_req *rq, const char *sql, const apr_array_header_t *params,
                          ea_row_fn fn, void *ctx, int *delivered)
{
    request_rec *r = rq->r;
    ea_srv_conf *sc = ap_get_module_config(r->server->module_config, &ecoatlas_module);
    int ms = sc->query_timeout_ms == EA_UNSET ? EA_DEFAULT_QUERY_TIMEOUT_MS : sc->query_timeout_ms;
    ap_dbd_t *dbd;
    PGresult *res;
    int n = params ? params->nelts : 0;
    const char *const *values = params ? (const char *const *)params->elts : NULL;

    *delivered = 0;
    /* A cheap statement first: it repairs a connection a restart broke. */
    if ((rq->db_failure = ea_db_query(rq, "SELECT 1", NULL, &res)) != EA_DB_OK)
        return (ea_db_status)rq->db_failure;
    PGconn *conn = acquire(rq, &dbd);
    /* Rows go out as fast as the client reads: allow ten query timeouts. */
    set_timeout(conn, ms > INT_MAX / 10 ? INT_MAX : ms * 10);
    if (!PQsendQueryParams(conn, sql, n, NULL, values, NULL, NULL, 0) || !PQsetSingleRowMode(conn)) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, EA_LOGNO(00023) "export query not sent: %s", PQerrorMessage(conn));
        drain(conn);
        set_timeout(conn, ms);
        return is_connection_failure(conn, NULL) ? EA_DB_UNAVAILABLE : EA_DB_ERROR;
    }
    ea_db_status st = EA_DB_OK;
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
            ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, EA_LOGNO(00024) "export query failed (SQLSTATE %s): %s",
                          state ? state : "?", PQresultErrorMessage(res));
            st = is_connection_failure(conn, res) ? EA_DB_UNAVAILABLE
                 : state && strcmp(state, "57014") == 0 ? EA_DB_TIMEOUT : EA_DB_ERROR;
        }
        PQclear(res);
    }
    if (PQstatus(conn) == CONNECTION_OK)
        set_timeout(conn, ms);
    return counted(rq, st, NULL);
}
