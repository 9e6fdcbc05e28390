/* A table's stored side (table.c holds the cache in front of it): rows read from LMDB in the
 * step's read transaction, evicted rows spilled between checkpoints, and the prefill that
 * creates every row in the store up front. Checkpoints' part is in table_snap.c. */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

#include "table_impl.h"
#include "util.h"

/* ---- reading stored rows ---- */

int rill_table_begin_reads(rill_table *t, rill_err *err)
{
    if (t->rtxn)
        return RILL_OK;
    int rc = mdb_txn_begin(t->store->env, NULL, MDB_RDONLY, &t->rtxn);
    if (rc) {
        t->rtxn = NULL;
        return rill_store_mdb_err(t->store, rc, "beginning a read", err);
    }
    return RILL_OK;
}

void rill_table_end_reads(rill_table *t)
{
    if (t->rtxn) {
        mdb_txn_abort(t->rtxn);
        t->rtxn = NULL;
    }
}

/* The stored row of id (spill first, then main) or NULL; *found_spill tells which. */
int rill_table_stored_row(rill_table *t, uint64_t id, const float **row, rill_err *err)
{
    *row = NULL;
    int rc = rill_table_begin_reads(t, err);
    if (rc)
        return rc;
    MDB_val k = {sizeof id, &id}, v;
    uint64_t gkey;
    rc = t->spilled ? mdb_get(t->rtxn, t->spill, &k, &v) : MDB_NOTFOUND;
    if (rc == MDB_NOTFOUND && t->gs.where && t->gs.where[id]) {
        gkey = rill_gen_key(t->gs.where[id], id);
        k = (MDB_val){sizeof gkey, &gkey};
        rc = mdb_get(t->rtxn, t->gens, &k, &v);
        if (rc == MDB_NOTFOUND)
            return rill_errf(err, RILL_ESTORE, "%s: table '%s', row %llu is listed in generation "
                             "%u but missing from it: the store is damaged", t->store->path,
                             t->name, (unsigned long long)id, t->gs.where[id]);
    } else if (rc == MDB_NOTFOUND) {
        rc = mdb_get(t->rtxn, t->main, &k, &v);
    }
    if (rc == MDB_NOTFOUND)
        return RILL_OK;
    if (rc)
        return rill_store_mdb_err(t->store, rc, "reading a row", err);
    size_t want = rill_sealed_len(t->store, (size_t)t->stride * sizeof(float) + ROW_TAIL);
    if (v.mv_size != want)
        return rill_errf(err, RILL_ESTORE,
                         "%s: table '%s', row %llu holds %zu bytes, expected %zu: the store is "
                         "damaged or from another build",
                         t->store->path, t->name, (unsigned long long)id, v.mv_size, want);
    t->st.sealed_reads += t->store->sealed;
    t->st.sealed_bytes += t->store->sealed ? k.mv_size + v.mv_size - RILL_SEAL_BYTES : 0;
    if (!rill_seal_ok(t->store, &k, &v)) {
        char what[160];
        snprintf(what, sizeof what, "table '%s'", t->name);
        return rill_unseal(t->store, &k, &v, what, false, err);
    }
    *row = v.mv_data;
    return RILL_OK;
}

/* rill_table_stored_row under a guard: a broken page is an error, not a crash. */
int rill_table_guarded_row(rill_table *t, uint64_t id, const float **row, rill_err *err)
{
    if (rill_store_refuse_damaged(t->store, err))
        return RILL_ESTORE;
    int rc;
    RILL_GUARDED(rc, g, t->store, "reading a row", err, rill_table_end_reads(t),
                 rill_table_stored_row(t, id, row, err));
    return rc;
}

/* A damaged row met where no error can be returned (peek, count): kept for rill_table_fault. */
void rill_table_keep_fault(rill_table *t, const rill_err *err)
{
    if (!t->fault.code)
        t->fault = *err;
}

int rill_table_fault(const rill_table *t, rill_err *err)
{
    if (!t->fault.code)
        return RILL_OK;
    *err = t->fault;
    return t->fault.code;
}


/* ---- write-back ---- */

int rill_table_cmp_id(const void *a, const void *b)
{
    uint64_t x = ((const id_slot *)a)->id, y = ((const id_slot *)b)->id;
    return x < y ? -1 : x > y;
}

/* Puts rows into db in key order; value = floats then the last step that used the row. */
static int put_rows(rill_table *t, MDB_txn *txn, MDB_dbi db, const id_slot *v, size_t n,
                    uint64_t *bytes, rill_err *err)
{
    size_t fl = (size_t)t->stride * sizeof(float);
    for (size_t i = 0; i < n; i++) {
        uint64_t id = v[i].id;
        MDB_val k = {sizeof id, &id}, val = {rill_sealed_len(t->store, fl + ROW_TAIL), NULL};
        int rc = mdb_put(txn, db, &k, &val, MDB_RESERVE);
        if (rc)
            return rc == MDB_MAP_FULL ? rc : rill_store_mdb_err(t->store, rc, "writing rows", err);
        rill_table_row_value(t, v[i].slot, val.mv_data);
        rill_seal(t->store, &k, val.mv_data, fl + ROW_TAIL);
        *bytes += val.mv_size;
    }
    return RILL_OK;
}

