/* ea_handle_actions: the API root, list-level actions and statistics
 * (docs/decisions.md §2.2, §2.7).  Sums come from the trigger-kept group tables
 * whenever the filters allow it, from the rows otherwise. */
#include "ea_mod_conf.h"
#include "ea_mod_req.h"
#include "ea_mod_respond.h"
#include "ea_mod_db.h"
#include "apr_strings.h"
#include "ea_json.h"
#include "ea_query.h"

APLOG_USE_MODULE(ecoatlas);

int ea_handle_root(ea_req *rq)
{
    ea_buf b;
    ea_buf_init(&b, rq->r->pool, 512);
    ea_buf_putc(&b, '{');
    for (int i = 0; i < ea_nresources; i++) {
        ea_json_cstr(&b, ea_resources[i].prefix);
        ea_buf_putc(&b, ':');
        ea_json_cstr(&b, ea_absolute_url(rq, apr_pstrcat(rq->r->pool, "/",
                                                          ea_resources[i].prefix, "/", NULL)));
        ea_buf_putc(&b, ',');
    }
    ea_buf_puts(&b, "\"stats\":");
    ea_json_cstr(&b, ea_absolute_url(rq, "/stats/"));
    ea_buf_putc(&b, '}');
    return ea_send_json(rq, HTTP_OK, &b);
}

/* WHERE clause of a set over t or over the group table g. */
static const char *where_of(ea_listq *q, int groups)
{
    ea_buf *w = groups ? &q->group_where : &q->where;
    if (q->empty)
        return " WHERE false";
    return w->len ? apr_pstrcat(q->pool, " WHERE ", w->data, NULL) : "";
}

static void put_float(ea_buf *b, const char *key, const char *numeric)
{
    ea_buf_printf(b, "\"%s\":", key);
    ea_json_numeric_as_float(b, numeric);
}

int ea_handle_summary(ea_req *rq)
{
    ea_listq q;
    int rc;
    PGresult *tot, *top;
    ea_db_status st;

    if (ea_build_set(rq, rq->route->res, &q, &rc) != 0)
        return rc;
    int g = q.by_groups;
    const char *w = where_of(&q, g);
    const char *tot_sql = g
        ? apr_pstrcat(q.pool, "SELECT coalesce(sum(g.n), 0), coalesce(sum(g.storage), 0),"
                      " coalesce(sum(g.turbine), 0) FROM ecoatlas_hydrosite_count g", w, NULL)
        : apr_pstrcat(q.pool, "SELECT count(*), coalesce(sum(t.storage_capacity_mwh), 0),"
                      " coalesce(sum(t.turbine_capacity_mw), 0) FROM core_hydrosite t", w, NULL);
    const char *top_sql = g
        ? apr_pstrcat(q.pool, "SELECT c.iso3, c.name, sum(g.n) AS k FROM ecoatlas_hydrosite_count g"
                      " JOIN core_country c ON c.id = g.country_id", w,
                      " GROUP BY c.iso3, c.name ORDER BY k DESC, c.iso3 LIMIT 5", NULL)
        : apr_pstrcat(q.pool, "SELECT c.iso3, c.name, count(*) AS k FROM core_hydrosite t"
                      " JOIN core_country c ON c.id = t.country_id", w,
                      " GROUP BY c.iso3, c.name ORDER BY k DESC, c.iso3 LIMIT 5", NULL);
    if ((st = ea_db_query(rq, tot_sql, q.params, &tot)) != EA_DB_OK
        || (st = ea_db_query(rq, top_sql, q.params, &top)) != EA_DB_OK)
        return ea_db_fail(rq, st);

    ea_buf b;
    ea_buf_init(&b, rq->r->pool, 512);
    ea_buf_printf(&b, "{\"total_sites\":%s,", PQgetvalue(tot, 0, 0));
    put_float(&b, "total_storage_mwh", PQgetvalue(tot, 0, 1));
    ea_buf_putc(&b, ',');
    put_float(&b, "total_capacity_mw", PQgetvalue(tot, 0, 2));
    ea_buf_puts(&b, ",\"top_countries\":[");
    for (int i = 0; i < PQntuples(top); i++) {
        ea_buf_puts(&b, i ? ",{\"country__iso3\":" : "{\"country__iso3\":");
        ea_json_cstr(&b, PQgetvalue(top, i, 0));
        ea_buf_puts(&b, ",\"country__name\":");
        ea_json_cstr(&b, PQgetvalue(top, i, 1));
        ea_buf_printf(&b, ",\"site_count\":%s}", PQgetvalue(top, i, 2));
    }
    ea_buf_puts(&b, "]}");
    return ea_send_json(rq, HTTP_OK, &b);
}

