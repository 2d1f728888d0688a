/* ea_respond: JSON responses, content negotiation and absolute URLs. */
#include "ea_mod_conf.h"
#include "ea_mod_req.h"
#include "ea_mod_db.h"
#include "ea_mod_respond.h"
#include "http_core.h"
#include "apr_strings.h"
#include "apr_lib.h"
#include "ea_json.h"
#include "ea_siphash.h"

APLOG_USE_MODULE(ecoatlas);

/* Django's SecurityMiddleware and XFrameOptionsMiddleware defaults, on every
 * API response, errors included (err_headers_out survives error pages). */
void ea_security_headers(request_rec *r)
{
    apr_table_setn(r->err_headers_out, "X-Content-Type-Options", "nosniff");
    apr_table_setn(r->err_headers_out, "Referrer-Policy", "same-origin");
    apr_table_setn(r->err_headers_out, "Cross-Origin-Opener-Policy", "same-origin");
    apr_table_setn(r->err_headers_out, "X-Frame-Options", "DENY");
}

int ea_send_json(ea_req *rq, int status, ea_buf *body)
{
    const char *data = body->data;
    size_t len = body->len;

    if (rq->indent >= 0) {
        ea_buf pretty;
        ea_buf_init(&pretty, rq->r->pool, len + len / 2 + 16);
        if (ea_json_indent(&pretty, body->data, body->len, rq->indent) == 0) {
            data = pretty.data;
            len = pretty.len;
        }
    }
    return ea_send_raw_json(rq, status, data, len);
}

int ea_send_raw_json(ea_req *rq, int status, const char *data, size_t len)
{
    request_rec *r = rq->r;

    r->status = status;
    ap_set_content_type(r, "application/json");
    if (rq->route) {
        apr_table_setn(r->err_headers_out, "Allow", rq->route->allow);
        apr_table_mergen(r->err_headers_out, "Vary", "Accept");
    }
    ap_set_content_length(r, (apr_off_t)len);
    rq->sent_body = data;
    rq->sent_len = len;
    /* the response no longer needs the database: a client slow to read
     * it must not hold a pooled connection meanwhile */
    ea_db_release(rq);
    if (!r->header_only) {
        /* data lives as long as the request (pool or static): one bucket, no copy */
        apr_bucket_brigade *bb = apr_brigade_create(r->pool, r->connection->bucket_alloc);
        APR_BRIGADE_INSERT_TAIL(bb, apr_bucket_pool_create(data, len, r->pool, bb->bucket_alloc));
        ap_pass_brigade(r->output_filters, bb);
    }
    return OK;
}

int ea_send_detail(ea_req *rq, int status, const char *detail)
{
    ea_buf b;
    ea_buf_init(&b, rq->r->pool, 64 + strlen(detail));
    ea_buf_puts(&b, "{\"detail\":");
    ea_json_cstr(&b, detail);
    ea_buf_putc(&b, '}');
    return ea_send_json(rq, status, &b);
}

int ea_send_field_error(ea_req *rq, const char *field, const char *msg)
{
    ea_buf b;
    ea_buf_init(&b, rq->r->pool, 64 + strlen(field) + strlen(msg));
    ea_buf_putc(&b, '{');
    ea_json_cstr(&b, field);
    ea_buf_puts(&b, ":[");
    ea_json_cstr(&b, msg);
    ea_buf_puts(&b, "]}");
    return ea_send_json(rq, HTTP_BAD_REQUEST, &b);
}

int ea_send_unavailable(ea_req *rq)
{
    apr_table_setn(rq->r->err_headers_out, "Retry-After", "5");
    return ea_send_detail(rq, HTTP_SERVICE_UNAVAILABLE,
                          "The database is unavailable. Try again in a few seconds.");
}

int ea_send_server_error(ea_req *rq, const char *what)
{
    if (ea_conf_debug(rq->conf) && what)
        return ea_send_detail(rq, HTTP_INTERNAL_SERVER_ERROR,
                              apr_pstrcat(rq->r->pool, "A server error occurred: ", what, NULL));
    return ea_send_detail(rq, HTTP_INTERNAL_SERVER_ERROR, "A server error occurred.");
}

/* Is type one of the comma-separated media types of a route? */
static int media_has(const char *media, const char *type)
{
    size_t tl = strlen(type);
    for (const char *m = media; m && *m; m = strchr(m, ',') ? strchr(m, ',') + 1 : NULL) {
        size_t ml = strcspn(m, ",");
        if (ml == tl && strncasecmp(m, type, tl) == 0)
            return 1;
    }
    return 0;
}

