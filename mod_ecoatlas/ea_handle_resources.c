/* ea_handle_resources: list and detail of the six model resources
 * (docs/decisions.md §2.4 pagination, §2.5 filters, §2.6 shapes). */
#include "ea_mod_conf.h"
#include "ea_mod_req.h"
#include "ea_mod_respond.h"
#include "ea_mod_db.h"
#include "ea_mod_cache.h"
#include "ea_mod_metrics.h"
#include "ea_mod_names.h"
#include "apr_strings.h"
#include "ea_json.h"
#include "ea_keyset.h"
#include "ea_params.h"

APLOG_USE_MODULE(ecoatlas);

/* The ids a filter by a natural key names (ea_ref_ids_fn): from the cache
 * while no change came since they were looked up, else from the database
 * (and kept for the next request).  A value nothing names is kept too: it
 * costs the same lookup. */
static const char *ref_ids(void *ctx, const char *ref_sql, const char *value)
{
    ea_db_lookup *lk = ctx;
    ea_req *rq = lk->rq;
    apr_pool_t *p = rq->r->pool;
    const char *key = apr_pstrcat(p, "ref\x1f", ref_sql, "\x1f", value, NULL);
    char *ids;
    size_t len;
    uint64_t gen;
    int c = strlen(key) <= ea_cache_key_max() ? ea_cache_aux_get(rq, key, &ids, &len, &gen) : -1;
    if (c > 0)
        return apr_pstrmemdup(p, ids, len);
    apr_array_header_t *params = apr_array_make(p, 1, sizeof(const char *));
    APR_ARRAY_PUSH(params, const char *) = value;
    PGresult *res;
    ea_db_status st = ea_db_query(rq, ea_stmt_read(ref_sql, params), &res);
    if (st != EA_DB_OK) {
        lk->failure = st;
        return NULL;
    }
    ea_buf b;
    ea_buf_init(&b, p, 32);
    ea_buf_putc(&b, '{');
    for (int i = 0; i < PQntuples(res); i++) {
        if (i)
            ea_buf_putc(&b, ',');
        ea_buf_puts(&b, PQgetvalue(res, i, 0));
    }
    ea_buf_putc(&b, '}');
    if (c == 0)
        ea_cache_aux_memo(rq, key, gen, b.data, b.len);
    return b.data;
}

int ea_build_set(ea_req *rq, const ea_resource *res, ea_listq *q, int *rc)
{
    ea_db_lookup lk = { rq, EA_DB_OK };
    int b = ea_listq_build(rq->r->pool, res, rq->qs, ea_db_fk_exists, ref_ids, &lk, q);
    if (b == 0) {
        rq->db_oneshot = q->shape_varies;
        rq->db_generic = q->plan_generic;
        if (q->searched)
            rq->search_timeout_ms = ea_dir_get(rq->conf, search_timeout_ms);
        return 0;
    }
    if (b < 0)
        *rc = ea_db_fail(rq, lk.failure);
    else
        *rc = ea_send_json(rq, HTTP_BAD_REQUEST, &q->errors);
    return -1;
}

/* DRF _positive_int(strict=True, cutoff=max): anything else -> default. */
static long long page_size_of(ea_req *rq)
{
    long long def = ea_conf_page_size(rq->conf), max = ea_conf_max_page_size(rq->conf), v;
    const char *s = ea_qs_get(rq->qs, "page_size");
    if (!s)
        return def;
    int rc = ea_parse_int64(s, &v);
    if (rc == -2 && s[strspn(s, " \t\r\n\f\v")] != '-')
        return max;
    if (rc != 0 || v <= 0)
        return def;
    return v > max ? max : v;
}

static ea_db_status query_count(ea_req *rq, ea_listq *q, long long *count)
{
    PGresult *res;
    ea_db_status st = ea_db_query(rq, ea_stmt_read(ea_listq_count_sql(q), q->params), &res);
    if (st == EA_DB_OK)
        *count = PQntuples(res) ? atoll(PQgetvalue(res, 0, 0)) : 0;
    return st;
}

/* Build the boundary map of q's set in ordering o, far enough to serve
 * the page of limit rows at offset (a shorter map had covered had rows),
 * and keep it under key (generation gen).  NULL when it cannot be built
 * now. */