int ea_handle_timeseries(ea_req *rq)
{
    ea_listq q;
    int rc;
    PGresult *res;

    if (ea_build_set(rq, rq->route->res, &q, &rc) != 0)
        return rc;
    int g = q.by_groups;
    /* The view adds country iso3 iexact on the raw parameter (quirk A.5). */
    const char *iso3 = ea_qs_get(rq->qs, "country__iso3");
    ea_buf *w = g ? &q.group_where : &q.where;
    if (w->len)
        ea_buf_puts(w, " AND ");
    ea_buf_puts(w, g ? "g.year >= 0" : "t.year IS NOT NULL");
    if (iso3 && *iso3) {
        int n = ea_listq_param(&q, iso3);
        ea_buf_printf(w, " AND %s.country_id IN (SELECT id FROM core_country WHERE upper(iso3) = upper($%d))",
                      g ? "g" : "t", n);
    }
    const char *sql = g
        ? apr_pstrcat(q.pool, "SELECT g.year, sum(g.total), sum(g.n) FROM ecoatlas_resourcemetric_count g",
                      where_of(&q, 1), " GROUP BY g.year ORDER BY g.year", NULL)
        : apr_pstrcat(q.pool, "SELECT t.year, sum(t.value), count(*) FROM core_resourcemetric t",
                      where_of(&q, 0), " GROUP BY t.year ORDER BY t.year", NULL);
    ea_db_status st = ea_db_query(rq, sql, q.params, &res);
    if (st != EA_DB_OK)
        return ea_db_fail(rq, st);

    ea_buf b;
    ea_buf_init(&b, rq->r->pool, 256 + 64 * (size_t)PQntuples(res));
    ea_buf_puts(&b, "{\"results\":[");
    for (int i = 0; i < PQntuples(res); i++) {
        ea_buf_printf(&b, "%s{\"year\":%s,", i ? "," : "", PQgetvalue(res, i, 0));
        put_float(&b, "total_value", PQgetvalue(res, i, 1));
        ea_buf_printf(&b, ",\"data_points\":%s}", PQgetvalue(res, i, 2));
    }
    ea_buf_puts(&b, "]}");
    return ea_send_json(rq, HTTP_OK, &b);
}

