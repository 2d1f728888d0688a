/* Unit tests for ea_fifo: slots up to max without waiting, then waiters
 * served strictly in the order they came, each given a slot as a holder
 * leaves; counts stay consistent. */
#include "ea_fifo.h"

#include <apr_general.h>
#include <apr_thread_proc.h>
#include <apr_time.h>
#include <check.h>

#include <stdlib.h>

static apr_pool_t *pool;

static void setup(void)
{
    ck_assert_int_eq(apr_pool_create(&pool, NULL), APR_SUCCESS);
}

static void teardown(void)
{
    apr_pool_destroy(pool);
}

typedef struct {
    ea_fifo *f;
    int me;
    int *order;          /* who got a slot, in turn */
    int *n;
    apr_thread_mutex_t *mu;
} waiter;

static void *APR_THREAD_FUNC take(apr_thread_t *t, void *data)
{
    waiter *w = data;
    apr_pool_t *p;
    apr_pool_create(&p, NULL);
    if (ea_fifo_enter(w->f, p) != 0)
        abort();
    apr_thread_mutex_lock(w->mu);
    w->order[(*w->n)++] = w->me;
    apr_thread_mutex_unlock(w->mu);
    apr_pool_destroy(p);
    apr_thread_exit(t, APR_SUCCESS);
    return NULL;
}

/* Waits (at most 5 s) until the queue has `waiting` waiters. */
static void until_waiting(ea_fifo *f, int waiting)
{
    int h, w;
    for (int i = 0; i < 5000; i++) {
        ea_fifo_counts(f, &h, &w);
        if (w == waiting)
            return;
        apr_sleep(1000);
    }
    ck_abort_msg("never %d waiters (%d)", waiting, w);
}

START_TEST(free_slots_are_taken_at_once)
{
    ea_fifo *f = ea_fifo_create(pool, 3);
    int h, w;
    ck_assert_ptr_nonnull(f);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(ea_fifo_enter(f, pool), 0);
    ea_fifo_counts(f, &h, &w);
    ck_assert_int_eq(h, 3);
    ck_assert_int_eq(w, 0);
    ea_fifo_leave(f);
    ea_fifo_leave(f);
    ea_fifo_counts(f, &h, &w);
    ck_assert_int_eq(h, 1);
    /* a leave too many does not make a slot out of nothing */
    ea_fifo_leave(f);
    ea_fifo_leave(f);
    ea_fifo_counts(f, &h, &w);
    ck_assert_int_eq(h, 0);
    /* max below 1 is one slot */
    ea_fifo *one = ea_fifo_create(pool, 0);
    ck_assert_int_eq(ea_fifo_enter(one, pool), 0);
    ea_fifo_counts(one, &h, &w);
    ck_assert_int_eq(h, 1);
}
END_TEST

START_TEST(waiters_are_served_in_arrival_order)
{
    enum { N = 6 };
    ea_fifo *f = ea_fifo_create(pool, 2);
    apr_thread_t *th[N];
    waiter ws[N];
    int order[N], n = 0, h, w;
    apr_thread_mutex_t *mu;

    ck_assert_int_eq(apr_thread_mutex_create(&mu, APR_THREAD_MUTEX_DEFAULT, pool), APR_SUCCESS);
    ck_assert_int_eq(ea_fifo_enter(f, pool), 0);
    ck_assert_int_eq(ea_fifo_enter(f, pool), 0);
    /* each thread starts once the previous one waits: arrival order 0..N-1 */
    for (int i = 0; i < N; i++) {
        ws[i] = (waiter){ f, i, order, &n, mu };
        ck_assert_int_eq(apr_thread_create(&th[i], NULL, take, &ws[i], pool), APR_SUCCESS);
        until_waiting(f, i + 1);
    }
    ea_fifo_counts(f, &h, &w);
    ck_assert_int_eq(h, 2);
    ck_assert_int_eq(w, N);
    /* one slot given back at a time: exactly one waiter goes, the oldest */
    for (int i = 0; i < N; i++) {
        ea_fifo_leave(f);
        until_waiting(f, N - 1 - i);
        for (int k = 0; k < 5000; k++) {
            apr_thread_mutex_lock(mu);
            int got = n;
            apr_thread_mutex_unlock(mu);
            if (got == i + 1)
                break;
            apr_sleep(1000);
        }
        apr_thread_mutex_lock(mu);
        ck_assert_int_eq(n, i + 1);
        ck_assert_int_eq(order[i], i);
        apr_thread_mutex_unlock(mu);
        ea_fifo_counts(f, &h, &w);
        ck_assert_int_eq(h, 2);     /* the slot passed on, not freed */
    }
    for (int i = 0; i < N; i++) {
        apr_status_t rv;
        apr_thread_join(&rv, th[i]);
    }
    /* the waiters never left: all N + 2 holders still count as 2 slots */
    ea_fifo_leave(f);
    ea_fifo_leave(f);
    ea_fifo_counts(f, &h, &w);
    ck_assert_int_eq(h, 0);
    ck_assert_int_eq(w, 0);
}
END_TEST

/* Wait (at most 5 s) until n threads got their slot. */
static void until_served(int *n, apr_thread_mutex_t *mu, int want)
{
    for (int k = 0; k < 5000; k++) {
        apr_thread_mutex_lock(mu);
        int got = *n;
        apr_thread_mutex_unlock(mu);
        if (got == want)
            return;
        apr_sleep(1000);
    }
    ck_abort_msg("never %d served", want);
}

