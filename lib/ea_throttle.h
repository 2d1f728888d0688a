/* ea_throttle: a rate-limit table in one shared-memory region, shared by
 * all httpd children (processes x threads).
 *
 * The guarantee: for each key, never more than `limit` admissions in any
 * window of `period_ms` milliseconds (a true sliding window: for admission
 * times a_0 <= a_1 <= ..., always a_{i+limit} - a_i >= period_ms), however
 * many processes and threads call in.  A fresh key may use its whole
 * allowance at once.  Refused calls are not counted (as in DRF's throttles).
 *
 * Each key keeps a ring of `slots` buckets (time stamp, count):
 *   - limit <= slots: one bucket per distinct millisecond, so the ring is an
 *     exact sliding log: a call is admitted iff fewer than `limit`
 *     admissions happened in (at - period, at] (at: see below);
 *   - limit > slots: admissions are grouped per granule of
 *     g = ceil(period / (slots - 1)) ms, a bucket stamped with its latest
 *     admission.  Still never more than `limit` in any window of `period`;
 *     an admission is only forgotten up to g - 1 ms late (so at worst the
 *     window behaves as one of period + g - 1 ms).  E.g. 5000 a day with
 *     the default 29 slots: g = 51.4 minutes; with 64 slots: 22.9 minutes.
 * The proof is in ea_throttle.c.
 *
 * Times come from the caller, in milliseconds from a clock that all
 * processes share and that never steps back: CLOCK_MONOTONIC (below 2^44;
 * not apr_time_now(), which follows the wall clock).
 * A key's decisions use at_ms = the latest time any call for it brought:
 * readings taken just before a call reach the table slightly out of order
 * (threads are preempted between reading the clock and deciding), and
 * deciding on the raw readings would let N + 1 admissions into some
 * windows.  The guarantee is stated on those times, returned in the
 * verdict; at_ms lies between the caller's reading and the moment of the
 * decision.  (Were the clock to step back, a key's window would stand
 * still until the clock caught up: it fails closed.)
 *
 * Memory: a fixed number of entries in groups of 8; a key may live in one
 * of two groups chosen by a SipHash of the key under a secret 16-byte key
 * (16 candidate entries whose hashes fill two cache lines: O(1) work per
 * call, and clients cannot aim at one group).  A new key takes, in this
 * order, a free entry, an idle entry (all its admissions expired), both in
 * the group with fewer live entries, then the least recently used entry of
 * its 16.  Only the last loses history that still mattered, which breaks the
 * guarantee for that key: size the table so that it does not happen.  With
 * all clients inside their window at once, none was evicted up to 76% of
 * the entries in use, 0.013% at 80%, 0.7% at 90%: EA_THROTTLE_ENTRIES_FOR
 * gives 1.25 entries a client.  The stats count evictions.
 *
 * Concurrency: each entry has a spinlock word holding its owner's pid and
 * the low 32 bits of CLOCK_MONOTONIC in ms when taken.  A waiter breaks it
 * when the owner no longer exists (kill(pid, 0) fails with ESRCH: a dead
 * process cannot write any more, so this is always safe), or when it was
 * taken EA_THROTTLE_LOCK_STALE_MS ago (for a pid reused after a crash; the
 * critical section is a few hundred ns of memory operations, no system
 * call).  All writes inside the section are single-word compare-and-swaps
 * from the value read under the lock, ordered so that every prefix leaves a
 * consistent entry (a crash at any point leaves nothing to repair), and an
 * owner whose lock was broken under it (it was frozen for seconds) sees its
 * writes fail or its release fail, and turns its admission into a refusal.
 * Nobody ever waits more than EA_THROTTLE_WAIT_MS: ea_throttle_admit then
 * answers EA_THROTTLE_BUSY.  All processes using a table must share one pid
 * namespace (httpd's children do).
 *
 * Graceful restarts: the region holds offsets only, never pointers; keep it
 * and call ea_throttle_attach, which checks its shape.  Its secret key is
 * kept with it. */
#ifndef EA_THROTTLE_H
#define EA_THROTTLE_H

#include <stddef.h>
#include <stdint.h>

