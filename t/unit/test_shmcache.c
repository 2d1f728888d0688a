/* Unit tests: SipHash-2-4 and the shared-memory response cache: entries of
 * every size class, eviction that spares what is read, invalidation racing
 * stores, and several processes hammering the same slots at once. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ea_shmcache.h"
#include "ea_siphash.h"

static const uint8_t key16[16] = { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15 };

START_TEST(siphash_reference_vectors)
{
    /* The paper's vectors: key 00..0f, messages 00, 00 01, ... */
    uint8_t msg[64];
    for (int i = 0; i < 64; i++)
        msg[i] = (uint8_t)i;
    ck_assert_uint_eq(ea_siphash24(key16, msg, 0), 0x726fdb47dd0e0e31ULL);
    ck_assert_uint_eq(ea_siphash24(key16, msg, 1), 0x74f839c593dc67fdULL);
    ck_assert_uint_eq(ea_siphash24(key16, msg, 15), 0xa129ca6149be45e5ULL);
    ck_assert_uint_eq(ea_siphash24(key16, msg, 63), 0x958a324ceb064572ULL);
}
END_TEST

static void *region(size_t size)
{
    void *m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    ck_assert_ptr_ne(m, MAP_FAILED);
    return m;
}

START_TEST(put_get_and_generations)
{
    size_t size = 1 << 20;
    void *m = region(size);
    ea_shmcache *c = ea_shmcache_init(m, size, 4096, key16);
    char out[4096];
    size_t len = 0;
    ck_assert_ptr_nonnull(c);
    ck_assert_uint_gt(ea_shmcache_nslots(c), 64);
    ck_assert_uint_eq(ea_shmcache_storable_max(c), 4096);
    uint64_t g = ea_shmcache_generation(c, 0);
    ck_assert_int_eq(ea_shmcache_get(c, 0, g, "k", 1, 1000, 60000, out, sizeof(out), &len), 0);
    ck_assert_int_eq(ea_shmcache_put(c, 0, g, "k", 1, "{\"a\":1}", 7, 1000), 1);
    ck_assert_int_eq(ea_shmcache_get(c, 0, g, "k", 1, 1001, 60000, out, sizeof(out), &len), 1);
    ck_assert_uint_eq(len, 7);
    ck_assert(memcmp(out, "{\"a\":1}", 7) == 0);
    /* a buffer too small for the body: a miss, not a short copy */
    ck_assert_int_eq(ea_shmcache_get(c, 0, g, "k", 1, 1001, 60000, out, 6, &len), 0);
    /* another database, another key, an old entry, a bumped generation: misses */
    ck_assert_int_eq(ea_shmcache_get(c, 1, ea_shmcache_generation(c, 1), "k", 1, 1001, 60000, out, sizeof(out), &len), 0);
    ck_assert_int_eq(ea_shmcache_get(c, 0, g, "K", 1, 1001, 60000, out, sizeof(out), &len), 0);
    ck_assert_int_eq(ea_shmcache_get(c, 0, g, "k", 1, 70000, 60000, out, sizeof(out), &len), 0);
    ea_shmcache_bump(c, 0);
    ck_assert_uint_eq(ea_shmcache_generation(c, 0), g + 1);
    ck_assert_int_eq(ea_shmcache_get(c, 0, ea_shmcache_generation(c, 0), "k", 1, 1001, 60000, out, sizeof(out), &len), 0);
    /* above entry_max: refused */
    static char big[4097];
    ck_assert_int_eq(ea_shmcache_put(c, 0, g, "b", 1, big, sizeof(big), 1000), 0);
    ck_assert_int_eq(ea_shmcache_put(c, 0, g, "b", 1, big, 4096, 1000), 1);
    ck_assert_int_eq(ea_shmcache_validate(c), 0);
    munmap(m, size);
}
END_TEST

/* A pid no process has: a child that has been reaped. */
static int32_t dead_pid(void)
{
    pid_t p = fork();
    ck_assert_int_ge(p, 0);
    if (p == 0)
        _exit(0);
    ck_assert_int_eq(waitpid(p, NULL, 0), p);
    return (int32_t)p;
}

