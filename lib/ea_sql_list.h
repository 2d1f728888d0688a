/* ea_sql_list: the six model resources of the API (docs/decisions.md §2.5, §2.6):
 * their columns in serializer order, filters, search fields and ordering
 * fields, and the SQL that lists them.  Pure: builds SQL text and parameter
 * lists, serialises rows given as strings; never talks to the database. */
#ifndef EA_SQL_LIST_H
#define EA_SQL_LIST_H

#include "ea_buf.h"
#include <apr_pools.h>
#include <apr_tables.h>

typedef enum { EA_F_INT, EA_F_STR, EA_F_DEC, EA_F_JSON, EA_F_TS } ea_fkind;

typedef struct ea_field {
    const char *key;     /* JSON key */
    ea_fkind kind;
    const char *sql;     /* select expression */
} ea_field;

/* A field that is the name of a row's country or region (a column of a
 * joined table): where a list reads the names a process keeps instead of
 * joining (ea_listq.lean), the field at id_field holds the id to look up. */
typedef enum { EA_NAMES_COUNTRY, EA_NAMES_REGION } ea_names_kind;
typedef struct ea_name_field {
    int field;           /* the name's index in fields */
    ea_names_kind kind;
    int id_field;        /* the index of the field holding the id */
} ea_name_field;

typedef enum { EA_FILT_STR, EA_FILT_CHOICE, EA_FILT_FK, EA_FILT_NUMBER } ea_filtkind;

typedef struct ea_filter {
    const char *param;
    ea_filtkind kind;
    const char *cond;        /* condition on the main table t; '?' = the value */
    const char *group_cond;  /* the same on the group-count table g, or NULL */
    const char *const *choices;  /* EA_FILT_CHOICE: NULL-terminated */
    const char *fk_table;    /* EA_FILT_FK: table whose id must exist */
    /* A filter by another table's natural key (country__iso3): the ids it
     * names, one $1, one column.  Where they are looked up first, the
     * condition is on ref_col (and ref_group_col) with those ids written in
     * as a parameter: PostgreSQL then plans for the rows they name, not for
     * an average value hidden in a subquery (a country of 981 sites and one
     * of 66,187 need different plans); one id is an equality (an index on
     * (country, ordering) serves it in order), none an empty set. */
    const char *ref_sql;
    const char *ref_col;
    const char *ref_group_col;
} ea_filter;

typedef struct ea_order {
    const char *name;
    const char *sql;
} ea_order;

typedef struct ea_resource {
    const char *prefix;        /* URL segment: "hydro-sites" */
    const char *model;         /* "HydroSite" (404 message) */
    const char *view_name;     /* "Hydro Site" (OPTIONS name) */
    const char *table;         /* "core_hydrosite" */
    const char *from_sql;      /* table t plus the joins the fields need */
    const ea_field *fields;
    int nfields;
    const ea_filter *filters;
    int nfilters;
    const char *const *search; /* NULL-terminated search expressions */
    const ea_order *orderings;
    int norderings;
    const char *default_order; /* "t.name" */
    const char *group_table;   /* trigger-kept counts per filter group, or NULL */
    const char *search_doc;    /* the upper-cased search fields joined by line
                                * feeds, stored by PostgreSQL (migration 0006),
                                * or NULL: each field is tested instead */
    const char *lean_from;     /* from_sql without the joins of its name fields,
                                * or NULL: always joined */
    const ea_name_field *name_fields;  /* the fields lean_from leaves NULL */
    int nname_fields;
} ea_resource;

extern const ea_resource ea_resources[];

/* The models' choice lists (NULL-terminated). */
extern const char *const ea_status_choices[];
extern const char *const ea_resource_type_choices[];
extern const char *const ea_dataset_type_choices[];
extern const int ea_nresources;

typedef enum {
    EA_RES_COUNTRY, EA_RES_REGION, EA_RES_DATASET,
    EA_RES_HYDROSITE, EA_RES_METRIC, EA_RES_CLIMATE
} ea_res_id;