/* Slots taken away and given back (a connection held outside the queue). */
START_TEST(resize_takes_slots_away_and_back)
{
    ea_fifo *f = ea_fifo_create(pool, 3);
    apr_thread_t *th[2];
    waiter ws[2];
    int order[2], n = 0, h, w;
    apr_thread_mutex_t *mu;
    apr_status_t rv;

    ck_assert_int_eq(apr_thread_mutex_create(&mu, APR_THREAD_MUTEX_DEFAULT, pool), APR_SUCCESS);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(ea_fifo_enter(f, pool), 0);
    ea_fifo_resize(f, -1);                      /* two slots now, three held */
    ws[0] = (waiter){ f, 0, order, &n, mu };
    ck_assert_int_eq(apr_thread_create(&th[0], NULL, take, &ws[0], pool), APR_SUCCESS);
    until_waiting(f, 1);
    ea_fifo_leave(f);                           /* 2 held of 2: nobody goes */
    apr_sleep(50000);
    ea_fifo_counts(f, &h, &w);
    ck_assert_int_eq(h, 2);
    ck_assert_int_eq(w, 1);
    apr_thread_mutex_lock(mu);
    ck_assert_int_eq(n, 0);
    apr_thread_mutex_unlock(mu);
    ea_fifo_leave(f);                           /* now the slot passes on */
    until_served(&n, mu, 1);
    apr_thread_join(&rv, th[0]);
    ea_fifo_counts(f, &h, &w);
    ck_assert_int_eq(h, 2);
    ck_assert_int_eq(w, 0);

    /* a waiter is let in as soon as a slot comes back */
    ws[1] = (waiter){ f, 1, order, &n, mu };
    ck_assert_int_eq(apr_thread_create(&th[1], NULL, take, &ws[1], pool), APR_SUCCESS);
    until_waiting(f, 1);
    ea_fifo_resize(f, 1);
    until_served(&n, mu, 2);
    apr_thread_join(&rv, th[1]);
    ea_fifo_counts(f, &h, &w);
    ck_assert_int_eq(h, 3);
    ck_assert_int_eq(w, 0);
    ck_assert_int_eq(order[1], 1);

    /* never fewer than one slot, and taken away as often as given back */
    for (int i = 0; i < 3; i++)
        ea_fifo_leave(f);
    ea_fifo_resize(f, -5);
    ck_assert_int_eq(ea_fifo_enter(f, pool), 0);
    ea_fifo_counts(f, &h, &w);
    ck_assert_int_eq(h, 1);
    ea_fifo_resize(f, 5);
    for (int i = 0; i < 2; i++)
        ck_assert_int_eq(ea_fifo_enter(f, pool), 0);
    ea_fifo_counts(f, &h, &w);
    ck_assert_int_eq(h, 3);
    ck_assert_int_eq(w, 0);
}
END_TEST

/* Many threads entering and leaving at once: never more than max inside. */
typedef struct {
    ea_fifo *f;
    int *inside, *most;
    apr_thread_mutex_t *mu;
} churn_arg;

static void *APR_THREAD_FUNC churn(apr_thread_t *t, void *data)
{
    churn_arg *a = data;
    apr_pool_t *p;
    apr_pool_create(&p, NULL);
    for (int i = 0; i < 2000; i++) {
        if (ea_fifo_enter(a->f, p) != 0)
            abort();
        apr_thread_mutex_lock(a->mu);
        if (++*a->inside > *a->most)
            *a->most = *a->inside;
        apr_thread_mutex_unlock(a->mu);
        apr_thread_mutex_lock(a->mu);
        --*a->inside;
        apr_thread_mutex_unlock(a->mu);
        ea_fifo_leave(a->f);
        if (i % 100 == 0)
            apr_pool_clear(p);
    }
    apr_pool_destroy(p);
    apr_thread_exit(t, APR_SUCCESS);
    return NULL;
}

START_TEST(never_more_than_max_inside)
{
    enum { T = 8 };
    ea_fifo *f = ea_fifo_create(pool, 3);
    apr_thread_t *th[T];
    int inside = 0, most = 0, h, w;
    apr_thread_mutex_t *mu;
    ck_assert_int_eq(apr_thread_mutex_create(&mu, APR_THREAD_MUTEX_DEFAULT, pool), APR_SUCCESS);
    churn_arg a = { f, &inside, &most, mu };
    for (int i = 0; i < T; i++)
        ck_assert_int_eq(apr_thread_create(&th[i], NULL, churn, &a, pool), APR_SUCCESS);
    for (int i = 0; i < T; i++) {
        apr_status_t rv;
        apr_thread_join(&rv, th[i]);
    }
    ck_assert_int_le(most, 3);
    ck_assert_int_ge(most, 1);
    ea_fifo_counts(f, &h, &w);
    ck_assert_int_eq(h, 0);
    ck_assert_int_eq(w, 0);
}
END_TEST

static Suite *fifo_suite(void)
{
    Suite *s = suite_create("ea_fifo");
    TCase *tc = tcase_create("fifo");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, free_slots_are_taken_at_once);
    tcase_add_test(tc, waiters_are_served_in_arrival_order);
    tcase_add_test(tc, never_more_than_max_inside);
    tcase_add_test(tc, resize_takes_slots_away_and_back);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    apr_initialize();
    SRunner *sr = srunner_create(fifo_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    apr_terminate();
    return failed == 0 ? 0 : 1;
}
