/* ea_keyset: page-boundary keys for deep pages (see ea_keyset.h). */
#include "ea_keyset.h"
#include "ea_buf.h"

#include <apr_strings.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#define MAP_MAGIC "EAKS2 "   /* then "every n complete\n" */

static int is_ident(const char *s, size_t n)
{
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || s[i] == '_' || (i && s[i] >= '0' && s[i] <= '9')))
            return 0;
    return 1;
}

int ea_keyset_order_of(const ea_listq *q, ea_keyset_order *o)
{
    const char *ob = q->order_by, *comma;
    if (!ob || q->empty || strncmp(ob, "t.", 2) != 0 || !(comma = strstr(ob, ", ")))
        return 0;
    size_t n = (size_t)(comma - ob);
    int desc = n > 5 && memcmp(comma - 5, " DESC", 5) == 0;
    size_t coln = desc ? n - 5 : n;
    if (!is_ident(ob + 2, coln - 2) || coln == 4 /* "t.id" alone */)
        return 0;
    if (strcmp(comma + 2, desc ? "t.id DESC" : "t.id") != 0)
        return 0;
    o->col = apr_pstrmemdup(q->pool, ob, coln);
    o->desc = desc;
    return 1;
}

long long ea_keyset_every(long long count)
{
    long long every = (count + EA_KEYSET_MAX_BOUNDARIES - 1) / EA_KEYSET_MAX_BOUNDARIES;
    return every < EA_KEYSET_EVERY_MIN ? EA_KEYSET_EVERY_MIN : every;
}

const char *ea_keyset_map_key(ea_listq *q, size_t maxlen)
{
    ea_buf b;
    ea_buf_init(&b, q->pool, 256);
    ea_buf_printf(&b, "ks\x1f%s\x1f%s\x1f", q->res->table, q->where.len ? q->where.data : "");
    for (int i = 0; i < q->params->nelts; i++) {
        ea_buf_puts(&b, APR_ARRAY_IDX(q->params, i, const char *));
        ea_buf_putc(&b, '\x1e');
    }
    ea_buf_printf(&b, "\x1f%s", q->order_by);
    return b.len <= maxlen ? b.data : NULL;
}

static void put_where(ea_buf *b, const ea_listq *q, const char *cond)
{
    if (q->where.len)
        ea_buf_printf(b, " WHERE %s AND %s", q->where.data, cond);
    else
        ea_buf_printf(b, " WHERE %s", cond);
}

static const char *push(ea_listq *q, const char *v)
{
    APR_ARRAY_PUSH(q->page_params, const char *) = v;
    return apr_psprintf(q->pool, "$%d", q->page_params->nelts);
}

long long ea_keyset_cover(long long every, long long offset, long long limit, long long had)
{
    const long long cap = LLONG_MAX / 8;   /* more than any set: no overflow below */
    long long reach = offset >= 0 && limit >= 0 && offset <= cap - limit ? offset + limit : cap;
    long long want = reach > cap / EA_KEYSET_COVER_FACTOR ? cap : EA_KEYSET_COVER_FACTOR * reach;
    if (had > 0 && had <= cap / 2 && 2 * had > want)
        want = 2 * had;
    if (every < 1)
        every = 1;
    return (want + every - 1) / every * every;
}

