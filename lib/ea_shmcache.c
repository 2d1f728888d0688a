/* ea_shmcache: see ea_shmcache.h. */
#include "ea_shmcache.h"
#include "ea_siphash.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <time.h>

#define MAGIC 0x45414332u  /* "EAC2" */
#define ALIGN64(n) (((n) + 63) & ~(size_t)63)
#define WRITER_TIMEOUT_MS 5000  /* a write older than this was a crashed writer */

typedef struct {
    uint64_t generation;
    uint64_t heartbeat_ms;     /* last time the leader was listening */
    uint64_t claimed_ms;       /* when the current leader took over */
    uint64_t listens;          /* times a leader started listening */
    int32_t leader;
    int32_t pad;
    uint64_t pad2[3];          /* one cache line per database */
} db_state;
_Static_assert(sizeof(db_state) == 64, "one cache line per database");

#define CLASSES_MAX 32
#define WAYS 8               /* index entries per bucket: two cache lines */
#define SAMPLE 8             /* slots a store considers for eviction */
#define USED_GRAIN_MS 50     /* hits refresh a slot's last use at most this often */

typedef struct {
    uint32_t seq;              /* odd while being written */
    uint32_t klen;
    uint64_t writer_ms;
    uint64_t hash;
    uint64_t generation;
    uint64_t stored_ms;
    uint64_t used_ms;          /* last hit (or the store): what eviction spares */
    uint32_t db;
    uint32_t blen;
    uint32_t keep_ms;          /* eviction counts it as read this much later */
    uint32_t pad;
} slot_hdr;                    /* then klen key bytes, then blen body bytes */

typedef struct {
    uint64_t cap;              /* key + body bytes a slot holds */
    uint64_t slot_size;
    uint64_t off;              /* of the first slot, from the region's start */
    uint32_t nslots;
    uint32_t hand;             /* clock hand of stores */
} size_class;

struct ea_shmcache {
    uint32_t magic;
    uint32_t nclasses;
    uint64_t body_max;
    uint64_t size;
    uint64_t index_off;        /* nbuckets * WAYS entries: tag << 32 | slot ref */
    uint64_t nbuckets;
    uint32_t nslots;
    uint32_t pad;
    uint8_t hashkey[16];
    size_class classes[CLASSES_MAX];
    db_state dbs[EA_SHMCACHE_DBS];
};

static size_t slot_size_for(size_t cap)
{
    return ALIGN64(sizeof(slot_hdr) + cap);
}

/* Classes: 1 KB doubling up to the one holding entry_max and a full key. */
static unsigned class_caps(size_t entry_max, size_t caps[CLASSES_MAX])
{
    size_t top = entry_max + EA_SHMCACHE_KEY_MAX;
    unsigned n = 0;
    for (size_t cap = EA_SHMCACHE_MIN_CLASS; cap * 2 < top && n < CLASSES_MAX - 1; cap *= 2)
        caps[n++] = cap;
    caps[n++] = top;
    return n;
}

ea_shmcache *ea_shmcache_init(void *mem, size_t size, size_t entry_max, const uint8_t hashkey[16])
{
    size_t head = ALIGN64(sizeof(ea_shmcache)), caps[CLASSES_MAX];
    if (!mem || size < head + 4096 || entry_max > ((size_t)1 << 40))
        return NULL;
    unsigned ncl = class_caps(entry_max, caps);
    /* The index: two entries per slot there could be at most. */
    size_t most = (size - head) / slot_size_for(EA_SHMCACHE_MIN_CLASS);
    size_t nbuckets = (most * 2 + WAYS - 1) / WAYS;
    size_t index = ALIGN64(nbuckets * WAYS * sizeof(uint64_t));
    if (size < head + index + slot_size_for(caps[0]))
        return NULL;
    memset(mem, 0, head + index);
    ea_shmcache *c = mem;
    c->magic = MAGIC;
    c->body_max = entry_max;
    c->size = size;
    c->index_off = head;
    c->nbuckets = nbuckets;
    c->nclasses = ncl;
    memcpy(c->hashkey, hashkey, 16);
    size_t off = head + index, share = (size - off) / ncl;
    for (unsigned i = 0; i < ncl; i++) {
        size_class *k = &c->classes[i];
        k->cap = caps[i];
        k->slot_size = slot_size_for(caps[i]);
        k->off = off;
        size_t n = share / k->slot_size;
        if (n > 0xFFFFFF)
            n = 0xFFFFFF;     /* slot refs hold 24 bits of index */
        k->nslots = (uint32_t)n;
        memset((char *)mem + off, 0, n * k->slot_size);
        off += n * k->slot_size;
        c->nslots += (uint32_t)n;
    }
    for (int i = 0; i < EA_SHMCACHE_DBS; i++)
        c->dbs[i].generation = 1;
    return c;
}

