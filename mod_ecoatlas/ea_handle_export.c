/* ea_handle_export: the CSV exports (docs/decisions.md §2.7 with decision D1:
 * real RFC 4180 CSV, UTF-8, CRLF, streamed).  Rows come from PostgreSQL one
 * at a time (single-row mode) and leave in 64 KB flushes, so memory stays
 * flat whatever the size; a client that disconnects cancels the query. */
#include "ea_mod_conf.h"
#include "ea_mod_req.h"
#include "ea_mod_respond.h"
#include "ea_mod_db.h"
#include "http_connection.h"
#include "util_filter.h"
#include "apr_strings.h"
#include "ea_pdf.h"
#include "ea_sql_stats.h"
#include "ea_logno.h"

APLOG_USE_MODULE(ecoatlas);

#define EA_CSV_FLUSH (64 * 1024)

typedef struct csv_out {
    ea_req *rq;
    const char *header;     /* the header line, CRLF included */
    ea_buf buf;
    int started;
    int failed;             /* the client went away */
} csv_out;

/* A decimal number as PostgreSQL prints one: [+-]digits[.digits][e[+-]digits]. */
static int csv_is_number(const char *v, size_t len)
{
    size_t i = 0, d = 0;
    if (i < len && (v[i] == '-' || v[i] == '+'))
        i++;
    for (; i < len && v[i] >= '0' && v[i] <= '9'; i++)
        d++;
    if (i < len && v[i] == '.')
        for (i++; i < len && v[i] >= '0' && v[i] <= '9'; i++)
            d++;
    if (d && i < len && (v[i] == 'e' || v[i] == 'E')) {
        size_t e = 0;
        if (++i < len && (v[i] == '-' || v[i] == '+'))
            i++;
        for (; i < len && v[i] >= '0' && v[i] <= '9'; i++)
            e++;
        if (!e)
            return 0;
    }
    return d > 0 && i == len;
}

/* Python csv.writer's QUOTE_MINIMAL: quote fields holding , " CR or LF.
 * A cell a spreadsheet would read as a formula (first character = + - @
 * TAB or CR, OWASP "CSV injection") gets a leading apostrophe and is
 * quoted; numbers stay as they are (docs/security.md). */
static void csv_field(ea_buf *b, const char *v, size_t len)
{
    int formula = len > 0 && memchr("=+-@\t\r", v[0], 6) != NULL && !csv_is_number(v, len);
    if (!formula && strcspn(v, ",\"\r\n") == len) {
        ea_buf_put(b, v, len);
        return;
    }
    ea_buf_putc(b, '"');
    if (formula)
        ea_buf_putc(b, '\'');
    for (size_t i = 0; i < len; i++) {
        if (v[i] == '"')
            ea_buf_putc(b, '"');
        ea_buf_putc(b, v[i]);
    }
    ea_buf_putc(b, '"');
}

static void csv_headers(csv_out *o, const char *filename)
{
    request_rec *r = o->rq->r;
    ap_set_content_type(r, "text/csv; charset=utf-8");
    apr_table_setn(r->headers_out, "Content-Disposition",
                   apr_psprintf(r->pool, "attachment; filename=\"%s\"", filename));
    apr_table_setn(r->err_headers_out, "Allow", o->rq->route->allow);
    apr_table_mergen(r->err_headers_out, "Vary", "Accept");
}

static int csv_flush(csv_out *o)
{
    request_rec *r = o->rq->r;
    if (o->buf.len && ap_rwrite(o->buf.data, (int)o->buf.len, r) < 0)
        o->failed = 1;
    ea_buf_reset(&o->buf);
    if (!o->failed && ap_rflush(r) < 0)
        o->failed = 1;
    return o->failed || r->connection->aborted;
}

static int csv_row(void *ctx, PGresult *row)
{
    csv_out *o = ctx;
    if (!o->started) {
        ea_buf_puts(&o->buf, o->header);
        o->started = 1;
    }
    for (int i = 0, n = PQnfields(row); i < n; i++) {
        if (i)
            ea_buf_putc(&o->buf, ',');
        if (!PQgetisnull(row, 0, i))
            csv_field(&o->buf, PQgetvalue(row, 0, i), (size_t)PQgetlength(row, 0, i));
    }
    ea_buf_puts(&o->buf, "\r\n");
    return o->buf.len >= EA_CSV_FLUSH ? csv_flush(o) : 0;
}

/* Break the response off so the client sees it is incomplete (no last chunk). */
static void abort_response(request_rec *r)
{
    apr_bucket_brigade *bb = apr_brigade_create(r->pool, r->connection->bucket_alloc);
    APR_BRIGADE_INSERT_TAIL(bb, ap_bucket_error_create(HTTP_INTERNAL_SERVER_ERROR, NULL, r->pool,
                                                       r->connection->bucket_alloc));
    APR_BRIGADE_INSERT_TAIL(bb, apr_bucket_eos_create(r->connection->bucket_alloc));
    r->connection->keepalive = AP_CONN_CLOSE;
    ap_pass_brigade(r->output_filters, bb);
}

