/* libFuzzer target for ea_body and ea_validate: the first byte picks a
 * content type and a resource, the rest is the body; parsing must not
 * crash, and a parsed body must validate to either DRF's error body (valid
 * JSON) or SQL values that are valid UTF-8 without NUL. */
#include "ea_body.h"
#include "ea_json.h"
#include "ea_utf8.h"
#include "ea_validate.h"

#include <apr_general.h>
#include <json-c/json.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void ea_fz_check(int ok)
{
    if (!ok)
        abort();
}

static int fz_fk(void *ctx, const char *table, const char *id)
{
    (void)ctx;
    (void)table;
    return strlen(id) % 2;
}

static int fz_row(void *ctx, const char *table, int n, const char *const *cols,
                  const char *const *vals, const char *exclude)
{
    (void)ctx;
    (void)table;
    (void)cols;
    (void)exclude;
    return n > 0 && vals[0] && vals[0][0] == 'd';
}

static const char *const types[] = {
    "application/json", "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=b", "text/plain",
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int init;
    apr_pool_t *p;
    ea_body b;

    if (!init) {
        apr_initialize();
        atexit(apr_terminate);
        init = 1;
    }
    if (size < 1)
        return 0;
    apr_pool_create(&p, NULL);
    unsigned sel = data[0];
    int rc = ea_body_parse(p, types[sel % 4], (const char *)data + 1, size - 1, &b);
    if (rc == 0) {
        ea_vhooks h = { NULL, fz_fk, fz_row };
        ea_vresult v;
        int res = (int)((sel / 4) % 6);
        ea_vmode mode = (ea_vmode)((sel / 24) % 3);
        const char *cur[16] = { 0 };
        int vr = ea_validate(p, &ea_vresources[res], mode, b.data, b.is_form,
                             mode == EA_V_CREATE ? NULL : cur, mode == EA_V_CREATE ? NULL : "7", &h, &v);
        ea_fz_check(vr == 0 || vr == 1);
        if (vr == 1) {
            ea_buf out;
            ea_buf_init(&out, p, v.errors.len);
            ea_fz_check(ea_json_compact(&out, v.errors.data, v.errors.len) == 0);
        } else {
            for (int i = 0; i < v.n; i++)
                if (v.vals[i])
                    ea_fz_check(ea_utf8_valid(v.vals[i], strlen(v.vals[i])));
        }
    } else {
        ea_fz_check(rc == 400 || rc == 415);
        ea_fz_check(b.detail != NULL);
    }
    apr_pool_destroy(p);
    return 0;
}
