/* ea_shmcache: see ea_shmcache.h. */
#include "ea_shmcache.h"
#include "ea_siphash.h"

#include <string.h>

#define MAGIC 0x45414331u  /* "EAC1" */
#define ALIGN64(n) (((n) + 63) & ~(size_t)63)
#define WRITER_TIMEOUT_MS 5000  /* a write older than this was a crashed writer */

typedef struct {
    uint64_t generation;
    uint64_t heartbeat_ms;     /* last time the leader was listening */
    uint64_t claimed_ms;       /* when the current leader took over */
    int32_t leader;
    int32_t pad;
    uint64_t pad2[4];          /* one cache line per database */
} db_state;

typedef struct {
    uint32_t seq;              /* odd while being written */
    uint32_t klen;
    uint64_t writer_ms;
    uint64_t hash;
    uint64_t generation;
    uint64_t stored_ms;
    uint32_t db;
    uint32_t blen;
} slot_hdr;

struct ea_shmcache {
    uint32_t magic;
    uint32_t nslots;
    uint64_t slot_size;
    uint64_t body_max;
    uint64_t slots_off;
    uint8_t hashkey[16];
    db_state dbs[EA_SHMCACHE_DBS];
};

static size_t slot_size_for(size_t body_max)
{
    return ALIGN64(sizeof(slot_hdr) + EA_SHMCACHE_KEY_MAX + body_max);
}

size_t ea_shmcache_size(unsigned nslots, size_t body_max)
{
    return ALIGN64(sizeof(ea_shmcache)) + (size_t)nslots * slot_size_for(body_max);
}

static slot_hdr *slot_at(const ea_shmcache *c, unsigned i)
{
    return (slot_hdr *)((char *)c + c->slots_off + (size_t)i * c->slot_size);
}

static char *slot_key(slot_hdr *s)
{
    return (char *)(s + 1);
}

static char *slot_body(slot_hdr *s)
{
    return (char *)(s + 1) + EA_SHMCACHE_KEY_MAX;
}

ea_shmcache *ea_shmcache_init(void *mem, size_t size, size_t body_max, const uint8_t hashkey[16])
{
    size_t head = ALIGN64(sizeof(ea_shmcache)), ss = slot_size_for(body_max);
    if (!mem || size < head + ss)
        return NULL;
    memset(mem, 0, size);
    ea_shmcache *c = mem;
    c->magic = MAGIC;
    c->slots_off = head;
    c->slot_size = ss;
    c->body_max = body_max;
    c->nslots = (uint32_t)((size - head) / ss);
    memcpy(c->hashkey, hashkey, 16);
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

int ea_shmcache_get(ea_shmcache *c, int db, uint64_t gen, const char *key, size_t klen,
                    uint64_t now_ms, uint64_t max_age_ms, char *out, size_t *len)
{
    if (klen > EA_SHMCACHE_KEY_MAX || c->nslots == 0)
        return 0;
    uint64_t h = key_hash(c, db, key, klen);
    slot_hdr *s = slot_at(c, (unsigned)(h % c->nslots));
    uint32_t seq1 = __atomic_load_n(&s->seq, __ATOMIC_ACQUIRE);
    if (seq1 & 1u)
        return 0;
    uint32_t bl = s->blen;
    if (s->hash != h || s->klen != klen || s->db != (uint32_t)db || s->generation != gen
        || now_ms - s->stored_ms > max_age_ms || bl > c->body_max
        || memcmp(slot_key(s), key, klen) != 0)
        return 0;
    memcpy(out, slot_body(s), bl);
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    if (__atomic_load_n(&s->seq, __ATOMIC_RELAXED) != seq1)
        return 0;   /* a writer raced us: what we copied may be torn */
    *len = bl;
    return 1;
}

int ea_shmcache_put(ea_shmcache *c, int db, uint64_t gen, const char *key, size_t klen,
                    const char *body, size_t len, uint64_t now_ms)
{
    if (klen > EA_SHMCACHE_KEY_MAX || len > c->body_max || c->nslots == 0)
        return 0;
    uint64_t h = key_hash(c, db, key, klen);
    slot_hdr *s = slot_at(c, (unsigned)(h % c->nslots));
    uint32_t seq = __atomic_load_n(&s->seq, __ATOMIC_ACQUIRE);
    uint32_t claimed;
    if (seq & 1u) {
        /* Take over only a write that its writer abandoned long ago. */
        uint64_t started = __atomic_load_n(&s->writer_ms, __ATOMIC_ACQUIRE);
        if (now_ms < started + WRITER_TIMEOUT_MS)
            return 0;
        claimed = seq + 2;
    } else {
        claimed = seq + 1;
    }
    if (!__atomic_compare_exchange_n(&s->seq, &seq, claimed, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
        return 0;
    __atomic_store_n(&s->writer_ms, now_ms, __ATOMIC_RELEASE);
    __atomic_thread_fence(__ATOMIC_RELEASE);
    int replaced = seq != 0 && (s->hash != h || s->klen != klen || s->db != (uint32_t)db);
    s->hash = h;
    s->klen = (uint32_t)klen;
    s->db = (uint32_t)db;
    s->generation = gen;
    s->stored_ms = now_ms;
    s->blen = (uint32_t)len;
    memcpy(slot_key(s), key, klen);
    memcpy(slot_body(s), body, len);
    __atomic_store_n(&s->seq, claimed + 1, __ATOMIC_RELEASE);
    return replaced ? 2 : 1;
}

int ea_shmcache_validate(const ea_shmcache *c)
{
    if (c->magic != MAGIC || c->slot_size != slot_size_for(c->body_max))
        return -1;
    for (unsigned i = 0; i < c->nslots; i++) {
        slot_hdr *s = slot_at(c, i);
        uint32_t seq = __atomic_load_n(&s->seq, __ATOMIC_ACQUIRE);
        if (seq == 0)
            continue;
        if (!(seq & 1u) && (s->klen > EA_SHMCACHE_KEY_MAX || s->blen > c->body_max
                            || s->db >= EA_SHMCACHE_DBS
                            || (s->klen && s->hash % c->nslots != i)))
            return -1;
    }
    return 0;
}
