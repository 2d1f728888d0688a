/* ea_keyset: deep list pages without reading every row before them.
 *
 * For a filtered set in one ordering, a map of page-boundary keys holds
 * the sort key and id of the rows at positions 0, K, 2K, ... (built by one
 * scan, kept in the shared response cache and dropped with it by the same
 * NOTIFY).  A map may cover the first rows of the set only (its scan
 * stopped at a multiple of K): a page past them builds a longer one, so
 * that pages near the start of a big set never pay for scanning all of it.  Page N at offset O then reads from the boundary at
 * position B = O - O % K onwards: an index seek to (key, id), OFFSET O - B
 * (< K rows), LIMIT page_size.  The rows and their order are exactly those
 * of ORDER BY ... OFFSET O, provided the map is of the current data.
 *
 * Orderings it serves: one column of the main table t plus the id that
 * breaks ties, in the same direction (every ordering a client can ask for
 * with one field); NULLs where PostgreSQL puts them (last ascending, first
 * descending).  Others keep OFFSET.  The seek and the map read the main
 * table alone: filter conditions are on t (as ea_listq_count_sql's are).
 * Pure: SQL text and the map's bytes. */
#ifndef EA_KEYSET_H
#define EA_KEYSET_H

#include "ea_sql_list.h"
#include <apr_pools.h>
#include <apr_tables.h>

/* Offsets below this are served by OFFSET: the map is not worth it. */
#define EA_KEYSET_MIN_OFFSET 1000
/* A missing map is built (one scan of the set) for offsets from here on;
 * below, OFFSET costs less than the scan. */
#define EA_KEYSET_BUILD_OFFSET 10000
/* Boundary spacing: at least this many rows, and at most this many
 * boundaries in one map. */
#define EA_KEYSET_EVERY_MIN 500
#define EA_KEYSET_MAX_BOUNDARIES 2000

typedef struct ea_keyset_order {
    const char *col;   /* "t.name" */
    int desc;
} ea_keyset_order;

/* 1 when q's ordering is one t column plus the id tiebreak in the same
 * direction (and the set is not empty by construction); 0 otherwise. */
int ea_keyset_order_of(const ea_listq *q, ea_keyset_order *o);

/* The spacing of boundaries for a set of count rows. */
long long ea_keyset_every(long long count);

/* A map covering offset (and the page of limit rows there) reads this
 * many rows of the set: EA_KEYSET_COVER_FACTOR times as far, at least
 * twice what a shorter map had read (had), a multiple of every. */
#define EA_KEYSET_COVER_FACTOR 4
long long ea_keyset_cover(long long every, long long offset, long long limit, long long had);

/* The map's identity in the cache: table, conditions, their values and
 * the order.  NULL when longer than maxlen. */
const char *ea_keyset_map_key(ea_listq *q, size_t maxlen);

/* SQL listing (sort key as text or NULL, id) of the rows at positions
 * 0, every, 2*every, ... in order, among the first cover rows of the set
 * (cover <= 0: all of them); run with q->page_params, which it sets. */
const char *ea_keyset_map_sql(ea_listq *q, const ea_keyset_order *o, long long every, long long cover);

/* The map as bytes: vals holds n pairs (key or NULL, id); complete when
 * its scan read the whole set, not only its first rows. */
char *ea_keyset_encode(apr_pool_t *p, long long every, int n, const char *const *vals, int complete,
                       size_t *len);

/* Does the map serve offset with fewer than `every` rows skipped?  1 yes,
 * 0 no (a map of the first rows only, ending before offset: *reach is how
 * many rows it covers), -1 malformed. */
int ea_keyset_covers(const char *map, size_t len, long long offset, long long *reach);

/* The boundary at or before offset: its position (*pos), sort key (*key,
 * NULL for SQL NULL) and id.  0 when found, -1 when the map is malformed
 * or offset lies before its second boundary (OFFSET serves those). */
int ea_keyset_boundary(apr_pool_t *p, const char *map, size_t len, long long offset,
                       long long *pos, const char **key, const char **id);

/* The page query seeking to the boundary (key, id) at pos: like
 * ea_listq_select_sql (total_sql's value first when given), rows
 * offset .. offset + limit - 1 of the set; run with q->page_params.  For a
 * set without conditions its plan is the same whatever the boundary (an
 * index seek, then fewer than K rows skipped), so it sets q->plan_generic
 * and writes the page size out (a generic plan's estimate of LIMIT $n is a
 * tenth of the table, which would join the countries and regions by
 * hashing them whole). */
const char *ea_keyset_select_sql(ea_listq *q, const ea_keyset_order *o, const char *total_sql,
                                 long long limit, long long offset, long long pos,
                                 const char *key, const char *id);

#endif
