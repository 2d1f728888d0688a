/* ea_names: the names of countries and regions, kept by each process for
 * the list pages that read them instead of joining their tables
 * (lib/ea_sql_list.h, ea_listq.lean; migration 0008).
 *
 * Kept per database (the server's DBDParams: no connection is taken to
 * find it, so that a request that only reads kept names can still wait for
 * a page-boundary map instead of building it) with the version they were
 * read at.  A lean page reads the version in the same statement as its
 * rows, so the names kept are used only when they are those of the page's
 * own snapshot; else they are read again (one statement: names and version
 * in one snapshot) and, when a change came in between, the page is read
 * joined (ea_handle_list).  A set of names is
 * immutable once read: a request holds the one it uses until it ends, and
 * the last holder of a replaced set frees it. */
#include "ea_mod_conf.h"
#include "ea_mod_req.h"
#include "ea_mod_db.h"
#include "ea_mod_names.h"
#include "apr_strings.h"
#include "apr_thread_mutex.h"
#include "apr_hash.h"

APLOG_USE_MODULE(ecoatlas);

/* Without migration 0008, or with more names than EA_NAMES_MAX: pages are
 * joined, and the database is asked again after this long. */
#define NAMES_RETRY apr_time_from_sec(60)

typedef struct ea_names_state ea_names_state;

struct ea_names {
    ea_names_state *ns;
    apr_pool_t *pool;
    const char *version;       /* as PostgreSQL printed the bigint */
    apr_int64_t v;
    apr_hash_t *by_kind[2];    /* EA_NAMES_COUNTRY, EA_NAMES_REGION: id text -> name */
    unsigned refs;             /* requests holding it, + 1 while it is the database's */
};

typedef struct names_db {
    ea_names *current;         /* NULL: none read yet */
    apr_time_t off_until;      /* joined until then (no 0008, too many names) */
} names_db;

struct ea_names_state {
    apr_thread_mutex_t *mu;
    apr_pool_t *pool;          /* the child's: keys of dbs */
    apr_hash_t *dbs;           /* identity -> names_db */
};

void ea_names_child_init(apr_pool_t *pchild, server_rec *s)
{
    ea_names_state *ns = apr_pcalloc(pchild, sizeof(*ns));
    if (apr_thread_mutex_create(&ns->mu, APR_THREAD_MUTEX_DEFAULT, pchild) != APR_SUCCESS)
        return;   /* no names kept: every page is joined */
    ns->pool = pchild;
    ns->dbs = apr_hash_make(pchild);
    ea_state(s)->names = ns;
}

/* Called with the mutex held. */
static void unref(ea_names *n)
{
    if (--n->refs == 0)
        apr_pool_destroy(n->pool);
}

static apr_status_t release(void *data)
{
    ea_names *n = data;
    ea_names_state *ns = n->ns;
    apr_thread_mutex_lock(ns->mu);
    unref(n);
    apr_thread_mutex_unlock(ns->mu);
    return APR_SUCCESS;
}

/* Held by rq until it ends.  Called with the mutex held. */
static ea_names *hold(ea_req *rq, ea_names *n)
{
    n->refs++;
    apr_pool_cleanup_register(rq->r->pool, n, release, apr_pool_cleanup_null);
    return n;
}

static names_db *db_of(ea_names_state *ns, const char *id)
{
    names_db *d = apr_hash_get(ns->dbs, id, APR_HASH_KEY_STRING);
    if (!d) {
        d = apr_pcalloc(ns->pool, sizeof(*d));
        apr_hash_set(ns->dbs, apr_pstrdup(ns->pool, id), APR_HASH_KEY_STRING, d);
    }
    return d;
}

/* Read the names of rq's database now and keep them in place of those
 * kept; the set read, held by rq, or NULL. */
/* A statement of its own, not of the request's set: prepared, planned as
 * usual, under the session's bound (whatever the set's statements get). */
static ea_db_status names_query(ea_req *rq, const char *sql, PGresult **res)
{
    int oneshot = rq->db_oneshot, generic = rq->db_generic, search_ms = rq->search_timeout_ms;
    rq->db_oneshot = rq->db_generic = rq->search_timeout_ms = 0;
    ea_db_status st = ea_db_query(rq, ea_stmt_read(sql, NULL), res);
    rq->db_oneshot = oneshot;
    rq->db_generic = generic;
    rq->search_timeout_ms = search_ms;
    return st;
}