bool rill_table_held_over(const rill_table *t)
{
    return t->inflight && t->budget && t->map.count > t->budget + t->budget / 4;
}

uint64_t rill_table_spill_rows(const rill_table *t)
{
    return t->spilled ? t->spill_rows : 0;
}

void rill_table_set_step(rill_table *t, uint64_t step)
{
    t->step = step;
}

typedef struct {
    rill_table *t;
    id_slot *v;
    size_t n;
    uint64_t bytes;
} spill_ctx;

static int spill_fn(rill_store *s, MDB_txn *txn, void *ctx, rill_err *err)
{
    spill_ctx *c = ctx;
    c->bytes = 0;
    int rc;
    /* what a generation took from the spill is still there (table_gens.c): gone first */
    if (c->t->spill_stale && (rc = mdb_drop(txn, c->t->spill, 0)))
        return rc == MDB_MAP_FULL ? rc : rill_store_mdb_err(s, rc, "emptying the spill", err);
    return put_rows(c->t, txn, c->t->spill, c->v, c->n, &c->bytes, err);
}

typedef struct {
    uint64_t used;
    uint32_t slot;
} age_slot;

static int cmp_age(const void *a, const void *b)
{
    const age_slot *x = a, *y = b;
    if (x->used != y->used)
        return x->used < y->used ? -1 : 1;
    return x->slot < y->slot ? -1 : x->slot > y->slot;
}

/* The budget less the copies a background checkpoint holds (at most half of it). */
static size_t budget_now(const rill_table *t)
{
    size_t held = t->snap_rows < t->budget / 2 ? t->snap_rows : t->budget / 2;
    return t->budget - held;
}

/* Evicts the least recently used rows down to 90% of the budget; never rows of this step.
 * While a background checkpoint is written, neither its rows (pinned) nor dirty ones (a spill
 * would wait for it) are evicted: the cache may then stay above the budget until it is done. */
static int evict(rill_table *t, rill_err *err)
{
    size_t budget = budget_now(t);
    size_t target = budget - budget / 10, n = 0, cand = 0;
    if (t->map.count <= target)
        return RILL_OK;
    age_slot *all = malloc(t->map.count * sizeof *all);
    if (!all)
        return rill_errf(err, RILL_ENOMEM, "table '%s': out of memory evicting", t->name);
    for (size_t h = 0; h < t->map.cap; h++)
        if (t->map.vals[h] != RILL_IDMAP_EMPTY) {
            uint32_t slot = t->map.vals[h];
            row_head *hd = slot_head(t, slot);
            if (hd->used >= t->step)
                continue;
            if (hd->pinned || (t->inflight && hd->dirty))
                t->st.held++;
            else
                all[cand++] = (age_slot){hd->used, slot};
        }
    qsort(all, cand, sizeof *all, cmp_age);
    size_t want = t->map.count - target;
    if (want > cand)
        want = cand;
    id_slot *dirty = malloc((want ? want : 1) * sizeof *dirty);
    if (!dirty) {
        free(all);
        return rill_errf(err, RILL_ENOMEM, "table '%s': out of memory evicting", t->name);
    }
    for (size_t i = 0; i < want; i++)
        if (slot_head(t, all[i].slot)->dirty)
            dirty[n++] = (id_slot){slot_head(t, all[i].slot)->id, all[i].slot};
    int rc = RILL_OK;
    if (n) {
        qsort(dirty, n, sizeof *dirty, rill_table_cmp_id);
        rill_table_end_reads(t); /* a write may grow the map; no read may be open */
        spill_ctx c = {t, dirty, n, 0};
        rc = rill_idmap_reserve(&t->fresh_spill, n) /* before: a spill is not undone */
                 ? rill_errf(err, RILL_ENOMEM, "table '%s': out of memory evicting", t->name)
                 : rill_store_write(t->store, spill_fn, &c, "spilling evicted rows", err);
        for (size_t i = 0; !rc && i < n; i++) { /* new rows: counted when a checkpoint stores them */
            if (!slot_head(t, dirty[i].slot)->fresh)
                continue;
            size_t h = rill_idmap_slot(&t->fresh_spill, dirty[i].id);
            if (t->fresh_spill.vals[h] == RILL_IDMAP_EMPTY)
                rill_idmap_fill(&t->fresh_spill, h, dirty[i].id, 1);
        }
        if (!rc) {
            t->spill_stale = false;
            t->spilled = true;
            t->spill_rows += n;
            t->st.spilled += n;
            t->st.bytes_written += c.bytes;
        }
    }
    if (!rc) {
        if (t->nfree + want > t->free_cap) {
            size_t cap = t->free_cap ? t->free_cap : 1024;
            while (cap < t->nfree + want)
                cap *= 2;
            uint32_t *f = realloc(t->free_slots, cap * sizeof *f);
            if (!f)
                rc = rill_errf(err, RILL_ENOMEM, "table '%s': out of memory evicting", t->name);
            else {
                t->free_slots = f;
                t->free_cap = cap;
            }
        }
    }
    if (!rc)
        for (size_t i = 0; i < want; i++) {
            row_head *hd = slot_head(t, all[i].slot);
            rill_idmap_remove_at(&t->map, rill_idmap_slot(&t->map, hd->id));
            hd->dirty = 0; /* spilled, or clean */
            t->free_slots[t->nfree++] = all[i].slot;
            t->st.evicted++;
        }
    if (!rc && want) {
        /* evicted slots may sit in the dirty list: drop them from it */
        size_t k = 0;
        for (size_t i = 0; i < t->ndirty; i++) {
            row_head *hd = slot_head(t, t->dirty[i]);
            if (hd->dirty)
                t->dirty[k++] = t->dirty[i];
            else
                hd->in_dirty_list = 0;
        }
        t->ndirty = k;
    }
    free(dirty);
    free(all);
    return rc;
}

