/* Unit tests for lib/ea_redis.c: the one Redis URL grammar (the forms of
 * EcoAtlasThrottleBackend and EcoAtlasBrokerURL, docs/directives.md), the
 * credentials policy of EcoAtlasThrottleBackend, redaction, script SHA-1s
 * and a connection that fails fast. */
#include "ea_redis.h"

#include <apr_general.h>
#include <check.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static apr_pool_t *pool;

static void setup(void)
{
    apr_pool_create(&pool, NULL);
}

static void teardown(void)
{
    apr_pool_destroy(pool);
}

START_TEST(tcp_forms)
{
    ea_redis_url u;
    const char *err;
    ck_assert_int_eq(ea_redis_url_parse("redis://localhost", &u, &err), 0);
    ck_assert(!u.is_unix);
    ck_assert_str_eq(u.host, "localhost");
    ck_assert_str_eq(u.path, "");
    ck_assert_int_eq(u.port, 6379);
    ck_assert_int_eq(u.db, 0);
    ck_assert(!u.has_password && !u.has_username);
    ck_assert_int_eq(ea_redis_url_parse("redis://redis:6379/0", &u, &err), 0);
    ck_assert_str_eq(u.host, "redis");
    ck_assert_int_eq(u.port, 6379);
    ck_assert_int_eq(u.db, 0);
    ck_assert_int_eq(ea_redis_url_parse("redis://10.0.0.5:6380/2", &u, &err), 0);
    ck_assert_str_eq(u.host, "10.0.0.5");
    ck_assert_int_eq(u.port, 6380);
    ck_assert_int_eq(u.db, 2);
    ck_assert_int_eq(ea_redis_url_parse("REDIS://[::1]:7000/15/", &u, &err), 0);
    ck_assert_str_eq(u.host, "::1");
    ck_assert_int_eq(u.port, 7000);
    ck_assert_int_eq(u.db, 15);
    ck_assert_int_eq(ea_redis_url_parse("redis://h/", &u, &err), 0);
    ck_assert_int_eq(u.db, 0);
    ck_assert_int_eq(ea_redis_url_parse("redis://h:1/65535", &u, &err), 0);
    ck_assert_int_eq(u.db, 65535);
    ck_assert_int_eq(ea_redis_url_parse("redis://h?db=7", &u, &err), 0);
    ck_assert_int_eq(u.db, 7);
}
END_TEST

START_TEST(credentials)
{
    ea_redis_url u;
    const char *err;
    ck_assert_int_eq(ea_redis_url_parse("redis://:s%40cret@10.0.0.5:6380/3", &u, &err), 0);
    ck_assert(u.has_password);
    ck_assert_str_eq(u.password, "s@cret");
    ck_assert(!u.has_username);
    ck_assert_int_eq(u.port, 6380);
    ck_assert_int_eq(u.db, 3);
    ck_assert_int_eq(ea_redis_url_parse("redis://worker:pw@[::1]:7000/2", &u, &err), 0);
    ck_assert_str_eq(u.host, "::1");
    ck_assert(u.has_username);
    ck_assert_str_eq(u.username, "worker");
    ck_assert_str_eq(u.password, "pw");
    ck_assert_int_eq(u.port, 7000);
    ck_assert_int_eq(ea_redis_url_parse("redis://user:pw@host", &u, &err), 0);
    ck_assert_str_eq(u.host, "host");
    ck_assert_int_eq(ea_redis_url_parse("redis://a:b@c@host", &u, &err), 0);   /* the last '@' */
    ck_assert_str_eq(u.password, "b@c");
    ck_assert_str_eq(u.host, "host");
    ck_assert_int_eq(ea_redis_url_parse("unix://:pw@/tmp/r.sock", &u, &err), 0);
    ck_assert(u.is_unix);
    ck_assert_str_eq(u.path, "/tmp/r.sock");
    ck_assert_str_eq(u.password, "pw");
    ck_assert_int_eq(ea_redis_url_parse("redis+socket:///tmp/r.sock?virtual_host=2&password=x", &u, &err), 0);
    ck_assert(u.is_unix);
    ck_assert_int_eq(u.db, 2);
    ck_assert_str_eq(u.password, "x");
    ck_assert_int_eq(ea_redis_url_parse("unix:///s?username=u&password=p%26q", &u, &err), 0);
    ck_assert_str_eq(u.username, "u");
    ck_assert_str_eq(u.password, "p&q");
    /* given twice: the last value, nothing of the first behind it (found
     * by fuzz_edge: two equal URLs must parse to equal structures) */
    ea_redis_url u2;
    ck_assert_int_eq(ea_redis_url_parse("unix:///s?username=a-long-first-name&username=b"
                                        "&password=first-password&password=p", &u, &err), 0);
    ck_assert_int_eq(ea_redis_url_parse("unix://b:p@/s", &u2, &err), 0);
    ck_assert_str_eq(u.username, "b");
    ck_assert_str_eq(u.password, "p");
    ck_assert(memcmp(&u, &u2, sizeof u) == 0);
}
END_TEST

