/* Unit tests for ea_rlredis (the Redis rate-limit backend) against a real
 * redis-server started by the test on a private Unix socket, and for the
 * EcoAtlasThrottleBackend URL parser (ea_edge). */
#include "ea_rlredis.h"

#include <apr_general.h>
#include <check.h>
#include <hiredis/hiredis.h>

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char dir[64], sock[128], redis_log[128];
static pid_t redis_pid = -1;
static ea_redis_url url;
static uint8_t secret[16];

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void redis_start(void)
{
    strcpy(dir, "/tmp/ea-rlredis-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(sock, sizeof sock, "%s/r.sock", dir);
    snprintf(redis_log, sizeof redis_log, "%s/redis.log", dir);
    redis_pid = fork();
    ck_assert_int_ge(redis_pid, 0);
    if (redis_pid == 0) {
        execlp("redis-server", "redis-server", "--port", "0", "--unixsocket", sock,
               "--unixsocketperm", "700", "--save", "", "--appendonly", "no", "--dir", dir,
               "--logfile", redis_log, "--loglevel", "warning", (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 100; i++) {
        if (access(sock, F_OK) == 0)
            break;
        usleep(50000);
    }
    ck_assert_int_eq(access(sock, F_OK), 0);
    char u[200];
    snprintf(u, sizeof u, "unix://%s?db=3", sock);
    ck_assert_int_eq(ea_redis_url_parse(u, &url, NULL), 0);
    ea_rlredis_secret(secret, "a test secret");
}

static void redis_stop(void)
{
    if (redis_pid > 0) {
        kill(redis_pid, SIGTERM);
        waitpid(redis_pid, NULL, 0);
        redis_pid = -1;
    }
    unlink(sock);
    unlink(redis_log);
    rmdir(dir);
}

static ea_rlredis *conn(void)
{
    char err[256] = "";
    ea_rlredis *c = ea_rlredis_connect(&url, 500, err, sizeof err);
    ck_assert_msg(c != NULL, "connect: %s", err);
    return c;
}

static ea_throttle_verdict admit(ea_rlredis *c, const char *key, unsigned limit, uint64_t period)
{
    char rkey[EA_RLREDIS_KEY_SIZE], err[256] = "";
    ea_throttle_verdict v;
    ea_rlredis_key(rkey, secret, key, strlen(key));
    ck_assert_msg(ea_rlredis_admit(c, rkey, limit, period, 29, &v, err, sizeof err) == 0, "admit: %s", err);
    return v;
}

/* A raw command on database 3, for inspecting what the script left. */
static redisReply *raw(const char *fmt, const char *arg)
{
    redisContext *r = redisConnectUnix(sock);
    ck_assert(r && !r->err);
    freeReplyObject(redisCommand(r, "SELECT 3"));
    redisReply *rep = redisCommand(r, fmt, arg);
    redisFree(r);
    return rep;
}

START_TEST(key_names)
{
    char a[EA_RLREDIS_KEY_SIZE], b[EA_RLREDIS_KEY_SIZE], c[EA_RLREDIS_KEY_SIZE];
    uint8_t s1[16], s2[16];
    ea_rlredis_secret(s1, "one");
    ea_rlredis_secret(s2, "two");
    ea_rlredis_key(a, s1, "a1000/86400000:10.0.0.1", 23);
    ea_rlredis_key(b, s1, "a1000/86400000:10.0.0.1", 23);
    ea_rlredis_key(c, s2, "a1000/86400000:10.0.0.1", 23);
    ck_assert_str_eq(a, b);
    ck_assert_str_ne(a, c);
    ck_assert_uint_eq(strlen(a), 44);
    ck_assert_int_eq(strncmp(a, "ecoatlas:rl:", 12), 0);
    ck_assert_uint_eq(strspn(a + 12, "0123456789abcdef"), 32);
    ck_assert(strstr(a, "10.0.0.1") == NULL);
}
END_TEST

START_TEST(whole_allowance_then_refusals)
{
    ea_rlredis *c = conn();
    for (unsigned i = 0; i < 5; i++) {
        ea_throttle_verdict v = admit(c, "fresh", 5, 60000);
        ck_assert_int_eq(v.admitted, 1);
        ck_assert_uint_eq(v.remaining, 4 - i);
        ck_assert_uint_eq(v.reset_s, 60);
        ck_assert_uint_eq(v.retry_after_s, 0);
    }
    ea_throttle_verdict v = admit(c, "fresh", 5, 60000);
    ck_assert_int_eq(v.admitted, 0);
    ck_assert_uint_eq(v.remaining, 0);
    ck_assert(v.retry_after_ms >= 59000 && v.retry_after_ms <= 60000);
    ck_assert_uint_eq(v.retry_after_s, 60);
    ck_assert(v.at_ms > 1600000000000ULL);   /* the Redis server's clock */
    /* bounded memory: the key expires with the window */
    char rkey[EA_RLREDIS_KEY_SIZE];
    ea_rlredis_key(rkey, secret, "fresh", 5);
    redisReply *r = raw("PTTL %s", rkey);
    ck_assert_int_eq(r->type, REDIS_REPLY_INTEGER);
    ck_assert(r->integer > 58000 && r->integer <= 60000);
    freeReplyObject(r);
    ea_rlredis_free(c);
}
END_TEST

/* The window slides: an admission frees its place exactly one period later. */
START_TEST(sliding_window)
{
    ea_rlredis *c = conn();
    ck_assert_int_eq(admit(c, "slide", 2, 400).admitted, 1);
    usleep(200000);
    ck_assert_int_eq(admit(c, "slide", 2, 400).admitted, 1);
    ea_throttle_verdict v = admit(c, "slide", 2, 400);
    ck_assert_int_eq(v.admitted, 0);
    ck_assert(v.retry_after_ms >= 150 && v.retry_after_ms <= 210);
    usleep((useconds_t)(v.retry_after_ms + 20) * 1000);
    ck_assert_int_eq(admit(c, "slide", 2, 400).admitted, 1);   /* the first left */
    ck_assert_int_eq(admit(c, "slide", 2, 400).admitted, 0);   /* the second is still in */
    usleep(450000);
    ck_assert_int_eq(admit(c, "slide", 2, 400).admitted, 1);
    ea_rlredis_free(c);
}
END_TEST

/* limit > slots: granules; still never more than the limit. */
START_TEST(granules)
{
    ea_rlredis *c = conn();
    unsigned n = 0;
    for (int i = 0; i < 120; i++)
        n += admit(c, "gran", 100, 3600000).admitted;
    ck_assert_uint_eq(n, 100);
    char rkey[EA_RLREDIS_KEY_SIZE];
    ea_rlredis_key(rkey, secret, "gran", 4);
    redisReply *r = raw("STRLEN %s", rkey);
    ck_assert(r->integer < 30 * 29);
    freeReplyObject(r);
    ea_rlredis_free(c);
}
END_TEST

/* SCRIPT FLUSH (or a failover): NOSCRIPT, then EVAL. */
START_TEST(noscript_fallback)
{
    ea_rlredis *c = conn();
    ck_assert_int_eq(admit(c, "flush", 3, 60000).admitted, 1);
    freeReplyObject(raw("SCRIPT FLUSH", NULL));
    ea_throttle_verdict v = admit(c, "flush", 3, 60000);
    ck_assert_int_eq(v.admitted, 1);
    ck_assert_uint_eq(v.remaining, 1);
    ea_rlredis_free(c);
}
END_TEST

/* The guarantee across processes and threads, each with its connection:
 * exactly `limit` admitted. */
typedef struct { int n; int admitted; } job;

static void *worker(void *arg)
{
    job *j = arg;
    char err[256];
    ea_rlredis *c = ea_rlredis_connect(&url, 1000, err, sizeof err);
    if (!c)
        return NULL;
    for (int i = 0; i < j->n; i++) {
        char rkey[EA_RLREDIS_KEY_SIZE];
        ea_throttle_verdict v;
        ea_rlredis_key(rkey, secret, "stress", 6);
        if (ea_rlredis_admit(c, rkey, 37, 60000, 29, &v, err, sizeof err) == 0 && v.admitted)
            j->admitted++;
    }
    ea_rlredis_free(c);
    return NULL;
}

START_TEST(fork_and_threads)
{
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    pid_t pids[4];
    for (int p = 0; p < 4; p++) {
        pids[p] = fork();
        ck_assert_int_ge(pids[p], 0);
        if (pids[p] == 0) {
            pthread_t th[4];
            job jobs[4];
            int total = 0;
            for (int t = 0; t < 4; t++) {
                jobs[t].n = 25;
                jobs[t].admitted = 0;
                pthread_create(&th[t], NULL, worker, &jobs[t]);
            }
            for (int t = 0; t < 4; t++) {
                pthread_join(th[t], NULL);
                total += jobs[t].admitted;
            }
            if (write(fds[1], &total, sizeof total) != sizeof total)
                _exit(1);
            _exit(0);
        }
    }
    close(fds[1]);
    int sum = 0, got, k = 0;
    while (read(fds[0], &got, sizeof got) == sizeof got) {
        sum += got;
        k++;
    }
    close(fds[0]);
    for (int p = 0; p < 4; p++)
        waitpid(pids[p], NULL, 0);
    ck_assert_int_eq(k, 4);
    ck_assert_int_eq(sum, 37);   /* 400 attempts, exactly the limit admitted */
}
END_TEST

/* Nobody waits on a dead server: connect fails at once, and a server that
 * stops answering (SIGSTOP) costs one command timeout. */
START_TEST(dead_server_fails_fast)
{
    ea_rlredis *c = conn();
    char err[256] = "";
    ea_throttle_verdict v;
    char rkey[EA_RLREDIS_KEY_SIZE];
    ea_rlredis_key(rkey, secret, "hang", 4);
    ea_rlredis_free(c);
    char errc[256];
    c = ea_rlredis_connect(&url, 50, errc, sizeof errc);
    ck_assert_ptr_nonnull(c);
    kill(redis_pid, SIGSTOP);
    uint64_t t0 = now_ms();
    ck_assert_int_eq(ea_rlredis_admit(c, rkey, 5, 60000, 29, &v, err, sizeof err), -1);
    uint64_t spent = now_ms() - t0;
    kill(redis_pid, SIGCONT);
    ck_assert_msg(spent >= 40 && spent < 300, "a stopped server took %llu ms", (unsigned long long)spent);
    ck_assert(err[0] != '\0');
    ea_rlredis_free(c);

    ea_redis_url gone;
    ck_assert_int_eq(ea_redis_url_parse("unix:///nonexistent/ea-redis.sock", &gone, NULL), 0);
    t0 = now_ms();
    ck_assert_ptr_null(ea_rlredis_connect(&gone, 50, err, sizeof err));
    ck_assert(now_ms() - t0 < 100);
    ck_assert(strstr(err, "connect") != NULL);
}
END_TEST

static Suite *rlredis_suite(void)
{
    Suite *s = suite_create("rlredis");
    TCase *u = tcase_create("url");
    tcase_add_test(u, key_names);
    suite_add_tcase(s, u);
    TCase *r = tcase_create("redis");
    tcase_add_unchecked_fixture(r, redis_start, redis_stop);
    tcase_set_timeout(r, 30);
    tcase_add_test(r, whole_allowance_then_refusals);
    tcase_add_test(r, sliding_window);
    tcase_add_test(r, granules);
    tcase_add_test(r, noscript_fallback);
    tcase_add_test(r, fork_and_threads);
    tcase_add_test(r, dead_server_fails_fast);
    suite_add_tcase(s, r);
    return s;
}

int main(void)
{
    apr_initialize();
    SRunner *sr = srunner_create(rlredis_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    apr_terminate();
    return failed == 0 ? 0 : 1;
}