int rill_table_end_step(rill_table *t, uint64_t step, rill_err *err)
{
    int rc = RILL_OK;
    size_t budget = budget_now(t);
    if (!t->store || !t->budget || t->map.count <= budget) {
        t->st.held = 0;
    } else if (!t->inflight || t->map.count >= t->evict_retry_at) {
        /* an eviction scans and sorts the whole cache: while a background checkpoint holds
         * rows it cannot evict, one that fell short is tried again only once the cache has
         * grown by a twentieth of the budget (or the checkpoint is done), not every step */
        t->st.held = 0;
        rc = evict(t, err);
        t->evict_retry_at = t->map.count > budget ? t->map.count + t->budget / 20 + 1 : 0;
    }
    if (t->map.count > t->st.cached_max)
        t->st.cached_max = t->map.count;
    rill_table_end_reads(t);
    t->step = step + 1;
    return rc;
}

typedef struct {
    rill_table *t;
    uint64_t from, to;
    float *row;
} prefill_ctx;

static int prefill_fn(rill_store *s, MDB_txn *txn, void *ctx, rill_err *err)
{
    prefill_ctx *c = ctx;
    rill_table *t = c->t;
    size_t fl = (size_t)t->stride * sizeof(float);
    for (uint64_t id = c->from; id < c->to; id++) {
        rill_table_init_row(t, id, c->row);
        MDB_val k = {sizeof id, &id}, v = {rill_sealed_len(s, fl + ROW_TAIL), NULL};
        int rc = mdb_put(txn, t->main, &k, &v, MDB_RESERVE | MDB_APPEND);
        if (rc)
            return rc == MDB_MAP_FULL ? rc : rill_store_mdb_err(s, rc, "creating rows", err);
        memcpy(v.mv_data, c->row, fl);
        memset((char *)v.mv_data + fl, 0, ROW_TAIL);
        rill_seal(s, &k, v.mv_data, fl + ROW_TAIL);
    }
    return RILL_OK;
}

static void human_bytes(char *out, size_t cap, double b)
{
    static const char *const units[] = {"bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    int u = 0;
    while (b >= 1024 && u < 6) {
        b /= 1024;
        u++;
    }
    snprintf(out, cap, u ? "%.1f %s" : "%.0f %s", b, units[u]);
}

int rill_table_prefill(rill_table *t, rill_err *err)
{
    if (t->st.rows)
        return RILL_OK; /* the store has rows already (a resumed or reopened run) */
    /* a row costs its value, its key and LMDB's 8-byte node header; appended rows fill their
     * pages, with a little left over per page */
    double need = (double)t->rows *
                  (double)(rill_sealed_len(t->store, (size_t)t->stride * sizeof(float) + ROW_TAIL) +
                           16) * 1.02;
    struct statvfs fs;
    if (statvfs(t->store->dir, &fs) == 0 &&
        need > (double)fs.f_bavail * (double)fs.f_frsize) {
        char want[32], have[32];
        human_bytes(want, sizeof want, need);
        human_bytes(have, sizeof have, (double)fs.f_bavail * (double)fs.f_frsize);
        return rill_errf(err, RILL_ENOSPC,
                         "table '%s': prefilling its %lld rows of %d floats would write about %s "
                         "to %s, but its file system has %s free: use fewer buckets, or no prefill "
                         "(rows are then made as they are first used)",
                         t->name, (long long)t->rows, t->stride, want, t->store->path, have);
    }
    prefill_ctx c = {t, 0, 0, malloc((size_t)t->stride * sizeof(float))};
    if (!c.row)
        return rill_errf(err, RILL_ENOMEM, "out of memory");
    int rc = RILL_OK;
    for (uint64_t from = 0; from < (uint64_t)t->rows && !rc; from += 1 << 20) {
        c.from = from;
        c.to = from + (1 << 20) < (uint64_t)t->rows ? from + (1 << 20) : (uint64_t)t->rows;
        rc = rill_store_write(t->store, prefill_fn, &c, "creating rows", err);
    }
    free(c.row);
    if (!rc) {
        t->st.rows = (uint64_t)t->rows;
        t->st.created += (uint64_t)t->rows;
    }
    return rc;
}
