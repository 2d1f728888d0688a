/* ea_edge: what is decided at the edge of a request, before any view runs:
 * throttle rate specs, CORS origins, allowed hosts and the anonymous
 * throttle key.  Stricter than Django/DRF wherever theirs let junk in. */
#ifndef EA_EDGE_H
#define EA_EDGE_H

#include <apr_pools.h>
#include <apr_tables.h>
#include <stddef.h>

/* The largest N accepted in a rate spec. */
#define EA_RATE_MAX_COUNT 1000000000L

/* Parse a throttle rate "N/period" as DRF does (the period's first letter
 * gives its length: s=1, m=60, h=3600, d=86400), but only for N = 1 ..
 * EA_RATE_MAX_COUNT written in ASCII digits (no sign, space or '_') and a
 * period among s sec second seconds m min minute minutes h hour hours d day
 * days (ASCII case-insensitive).  Returns 0 and sets *count and
 * *period_seconds; else -1, the outputs untouched and *err (when err is
 * not NULL) a short English reason for a directive error message. */
int ea_rate_parse(const char *spec, long *count, long *period_seconds,
                  const char **err);

/* The serialized form of a web origin "scheme://host[:port]" as browsers
 * send it in Origin, or NULL when origin is not one (NULL, "null", empty):
 * scheme http or https (any case), lower-cased; host an ASCII DNS name
 * (letters, digits, '-', '_', '.'; non-empty labels of at most 63 bytes,
 * 253 in all, one trailing '.' kept as browsers keep it; IDN only as
 * given in punycode), lower-cased; a dotted-quad IPv4 address (a host
 * ending in a number must be one, as the URL standard says); or an IPv6
 * address in brackets, re-serialized as browsers do ("[::1]").  A port
 * 1..65535 is kept, unless it is the scheme's default (80, 443).  No
 * userinfo, path, query or fragment; one trailing "/" is dropped. */
char *ea_origin_normalize(apr_pool_t *p, const char *origin);

/* Whether origin, normalized, is exactly one of normalized_list (const
 * char * from ea_origin_normalize).  Never a prefix or substring match. */
int ea_origin_allowed(const apr_array_header_t *normalized_list,
                      const char *origin);

/* Django's ALLOWED_HOSTS check of a Host header (patterns: const char *):
 * the header must be host[:port] with host a DNS name (letters, digits,
 * '-', '.'; non-empty labels) or an IPv6 literal in brackets, and port
 * 1..65535; one trailing '.' of the host is ignored.  "*" matches any
 * valid header, ".example.org" example.org and its subdomains, anything
 * else exactly the host part (ASCII case-insensitive; port ignored). */
int ea_host_allowed(const apr_array_header_t *patterns,
                    const char *host_header);

/* Enough room for any key ea_client_key writes. */
#define EA_CLIENT_KEY_SIZE 64

/* The throttle key of an anonymous client address (as r->useragent_ip
 * gives it): IPv4 in dotted-quad form; IPv6 as its /64 ("2001:db8:1:2::/64")
 * since one subscriber usually holds a whole /64; IPv4-mapped
 * (::ffff:a.b.c.d) and NAT64 (64:ff9b::a.b.c.d) addresses as the IPv4
 * address inside.  A zone ("fe80::1%eth0") is ignored.  Returns 0, or -1
 * (out set to "" when outlen > 0) for an invalid address or a short out. */
int ea_client_key(char *out, size_t outlen, const char *ip);

#endif
