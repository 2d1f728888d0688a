/* Unit tests: the shared-memory metrics (lib/ea_metrics.c) — counts from
 * several processes and threads add up exactly, a region is reused only
 * with the same layout, and the exposition is well formed. */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <apr_strings.h>

#include "ea_metrics.h"

static void *region(size_t size)
{
    void *m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    ck_assert_ptr_ne(m, MAP_FAILED);
    return m;
}

static const char *const routes[] = { "unmatched", "redirect", "Country List", "Country Instance" };
static const char *const tasks[] = { "generate_metric_snapshot", "import_resources" };

START_TEST(attach_needs_the_same_layout)
{
    size_t size = ea_metrics_size();
    void *mem = region(size);
    uint64_t layout = ea_metrics_layout(routes, 4, tasks, 2);
    ea_metrics *m = ea_metrics_init(mem, size, layout);
    ck_assert_ptr_nonnull(m);
    ea_metrics_add(m, EA_C_CACHE_HIT, 3);
    ck_assert_ptr_eq(ea_metrics_attach(mem, size, layout), m);
    ck_assert_uint_eq(ea_metrics_counter(ea_metrics_attach(mem, size, layout), EA_C_CACHE_HIT), 3);
    ck_assert_ptr_null(ea_metrics_attach(mem, size, ea_metrics_layout(routes, 3, tasks, 2)));
    ck_assert_ptr_null(ea_metrics_attach(mem, size - 1, layout));
    ck_assert_ptr_null(ea_metrics_init((char *)mem + 8, size - 8, layout));   /* unaligned */
    munmap(mem, size);
}
END_TEST

#define PROCS 4
#define THREADS 4
#define ROUNDS 5000

static ea_metrics *shared;

static void *hammer(void *arg)
{
    (void)arg;
    for (int i = 0; i < ROUNDS; i++) {
        ea_metrics_add(shared, EA_C_DB_STATEMENT, 1);
        ea_metrics_request(shared, 2, i % 2 ? 200 : 503, (uint64_t)(i % 7) * 1000);
        ea_metrics_task(shared, EA_T_ENQUEUED, 1, 2);
    }
    return NULL;
}

