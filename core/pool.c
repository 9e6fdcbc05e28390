#include "pool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
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
    atomic_ulong generation; /* a new job: sleeping workers wake */
    /* The current job's parts, claimed one at a time: (job << 32) | (parts << 16) | next.
     * One word, so a claim (a compare-and-swap) is of this job's parts or fails. */
    _Atomic uint64_t claim;
    atomic_int finished; /* parts of the current job done */
    bool stop;
    /* the current job, stable until all its parts are done */
    rill_range_fn fn;
    void *ctx;
    size_t n;
    int parts;
} P = {.nthreads = 1, .mu = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER,
       .done = PTHREAD_COND_INITIALIZER};

static _Thread_local bool in_pool_job;

/* Part p covers a fixed range and gets p as its worker index, whichever thread runs it, so
 * per-part scratch and partial sums (indexed by it) do not depend on timing. */
static void run_part(int p)
{
    size_t b = P.n * (size_t)p / (size_t)P.parts, e = P.n * (size_t)(p + 1) / (size_t)P.parts;
    if (b < e)
        P.fn(P.ctx, b, e, p);
}

/* Claims and runs parts of the current job until none is left; how many it ran. */
static int run_parts(void)
{
    int ran = 0;
    uint64_t c = atomic_load_explicit(&P.claim, memory_order_acquire);
    for (;;) {
        uint32_t next = (uint32_t)(c & 0xffff), parts = (uint32_t)(c >> 16) & 0xffff;
        if (next >= parts)
            return ran;
        if (!atomic_compare_exchange_weak_explicit(&P.claim, &c, c + 1, memory_order_acq_rel,
                                                   memory_order_acquire))
            continue;
        run_part((int)next);
        ran++;
        if (atomic_fetch_add_explicit(&P.finished, 1, memory_order_acq_rel) + 1 == (int)parts) {
            pthread_mutex_lock(&P.mu);
            pthread_cond_signal(&P.done);
            pthread_mutex_unlock(&P.mu);
        }
        c = atomic_load_explicit(&P.claim, memory_order_acquire);
    }
}

static void *worker_main(void *arg)
{
    (void)arg;
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
        run_parts(); /* a worker that wakes late finds the parts taken and goes back */
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
    atomic_store(&P.claim, 0);
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
    atomic_store_explicit(&P.finished, 0, memory_order_relaxed);
    uint64_t job = (atomic_load_explicit(&P.claim, memory_order_relaxed) >> 32) + 1;
    atomic_store_explicit(&P.claim, job << 32 | (uint64_t)parts << 16, memory_order_release);
    pthread_mutex_lock(&P.mu);
    atomic_fetch_add_explicit(&P.generation, 1, memory_order_release);
    pthread_cond_broadcast(&P.wake);
    pthread_mutex_unlock(&P.mu);
    /* The caller runs parts too, as many as are left when it gets to them: a worker that is
     * slow to wake (asleep, or its core taken by another process) costs only the parts it
     * has claimed, never a wait for it to start. */
    in_pool_job = true;
    run_parts();
    in_pool_job = false;
    int spins = 0;
    while (atomic_load_explicit(&P.finished, memory_order_acquire) < (int)parts &&
           spins < 100000) {
        cpu_relax();
        spins++;
    }
    if (atomic_load(&P.finished) < (int)parts) {
        pthread_mutex_lock(&P.mu);
        while (atomic_load(&P.finished) < (int)parts)
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
