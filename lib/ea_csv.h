/* ea_csv: a streaming RFC 4180 reader for imports.  UTF-8 with or without
 * a BOM, CRLF, LF (or lone CR) line ends, quoted fields with "" escapes and
 * embedded line breaks.  Every record carries the line it starts on, and
 * limits on the record size and field count keep a hostile file (one
 * 2 GB line, a binary file) from exhausting memory: such a record is
 * rejected with its line number and reading goes on after it.  Depends on
 * libc only, so the fuzz target builds without APR. */
#ifndef EA_CSV_H
#define EA_CSV_H

#include <stddef.h>
#include <sys/types.h>

/* Fill buf with up to len bytes: the count, 0 at end of input, -1 on a
 * read error (errno kept). */
typedef ssize_t (*ea_csv_read_fn)(void *baton, char *buf, size_t len);

typedef struct ea_csv ea_csv;

typedef enum {
    EA_CSV_EOF = 0,     /* no more records */
    EA_CSV_RECORD = 1,  /* a record: ea_csv_nfields/ea_csv_field */
    EA_CSV_BAD = 2,     /* this record is invalid (ea_csv_error); the next call goes on */
    EA_CSV_FATAL = -1   /* reading cannot go on (ea_csv_error) */
} ea_csv_status;

#define EA_CSV_DEFAULT_MAX_RECORD (1024 * 1024)
#define EA_CSV_DEFAULT_MAX_FIELDS 512

/* A reader over fn; max_record bounds the bytes of one record (fields
 * included, 0: default), max_fields its fields (0: default).  NULL when out
 * of memory. */
ea_csv *ea_csv_open(ea_csv_read_fn fn, void *baton, size_t max_record, size_t max_fields);
/* A reader over a memory buffer (not copied: it must outlive the reader). */
ea_csv *ea_csv_open_mem(const char *data, size_t len, size_t max_record, size_t max_fields);
void ea_csv_close(ea_csv *c);

/* Read the next record: fields are valid UTF-8 without NUL bytes, each
 * NUL-terminated; blank lines are skipped. */
ea_csv_status ea_csv_next(ea_csv *c);
size_t ea_csv_nfields(const ea_csv *c);
const char *ea_csv_field(const ea_csv *c, size_t i, size_t *len);
/* Line (1-based) the last record, or the last error, starts on. */
unsigned long ea_csv_line(const ea_csv *c);
/* Message of the last EA_CSV_BAD/EA_CSV_FATAL, in French like the CLI's
 * other messages; its line number is ea_csv_error_line. */
const char *ea_csv_error(const ea_csv *c);
unsigned long ea_csv_error_line(const ea_csv *c);
/* Bytes consumed so far (for progress). */
unsigned long long ea_csv_offset(const ea_csv *c);

#endif
