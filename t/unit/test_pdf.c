/* Unit tests: the PDF report writer streams a complete document through
 * its callback, pages as rows require, and reports a failed write. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "ea_pdf.h"

#include <cairo.h>
#include <fontconfig/fontconfig.h>

typedef struct { char *data; size_t len; int calls; int fail_after; } sink;

static int to_sink(void *ctx, const unsigned char *data, unsigned int len)
{
    sink *s = ctx;
    if (s->fail_after && ++s->calls > s->fail_after)
        return 1;
    s->data = realloc(s->data, s->len + len);
    memcpy(s->data + s->len, data, len);
    s->len += len;
    return 0;
}

static int count(const sink *s, const char *needle)
{
    int n = 0;
    size_t k = strlen(needle);
    for (size_t i = 0; i + k <= s->len; i++)
        if (memcmp(s->data + i, needle, k) == 0)
            n++;
    return n;
}

START_TEST(whole_document_through_the_callback)
{
    sink s = { 0 };
    const char *labels[] = { "solar", "wind" };
    double values[] = { 346.8, 12.5 };
    ea_pdf *p = ea_pdf_open(to_sink, &s, "Resource Metrics Summary");
    ck_assert_ptr_nonnull(p);
    ea_pdf_chart(p, labels, values, 2);
    for (int i = 0; i < 150; i++)
        ea_pdf_row(p, "BEN | solar | potential | 223.4000 | kWh/m2 | 2024");
    ck_assert_int_eq(ea_pdf_close(p), 0);
    ck_assert_uint_gt(s.len, 1000);
    ck_assert(memcmp(s.data, "%PDF-", 5) == 0);
    ck_assert_int_ge(count(&s, "%%EOF"), 1);
    /* about 40 rows a page: 150 rows need at least four pages */
    ck_assert_int_ge(count(&s, "/Type /Page\n") + count(&s, "/Type /Page\r") + count(&s, "/Type /Page "), 4);
    free(s.data);
}
END_TEST

START_TEST(failed_write_is_reported)
{
    sink s = { 0 };
    s.fail_after = 1;
    ea_pdf *p = ea_pdf_open(to_sink, &s, "T");
    for (int i = 0; i < 500; i++)
        ea_pdf_row(p, "row");
    ck_assert_int_eq(ea_pdf_close(p), -1);
    free(s.data);
}
END_TEST

/* Font caches live until the process ends: release them after each test
 * (in the forked child too), so valgrind and LeakSanitizer see no leak. */
static void release_fonts(void)
{
    cairo_debug_reset_static_data();
    FcFini();
}

int main(void)
{
    Suite *su = suite_create("pdf");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, NULL, release_fonts);
    tcase_add_test(tc, whole_document_through_the_callback);
    tcase_add_test(tc, failed_write_is_reported);
    suite_add_tcase(su, tc);
    SRunner *sr = srunner_create(su);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