const char *ea_keyset_map_sql(ea_listq *q, const ea_keyset_order *o, long long every, long long cover)
{
    ea_buf b;
    ea_buf_init(&b, q->pool, 512);
    q->page_params = apr_array_copy(q->pool, q->params);
    /* (the key becomes text at the boundaries only, not at every row) */
    ea_buf_printf(&b, "SELECT s.k::text, s.id FROM (SELECT %s AS k, t.id, row_number() OVER "
                      "(ORDER BY %s) AS rn FROM %s t", o->col, q->order_by, q->res->table);
    if (q->where.len)
        ea_buf_printf(&b, " WHERE %s", q->where.data);
    /* The window numbers the rows in the set's order and the LIMIT keeps
     * the first of them in that same order: an index scan stops there, and
     * the numbers are those the rows have in the whole set. */
    if (cover > 0)
        ea_buf_printf(&b, " ORDER BY %s LIMIT %s::bigint", q->order_by,
                      push(q, apr_psprintf(q->pool, "%" APR_INT64_T_FMT, (apr_int64_t)cover)));
    const char *every_p = push(q, apr_psprintf(q->pool, "%" APR_INT64_T_FMT, (apr_int64_t)every));
    ea_buf_printf(&b, ") s WHERE s.rn %% %s::bigint = 1 ORDER BY s.rn", every_p);
    return b.data;
}

char *ea_keyset_encode(apr_pool_t *p, long long every, int n, const char *const *vals, int complete,
                       size_t *len)
{
    ea_buf b;
    ea_buf_init(&b, p, 64 + (size_t)n * 48);
    ea_buf_printf(&b, MAP_MAGIC "%lld %d %d\n", every, n, complete ? 1 : 0);
    for (int i = 0; i < n; i++) {
        const char *key = vals[2 * i], *id = vals[2 * i + 1];
        if (key) {
            ea_buf_printf(&b, "%s %zu ", id, strlen(key));
            ea_buf_puts(&b, key);
        } else {
            ea_buf_printf(&b, "%s - ", id);
        }
        ea_buf_putc(&b, '\n');
    }
    *len = b.len;
    return b.data;
}

/* A decimal number at *s (up to end), then one space; advances *s. */
static int read_num(const char **s, const char *end, long long *v)
{
    char *stop;
    if (*s >= end || !(**s >= '0' && **s <= '9'))
        return -1;
    *v = strtoll(*s, &stop, 10);
    if (stop >= end || *stop != ' ')
        return -1;
    *s = stop + 1;
    return 0;
}

/* The map's header: spacing, boundaries, complete; *s then at the first
 * boundary. */
static int read_header(const char **s, const char *end, long long *every, long long *n, int *complete)
{
    size_t ml = strlen(MAP_MAGIC);
    long long c;
    if ((size_t)(end - *s) < ml || memcmp(*s, MAP_MAGIC, ml) != 0)
        return -1;
    *s += ml;
    if (read_num(s, end, every) != 0 || *every < 1 || read_num(s, end, n) != 0 || *n < 1)
        return -1;
    if (*s >= end || (**s != '0' && **s != '1') || *s + 1 >= end || (*s)[1] != '\n')
        return -1;
    c = **s == '1';
    *s += 2;
    if (complete)
        *complete = (int)c;
    return 0;
}

int ea_keyset_covers(const char *map, size_t len, long long offset, long long *reach)
{
    const char *s = map;
    long long every, n;
    int complete;
    if (read_header(&s, map + len, &every, &n, &complete) != 0)
        return -1;
    *reach = n > LLONG_MAX / every ? LLONG_MAX : n * every;
    return complete || offset < *reach;
}

int ea_keyset_boundary(apr_pool_t *p, const char *map, size_t len, long long offset,
                       long long *pos, const char **key, const char **id)
{
    const char *s = map, *end = map + len;
    long long every, n, j;
    if (read_header(&s, end, &every, &n, NULL) != 0)
        return -1;
    j = offset / every;
    if (j < 1 || n < 2)
        return -1;
    if (j > n - 1)
        j = n - 1;
    for (long long i = 0;; i++) {
        long long idv, kl = -1;
        const char *id_at = s;
        if (read_num(&s, end, &idv) != 0)
            return -1;
        size_t idl = (size_t)(s - 1 - id_at);
        if (s < end && *s == '-') {
            s++;
            if (s >= end || *s != ' ')
                return -1;
            s++;
        } else if (read_num(&s, end, &kl) != 0) {
            return -1;
        }
        if (kl > end - s - 1 || s[kl < 0 ? 0 : kl] != '\n')
            return -1;
        if (i == j) {
            *pos = j * every;
            *id = apr_pstrmemdup(p, id_at, idl);
            *key = kl < 0 ? NULL : apr_pstrmemdup(p, s, (size_t)kl);
            return 0;
        }
        s += (kl < 0 ? 0 : kl) + 1;
    }
}