unsigned ea_shmcache_nslots(const ea_shmcache *c)
{
    return c->nslots;
}

size_t ea_shmcache_body_max(const ea_shmcache *c)
{
    return c->body_max;
}

size_t ea_shmcache_storable_max(const ea_shmcache *c)
{
    for (unsigned i = c->nclasses; i-- > 0;)
        if (c->classes[i].nslots)
            return c->classes[i].cap - EA_SHMCACHE_KEY_MAX < c->body_max
                       ? c->classes[i].cap - EA_SHMCACHE_KEY_MAX : c->body_max;
    return 0;
}

unsigned ea_shmcache_nclasses(const ea_shmcache *c)
{
    return c->nclasses;
}

void ea_shmcache_class(const ea_shmcache *c, unsigned i, size_t *cap, unsigned *nslots)
{
    *cap = i < c->nclasses ? c->classes[i].cap : 0;
    *nslots = i < c->nclasses ? c->classes[i].nslots : 0;
}

static slot_hdr *slot_at(const ea_shmcache *c, unsigned cls, unsigned i)
{
    const size_class *k = &c->classes[cls];
    return (slot_hdr *)((char *)c + k->off + (size_t)i * k->slot_size);
}

/* An index entry's slot, or NULL when the reference is out of range. */
static slot_hdr *slot_of_ref(const ea_shmcache *c, uint32_t ref, size_t *cap)
{
    if (ref == 0)
        return NULL;
    ref--;
    unsigned cls = ref >> 24, i = ref & 0xFFFFFF;
    if (cls >= c->nclasses || i >= c->classes[cls].nslots)
        return NULL;
    *cap = c->classes[cls].cap;
    return slot_at(c, cls, i);
}

static uint64_t *bucket_of(const ea_shmcache *c, uint64_t h)
{
    return (uint64_t *)((char *)c + c->index_off) + (h % c->nbuckets) * WAYS;
}

static char *slot_key(slot_hdr *s)
{
    return (char *)(s + 1);
}

uint64_t ea_shmcache_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

uint64_t ea_shmcache_generation(ea_shmcache *c, int db)
{
    return __atomic_load_n(&c->dbs[db].generation, __ATOMIC_ACQUIRE);
}

void ea_shmcache_bump(ea_shmcache *c, int db)
{
    __atomic_add_fetch(&c->dbs[db].generation, 1, __ATOMIC_ACQ_REL);
}

int ea_shmcache_healthy(ea_shmcache *c, int db, uint64_t now_ms)
{
    uint64_t hb = __atomic_load_n(&c->dbs[db].heartbeat_ms, __ATOMIC_ACQUIRE);
    return hb != 0 && now_ms < hb + EA_SHMCACHE_STALE_MS;
}

/* Is there no process pid (any more)?  A process of another user counts as
 * alive (EPERM). */
static int process_gone(int32_t pid)
{
    if (pid <= 0)
        return 1;   /* never kill(0 or -1, ...) */
    int saved = errno, gone = kill((pid_t)pid, 0) == -1 && errno == ESRCH;
    errno = saved;
    return gone;
}