START_TEST(processes_and_threads_add_up)
{
    size_t size = ea_metrics_size();
    void *mem = region(size);
    shared = ea_metrics_init(mem, size, 1);
    pid_t pids[PROCS];
    for (int p = 0; p < PROCS; p++) {
        pids[p] = fork();
        ck_assert_int_ge(pids[p], 0);
        if (pids[p] == 0) {
            pthread_t t[THREADS];
            for (int i = 0; i < THREADS; i++)
                pthread_create(&t[i], NULL, hammer, NULL);
            for (int i = 0; i < THREADS; i++)
                pthread_join(t[i], NULL);
            _exit(0);
        }
    }
    for (int p = 0; p < PROCS; p++) {
        int status;
        ck_assert_int_eq(waitpid(pids[p], &status, 0), pids[p]);
        ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    uint64_t n = (uint64_t)PROCS * THREADS * ROUNDS;
    ck_assert_uint_eq(ea_metrics_counter(shared, EA_C_DB_STATEMENT), n);
    ck_assert_uint_eq(ea_metrics_requests(shared, 2, 2), n / 2);
    ck_assert_uint_eq(ea_metrics_requests(shared, 2, 5), n / 2);
    ck_assert_uint_eq(ea_metrics_requests(shared, -1, 0), n);
    munmap(mem, size);
}
END_TEST

/* Each family's HELP and TYPE once, before its samples; buckets cumulative
 * with +Inf equal to _count. */
START_TEST(exposition_is_well_formed)
{
    apr_pool_t *p;
    apr_pool_create(&p, NULL);
    size_t size = ea_metrics_size();
    void *mem = region(size);
    ea_metrics *m = ea_metrics_init(mem, size, 1);
    ea_metrics_request(m, 2, 200, 50);          /* 0.05 ms: first bucket */
    ea_metrics_request(m, 2, 200, 2000);        /* 2 ms */
    ea_metrics_request(m, 2, 404, 20000000);    /* 20 s: above the last bound */
    ea_metrics_add(m, EA_C_CACHE_EVICTION, 5);
    const char *fields[] = { "generate_metric_snapshot|succeeded", "generate_metric_snapshot|duration_us",
                             "nonsense|succeeded" };
    const long long values[] = { 4, 2500000, 9 };
    ea_metrics_scrape s = { .routes = routes, .nroutes = 4, .tasks = tasks, .ntasks = 2,
                            .ndbs = 2, .listener_up = { 1, 0 }, .listener_pid = { 4242, 0 },
                            .listener_starts = { 3, 7 }, .cache_slots = 128, .broker = 1,
                            .queue = { 3, 1, 0, 2 }, .workers = 2, .nworker = 3,
                            .worker_field = fields, .worker_value = values };
    ea_buf b;
    ea_buf_init(&b, p, 1024);
    ea_metrics_write(m, &s, &b);
    const char *t = b.data;
    ck_assert_ptr_nonnull(strstr(t, "ecoatlas_http_requests_total{route=\"Country List\",code=\"2xx\"} 2\n"));
    ck_assert_ptr_nonnull(strstr(t, "ecoatlas_http_requests_total{route=\"Country List\",code=\"4xx\"} 1\n"));
    ck_assert_ptr_nonnull(strstr(t, "ecoatlas_http_request_duration_seconds_bucket{route=\"Country List\",le=\"0.0001\"} 1\n"));
    ck_assert_ptr_nonnull(strstr(t, "ecoatlas_http_request_duration_seconds_bucket{route=\"Country List\",le=\"0.0025\"} 2\n"));
    ck_assert_ptr_nonnull(strstr(t, "ecoatlas_http_request_duration_seconds_bucket{route=\"Country List\",le=\"10\"} 2\n"));
    ck_assert_ptr_nonnull(strstr(t, "ecoatlas_http_request_duration_seconds_bucket{route=\"Country List\",le=\"+Inf\"} 3\n"));
    ck_assert_ptr_nonnull(strstr(t, "ecoatlas_http_request_duration_seconds_count{route=\"Country List\"} 3\n"));
    ck_assert_ptr_nonnull(strstr(t, "ecoatlas_http_request_duration_seconds_sum{route=\"Country List\"} 20.002050\n"));
    ck_assert_ptr_nonnull(strstr(t, "ecoatlas_cache_evictions_total 5\n"));
    ck_assert_ptr_nonnull(strstr(t, "ecoatlas_cache_listener_up{database=\"1\"} 0\n"));
    ck_assert_ptr_nonnull(strstr(t, "ecoatlas_cache_listener_pid{database=\"0\"} 4242\n"));
    ck_assert_ptr_nonnull(strstr(t, "ecoatlas_cache_listener_pid{database=\"1\"} 0\n"));
    ck_assert_ptr_nonnull(strstr(t, "ecoatlas_cache_listener_starts_total{database=\"1\"} 7\n"));
    ck_assert_ptr_nonnull(strstr(t, "ecoatlas_task_queue_length{state=\"dead\"} 2\n"));
    ck_assert_ptr_nonnull(strstr(t, "ecoatlas_worker_tasks_total{task=\"generate_metric_snapshot\",outcome=\"succeeded\"} 4\n"));
    ck_assert_ptr_nonnull(strstr(t, "ecoatlas_worker_task_duration_seconds_sum{task=\"generate_metric_snapshot\"} 2.500000\n"));
    ck_assert_ptr_null(strstr(t, "nonsense"));   /* unknown task names never become labels */
    /* every TYPE line names a family once */
    for (const char *l = strstr(t, "# TYPE "); l; l = strstr(l + 1, "# TYPE ")) {
        char name[128];
        ck_assert_int_eq(sscanf(l, "# TYPE %127s", name), 1);
        char *again = apr_psprintf(p, "# TYPE %s ", name);
        ck_assert_ptr_null(strstr(l + 1, again));
    }
    ck_assert_int_eq(t[b.len - 1], '\n');
    munmap(mem, size);
    apr_pool_destroy(p);
}
END_TEST

START_TEST(result_rows)
{
    ck_assert_int_eq(ea_metrics_result_rows("{\"message\":\"x\",\"imported\":12,\"rejected\":0}"), 12);
    ck_assert_int_eq(ea_metrics_result_rows("{\"total_metrics\":2}"), -1);
    ck_assert_int_eq(ea_metrics_result_rows("null"), -1);
    ck_assert_int_eq(ea_metrics_result_rows(NULL), -1);
}
END_TEST

int main(void)
{
    apr_initialize();
    Suite *s = suite_create("metrics");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, attach_needs_the_same_layout);
    tcase_add_test(tc, processes_and_threads_add_up);
    tcase_add_test(tc, exposition_is_well_formed);
    tcase_add_test(tc, result_rows);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    apr_terminate();
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
