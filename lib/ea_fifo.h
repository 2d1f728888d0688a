/* ea_fifo: at most max holders at a time, the others served in the order
 * they came.  mod_ecoatlas puts each request's wait for one of mod_dbd's
 * pooled connections through one (docs/operations.md §2): mod_dbd's pool
 * wakes an arbitrary waiter, and a thread that arrives as a connection is
 * given back takes it before the waiter that was woken, so a few requests
 * could wait many times longer than the rest.  Here a slot that is given
 * back while others wait goes straight to the first of them.
 * Thread-safe; a pool's threads only (not shared between processes). */
#ifndef EA_FIFO_H
#define EA_FIFO_H

#include <apr_pools.h>

typedef struct ea_fifo ea_fifo;

/* A queue of max slots (max >= 1) in pool p; NULL if its mutex cannot be made. */
ea_fifo *ea_fifo_create(apr_pool_t *p, int max);
/* Take a slot, waiting behind the earlier comers while none is free.  The
 * wait's condition variable comes from wait_pool (made only when waiting).
 * Returns 0, or -1 when it could not wait (then no slot is held). */
int ea_fifo_enter(ea_fifo *f, apr_pool_t *wait_pool);
/* Give a slot back: to the first waiter, if any. */
void ea_fifo_leave(ea_fifo *f);
/* Fewer slots (delta < 0) while something outside the queue holds what
 * they stand for (the response cache's listener holds one of the pool's
 * connections), more again (delta > 0) when it gives them back; never
 * fewer than one.  Holders beyond the new number keep their slots; the
 * next ones go only when there are fewer holders than slots. */
void ea_fifo_resize(ea_fifo *f, int delta);
/* Slots held and threads waiting, now (metrics, tests). */
void ea_fifo_counts(ea_fifo *f, int *held, int *waiting);

#endif
