/* Unit tests: the shared-memory rate-limit table.  Exact semantics against
 * a reference sliding log, table placement and eviction, attaching, the
 * validator, broken locks, and several processes x threads hammering a few
 * keys (one process killed on the way), checking afterwards that no key was
 * admitted more than N times in any window of P. */
#include <check.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ea_throttle.h"

static const uint8_t key16[16] = { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15 };
static const uint8_t other16[16] = { 9, 9, 9, 9, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12 };

static void *region(size_t size)
{
    void *m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    ck_assert_ptr_ne(m, MAP_FAILED);
    return m;
}

static ea_throttle *table(unsigned entries, unsigned slots, size_t *size)
{
    *size = ea_throttle_size(entries, slots);
    ck_assert_uint_gt(*size, 0);
    ea_throttle *t = ea_throttle_init(region(*size), *size, entries, slots, key16);
    ck_assert_ptr_nonnull(t);
    return t;
}

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int under_valgrind(void)
{
    const char *p = getenv("LD_PRELOAD");
    return p && strstr(p, "vgpreload") != NULL;
}

/* Admit once; the call must decide. */
static ea_throttle_verdict admit(ea_throttle *t, const char *key, unsigned limit, uint64_t period,
                                 uint64_t now)
{
    ea_throttle_verdict v;
    ck_assert_int_eq(ea_throttle_admit(t, key, strlen(key), limit, period, now, &v), EA_THROTTLE_OK);
    return v;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* The guarantee: sorted admission times, never N + 1 within P. */
static int window_violations(uint64_t *times, size_t n, unsigned limit, uint64_t period)
{
    int bad = 0;
    qsort(times, n, sizeof(*times), cmp_u64);
    for (size_t i = 0; i + limit < n; i++)
        if (times[i + limit] - times[i] < period)
            bad++;
    return bad;
}

/* ---- sizing and arguments --------------------------------------------------- */

START_TEST(sizes_and_arguments)
{
    ck_assert_uint_eq(ea_throttle_size(0, 16), 0);
    ck_assert_uint_eq(ea_throttle_size(10, 1), 0);
    ck_assert_uint_eq(ea_throttle_size(10, EA_THROTTLE_SLOTS_MAX + 1), 0);
    /* the default: 264 bytes an entry, 100,000 clients in 33 MB */
    size_t big = ea_throttle_size(EA_THROTTLE_ENTRIES_FOR(100000), EA_THROTTLE_SLOTS_DEFAULT);
    ck_assert_uint_ge(big, 125000u * 264);
    ck_assert_uint_lt(big, 125000u * 264 + 4096);
    ck_assert_uint_eq(ea_throttle_size(10, 16), ea_throttle_size(16, 16));   /* groups of 8 */
    /* a group more: 8 hashes (a cache line) and 8 entries of 256 bytes */
    ck_assert_uint_eq(ea_throttle_size(16, 29) - ea_throttle_size(8, 29), 64 + 8 * 256);

    size_t size = ea_throttle_size(10, 16);
    void *m = region(size);
    ck_assert_ptr_null(ea_throttle_init(m, size - 1, 10, 16, key16));
    ck_assert_ptr_null(ea_throttle_init((char *)m + 4, size - 64, 10, 16, key16));
    ea_throttle *t = ea_throttle_init(m, size, 10, 16, key16);
    ck_assert_ptr_nonnull(t);
    ck_assert_uint_eq(ea_throttle_entries(t), 16);
    ck_assert_uint_eq(ea_throttle_slots(t), 16);

    ea_throttle_verdict v;
    ck_assert_int_eq(ea_throttle_admit(t, "k", 1, 0, 1000, 1, &v), EA_THROTTLE_EINVAL);
    ck_assert_int_eq(ea_throttle_admit(t, "k", 1, EA_THROTTLE_LIMIT_MAX + 1, 1000, 1, &v), EA_THROTTLE_EINVAL);
    ck_assert_int_eq(ea_throttle_admit(t, "k", 1, 5, 0, 1, &v), EA_THROTTLE_EINVAL);
    ck_assert_int_eq(ea_throttle_admit(t, "k", 1, 5, EA_THROTTLE_PERIOD_MAX + 1, 1, &v), EA_THROTTLE_EINVAL);
    ck_assert_int_eq(ea_throttle_admit(t, "k", 1, 5, 1000, EA_THROTTLE_TIME_MAX + 1, &v), EA_THROTTLE_EINVAL);
    ck_assert_int_eq(ea_throttle_admit(t, NULL, 3, 5, 1000, 1, &v), EA_THROTTLE_EINVAL);
    ck_assert_int_eq(ea_throttle_admit(t, "k", 1, 5, 1000, 1, NULL), EA_THROTTLE_EINVAL);
    ck_assert_int_eq(ea_throttle_admit(t, NULL, 0, 5, 1000, 1, &v), EA_THROTTLE_OK);   /* the empty key */
    ck_assert_int_eq(v.admitted, 1);
    ck_assert_int_eq(ea_throttle_validate(t), 0);
    munmap(m, size);
}
END_TEST

/* ---- exact semantics ------------------------------------------------------------ */

START_TEST(burst_then_refuse)
{
    size_t size;
    ea_throttle *t = table(64, 16, &size);
    ea_throttle_verdict v;
    /* a fresh client: its whole allowance at once */
    for (unsigned i = 0; i < 5; i++) {
        v = admit(t, "1.2.3.4", 5, 60000, 1000);
        ck_assert_int_eq(v.admitted, 1);
        ck_assert_uint_eq(v.remaining, 4 - i);
        ck_assert_uint_eq(v.reset_ms, 60000);
        ck_assert_uint_eq(v.reset_s, 60);
        ck_assert_uint_eq(v.retry_after_s, 0);
        ck_assert_uint_eq(v.at_ms, 1000);
    }
    v = admit(t, "1.2.3.4", 5, 60000, 1000);
    ck_assert_int_eq(v.admitted, 0);
    ck_assert_uint_eq(v.remaining, 0);
    ck_assert_uint_eq(v.retry_after_ms, 60000);
    ck_assert_uint_eq(v.retry_after_s, 60);
    ck_assert_uint_eq(v.reset_s, 60);
    v = admit(t, "1.2.3.4", 5, 60000, 30500);
    ck_assert_int_eq(v.admitted, 0);
    ck_assert_uint_eq(v.retry_after_ms, 30500);
    ck_assert_uint_eq(v.retry_after_s, 31);   /* rounded up */
    v = admit(t, "1.2.3.4", 5, 60000, 60999);
    ck_assert_int_eq(v.admitted, 0);
    ck_assert_uint_eq(v.retry_after_ms, 1);
    ck_assert_uint_eq(v.retry_after_s, 1);    /* never 0 */
    /* P after the burst, all five have left the window: a new burst */
    for (unsigned i = 0; i < 5; i++) {
        v = admit(t, "1.2.3.4", 5, 60000, 61000);
        ck_assert_int_eq(v.admitted, 1);
        ck_assert_uint_eq(v.remaining, 4 - i);
    }
    ck_assert_int_eq(admit(t, "1.2.3.4", 5, 60000, 61000).admitted, 0);
    ck_assert_int_eq(ea_throttle_validate(t), 0);
    munmap(t, size);
}
END_TEST

START_TEST(sliding_window_edges)
{
    size_t size;
    ea_throttle *t = table(64, 16, &size);
    ea_throttle_verdict v;
    /* 3 per 1000 ms, spread out: a fixed window would let 3 more in at 1000 */
    ck_assert_int_eq(admit(t, "k", 3, 1000, 0).admitted, 1);
    ck_assert_int_eq(admit(t, "k", 3, 1000, 400).admitted, 1);
    v = admit(t, "k", 3, 1000, 800);
    ck_assert_int_eq(v.admitted, 1);
    ck_assert_uint_eq(v.remaining, 0);
    v = admit(t, "k", 3, 1000, 999);
    ck_assert_int_eq(v.admitted, 0);
    ck_assert_uint_eq(v.retry_after_ms, 1);
    ck_assert_uint_eq(v.reset_ms, 801);   /* until 800 + 1000 */
    v = admit(t, "k", 3, 1000, 1000);     /* the one at 0 left: (0, 1000] */
    ck_assert_int_eq(v.admitted, 1);
    ck_assert_uint_eq(v.remaining, 0);
    v = admit(t, "k", 3, 1000, 1001);
    ck_assert_int_eq(v.admitted, 0);
    ck_assert_uint_eq(v.retry_after_ms, 399);   /* the one at 400 leaves at 1400 */
    ck_assert_uint_eq(v.retry_after_s, 1);
    ck_assert_int_eq(admit(t, "k", 3, 1000, 1399).admitted, 0);
    ck_assert_int_eq(admit(t, "k", 3, 1000, 1400).admitted, 1);
    ck_assert_int_eq(admit(t, "k", 3, 1000, 1400).admitted, 0);
    /* refused calls are not counted: hammering does not push the wait out */
    for (uint64_t now = 1401; now < 1800; now += 7)
        ck_assert_int_eq(admit(t, "k", 3, 1000, now).admitted, 0);
    v = admit(t, "k", 3, 1000, 1800);
    ck_assert_int_eq(v.admitted, 1);
    /* 1000, 1400, 1800 in; the next at 2000 */
    v = admit(t, "k", 3, 1000, 1801);
    ck_assert_uint_eq(v.retry_after_ms, 199);
    /* a clock reading behind the key's latest: decided at the latest */
    v = admit(t, "k", 3, 1000, 1500);
    ck_assert_int_eq(v.admitted, 0);
    ck_assert_uint_eq(v.at_ms, 1801);
    ck_assert_uint_eq(v.retry_after_ms, 199);
    ck_assert_int_eq(ea_throttle_validate(t), 0);
    munmap(t, size);
}
END_TEST

START_TEST(keys_are_independent)
{
    size_t size;
    ea_throttle *t = table(64, 16, &size);
    ea_throttle_verdict v;
    ck_assert_int_eq(admit(t, "a", 1, 1000, 10).admitted, 1);
    ck_assert_int_eq(admit(t, "a", 1, 1000, 10).admitted, 0);
    ck_assert_int_eq(admit(t, "b", 1, 1000, 10).admitted, 1);
    ck_assert_int_eq(admit(t, "A", 1, 1000, 10).admitted, 1);
    ck_assert_int_eq(admit(t, "aa", 1, 1000, 10).admitted, 1);
    /* keys are bytes: NULs count */
    ck_assert_int_eq(ea_throttle_admit(t, "a\0x", 3, 1, 1000, 10, &v), EA_THROTTLE_OK);
    ck_assert_int_eq(v.admitted, 1);
    ck_assert_int_eq(ea_throttle_admit(t, "a\0y", 3, 1, 1000, 10, &v), EA_THROTTLE_OK);
    ck_assert_int_eq(v.admitted, 1);
    ck_assert_int_eq(ea_throttle_admit(t, "a\0x", 3, 1, 1000, 10, &v), EA_THROTTLE_OK);
    ck_assert_int_eq(v.admitted, 0);
    ck_assert_int_eq(admit(t, "b", 1, 1000, 10).admitted, 0);
    ck_assert_int_eq(ea_throttle_validate(t), 0);
    munmap(t, size);
}
END_TEST

START_TEST(limit_and_period_change)
{
    size_t size;
    ea_throttle *t = table(64, 16, &size);
    ea_throttle_verdict v;
    for (uint64_t now = 0; now <= 200; now += 100)
        ck_assert_int_eq(admit(t, "k", 5, 1000, now).admitted, 1);
    /* a lower limit applies to the history at once */
    v = admit(t, "k", 2, 1000, 300);
    ck_assert_int_eq(v.admitted, 0);
    ck_assert_uint_eq(v.retry_after_ms, 800);   /* 2 must leave: the one at 100 at 1100 */
    ck_assert_int_eq(admit(t, "k", 2, 1000, 1099).admitted, 0);
    v = admit(t, "k", 2, 1000, 1100);
    ck_assert_int_eq(v.admitted, 1);
    ck_assert_uint_eq(v.remaining, 0);
    /* a higher one too */
    v = admit(t, "k", 10, 1000, 1100);
    ck_assert_int_eq(v.admitted, 1);
    ck_assert_uint_eq(v.remaining, 7);   /* 200, 1100, 1100 */
    /* a shorter period forgets sooner: 200 is out, 1100 twice in */
    v = admit(t, "k", 3, 100, 1150);
    ck_assert_int_eq(v.admitted, 1);
    ck_assert_uint_eq(v.remaining, 0);
    v = admit(t, "k", 3, 100, 1160);
    ck_assert_int_eq(v.admitted, 0);
    ck_assert_uint_eq(v.retry_after_ms, 40);
    v = admit(t, "k", 3, 100, 1200);
    ck_assert_int_eq(v.admitted, 1);
    ck_assert_uint_eq(v.remaining, 1);   /* 1150, 1200 */
    /* a longer one counts what is still recorded */
    v = admit(t, "k", 5, 100000, 1201);
    ck_assert_int_eq(v.admitted, 1);
    ck_assert_uint_eq(v.remaining, 2);
    ck_assert_int_eq(ea_throttle_validate(t), 0);
    munmap(t, size);
}
END_TEST

/* A plain sliding log, as DRF keeps it, for comparison. */
typedef struct {
    uint64_t t[64];
    unsigned n;
} ref_log;

static int ref_admit(ref_log *r, unsigned limit, uint64_t period, uint64_t now, uint64_t *wait)
{
    unsigned k = 0;
    while (k < r->n && r->t[k] + period <= now)
        k++;
    memmove(r->t, r->t + k, (r->n - k) * sizeof(uint64_t));
    r->n -= k;
    if (r->n < limit) {
        r->t[r->n++] = now;
        return 1;
    }
    *wait = r->t[r->n - limit] + period - now;
    return 0;
}

START_TEST(matches_reference_sliding_log)
{
    enum { KEYS = 7, ROUNDS = 20000 };
    static const unsigned limits[KEYS] = { 1, 2, 3, 5, 8, 13, 16 };
    static const uint64_t periods[KEYS] = { 100, 1000, 777, 60000, 2500, 90, 5000 };
    size_t size;
    ea_throttle *t = table(16, 16, &size);   /* limits <= slots: exact */
    ref_log ref[KEYS];
    memset(ref, 0, sizeof(ref));
    void *copy = aligned_alloc(64, size);
    unsigned seed = 12345, probes = 0;
    uint64_t now = 1000000;
    for (int i = 0; i < ROUNDS; i++) {
        seed = seed * 1103515245u + 12345u;
        unsigned k = (seed >> 8) % KEYS;
        now += (seed >> 16) % 4 == 0 ? (seed >> 20) % 300 : (seed >> 20) % 3;
        char key[32];
        snprintf(key, sizeof(key), "client-%u", k);
        ea_throttle_verdict v = admit(t, key, limits[k], periods[k], now);
        uint64_t wait = 0;
        int want = ref_admit(&ref[k], limits[k], periods[k], now, &wait);
        ck_assert_int_eq(v.admitted, want);
        ck_assert_uint_eq(v.at_ms, now);
        if (want) {
            ck_assert_uint_eq(v.remaining, limits[k] - ref[k].n);
            ck_assert_uint_eq(v.reset_ms, periods[k]);
        } else {
            ck_assert_uint_eq(v.retry_after_ms, wait);
            ck_assert_uint_eq(v.retry_after_s, (wait + 999) / 1000);
            ck_assert_uint_eq(v.reset_ms, ref[k].t[ref[k].n - 1] + periods[k] - now);
            if (i % 16 == 0) {
                /* on a copy of the region: refused just before, admitted at */
                memcpy(copy, t, size);
                ea_throttle *c = ea_throttle_attach(copy, size);
                ck_assert_ptr_nonnull(c);
                if (wait > 1)
                    ck_assert_int_eq(admit(c, key, limits[k], periods[k], now + wait - 1).admitted, 0);
                ck_assert_int_eq(admit(c, key, limits[k], periods[k], now + wait).admitted, 1);
                probes++;
            }
        }
    }
    ck_assert_uint_gt(probes, 50);
    ck_assert_int_eq(ea_throttle_validate(t), 0);
    free(copy);
    munmap(t, size);
}
END_TEST

/* limit > slots: time granules of g = ceil(P / (slots - 1)).  Each call must
 * be admitted when fewer than N admissions lie in (at - P - g + 1, at] and
 * refused when N or more lie in (at - P, at]; and never N + 1 within P. */
START_TEST(large_limits_use_granules)
{
    enum { ROUNDS = 30000, CAP = 30000 };
    static const unsigned limits[3] = { 50, 17, 1000 };
    static const uint64_t periods[3] = { 3000, 1000, 86400 };
    size_t size;
    ea_throttle *t = table(16, 8, &size);
    for (int k = 0; k < 3; k++) {
        uint64_t *log = malloc(CAP * sizeof(uint64_t));
        unsigned n = 0, seed = 777u + (unsigned)k;
        uint64_t now = 5000, P = periods[k], g = (P + 6) / 7;
        unsigned N = limits[k];
        char key[32];
        snprintf(key, sizeof(key), "big-%d", k);
        for (int i = 0; i < ROUNDS; i++) {
            seed = seed * 1103515245u + 12345u;
            now += (seed >> 16) % 8 == 0 ? (seed >> 20) % (P / 4) : (seed >> 20) % 3;
            unsigned in_p = 0, in_pg = 0;
            for (unsigned j = n; j > 0 && log[j - 1] + P + g - 1 > now; j--) {
                in_pg++;
                in_p += log[j - 1] + P > now;
            }
            ea_throttle_verdict v = admit(t, key, N, P, now);
            if (in_pg < N)
                ck_assert_int_eq(v.admitted, 1);
            if (in_p >= N)
                ck_assert_int_eq(v.admitted, 0);
            if (!v.admitted) {
                ck_assert_uint_ge(v.retry_after_ms, 1);
                ck_assert_uint_le(v.retry_after_ms, P + g - 1);
            }
            if (v.admitted) {
                ck_assert_uint_lt(n, CAP);
                log[n++] = now;
            }
        }
        ck_assert_uint_gt(n, N * 5);
        ck_assert_int_eq(window_violations(log, n, N, P), 0);
        free(log);
    }
    ck_assert_int_eq(ea_throttle_validate(t), 0);
    munmap(t, size);
}
END_TEST

/* A ring filled with exact stamps, then the limit raised above the slots:
 * the full ring takes the overflow into its newest bucket (counting it
 * longer, never shorter). */
START_TEST(full_ring_after_limit_change)
{
    size_t size;
    ea_throttle *t = table(16, 4, &size);
    uint64_t log[200];
    unsigned n = 0;
    for (uint64_t now = 0; now < 4; now++) {
        ck_assert_int_eq(admit(t, "k", 4, 1000, now).admitted, 1);
        log[n++] = now;
    }
    for (uint64_t now = 4; now < 3000; now += 13) {
        ea_throttle_verdict v = admit(t, "k", 60, 1000, now);
        if (v.admitted)
            log[n++] = now;
        ck_assert_uint_lt(n, 200);
    }
    ck_assert_uint_gt(n, 100);
    ck_assert_int_eq(window_violations(log, n, 60, 1000), 0);
    ck_assert_int_eq(ea_throttle_validate(t), 0);
    munmap(t, size);
}
END_TEST

/* ---- the table: placement, idle reuse, LRU eviction ------------------------------ */

START_TEST(full_table_reuses_idle_then_lru)
{
    size_t size;
    ea_throttle *t = table(8, 4, &size);   /* one group: every key competes */
    ea_throttle_stats st;
    char key[32];
    /* seven clients and one with a short period fill it */
    for (int i = 0; i < 7; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        ck_assert_int_eq(admit(t, key, 1, 1000, 1000 + (uint64_t)i).admitted, 1);
    }
    ck_assert_int_eq(admit(t, "short", 1, 100, 1400).admitted, 1);
    ea_throttle_stats_get(t, &st);
    ck_assert_uint_eq(st.inserted, 8);
    /* at 1500 "short" is idle, though the most recently seen: its entry goes */
    ck_assert_int_eq(admit(t, "new", 1, 1000, 1500).admitted, 1);
    ea_throttle_stats_get(t, &st);
    ck_assert_uint_eq(st.reused_idle, 1);
    ck_assert_uint_eq(st.evicted_live, 0);
    for (int i = 0; i < 7; i++) {   /* all still remembered */
        snprintf(key, sizeof(key), "k%d", i);
        ck_assert_int_eq(admit(t, key, 1, 1000, 1500).admitted, 0);
    }
    ck_assert_int_eq(admit(t, "new", 1, 1000, 1500).admitted, 0);
    /* nothing idle: the least recently seen goes; make it k3 */
    for (int i = 0; i < 7; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        if (i != 3)
            ck_assert_int_eq(admit(t, key, 1, 1000, 1600).admitted, 0);
    }
    ck_assert_int_eq(admit(t, "new", 1, 1000, 1600).admitted, 0);
    ck_assert_int_eq(admit(t, "x", 1, 1000, 1700).admitted, 1);
    ea_throttle_stats_get(t, &st);
    ck_assert_uint_eq(st.evicted_live, 1);
    for (int i = 0; i < 7; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        if (i != 3)
            ck_assert_int_eq(admit(t, key, 1, 1000, 1700).admitted, 0);
    }
    ck_assert_int_eq(admit(t, "new", 1, 1000, 1700).admitted, 0);
    ck_assert_int_eq(admit(t, "x", 1, 1000, 1700).admitted, 0);
    ck_assert_int_eq(ea_throttle_validate(t), 0);
    /* k3 lost its history: admitted again (pushing out another) */
    ck_assert_int_eq(admit(t, "k3", 1, 1000, 1800).admitted, 1);
    /* once every window has passed, every entry is idle: no more live evictions */
    ea_throttle_stats_get(t, &st);
    uint64_t live_before = st.evicted_live;
    for (int i = 0; i < 20; i++) {
        snprintf(key, sizeof(key), "later-%d", i);
        ck_assert_int_eq(admit(t, key, 1, 1000, 10000 + (uint64_t)i * 1000).admitted, 1);
    }
    ea_throttle_stats_get(t, &st);
    ck_assert_uint_eq(st.evicted_live, live_before);
    ck_assert_uint_ge(st.reused_idle, 20);
    ck_assert_int_eq(ea_throttle_validate(t), 0);
    munmap(t, size);
}
END_TEST

/* "k" is judged idle and its entry given away at 1100; "k" comes back with
 * a reading taken at 1050 (before that, but reaching the table after): it
 * must not count as 50 ms after its admission at 1000. */
START_TEST(reused_entry_starts_at_the_latest_claim)
{
    size_t size;
    ea_throttle *t = table(8, 4, &size);
    char key[32];
    ck_assert_int_eq(admit(t, "k", 1, 100, 1000).admitted, 1);
    for (int i = 0; i < 7; i++) {
        snprintf(key, sizeof(key), "o%d", i);
        ck_assert_int_eq(admit(t, key, 1, 100000, 1000).admitted, 1);
    }
    ck_assert_int_eq(admit(t, "y", 1, 100000, 1100).admitted, 1);
    ea_throttle_stats st;
    ea_throttle_stats_get(t, &st);
    ck_assert_uint_eq(st.reused_idle, 1);
    ea_throttle_verdict v = admit(t, "k", 1, 100, 1050);
    ck_assert_int_eq(v.admitted, 1);
    ck_assert_uint_eq(v.at_ms, 1100);
    /* a reading far behind (a clock of its own) is not dragged along */
    v = admit(t, "z", 1, 100, 50);
    ck_assert_uint_eq(v.at_ms, 50);
    ck_assert_int_eq(ea_throttle_validate(t), 0);
    munmap(t, size);
}
END_TEST

START_TEST(hash_spreads_keys)
{
    enum { KEYS = 100000 };
    size_t size;
    ea_throttle *t = table(131072, 2, &size);
    unsigned ng = ea_throttle_entries(t) / EA_THROTTLE_GROUP;
    unsigned *hist = calloc(ng, sizeof(unsigned));
    size_t osize = ea_throttle_size(131072, 2);
    ea_throttle *o = ea_throttle_init(region(osize), osize, 131072, 2, other16);
    unsigned same = 0;
    char key[32];
    for (unsigned i = 0; i < KEYS; i++) {
        /* addresses next to each other, as an attacker would pick them */
        int klen = snprintf(key, sizeof(key), "10.%u.%u.%u", i >> 16, (i >> 8) & 255, i & 255);
        unsigned g1, g2, o1, o2;
        ea_throttle_groups(t, key, (size_t)klen, &g1, &g2);
        ck_assert_uint_lt(g1, ng);
        ck_assert_uint_lt(g2, ng);
        ck_assert_uint_ne(g1, g2);
        hist[g1]++;
        ea_throttle_groups(o, key, (size_t)klen, &o1, &o2);
        same += o1 == g1;
    }
    /* chi-square against uniform: ng - 1 degrees of freedom */
    double lambda = (double)KEYS / ng, chi2 = 0;
    unsigned maxc = 0;
    for (unsigned g = 0; g < ng; g++) {
        chi2 += (hist[g] - lambda) * (hist[g] - lambda) / lambda;
        if (hist[g] > maxc)
            maxc = hist[g];
    }
    double df = ng - 1, sd = sqrt(2 * df);
    ck_assert_msg(chi2 > df - 6 * sd && chi2 < df + 6 * sd, "chi2 %.0f for %.0f dof", chi2, df);
    ck_assert_uint_le(maxc, 20);
    ck_assert_uint_lt(same, KEYS / 100);   /* another secret, other places */

    /* all of them in their window at once, at 76% load: placed without
     * pushing out one another */
    ea_throttle_stats st;
    for (unsigned i = 0; i < KEYS; i++) {
        int klen = snprintf(key, sizeof(key), "10.%u.%u.%u", i >> 16, (i >> 8) & 255, i & 255);
        ea_throttle_verdict v;
        ck_assert_int_eq(ea_throttle_admit(t, key, (size_t)klen, 10, 3600000, 1000 + i / 100, &v), EA_THROTTLE_OK);
        ck_assert_int_eq(v.admitted, 1);
    }
    ea_throttle_stats_get(t, &st);
    fprintf(stderr, "hash_spreads_keys: chi2 %.0f (dof %.0f), max %u a group; %u keys in %u entries: "
            "%llu inserted, %llu evicted live\n", chi2, df, maxc, KEYS, ea_throttle_entries(t),
            (unsigned long long)st.inserted, (unsigned long long)st.evicted_live);
    ck_assert_uint_le(st.evicted_live, KEYS / 10000);
    ck_assert_int_eq(ea_throttle_validate(t), 0);
    free(hist);
    munmap(o, osize);
    munmap(t, size);
}
END_TEST

/* ---- attaching, validating -------------------------------------------------------- */

START_TEST(attach_checks_the_shape)
{
    size_t size;
    ea_throttle *t = table(100, 16, &size);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(admit(t, "kept", 3, 60000, 1000).admitted, 1);
    ck_assert_ptr_eq(ea_throttle_attach(t, size), t);
    ck_assert_ptr_null(ea_throttle_attach(t, size - 1));   /* does not fit */
    ck_assert_ptr_null(ea_throttle_attach(NULL, size));
    ck_assert_ptr_null(ea_throttle_attach((char *)t + 1, size - 1));

    /* somewhere else, as after a graceful restart: the history is kept */
    char *copy = aligned_alloc(64, size + 64);
    memcpy(copy + 64, t, size);
    ea_throttle *c = ea_throttle_attach(copy + 64, size);
    ck_assert_ptr_nonnull(c);
    ck_assert_uint_eq(ea_throttle_entries(c), 104);
    ck_assert_uint_eq(ea_throttle_slots(c), 16);
    ck_assert_int_eq(ea_throttle_validate(c), 0);
    ck_assert_int_eq(admit(c, "kept", 3, 60000, 2000).admitted, 0);

    /* any field of the shape changed: refused */
    static const size_t fields[] = { 0, 4, 8, 12, 16, 24, 32, 56 };
    for (size_t f = 0; f < sizeof(fields) / sizeof(fields[0]); f++) {
        memcpy(copy + 64, t, size);
        copy[64 + fields[f]] ^= 0x10;
        ck_assert_msg(ea_throttle_attach(copy + 64, size) == NULL, "field at %zu", fields[f]);
        ck_assert_int_ne(ea_throttle_validate((ea_throttle *)(copy + 64)), 0);
    }
    /* never laid out */
    memset(copy, 0, size);
    ck_assert_ptr_null(ea_throttle_attach(copy, size));
    free(copy);
    munmap(t, size);
}
END_TEST

START_TEST(validate_finds_damage)
{
    size_t size;
    ea_throttle *t = table(64, 8, &size);
    char key[32];
    for (int i = 0; i < 40; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        for (int j = 0; j < 5; j++)
            admit(t, key, 4, 1000, 100 + (uint64_t)j * 10);
    }
    ck_assert_int_eq(ea_throttle_validate(t), 0);
    /* garbage over the entries */
    char *save = malloc(size);
    memcpy(save, t, size);
    memset((char *)t + size / 2, 0xa5, size - size / 2);
    ck_assert_int_lt(ea_throttle_validate(t), 0);
    /* a single byte of some entry's ring or hash */
    memcpy(t, save, size);
    int caught = 0, tried = 0;
    for (size_t off = 128; off + 8 <= size; off += 61) {
        memcpy(t, save, size);
        ((unsigned char *)t)[off] ^= 0xff;
        tried++;
        caught += ea_throttle_validate(t) != 0;
    }
    ck_assert_int_gt(caught, 0);
    fprintf(stderr, "validate_finds_damage: %d of %d single-byte corruptions caught\n", caught, tried);
    memcpy(t, save, size);
    ck_assert_int_eq(ea_throttle_validate(t), 0);
    free(save);
    munmap(t, size);
}
END_TEST

/* ---- locks -------------------------------------------------------------------------- */

START_TEST(lock_of_a_dead_process_is_broken)
{
    size_t size;
    ea_throttle *t = table(64, 8, &size);
    ck_assert_int_eq(admit(t, "k", 2, 1000, 100).admitted, 1);
    pid_t dead = fork();
    ck_assert_int_ne(dead, -1);
    if (dead == 0)
        _exit(0);
    ck_assert_int_eq(waitpid(dead, NULL, 0), dead);
    ck_assert_int_eq(ea_throttle_test_hold(t, "k", 1, dead, 0), 0);
    ck_assert_int_eq(ea_throttle_test_hold(t, "k", 1, dead, 0), -1);   /* already held */
    ck_assert_int_eq(ea_throttle_test_hold(t, "nope", 4, dead, 0), -1);
    uint64_t t0 = mono_ms();
    ea_throttle_verdict v = admit(t, "k", 2, 1000, 200);
    ck_assert_int_eq(v.admitted, 1);
    ck_assert_uint_eq(v.remaining, 0);
    ck_assert_uint_lt(mono_ms() - t0, EA_THROTTLE_WAIT_MS);
    ea_throttle_stats st;
    ea_throttle_stats_get(t, &st);
    ck_assert_uint_eq(st.broken_locks, 1);
    ck_assert_int_eq(ea_throttle_validate(t), 0);
    munmap(t, size);
}
END_TEST

START_TEST(stale_lock_is_broken_live_one_waited_for)
{
    size_t size;
    ea_throttle *t = table(64, 8, &size);
    ea_throttle_verdict v;
    ck_assert_int_eq(admit(t, "k", 2, 1000, 100).admitted, 1);
    /* held by a live process (ours) for longer than a section can take:
     * a reused pid, or a process frozen there */
    ck_assert_int_eq(ea_throttle_test_hold(t, "k", 1, getpid(), EA_THROTTLE_LOCK_STALE_MS + 10), 0);
    ck_assert_int_eq(admit(t, "k", 2, 1000, 200).admitted, 1);
    /* held by a live process just now: waited for, then BUSY, in bounded time */
    ck_assert_int_eq(ea_throttle_test_hold(t, "k", 1, getpid(), 0), 0);
    uint64_t t0 = mono_ms();
    ck_assert_int_eq(ea_throttle_admit(t, "k", 1, 2, 1000, 300, &v), EA_THROTTLE_BUSY);
    uint64_t took = mono_ms() - t0;
    ck_assert_uint_ge(took, EA_THROTTLE_WAIT_MS - 5);
    ck_assert_uint_lt(took, EA_THROTTLE_WAIT_MS + 1000);
    /* other keys are not held up */
    ck_assert_int_eq(admit(t, "other", 2, 1000, 300).admitted, 1);
    ea_throttle_stats st;
    ea_throttle_stats_get(t, &st);
    ck_assert_uint_eq(st.broken_locks, 1);
    ck_assert_uint_eq(st.busy, 1);
    munmap(t, size);
}
END_TEST

/* ---- processes x threads ---------------------------------------------------------------- */

enum { SKEYS = 5, LOGCAP = 40000 };
static const unsigned s_limits[SKEYS] = { 5, 16, 1, 100, 40 };     /* slots 16: the last two by granules */
static const uint64_t s_periods[SKEYS] = { 1000, 300, 50, 4000, 997 };
static const unsigned r_limits[SKEYS] = { 5, 16, 1, 100, 40 };
static const uint64_t r_periods[SKEYS] = { 20, 30, 5, 200, 50 };    /* real time: short */

typedef struct {
    uint64_t clock;          /* the fake clock */
    uint64_t calls, busy, bad, stale;
    uint64_t deadline_ms;    /* real-time runs: until then */
    uint32_t nlog[SKEYS];
    uint64_t log[SKEYS][LOGCAP];
} shared_t;

typedef struct {
    shared_t *sh;
    ea_throttle *t;
    unsigned seed;
    int iters;               /* fake clock: calls; real clock: 0 (until the deadline) */
    int real;
} worker_arg;

static void *worker(void *p)
{
    worker_arg *a = p;
    shared_t *sh = a->sh;
    unsigned seed = a->seed;
    for (int i = 0; a->real ? mono_ms() < __atomic_load_n(&sh->deadline_ms, __ATOMIC_RELAXED) : i < a->iters; i++) {
        seed = seed * 1103515245u + 12345u;
        unsigned k = (seed >> 8) % SKEYS;
        unsigned limit = a->real ? r_limits[k] : s_limits[k];
        uint64_t period = a->real ? r_periods[k] : s_periods[k], now;
        if (a->real) {
            now = mono_ms();
        } else {
            now = __atomic_add_fetch(&sh->clock, (seed >> 16) % 3, __ATOMIC_SEQ_CST);
            if ((seed >> 20) % 16 == 0)   /* a reading taken a while ago */
                now = now > 50 ? now - (seed >> 24) % 50 : now;
        }
        char key[32];
        int klen = snprintf(key, sizeof(key), "hot-%u", k);
        ea_throttle_verdict v;
        int rc = ea_throttle_admit(a->t, key, (size_t)klen, limit, period, now, &v);
        __atomic_add_fetch(&sh->calls, 1, __ATOMIC_RELAXED);
        if (rc == EA_THROTTLE_BUSY) {
            __atomic_add_fetch(&sh->busy, 1, __ATOMIC_RELAXED);
            continue;
        }
        int ok = rc == EA_THROTTLE_OK && v.at_ms >= now;
        if (v.at_ms > now)
            __atomic_add_fetch(&sh->stale, 1, __ATOMIC_RELAXED);
        if (v.admitted)
            ok = ok && v.remaining < limit && v.retry_after_s == 0 && v.reset_ms == period;
        else
            ok = ok && v.remaining == 0 && v.retry_after_ms >= 1 && v.retry_after_s >= 1
                 && v.retry_after_s == (v.retry_after_ms + 999) / 1000
                 && v.retry_after_ms <= period + period / 15;
        if (!ok)
            __atomic_add_fetch(&sh->bad, 1, __ATOMIC_RELAXED);
        if (v.admitted) {
            uint32_t at = __atomic_fetch_add(&sh->nlog[k], 1, __ATOMIC_RELAXED);
            if (at < LOGCAP)
                sh->log[k][at] = v.at_ms;
            else
                __atomic_add_fetch(&sh->bad, 1, __ATOMIC_RELAXED);
        }
    }
    return NULL;
}

static void run_process(shared_t *sh, ea_throttle *t, int proc, int threads, int iters, int real)
{
    pthread_t th[8];
    worker_arg args[8];
    for (int i = 0; i < threads; i++) {
        args[i] = (worker_arg){ sh, t, (unsigned)(proc * 131 + i * 7 + 1), iters, real };
        if (pthread_create(&th[i], NULL, worker, &args[i]) != 0)
            _exit(2);
    }
    for (int i = 0; i < threads; i++)
        pthread_join(th[i], NULL);
    _exit(0);
}

/* Wait for pid at most ms; 1 if it exited with status 0. */
static int reap_within(pid_t pid, uint64_t ms)
{
    uint64_t end = mono_ms() + ms;
    int status;
    for (;;) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            return WIFEXITED(status) && WEXITSTATUS(status) == 0;
        if (mono_ms() > end) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            return 0;
        }
        usleep(2000);
    }
}

