/* ea_fifo: a counting semaphore that serves its waiters in arrival order. */
#include "ea_fifo.h"

#include <apr_thread_cond.h>
#include <apr_thread_mutex.h>

typedef struct ea_fifo_waiter {
    apr_thread_cond_t *cv;
    int granted;                     /* a leaving holder gave it its slot */
    struct ea_fifo_waiter *next;
} ea_fifo_waiter;

struct ea_fifo {
    apr_thread_mutex_t *mu;
    int max, held, waiting;
    int reserved;                    /* slots taken away by ea_fifo_resize */
    ea_fifo_waiter *head, *tail;     /* oldest first */
};

/* The slots there are now: max less those taken away, at least one. */
static int cap(const ea_fifo *f)
{
    return f->max - f->reserved < 1 ? 1 : f->max - f->reserved;
}

/* The oldest waiter gets a slot; held stays the caller's business. */
static void grant_first(ea_fifo *f)
{
    ea_fifo_waiter *w = f->head;
    f->head = w->next;
    if (f->head == NULL)
        f->tail = NULL;
    f->waiting--;
    w->granted = 1;
    apr_thread_cond_signal(w->cv);
}

ea_fifo *ea_fifo_create(apr_pool_t *p, int max)
{
    ea_fifo *f = apr_pcalloc(p, sizeof(*f));
    if (apr_thread_mutex_create(&f->mu, APR_THREAD_MUTEX_DEFAULT, p) != APR_SUCCESS)
        return NULL;
    f->max = max < 1 ? 1 : max;
    return f;
}

int ea_fifo_enter(ea_fifo *f, apr_pool_t *wait_pool)
{
    ea_fifo_waiter w = { NULL, 0, NULL };

    apr_thread_mutex_lock(f->mu);
    /* a free slot is taken only when nobody waits for one */
    if (f->held < cap(f) && f->head == NULL) {
        f->held++;
        apr_thread_mutex_unlock(f->mu);
        return 0;
    }
    if (apr_thread_cond_create(&w.cv, wait_pool) != APR_SUCCESS) {
        apr_thread_mutex_unlock(f->mu);
        return -1;
    }
    if (f->tail)
        f->tail->next = &w;
    else
        f->head = &w;
    f->tail = &w;
    f->waiting++;
    while (!w.granted)
        apr_thread_cond_wait(w.cv, f->mu);
    apr_thread_mutex_unlock(f->mu);
    apr_thread_cond_destroy(w.cv);
    return 0;
}

void ea_fifo_leave(ea_fifo *f)
{
    apr_thread_mutex_lock(f->mu);
    if (f->head && f->held <= cap(f))
        grant_first(f);      /* the slot passes to the oldest waiter: held stays */
    else if (f->held > 0)
        f->held--;           /* free, or one fewer than there are slots no more */
    apr_thread_mutex_unlock(f->mu);
}

void ea_fifo_resize(ea_fifo *f, int delta)
{
    apr_thread_mutex_lock(f->mu);
    f->reserved -= delta;
    while (f->head && f->held < cap(f)) {
        f->held++;
        grant_first(f);
    }
    apr_thread_mutex_unlock(f->mu);
}

void ea_fifo_counts(ea_fifo *f, int *held, int *waiting)
{
    apr_thread_mutex_lock(f->mu);
    *held = f->held;
    *waiting = f->waiting;
    apr_thread_mutex_unlock(f->mu);
}
