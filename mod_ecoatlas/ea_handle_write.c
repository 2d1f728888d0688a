/* ea_handle_write: create, update, partial update and delete of the six
 * model resources (docs/decisions.md §2.2, §2.3, §2.6; delete semantics §1;
 * D6).  Each write is one transaction on the request's connection; the
 * validation core (lib/ea_validate.c) asks the database through hooks that
 * run inside it. */
#include "ea_mod_conf.h"
#include "ea_mod_req.h"
#include "ea_mod_respond.h"
#include "ea_mod_db.h"
#include "ea_mod_cache.h"
#include "ea_mod_body.h"
#include "apr_strings.h"
#include "ea_json.h"
#include "ea_params.h"
#include "ea_validate.h"
#include "ea_sql_write.h"
#include "ea_logno.h"

APLOG_USE_MODULE(ecoatlas);

/* ---- hooks for the validation core --------------------------------------------- */

static int hook_fk_exists(void *ctx, const char *table, const char *id)
{
    ea_db_lookup *lk = ctx;
    ea_req *rq = lk->rq;
    PGresult *res;
    ea_db_status st = ea_db_query(rq, ea_sql_fk_exists(rq->r->pool, table, id), &res);
    if (st != EA_DB_OK) {
        lk->failure = st;
        return -1;
    }
    return PQntuples(res) > 0;
}

static int hook_row_exists(void *ctx, const char *table, int n, const char *const *cols,
                           const char *const *vals, const char *exclude_id)
{
    ea_db_lookup *lk = ctx;
    ea_req *rq = lk->rq;
    PGresult *res;
    ea_db_status st = ea_db_query(rq, ea_sql_row_exists(rq->r->pool, table, n, cols, vals, exclude_id),
                                  &res);
    if (st != EA_DB_OK) {
        lk->failure = st;
        return -1;
    }
    return PQntuples(res) > 0;
}

/* ---- helpers ------------------------------------------------------------------------- */

static int fail_db(ea_req *rq, ea_db_status st)
{
    ea_db_rollback(rq);
    return ea_db_fail(rq, st);
}

static int not_found(ea_req *rq, const ea_resource *res)
{
    ea_db_rollback(rq);
    return ea_send_detail(rq, HTTP_NOT_FOUND,
                          apr_psprintf(rq->r->pool, "No %s matches the given query.", res->model));
}

static int send_400(ea_req *rq, const char *body)
{
    ea_buf b;
    ea_db_rollback(rq);
    ea_buf_init(&b, rq->r->pool, strlen(body) + 1);
    ea_buf_puts(&b, body);
    return ea_send_json(rq, HTTP_BAD_REQUEST, &b);
}

/* The row of the filtered set with this id: its writable columns (in
 * ea_vresource order) or NULL when absent; locked when in a transaction. */
static ea_db_status locate(ea_req *rq, const ea_vresource *vr, ea_listq *q, const char *id,
                           const char *const **current)
{
    PGresult *res;
    *current = NULL;
    ea_db_status st = ea_db_query(rq, ea_sql_locate(q, vr, id, rq->in_txn), &res);
    if (st == EA_DB_OK && PQntuples(res) == 1)
        *current = ea_row_values(rq, res, 0, 1, vr->nfields);
    return st;
}

/* The object as GET detail shows it (same SQL and serialiser). */
static int send_object(ea_req *rq, const ea_resource *res, const char *id, int status)
{
    ea_listq q;
    PGresult *rows;
    ea_db_diag diag;
    apr_array_header_t *none = apr_array_make(rq->r->pool, 1, sizeof(ea_param));
    ea_buf b;

    ea_db_lookup lk = { rq, EA_DB_OK };
    if (ea_listq_build(rq->r->pool, res, none, ea_db_fk_exists, NULL, &lk, &q) != 0)
        return fail_db(rq, EA_DB_ERROR);
    ea_db_status st = ea_db_query(rq, ea_stmt_read(ea_listq_detail_sql(&q, id), q.params), &rows);
    if (st != EA_DB_OK)
        return fail_db(rq, st);
    ea_buf_init(&b, rq->r->pool, 1024);
    if (PQntuples(rows) != 1 || ea_serialize(&b, res, ea_row_values(rq, rows, 0, 0, res->nfields)) != 0) {
        ea_db_rollback(rq);
        return ea_send_server_error(rq, "the written row could not be read back");
    }
    if ((st = ea_db_commit(rq, &diag)) != EA_DB_OK) {
        if (diag.sqlstate)   /* a deferred foreign key: the referenced row went away */
            return send_400(rq, "{\"non_field_errors\":[\"A related object was deleted meanwhile; "
                                "try again.\"]}");
        return ea_db_fail(rq, st);
    }
    ea_cache_invalidate(rq->r);
    return ea_send_json(rq, status, &b);
}