static void check_logs(shared_t *sh, int real)
{
    for (int k = 0; k < SKEYS; k++) {
        unsigned n = sh->nlog[k] < LOGCAP ? sh->nlog[k] : LOGCAP;
        unsigned limit = real ? r_limits[k] : s_limits[k];
        uint64_t period = real ? r_periods[k] : s_periods[k];
        ck_assert_msg(n > limit, "key %d: only %u admissions", k, n);
        int bad = window_violations(sh->log[k], n, limit, period);
        ck_assert_msg(bad == 0, "key %d: %d windows of %llu ms with more than %u admissions", k,
                      bad, (unsigned long long)period, limit);
    }
}

static void stress(int real)
{
    int procs = 4, threads = 4, iters = under_valgrind() ? 1500 : 20000;
    size_t size;
    ea_throttle *t = table(1024, 16, &size);
    shared_t *sh = region(sizeof(shared_t));
    sh->clock = 1000000;
    sh->deadline_ms = mono_ms() + (under_valgrind() ? 3000 : 1500);
    pid_t pids[8];
    for (int p = 0; p < procs; p++) {
        pids[p] = fork();
        ck_assert_int_ne(pids[p], -1);
        if (pids[p] == 0)
            run_process(sh, t, p, threads, iters, real);
    }
    for (int p = 0; p < procs; p++)
        ck_assert_msg(reap_within(pids[p], 120000), "process %d did not finish", p);
    ea_throttle_stats st;
    ea_throttle_stats_get(t, &st);
    fprintf(stderr, "stress (%s clock): %llu calls, %llu busy, %llu decided at a later time than "
            "given, admissions %u/%u/%u/%u/%u\n", real ? "real" : "fake",
            (unsigned long long)sh->calls, (unsigned long long)sh->busy,
            (unsigned long long)sh->stale, sh->nlog[0], sh->nlog[1], sh->nlog[2], sh->nlog[3],
            sh->nlog[4]);
    ck_assert_uint_eq(sh->bad, 0);
    ck_assert_uint_le(sh->busy, sh->calls / 1000);
    ck_assert_uint_eq(st.inserted, SKEYS);   /* nobody pushed out: the guarantee applies */
    ck_assert_uint_eq(st.evicted_live, 0);
    check_logs(sh, real);
    ck_assert_int_eq(ea_throttle_validate(t), 0);
    munmap(sh, sizeof(shared_t));
    munmap(t, size);
}