int ea_handle_timeline(ea_req *rq)
{
    ea_listq q;
    int rc;
    long long limit = 500;
    PGresult *res;

    const char *variable = ea_qs_get(rq->qs, "variable");
    if (!variable || !*variable)
        return ea_send_detail(rq, HTTP_BAD_REQUEST, "Paramètre variable requis.");
    if (ea_build_set(rq, rq->route->res, &q, &rc) != 0)
        return rc;
    const char *limit_s = ea_qs_get(rq->qs, "limit");
    if (limit_s) {
        int lrc = ea_parse_int64(limit_s, &limit);
        if (lrc == -1)
            return ea_send_detail(rq, HTTP_BAD_REQUEST, "Paramètre limit invalide.");
        if (lrc == -2)   /* Python ints do not overflow: clamp like any other */
            limit = limit_s[strspn(limit_s, " \t\r\n\f\v")] == '-' ? 10 : 2000;
    }
    limit = limit < 10 ? 10 : limit > 2000 ? 2000 : limit;

    ea_buf *w = &q.where;
    if (w->len)
        ea_buf_puts(w, " AND ");
    ea_buf_printf(w, "t.variable = $%d", ea_listq_param(&q, variable));
    const char *iso3 = ea_qs_get(rq->qs, "country__iso3");
    if (iso3 && *iso3)
        ea_buf_printf(w, " AND t.country_id IN (SELECT id FROM core_country WHERE upper(iso3) = upper($%d))",
                      ea_listq_param(&q, iso3));
    int lim = ea_listq_param(&q, apr_psprintf(q.pool, "%" APR_INT64_T_FMT, (apr_int64_t)limit));
    const char *sql = apr_pstrcat(q.pool,
        "SELECT t.id, c.iso3, t.variable, t.unit, t.site_id,"
        " CASE WHEN jsonb_typeof(t.series) = 'array' THEN coalesce((SELECT jsonb_agg(e ORDER BY i)"
        " FROM jsonb_array_elements(t.series) WITH ORDINALITY AS x(e, i)",
        apr_psprintf(q.pool, " WHERE i <= $%d::bigint), '[]'::jsonb) ELSE '[]'::jsonb END", lim),
        " FROM core_climateseries t JOIN core_country c ON c.id = t.country_id",
        where_of(&q, 0), " ORDER BY ", q.order_by, " LIMIT 5", NULL);
    ea_db_status st = ea_db_query(rq, sql, q.params, &res);
    if (st != EA_DB_OK)
        return ea_db_fail(rq, st);

    ea_buf b;
    ea_buf_init(&b, rq->r->pool, 4096);
    ea_buf_puts(&b, "{\"results\":[");
    for (int i = 0; i < PQntuples(res); i++) {
        ea_buf_printf(&b, "%s{\"id\":%s,\"country_iso3\":", i ? "," : "", PQgetvalue(res, i, 0));
        ea_json_cstr(&b, PQgetvalue(res, i, 1));
        ea_buf_puts(&b, ",\"variable\":");
        ea_json_cstr(&b, PQgetvalue(res, i, 2));
        ea_buf_puts(&b, ",\"unit\":");
        ea_json_cstr(&b, PQgetvalue(res, i, 3));
        ea_buf_printf(&b, ",\"site\":%s,\"points\":",
                      PQgetisnull(res, i, 4) ? "null" : PQgetvalue(res, i, 4));
        const char *pts = PQgetvalue(res, i, 5);
        if (ea_json_compact(&b, pts, strlen(pts)) != 0)
            return ea_send_server_error(rq, "invalid JSON in a series");
        ea_buf_putc(&b, '}');
    }
    ea_buf_printf(&b, "],\"limit\":%lld}", limit);
    return ea_send_json(rq, HTTP_OK, &b);
}

/* {"resource_type":..,"total":..,"metrics":..} rows of (type, total, n). */
static void put_resources(ea_buf *b, PGresult *res)
{
    ea_buf_putc(b, '[');
    for (int i = 0; i < PQntuples(res); i++) {
        ea_buf_puts(b, i ? ",{\"resource_type\":" : "{\"resource_type\":");
        ea_json_cstr(b, PQgetvalue(res, i, 0));
        ea_buf_putc(b, ',');
        put_float(b, "total", PQgetvalue(res, i, 1));
        ea_buf_printf(b, ",\"metrics\":%s}", PQgetvalue(res, i, 2));
    }
    ea_buf_putc(b, ']');
}