static int export_csv(ea_req *rq, ea_stmt (*rows)(ea_listq *), const char *filename,
                      const char *header)
{
    request_rec *r = rq->r;
    const ea_resource *res = rq->route->res;
    ea_listq q;
    int rc, delivered;
    csv_out o = { rq, header, { 0 }, 0, 0 };
    ea_db_status st;

    if (ea_build_set(rq, res, &q, &rc) != 0)
        return rc;
    if (!r->header_only && (st = ea_db_export_slot(rq)) != EA_DB_OK)
        return ea_db_fail(rq, st);
    csv_headers(&o, filename);
    if (r->header_only)
        return OK;
    ea_buf_init(&o.buf, r->pool, EA_CSV_FLUSH + 4096);
    st = ea_db_stream(rq, rows(&q), csv_row, &o, &delivered);
    rq->export_rows = delivered;
    ea_db_release(rq);   /* the last piece is sent without it */
    if (!o.started) {
        if (st != EA_DB_OK) {
            apr_table_unset(r->headers_out, "Content-Disposition");
            return ea_db_fail(rq, st);
        }
        ea_buf_puts(&o.buf, header);   /* no rows: the header line alone */
    }
    if (st != EA_DB_OK) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, EA_LOGNO(00028) "export stopped after %d rows", delivered);
        abort_response(r);
        return OK;
    }
    if (o.failed || r->connection->aborted) {
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, EA_LOGNO(00029) "client left the export after %d rows", delivered);
        return OK;
    }
    if (o.buf.len)
        ap_rwrite(o.buf.data, (int)o.buf.len, r);
    return OK;
}

int ea_handle_export_sites(ea_req *rq)
{
    return export_csv(rq, ea_sql_export_sites, "hydro_sites.csv",
        "id,name,country_iso3,region,latitude,longitude,head_m,storage_capacity_mwh,"
        "turbine_capacity_mw,status\r\n");
}

int ea_handle_export_metrics(ea_req *rq)
{
    return export_csv(rq, ea_sql_export_metrics, "resource_metrics.csv",
        "country_iso3,resource_type,metric,value,unit,year\r\n");
}

/* ---- export_pdf --------------------------------------------------------------- */

typedef struct pdf_out {
    csv_out out;            /* the same buffered, flushed writer */
    ea_pdf *pdf;
    ea_buf line;
} pdf_out;

static int pdf_write(void *ctx, const unsigned char *data, unsigned int len)
{
    csv_out *o = ctx;
    ea_buf_put(&o->buf, (const char *)data, len);
    return o->buf.len >= EA_CSV_FLUSH ? csv_flush(o) : 0;
}

/* "BEN | solar | potential | 223.4000 | kWh/m2 | 2024", as the old report. */
static int pdf_row(void *ctx, PGresult *row)
{
    pdf_out *o = ctx;
    const char *year = PQgetisnull(row, 0, 5) ? "" : PQgetvalue(row, 0, 5);
    ea_buf_reset(&o->line);
    ea_buf_printf(&o->line, "%s | %s | %s | %s | %s | %s", PQgetvalue(row, 0, 0),
                  PQgetvalue(row, 0, 1), PQgetvalue(row, 0, 2), PQgetvalue(row, 0, 3),
                  PQgetvalue(row, 0, 4), strcmp(year, "0") == 0 ? "" : year);
    ea_pdf_row(o->pdf, o->line.data);
    return o->out.failed || o->out.rq->r->connection->aborted;
}

int ea_handle_export_pdf(ea_req *rq)
{
    request_rec *r = rq->r;
    const ea_resource *res = rq->route->res;
    ea_listq q;
    int rc, delivered;
    PGresult *totals;
    ea_db_status st;

    if (ea_build_set(rq, res, &q, &rc) != 0)
        return rc;
    if (!r->header_only && (st = ea_db_export_slot(rq)) != EA_DB_OK)
        return ea_db_fail(rq, st);
    if ((st = ea_db_query(rq, ea_sql_export_pdf_totals(&q), &totals)) != EA_DB_OK)
        return ea_db_fail(rq, st);

    ap_set_content_type(r, "application/pdf");
    apr_table_setn(r->headers_out, "Content-Disposition", "attachment; filename=\"resource_metrics.pdf\"");
    apr_table_setn(r->err_headers_out, "Allow", rq->route->allow);
    apr_table_mergen(r->err_headers_out, "Vary", "Accept");
    if (r->header_only)
        return OK;

    pdf_out o = { { rq, "", { 0 }, 1, 0 }, NULL, { 0 } };
    ea_buf_init(&o.out.buf, r->pool, EA_CSV_FLUSH + 8192);
    ea_buf_init(&o.line, r->pool, 256);
    o.pdf = ea_pdf_open(pdf_write, &o.out, "Resource Metrics Summary");
    if (!o.pdf)
        return ea_send_server_error(rq, "cannot start the PDF");
    int n = PQntuples(totals);
    const char **labels = apr_palloc(r->pool, sizeof(char *) * (size_t)(n + 1));
    double *values = apr_palloc(r->pool, sizeof(double) * (size_t)(n + 1));
    for (int i = 0; i < n; i++) {
        labels[i] = PQgetvalue(totals, i, 0);
        values[i] = strtod(PQgetvalue(totals, i, 1), NULL);
    }
    ea_pdf_chart(o.pdf, labels, values, n);

    st = ea_db_stream(rq, ea_sql_export_pdf_rows(&q), pdf_row, &o, &delivered);
    rq->export_rows = delivered;
    ea_db_release(rq);
    int pdf_failed = ea_pdf_close(o.pdf);
    if (st != EA_DB_OK || pdf_failed) {
        if (!o.out.failed && !r->connection->aborted)
            ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, EA_LOGNO(00030) "PDF export stopped after %d rows", delivered);
        abort_response(r);
        return OK;
    }
    if (o.out.buf.len)
        ap_rwrite(o.out.buf.data, (int)o.out.buf.len, r);
    return OK;
}