START_TEST(listener_election)
{
    size_t size = 64 * 1024;
    void *m = region(size);
    ea_shmcache *c = ea_shmcache_init(m, size, 1024, key16);
    const int32_t gone = dead_pid(), alive = (int32_t)getpid(), other = (int32_t)getppid();
    ck_assert_ptr_nonnull(c);
    ck_assert_int_eq(ea_shmcache_healthy(c, 0, 1000), 0);
    ck_assert_int_eq(ea_shmcache_lead(c, 0, gone, 1000), 1);
    ck_assert_int_eq(ea_shmcache_lead(c, 0, other, 1100), 0);   /* just claimed */
    ck_assert_int_eq(ea_shmcache_healthy(c, 0, 1100), 0);       /* not listening yet */
    ea_shmcache_heartbeat(c, 0, gone, 1200);
    ea_shmcache_heartbeat(c, 0, other, 1200);                   /* not the leader: ignored */
    ck_assert_int_eq(ea_shmcache_healthy(c, 0, 1300), 1);
    ck_assert_int_eq(ea_shmcache_lead(c, 0, other, 1300), 0);
    /* a leader whose process is gone: bypassed and taken over once stale */
    ck_assert_int_eq(ea_shmcache_healthy(c, 0, 1199 + EA_SHMCACHE_STALE_MS), 1);
    ck_assert_int_eq(ea_shmcache_lead(c, 0, other, 1199 + EA_SHMCACHE_STALE_MS), 0);
    ck_assert_int_eq(ea_shmcache_healthy(c, 0, 1200 + EA_SHMCACHE_STALE_MS), 0);
    ck_assert_int_eq(ea_shmcache_lead(c, 0, alive, 1200 + EA_SHMCACHE_STALE_MS), 1);
    ck_assert_int_eq(ea_shmcache_lead(c, 0, gone, 1300 + EA_SHMCACHE_STALE_MS), 0);
    /* a live leader that falls silent (a starved thread): bypassed at once,
     * but it keeps the lead until EA_SHMCACHE_TAKEOVER_MS ... */
    ea_shmcache_heartbeat(c, 0, alive, 5000);
    ck_assert_int_eq(ea_shmcache_healthy(c, 0, 5000 + EA_SHMCACHE_STALE_MS), 0);
    ck_assert_int_eq(ea_shmcache_lead(c, 0, other, 5000 + EA_SHMCACHE_STALE_MS), 0);
    ck_assert_int_eq(ea_shmcache_lead(c, 0, other, 4999 + EA_SHMCACHE_TAKEOVER_MS), 0);
    /* ... so that, back, it is healthy again without a new leader */
    ck_assert_int_eq(ea_shmcache_lead(c, 0, alive, 4000 + EA_SHMCACHE_TAKEOVER_MS), 1);
    ea_shmcache_heartbeat(c, 0, alive, 4000 + EA_SHMCACHE_TAKEOVER_MS);
    ck_assert_int_eq(ea_shmcache_healthy(c, 0, 4001 + EA_SHMCACHE_TAKEOVER_MS), 1);
    /* silent that long: taken over even though alive */
    ck_assert_int_eq(ea_shmcache_lead(c, 0, other, 4000 + 2 * EA_SHMCACHE_TAKEOVER_MS - 1), 0);
    ck_assert_int_eq(ea_shmcache_lead(c, 0, other, 4000 + 2 * EA_SHMCACHE_TAKEOVER_MS), 1);
    ck_assert_int_eq(ea_shmcache_lead(c, 0, alive, 4001 + 2 * EA_SHMCACHE_TAKEOVER_MS), 0);
    /* resigning frees the lead at once */
    ea_shmcache_resign(c, 0, other);
    ck_assert_int_eq(ea_shmcache_healthy(c, 0, 4001 + 2 * EA_SHMCACHE_TAKEOVER_MS), 0);
    ck_assert_int_eq(ea_shmcache_lead(c, 0, alive, 4002 + 2 * EA_SHMCACHE_TAKEOVER_MS), 1);
    /* who leads, and how many listens started: only the leader's count */
    uint64_t listens = 99;
    ck_assert_int_eq(ea_shmcache_leader(c, 0, &listens), alive);
    ck_assert_uint_eq(listens, 0);
    ea_shmcache_listening(c, 0, other, 4003 + 2 * EA_SHMCACHE_TAKEOVER_MS);   /* not the leader */
    ck_assert_int_eq(ea_shmcache_healthy(c, 0, 4004 + 2 * EA_SHMCACHE_TAKEOVER_MS), 0);
    ea_shmcache_listening(c, 0, alive, 4003 + 2 * EA_SHMCACHE_TAKEOVER_MS);
    ck_assert_int_eq(ea_shmcache_healthy(c, 0, 4004 + 2 * EA_SHMCACHE_TAKEOVER_MS), 1);
    ck_assert_int_eq(ea_shmcache_leader(c, 0, &listens), alive);
    ck_assert_uint_eq(listens, 1);
    ck_assert_int_eq(ea_shmcache_leader(c, 1, NULL), 0);
    ea_shmcache_resign(c, 0, alive);
    ck_assert_int_eq(ea_shmcache_leader(c, 0, &listens), 0);
    ck_assert_uint_eq(listens, 1);
    /* the clock: monotonic milliseconds */
    uint64_t t0 = ea_shmcache_now_ms();
    usleep(20000);
    uint64_t t1 = ea_shmcache_now_ms();
    ck_assert_uint_ge(t1, t0 + 15);
    ck_assert_uint_lt(t1, t0 + 5000);
    munmap(m, size);
}
END_TEST