int ea_handle_stats(ea_req *rq)
{
    PGresult *top, *resources, *datasets;
    ea_db_status st;

    if ((st = ea_db_query(rq,
             "SELECT c.iso3, c.name, coalesce((SELECT sum(g.n) FROM ecoatlas_hydrosite_count g"
             " WHERE g.country_id = c.id), 0) AS k FROM core_country c"
             " ORDER BY k DESC, c.name, c.id LIMIT 5", NULL, &top)) != EA_DB_OK
        || (st = ea_db_query(rq,
             "SELECT resource_type, sum(total), sum(n) FROM ecoatlas_resourcemetric_count"
             " GROUP BY resource_type ORDER BY resource_type", NULL, &resources)) != EA_DB_OK
        || (st = ea_db_query(rq,
             "SELECT coalesce((SELECT n FROM ecoatlas_rowcount WHERE tbl = 'core_energydataset'), 0)",
             NULL, &datasets)) != EA_DB_OK)
        return ea_db_fail(rq, st);

    ea_buf b;
    ea_buf_init(&b, rq->r->pool, 1024);
    ea_buf_puts(&b, "{\"countries\":[");
    for (int i = 0; i < PQntuples(top); i++) {
        ea_buf_puts(&b, i ? ",{\"iso3\":" : "{\"iso3\":");
        ea_json_cstr(&b, PQgetvalue(top, i, 0));
        ea_buf_puts(&b, ",\"name\":");
        ea_json_cstr(&b, PQgetvalue(top, i, 1));
        ea_buf_printf(&b, ",\"site_count\":%s}", PQgetvalue(top, i, 2));
    }
    ea_buf_puts(&b, "],\"resources\":");
    put_resources(&b, resources);
    ea_buf_printf(&b, ",\"dataset_count\":%s}", PQgetvalue(datasets, 0, 0));
    return ea_send_json(rq, HTTP_OK, &b);
}

int ea_handle_stats_by_country(ea_req *rq)
{
    PGresult *country, *sites, *resources;
    ea_db_status st;
    const char *iso3 = ea_qs_get(rq->qs, "iso3");

    if (!iso3 || !*iso3)
        return ea_send_detail(rq, HTTP_BAD_REQUEST, "Paramètre iso3 requis.");
    apr_array_header_t *params = apr_array_make(rq->r->pool, 1, sizeof(const char *));
    APR_ARRAY_PUSH(params, const char *) = iso3;
    /* iexact, first by the model's ordering (name) */
    if ((st = ea_db_query(rq, "SELECT id, name FROM core_country WHERE upper(iso3) = upper($1)"
                              " ORDER BY name, id LIMIT 1", params, &country)) != EA_DB_OK)
        return ea_db_fail(rq, st);
    if (PQntuples(country) == 0)
        return ea_send_detail(rq, HTTP_NOT_FOUND, "Pays introuvable.");
    apr_array_header_t *idp = apr_array_make(rq->r->pool, 1, sizeof(const char *));
    APR_ARRAY_PUSH(idp, const char *) = PQgetvalue(country, 0, 0);
    if ((st = ea_db_query(rq, "SELECT coalesce(sum(n), 0), coalesce(sum(storage), 0),"
                              " coalesce(sum(turbine), 0) FROM ecoatlas_hydrosite_count"
                              " WHERE country_id = $1", idp, &sites)) != EA_DB_OK
        || (st = ea_db_query(rq, "SELECT resource_type, sum(total), sum(n)"
                                 " FROM ecoatlas_resourcemetric_count WHERE country_id = $1"
                                 " GROUP BY resource_type ORDER BY resource_type",
                             idp, &resources)) != EA_DB_OK)
        return ea_db_fail(rq, st);

    ea_buf b;
    ea_buf_init(&b, rq->r->pool, 512);
    ea_buf_puts(&b, "{\"country\":");
    ea_json_cstr(&b, PQgetvalue(country, 0, 1));
    ea_buf_printf(&b, ",\"site_summary\":{\"total_sites\":%s,", PQgetvalue(sites, 0, 0));
    put_float(&b, "total_storage_mwh", PQgetvalue(sites, 0, 1));
    ea_buf_putc(&b, ',');
    put_float(&b, "total_capacity_mw", PQgetvalue(sites, 0, 2));
    ea_buf_puts(&b, "},\"resource_summary\":");
    put_resources(&b, resources);
    ea_buf_putc(&b, '}');
    return ea_send_json(rq, HTTP_OK, &b);
}
