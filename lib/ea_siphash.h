/* SipHash-2-4: a keyed hash, so clients cannot choose keys that collide
 * in our shared-memory tables. */
#ifndef EA_SIPHASH_H
#define EA_SIPHASH_H

#include <stddef.h>
#include <stdint.h>

uint64_t ea_siphash24(const uint8_t key[16], const void *data, size_t len);

#endif