static ea_names *load(ea_req *rq, ea_names_state *ns, const char *id)
{
    PGresult *res;
    if (names_query(rq, ea_names_present_sql(), &res) != EA_DB_OK)
        return NULL;
    if (PQntuples(res) != 1 || strcmp(PQgetvalue(res, 0, 0), "t") != 0) {
        ea_names_off(rq);
        return NULL;
    }
    if (names_query(rq, ea_names_load_sql(), &res) != EA_DB_OK)
        return NULL;
    apr_pool_t *p;
    if (apr_pool_create(&p, NULL) != APR_SUCCESS)
        return NULL;
    ea_names *n = apr_pcalloc(p, sizeof(*n));
    n->pool = p;
    n->by_kind[EA_NAMES_COUNTRY] = apr_hash_make(p);
    n->by_kind[EA_NAMES_REGION] = apr_hash_make(p);
    int rows = PQntuples(res), counts[2] = { 0, 0 };
    for (int i = 0; i < rows; i++) {
        const char *k = PQgetvalue(res, i, 0);
        if (PQgetisnull(res, i, 1)) {
            if (!PQgetisnull(res, i, 0))
                n->version = apr_pstrdup(p, k);
            continue;
        }
        int kind = k[0] == 'c' ? EA_NAMES_COUNTRY : EA_NAMES_REGION;
        counts[kind]++;
        apr_hash_set(n->by_kind[kind], apr_pstrdup(p, PQgetvalue(res, i, 1)), APR_HASH_KEY_STRING,
                     apr_pstrdup(p, PQgetvalue(res, i, 2)));
    }
    if (!n->version || counts[0] > EA_NAMES_MAX || counts[1] > EA_NAMES_MAX) {
        /* the version row gone (pages could not tell a change), or more
         * names than a process keeps */
        apr_pool_destroy(p);
        ea_names_off(rq);
        return NULL;
    }
    n->v = apr_atoi64(n->version);
    n->ns = ns;
    /* The set read last is the database's from now on (after a restore
     * its version can be lower than the one kept: still the right one). */
    apr_thread_mutex_lock(ns->mu);
    names_db *d = db_of(ns, id);
    if (d->current && d->current->v == n->v) {   /* another request read the same meanwhile */
        apr_pool_destroy(p);
        n = d->current;
    } else {
        if (d->current)
            unref(d->current);
        n->refs = 1;
        d->current = n;
    }
    hold(rq, n);
    apr_thread_mutex_unlock(ns->mu);
    return n;
}

ea_names *ea_names_get(ea_req *rq)
{
    ea_names_state *ns = ea_state(rq->r->server)->names;
    const char *id = ns ? ea_sconf(rq->r->server)->dbd_params : NULL;
    if (!id)
        return NULL;
    apr_thread_mutex_lock(ns->mu);
    names_db *d = db_of(ns, id);
    ea_names *n = NULL;
    int off = d->off_until && apr_time_now() < d->off_until;
    if (!off && d->current)
        n = hold(rq, d->current);
    apr_thread_mutex_unlock(ns->mu);
    if (off || n)
        return n;
    return load(rq, ns, id);
}

void ea_names_off(ea_req *rq)
{
    ea_names_state *ns = ea_state(rq->r->server)->names;
    const char *id = ns ? ea_sconf(rq->r->server)->dbd_params : NULL;
    if (!id)
        return;
    apr_thread_mutex_lock(ns->mu);
    names_db *d = db_of(ns, id);
    d->off_until = apr_time_now() + NAMES_RETRY;
    if (d->current) {   /* read again when they are back */
        unref(d->current);
        d->current = NULL;
    }
    apr_thread_mutex_unlock(ns->mu);
}

ea_names *ea_names_at(ea_req *rq, const char *version)
{
    ea_names_state *ns = ea_state(rq->r->server)->names;
    const char *id = ns ? ea_sconf(rq->r->server)->dbd_params : NULL;
    if (!id || !version || !*version)
        return NULL;
    ea_names *n = load(rq, ns, id);
    return n && strcmp(n->version, version) == 0 ? n : NULL;
}

const char *ea_names_version(const ea_names *n)
{
    return n->version;
}

int ea_names_fill(const ea_names *n, const ea_resource *res, const char **vals)
{
    for (int k = 0; k < res->nname_fields; k++) {
        const ea_name_field *f = &res->name_fields[k];
        const char *id = vals[f->id_field];
        if (!id) {
            vals[f->field] = NULL;
            continue;
        }
        const char *name = apr_hash_get(n->by_kind[f->kind], id, APR_HASH_KEY_STRING);
        if (!name)
            return -1;
        vals[f->field] = name;
    }
    return 0;
}
