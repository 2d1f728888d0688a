/* ea_shmcache: a response cache in one shared-memory region, shared by all
 * httpd children.  No locks: each slot is a seqlock (readers retry nothing,
 * they just miss when a write raced them), so a crashed child can never
 * leave anything held.  Validity follows a per-database generation that a
 * single elected listener bumps whenever PostgreSQL notifies a change; if
 * the listener's heartbeat goes stale, nothing is served from the cache.
 * The region holds offsets only, never pointers. */
#ifndef EA_SHMCACHE_H
#define EA_SHMCACHE_H

#include <stddef.h>
#include <stdint.h>

#define EA_SHMCACHE_DBS 16
#define EA_SHMCACHE_KEY_MAX 1024
#define EA_SHMCACHE_STALE_MS 1000   /* listener heartbeat older than this: bypass */

typedef struct ea_shmcache ea_shmcache;

/* Bytes needed for nslots slots of body_max bytes each. */
size_t ea_shmcache_size(unsigned nslots, size_t body_max);
/* Lay out a fresh cache in mem (size bytes); returns NULL if too small. */
ea_shmcache *ea_shmcache_init(void *mem, size_t size, size_t body_max, const uint8_t hashkey[16]);
unsigned ea_shmcache_nslots(const ea_shmcache *c);
size_t ea_shmcache_body_max(const ea_shmcache *c);

/* ---- generations and the listener election (db < EA_SHMCACHE_DBS) ---- */
uint64_t ea_shmcache_generation(ea_shmcache *c, int db);
void ea_shmcache_bump(ea_shmcache *c, int db);
/* Is the listener of db alive (heartbeat fresh)? */
int ea_shmcache_healthy(ea_shmcache *c, int db, uint64_t now_ms);
/* Called by every candidate's loop: returns 1 when pid leads db (taking
 * over a leader whose heartbeat is stale), 0 otherwise. */
int ea_shmcache_lead(ea_shmcache *c, int db, int32_t pid, uint64_t now_ms);
/* The leader, while its LISTEN connection is healthy. */
void ea_shmcache_heartbeat(ea_shmcache *c, int db, int32_t pid, uint64_t now_ms);
/* The leader gives up (connection lost, child exiting). */
void ea_shmcache_resign(ea_shmcache *c, int db, int32_t pid);

/* ---- entries ------------------------------------------------------------ */
/* Copy the body stored for key into out (capacity ea_shmcache_body_max)
 * when it was stored under generation gen of db within max_age_ms.
 * Returns 1 and sets *len on a hit, 0 on a miss. */
int ea_shmcache_get(ea_shmcache *c, int db, uint64_t gen, const char *key, size_t klen,
                    uint64_t now_ms, uint64_t max_age_ms, char *out, size_t *len);
/* Store body under key; skipped (returns 0) when too big or when another
 * writer holds the slot.  Returns 1 when stored, 2 when stored in place of
 * another key's entry (an eviction, for the metrics). */
int ea_shmcache_put(ea_shmcache *c, int db, uint64_t gen, const char *key, size_t klen,
                    const char *body, size_t len, uint64_t now_ms);

/* Check the region's structure (for tests): 0 when consistent. */
int ea_shmcache_validate(const ea_shmcache *c);

#endif
