/* ea_body (glue): read a request body through the input filters, capped by
 * EcoAtlasMaxBodySize, and hand it to the core parser (lib/ea_body.c). */
#include "ea_mod_conf.h"
#include "ea_mod_req.h"
#include "ea_mod_respond.h"
#include "ea_mod_body.h"
#include "http_core.h"
#include "util_filter.h"
#include "apr_strings.h"
#include "ea_params.h"
#include "ea_body.h"
#include "ea_logno.h"


APLOG_USE_MODULE(ecoatlas);

#define EA_MAX_MAX_BODY (1024LL * 1024 * 1024)

/* Bytes, or with a K/M/G suffix: "512K", "1M". */
const char *ea_body_set_max(cmd_parms *cmd, void *dconf, const char *arg)
{
    ea_dir_conf *c = dconf;
    long long v;
    if (ea_parse_size(arg, EA_MAX_MAX_BODY, &v) != 0 || v < 1)
        return apr_psprintf(cmd->pool, "Invalid value for directive '%s': '%s' (expected a size "
                            "from 1 byte to 1G, like 512K or 1M)", cmd->directive->directive, arg);
    c->max_body = v;
    return NULL;
}

static long long max_body(const ea_dir_conf *c)
{
    return ea_dir_get(c, max_body);
}

/* The rest of the body is not read: the connection closes after this
 * response (ap_discard_request_body gives up on AP_CONN_CLOSE). */
static int refuse(ea_req *rq, int status, const char *detail)
{
    rq->r->connection->keepalive = AP_CONN_CLOSE;
    ea_send_detail(rq, status, detail);
    return -1;
}

static int too_large(ea_req *rq, long long cap)
{
    return refuse(rq, HTTP_REQUEST_ENTITY_TOO_LARGE,
                  apr_psprintf(rq->r->pool, "Request body too large: the limit is %" APR_INT64_T_FMT " bytes.", (apr_int64_t)cap));
}

int ea_body_read_parsed(ea_req *rq, long long cap, struct ea_body *out)
{
    request_rec *r = rq->r;
    const char *cl = apr_table_get(r->headers_in, "Content-Length");
    apr_bucket_brigade *bb;
    ea_buf body;
    int seen_eos = 0;

    if (cl) {
        char *end;
        apr_off_t n;
        if (apr_strtoff(&n, cl, &end, 10) != APR_SUCCESS || *end || n < 0)
            return refuse(rq, HTTP_BAD_REQUEST, "Invalid Content-Length.");
        if (n > cap)   /* answered before a byte of it is read */
            return too_large(rq, cap);
    }
    ea_buf_init(&body, r->pool, cl ? (size_t)atoll(cl) + 1 : 8192);
    bb = apr_brigade_create(r->pool, r->connection->bucket_alloc);
    while (!seen_eos) {
        apr_status_t rv = ap_get_brigade(r->input_filters, bb, AP_MODE_READBYTES,
                                         APR_BLOCK_READ, HUGE_STRING_LEN);
        if (rv != APR_SUCCESS) {
            apr_brigade_destroy(bb);
            if (rv == APR_ENOSPC || ap_map_http_request_error(rv, HTTP_BAD_REQUEST)
                                        == HTTP_REQUEST_ENTITY_TOO_LARGE)
                return too_large(rq, cap);
            ap_log_rerror(APLOG_MARK, APLOG_DEBUG, rv, r, EA_LOGNO(00005) "request body not read completely");
            return refuse(rq, HTTP_BAD_REQUEST, "The request body is incomplete or malformed.");
        }
        for (apr_bucket *b = APR_BRIGADE_FIRST(bb); b != APR_BRIGADE_SENTINEL(bb);
             b = APR_BUCKET_NEXT(b)) {
            const char *buf;
            apr_size_t len;
            if (APR_BUCKET_IS_EOS(b)) {
                seen_eos = 1;
                break;
            }
            if (APR_BUCKET_IS_METADATA(b))
                continue;
            if (apr_bucket_read(b, &buf, &len, APR_BLOCK_READ) != APR_SUCCESS) {
                apr_brigade_destroy(bb);
                return refuse(rq, HTTP_BAD_REQUEST, "The request body is incomplete or malformed.");
            }
            if ((long long)(body.len + len) > cap) {
                apr_brigade_destroy(bb);
                return too_large(rq, cap);
            }
            ea_buf_put(&body, buf, len);
        }
        apr_brigade_cleanup(bb);
    }
    apr_brigade_destroy(bb);

    int rc = ea_body_parse(r->pool, apr_table_get(r->headers_in, "Content-Type"),
                           body.data, body.len, out);
    if (rc) {
        ea_send_detail(rq, rc, out->detail);
        return -1;
    }
    return 0;
}

int ea_body_read(ea_req *rq, struct json_object **data, int *is_form)
{
    ea_body parsed;
    *data = NULL;
    *is_form = 0;
    if (ea_body_read_parsed(rq, max_body(rq->conf), &parsed) != 0)
        return -1;
    *data = parsed.data;
    *is_form = parsed.is_form;
    return 0;
}
