/* Unit tests for ea_conffile: the Apache-syntax reader shared by the CLI
 * and the worker.  Each test writes its files into a fresh temporary
 * directory, so tests are independent and leave nothing behind. */
#include "ea_conffile.h"

#include <apr_general.h>
#include <apr_strings.h>
#include <check.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static apr_pool_t *pool;
static char tmpdir[64];

static void setup(void)
{
    apr_pool_create(&pool, NULL);
    strcpy(tmpdir, "/tmp/ea_conffile_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    ck_assert_int_eq(system(cmd), 0);
    apr_pool_destroy(pool);
}

/* Write content to tmpdir/name (creating sub-directories) and return the
 * full path. */
static const char *put(const char *name, const char *content)
{
    const char *path = apr_pstrcat(pool, tmpdir, "/", name, NULL);
    char *dir = apr_pstrdup(pool, path);
    *strrchr(dir, '/') = '\0';
    char cmd[512];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(content, f);
    fclose(f);
    return path;
}

static ea_conffile *read_ok(const char *path)
{
    const char *err = NULL;
    ea_conffile *cf = ea_conffile_read(pool, path, &err);
    ck_assert_msg(cf != NULL, "unexpected error: %s", err ? err : "(none)");
    return cf;
}

static const char *read_err(const char *path)
{
    const char *err = NULL;
    ea_conffile *cf = ea_conffile_read(pool, path, &err);
    ck_assert_ptr_null(cf);
    ck_assert_ptr_nonnull(err);
    return err;
}

static const char *arg(const ea_conffile *cf, const char *d, int i)
{
    const apr_array_header_t *a = ea_conffile_args(cf, d);
    ck_assert_ptr_nonnull(a);
    ck_assert_int_gt(a->nelts, i);
    return APR_ARRAY_IDX(a, i, const char *);
}

START_TEST(test_last_occurrence_wins_case_insensitive)
{
    ea_conffile *cf = read_ok(put("a.conf",
        "DBDriver pgsql\n"
        "DBDParams first\n"
        "dbdparams second\n"));
    ck_assert_str_eq(ea_conffile_get(cf, "DBDParams", NULL), "second");
    ck_assert_str_eq(ea_conffile_get(cf, "DBDPARAMS", NULL), "second");
    ck_assert_str_eq(ea_conffile_get(cf, "dbdriver", NULL), "pgsql");
}
END_TEST

START_TEST(test_absent_gives_default)
{
    ea_conffile *cf = read_ok(put("a.conf", "Listen 80\nEmpty\n"));
    ck_assert_ptr_null(ea_conffile_args(cf, "DBDParams"));
    ck_assert_str_eq(ea_conffile_get(cf, "DBDParams", "dflt"), "dflt");
    /* present but without arguments: the default too */
    ck_assert_int_eq(ea_conffile_args(cf, "Empty")->nelts, 0);
    ck_assert_str_eq(ea_conffile_get(cf, "Empty", "dflt"), "dflt");
    ck_assert_ptr_null(ea_conffile_get(cf, "Missing", NULL));
}
END_TEST

START_TEST(test_quotes_removed)
{
    ea_conffile *cf = read_ok(put("a.conf",
        "DBDParams \"host=db dbname=eco user=u password='p w'\"\n"
        "Header always set X-Test 'single quoted' plain\n"
        "Esc \"say \\\"hi\\\"\" \"a\\b\"\n"));
    ck_assert_str_eq(ea_conffile_get(cf, "DBDParams", NULL),
                     "host=db dbname=eco user=u password='p w'");
    const apr_array_header_t *a = ea_conffile_args(cf, "Header");
    ck_assert_int_eq(a->nelts, 5);
    ck_assert_str_eq(arg(cf, "Header", 3), "single quoted");
    ck_assert_str_eq(arg(cf, "Header", 4), "plain");
    ck_assert_str_eq(arg(cf, "Esc", 0), "say \"hi\"");
    /* a backslash before anything but the quote is kept */
    ck_assert_str_eq(arg(cf, "Esc", 1), "a\\b");
}
END_TEST

START_TEST(test_comments_blank_lines_crlf)
{
    ea_conffile *cf = read_ok(put("a.conf",
        "# DBDParams commented\r\n"
        "\r\n"
        "   # indented comment\r\n"
        "\tEcoAtlasPageSize   50  \r\n"));
    ck_assert_ptr_null(ea_conffile_args(cf, "DBDParams"));
    ck_assert_str_eq(ea_conffile_get(cf, "EcoAtlasPageSize", NULL), "50");
    ck_assert_int_eq(ea_conffile_args(cf, "EcoAtlasPageSize")->nelts, 1);
}
END_TEST

START_TEST(test_line_continuation)
{
    ea_conffile *cf = read_ok(put("a.conf",
        "DBDParams \"host=db \\\n"
        "dbname=eco\"\n"
        "Multi a \\\n"
        "   b \\\n"
        "   c\n"
        "After x\n"));
    ck_assert_str_eq(ea_conffile_get(cf, "DBDParams", NULL), "host=db dbname=eco");
    ck_assert_int_eq(ea_conffile_args(cf, "Multi")->nelts, 3);
    ck_assert_str_eq(arg(cf, "Multi", 2), "c");
    ck_assert_str_eq(ea_conffile_get(cf, "After", NULL), "x");
}
END_TEST

START_TEST(test_sections_entered)
{
    ea_conffile *cf = read_ok(put("a.conf",
        "DBDParams global\n"
        "<IfModule mod_dbd.c>\n"
        "  <VirtualHost *:80>\n"
        "    DBDParams \"in vhost\"\n"
        "  </VirtualHost>\n"
        "</IfModule>\n"
        "<Location /api>\n"
        "  SetHandler ecoatlas-api\n"
        "</location>\n"));
    ck_assert_str_eq(ea_conffile_get(cf, "DBDParams", NULL), "in vhost");
    ck_assert_str_eq(ea_conffile_get(cf, "SetHandler", NULL), "ecoatlas-api");
}
END_TEST

START_TEST(test_section_errors_name_file_and_line)
{
    const char *p = put("bad1.conf", "<IfModule x>\nFoo 1\n</VirtualHost>\n");
    const char *err = read_err(p);
    ck_assert_msg(strstr(err, "bad1.conf:3:") != NULL, "got %s", err);
    ck_assert_msg(strstr(err, "Expected </IfModule> but saw </VirtualHost>") != NULL, "got %s", err);

    err = read_err(put("bad2.conf", "Foo 1\n\n<Directory /x>\nFoo 2\n"));
    ck_assert_msg(strstr(err, "bad2.conf:3:") != NULL, "got %s", err);
    ck_assert_msg(strstr(err, "<Directory> was not closed") != NULL, "got %s", err);

    err = read_err(put("bad3.conf", "</Directory>\n"));
    ck_assert_msg(strstr(err, "bad3.conf:1: </Directory> without matching") != NULL, "got %s", err);

    err = read_err(put("bad4.conf", "<Directory /x\n</Directory>\n"));
    ck_assert_msg(strstr(err, "missing closing '>'") != NULL, "got %s", err);
}
END_TEST

START_TEST(test_include_relative_to_including_file)
{
    put("conf.d/db.conf", "DBDParams from-include\n");
    put("conf.d/sub/more.conf", "Deep yes\n");
    const char *main_path = put("main.conf",
        "DBDParams before\n"
        "Include conf.d/db.conf\n"
        "Include conf.d/sub\n");
    ea_conffile *cf = read_ok(main_path);
    ck_assert_str_eq(ea_conffile_get(cf, "DBDParams", NULL), "from-include");
    ck_assert_str_eq(ea_conffile_get(cf, "Deep", NULL), "yes");
}
END_TEST

START_TEST(test_include_glob_in_name_order)
{
    put("mods/20-b.conf", "Order b\nB 1\n");
    put("mods/10-a.conf", "Order a\nA 1\n");
    put("mods/30-c.load", "Order c\n");
    ea_conffile *cf = read_ok(put("main.conf", "IncludeOptional mods/*.conf\n"));
    ck_assert_str_eq(ea_conffile_get(cf, "Order", NULL), "b");
    ck_assert_str_eq(ea_conffile_get(cf, "A", NULL), "1");
    ck_assert_str_eq(ea_conffile_get(cf, "B", NULL), "1");
}
END_TEST

START_TEST(test_include_optional_and_missing)
{
    ea_conffile *cf = read_ok(put("opt.conf",
        "IncludeOptional nowhere/*.conf\n"
        "IncludeOptional missing.conf\n"
        "Ok 1\n"));
    ck_assert_str_eq(ea_conffile_get(cf, "Ok", NULL), "1");

    const char *err = read_err(put("glob.conf", "\nInclude nowhere/*.conf\n"));
    ck_assert_msg(strstr(err, "glob.conf:2:") != NULL, "got %s", err);
    ck_assert_msg(strstr(err, "no matches") != NULL, "got %s", err);

    err = read_err(put("miss.conf", "Include missing.conf\n"));
    ck_assert_msg(strstr(err, "missing.conf") != NULL, "got %s", err);
}
END_TEST

START_TEST(test_include_error_names_inner_file)
{
    put("inner/x.conf", "ok 1\n<If true>\n");
    const char *err = read_err(put("outer.conf", "Include inner/x.conf\n"));
    ck_assert_msg(strstr(err, "inner/x.conf:2:") != NULL, "got %s", err);
}
END_TEST

START_TEST(test_include_loop_detected)
{
    const char *err = read_err(put("loop.conf", "Include loop.conf\n"));
    ck_assert_msg(strstr(err, "nested") != NULL, "got %s", err);
}
END_TEST

START_TEST(test_server_root_resolves_includes)
{
    const char *root = apr_pstrcat(pool, tmpdir, "/root", NULL);
    put("root/extra/x.conf", "FromRoot yes\n");
    put("etc/x.conf", "FromRoot no\n");
    ea_conffile *cf = read_ok(put("etc/main.conf",
        apr_psprintf(pool, "ServerRoot \"%s\"\nInclude extra/x.conf\n", root)));
    ck_assert_str_eq(ea_conffile_get(cf, "FromRoot", NULL), "yes");
    ck_assert_str_eq(ea_conffile_get(cf, "ServerRoot", NULL), root);
}
END_TEST

START_TEST(test_env_and_define_expansion)
{
    setenv("EA_TEST_DBPASS", "s3cret", 1);
    unsetenv("EA_TEST_UNDEFINED");
    ea_conffile *cf = read_ok(put("a.conf",
        "Define dbhost db.internal\n"
        "DBDParams \"host=${dbhost} password=${EA_TEST_DBPASS}\"\n"
        "Keep ${EA_TEST_UNDEFINED}/x\n"
        "Two ${dbhost}:${dbhost}\n"
        "Open ${unterminated\n"));
    ck_assert_str_eq(ea_conffile_get(cf, "DBDParams", NULL), "host=db.internal password=s3cret");
    ck_assert_str_eq(ea_conffile_get(cf, "Keep", NULL), "${EA_TEST_UNDEFINED}/x");
    ck_assert_str_eq(ea_conffile_get(cf, "Two", NULL), "db.internal:db.internal");
    ck_assert_str_eq(ea_conffile_get(cf, "Open", NULL), "${unterminated");
}
END_TEST

START_TEST(test_missing_file)
{
    const char *err = read_err(apr_pstrcat(pool, tmpdir, "/nope.conf", NULL));
    ck_assert_msg(strstr(err, "cannot open") != NULL, "got %s", err);
    ck_assert_msg(strstr(err, "nope.conf") != NULL, "got %s", err);
}
END_TEST

START_TEST(test_empty_file)
{
    ea_conffile *cf = read_ok(put("empty.conf", ""));
    ck_assert_ptr_null(ea_conffile_args(cf, "Anything"));
    ck_assert_ptr_null(ea_conffile_args(NULL, "Anything"));
}
END_TEST

static Suite *conffile_suite(void)
{
    Suite *s = suite_create("ea_conffile");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_last_occurrence_wins_case_insensitive);
    tcase_add_test(tc, test_absent_gives_default);
    tcase_add_test(tc, test_quotes_removed);
    tcase_add_test(tc, test_comments_blank_lines_crlf);
    tcase_add_test(tc, test_line_continuation);
    tcase_add_test(tc, test_sections_entered);
    tcase_add_test(tc, test_section_errors_name_file_and_line);
    tcase_add_test(tc, test_include_relative_to_including_file);
    tcase_add_test(tc, test_include_glob_in_name_order);
    tcase_add_test(tc, test_include_optional_and_missing);
    tcase_add_test(tc, test_include_error_names_inner_file);
    tcase_add_test(tc, test_include_loop_detected);
    tcase_add_test(tc, test_server_root_resolves_includes);
    tcase_add_test(tc, test_env_and_define_expansion);
    tcase_add_test(tc, test_missing_file);
    tcase_add_test(tc, test_empty_file);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    apr_initialize();
    SRunner *sr = srunner_create(conffile_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    apr_terminate();
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