/* A refused INSERT/UPDATE: a race on a unique key, or on a referenced row. */
static int write_refused(ea_req *rq, const ea_vresource *vr, const ea_db_diag *diag,
                         const ea_vresult *vres, ea_db_status st)
{
    const char *body = NULL;
    if (diag->sqlstate && strcmp(diag->sqlstate, "23505") == 0)
        body = ea_validate_unique_body(rq->r->pool, vr, diag->constraint);
    else if (vres && diag->sqlstate && strcmp(diag->sqlstate, "23503") == 0)
        body = ea_validate_fk_body(rq->r->pool, vr, diag->constraint, vres);
    if (body)
        return send_400(rq, body);
    if (diag->sqlstate)
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, rq->r, EA_LOGNO(00037) "write refused by constraint %s (SQLSTATE %s)",
                      diag->constraint ? diag->constraint : "?", diag->sqlstate);
    return fail_db(rq, st);
}

static int validate(ea_req *rq, const ea_vresource *vr, ea_vmode mode, struct json_object *data,
                    int is_form, const char *const *current, const char *id, ea_vresult *out)
{
    ea_db_lookup lk = { rq, EA_DB_OK };
    ea_vhooks hooks = { &lk, hook_fk_exists, hook_row_exists };
    int rc = ea_validate(rq->r->pool, vr, mode, data, is_form, current, id, &hooks, out);
    if (rc < 0)
        return fail_db(rq, lk.failure);
    if (rc > 0)
        return send_400(rq, out->errors.data);
    return -1;   /* valid: go on */
}

/* ---- create ----------------------------------------------------------------------------- */

static int create(ea_req *rq, const ea_resource *res, const ea_vresource *vr)
{
    struct json_object *data;
    int is_form, rc;
    ea_vresult v;
    ea_db_diag diag;
    PGresult *row;
    ea_db_status st;

    if (ea_body_read(rq, &data, &is_form) != 0)
        return OK;
    if ((st = ea_db_begin(rq)) != EA_DB_OK)
        return ea_db_fail(rq, st);
    if ((rc = validate(rq, vr, EA_V_CREATE, data, is_form, NULL, NULL, &v)) >= 0)
        return rc;
    st = ea_db_write(rq, ea_sql_insert(rq->r->pool, vr, &v), &row, &diag);
    if (st != EA_DB_OK)
        return write_refused(rq, vr, &diag, &v, st);
    return send_object(rq, res, apr_pstrdup(rq->r->pool, PQgetvalue(row, 0, 0)), HTTP_CREATED);
}

/* ---- update (PUT, PATCH) -------------------------------------------------------------------- */

static int update(ea_req *rq, const ea_resource *res, const ea_vresource *vr, ea_listq *q,
                  const char *id, ea_vmode mode)
{
    struct json_object *data;
    int is_form, rc;
    const char *const *current;
    ea_vresult v;
    ea_db_diag diag;
    PGresult *row;
    ea_db_status st;

    /* 404 before the body, as DRF's get_object() comes first */
    if ((st = locate(rq, vr, q, id, &current)) != EA_DB_OK)
        return ea_db_fail(rq, st);
    if (!current)
        return not_found(rq, res);
    if (ea_body_read(rq, &data, &is_form) != 0)
        return OK;
    if ((st = ea_db_begin(rq)) != EA_DB_OK)
        return ea_db_fail(rq, st);
    if ((st = locate(rq, vr, q, id, &current)) != EA_DB_OK)
        return fail_db(rq, st);
    if (!current)
        return not_found(rq, res);
    if ((rc = validate(rq, vr, mode, data, is_form, current, id, &v)) >= 0)
        return rc;
    st = ea_db_write(rq, ea_sql_update(rq->r->pool, vr, &v, id), &row, &diag);
    if (st != EA_DB_OK)
        return write_refused(rq, vr, &diag, &v, st);
    return send_object(rq, res, id, HTTP_OK);
}

