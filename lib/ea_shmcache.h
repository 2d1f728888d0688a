/* ea_shmcache: a response cache in one shared-memory region, shared by all
 * httpd children.  No locks: each slot is a seqlock (readers retry nothing,
 * they just miss when a write raced them), so a crashed child can never
 * leave anything held.  Validity follows a per-database generation that a
 * single elected listener bumps whenever PostgreSQL notifies a change; if
 * the listener's heartbeat goes stale, nothing is served from the cache.
 * The region holds offsets only, never pointers.
 *
 * Entries of any size up to entry_max: slots come in size classes (1 KB,
 * 2 KB, 4 KB, ... up to entry_max plus a key), each class an equal share of
 * the region; a SipHash-keyed index of small buckets points to the slot
 * that holds a key.  A new entry replaces, among a few slots of its class
 * under a clock hand, an empty, invalidated or unreachable one (its key's
 * index entry now names a newer copy), else the one read least recently
 * (entries stored as kept count as read later): pages that are read stay. */
#ifndef EA_SHMCACHE_H
#define EA_SHMCACHE_H

#include <stddef.h>
#include <stdint.h>

#define EA_SHMCACHE_DBS 16
#define EA_SHMCACHE_KEY_MAX 1024
#define EA_SHMCACHE_STALE_MS 1000   /* listener heartbeat older than this: bypass */
#define EA_SHMCACHE_TAKEOVER_MS 10000 /* ... and this: another child takes over */
#define EA_SHMCACHE_MIN_CLASS 1024  /* key + body bytes of the smallest slots */

typedef struct ea_shmcache ea_shmcache;

/* Lay out a fresh cache in mem (size bytes) for bodies of at most
 * entry_max bytes; NULL if not even one slot of the smallest class fits.
 * Classes too big for their share of the region get no slot: entries of
 * that size are then not stored. */
ea_shmcache *ea_shmcache_init(void *mem, size_t size, size_t entry_max, const uint8_t hashkey[16]);
unsigned ea_shmcache_nslots(const ea_shmcache *c);        /* all classes */
size_t ea_shmcache_body_max(const ea_shmcache *c);        /* entry_max */
/* The largest body that can be stored (0: none), given the slots. */
size_t ea_shmcache_storable_max(const ea_shmcache *c);
unsigned ea_shmcache_nclasses(const ea_shmcache *c);
/* Class i: key + body bytes of its slots and how many there are. */
void ea_shmcache_class(const ea_shmcache *c, unsigned i, size_t *cap, unsigned *nslots);

/* The clock every *_ms argument below is read from: CLOCK_MONOTONIC, the
 * same in every process of the host and never stepped by a clock change. */
uint64_t ea_shmcache_now_ms(void);

/* ---- generations and the listener election (db < EA_SHMCACHE_DBS) ---- */
uint64_t ea_shmcache_generation(ea_shmcache *c, int db);
void ea_shmcache_bump(ea_shmcache *c, int db);
/* Is the listener of db alive (heartbeat fresh)? */
int ea_shmcache_healthy(ea_shmcache *c, int db, uint64_t now_ms);
/* Called by every candidate's loop: returns 1 when pid leads db, 0
 * otherwise.  A leader silent for EA_SHMCACHE_STALE_MS is taken over when
 * its process is gone; a live one only after EA_SHMCACHE_TAKEOVER_MS, so
 * that a listener thread starved of CPU for a while catches up with the
 * notifications waiting on its connection instead of being replaced (a new
 * leader must forget every entry: it cannot know what it did not hear). */
int ea_shmcache_lead(ea_shmcache *c, int db, int32_t pid, uint64_t now_ms);
/* The leader, while its LISTEN connection is healthy: every notification
 * delivered before now_ms has been acted upon. */
void ea_shmcache_heartbeat(ea_shmcache *c, int db, int32_t pid, uint64_t now_ms);
/* The leader has just started listening (its first heartbeat): counted,
 * per database, for the operator (a start empties the cache). */
void ea_shmcache_listening(ea_shmcache *c, int db, int32_t pid, uint64_t now_ms);
/* The process leading db (0: none) and, when listens is not NULL, how many
 * times a leader started listening since the region was made. */
int32_t ea_shmcache_leader(ea_shmcache *c, int db, uint64_t *listens);
/* The leader gives up (connection lost, child exiting). */
void ea_shmcache_resign(ea_shmcache *c, int db, int32_t pid);

/* ---- entries ------------------------------------------------------------ */
/* Copy the body stored for key into out (capacity cap) when it was stored
 * under generation gen of db within max_age_ms and fits.  Returns 1 and
 * sets *len on a hit, 0 on a miss. */
int ea_shmcache_get(ea_shmcache *c, int db, uint64_t gen, const char *key, size_t klen,
                    uint64_t now_ms, uint64_t max_age_ms, char *out, size_t cap, size_t *len);
/* The same into memory of the body's exact size from alloc(ctx, len)
 * (what a raced read allocated stays with the allocator's owner). */
typedef void *(*ea_shmcache_alloc_fn)(void *ctx, size_t len);
int ea_shmcache_get_alloc(ea_shmcache *c, int db, uint64_t gen, const char *key, size_t klen,
                          uint64_t now_ms, uint64_t max_age_ms, ea_shmcache_alloc_fn alloc,
                          void *ctx, char **out, size_t *len);
/* Store body under key; skipped (returns 0) when too big or when other
 * writers hold every candidate slot.  Returns 1 when stored, 2 when stored
 * in place of another key's live entry (an eviction, for the metrics). */
int ea_shmcache_put(ea_shmcache *c, int db, uint64_t gen, const char *key, size_t klen,
                    const char *body, size_t len, uint64_t now_ms);
/* The same for an entry that costs much more to make again than a page (a
 * scan of a whole set): eviction counts it as read keep_ms later than it
 * was, so that it gives way only to entries read that much more recently. */
int ea_shmcache_put_kept(ea_shmcache *c, int db, uint64_t gen, const char *key, size_t klen,
                         const char *body, size_t len, uint64_t now_ms, uint32_t keep_ms);

/* Check the region's structure (for tests): 0 when consistent. */
int ea_shmcache_validate(const ea_shmcache *c);

#endif
