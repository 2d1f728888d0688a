/* Unit tests for lib/ea_settings.c: the settings the module, the worker
 * and the CLI read from one file, validated once. */
#include "ea_settings.h"

#include <check.h>

#include <stdlib.h>
#include <string.h>

START_TEST(task_time_limit)
{
    long v = 0;
    char why[128] = "";
    const ea_setting *s = ea_setting_find("EcoAtlasTaskTimeLimit");
    ck_assert_ptr_nonnull(s);
    ck_assert_ptr_eq(ea_setting_find("ecoatlastasktimelimit"), s);
    ck_assert_int_eq(s->kind, EA_SETTING_INT);
    ck_assert_int_eq(ea_setting_default("EcoAtlasTaskTimeLimit"), 600);
    ck_assert_int_eq(ea_setting_parse("EcoAtlasTaskTimeLimit", "30", &v, why, sizeof why), 0);
    ck_assert_int_eq(v, 30);
    ck_assert_int_eq(ea_setting_parse("EcoAtlasTaskTimeLimit", "1", &v, why, sizeof why), 0);
    ck_assert_int_eq(v, 1);
    ck_assert_int_eq(ea_setting_parse("EcoAtlasTaskTimeLimit", "604800", &v, why, sizeof why), 0);
    ck_assert_int_eq(v, 604800);
    static const char *const bad[] = {
        "0", "-1", "604801", "forever", "", "10s", "99999999999999999999999", NULL,
    };
    for (int i = 0; bad[i]; i++) {
        v = 42;
        why[0] = '\0';
        ck_assert_msg(ea_setting_parse("EcoAtlasTaskTimeLimit", bad[i], &v, why, sizeof why) == -1,
                      "accepted '%s'", bad[i]);
        ck_assert_str_eq(why, "expected seconds from 1 to 604800");
        ck_assert_int_eq(v, 42);
    }
    ck_assert_int_eq(ea_setting_parse("EcoAtlasTaskTimeLimit", NULL, &v, why, sizeof why), -1);
}
END_TEST

START_TEST(unknown)
{
    long v = 0;
    char why[64];
    ck_assert_ptr_null(ea_setting_find("EcoAtlasNoSuchThing"));
    ck_assert_ptr_null(ea_setting_find(NULL));
    ck_assert_int_eq(ea_setting_default("EcoAtlasNoSuchThing"), 0);
    ck_assert_int_eq(ea_setting_parse("EcoAtlasNoSuchThing", "1", &v, why, sizeof why), -1);
    ck_assert_str_eq(why, "unknown setting");
    ck_assert_int_eq(ea_setting_parse("EcoAtlasNoSuchThing", "1", &v, NULL, 0), -1);
}
END_TEST

static Suite *settings_suite(void)
{
    Suite *s = suite_create("ea_settings");
    TCase *t = tcase_create("settings");
    tcase_add_test(t, task_time_limit);
    tcase_add_test(t, unknown);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(settings_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
