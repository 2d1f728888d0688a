/* libFuzzer target for ea_csv: the whole input as a CSV file, read with a
 * small record limit, with the reader's promises checked. */
#include "ea_csv.h"
#include "ea_utf8.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void ea_fz_check(int ok)
{
    if (!ok)
        abort();
}

/* Every record field: valid UTF-8, no NUL, length as stated. */
static void ea_fz_record(ea_csv *c, size_t max_record, size_t max_fields)
{
    size_t total = 0, n = ea_csv_nfields(c);
    ea_fz_check(n >= 1 && n <= max_fields);
    for (size_t i = 0; i < n; i++) {
        size_t len, at = 0;
        const char *f = ea_csv_field(c, i, &len);
        ea_fz_check(f != NULL && strlen(f) == len);
        while (at < len) {
            long cp;
            at += ea_utf8_decode((const unsigned char *)f + at, len - at, &cp);
            ea_fz_check(cp != EA_UTF8_BAD && cp != 0);
        }
        total += len + 1;
    }
    ea_fz_check(total <= max_record + 1);
    ea_fz_check(ea_csv_field(c, n, NULL) == NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const size_t limits[][2] = {{64, 8}, {0, 0}};
    for (size_t k = 0; k < 2; k++) {
        size_t max_record = limits[k][0] ? limits[k][0] : EA_CSV_DEFAULT_MAX_RECORD;
        size_t max_fields = limits[k][1] ? limits[k][1] : EA_CSV_DEFAULT_MAX_FIELDS;
        ea_csv *c = ea_csv_open_mem((const char *)data, size, limits[k][0], limits[k][1]);
        unsigned long last_line = 0;
        size_t records = 0;
        ea_csv_status st;
        ea_fz_check(c != NULL);
        while ((st = ea_csv_next(c)) != EA_CSV_EOF) {
            ea_fz_check(records++ <= size + 1);
            if (st == EA_CSV_FATAL) {
                ea_fz_check(ea_csv_error(c)[0] != '\0');
                break;
            }
            if (st == EA_CSV_BAD) {
                ea_fz_check(ea_csv_error(c)[0] != '\0' && ea_csv_error_line(c) >= 1);
                continue;
            }
            ea_fz_check(ea_csv_line(c) >= 1 && ea_csv_line(c) >= last_line);
            last_line = ea_csv_line(c);
            ea_fz_record(c, max_record, max_fields);
        }
        ea_fz_check(ea_csv_offset(c) <= size);
        ea_csv_close(c);
    }
    return 0;
}