int ea_shmcache_lead(ea_shmcache *c, int db, int32_t pid, uint64_t now_ms)
{
    db_state *d = &c->dbs[db];
    int32_t cur = __atomic_load_n(&d->leader, __ATOMIC_ACQUIRE);
    if (cur == pid)
        return 1;
    if (cur != 0) {
        /* A leader that listens, or took over lately, keeps the lead. */
        uint64_t hb = __atomic_load_n(&d->heartbeat_ms, __ATOMIC_ACQUIRE);
        uint64_t cl = __atomic_load_n(&d->claimed_ms, __ATOMIC_ACQUIRE);
        uint64_t last = hb > cl ? hb : cl;
        if (now_ms < last + EA_SHMCACHE_STALE_MS)
            return 0;
        if (now_ms < last + EA_SHMCACHE_TAKEOVER_MS && !process_gone(cur))
            return 0;
    }
    if (!__atomic_compare_exchange_n(&d->leader, &cur, pid, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
        return 0;
    __atomic_store_n(&d->claimed_ms, now_ms, __ATOMIC_RELEASE);
    return 1;
}

void ea_shmcache_heartbeat(ea_shmcache *c, int db, int32_t pid, uint64_t now_ms)
{
    if (__atomic_load_n(&c->dbs[db].leader, __ATOMIC_ACQUIRE) == pid)
        __atomic_store_n(&c->dbs[db].heartbeat_ms, now_ms, __ATOMIC_RELEASE);
}

void ea_shmcache_listening(ea_shmcache *c, int db, int32_t pid, uint64_t now_ms)
{
    if (__atomic_load_n(&c->dbs[db].leader, __ATOMIC_ACQUIRE) != pid)
        return;
    __atomic_add_fetch(&c->dbs[db].listens, 1, __ATOMIC_ACQ_REL);
    __atomic_store_n(&c->dbs[db].heartbeat_ms, now_ms, __ATOMIC_RELEASE);
}

int32_t ea_shmcache_leader(ea_shmcache *c, int db, uint64_t *listens)
{
    if (listens)
        *listens = __atomic_load_n(&c->dbs[db].listens, __ATOMIC_ACQUIRE);
    return __atomic_load_n(&c->dbs[db].leader, __ATOMIC_ACQUIRE);
}

void ea_shmcache_resign(ea_shmcache *c, int db, int32_t pid)
{
    int32_t me = pid;
    if (__atomic_load_n(&c->dbs[db].leader, __ATOMIC_ACQUIRE) != pid)
        return;
    __atomic_store_n(&c->dbs[db].heartbeat_ms, 0, __ATOMIC_RELEASE);
    __atomic_compare_exchange_n(&c->dbs[db].leader, &me, 0, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
}

static uint64_t key_hash(const ea_shmcache *c, int db, const char *key, size_t klen)
{
    return ea_siphash24(c->hashkey, key, klen) ^ (uint64_t)db;
}

static uint32_t tag_of(uint64_t h)
{
    return (uint32_t)(h >> 32);
}

/* One lookup: into out (cap bytes) or, when alloc is set, into memory it
 * gives for the exact length. */
static int lookup(ea_shmcache *c, int db, uint64_t gen, const char *key, size_t klen,
                  uint64_t now_ms, uint64_t max_age_ms, char *out, size_t cap,
                  ea_shmcache_alloc_fn alloc, void *ctx, char **dst, size_t *len)
{
    if (klen > EA_SHMCACHE_KEY_MAX || c->nslots == 0 || db < 0 || db >= EA_SHMCACHE_DBS)
        return 0;
    uint64_t h = key_hash(c, db, key, klen);
    uint64_t *bucket = bucket_of(c, h);
    for (int w = 0; w < WAYS; w++) {
        uint64_t e = __atomic_load_n(&bucket[w], __ATOMIC_ACQUIRE);
        size_t scap;
        slot_hdr *s;
        if ((uint32_t)(e >> 32) != tag_of(h) || !(s = slot_of_ref(c, (uint32_t)e, &scap)))
            continue;
        uint32_t seq1 = __atomic_load_n(&s->seq, __ATOMIC_ACQUIRE);
        if (seq1 & 1u)
            continue;
        uint32_t bl = s->blen;
        if (s->hash != h || s->klen != klen || s->db != (uint32_t)db || s->generation != gen
            || now_ms - s->stored_ms > max_age_ms || bl > c->body_max || klen + bl > scap
            || memcmp(slot_key(s), key, klen) != 0)
            continue;
        char *to = out;
        if (alloc)
            to = alloc(ctx, bl ? bl : 1);
        else if (bl > cap)
            return 0;
        if (!to)
            return 0;
        memcpy(to, slot_key(s) + klen, bl);
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        if (__atomic_load_n(&s->seq, __ATOMIC_RELAXED) != seq1)
            return 0;   /* a writer raced us: what we copied may be torn */
        if (now_ms > __atomic_load_n(&s->used_ms, __ATOMIC_RELAXED) + USED_GRAIN_MS)
            __atomic_store_n(&s->used_ms, now_ms, __ATOMIC_RELAXED);
        if (dst)
            *dst = to;
        *len = bl;
        return 1;
    }
    return 0;
}

int ea_shmcache_get(ea_shmcache *c, int db, uint64_t gen, const char *key, size_t klen,
                    uint64_t now_ms, uint64_t max_age_ms, char *out, size_t cap, size_t *len)
{
    return lookup(c, db, gen, key, klen, now_ms, max_age_ms, out, cap, NULL, NULL, NULL, len);
}

int ea_shmcache_get_alloc(ea_shmcache *c, int db, uint64_t gen, const char *key, size_t klen,
                          uint64_t now_ms, uint64_t max_age_ms, ea_shmcache_alloc_fn alloc,
                          void *ctx, char **out, size_t *len)
{
    return lookup(c, db, gen, key, klen, now_ms, max_age_ms, NULL, 0, alloc, ctx, out, len);
}

/* Does the index still lead to slot ref (stored under hash h)?  A copy
 * whose key was stored again since (two requests building the same entry)
 * is no longer reachable: nothing is lost by writing over it. */
static int reachable(const ea_shmcache *c, uint64_t h, uint32_t ref)
{
    const uint64_t *bucket = bucket_of(c, h);
    for (int w = 0; w < WAYS; w++) {
        uint64_t e = __atomic_load_n(&bucket[w], __ATOMIC_ACQUIRE);
        if ((uint32_t)e == ref && (uint32_t)(e >> 32) == tag_of(h))
            return 1;
    }
    return 0;
}

/* Can slot s (reference ref, 0: do not check reachability) be written now,
 * and how much would losing it cost?  0: free (empty, invalidated,
 * unreachable, or abandoned by a crashed writer), else its last use (plus
 * what it is kept) plus one; UINT64_MAX: being written. */
static uint64_t eviction_cost(ea_shmcache *c, slot_hdr *s, uint32_t ref, uint64_t now_ms)
{
    uint32_t seq = __atomic_load_n(&s->seq, __ATOMIC_ACQUIRE);
    if (seq & 1u) {
        uint64_t started = __atomic_load_n(&s->writer_ms, __ATOMIC_ACQUIRE);
        return now_ms >= started + WRITER_TIMEOUT_MS ? 0 : UINT64_MAX;
    }
    if (seq == 0 || s->db >= EA_SHMCACHE_DBS
        || s->generation != ea_shmcache_generation(c, (int)s->db))
        return 0;
    if (ref && !reachable(c, __atomic_load_n(&s->hash, __ATOMIC_RELAXED), ref))
        return 0;
    return __atomic_load_n(&s->used_ms, __ATOMIC_RELAXED) + s->keep_ms + 1;
}

/* Point the key's index entry at ref: the way that already names the key,
 * else an empty or stale way, else one chosen by the hash. */
static void publish(ea_shmcache *c, uint64_t h, uint32_t ref)
{
    uint64_t *bucket = bucket_of(c, h);
    int pick = -1, stale = -1;
    for (int w = 0; w < WAYS; w++) {
        uint64_t e = __atomic_load_n(&bucket[w], __ATOMIC_ACQUIRE);
        size_t scap;
        slot_hdr *s = slot_of_ref(c, (uint32_t)e, &scap);
        if (e != 0 && (uint32_t)(e >> 32) == tag_of(h)) {
            pick = w;
            break;
        }
        if (stale < 0 && (!s || tag_of(__atomic_load_n(&s->hash, __ATOMIC_RELAXED)) != (uint32_t)(e >> 32)
                          || eviction_cost(c, s, 0, 0) == 0))
            stale = w;
    }
    if (pick < 0)
        pick = stale >= 0 ? stale : (int)((h >> 8) % WAYS);
    __atomic_store_n(&bucket[pick], (uint64_t)tag_of(h) << 32 | ref, __ATOMIC_RELEASE);
}

int ea_shmcache_put(ea_shmcache *c, int db, uint64_t gen, const char *key, size_t klen,
                    const char *body, size_t len, uint64_t now_ms)
{
    return ea_shmcache_put_kept(c, db, gen, key, klen, body, len, now_ms, 0);
}

int ea_shmcache_put_kept(ea_shmcache *c, int db, uint64_t gen, const char *key, size_t klen,
                         const char *body, size_t len, uint64_t now_ms, uint32_t keep_ms)
{
    if (klen > EA_SHMCACHE_KEY_MAX || len > c->body_max || c->nslots == 0
        || db < 0 || db >= EA_SHMCACHE_DBS)
        return 0;
    unsigned cls = 0;
    while (cls < c->nclasses && c->classes[cls].cap < klen + len)
        cls++;
    if (cls == c->nclasses || c->classes[cls].nslots == 0)
        return 0;
    size_class *k = &c->classes[cls];
    uint64_t h = key_hash(c, db, key, klen);

    /* Among SAMPLE slots under the clock hand: a free one, else the one
     * read least recently. */
    uint32_t start = __atomic_fetch_add(&k->hand, SAMPLE, __ATOMIC_RELAXED);
    unsigned best = 0;
    uint64_t best_cost = UINT64_MAX;
    for (unsigned i = 0; i < SAMPLE && i < k->nslots; i++) {
        unsigned idx = (unsigned)(((uint64_t)start + i) % k->nslots);
        uint64_t cost = eviction_cost(c, slot_at(c, cls, idx), (cls << 24 | idx) + 1, now_ms);
        if (cost < best_cost) {
            best = idx;
            best_cost = cost;
            if (cost == 0)
                break;
        }
    }
    if (best_cost == UINT64_MAX)
        return 0;
    slot_hdr *s = slot_at(c, cls, best);
    uint32_t seq = __atomic_load_n(&s->seq, __ATOMIC_ACQUIRE);
    uint32_t claimed = (seq & 1u) ? seq + 2 : seq + 1;   /* odd: take over a dead writer */
    if ((seq & 1u) && now_ms < __atomic_load_n(&s->writer_ms, __ATOMIC_ACQUIRE) + WRITER_TIMEOUT_MS)
        return 0;
    if (!__atomic_compare_exchange_n(&s->seq, &seq, claimed, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
        return 0;
    __atomic_store_n(&s->writer_ms, now_ms, __ATOMIC_RELEASE);
    __atomic_thread_fence(__ATOMIC_RELEASE);
    /* A live entry of another key gives way: an eviction (for the metrics). */
    int evicted = best_cost != 0 && __atomic_load_n(&s->hash, __ATOMIC_RELAXED) != h;
    __atomic_store_n(&s->hash, h, __ATOMIC_RELAXED);
    s->klen = (uint32_t)klen;
    s->db = (uint32_t)db;
    s->generation = gen;
    s->stored_ms = now_ms;
    s->keep_ms = keep_ms;
    __atomic_store_n(&s->used_ms, now_ms, __ATOMIC_RELAXED);
    s->blen = (uint32_t)len;
    memcpy(slot_key(s), key, klen);
    memcpy(slot_key(s) + klen, body, len);
    __atomic_store_n(&s->seq, claimed + 1, __ATOMIC_RELEASE);
    publish(c, h, ((uint32_t)cls << 24 | best) + 1);
    return evicted ? 2 : 1;
}

int ea_shmcache_validate(const ea_shmcache *c)
{
    size_t caps[CLASSES_MAX], off = c->index_off + ALIGN64(c->nbuckets * WAYS * sizeof(uint64_t));
    unsigned total = 0;
    if (c->magic != MAGIC || c->nclasses == 0 || c->nclasses > CLASSES_MAX
        || c->nclasses != class_caps(c->body_max, caps))
        return -1;
    for (unsigned i = 0; i < c->nclasses; i++) {
        const size_class *k = &c->classes[i];
        if (k->cap != caps[i] || k->slot_size != slot_size_for(k->cap) || k->off != off)
            return -1;
        off += (size_t)k->nslots * k->slot_size;
        total += k->nslots;
        for (unsigned j = 0; j < k->nslots; j++) {
            slot_hdr *s = slot_at(c, i, j);
            uint32_t seq = __atomic_load_n(&s->seq, __ATOMIC_ACQUIRE);
            if (seq != 0 && !(seq & 1u)
                && (s->klen > EA_SHMCACHE_KEY_MAX || s->blen > c->body_max
                    || (size_t)s->klen + s->blen > k->cap || s->db >= EA_SHMCACHE_DBS))
                return -1;
        }
    }
    if (off > c->size || total != c->nslots)
        return -1;
    const uint64_t *index = (const uint64_t *)((const char *)c + c->index_off);
    for (size_t i = 0; i < c->nbuckets * WAYS; i++) {
        size_t scap;
        if (index[i] != 0 && !slot_of_ref(c, (uint32_t)index[i], &scap))
            return -1;
    }
    return 0;
}