/* A body that can be checked against its key: torn reads would show. */
static size_t body_for(int k, int version, char *out)
{
    int n = 100 + (k * 37 + version * 11) % 900;
    for (int i = 0; i < n; i++)
        out[i] = (char)('a' + (k + version + i) % 26);
    return (size_t)n;
}

START_TEST(concurrent_processes_never_see_torn_entries)
{
    enum { PROCS = 6, KEYS = 40, ROUNDS = 20000 };
    size_t size = 40 * 1024;   /* few slots: constant collisions */
    void *m = region(size);
    ea_shmcache *c = ea_shmcache_init(m, size, 1024, key16);
    ck_assert_ptr_nonnull(c);
    pid_t pids[PROCS];

    for (int p = 0; p < PROCS; p++) {
        pids[p] = fork();
        ck_assert_int_ne(pids[p], -1);
        if (pids[p] == 0) {
            char body[1024], out[1024], want[1024], key[32];
            unsigned seed = (unsigned)p * 7919u + 1;
            int bad = 0;
            for (int i = 0; i < ROUNDS; i++) {
                seed = seed * 1103515245u + 12345u;
                int k = (int)((seed >> 8) % KEYS), version = (int)((seed >> 20) % 4);
                int klen = snprintf(key, sizeof(key), "/api/x/%d?v=%d", k, version);
                size_t len;
                if (seed & 1u) {
                    size_t bl = body_for(k, version, body);
                    ea_shmcache_put(c, 0, 1, key, (size_t)klen, body, bl, 5000);
                } else if (ea_shmcache_get(c, 0, 1, key, (size_t)klen, 5000, 60000, out, sizeof(out), &len)) {
                    size_t wl = body_for(k, version, want);
                    if (len != wl || memcmp(out, want, len) != 0)
                        bad++;
                }
            }
            _exit(bad ? 1 : 0);
        }
    }
    for (int p = 0; p < PROCS; p++) {
        int status;
        ck_assert_int_eq(waitpid(pids[p], &status, 0), pids[p]);
        ck_assert(WIFEXITED(status));
        ck_assert_int_eq(WEXITSTATUS(status), 0);
    }
    ck_assert_int_eq(ea_shmcache_validate(c), 0);
    munmap(m, size);
}
END_TEST

static void *heap_alloc(void *ctx, size_t len)
{
    (void)ctx;
    return malloc(len);
}

/* A body of len bytes that says which key and version it belongs to. */
static void fill_body(char *b, size_t len, unsigned k, unsigned version)
{
    for (size_t i = 0; i < len; i++)
        b[i] = (char)('a' + (k * 7 + version * 3 + i) % 26);
    if (len >= 16)
        snprintf(b, 16, "%07u:%07u", k, version);
}