START_TEST(stress_processes_threads_fake_clock)
{
    stress(0);
}
END_TEST

START_TEST(stress_processes_threads_real_clock)
{
    stress(1);
}
END_TEST

/* Many keys through a small table from several processes: the insertion
 * path under contention.  No key twice, no deadlock, a sane table. */
START_TEST(churn_through_a_small_table)
{
    int procs = 4, iters = under_valgrind() ? 3000 : 40000;
    size_t size;
    ea_throttle *t = table(64, 4, &size);
    shared_t *sh = region(sizeof(shared_t));
    pid_t pids[4];
    for (int p = 0; p < procs; p++) {
        pids[p] = fork();
        ck_assert_int_ne(pids[p], -1);
        if (pids[p] == 0) {
            unsigned seed = (unsigned)p * 7919u + 3;
            int bad = 0;
            for (int i = 0; i < iters; i++) {
                seed = seed * 1103515245u + 12345u;
                char key[32];
                int klen = snprintf(key, sizeof(key), "c%u", (seed >> 8) % 500);
                uint64_t now = __atomic_add_fetch(&sh->clock, 1, __ATOMIC_RELAXED);
                ea_throttle_verdict v;
                int rc = ea_throttle_admit(t, key, (size_t)klen, 1 + (seed >> 20) % 6,
                                           1 + (seed >> 24) % 100, now, &v);
                bad += rc == EA_THROTTLE_EINVAL;
                if (rc == EA_THROTTLE_BUSY)
                    __atomic_add_fetch(&sh->busy, 1, __ATOMIC_RELAXED);
            }
            _exit(bad ? 1 : 0);
        }
    }
    for (int p = 0; p < procs; p++)
        ck_assert_msg(reap_within(pids[p], 120000), "process %d", p);
    ea_throttle_stats st;
    ea_throttle_stats_get(t, &st);
    fprintf(stderr, "churn: %llu inserted, %llu idle reused, %llu evicted live, %llu busy\n",
            (unsigned long long)st.inserted, (unsigned long long)st.reused_idle,
            (unsigned long long)st.evicted_live, (unsigned long long)sh->busy);
    ck_assert_uint_gt(st.reused_idle, 100);
    /* BUSY only when a lock holder was descheduled for longer than
     * EA_THROTTLE_WAIT_MS (a loaded machine, valgrind): rare, never a
     * pattern.  A lock left held would make it common. */
    ck_assert_uint_le(sh->busy, (uint64_t)procs * (uint64_t)iters / 1000);
    ck_assert_int_eq(ea_throttle_validate(t), 0);
    munmap(sh, sizeof(shared_t));
    munmap(t, size);
}
END_TEST