/* ---- delete ----------------------------------------------------------------------------------- */

static int country_in_use(ea_req *rq, const char *id)
{
    PGresult *res;
    ea_db_status st = ea_db_query(rq, ea_sql_country_site_count(rq->r->pool, id), &res);
    if (st != EA_DB_OK)
        return fail_db(rq, st);
    long long n = atoll(PQgetvalue(res, 0, 0));
    if (n == 0)
        return -1;
    ea_db_rollback(rq);
    /* D6: PROTECT answered with a 409 that says why, not a 500 */
    return ea_send_detail(rq, HTTP_CONFLICT, apr_psprintf(rq->r->pool,
        "Cannot delete this country: %" APR_INT64_T_FMT " hydro site%s still belong%s to it. "
        "Delete the sites or move them to another country first.",
        (apr_int64_t)n, n == 1 ? "" : "s", n == 1 ? "s" : ""));
}

static int destroy(ea_req *rq, const ea_resource *res, const ea_vresource *vr, ea_listq *q,
                   const char *id)
{
    const char *const *current;
    ea_db_diag diag;
    PGresult *r0;
    ea_db_status st;
    int rc;

    if ((st = ea_db_begin(rq)) != EA_DB_OK)
        return ea_db_fail(rq, st);
    if ((st = locate(rq, vr, q, id, &current)) != EA_DB_OK)
        return fail_db(rq, st);
    if (!current)
        return not_found(rq, res);
    int is_country = res == &ea_resources[EA_RES_COUNTRY];
    if (is_country && (rc = country_in_use(rq, id)) >= 0)
        return rc;
    /* CASCADE and SET NULL are the schema's ON DELETE rules (0001) */
    st = ea_db_write(rq, ea_sql_delete(rq->r->pool, vr, id), &r0, &diag);
    if (st == EA_DB_OK)
        st = ea_db_commit(rq, &diag);
    if (st != EA_DB_OK) {
        if (is_country && diag.sqlstate && strcmp(diag.sqlstate, "23503") == 0) {
            /* a site was added meanwhile: count again in a fresh transaction */
            ea_db_rollback(rq);
            if ((st = ea_db_begin(rq)) != EA_DB_OK)
                return ea_db_fail(rq, st);
            if ((rc = country_in_use(rq, id)) >= 0)
                return rc;
            ea_db_rollback(rq);
            return ea_send_detail(rq, HTTP_CONFLICT, "Cannot delete this country: hydro sites "
                                  "still belong to it.");
        }
        return write_refused(rq, vr, &diag, NULL, st);
    }
    ea_cache_invalidate(rq->r);
    request_rec *r = rq->r;
    apr_table_setn(r->err_headers_out, "Allow", rq->route->allow);
    apr_table_mergen(r->err_headers_out, "Vary", "Accept");
    r->status = HTTP_NO_CONTENT;
    return OK;
}

/* ---- entry ---------------------------------------------------------------------------------------- */

int ea_handle_write(ea_req *rq)
{
    request_rec *r = rq->r;
    const ea_resource *res = rq->route->res;
    const ea_vresource *vr = &ea_vresources[res - ea_resources];
    int m = r->method_number;

    if (!rq->pk) {
        if (m == M_POST)
            return create(rq, res, vr);
    } else if (m == M_PUT || m == M_PATCH || m == M_DELETE) {
        ea_listq q;
        long long id;
        int rc;
        if (ea_build_set(rq, res, &q, &rc) != 0)
            return rc;
        int prc = ea_parse_int64(rq->pk, &id);
        if (prc == -1)
            return ea_send_detail(rq, HTTP_NOT_FOUND, "Not found.");
        if (prc == -2)
            return not_found(rq, res);
        const char *idtext = apr_psprintf(r->pool, "%" APR_INT64_T_FMT, (apr_int64_t)id);
        if (m == M_DELETE)
            return destroy(rq, res, vr, &q, idtext);
        return update(rq, res, vr, &q, idtext, m == M_PUT ? EA_V_UPDATE : EA_V_PARTIAL);
    }
    return ea_send_detail(rq, HTTP_METHOD_NOT_ALLOWED,
                          apr_psprintf(r->pool, "Method \"%s\" not allowed.", r->method));
}