START_TEST(large_entries_of_every_class)
{
    size_t size = 24 << 20, max = 1 << 20;
    void *m = region(size);
    ea_shmcache *c = ea_shmcache_init(m, size, max, key16);
    ck_assert_ptr_nonnull(c);
    ck_assert_uint_eq(ea_shmcache_body_max(c), max);
    ck_assert_uint_eq(ea_shmcache_storable_max(c), max);
    /* classes: 1 KB doubling, then one for max plus a full key */
    size_t cap;
    unsigned n;
    ea_shmcache_class(c, 0, &cap, &n);
    ck_assert_uint_eq(cap, 1024);
    ea_shmcache_class(c, ea_shmcache_nclasses(c) - 1, &cap, &n);
    ck_assert_uint_eq(cap, max + EA_SHMCACHE_KEY_MAX);
    ck_assert_uint_ge(n, 1);

    static const size_t sizes[] = { 0, 1, 900, 1000, 1024, 3000, 70000, 250000, 600000, 1 << 20 };
    char *body = malloc(max + 1), key[64];
    for (unsigned i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        fill_body(body, sizes[i], i, 1);
        int kl = snprintf(key, sizeof(key), "/api/hydro-sites/?page_size=%u", i);
        ck_assert_int_eq(ea_shmcache_put(c, 0, 1, key, (size_t)kl, body, sizes[i], 1000), 1);
    }
    for (unsigned i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        char *out = NULL;
        size_t len = 0;
        fill_body(body, sizes[i], i, 1);
        int kl = snprintf(key, sizeof(key), "/api/hydro-sites/?page_size=%u", i);
        ck_assert_int_eq(ea_shmcache_get_alloc(c, 0, 1, key, (size_t)kl, 1001, 60000, heap_alloc, NULL, &out, &len), 1);
        ck_assert_uint_eq(len, sizes[i]);
        ck_assert(memcmp(out, body, len) == 0);
        free(out);
    }
    /* a full-length key with the largest body still fits its class */
    char longkey[EA_SHMCACHE_KEY_MAX];
    memset(longkey, 'k', sizeof(longkey));
    /* (stored, possibly in place of the 1 MB page: the class may have one slot) */
    ck_assert_int_ne(ea_shmcache_put(c, 0, 1, longkey, sizeof(longkey), body, max, 1000), 0);
    ck_assert_int_eq(ea_shmcache_put(c, 0, 1, "x", 1, body, max + 1, 1000), 0);
    ck_assert_int_eq(ea_shmcache_validate(c), 0);
    free(body);
    munmap(m, size);
}
END_TEST

/* A region too small for the largest class: those entries are skipped,
 * the others are kept. */
START_TEST(small_region_skips_what_does_not_fit)
{
    size_t size = 2 << 20, max = 1 << 20;
    void *m = region(size);
    ea_shmcache *c = ea_shmcache_init(m, size, max, key16);
    ck_assert_ptr_nonnull(c);
    ck_assert_uint_lt(ea_shmcache_storable_max(c), max);
    static char body[1 << 20];
    ck_assert_int_eq(ea_shmcache_put(c, 0, 1, "big", 3, body, max, 1000), 0);
    ck_assert_int_eq(ea_shmcache_put(c, 0, 1, "small", 5, body, 2000, 1000), 1);
    ck_assert_int_eq(ea_shmcache_validate(c), 0);
    munmap(m, size);
}
END_TEST