/* A process dies holding a key's lock (planted, then SIGKILLed): the
 * others get BUSY for that key in bounded time meanwhile, go on with the
 * other keys, and take the key over once the process is gone.  Then two
 * hammering processes are killed at random points: the rest finish. */
START_TEST(killed_processes_do_not_stop_the_others)
{
    int threads = 3;
    size_t size;
    ea_throttle *t = table(1024, 16, &size);
    shared_t *sh = region(sizeof(shared_t));
    ck_assert_int_eq(admit(t, "hot-0", 5, 20, mono_ms()).admitted, 1);
    sh->deadline_ms = mono_ms() + 60000;   /* cut short below, once the kills are done */

    int pipefd[2];
    ck_assert_int_eq(pipe(pipefd), 0);
    pid_t holder = fork();
    ck_assert_int_ne(holder, -1);
    if (holder == 0) {
        /* die inside the critical section of "hot-0", frozen there */
        char c = ea_throttle_test_hold(t, "hot-0", 5, getpid(), 0) == 0 ? 'y' : 'n';
        if (write(pipefd[1], &c, 1) != 1)
            _exit(1);
        for (;;)
            pause();
    }
    char c = 0;
    ck_assert_int_eq(read(pipefd[0], &c, 1), 1);
    ck_assert_int_eq(c, 'y');
    close(pipefd[0]);
    close(pipefd[1]);

    pid_t pids[5];
    for (int p = 0; p < 5; p++) {
        pids[p] = fork();
        ck_assert_int_ne(pids[p], -1);
        if (pids[p] == 0)
            run_process(sh, t, p, threads, 0, 1);
    }
    /* Until the hammering processes have met the held key (a loaded
     * machine under valgrind may take seconds), at least 400 ms. */
    uint64_t wait_until = mono_ms() + 20000;
    usleep(400000);
    while (__atomic_load_n(&sh->busy, __ATOMIC_RELAXED) == 0 && mono_ms() < wait_until)
        usleep(50000);
    uint64_t busy_while_held = __atomic_load_n(&sh->busy, __ATOMIC_RELAXED);
    uint32_t hot0_while_held = __atomic_load_n(&sh->nlog[0], __ATOMIC_RELAXED);
    ck_assert_int_eq(kill(holder, SIGKILL), 0);
    ck_assert_int_eq(waitpid(holder, NULL, 0), holder);
    /* kill two of the hammering ones at odd moments */
    usleep(123457);
    kill(pids[1], SIGKILL);
    waitpid(pids[1], NULL, 0);
    usleep(210011);
    kill(pids[3], SIGKILL);
    waitpid(pids[3], NULL, 0);
    __atomic_store_n(&sh->deadline_ms, mono_ms() + (under_valgrind() ? 3000 : 1500), __ATOMIC_RELAXED);
    uint64_t t0 = mono_ms();
    for (int p = 0; p < 5; p++)
        if (p != 1 && p != 3)
            ck_assert_msg(reap_within(pids[p], 30000), "process %d stuck", p);   /* the bound: no timing of a loaded machine */
    uint64_t tail = mono_ms() - t0;
    ea_throttle_stats st;
    ea_throttle_stats_get(t, &st);
    fprintf(stderr, "killed: %llu busy while hot-0 was held (hot-0 admitted %u times then), "
            "%llu locks broken, %llu calls, finished %llu ms after the kills, admissions %u/%u/%u/%u/%u\n",
            (unsigned long long)busy_while_held, hot0_while_held,
            (unsigned long long)st.broken_locks, (unsigned long long)sh->calls,
            (unsigned long long)tail, sh->nlog[0], sh->nlog[1], sh->nlog[2], sh->nlog[3], sh->nlog[4]);
    ck_assert_uint_gt(busy_while_held, 0);
    ck_assert_uint_eq(hot0_while_held, 0);
    ck_assert_uint_ge(st.broken_locks, 1);
    ck_assert_uint_gt(sh->nlog[0], 10);      /* taken over after the holder died */
    ck_assert_uint_eq(sh->bad, 0);
    /* the admission before the threads ran is not in the log: the check
     * stays valid without it (one fewer) */
    check_logs(sh, 1);
    /* a killed one may have left a lock: every key is still usable */
    for (int k = 0; k < SKEYS; k++) {
        char key[32];
        int klen = snprintf(key, sizeof(key), "hot-%d", k);
        ea_throttle_verdict v;
        ck_assert_int_eq(ea_throttle_admit(t, key, (size_t)klen, 1000, 1, mono_ms() + 1000, &v), EA_THROTTLE_OK);
    }
    ck_assert_int_eq(ea_throttle_validate(t), 0);
    munmap(sh, sizeof(shared_t));
    munmap(t, size);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("throttle");
    TCase *tc = tcase_create("semantics");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, sizes_and_arguments);
    tcase_add_test(tc, burst_then_refuse);
    tcase_add_test(tc, sliding_window_edges);
    tcase_add_test(tc, keys_are_independent);
    tcase_add_test(tc, limit_and_period_change);
    tcase_add_test(tc, matches_reference_sliding_log);
    tcase_add_test(tc, large_limits_use_granules);
    tcase_add_test(tc, full_ring_after_limit_change);
    suite_add_tcase(s, tc);
    tc = tcase_create("table");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, full_table_reuses_idle_then_lru);
    tcase_add_test(tc, reused_entry_starts_at_the_latest_claim);
    tcase_add_test(tc, hash_spreads_keys);
    tcase_add_test(tc, attach_checks_the_shape);
    tcase_add_test(tc, validate_finds_damage);
    suite_add_tcase(s, tc);
    tc = tcase_create("concurrency");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, lock_of_a_dead_process_is_broken);
    tcase_add_test(tc, stale_lock_is_broken_live_one_waited_for);
    tcase_add_test(tc, stress_processes_threads_fake_clock);
    tcase_add_test(tc, stress_processes_threads_real_clock);
    tcase_add_test(tc, churn_through_a_small_table);
    tcase_add_test(tc, killed_processes_do_not_stop_the_others);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
