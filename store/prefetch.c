/* Prefetch (store.h): rows coming steps will read, brought into memory while the current
 * step computes. The training thread lists, per table, the ids of a coming batch that its
 * cache lacks (rill_table_prefetch) and hands the list over (rill_store_prefetch); a few I/O
 * threads read each of those rows from LMDB's map in a read transaction of their own, which
 * faults its page in from the disk. Several threads, because a page fault waits for the disk
 * and one thread would read one page at a time. Nothing is copied and no value changes: when
 * the step asks for the row, the lookup finds its page in memory. A new list goes after what
 * is left of the last one; what is left of the one before is dropped (those rows are being
 * read by the step itself by then). The map may only be resized with no transaction open:
 * rill_prefetch_pause waits for the threads to close theirs. */
#include <stdlib.h>
#include <string.h>

#include "table_impl.h"
#include "util.h"

/* reads in flight: a virtual disk measured here answered 190 random 4 KiB reads a second one
 * at a time and 1,900 with 16 in flight */
#define PREFETCH_THREADS 16
#define PREFETCH_CHUNK 32 /* rows a thread takes at a time */

typedef struct {
    rill_table *t;
    uint64_t id;
} pf_item;

typedef struct rill_prefetcher {
    rill_store *s;
    pthread_t th[PREFETCH_THREADS];
    int nth;
    pthread_mutex_t mu;
    pthread_cond_t work, idle;
    pf_item *items;      /* the list being read */
    size_t n, next, cap;
    size_t fresh;        /* items[fresh..n): the batch handed over last */
    pf_item *pend;       /* the list being made (rill_table_prefetch) */
    size_t npend, pend_cap;
    int busy;            /* threads inside a read transaction */
    bool stop, paused;
    uint64_t rows;       /* rows read ahead so far */
} rill_prefetcher;

/* Reads items [a, b) in a transaction: each row's first and last bytes, so every page the
 * value lies on is faulted in. */
static int read_rows(rill_store *s, rill_guard *g, const pf_item *it, size_t n)
{
    MDB_txn *txn;
    int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
    if (rc)
        return rc;
    g->txn = txn; /* aborted by the guard after a fault */
    volatile unsigned char sink = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t id = it[i].id, gkey;
        const rill_table *t = it[i].t;
        MDB_val k = {sizeof id, &id}, v;
        rc = mdb_get(txn, t->spill, &k, &v);
        if (rc == MDB_NOTFOUND && t->gs.where && t->gs.where[id]) { /* paused while where[] changes */
            gkey = rill_gen_key(t->gs.where[id], id);
            k = (MDB_val){sizeof gkey, &gkey};
            rc = mdb_get(txn, t->gens, &k, &v);
        } else if (rc == MDB_NOTFOUND) {
            rc = mdb_get(txn, t->main, &k, &v);
        }
        if (rc == 0 && v.mv_size) {
            const unsigned char *p = v.mv_data;
            sink = (unsigned char)(sink + p[0] + p[v.mv_size - 1]);
        }
    }
    (void)sink;
    g->txn = NULL;
    mdb_txn_abort(txn);
    return RILL_OK;
}

static void *prefetch_main(void *arg)
{
    rill_prefetcher *pf = arg;
    /* At the ordinary priority. Their work is mostly waiting for the disk, but each fault
     * needs a core to be issued (and, under a memory limit, to reclaim a page first): at the
     * idle priority they issued their reads only once the step itself waited, and the store's
     * benchmark, held to a quarter of its table, trained at 138,000-199,000 examples/s
     * against 237,000-273,000 at this one. Prefetch "auto" (train.h) reads ahead only while
     * rows come from the disk, so with rows in memory these do not compete with the step. */
    pthread_mutex_lock(&pf->mu);
    for (;;) {
        while (!pf->stop && (pf->paused || pf->next >= pf->n))
            pthread_cond_wait(&pf->work, &pf->mu);
        if (pf->stop)
            break;
        size_t a = pf->next, b = a + PREFETCH_CHUNK < pf->n ? a + PREFETCH_CHUNK : pf->n;
        pf_item chunk[PREFETCH_CHUNK]; /* the list may be replaced meanwhile */
        memcpy(chunk, pf->items + a, (b - a) * sizeof *chunk);
        pf->next = b;
        pf->busy++;
        pthread_mutex_unlock(&pf->mu);
        rill_err err = {0};
        int rc;
        /* a damaged page faults here as it would in the step: the store is marked damaged and
         * the step's own read reports it */
        RILL_GUARDED(rc, g, pf->s, "reading rows ahead", &err, (void)0,
                     read_rows(pf->s, &g, chunk, b - a));
        (void)rc;
        pthread_mutex_lock(&pf->mu);
        pf->rows += b - a;
        if (--pf->busy == 0)
            pthread_cond_broadcast(&pf->idle);
        if (pf->s->damaged)
            pf->next = pf->n;
    }
    pthread_mutex_unlock(&pf->mu);
    return NULL;
}