START_TEST(eviction_keeps_what_is_read)
{
    size_t size = 1 << 20;
    void *m = region(size);
    ea_shmcache *c = ea_shmcache_init(m, size, 4000, key16);
    ck_assert_ptr_nonnull(c);
    size_t cap;
    unsigned nslots;
    ea_shmcache_class(c, 2, &cap, &nslots);     /* the top class: bodies of 3,000 */
    ck_assert_uint_eq(cap, 4000 + EA_SHMCACHE_KEY_MAX);
    ck_assert_uint_ge(nslots, 8);
    char body[3000], out[4000], key[32];
    size_t len;
    uint64_t now = 1000;
    fill_body(body, sizeof(body), 0, 0);
    ck_assert_int_eq(ea_shmcache_put(c, 0, 1, "hot", 3, body, sizeof(body), now), 1);
    /* ten times as many other entries as there are slots, the hot one read between */
    int hot_hits = 0, evictions = 0, first_eviction = 0;
    for (unsigned k = 1; k <= 10 * nslots; k++) {
        now += 100;
        int kl = snprintf(key, sizeof(key), "cold-%u", k);
        fill_body(body, sizeof(body), k, 0);
        int st = ea_shmcache_put(c, 0, 1, key, (size_t)kl, body, sizeof(body), now);
        ck_assert(st == 1 || st == 2);
        if (st == 2 && evictions++ == 0)
            first_eviction = (int)k;
        hot_hits += ea_shmcache_get(c, 0, 1, "hot", 3, now, 3600000, out, sizeof(out), &len);
    }
    ck_assert_int_eq(hot_hits, (int)(10 * nslots));
    /* at most nslots - 1 stores found a free slot; every other store
     * replaced a live entry and said so (the first one had room) */
    ck_assert_int_gt(first_eviction, 1);
    ck_assert_int_ge(evictions, (int)(9 * nslots));
    fill_body(body, sizeof(body), 0, 0);
    ck_assert_int_eq(ea_shmcache_get(c, 0, 1, "hot", 3, now, 3600000, out, sizeof(out), &len), 1);
    ck_assert(len == sizeof(body) && memcmp(out, body, len) == 0);
    /* the first cold entries were evicted, the latest ones are there */
    ck_assert_int_eq(ea_shmcache_get(c, 0, 1, "cold-1", 6, now, 3600000, out, sizeof(out), &len), 0);
    int kl = snprintf(key, sizeof(key), "cold-%u", 10 * nslots);
    ck_assert_int_eq(ea_shmcache_get(c, 0, 1, key, (size_t)kl, now, 3600000, out, sizeof(out), &len), 1);
    ck_assert_int_eq(ea_shmcache_validate(c), 0);
    munmap(m, size);
}
END_TEST

/* A cache in m for bodies of at most 4,000 bytes: three classes, the top
 * one (index 2) holding bodies of 3,000; *nslots its slots. */
static ea_shmcache *top_class_cache(void *m, size_t size, unsigned *nslots)
{
    ea_shmcache *c = ea_shmcache_init(m, size, 4000, key16);
    size_t cap;
    ck_assert_ptr_nonnull(c);
    ea_shmcache_class(c, 2, &cap, nslots);
    return c;
}

/* A class that pages go through faster than reads refresh an entry's last
 * use (the bench's random deep pages: 89 slots of 64 KB, hundreds of pages
 * stored per second): an entry stored as kept (a page-boundary map) stays,
 * read or not; a plain one read just as often is lost. */
START_TEST(kept_entries_outlast_fast_churn)
{
    size_t size = 1 << 20;
    void *m = region(size);
    unsigned nslots;
    ea_shmcache *c = top_class_cache(m, size, &nslots);
    char body[3000], out[4000], key[32];
    size_t len;
    uint64_t now = 1000;
    memset(body, 'm', sizeof(body));
    ck_assert_int_eq(ea_shmcache_put_kept(c, 0, 1, "map", 3, body, sizeof(body), now, 60000), 1);
    ck_assert_int_eq(ea_shmcache_put(c, 0, 1, "plain", 5, body, sizeof(body), now), 1);
    int map_hits = 0, plain_hits = 0;
    for (unsigned k = 1; k <= 20 * nslots; k++) {
        now += 1;   /* a store per millisecond, reads between */
        int kl = snprintf(key, sizeof(key), "page-%u", k);
        ck_assert_int_ne(ea_shmcache_put(c, 0, 1, key, (size_t)kl, body, sizeof(body), now), 0);
        map_hits += ea_shmcache_get(c, 0, 1, "map", 3, now, 3600000, out, sizeof(out), &len);
        plain_hits += ea_shmcache_get(c, 0, 1, "plain", 5, now, 3600000, out, sizeof(out), &len);
    }
    ck_assert_int_eq(map_hits, (int)(20 * nslots));
    ck_assert_int_lt(plain_hits, (int)(20 * nslots));
    /* not read for longer than it is kept: it gives way like any entry */
    now += 61000;
    for (unsigned k = 1; k <= 2 * nslots; k++) {
        int kl = snprintf(key, sizeof(key), "late-%u", k);
        ck_assert_int_ne(ea_shmcache_put(c, 0, 1, key, (size_t)kl, body, sizeof(body), now + k), 0);
    }
    ck_assert_int_eq(ea_shmcache_get(c, 0, 1, "map", 3, now + 3 * nslots, 3600000, out, sizeof(out), &len), 0);
    ck_assert_int_eq(ea_shmcache_validate(c), 0);
    munmap(m, size);
}
END_TEST

