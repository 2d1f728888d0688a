/* ea_throttle: see ea_throttle.h.
 *
 * Layout: a header; the hashes of all entries (8 bytes each, so that a
 * group's fill one cache line); then the entries, entry_size bytes each (a
 * multiple of 64); all found by offsets.  hash[i] is the SipHash of entry
 * i's key (never 0), 0 for an entry never used.  An entry:
 *   lock     0, or owner pid << 32 | low 32 bits of its CLOCK_MONOTONIC ms
 *   ring     period_ms << 32 | head << 16 | len: the live part of bucket[]
 *            is bucket[head], ..., bucket[(head + len - 1) % slots], oldest
 *            first; period_ms is the one of the last call (for idleness)
 *   seen_ms  the latest time a call for this key brought (never decreases
 *            while the key holds the entry); also the LRU clock
 *   bucket[slots]  stamp << 20 | count: `count` admissions, the latest at
 *            `stamp` ms
 *
 * The decision for a call at time now with (limit N, period P), made under
 * the entry's lock:
 *   at = max(now, seen_ms); seen_ms = at
 *   pop the oldest buckets while stamp + P <= at (they left the window)
 *   live = sum of the remaining counts
 *   live >= N: refuse; the wait is stamp + P - at for the bucket whose
 *     expiry brings live below N (>= 1 since it is still live)
 *   live < N: admit, recorded at `at`: added to the newest bucket when it is
 *     in the same granule (at / g == stamp / g; g = 1 when N <= slots) or
 *     already stamped at (stamp >= at), its stamp becoming max(stamp, at);
 *     otherwise in a new bucket (at, 1); if the ring is full, added to the
 *     newest bucket all the same (stamp = at).
 *
 * Why no key ever gets more than N admissions in a window of P (fixed N, P):
 *   (a) Calls for a key are serialised by its entry's lock, and their `at`
 *       never decreases in that order (seen_ms only grows).
 *   (b) Every admission at time a is counted in exactly one bucket whose
 *       stamp s >= a: a new bucket gets s = a, a merge sets s = max(s, a),
 *       nothing lowers a stamp.
 *   (c) A bucket leaves the ring only when a call at time `at` sees
 *       s + P <= at.
 *   Suppose admissions x_0, ..., x_N (in lock order, hence at times
 *   a_0 <= ... <= a_N by (a)) with a_N - a_0 < P.  When x_N was decided,
 *   each x_i (i < N) sat in a bucket with s >= a_i >= a_0 > a_N - P by (b).
 *   That bucket was not popped before: an earlier call at time at' <= a_N
 *   would have needed s <= at' - P <= a_N - P.  Nor by x_N's own call, for
 *   the same reason.  So x_N's call counted live >= N and refused: a
 *   contradiction.
 *   With N <= slots nothing is ever merged but admissions of the same
 *   millisecond, so the ring is the exact log and the decision is exactly
 *   "fewer than N admissions in (at - P, at]".
 *   With N > slots the ring never fills (so the fallback merge, which is
 *   only conservative, is not used): before a push at time at, the live
 *   buckets hold distinct granules k < at / g with (k + 1) g - 1 >= s > at - P,
 *   at most floor((P - 1) / g) + 1 <= slots - 1 of them as P / g <= slots - 1.
 *   A bucket's stamp lies in its granule, so an admission is counted at most
 *   g - 1 ms longer than P.
 *   A change of N or P for a key applies the new values to its recorded
 *   history (a lower N takes effect at once).
 *   (d) Across entries: a key's history is dropped only when its entry is
 *   given to another key.  Either the entry was idle at the claimer's time
 *   j (every bucket had s + P <= j), and the key, coming back, starts at
 *   max(its reading, j) (claim_ms; readings more than EA_THROTTLE_SKEW_MS
 *   behind are taken as a clock of their own), so the dropped admissions
 *   are out of its windows for good; or it was the least recently used of
 *   16 live entries: the one case not covered, counted in evicted_live.
 *
 * Locks (see ea_throttle.h for when one is broken): each write inside the
 * critical section is a single-word CAS from the value read under the
 * lock, in an order where every prefix leaves a consistent entry: a new
 * bucket is written beyond the ring before `ring` takes it in; a merge is
 * one word; pops and the push are one store of `ring`.  If an owner was
 * frozen for EA_THROTTLE_LOCK_STALE_MS and its lock broken, its CAS fail
 * as soon as the new owner changed what it read, and its release fails in
 * any case: then it reports a refusal, so it never admits on a state that
 * another writer moved under it.
 *
 * Placement: key hash h; groups g1 = (uint32)h % ngroups and
 * g2 = (h >> 32) % ngroups (the next group when equal); the key lives in
 * one of their 16 entries.  A key is inserted only while its inserter holds
 * the lock of entry g1 * GROUP (its "home"), so two threads never insert
 * the same key twice: the second one finds the first one's entry when it
 * scans again under that lock.  The inserter takes the victim's lock with
 * a try-lock only (it never waits while holding a lock, so no deadlock). */