static char *build_keyset_map(ea_req *rq, ea_listq *q, const ea_keyset_order *o, const char *key,
                              uint64_t gen, long long offset, long long limit, long long had, size_t *len)
{
    long long count;
    PGresult *rows;
    if (query_count(rq, q, &count) != EA_DB_OK)
        return NULL;
    long long every = ea_keyset_every(count), cover = ea_keyset_cover(every, offset, limit, had);
    int complete = cover >= count;
    const char *sql = ea_keyset_map_sql(q, o, every, complete ? 0 : cover);   /* sets q->page_params */
    if (ea_db_query(rq, ea_stmt_read(sql, q->page_params), &rows) != EA_DB_OK)
        return NULL;
    int n = PQntuples(rows);
    const char **vals = apr_palloc(rq->r->pool, sizeof(*vals) * 2 * (size_t)(n ? n : 1));
    for (int i = 0; i < n; i++) {
        vals[2 * i] = PQgetisnull(rows, i, 0) ? NULL : PQgetvalue(rows, i, 0);
        vals[2 * i + 1] = PQgetvalue(rows, i, 1);
    }
    char *map = ea_keyset_encode(rq->r->pool, every, n, vals, complete, len);
    ea_cache_aux_put(rq, key, gen, map, *len);
    return map;
}

#define MAP_WAIT_STEP apr_time_from_msec(10)

/* The map under key, built by this request or, when another one builds it,
 * waited for; NULL when it cannot be had (this request's build failed, a
 * change came, or the wait reached what a build may last: its count and
 * its scan, each under EcoAtlasQueryTimeout). */
static char *map_built(ea_req *rq, ea_listq *q, const ea_keyset_order *o, const char *key, uint64_t gen,
                       long long offset, long long limit, long long had, size_t *len)
{
    int ms = ea_srv_get(ea_sconf(rq->r->server), query_timeout_ms);
    uint64_t claim_ms = ms > 0 ? 2 * (uint64_t)ms : 60000;
    apr_time_t until = apr_time_now() + apr_time_from_msec(claim_ms);
    char *map;
    uint64_t now_gen;
    for (;;) {
        /* A request that holds a pooled connection (it counted the set
         * first, or looked up credentials) never waits: the builder could
         * be waiting for that very connection.  It builds the map itself. */
        int claimed = ea_cache_aux_claim(rq, key, gen, claim_ms);
        if (claimed || rq->db) {
            map = build_keyset_map(rq, q, o, key, gen, offset, limit, had, len);
            /* released built or not: a waiter that finds no map (gone
             * already, or never made) then claims it in turn */
            if (claimed)
                ea_cache_aux_release(rq, key, gen);
            ea_count(rq->r->server, map ? EA_C_MAP_BUILT : EA_C_MAP_FAILED);
            return map;
        }
        if (apr_time_now() >= until)
            break;
        apr_sleep(MAP_WAIT_STEP);
        int c = ea_cache_aux_get(rq, key, &map, len, &now_gen);
        if (c < 0 || now_gen != gen)
            break;   /* the cache went unusable, or a change: OFFSET */
        if (c > 0 && ea_keyset_covers(map, *len, offset, &had) == 1) {
            ea_count(rq->r->server, EA_C_MAP_WAITED);
            return map;
        }   /* none yet, or the shorter one still: claim again */
    }
    ea_count(rq->r->server, EA_C_MAP_FAILED);
    return NULL;
}

/* The page query of a deep page through the set's boundary map, or NULL:
 * OFFSET then.  A missing map, or a map of the set's first rows only that
 * ends before offset, is built by a page past EA_KEYSET_BUILD_OFFSET, by one
 * request at a time, and waited for by the others that need it meanwhile
 * (map_built): its scan costs less than an OFFSET that deep, and a scan by
 * each of them, as before, held every connection of the pool for seconds
 * under many clients of deep pages.  The scan reads the set only a few
 * times as far as offset (ea_keyset_cover), so that deep pages near the
 * start of a big set (a status of most sites, pages up to a thousand)
 * never wait for all of it to be read. */
static const char *deep_page_sql(ea_req *rq, ea_listq *q, const char *total, long long size,
                                 long long offset)
{
    ea_keyset_order o;
    char *map;
    size_t len;
    uint64_t gen;
    long long pos;
    const char *key, *bkey, *bid;
    if (offset < EA_KEYSET_MIN_OFFSET || !ea_keyset_order_of(q, &o)
        || !(key = ea_keyset_map_key(q, ea_cache_key_max())))
        return NULL;
    int c = ea_cache_aux_get(rq, key, &map, &len, &gen);
    long long had = 0;
    if (c < 0)
        return NULL;
    if ((c == 0 || ea_keyset_covers(map, len, offset, &had) != 1) && offset >= EA_KEYSET_BUILD_OFFSET) {
        size_t blen;
        char *built = map_built(rq, q, &o, key, gen, offset, size, had, &blen);
        if (built)
            map = built, len = blen, c = 1;
    }
    if (c == 0)
        return NULL;   /* (a shorter map still serves: from its last boundary) */
    if (ea_keyset_boundary(rq->r->pool, map, len, offset, &pos, &bkey, &bid) != 0)
        return NULL;
    return ea_keyset_select_sql(q, &o, total, size, offset, pos, bkey, bid);
}