#define EA_THROTTLE_VERSION 1
#define EA_THROTTLE_GROUP 8                      /* entries per group */
#define EA_THROTTLE_SLOTS_MIN 2
#define EA_THROTTLE_SLOTS_MAX 4096
#define EA_THROTTLE_ENTRIES_MAX (1u << 30)
#define EA_THROTTLE_LIMIT_MAX ((1u << 20) - 1)   /* admissions per period */
#define EA_THROTTLE_PERIOD_MAX 0xffffffffULL     /* ms: 49.7 days */
#define EA_THROTTLE_TIME_MAX ((1ULL << 44) - 1)  /* ms: year 2527 as Unix time */
#define EA_THROTTLE_WAIT_MS 250                  /* longest wait for an entry */
#define EA_THROTTLE_LOCK_STALE_MS 2000           /* a lock this old is broken */
#define EA_THROTTLE_SKEW_MS 1000                 /* clock readings this far apart are skew */
/* Sizing: 29 slots make 256-byte entries; 1.25 entries per client active
 * within a period (100,000 clients: 125,000 entries, 33 MB). */
#define EA_THROTTLE_SLOTS_DEFAULT 29
#define EA_THROTTLE_ENTRIES_FOR(clients) ((clients) + (clients) / 4)

/* ea_throttle_admit's answers */
#define EA_THROTTLE_OK 0        /* decided: see the verdict */
#define EA_THROTTLE_BUSY 1      /* the key's entry stayed locked EA_THROTTLE_WAIT_MS */
#define EA_THROTTLE_EINVAL (-1) /* bad arguments */

typedef struct ea_throttle ea_throttle;

typedef struct {
    int admitted;             /* 1: go ahead; 0: refuse (429) */
    unsigned remaining;       /* admissions left now (RateLimit-Remaining) */
    uint64_t reset_ms;        /* until every admission in the window has expired */
    unsigned reset_s;         /* the same in seconds, rounded up (RateLimit-Reset) */
    uint64_t retry_after_ms;  /* refused: until the next admission would be allowed */
    unsigned retry_after_s;   /* the same in seconds, rounded up, >= 1 (Retry-After); 0 if admitted */
    uint64_t at_ms;           /* the time the decision was taken at (>= now_ms) */
} ea_throttle_verdict;

typedef struct {
    uint64_t inserted;        /* keys given a free entry */
    uint64_t reused_idle;     /* keys given an idle entry */
    uint64_t evicted_live;    /* keys given the entry of a key still in its window */
    uint64_t broken_locks;    /* locks broken (owner dead or stale) */
    uint64_t fenced;          /* admissions turned into refusals: lock broken under us */
    uint64_t busy;            /* EA_THROTTLE_BUSY answers */
} ea_throttle_stats;

/* Bytes needed for `entries` entries (rounded up to a multiple of
 * EA_THROTTLE_GROUP) of `slots` buckets; 0 if out of range.  Limits up to
 * `slots` are exact sliding logs.  Each entry takes 8 bytes of hash plus
 * 24 + 8 x slots rounded up to 64 (29 slots: 264 bytes in all). */
size_t ea_throttle_size(unsigned entries, unsigned slots);
/* Lay out a fresh table in mem (8-byte aligned, size bytes); NULL if too
 * small or out of range. */
ea_throttle *ea_throttle_init(void *mem, size_t size, unsigned entries, unsigned slots,
                              const uint8_t key[16]);
/* Reuse a table laid out by ea_throttle_init (in this or another process,
 * at any address): NULL unless magic, version and sizes match and fit in
 * size.  Compare ea_throttle_entries/slots with the configuration. */
ea_throttle *ea_throttle_attach(void *mem, size_t size);
unsigned ea_throttle_entries(const ea_throttle *t);
unsigned ea_throttle_slots(const ea_throttle *t);

/* Count one request for key (klen bytes, any bytes) against `limit` per
 * `period_ms` at time now_ms.  Returns EA_THROTTLE_OK with *v filled,
 * EA_THROTTLE_BUSY (the caller chooses to fail open or closed) or
 * EA_THROTTLE_EINVAL. */
int ea_throttle_admit(ea_throttle *t, const char *key, size_t klen, unsigned limit,
                      uint64_t period_ms, uint64_t now_ms, ea_throttle_verdict *v);

void ea_throttle_stats_get(const ea_throttle *t, ea_throttle_stats *s);

/* Check the table's structure (for tests, when no call is under way): 0
 * when consistent, a negative code naming the first broken invariant. */
int ea_throttle_validate(const ea_throttle *t);

/* ---- for tests and diagnostics ---------------------------------------- */
/* The two groups key may live in. */
void ea_throttle_groups(const ea_throttle *t, const char *key, size_t klen, unsigned *g1,
                        unsigned *g2);
/* Mark the entry of key (which must be in the table) as locked by pid since
 * age_ms ago, as a process dying inside its critical section would leave
 * it.  Returns 0, or -1 if key has no entry or its entry is locked. */
int ea_throttle_test_hold(ea_throttle *t, const char *key, size_t klen, int32_t pid,
                          uint32_t age_ms);

#endif
