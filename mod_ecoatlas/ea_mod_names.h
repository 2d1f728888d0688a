/* ea_mod_names.h: the names of countries and regions a process keeps for
 * lean list pages (ea_names.c) */
#ifndef EA_MOD_NAMES_H
#define EA_MOD_NAMES_H

#include "ea_mod_req.h"

typedef struct ea_names ea_names;

void ea_names_child_init(apr_pool_t *pchild, server_rec *s);
/* The names kept for rq's database, read now if none are (held until rq
 * ends); NULL: pages are read joined (no migration 0008, too many names,
 * the database unreachable). */
ea_names *ea_names_get(ea_req *rq);
/* The names at version (as a lean page read it), read again now; NULL
 * when the database's are at another version by now: read the page joined. */
ea_names *ea_names_at(ea_req *rq, const char *version);
const char *ea_names_version(const ea_names *n);
/* Pages of rq's database are read joined for a while (a lean page failed:
 * migration 0008's table is gone); the names kept are dropped. */
void ea_names_off(ea_req *rq);
/* The name fields of vals (a row of res, lean) from n; -1 when an id is
 * not among its names. */
int ea_names_fill(const ea_names *n, const ea_resource *res, const char **vals);

#endif
