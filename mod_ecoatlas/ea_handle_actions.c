/* ea_handle_actions: the API root, list-level actions and statistics
 * (docs/decisions.md §2.2, §2.7).  Sums come from the trigger-kept group tables
 * whenever the filters allow it, from the rows otherwise. */
#include "ea_mod_conf.h"
#include "ea_mod_req.h"
#include "ea_mod_respond.h"
#include "ea_mod_db.h"
#include "apr_strings.h"
#include "ea_json.h"
#include "ea_params.h"
#include "ea_sql_stats.h"

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
    if ((st = ea_db_query(rq, ea_sql_summary_totals(&q), &tot)) != EA_DB_OK
        || (st = ea_db_query(rq, ea_sql_summary_top(&q), &top)) != EA_DB_OK)
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
    /* The view adds country iso3 iexact on the raw parameter (quirk A.5). */
    ea_db_status st = ea_db_query(rq, ea_sql_timeseries(&q, ea_qs_get(rq->qs, "country__iso3")), &res);
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

    ea_db_status st = ea_db_query(rq, ea_sql_timeline(&q, variable, ea_qs_get(rq->qs, "country__iso3"),
                                                      limit), &res);
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

    if ((st = ea_db_query(rq, ea_sql_stats_top(), &top)) != EA_DB_OK
        || (st = ea_db_query(rq, ea_sql_stats_resources(), &resources)) != EA_DB_OK
        || (st = ea_db_query(rq, ea_sql_stats_datasets(), &datasets)) != EA_DB_OK)
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
    /* iexact, first by the model's ordering (name) */
    if ((st = ea_db_query(rq, ea_sql_country_by_iso3(rq->r->pool, iso3), &country)) != EA_DB_OK)
        return ea_db_fail(rq, st);
    if (PQntuples(country) == 0)
        return ea_send_detail(rq, HTTP_NOT_FOUND, "Pays introuvable.");
    const char *id = PQgetvalue(country, 0, 0);
    if ((st = ea_db_query(rq, ea_sql_country_sites(rq->r->pool, id), &sites)) != EA_DB_OK
        || (st = ea_db_query(rq, ea_sql_country_resources(rq->r->pool, id), &resources)) != EA_DB_OK)
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
