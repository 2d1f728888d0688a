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
    ea_fifo_waiter *head, *tail;     /* oldest first */
};

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
    if (f->held < f->max && f->head == NULL) {
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
    ea_fifo_waiter *w = f->head;
    if (w) {
        /* the slot passes to the oldest waiter: held stays the same */
        f->head = w->next;
        if (f->head == NULL)
            f->tail = NULL;
        f->waiting--;
        w->granted = 1;
        apr_thread_cond_signal(w->cv);
    } else if (f->held > 0) {
        f->held--;
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
