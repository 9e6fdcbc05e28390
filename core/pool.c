#include "pool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>

#include <cblas.h>

#if defined(__x86_64__) || defined(__i386__)
#define cpu_relax() __builtin_ia32_pause()
#else
#define cpu_relax() ((void)0)
#endif

#define MAX_THREADS 64

static struct {
    int nthreads;
    pthread_t tid[MAX_THREADS];
    pthread_mutex_t mu;
    pthread_cond_t wake, done;
    atomic_ulong generation;
    atomic_int remaining;
    bool stop;
    /* the current job */
    rill_range_fn fn;
    void *ctx;
    size_t n;
    int parts;
} P = {.nthreads = 1, .mu = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER,
       .done = PTHREAD_COND_INITIALIZER};

static _Thread_local bool in_pool_job;

static void run_part(int w)
{
    size_t b = P.n * (size_t)w / (size_t)P.parts, e = P.n * (size_t)(w + 1) / (size_t)P.parts;
    if (b < e)
        P.fn(P.ctx, b, e, w);
}

static void *worker_main(void *arg)
{
    int w = (int)(intptr_t)arg;
    unsigned long seen = 0;
    in_pool_job = true;
    for (;;) {
        /* A short spin catches the next job of the same step without a futex round trip;
         * after that the thread sleeps, so it never competes with the caller's work. */
        int spins = 0;
        while (atomic_load_explicit(&P.generation, memory_order_acquire) == seen && spins < 4000) {
            cpu_relax();
            spins++;
        }
        pthread_mutex_lock(&P.mu);
        while (atomic_load(&P.generation) == seen && !P.stop)
            pthread_cond_wait(&P.wake, &P.mu);
        bool stop = P.stop;
        pthread_mutex_unlock(&P.mu);
        if (stop)
            return NULL;
        seen = atomic_load(&P.generation);
        if (w < P.parts)
            run_part(w);
        if (atomic_fetch_sub(&P.remaining, 1) == 1) {
            pthread_mutex_lock(&P.mu);
            pthread_cond_signal(&P.done);
            pthread_mutex_unlock(&P.mu);
        }
    }
}

void rill_pool_stop(void)
{
    if (P.nthreads <= 1) {
        P.nthreads = 1;
        return;
    }
    pthread_mutex_lock(&P.mu);
    P.stop = true;
    pthread_cond_broadcast(&P.wake);
    pthread_mutex_unlock(&P.mu);
    for (int i = 1; i < P.nthreads; i++)
        pthread_join(P.tid[i], NULL);
    P.stop = false;
    P.nthreads = 1;
}

int rill_pool_start(int nthreads, rill_err *err)
{
    if (nthreads <= 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        nthreads = n > 0 ? (int)n : 1;
    }
    if (nthreads > MAX_THREADS)
        return rill_errf(err, RILL_EINVAL, "threads = %d: at most %d are supported", nthreads,
                         MAX_THREADS);
    openblas_set_num_threads(1);
    if (nthreads == P.nthreads)
        return RILL_OK;
    rill_pool_stop();
    atomic_store(&P.generation, 0);
    for (int i = 1; i < nthreads; i++) {
        if (pthread_create(&P.tid[i], NULL, worker_main, (void *)(intptr_t)i) != 0) {
            P.nthreads = i;
            rill_pool_stop();
            return rill_errf(err, RILL_ENOMEM, "cannot start worker thread %d of %d", i,
                             nthreads);
        }
        P.nthreads = i + 1;
    }
    return RILL_OK;
}

int rill_pool_threads(void)
{
    return P.nthreads;
}

void rill_parallel_for(size_t n, size_t min_chunk, rill_range_fn fn, void *ctx)
{
    if (n == 0)
        return;
    if (min_chunk == 0)
        min_chunk = 1;
    size_t parts = (size_t)P.nthreads;
    if (n / min_chunk < parts)
        parts = n / min_chunk ? n / min_chunk : 1;
    if (parts <= 1 || in_pool_job) {
        fn(ctx, 0, n, 0);
        return;
    }
    P.fn = fn;
    P.ctx = ctx;
    P.n = n;
    P.parts = (int)parts;
    atomic_store(&P.remaining, P.nthreads - 1);
    pthread_mutex_lock(&P.mu);
    atomic_fetch_add_explicit(&P.generation, 1, memory_order_release);
    pthread_cond_broadcast(&P.wake);
    pthread_mutex_unlock(&P.mu);
    in_pool_job = true;
    run_part(0);
    in_pool_job = false;
    /* wait for the others; they finish within microseconds of us in a balanced split */
    int spins = 0;
    while (atomic_load(&P.remaining) > 0 && spins < 100000) {
        cpu_relax();
        spins++;
    }
    if (atomic_load(&P.remaining) > 0) {
        pthread_mutex_lock(&P.mu);
        while (atomic_load(&P.remaining) > 0)
            pthread_cond_wait(&P.done, &P.mu);
        pthread_mutex_unlock(&P.mu);
    }
}

typedef struct {
    rill_range_fn fn;
    void *ctx;
    size_t n;
    atomic_size_t next;
} each_job;

static void each_part(void *ctx, size_t b, size_t e, int worker)
{
    each_job *j = ctx;
    (void)b;
    (void)e;
    for (;;) {
        size_t i = atomic_fetch_add(&j->next, 1);
        if (i >= j->n)
            return;
        j->fn(j->ctx, i, i + 1, worker);
    }
}

void rill_parallel_each(size_t n, rill_range_fn fn, void *ctx)
{
    each_job j = {.fn = fn, .ctx = ctx, .n = n};
    atomic_init(&j.next, 0);
    /* one range per thread; each then pulls items from the shared counter */
    rill_parallel_for((size_t)P.nthreads, 1, each_part, &j);
}
