/* Unit tests for ea_deploy: the deploy-check rules (ids, HTTPS-only rules,
 * secret key strength) and the main-server/vhost de-duplication. */
#include "ea_deploy.h"

#include <apr_general.h>
#include <apr_strings.h>
#include <check.h>
#include <string.h>

static apr_pool_t *pool;

static void setup(void)
{
    ck_assert_int_eq(apr_pool_create(&pool, NULL), APR_SUCCESS);
}

static void teardown(void)
{
    apr_pool_destroy(pool);
}

#define STRONG_KEY "k3y-0f-f1fty-ch4rs-Zq8Xw2Lp9Tr5Vn1Bm7Hc4Jd6Fg3Ks0Yu"

static ea_deploy_settings strong(int https)
{
    ea_deploy_settings s;
    memset(&s, 0, sizeof s);
    s.name = "main server";
    s.https = https;
    s.secret_key = STRONG_KEY;
    s.cors_allow_all = EA_DEPLOY_UNSET;
    s.hsts_seconds = 31536000;
    s.ssl_redirect = 1;
    s.session_cookie_secure = 1;
    s.csrf_cookie_secure = 1;
    return s;
}

/* The ids found for s, space-separated. */
static const char *ids(const ea_deploy_settings *s)
{
    apr_array_header_t *out = apr_array_make(pool, 4, sizeof(ea_deploy_warning));
    int n = ea_deploy_check(pool, s, out);
    ck_assert_int_eq(n, out->nelts);
    char *r = apr_pstrdup(pool, "");
    for (int i = 0; i < out->nelts; i++) {
        const ea_deploy_warning *w = &APR_ARRAY_IDX(out, i, ea_deploy_warning);
        ck_assert_str_eq(w->server, s->name);
        r = apr_pstrcat(pool, r, i ? " " : "", w->id, NULL);
    }
    return r;
}

START_TEST(strong_settings_pass)
{
    ck_assert_uint_eq(strlen(STRONG_KEY), 51);
    ea_deploy_settings s = strong(1);
    ck_assert_str_eq(ids(&s), "");
    s = strong(0);
    s.hsts_seconds = 0;
    s.ssl_redirect = 0;
    s.session_cookie_secure = EA_DEPLOY_UNSET;
    s.csrf_cookie_secure = 0;
    ck_assert_str_eq(ids(&s), "");   /* HTTPS rules only on HTTPS hosts */
}
END_TEST

START_TEST(each_rule)
{
    ea_deploy_settings s = strong(1);
    s.debug = 1;
    ck_assert_str_eq(ids(&s), "ecoatlas.W018");
    s = strong(1);
    s.cors_allow_all = 1;
    ck_assert_str_eq(ids(&s), "ecoatlas.W030");
    s = strong(1);
    s.hsts_seconds = 0;
    ck_assert_str_eq(ids(&s), "ecoatlas.W004");
    s.hsts_seconds = EA_DEPLOY_UNSET;
    ck_assert_str_eq(ids(&s), "ecoatlas.W004");
    s = strong(1);
    s.ssl_redirect = EA_DEPLOY_UNSET;
    ck_assert_str_eq(ids(&s), "ecoatlas.W008");
    s = strong(1);
    s.session_cookie_secure = 0;
    ck_assert_str_eq(ids(&s), "ecoatlas.W012");
    s = strong(1);
    s.csrf_cookie_secure = EA_DEPLOY_UNSET;
    ck_assert_str_eq(ids(&s), "ecoatlas.W016");
    s = strong(1);
    s.debug = 1;
    s.secret_key = NULL;
    s.cors_allow_all = 1;
    s.hsts_seconds = 0;
    s.ssl_redirect = 0;
    s.session_cookie_secure = 0;
    s.csrf_cookie_secure = 0;
    ck_assert_str_eq(ids(&s), "ecoatlas.W018 ecoatlas.W009 ecoatlas.W030 ecoatlas.W004 "
                              "ecoatlas.W008 ecoatlas.W012 ecoatlas.W016");
}
END_TEST