static rill_prefetcher *prefetcher(rill_store *s)
{
    if (s->pf)
        return s->pf;
    rill_prefetcher *pf = calloc(1, sizeof *pf);
    if (!pf)
        return NULL;
    pf->s = s;
    pthread_mutex_init(&pf->mu, NULL);
    pthread_cond_init(&pf->work, NULL);
    pthread_cond_init(&pf->idle, NULL);
    for (int i = 0; i < PREFETCH_THREADS; i++)
        if (pthread_create(&pf->th[pf->nth], NULL, prefetch_main, pf) == 0)
            pf->nth++;
    s->pf = pf;
    return pf;
}

void rill_table_prefetch(rill_table *t, const uint64_t *ids, size_t n)
{
    rill_store *s = t->store;
    if (!s || s->damaged || s->mode == RILL_STORE_READ)
        return;
    rill_prefetcher *pf = prefetcher(s);
    if (!pf || !pf->nth)
        return;
    for (size_t i = 0; i < n; i++) {
        uint64_t id = ids[i];
        if (id >= (uint64_t)t->rows)
            continue;
        size_t h = rill_idmap_slot(&t->map, id); /* the cache is the training thread's */
        if (t->map.vals[h] != RILL_IDMAP_EMPTY)
            continue;
        if (pf->npend == pf->pend_cap) {
            size_t cap = pf->pend_cap ? pf->pend_cap * 2 : 4096;
            pf_item *p = realloc(pf->pend, cap * sizeof *p);
            if (!p)
                return; /* only a prefetch lost */
            pf->pend = p;
            pf->pend_cap = cap;
        }
        pf->pend[pf->npend++] = (pf_item){t, id};
    }
}

static int cmp_item(const void *a, const void *b)
{
    const pf_item *x = a, *y = b;
    if (x->t != y->t)
        return (uintptr_t)x->t < (uintptr_t)y->t ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

void rill_store_prefetch(rill_store *s)
{
    rill_prefetcher *pf = s->pf;
    if (!pf || !pf->npend)
        return;
    /* in key order, duplicates once: neighbouring rows share pages and branch pages */
    qsort(pf->pend, pf->npend, sizeof *pf->pend, cmp_item);
    size_t k = 0;
    for (size_t i = 0; i < pf->npend; i++)
        if (!k || cmp_item(&pf->pend[k - 1], &pf->pend[i]))
            pf->pend[k++] = pf->pend[i];
    pthread_mutex_lock(&pf->mu);
    /* The rows of the last list not read yet are for a batch still ahead (the training loop
     * hands a batch over two steps before its step): they go first, before the new batch's.
     * What was left of the list before that is dropped: its step is running now and reads
     * those rows itself. */
    size_t from = pf->next > pf->fresh ? pf->next : pf->fresh;
    size_t keep = pf->n > from ? pf->n - from : 0;
    if (keep && k + keep > pf->pend_cap) {
        pf_item *p = realloc(pf->pend, (k + keep) * sizeof *p);
        if (p) {
            pf->pend = p;
            pf->pend_cap = k + keep;
        } else {
            keep = 0; /* only a prefetch lost */
        }
    }
    if (keep) {
        memmove(pf->pend + keep, pf->pend, k * sizeof *pf->pend);
        memcpy(pf->pend, pf->items + from, keep * sizeof *pf->pend);
    }
    pf_item *old = pf->items;
    size_t old_cap = pf->cap;
    pf->items = pf->pend;
    pf->cap = pf->pend_cap;
    pf->n = keep + k;
    pf->next = 0;
    pf->fresh = keep;
    pf->pend = old;
    pf->pend_cap = old_cap;
    pf->npend = 0;
    pthread_cond_broadcast(&pf->work);
    pthread_mutex_unlock(&pf->mu);
}

uint64_t rill_store_prefetched(const rill_store *s)
{
    return s->pf ? s->pf->rows : 0;
}

void rill_prefetch_pause(rill_store *s)
{
    rill_prefetcher *pf = s->pf;
    if (!pf)
        return;
    pthread_mutex_lock(&pf->mu);
    pf->paused = true;
    pf->next = pf->n; /* what is left is dropped */
    while (pf->busy)
        pthread_cond_wait(&pf->idle, &pf->mu);
    pthread_mutex_unlock(&pf->mu);
}

void rill_prefetch_resume(rill_store *s)
{
    rill_prefetcher *pf = s->pf;
    if (!pf)
        return;
    pthread_mutex_lock(&pf->mu);
    pf->paused = false;
    pthread_mutex_unlock(&pf->mu);
}

void rill_prefetch_free(rill_store *s)
{
    rill_prefetcher *pf = s->pf;
    if (!pf)
        return;
    pthread_mutex_lock(&pf->mu);
    pf->stop = true;
    pthread_cond_broadcast(&pf->work);
    pthread_mutex_unlock(&pf->mu);
    for (int i = 0; i < pf->nth; i++)
        pthread_join(pf->th[i], NULL);
    pthread_mutex_destroy(&pf->mu);
    pthread_cond_destroy(&pf->work);
    pthread_cond_destroy(&pf->idle);
    free(pf->items);
    free(pf->pend);
    free(pf);
    s->pf = NULL;
}