/* The rows of the page at offset (through the set's boundary map where
 * there is one, else OFFSET). */
static ea_db_status page_rows(ea_req *rq, ea_listq *q, const char *total, long long size, long long offset,
                              PGresult **rows)
{
    const char *sql = deep_page_sql(rq, q, total, size, offset);
    if (!sql)
        sql = ea_listq_select_sql(q, total, size, offset);
    rq->db_generic = q->plan_generic;   /* a boundary seek may have set it */
    return ea_db_query(rq, ea_stmt_read(sql, q->page_params), rows);
}

/* The page's rows as values (ea_row_values) and their lengths, each name
 * field filled from names when q is lean (its length then left to
 * ea_serialize_n: -1); NULL when a row's country or region is not among
 * them (it is when their version is the page's: the rows' keys reference
 * them). */
static const char ***page_values(ea_req *rq, const ea_listq *q, const ea_names *names, PGresult *rows, int off,
                                 int ***lens_out)
{
    const ea_resource *res = q->res;
    int n = PQntuples(rows);
    const char ***vals = apr_palloc(rq->r->pool, sizeof(*vals) * (size_t)(n ? n : 1));
    int **lens = apr_palloc(rq->r->pool, sizeof(*lens) * (size_t)(n ? n : 1));
    for (int i = 0; i < n; i++) {
        vals[i] = ea_row_values(rq, rows, i, off, res->nfields);
        lens[i] = apr_palloc(rq->r->pool, sizeof(int) * (size_t)res->nfields);
        for (int f = 0; f < res->nfields; f++)
            lens[i][f] = PQgetlength(rows, i, off + f);
        if (q->lean) {
            if (ea_names_fill(names, res, vals[i]) != 0)
                return NULL;
            for (int k = 0; k < res->nname_fields; k++)
                lens[i][res->name_fields[k].field] = -1;
        }
    }
    *lens_out = lens;
    return vals;
}

/* Room for a page's body: the bytes PostgreSQL sent, the keys and their
 * punctuation, and some slack for names and escapes, so that the body is
 * rarely copied while it grows. */
static size_t page_room(const ea_resource *res, PGresult *rows, int off)
{
    size_t keys = 2, data = 0;
    int n = PQntuples(rows);
    for (int f = 0; f < res->nfields; f++)
        keys += strlen(res->fields[f].key) + 6;
    for (int i = 0; i < n; i++)
        for (int f = 0; f < res->nfields; f++)
            data += (size_t)PQgetlength(rows, i, off + f);
    return 1024 + data + data / 16 + (size_t)n * (keys + 128);
}

static void put_link(ea_buf *b, const char *key, const char *url)
{
    ea_buf_printf(b, ",\"%s\":", key);
    ea_json_cstr(b, url);
}