const ea_resource *ea_resource_by_prefix(const char *seg, size_t len);

/* Asked while validating FK filters: does id exist in table?  Returns 1
 * yes, 0 no, -1 on a database error (the build then fails with -1). */
typedef int (*ea_fk_exists_fn)(void *ctx, const char *table, long long id);
/* Asked for a filter with ref_sql: the ids ref_sql finds for value, as a
 * PostgreSQL array literal ("{3}", "{}" when none); NULL on a database
 * error (the build then fails with -1). */
typedef const char *(*ea_ref_ids_fn)(void *ctx, const char *ref_sql, const char *value);

/* One ORDER BY key: expression and direction. */
typedef struct ea_order_key {
    const char *sql;
    int desc;
} ea_order_key;

/* The filtered set of a resource, built from the query parameters. */
typedef struct ea_listq {
    apr_pool_t *pool;
    const ea_resource *res;
    ea_buf where;          /* conditions on t joined by AND ("" when none) */
    ea_buf group_where;    /* the same on g, valid when by_groups */
    int by_groups;         /* count can come from res->group_table */
    int empty;             /* no row can match (e.g. out-of-range number) */
    apr_array_header_t *params;   /* const char *, $1..$n */
    apr_array_header_t *page_params;  /* params plus LIMIT and OFFSET (ea_listq_select_sql) */
    const char *order_by;  /* "t.name, t.id" */
    apr_array_header_t *order_keys;  /* the same as ea_order_key, in order */
    int searched;          /* ?search= gave at least one term */
    ea_buf errors;         /* 400 body when the build returned 1 */
    int shape_varies;      /* the SQL text grows with the input (search terms):
                              run it once, never keep it prepared */
    int plan_generic;      /* its statements are planned once, generically,
                              whatever their values: searched by at most
                              EA_SEARCH_GENERIC_TERMS terms and nothing else
                              (docs/operations.md, "Search"), or a page-boundary
                              seek of a set without conditions
                              (ea_keyset_select_sql) */
    int lean;              /* the page's statements leave the name fields NULL,
                              read from res->lean_from, and end each row with
                              the names' version (EA_NAMES_VERSION_SQL): set
                              by the caller, where ea_listq_lean_ok */
} ea_listq;

/* Bounds on the inputs that multiply the work of one request (documented
 * in docs/openapi.yaml and docs/security.md): a longer or
 * wider value is refused with 400 before any SQL is built. */
#define EA_SEARCH_MAX_CHARS 200     /* ?search= value, in characters */
#define EA_SEARCH_MAX_TERMS 10      /* terms after splitting ?search= */
#define EA_ORDERING_MAX_FIELDS 8    /* comma-separated names in ?ordering= */
#define EA_SEARCH_GENERIC_TERMS 3   /* up to this many terms alone: one plan for all */

/* Apply django-filter, SearchFilter and OrderingFilter (in that order)
 * to res from the parsed query string.  Returns 0 when valid, 1 when a
 * filter value is invalid or a bound above is passed (q->errors holds the
 * JSON body), -1 when fk_exists or ref_ids failed.  ref_ids may be NULL:
 * filters by a natural key then look it up in a subquery. */
int ea_listq_build(apr_pool_t *p, const ea_resource *res,
                   const apr_array_header_t *qs,
                   ea_fk_exists_fn fk_exists, ea_ref_ids_fn ref_ids, void *ctx, ea_listq *q);

/* The version of the names of countries and regions (migration 0008), read
 * in the same statement as a lean page's rows; the statement that reads
 * the names themselves with it, one snapshot: rows of (version, NULL,
 * NULL), then ('c' or 'r', id, name), at most EA_NAMES_MAX + 1 of each
 * kind; and whether migration 0008 is there (one boolean). */
#define EA_NAMES_VERSION_SQL "(SELECT v FROM ecoatlas_names_version)"
#define EA_NAMES_MAX 20000
const char *ea_names_load_sql(void);
const char *ea_names_present_sql(void);
/* Does an error message (PostgreSQL's, of a missing relation) name the
 * names' version table? */
