/* ea_json: JSON output exactly as Django REST Framework's JSONRenderer
 * writes it (compact separators, UTF-8 kept, U+2028/U+2029 escaped),
 * plus the number and date formats of docs/decisions.md §2.3. */
#ifndef EA_JSON_H
#define EA_JSON_H

#include "ea_buf.h"
#include <stddef.h>

/* Append s (len bytes, UTF-8) as a quoted JSON string, escaping like
 * Python's json.dumps(ensure_ascii=False): \" \\ \n \r \t \b \f, other
 * control characters < 0x20 as \u00XX (lower-case hex), and U+2028 /
 * U+2029 as \u2028 / \u2029.  Invalid UTF-8 bytes are replaced by U+FFFD. */
void ea_json_str(ea_buf *b, const char *s, size_t len);
/* NUL-terminated variant; s == NULL appends null. */
void ea_json_cstr(ea_buf *b, const char *s);

/* Format v as Python's repr(float): shortest round-trip digits; fixed
 * notation when 1e-4 <= |v| < 1e16 (always with a ".0" when integral),
 * otherwise scientific like "1e+16", "1.5e-05".  Writes at most 32 bytes
 * including the NUL; returns the length.  NaN/Inf are written as 0.0
 * (JSON forbids them; DRF would refuse to render). */
int ea_fmt_pyfloat(char *out, size_t outlen, double v);
/* Append a PostgreSQL numeric text value (e.g. "346.8000") as a JSON
 * float in repr form; NULL or "" appends 0.0. */
void ea_json_numeric_as_float(ea_buf *b, const char *numeric);

/* Convert a UTC timestamp as PostgreSQL prints it in a session with
 * TimeZone UTC and DateStyle ISO ("2025-12-03 16:00:41.12+00"; the
 * to_char form "2025-12-03T16:00:41.120000" is read too) into DRF's form:
 * "2025-12-03T16:00:41.120000Z", or "...:41Z" when the microseconds are
 * zero.  Appends null when pg is NULL; other text (infinity, BC) is
 * appended as a plain JSON string. */
void ea_json_datetime(ea_buf *b, const char *pg);

/* Re-emit JSON text (as PostgreSQL's jsonb output prints it, with spaces
 * after ':' and ',') in DRF's compact form: no insignificant whitespace,
 * strings re-escaped as ea_json_str does, integers copied, numbers with
 * a fraction or exponent re-printed as Python floats ("1.50" -> 1.5,
 * "1e2" -> 100.0).  Returns 0 on success, -1 if the input is not valid
 * JSON (then b is left with a partial write the caller discards).
 * Nesting deeper than 512 levels is refused (-1). */
int ea_json_compact(ea_buf *b, const char *json, size_t len);

/* Pretty-print compact JSON text the way Python's json.dumps(indent=N,
 * separators=(',', ': ')), DRF's INDENT_SEPARATORS, does: a newline and N*depth spaces before each
 * element and before the closing bracket of a non-empty container;
 * empty containers stay "{}"/"[]".  indent 0 still breaks lines.
 * Returns 0, or -1 on invalid input. */
int ea_json_indent(ea_buf *out, const char *json, size_t len, int indent);

#endif