START_TEST(unix_forms)
{
    ea_redis_url u;
    const char *err;
    ck_assert_int_eq(ea_redis_url_parse("unix:///run/redis/redis.sock?db=4", &u, &err), 0);
    ck_assert(u.is_unix);
    ck_assert_str_eq(u.path, "/run/redis/redis.sock");
    ck_assert_str_eq(u.host, "");
    ck_assert_int_eq(u.db, 4);
    ck_assert_int_eq(ea_redis_url_parse("unix:///r.sock", &u, &err), 0);
    ck_assert_int_eq(u.db, 0);
    ck_assert_int_eq(ea_redis_url_parse("unix:///tmp/a%20b.sock", &u, &err), 0);
    ck_assert_str_eq(u.path, "/tmp/a b.sock");
}
END_TEST

/* Every URL the two earlier parsers refused (the rate limits' and the
 * queue's), each with a reason. */
START_TEST(refused)
{
    static const char *const bad[] = {
        "", "local", "redis://", "redis://:6379", "redis://host:0", "redis://host:65536",
        "redis://host:x", "redis://host/db", "redis://host/1?x=1", "redis://ho st", "redis://[::1",
        "redis://[zz]:1", "unix://relative.sock", "unix:///r.sock?db=", "unix:///r.sock?db=x",
        "unix:///r.sock?x=1", "http://host", "redis://host:6379/70000", "rediss://host",
        "http://x", "redis://h:0", "redis://h:65536", "redis://h:x", "redis://h/abc", "redis://h/1?db",
        "redis://h/1?foo=1", "unix://", "unix://host/tmp/x", "unix:///tmp/x?db=-1", "rediss://h",
        "redis://h /0", "redis://:%zz@h", "unix:///", "unix:///r.sock#x", "redis://h/1/2",
        "redis://h?db=65536", "redis://[]:1", "redis://[::1]x",
        NULL,
    };
    for (int i = 0; bad[i]; i++) {
        ea_redis_url u;
        const char *err = NULL;
        ck_assert_msg(ea_redis_url_parse(bad[i], &u, &err) == -1, "accepted '%s'", bad[i]);
        ck_assert_msg(err && *err, "no reason for '%s'", bad[i]);
        ck_assert(!u.has_password && u.password[0] == '\0');
    }
    ea_redis_url u;
    ck_assert_int_eq(ea_redis_url_parse(NULL, &u, NULL), -1);
    char longpath[200];
    memset(longpath, 'a', sizeof longpath);
    memcpy(longpath, "unix:///", 8);
    longpath[sizeof longpath - 1] = '\0';
    ck_assert_int_eq(ea_redis_url_parse(longpath, &u, NULL), -1);
}
END_TEST