START_TEST(secret_key_strength)
{
    ea_deploy_settings s = strong(0);
    s.secret_key = NULL;
    ck_assert_str_eq(ids(&s), "ecoatlas.W009");
    s.secret_key = "";
    ck_assert_str_eq(ids(&s), "ecoatlas.W009");
    s.secret_key = "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvw";   /* 49 */
    ck_assert_str_eq(ids(&s), "ecoatlas.W009");
    s.secret_key = "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwx";  /* 50 */
    ck_assert_str_eq(ids(&s), "");
    s.secret_key = "abcdaabcdaabcdaabcdaabcdaabcdaabcdaabcdaabcdaabcdaabcda";  /* 4 distinct */
    ck_assert_str_eq(ids(&s), "ecoatlas.W009");
    s.secret_key = "abcdeabcdeabcdeabcdeabcdeabcdeabcdeabcdeabcdeabcde";  /* 5 distinct, 50 */
    ck_assert_str_eq(ids(&s), "");
}
END_TEST

START_TEST(texts_name_the_directive)
{
    ea_deploy_settings s = strong(1);
    s.name = "vhost at /etc/apache2/sites-enabled/api.conf:3";
    s.hsts_seconds = 0;
    apr_array_header_t *out = apr_array_make(pool, 4, sizeof(ea_deploy_warning));
    ea_deploy_check(pool, &s, out);
    ck_assert_int_eq(out->nelts, 1);
    const char *line = ea_deploy_format(pool, &APR_ARRAY_IDX(out, 0, ea_deploy_warning));
    ck_assert_str_eq(line, "ecoatlas.W004: vhost at /etc/apache2/sites-enabled/api.conf:3: HTTPS "
                           "host without HSTS: set EcoAtlasHSTSSeconds (e.g. 31536000) once the "
                           "whole site is served over HTTPS");
}
END_TEST

/* An inherited weakness is named once, on the main server; a vhost's own
 * weakness is named for the vhost. */
START_TEST(inherited_once)
{
    ea_deploy_settings m = strong(0);
    m.secret_key = NULL;
    m.cors_allow_all = 1;
    apr_array_header_t *vh = apr_array_make(pool, 2, sizeof(ea_deploy_settings));
    ea_deploy_settings *a = apr_array_push(vh);
    *a = m;
    a->name = "vhost at f:1";
    a->https = 1;
    a->ssl_redirect = 0;
    ea_deploy_settings *b = apr_array_push(vh);
    *b = m;
    b->name = "vhost at f:9";
    b->secret_key = "short";
    b->cors_allow_all = 0;
    apr_array_header_t *w = ea_deploy_check_all(pool, &m, vh);
    char *r = apr_pstrdup(pool, "");
    for (int i = 0; i < w->nelts; i++) {
        const ea_deploy_warning *x = &APR_ARRAY_IDX(w, i, ea_deploy_warning);
        r = apr_pstrcat(pool, r, "|", x->id, "@", x->server, NULL);
    }
    ck_assert_str_eq(r, "|ecoatlas.W009@main server|ecoatlas.W030@main server"
                        "|ecoatlas.W008@vhost at f:1|ecoatlas.W009@vhost at f:9");
    ck_assert_int_eq(ea_deploy_check_all(pool, &m, NULL)->nelts, 2);
}
END_TEST

int main(void)
{
    apr_initialize();
    Suite *s = suite_create("deploy");
    TCase *t = tcase_create("rules");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_add_test(t, strong_settings_pass);
    tcase_add_test(t, each_rule);
    tcase_add_test(t, secret_key_strength);
    tcase_add_test(t, texts_name_the_directive);
    tcase_add_test(t, inherited_once);
    suite_add_tcase(s, t);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    apr_terminate();
    return failed == 0 ? 0 : 1;
}