/* The same key stored again (two requests building the same map): the
 * older copy can no longer be reached, and the next store takes its slot
 * before any live entry's, even a kept one's, and counts no eviction. */
START_TEST(unreachable_copies_are_replaced_first)
{
    size_t size = 64 * 1024;   /* a top class of at most SAMPLE slots: every store sees them all */
    void *m = region(size);
    unsigned nslots;
    ea_shmcache *c = top_class_cache(m, size, &nslots);
    ck_assert_uint_ge(nslots, 3);
    ck_assert_uint_le(nslots, 8);
    char body[3000], out[4000], key[32];
    size_t len;
    memset(body, 'k', sizeof(body));
    /* nslots - 2 kept entries and "dup" twice: the class is full, and holds
     * a copy of dup that nothing leads to any more */
    for (unsigned k = 0; k + 2 < nslots; k++) {
        int kl = snprintf(key, sizeof(key), "kept-%u", k);
        ck_assert_int_eq(ea_shmcache_put_kept(c, 0, 1, key, (size_t)kl, body, sizeof(body), 1000, 60000), 1);
    }
    ck_assert_int_eq(ea_shmcache_put_kept(c, 0, 1, "dup", 3, body, sizeof(body), 1001, 60000), 1);
    memset(body, 'K', sizeof(body));
    ck_assert_int_eq(ea_shmcache_put_kept(c, 0, 1, "dup", 3, body, sizeof(body), 1002, 60000), 1);
    ck_assert_int_eq(ea_shmcache_get(c, 0, 1, "dup", 3, 1003, 60000, out, sizeof(out), &len), 1);
    ck_assert(out[0] == 'K');
    /* a plain entry, cheaper to lose than any kept one, goes where the
     * first copy was: no eviction, everything else still there */
    ck_assert_int_eq(ea_shmcache_put(c, 0, 1, "new", 3, body, sizeof(body), 1004), 1);
    ck_assert_int_eq(ea_shmcache_get(c, 0, 1, "dup", 3, 1005, 60000, out, sizeof(out), &len), 1);
    ck_assert_int_eq(ea_shmcache_get(c, 0, 1, "new", 3, 1005, 60000, out, sizeof(out), &len), 1);
    for (unsigned k = 0; k + 2 < nslots; k++) {
        int kl = snprintf(key, sizeof(key), "kept-%u", k);
        ck_assert_int_eq(ea_shmcache_get(c, 0, 1, key, (size_t)kl, 1005, 60000, out, sizeof(out), &len), 1);
    }
    /* the class is full of reachable entries now: the next store evicts
     * the plain one, not a kept one */
    ck_assert_int_eq(ea_shmcache_put(c, 0, 1, "next", 4, body, sizeof(body), 1006), 2);
    ck_assert_int_eq(ea_shmcache_get(c, 0, 1, "new", 3, 1007, 60000, out, sizeof(out), &len), 0);
    ck_assert_int_eq(ea_shmcache_get(c, 0, 1, "dup", 3, 1007, 60000, out, sizeof(out), &len), 1);
    ck_assert_int_eq(ea_shmcache_validate(c), 0);
    munmap(m, size);
}
END_TEST

