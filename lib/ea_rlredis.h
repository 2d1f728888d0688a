/* ea_rlredis: the rate-limit table of ea_throttle kept in Redis instead of
 * shared memory, so that several httpd nodes share the limits
 * (EcoAtlasThrottleBackend).
 *
 * Same guarantee as ea_throttle (see ea_throttle.h), by the same algorithm
 * run atomically inside Redis by one Lua script (ea_redis.h: EVALSHA, EVAL
 * when the server answers NOSCRIPT): per key a ring of at most `slots` buckets
 * (stamp, count), a bucket per distinct millisecond when limit <= slots (an
 * exact sliding log), per granule of ceil(period / (slots - 1)) ms above.
 * Times come from the Redis server's clock (TIME), the one clock all nodes
 * share; like the local table, a key's decisions use the latest time any
 * call for it brought, so a clock stepping back freezes its window (fails
 * closed) rather than letting N + 1 admissions in.
 *
 * Memory: one string of at most ~30 x slots bytes per key, which expires
 * (PX) when its last admission leaves the window; key names are
 * "ecoatlas:rl:" + 32 hex digits of a 128-bit SipHash of the caller's key
 * under a secret, so clients cannot choose colliding or guessable names and
 * Redis never sees an address or a user name.
 *
 * A connection (ea_rlredis) is not thread-safe: one per thread at a time. */
#ifndef EA_RLREDIS_H
#define EA_RLREDIS_H

#include <stddef.h>
#include <stdint.h>

#include "ea_redis.h"  /* ea_redis_url */
#include "ea_throttle.h"

/* Room for a key name written by ea_rlredis_key (with its NUL). */
#define EA_RLREDIS_KEY_SIZE 45

/* The Redis key name of key under the 16-byte secret. */
void ea_rlredis_key(char out[EA_RLREDIS_KEY_SIZE], const uint8_t secret[16], const char *key,
                    size_t klen);
/* 16 bytes derived from a secret string of any length (NULL or "": a fixed
 * value; every node must be given the same secret). */
void ea_rlredis_secret(uint8_t out[16], const char *secret);

typedef struct ea_rlredis ea_rlredis;

/* Connect (connect and command timeouts timeout_ms), select the database
 * and load the script.  NULL and *err (static or in errbuf) on failure. */
ea_rlredis *ea_rlredis_connect(const ea_redis_url *u, int timeout_ms, char *errbuf,
                               size_t errlen);
void ea_rlredis_free(ea_rlredis *c);

/* Count one request for the key name rkey (from ea_rlredis_key) against
 * `limit` per `period_ms` with `slots` buckets.  0: *v filled (at_ms is
 * the Redis server's time); -1: the connection failed (timeout, error
 * reply; errbuf says which): free it and reconnect later; -2: the server
 * had closed or reset the connection (a connection older than a Redis
 * restart): nothing was counted, a fresh connection may try at once. */
int ea_rlredis_admit(ea_rlredis *c, const char *rkey, unsigned limit, uint64_t period_ms,
                     unsigned slots, ea_throttle_verdict *v, char *errbuf, size_t errlen);

/* The Lua script, for tests and documentation. */
extern const char ea_rlredis_script[];

#endif