int ea_handle_list(ea_req *rq)
{
    const ea_resource *res = rq->route->res;
    ea_listq q;
    int rc;
    long long size = page_size_of(rq), count = -1, page;
    PGresult *rows = NULL;
    ea_db_status st;

    if (ea_build_set(rq, res, &q, &rc) != 0)
        return rc;

    const char *page_s = ea_qs_get(rq->qs, "page");
    int last = page_s && strcmp(page_s, "last") == 0;
    if (!page_s || !*page_s) {
        page = 1;
    } else if (!last && ea_parse_int64(page_s, &page) != 0) {
        return ea_send_detail(rq, HTTP_NOT_FOUND, "Invalid page.");
    }
    if (last) {
        if ((st = query_count(rq, &q, &count)) != EA_DB_OK)
            return ea_db_fail(rq, st);
        page = count ? (count + size - 1) / size : 1;
    }
    if (page < 1 || page > (LLONG_MAX / size))
        return ea_send_detail(rq, HTTP_NOT_FOUND, "Invalid page.");

    /* The exact count rides along with the page: one round trip.  Where
     * the set allows it, the page leaves out the names of countries and
     * regions, which this process keeps: they are used when the page's
     * own statement says they are those of its snapshot (ea_names.c). */
    const char *total = count < 0 ? ea_listq_count_sql(&q) : NULL;
    ea_names *names = ea_listq_lean_ok(&q) ? ea_names_get(rq) : NULL;
    q.lean = names != NULL;
    st = page_rows(rq, &q, total, size, (page - 1) * size, &rows);
    if (st == EA_DB_ERROR && q.lean) {
        /* the version's table gone since the names were read (the
         * database restored without migration 0008): joined from now on */
        ea_names_off(rq);
        q.lean = 0;
        st = page_rows(rq, &q, total, size, (page - 1) * size, &rows);
    }
    if (st != EA_DB_OK)
        return ea_db_fail(rq, st);
    int nrows = PQntuples(rows), off = count < 0 ? 1 : 0;
    const char ***vals = NULL;
    int **lens = NULL;
    if (q.lean && nrows > 0) {
        const char *v = PQgetisnull(rows, 0, off + res->nfields) ? "" : PQgetvalue(rows, 0, off + res->nfields);
        if (strcmp(v, ea_names_version(names)) != 0)
            names = ea_names_at(rq, v);
        if (names)
            vals = page_values(rq, &q, names, rows, off, &lens);
        if (!vals) {
            q.lean = 0;   /* a change came in between: the page joined */
            if ((st = page_rows(rq, &q, total, size, (page - 1) * size, &rows)) != EA_DB_OK)
                return ea_db_fail(rq, st);
            nrows = PQntuples(rows);
        }
    }
    if (!vals)
        vals = page_values(rq, &q, NULL, rows, off, &lens);
    if (count < 0) {
        if (nrows > 0)
            count = atoll(PQgetvalue(rows, 0, 0));
        else if (page == 1)
            count = 0;
        else if ((st = query_count(rq, &q, &count)) != EA_DB_OK)
            return ea_db_fail(rq, st);
    }
    long long pages = count ? (count + size - 1) / size : 1;
    if (page > pages)
        return ea_send_detail(rq, HTTP_NOT_FOUND, "Invalid page.");

    ea_buf b;
    ea_buf_init(&b, rq->r->pool, page_room(res, rows, off));
    ea_buf_printf(&b, "{\"count\":%lld", count);
    const char *url = ea_request_url(rq);
    if (page < pages)
        put_link(&b, "next", ea_page_url(rq->r->pool, url, rq->qs, page + 1));
    else
        ea_buf_puts(&b, ",\"next\":null");
    if (page > 1)
        put_link(&b, "previous", ea_page_url(rq->r->pool, url, rq->qs, page == 2 ? 0 : page - 1));
    else
        ea_buf_puts(&b, ",\"previous\":null");
    ea_buf_puts(&b, ",\"results\":[");
    for (int i = 0; i < nrows; i++) {
        if (i)
            ea_buf_putc(&b, ',');
        if (ea_serialize_n(&b, res, vals[i], lens[i]) != 0)
            return ea_send_server_error(rq, "invalid JSON in a row");
    }
    ea_buf_puts(&b, "]}");
    return ea_send_json(rq, HTTP_OK, &b);
}

int ea_handle_detail(ea_req *rq)
{
    const ea_resource *res = rq->route->res;
    ea_listq q;
    int rc;
    long long id;
    PGresult *rows;

    if (ea_build_set(rq, res, &q, &rc) != 0)
        return rc;
    int prc = ea_parse_int64(rq->pk, &id);
    if (prc == -1)
        return ea_send_detail(rq, HTTP_NOT_FOUND, "Not found.");
    if (prc == 0) {
        const char *sql = ea_listq_detail_sql(&q, apr_psprintf(rq->r->pool, "%" APR_INT64_T_FMT, (apr_int64_t)id));
        ea_db_status st = ea_db_query(rq, ea_stmt_read(sql, q.params), &rows);
        if (st != EA_DB_OK)
            return ea_db_fail(rq, st);
        if (PQntuples(rows) == 1) {
            ea_buf b;
            ea_buf_init(&b, rq->r->pool, 1024);
            if (ea_serialize(&b, res, ea_row_values(rq, rows, 0, 0, res->nfields)) != 0)
                return ea_send_server_error(rq, "invalid JSON in a row");
            return ea_send_json(rq, HTTP_OK, &b);
        }
    }
    return ea_send_detail(rq, HTTP_NOT_FOUND,
                          apr_psprintf(rq->r->pool, "No %s matches the given query.", res->model));
}
