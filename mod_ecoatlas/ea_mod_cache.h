/* ea_mod_cache.h: the response cache and its change listeners */
#ifndef EA_MOD_CACHE_H
#define EA_MOD_CACHE_H

#include "ea_mod_req.h"

/* ---- response cache (ea_cache.c) ---------------------------------------- */
int ea_cache_post_config(apr_pool_t *pconf, server_rec *s);
/* DBDParams, noted before mod_dbd takes it (servers that share a database). */
void ea_cache_child_init(apr_pool_t *pchild, server_rec *s);
/* 1: a hit, *body and *len hold the stored response (in the request pool)
 * for the caller to send; 0: a miss (rq->cache_key is set when the answer
 * may be stored: ea_cache_store). */
int ea_cache_lookup(ea_req *rq, const char **body, size_t *len);
void ea_cache_store(ea_req *rq, const char *body, size_t len);  /* body: until the request ends */
void ea_cache_invalidate(request_rec *r);      /* after a write through the API */
/* Entries that are not responses (keyset maps), under the responses'
 * generation, where EcoAtlasCache is On: 1 hit (*val in the request pool),
 * 0 miss (store under *gen), -1 no usable cache. */
int ea_cache_aux_get(ea_req *rq, const char *key, char **val, size_t *len, uint64_t *gen);
void ea_cache_aux_put(ea_req *rq, const char *key, uint64_t gen, const char *val, size_t len);
/* The same for an entry cheap to make again (a lookup): evicted like a page. */
void ea_cache_aux_memo(ea_req *rq, const char *key, uint64_t gen, const char *val, size_t len);
/* Claim the making of the auxiliary entry key (generation gen) for at most
 * ms: 1 when this request should make it, 0 when another one claimed it
 * within the last ms, has not released it, and no change happened since. */
int ea_cache_aux_claim(ea_req *rq, const char *key, uint64_t gen, uint64_t ms);
/* A claim given up (the entry could not be made): the next may claim. */
void ea_cache_aux_release(ea_req *rq, const char *key, uint64_t gen);
size_t ea_cache_key_max(void);
/* Credentials: 1 hit (value in out), 0 miss, -1 no usable cache (ask the
 * database, do not store).  *gen is what a miss must be stored under. */
int ea_cache_auth_get(request_rec *r, const char *key, char *out, size_t outsz, size_t *len,
                      uint64_t *gen);
void ea_cache_auth_put(request_rec *r, const char *key, uint64_t gen, const char *val, size_t len);
/* Store under the current generation (entries no change can make stale). */
void ea_cache_auth_put_now(request_rec *r, const char *key, const char *val, size_t len);
void ea_cache_auth_invalidate(request_rec *r);

#endif