/* One branch of the seek: ids and sort keys from the boundary on. */
static void branch(ea_buf *b, ea_listq *q, const ea_keyset_order *o, const char *cond,
                   const char *order, const char *lim)
{
    ea_buf_printf(b, "(SELECT t.id, %s AS k FROM %s t", o->col, q->res->table);
    put_where(b, q, cond);
    ea_buf_printf(b, " ORDER BY %s LIMIT %s::bigint)", order, lim);
}

const char *ea_keyset_select_sql(ea_listq *q, const ea_keyset_order *o, const char *total_sql,
                                 long long limit, long long offset, long long pos,
                                 const char *key, const char *id)
{
    ea_buf b;
    ea_buf_init(&b, q->pool, 2048);
    q->page_params = apr_array_copy(q->pool, q->params);
    const char *id_p = push(q, id);
    const char *key_p = key ? push(q, key) : NULL;
    const char *lim_p = push(q, apr_psprintf(q->pool, "%" APR_INT64_T_FMT, (apr_int64_t)(offset - pos + limit)));
    const char *dir = o->desc ? " DESC" : "";
    const char *by_key = apr_psprintf(q->pool, "%s%s, t.id%s", o->col, dir, dir);
    const char *by_id = apr_psprintf(q->pool, "t.id%s", dir);

    ea_buf_puts(&b, "SELECT ");
    if (total_sql)
        ea_buf_printf(&b, "(%s), ", total_sql);
    ea_listq_put_columns(&b, q);
    ea_buf_printf(&b, " FROM %s WHERE t.id IN (SELECT s.id FROM (", ea_listq_from(q));
    /* Rows from (key, id) on, in ORDER BY's order: NULLs come last when
     * ascending, first when descending. */
    if (key && !o->desc) {
        branch(&b, q, o, apr_psprintf(q->pool, "(%s, t.id) >= (%s, %s::bigint)", o->col, key_p, id_p),
               by_key, lim_p);
        ea_buf_puts(&b, " UNION ALL ");
        branch(&b, q, o, apr_psprintf(q->pool, "%s IS NULL", o->col), by_id, lim_p);
    } else if (key) {
        branch(&b, q, o, apr_psprintf(q->pool, "(%s, t.id) <= (%s, %s::bigint)", o->col, key_p, id_p),
               by_key, lim_p);
    } else if (!o->desc) {
        branch(&b, q, o, apr_psprintf(q->pool, "%s IS NULL AND t.id >= %s::bigint", o->col, id_p),
               by_id, lim_p);
    } else {
        branch(&b, q, o, apr_psprintf(q->pool, "%s IS NULL AND t.id <= %s::bigint", o->col, id_p),
               by_id, lim_p);
        ea_buf_puts(&b, " UNION ALL ");
        branch(&b, q, o, apr_psprintf(q->pool, "%s IS NOT NULL", o->col), by_key, lim_p);
    }
    int plain = q->where.len == 0 && !q->empty;
    const char *lp = plain ? apr_psprintf(q->pool, "%" APR_INT64_T_FMT, (apr_int64_t)limit)
                           : push(q, apr_psprintf(q->pool, "%" APR_INT64_T_FMT, (apr_int64_t)limit));
    const char *op = push(q, apr_psprintf(q->pool, "%" APR_INT64_T_FMT, (apr_int64_t)(offset - pos)));
    if (plain)
        q->plan_generic = 1;
    ea_buf_printf(&b, ") s ORDER BY s.k%s, s.id%s LIMIT %s::bigint OFFSET %s::bigint) ORDER BY %s",
                  dir, dir, lp, op, q->order_by);
    return b.data;
}