/* EcoAtlasThrottleBackend: "No user or password in the URL". */
START_TEST(no_credentials_policy)
{
    static const char *const with[] = {
        "redis://user:pw@host", "redis://:pw@host", "redis://user@host", "unix://:pw@/r.sock",
        "unix:///r.sock?password=x", "redis://h?username=u", NULL,
    };
    ea_redis_url u;
    for (int i = 0; with[i]; i++) {
        ck_assert_int_eq(ea_redis_url_parse(with[i], &u, NULL), 0);
        const char *why = ea_redis_url_no_credentials(&u);
        ck_assert_msg(why != NULL, "no refusal for '%s'", with[i]);
        ck_assert_str_eq(why, "no user or password allowed (use Redis ACLs on a private network)");
    }
    ck_assert_int_eq(ea_redis_url_parse("redis://10.0.0.7:6379/2", &u, NULL), 0);
    ck_assert_ptr_null(ea_redis_url_no_credentials(&u));
    ck_assert_int_eq(ea_redis_url_parse("unix:///r.sock?db=5", &u, NULL), 0);
    ck_assert_ptr_null(ea_redis_url_no_credentials(&u));
}
END_TEST

START_TEST(redact)
{
    ck_assert_str_eq(ea_redis_url_redact(pool, "redis://:secret@h:1/0"), "redis://:****@h:1/0");
    ck_assert_str_eq(ea_redis_url_redact(pool, "redis://u:secret@h"), "redis://u:****@h");
    ck_assert_str_eq(ea_redis_url_redact(pool, "unix:///s?db=1&password=secret"), "unix:///s?db=1&password=****");
    ck_assert_str_eq(ea_redis_url_redact(pool, "redis://h/0"), "redis://h/0");
    ck_assert_str_eq(ea_redis_url_redact(pool, NULL), "");
}
END_TEST

START_TEST(where)
{
    ea_redis_url u;
    char buf[160];
    ck_assert_int_eq(ea_redis_url_parse("redis://h:7/1", &u, NULL), 0);
    ck_assert_str_eq(ea_redis_url_where(&u, buf, sizeof buf), "h:7");
    ck_assert_int_eq(ea_redis_url_parse("unix:///run/r.sock", &u, NULL), 0);
    ck_assert_str_eq(ea_redis_url_where(&u, buf, sizeof buf), "/run/r.sock");
}
END_TEST

START_TEST(script_sha)
{
    ea_redis_script s;
    ea_redis_script_init(&s, "return 1");
    ck_assert_str_eq(s.sha, "e0e1f9fabfc9d4800c877a703b823ac0578ff8db");
    ck_assert_str_eq(s.body, "return 1");
}
END_TEST

START_TEST(connect_fails_fast)
{
    ea_redis_url u;
    ea_redis_fail fail = EA_REDIS_OK;
    char err[256] = "";
    ck_assert_int_eq(ea_redis_url_parse("unix:///nonexistent/ea-redis.sock", &u, NULL), 0);
    ck_assert_ptr_null(ea_redis_connect(&u, 100, EA_REDIS_KEEPALIVE, &fail, err, sizeof err));
    ck_assert_int_eq(fail, EA_REDIS_FAIL_CONNECT);
    ck_assert(err[0] != '\0');
}
END_TEST

static Suite *redis_suite(void)
{
    Suite *s = suite_create("ea_redis");
    TCase *u = tcase_create("urls");
    tcase_add_checked_fixture(u, setup, teardown);
    tcase_add_test(u, tcp_forms);
    tcase_add_test(u, credentials);
    tcase_add_test(u, unix_forms);
    tcase_add_test(u, refused);
    tcase_add_test(u, no_credentials_policy);
    tcase_add_test(u, redact);
    tcase_add_test(u, where);
    tcase_add_test(u, script_sha);
    tcase_add_test(u, connect_fails_fast);
    suite_add_tcase(s, u);
    return s;
}

int main(void)
{
    apr_initialize();
    SRunner *sr = srunner_create(redis_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    apr_terminate();
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