#include "ea_throttle.h"
#include "ea_siphash.h"

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#define MAGIC 0x45415448u  /* "EATH" */
#define ALIGN64(n) (((n) + 63) & ~(size_t)63)
#define GROUP EA_THROTTLE_GROUP
#define CANDIDATES (2 * GROUP)
#define CNT_BITS 20
#define CNT_MAX ((1u << CNT_BITS) - 1)

typedef struct {
    uint64_t lock;
    uint64_t ring;
    uint64_t seen_ms;
    uint64_t bucket[];
} entry;

struct ea_throttle {
    uint32_t magic;
    uint32_t version;
    uint32_t nentries;
    uint32_t slots;
    uint64_t entry_size;
    uint64_t entries_off;
    uint64_t total_size;
    uint8_t hashkey[16];
    uint64_t hashes_off;
    /* from byte 64: statistics, on their own cache line; rare events only */
    uint64_t inserted;
    uint64_t reused_idle;
    uint64_t evicted_live;
    uint64_t broken_locks;
    uint64_t fenced;
    uint64_t busy;
    uint64_t claim_ms;   /* the latest time an entry was given to a key */
    uint64_t pad2;
};

_Static_assert(offsetof(struct ea_throttle, inserted) == 64, "statistics on a cache line of their own");
_Static_assert(sizeof(entry) == 24, "entry header");

/* ---- small helpers -------------------------------------------------------- */

static uint64_t bk(uint64_t stamp, uint32_t count)
{
    return stamp << CNT_BITS | count;
}

static uint64_t bk_stamp(uint64_t b)
{
    return b >> CNT_BITS;
}

static uint32_t bk_count(uint64_t b)
{
    return (uint32_t)(b & CNT_MAX);
}

static uint64_t ring_pack(uint64_t period, unsigned head, unsigned len)
{
    return period << 32 | (uint64_t)head << 16 | len;
}

static uint64_t ring_period(uint64_t r)
{
    return r >> 32;
}

static unsigned ring_head(uint64_t r, unsigned slots)
{
    return (unsigned)((r >> 16) & 0xffff) % slots;
}

static unsigned ring_len(uint64_t r, unsigned slots)
{
    unsigned len = (unsigned)(r & 0xffff);
    return len > slots ? slots : len;
}

static uint64_t ld(const uint64_t *p)
{
    return __atomic_load_n(p, __ATOMIC_RELAXED);
}

/* A write inside the critical section: succeeds unless someone changed the
 * word since we read it (only possible when our lock was broken). */
static int cas(uint64_t *p, uint64_t old, uint64_t val)
{
    if (old == val)
        return __atomic_load_n(p, __ATOMIC_RELAXED) == old;
    return __atomic_compare_exchange_n(p, &old, val, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED);
}