int ea_names_version_named(const char *message);

/* Can q's page be read lean: res has lean_from and every ORDER BY key is a
 * column of its main table (conditions are always on it). */
int ea_listq_lean_ok(const ea_listq *q);

/* q's FROM: res->from_sql, or res->lean_from when q->lean. */
const char *ea_listq_from(const ea_listq *q);

/* The serializer columns of q's resource, as a SELECT list (lean: the name
 * fields NULL and the names' version last). */
void ea_listq_put_columns(ea_buf *b, const ea_listq *q);

/* Add a parameter and return its placeholder number. */
int ea_listq_param(ea_listq *q, const char *value);

/* The set's conditions after a FROM: " WHERE <conditions on t>" (groups
 * 0) or " WHERE <conditions on g>" (groups 1, valid when by_groups);
 * " WHERE false" when no row can match, "" when there is no condition. */
const char *ea_listq_where(const ea_listq *q, int groups);

/* The same after a condition of the caller's: " AND <conditions on t>",
 * " AND false", or "". */
const char *ea_listq_and(const ea_listq *q);

/* SQL returning the exact size of the set as one bigint column. */
const char *ea_listq_count_sql(ea_listq *q);

/* SELECT of the serializer columns over the set, in order, with LIMIT and
 * OFFSET as given (limit < 0: none).  With total_sql non-NULL its value is
 * prepended as an extra first column (one round trip for page and count).
 * LIMIT and OFFSET are parameters, so every page of a list shares one
 * prepared statement: run it with q->page_params.  A searched set is read
 * once (ids and ORDER BY keys of every matching row), and both the page and
 * the count come from that (the count then replaces total_sql).  From
 * offset EA_LIST_IDS_FIRST_OFFSET on, with an order on the main table's
 * columns, the page's ids are found first over the main table alone (an
 * index-only scan where an index holds the order and the conditions'
 * columns: migration 0007), and only the page's rows are read and joined:
 * the rows skipped are never read from the table. */
#define EA_LIST_IDS_FIRST_OFFSET 100
const char *ea_listq_select_sql(ea_listq *q, const char *total_sql,
                                long long limit, long long offset);

/* SELECT of one object by id within the set (detail routes). */
const char *ea_listq_detail_sql(ea_listq *q, const char *id);

/* Serialise one row: vals[i] is field i as PostgreSQL text, NULL for SQL
 * NULL.  Returns -1 if a JSON column holds invalid JSON (never expected). */
int ea_serialize(ea_buf *b, const ea_resource *res, const char *const *vals);
/* The same, with lens[i] the length of vals[i] where it is >= 0 (as
 * PQgetlength gives it); a negative length, or lens NULL, means strlen. */
int ea_serialize_n(ea_buf *b, const ea_resource *res, const char *const *vals, const int *lens);

/* Escape a LIKE pattern piece (\ % _) and wrap it in % for icontains. */
char *ea_like_contains(apr_pool_t *p, const char *term);

/* Terms shorter than this (in characters) have no trigram to look up. */
#define EA_SEARCH_TRIGRAM 3

/* The condition one search term puts on res (SearchFilter: the term in any
 * search field, as Django's icontains), appended to b with $idx as its
 * parameter; *param is the value to bind there. */
void ea_search_term_sql(ea_buf *b, const ea_resource *res, const char *term, int idx,
                        apr_pool_t *p, const char **param);

/* The search document of migration 0006 may be missing: dropped before a
 * Django migration of its fields, until `ecoatlas migrate` adds it back
 * (docs/operations.md, "Search").  ea_search_doc_fallback returns sql with
 * every term's test on a document, as ea_search_term_sql writes it, made
 * that term's test on each search field (the same answers, without the
 * document or its index), or NULL when sql tests no document.
 * ea_search_doc_named tells whether an error message names a document
 * column (PostgreSQL's "column t.ecoatlas_search does not exist"). */
const char *ea_search_doc_fallback(apr_pool_t *p, const char *sql);
int ea_search_doc_named(const char *message);

#endif