/* One media range of an Accept header: does it admit JSON?  Sets *indent
 * from an application/json range's indent parameter (DRF clamps to 0..8). */
static int range_admits_json(apr_pool_t *p, const char *range, const char *media, int *indent)
{
    char *copy = apr_pstrdup(p, range), *last;
    char *type = apr_strtok(copy, ";", &last);
    int json_exact = 0, ok = 0, q_zero = 0, ind = -1;

    if (!type)
        return 0;
    apr_collapse_spaces(type, type);
    ap_str_tolower(type);
    if (strcmp(type, "application/json") == 0)
        ok = json_exact = 1;
    else if (strcmp(type, "*/*") == 0 || strcmp(type, "application/*") == 0
             || strcmp(type, "*") == 0)
        ok = 1;
    else if (strcmp(type, "text/html") == 0 || strcmp(type, "text/*") == 0)
        ok = 1;   /* docs/decisions.md D11: no browsable API, JSON instead */
    else if (media && media_has(media, type))
        ok = 1;   /* docs/decisions.md D1: Accept: text/csv on the exports */
    for (char *par = apr_strtok(NULL, ";", &last); par; par = apr_strtok(NULL, ";", &last)) {
        char *eq = strchr(par, '=');
        if (!eq)
            continue;
        *eq = '\0';
        char *k = par, *v = eq + 1;
        apr_collapse_spaces(k, k);
        apr_collapse_spaces(v, v);
        if (strcasecmp(k, "q") == 0 && strtod(v, NULL) <= 0.0 && apr_isdigit(*v))
            q_zero = 1;
        else if (json_exact && strcasecmp(k, "indent") == 0) {
            char *end;
            long n = strtol(v, &end, 10);
            /* DRF clamps to 0..8, then takes 0 as "no indent" */
            if (end != v && *end == '\0' && n > 0)
                ind = n > 8 ? 8 : (int)n;
        }
    }
    if (q_zero)
        return 0;
    if (ok && ind >= 0 && *indent < 0)
        *indent = ind;
    return ok;
}

int ea_negotiate(ea_req *rq)
{
    request_rec *r = rq->r;
    const char *accept = apr_table_get(r->headers_in, "Accept");
    int ok = 0;

    if (!accept || !*accept)
        return 0;
    char *copy = apr_pstrdup(r->pool, accept), *last;
    for (char *range = apr_strtok(copy, ",", &last); range; range = apr_strtok(NULL, ",", &last))
        ok |= range_admits_json(r->pool, range, rq->route ? rq->route->media : NULL, &rq->indent);
    if (ok)
        return 0;
    rq->indent = -1;
    ea_send_detail(rq, HTTP_NOT_ACCEPTABLE, "Could not satisfy the request Accept header.");
    return 1;
}

static const char *scheme_host(ea_req *rq)
{
    request_rec *r = rq->r;
    const char *host = apr_table_get(r->headers_in, "Host");
    if (!host || !r->hostname) {
        apr_port_t port = ap_get_server_port(r);
        host = ap_is_default_port(port, r)
                   ? ap_get_server_name(r)
                   : apr_psprintf(r->pool, "%s:%u", ap_get_server_name(r), port);
    }
    return apr_pstrcat(r->pool, rq->scheme ? rq->scheme : ap_http_scheme(r), "://", host, NULL);
}

const char *ea_absolute_url(ea_req *rq, const char *path_below_base)
{
    return apr_pstrcat(rq->r->pool, scheme_host(rq), rq->base, path_below_base, NULL);
}

const char *ea_request_url(ea_req *rq)
{
    request_rec *r = rq->r;
    const char *path = r->parsed_uri.path ? r->parsed_uri.path : r->uri;
    return apr_pstrcat(r->pool, scheme_host(rq), path, NULL);
}

/* Has (what, salt) been logged lately in this process?  A refused host or a
 * throttled client is worth a line, not one per request of a flood.  Slots
 * are overwritten freely: at worst a line comes twice. */
int ea_log_once(server_rec *s, const char *what, uint64_t salt)
{
    static const uint8_t key[16] = "ecoatlas-logged";
    uint64_t *seen = ea_state(s)->logged;
    uint64_t h = (ea_siphash24(key, what, strlen(what)) ^ salt) | 1u;
    return __atomic_exchange_n(&seen[h % 256], h, __ATOMIC_RELAXED) != h;
}