/* *p = max(*p, v); returns the new value. */
static uint64_t fetch_max(uint64_t *p, uint64_t v)
{
    uint64_t cur = __atomic_load_n(p, __ATOMIC_RELAXED);
    while (cur < v && !__atomic_compare_exchange_n(p, &cur, v, 0, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
        ;
    return cur < v ? v : cur;
}

static void count_event(uint64_t *counter)
{
    __atomic_add_fetch(counter, 1, __ATOMIC_RELAXED);
}

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

static size_t entry_size_for(unsigned slots)
{
    return ALIGN64(sizeof(entry) + (size_t)slots * sizeof(uint64_t));
}

static entry *entry_at(const ea_throttle *t, unsigned i)
{
    return (entry *)((char *)t + t->entries_off + (size_t)i * t->entry_size);
}

/* The hash of entry i: a group's 8 hashes share one cache line. */
static uint64_t *hash_at(const ea_throttle *t, unsigned i)
{
    return (uint64_t *)((char *)t + t->hashes_off) + i;
}

static uint64_t key_hash(const ea_throttle *t, const char *key, size_t klen)
{
    uint64_t h = ea_siphash24(t->hashkey, key, klen);
    return h ? h : 1;   /* 0 marks a free entry */
}

static void groups_of(const ea_throttle *t, uint64_t h, unsigned *g1, unsigned *g2)
{
    unsigned ng = t->nentries / GROUP;
    *g1 = (unsigned)((uint32_t)h % ng);
    *g2 = (unsigned)((h >> 32) % ng);
    if (*g2 == *g1)
        *g2 = (*g1 + 1) % ng;   /* == g1 only when there is one group */
}

/* The candidate entries of h: the 8 of g1, then the 8 of g2 (fewer when
 * the table has a single group).  Returns how many. */
static unsigned candidates(const ea_throttle *t, uint64_t h, unsigned idx[CANDIDATES])
{
    unsigned g1, g2, n = 0;
    groups_of(t, h, &g1, &g2);
    for (unsigned k = 0; k < GROUP; k++)
        idx[n++] = g1 * GROUP + k;
    if (g2 != g1)
        for (unsigned k = 0; k < GROUP; k++)
            idx[n++] = g2 * GROUP + k;
    return n;
}

/* ---- sizing, layout, attaching ------------------------------------------- */

static unsigned round_entries(unsigned entries)
{
    return (entries + GROUP - 1) / GROUP * GROUP;
}

size_t ea_throttle_size(unsigned entries, unsigned slots)
{
    if (entries == 0 || entries > EA_THROTTLE_ENTRIES_MAX || slots < EA_THROTTLE_SLOTS_MIN
        || slots > EA_THROTTLE_SLOTS_MAX)
        return 0;
    size_t n = round_entries(entries);
    if (n > (SIZE_MAX - 4096) / (entry_size_for(slots) + sizeof(uint64_t)))
        return 0;
    return ALIGN64(sizeof(ea_throttle)) + ALIGN64(n * sizeof(uint64_t)) + n * entry_size_for(slots);
}

ea_throttle *ea_throttle_init(void *mem, size_t size, unsigned entries, unsigned slots,
                              const uint8_t key[16])
{
    size_t need = ea_throttle_size(entries, slots);
    if (!mem || ((uintptr_t)mem & 7) || need == 0 || size < need)
        return NULL;
    memset(mem, 0, need);
    ea_throttle *t = mem;
    t->version = EA_THROTTLE_VERSION;
    t->nentries = round_entries(entries);
    t->slots = slots;
    t->entry_size = entry_size_for(slots);
    t->hashes_off = ALIGN64(sizeof(ea_throttle));
    t->entries_off = t->hashes_off + ALIGN64((size_t)t->nentries * sizeof(uint64_t));
    t->total_size = need;
    memcpy(t->hashkey, key, 16);
    __atomic_store_n(&t->magic, MAGIC, __ATOMIC_RELEASE);
    return t;
}

static int shape_ok(const ea_throttle *t)
{
    return t->magic == MAGIC && t->version == EA_THROTTLE_VERSION && t->nentries > 0
           && t->nentries % GROUP == 0 && t->slots >= EA_THROTTLE_SLOTS_MIN
           && t->slots <= EA_THROTTLE_SLOTS_MAX && t->entry_size == entry_size_for(t->slots)
           && t->hashes_off == ALIGN64(sizeof(ea_throttle))
           && t->entries_off == t->hashes_off + ALIGN64((size_t)t->nentries * sizeof(uint64_t))
           && t->total_size == ea_throttle_size(t->nentries, t->slots);
}

ea_throttle *ea_throttle_attach(void *mem, size_t size)
{
    if (!mem || ((uintptr_t)mem & 7) || size < sizeof(ea_throttle))
        return NULL;
    ea_throttle *t = mem;
    if (__atomic_load_n(&t->magic, __ATOMIC_ACQUIRE) != MAGIC || !shape_ok(t) || t->total_size > size)
        return NULL;
    return t;
}

unsigned ea_throttle_entries(const ea_throttle *t)
{
    return t->nentries;
}

unsigned ea_throttle_slots(const ea_throttle *t)
{
    return t->slots;
}

void ea_throttle_groups(const ea_throttle *t, const char *key, size_t klen, unsigned *g1,
                        unsigned *g2)
{
    groups_of(t, key_hash(t, key, klen), g1, g2);
}

void ea_throttle_stats_get(const ea_throttle *t, ea_throttle_stats *s)
{
    s->inserted = ld(&t->inserted);
    s->reused_idle = ld(&t->reused_idle);
    s->evicted_live = ld(&t->evicted_live);
    s->broken_locks = ld(&t->broken_locks);
    s->fenced = ld(&t->fenced);
    s->busy = ld(&t->busy);
}

/* ---- entry locks ------------------------------------------------------------ */

enum { LOCK_BUSY = 0, LOCK_GOT = 1 };

static uint64_t lock_word(void)
{
    return (uint64_t)(uint32_t)getpid() << 32 | (uint32_t)mono_ms();
}

/* May the lock word w be taken from its owner?  Yes when its owner process
 * is gone, or when it was taken EA_THROTTLE_LOCK_STALE_MS ago. */
static int breakable(uint64_t w)
{
    uint32_t age = (uint32_t)mono_ms() - (uint32_t)w;
    if (age >= EA_THROTTLE_LOCK_STALE_MS && age < 0x80000000u)
        return 1;
    pid_t pid = (pid_t)(int32_t)(uint32_t)(w >> 32);
    if (pid <= 0)
        return 1;   /* no lock we would write: never kill(0 or -1, ...) */
    int saved = errno, gone = kill(pid, 0) == -1 && errno == ESRCH;
    errno = saved;
    return gone;
}

/* Take e's lock; *mine receives the word to release it with.  With wait,
 * spin then yield until *deadline (mono ms, set on first need); without,
 * give up at once unless the holder is gone. */
static int lock_entry(ea_throttle *t, entry *e, uint64_t *mine, int wait, uint64_t *deadline)
{
    for (unsigned spins = 0;; spins++) {
        uint64_t cur = __atomic_load_n(&e->lock, __ATOMIC_RELAXED);
        if (cur == 0) {
            uint64_t me = lock_word();
            if (__atomic_compare_exchange_n(&e->lock, &cur, me, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) {
                *mine = me;
                return LOCK_GOT;
            }
            continue;
        }
        /* A lock held this long is worth checking (a kill() each time). */
        if ((spins == 0 && !wait) || (spins % 128) == 127) {
            if (breakable(cur)) {
                uint64_t me = lock_word();
                if (__atomic_compare_exchange_n(&e->lock, &cur, me, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) {
                    count_event(&t->broken_locks);
                    *mine = me;
                    return LOCK_GOT;
                }
                continue;
            }
        }
        if (!wait)
            return LOCK_BUSY;
        if (spins < 64) {
            cpu_relax();
        } else {
            if (*deadline == 0)
                *deadline = mono_ms() + EA_THROTTLE_WAIT_MS;
            else if ((spins % 16) == 0 && mono_ms() >= *deadline)
                return LOCK_BUSY;
            sched_yield();
        }
    }
}

/* Release; 0 when the lock was no longer ours (broken under us). */
static int unlock_entry(entry *e, uint64_t mine)
{
    uint64_t expect = mine;
    return __atomic_compare_exchange_n(&e->lock, &expect, 0, 0, __ATOMIC_RELEASE, __ATOMIC_RELAXED);
}

/* ---- the decision ------------------------------------------------------------ */

static unsigned ceil_s(uint64_t ms)
{
    uint64_t s = (ms + 999) / 1000;
    return s > 0xffffffffu ? 0xffffffffu : (unsigned)s;
}

/* Is e idle at `now` (no admission still in its window)?  Racy reads are
 * fine for a hint; callers holding e's lock get the truth. */
static int entry_idle(const ea_throttle *t, entry *e, uint64_t now)
{
    uint64_t r = ld(&e->ring), seen = ld(&e->seen_ms);
    unsigned len = ring_len(r, t->slots);
    if (len == 0)
        return 1;
    uint64_t newest = ld(&e->bucket[(ring_head(r, t->slots) + len - 1) % t->slots]);
    return bk_stamp(newest) + ring_period(r) <= (now > seen ? now : seen);
}

/* Decide for the locked entry e and fill v.  Returns 0 when every write
 * took effect, -1 when one failed (our lock was broken). */
static int decide(const ea_throttle *t, entry *e, unsigned limit, uint64_t period, uint64_t now,
                  ea_throttle_verdict *v)
{
    unsigned S = t->slots;
    int ok = 1;
    uint64_t seen = ld(&e->seen_ms);
    uint64_t at = now > seen ? now : seen;
    if (now > seen)
        ok &= cas(&e->seen_ms, seen, now);

    uint64_t r = ld(&e->ring);
    unsigned head = ring_head(r, S), len = ring_len(r, S);
    while (len > 0 && bk_stamp(ld(&e->bucket[head])) + period <= at) {
        head = (head + 1) % S;
        len--;
    }
    uint64_t live = 0;
    for (unsigned k = 0; k < len; k++)
        live += bk_count(ld(&e->bucket[(head + k) % S]));

    memset(v, 0, sizeof(*v));
    v->at_ms = at;
    if (live < limit) {
        uint64_t g = limit <= S ? 1 : (period + S - 2) / (S - 1);
        unsigned ni = (head + len + S - 1) % S;
        uint64_t nb = len ? ld(&e->bucket[ni]) : 0, ns = bk_stamp(nb);
        if (len > 0 && (ns >= at || ns / g == at / g || len == S)) {
            uint32_t c = bk_count(nb);
            ok &= cas(&e->bucket[ni], nb, bk(ns > at ? ns : at, c < CNT_MAX ? c + 1 : c));
        } else {
            unsigned pos = (head + len) % S;
            ok &= cas(&e->bucket[pos], ld(&e->bucket[pos]), bk(at, 1));
            len++;
        }
        ok &= cas(&e->ring, r, ring_pack(period, head, len));
        live++;
        v->admitted = 1;
        v->remaining = (unsigned)(limit - live);
        v->reset_ms = period;   /* the newest admission is now */
    } else {
        /* The wait until enough of the oldest buckets leave the window. */
        uint64_t drop = live - limit + 1, acc = 0, wait = 1;
        for (unsigned k = 0; k < len; k++) {
            uint64_t b = ld(&e->bucket[(head + k) % S]);
            acc += bk_count(b);
            if (acc >= drop) {
                wait = bk_stamp(b) + period - at;
                break;
            }
        }
        uint64_t newest = ld(&e->bucket[(head + len - 1) % S]);
        /* Housekeeping only: forget what left the window. */
        ok &= cas(&e->ring, r, ring_pack(period, head, len));
        v->admitted = 0;
        v->remaining = 0;
        v->retry_after_ms = wait ? wait : 1;
        v->retry_after_s = ceil_s(v->retry_after_ms);
        v->reset_ms = bk_stamp(newest) + period - at;
    }
    v->reset_s = ceil_s(v->reset_ms);
    return ok ? 0 : -1;
}

/* Refuse because our lock was broken under us (we were frozen for
 * seconds): we cannot tell whether admitting would be right. */
static int fenced_refusal(ea_throttle *t, ea_throttle_verdict *v, uint64_t now)
{
    count_event(&t->fenced);
    memset(v, 0, sizeof(*v));
    v->retry_after_ms = 1000;
    v->retry_after_s = 1;
    v->at_ms = now;
    return EA_THROTTLE_OK;
}

static int decide_and_unlock(ea_throttle *t, entry *e, uint64_t mine, unsigned limit,
                             uint64_t period, uint64_t now, ea_throttle_verdict *v)
{
    int fenced = decide(t, e, limit, period, now, v) != 0;
    fenced |= !unlock_entry(e, mine);
    if (fenced && v->admitted)
        return fenced_refusal(t, v, v->at_ms);
    return EA_THROTTLE_OK;
}

/* ---- finding and placing keys ---------------------------------------------- */

static int find(const ea_throttle *t, uint64_t h, const unsigned idx[], unsigned n)
{
    for (unsigned k = 0; k < n; k++)
        if (__atomic_load_n(hash_at(t, idx[k]), __ATOMIC_ACQUIRE) == h)
            return (int)idx[k];
    return -1;
}

/* How good a victim entry i is for a new key at now: lower is better.
 * Free, then idle (both in the group with fewer live entries), then the
 * least recently seen. */
static uint64_t victim_class(const ea_throttle *t, unsigned i, uint64_t now)
{
    if (ld(hash_at(t, i)) == 0)
        return 0;
    return entry_idle(t, entry_at(t, i), now) ? 1 : 2;
}

/* With the home lock held and h absent, pick and lock a victim among the
 * candidates and place h in it.  Returns the victim's index (its lock in
 * *vmine unless it is the home entry), or -1 if every candidate was locked. */
static int place(ea_throttle *t, uint64_t h, const unsigned idx[], unsigned n, unsigned home,
                 uint64_t period, uint64_t now, uint64_t *vmine)
{
    uint64_t cls[CANDIDATES], seen[CANDIDATES];
    unsigned live_in[2] = { 0, 0 }, order[CANDIDATES];
    for (unsigned k = 0; k < n; k++) {
        cls[k] = victim_class(t, idx[k], now);
        seen[k] = ld(&entry_at(t, idx[k])->seen_ms);
        live_in[k / GROUP] += cls[k] == 2;
        order[k] = k;
    }
    /* Sort the (at most 16) candidates by preference. */
    for (unsigned a = 1; a < n; a++) {
        for (unsigned b = a; b > 0; b--) {
            unsigned x = order[b - 1], y = order[b];
            uint64_t kx = cls[x] << 8 | (cls[x] < 2 ? live_in[x / GROUP] : 0);
            uint64_t ky = cls[y] << 8 | (cls[y] < 2 ? live_in[y / GROUP] : 0);
            if (kx < ky || (kx == ky && (cls[x] < 2 || seen[x] <= seen[y])))
                break;
            order[b - 1] = y;
            order[b] = x;
        }
    }
    for (unsigned o = 0; o < n; o++) {
        unsigned k = order[o], i = idx[k];
        entry *e = entry_at(t, i);
        uint64_t mine = 0, none = 0;
        if (i != home && lock_entry(t, e, &mine, 0, &none) != LOCK_GOT)
            continue;
        uint64_t c = victim_class(t, i, now);   /* now under its lock */
        if (c > cls[k]) {
            if (i != home)
                unlock_entry(e, mine);
            continue;
        }
        uint64_t *hp = hash_at(t, i), oldh = ld(hp), r = ld(&e->ring), s = ld(&e->seen_ms);
        /* A key whose idle entry went to another key may come back with a
         * clock reading taken a little before the one that judged it idle:
         * its new entry starts at the latest such time, so that its
         * forgotten admissions are out of the window for it too. */
        uint64_t floor = fetch_max(&t->claim_ms, now > s ? now : s);   /* the time idleness was judged at */
        uint64_t start = floor > now && floor - now <= EA_THROTTLE_SKEW_MS ? floor : now;
        /* Key first (a crash now leaves the new key the old history: it
         * only counts more), then an empty ring. */
        if (!__atomic_compare_exchange_n(hp, &oldh, h, 0, __ATOMIC_RELEASE, __ATOMIC_RELAXED)) {
            if (i != home)
                unlock_entry(e, mine);
            continue;
        }
        if (!cas(&e->ring, r, ring_pack(period, 0, 0)) || !cas(&e->seen_ms, s, start)) {
            if (i != home)
                unlock_entry(e, mine);
            return -2;   /* our lock was broken under us */
        }
        count_event(c == 0 ? &t->inserted : c == 1 ? &t->reused_idle : &t->evicted_live);
        *vmine = mine;
        return (int)i;
    }
    return -1;
}


int ea_throttle_admit(ea_throttle *t, const char *key, size_t klen, unsigned limit,
                      uint64_t period_ms, uint64_t now_ms, ea_throttle_verdict *v)
{
    if (!t || !v || (!key && klen) || limit == 0 || limit > EA_THROTTLE_LIMIT_MAX
        || period_ms == 0 || period_ms > EA_THROTTLE_PERIOD_MAX || now_ms > EA_THROTTLE_TIME_MAX)
        return EA_THROTTLE_EINVAL;
    uint64_t h = key_hash(t, key ? key : "", klen);
    unsigned idx[CANDIDATES], n = candidates(t, h, idx), home = idx[0];
    uint64_t deadline = 0, mine, hmine;

    for (;;) {
        int i = find(t, h, idx, n);
        if (i >= 0) {
            entry *e = entry_at(t, (unsigned)i);
            if (lock_entry(t, e, &mine, 1, &deadline) != LOCK_GOT)
                break;
            if (ld(hash_at(t, (unsigned)i)) == h)
                return decide_and_unlock(t, e, mine, limit, period_ms, now_ms, v);
            unlock_entry(e, mine);   /* evicted meanwhile: look again */
            continue;
        }
        /* Not there: insert it, under the home entry's lock. */
        entry *he = entry_at(t, home);
        if (lock_entry(t, he, &hmine, 1, &deadline) != LOCK_GOT)
            break;
        i = find(t, h, idx, n);
        if (i >= 0) {
            if ((unsigned)i == home)
                return decide_and_unlock(t, he, hmine, limit, period_ms, now_ms, v);
            unlock_entry(he, hmine);
            continue;
        }
        uint64_t vmine = 0;
        i = place(t, h, idx, n, home, period_ms, now_ms, &vmine);
        if (i == -2) {
            unlock_entry(he, hmine);
            return fenced_refusal(t, v, now_ms);
        }
        if (i < 0) {
            unlock_entry(he, hmine);
            if (deadline == 0)
                deadline = mono_ms() + EA_THROTTLE_WAIT_MS;
            else if (mono_ms() >= deadline)
                break;
            sched_yield();
            continue;
        }
        if ((unsigned)i == home)
            return decide_and_unlock(t, he, hmine, limit, period_ms, now_ms, v);
        if (!unlock_entry(he, hmine)) {
            /* Our home lock was broken while we placed the key: another
             * thread may have placed it too.  Give this entry back. */
            entry *ve = entry_at(t, (unsigned)i);
            uint64_t seen = ld(&ve->seen_ms);
            if (cas(&ve->ring, ring_pack(period_ms, 0, 0), 0) && cas(&ve->seen_ms, seen, 0))
                cas(hash_at(t, (unsigned)i), h, 0);
            unlock_entry(ve, vmine);
            return fenced_refusal(t, v, now_ms);
        }
        return decide_and_unlock(t, entry_at(t, (unsigned)i), vmine, limit, period_ms, now_ms, v);
    }
    count_event(&t->busy);
    memset(v, 0, sizeof(*v));
    return EA_THROTTLE_BUSY;
}

/* ---- tests and diagnostics ------------------------------------------------- */

int ea_throttle_test_hold(ea_throttle *t, const char *key, size_t klen, int32_t pid,
                          uint32_t age_ms)
{
    uint64_t h = key_hash(t, key, klen);
    unsigned idx[CANDIDATES], n = candidates(t, h, idx);
    int i = find(t, h, idx, n);
    if (i < 0)
        return -1;
    uint64_t w = (uint64_t)(uint32_t)pid << 32 | (uint32_t)(mono_ms() - age_ms), zero = 0;
    return __atomic_compare_exchange_n(&entry_at(t, (unsigned)i)->lock, &zero, w, 0,
                                       __ATOMIC_ACQ_REL, __ATOMIC_RELAXED) ? 0 : -1;
}

int ea_throttle_validate(const ea_throttle *t)
{
    if (!shape_ok(t))
        return -1;
    unsigned S = t->slots;
    for (unsigned i = 0; i < t->nentries; i++) {
        entry *e = entry_at(t, i);
        uint64_t h = ld(hash_at(t, i)), r = ld(&e->ring), seen = ld(&e->seen_ms);
        if (h == 0) {
            if (r != 0 || seen != 0)
                return -2;   /* a free entry with contents */
            continue;
        }
        unsigned idx[CANDIDATES], n = candidates(t, h, idx), mine = 0;
        for (unsigned k = 0; k < n; k++) {
            if (idx[k] == i)
                mine++;
            else if (ld(hash_at(t, idx[k])) == h)
                return -3;   /* the same key twice */
        }
        if (mine != 1)
            return -4;   /* outside its two groups */
        if (((r >> 16) & 0xffff) >= S || (r & 0xffff) > S)
            return -5;   /* ring indices out of range */
        unsigned head = ring_head(r, S), len = ring_len(r, S);
        if (len > 0 && ring_period(r) == 0)
            return -6;
        uint64_t prev = 0;
        for (unsigned k = 0; k < len; k++) {
            uint64_t b = ld(&e->bucket[(head + k) % S]);
            if (bk_count(b) == 0)
                return -7;   /* an empty bucket in the ring */
            if (bk_stamp(b) < prev)
                return -8;   /* stamps out of order */
            if (bk_stamp(b) > seen)
                return -9;   /* an admission later than the key was seen */
            prev = bk_stamp(b);
        }
    }
    return 0;
}
