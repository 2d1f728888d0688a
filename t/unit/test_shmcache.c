/* Unit tests: SipHash-2-4 and the shared-memory response cache, including
 * several processes hammering the same slots at once. */
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
    size_t size = ea_shmcache_size(64, 4096);
    void *m = region(size);
    ea_shmcache *c = ea_shmcache_init(m, size, 4096, key16);
    char out[4096];
    size_t len = 0;
    ck_assert_ptr_nonnull(c);
    ck_assert_uint_eq(ea_shmcache_nslots(c), 64);
    uint64_t g = ea_shmcache_generation(c, 0);
    ck_assert_int_eq(ea_shmcache_get(c, 0, g, "k", 1, 1000, 60000, out, &len), 0);
    ck_assert_int_eq(ea_shmcache_put(c, 0, g, "k", 1, "{\"a\":1}", 7, 1000), 1);
    ck_assert_int_eq(ea_shmcache_get(c, 0, g, "k", 1, 1001, 60000, out, &len), 1);
    ck_assert_uint_eq(len, 7);
    ck_assert(memcmp(out, "{\"a\":1}", 7) == 0);
    /* another database, another key, an old entry, a bumped generation: misses */
    ck_assert_int_eq(ea_shmcache_get(c, 1, ea_shmcache_generation(c, 1), "k", 1, 1001, 60000, out, &len), 0);
    ck_assert_int_eq(ea_shmcache_get(c, 0, g, "K", 1, 1001, 60000, out, &len), 0);
    ck_assert_int_eq(ea_shmcache_get(c, 0, g, "k", 1, 70000, 60000, out, &len), 0);
    ea_shmcache_bump(c, 0);
    ck_assert_uint_eq(ea_shmcache_generation(c, 0), g + 1);
    ck_assert_int_eq(ea_shmcache_get(c, 0, ea_shmcache_generation(c, 0), "k", 1, 1001, 60000, out, &len), 0);
    /* too big for a slot: refused */
    static char big[5000];
    ck_assert_int_eq(ea_shmcache_put(c, 0, g, "b", 1, big, sizeof(big), 1000), 0);
    ck_assert_int_eq(ea_shmcache_validate(c), 0);
    munmap(m, size);
}
END_TEST

START_TEST(listener_election)
{
    size_t size = ea_shmcache_size(4, 1024);
    void *m = region(size);
    ea_shmcache *c = ea_shmcache_init(m, size, 1024, key16);
    ck_assert_int_eq(ea_shmcache_healthy(c, 0, 1000), 0);
    ck_assert_int_eq(ea_shmcache_lead(c, 0, 11, 1000), 1);
    ck_assert_int_eq(ea_shmcache_lead(c, 0, 22, 1100), 0);   /* just claimed */
    ck_assert_int_eq(ea_shmcache_healthy(c, 0, 1100), 0);   /* not listening yet */
    ea_shmcache_heartbeat(c, 0, 11, 1200);
    ea_shmcache_heartbeat(c, 0, 22, 1200);                  /* not the leader: ignored */
    ck_assert_int_eq(ea_shmcache_healthy(c, 0, 1300), 1);
    ck_assert_int_eq(ea_shmcache_lead(c, 0, 22, 1300), 0);
    /* the leader falls silent: stale, then taken over */
    ck_assert_int_eq(ea_shmcache_healthy(c, 0, 1200 + EA_SHMCACHE_STALE_MS), 0);
    ck_assert_int_eq(ea_shmcache_lead(c, 0, 22, 1200 + EA_SHMCACHE_STALE_MS), 1);
    ck_assert_int_eq(ea_shmcache_lead(c, 0, 11, 1300 + EA_SHMCACHE_STALE_MS), 0);
    ea_shmcache_resign(c, 0, 22);
    ck_assert_int_eq(ea_shmcache_healthy(c, 0, 1300 + EA_SHMCACHE_STALE_MS), 0);
    ck_assert_int_eq(ea_shmcache_lead(c, 0, 33, 1301 + EA_SHMCACHE_STALE_MS), 1);
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
    size_t size = ea_shmcache_size(16, 1024);   /* few slots: constant collisions */
    void *m = region(size);
    ea_shmcache *c = ea_shmcache_init(m, size, 1024, key16);
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
                } else if (ea_shmcache_get(c, 0, 1, key, (size_t)klen, 5000, 60000, out, &len)) {
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

int main(void)
{
    Suite *s = suite_create("shmcache");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, siphash_reference_vectors);
    tcase_add_test(tc, put_get_and_generations);
    tcase_add_test(tc, listener_election);
    tcase_add_test(tc, concurrent_processes_never_see_torn_entries);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