START_TEST(invalidated_entries_are_replaced_first)
{
    size_t size = 1 << 20;
    void *m = region(size);
    unsigned nslots;
    ea_shmcache *c = top_class_cache(m, size, &nslots);
    char body[3000], out[4000], key[32];
    size_t len;
    memset(body, 'x', sizeof(body));
    for (unsigned k = 0; k < nslots; k++) {
        int kl = snprintf(key, sizeof(key), "old-%u", k);
        ck_assert_int_eq(ea_shmcache_put(c, 0, 1, key, (size_t)kl, body, sizeof(body), 1000 + k), 1);
    }
    /* a change: every slot is free again, so all new entries fit at once */
    ea_shmcache_bump(c, 0);
    uint64_t g = ea_shmcache_generation(c, 0);
    for (unsigned k = 0; k < nslots; k++) {
        int kl = snprintf(key, sizeof(key), "new-%u", k);
        ck_assert_int_eq(ea_shmcache_put(c, 0, g, key, (size_t)kl, body, sizeof(body), 9000), 1);
    }
    for (unsigned k = 0; k < nslots; k++) {
        int kl = snprintf(key, sizeof(key), "new-%u", k);
        ck_assert_int_eq(ea_shmcache_get(c, 0, g, key, (size_t)kl, 9001, 60000, out, sizeof(out), &len), 1);
    }
    ck_assert_int_eq(ea_shmcache_validate(c), 0);
    munmap(m, size);
}
END_TEST

/* Writers store pages computed under the generation they read, a bumper
 * invalidates all the time, readers look up under the current generation:
 * a hit must never be a page of an older generation. */
START_TEST(invalidation_races_never_serve_old_pages)
{
    enum { PROCS = 4, KEYS = 16, ROUNDS = 4000 };
    size_t size = 4 << 20;
    void *m = region(size);
    ea_shmcache *c = ea_shmcache_init(m, size, 64 * 1024, key16);
    ck_assert_ptr_nonnull(c);
    pid_t pids[PROCS + 1];
    for (int p = 0; p <= PROCS; p++) {
        pids[p] = fork();
        ck_assert_int_ne(pids[p], -1);
        if (pids[p] != 0)
            continue;
        if (p == PROCS) {               /* the listener: NOTIFY after NOTIFY */
            for (int i = 0; i < ROUNDS; i++) {
                ea_shmcache_bump(c, 0);
                usleep(50);
            }
            _exit(0);
        }
        char *body = malloc(64 * 1024), *out = malloc(64 * 1024), key[32];
        unsigned seed = (unsigned)p * 7919u + 3;
        int bad = 0;
        for (int i = 0; i < ROUNDS; i++) {
            seed = seed * 1103515245u + 12345u;
            unsigned k = (seed >> 8) % KEYS;
            int kl = snprintf(key, sizeof(key), "/api/regions/?page=%u", k);
            uint64_t g = ea_shmcache_generation(c, 0);
            size_t len, bl = 16 + (seed >> 12) % (60 * 1024);
            if (seed & 1u) {
                fill_body(body, bl, k, (unsigned)g);     /* the page as of generation g */
                ea_shmcache_put(c, 0, g, key, (size_t)kl, body, bl, 5000);
            } else if (ea_shmcache_get(c, 0, g, key, (size_t)kl, 5000, 60000, out, 64 * 1024, &len)) {
                char want[16];
                snprintf(want, sizeof(want), "%07u:%07u", k, (unsigned)g);
                if (len < 16 || memcmp(out, want, 15) != 0)
                    bad++;
                fill_body(body, len, k, (unsigned)g);
                if (memcmp(out, body, len) != 0)
                    bad++;
            }
        }
        free(body);
        free(out);
        _exit(bad ? 1 : 0);
    }
    for (int p = 0; p <= PROCS; p++) {
        int status;
        ck_assert_int_eq(waitpid(pids[p], &status, 0), pids[p]);
        ck_assert(WIFEXITED(status));
        ck_assert_int_eq(WEXITSTATUS(status), 0);
    }
    ck_assert_int_eq(ea_shmcache_validate(c), 0);
    munmap(m, size);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("shmcache");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, siphash_reference_vectors);
    tcase_add_test(tc, put_get_and_generations);
    tcase_add_test(tc, listener_election);
    tcase_add_test(tc, concurrent_processes_never_see_torn_entries);
    tcase_add_test(tc, large_entries_of_every_class);
    tcase_add_test(tc, small_region_skips_what_does_not_fit);
    tcase_add_test(tc, eviction_keeps_what_is_read);
    tcase_add_test(tc, kept_entries_outlast_fast_churn);
    tcase_add_test(tc, unreachable_copies_are_replaced_first);
    tcase_add_test(tc, invalidated_entries_are_replaced_first);
    tcase_add_test(tc, invalidation_races_never_serve_old_pages);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
