/* A table's part of a checkpoint (store_impl.h says who calls what on which thread): the
 * snapshot of its dirty rows and admission counts, their writing in the checkpoint's
 * transaction (with the spill folded in and, for evict_after, a part of the eviction sweep),
 * and what follows the transaction's end in the cache. */

#include <stdlib.h>
#include <string.h>

#include "table_impl.h"
#include "util.h"

/* The dirty rows, ascending by id (malloc'd into *out; *n of them). */
static int dirty_rows(rill_table *t, id_slot **out, size_t *n)
{
    size_t cap = t->dirty_list_short ? t->map.count : t->ndirty, k = 0;
    id_slot *v = malloc((cap ? cap : 1) * sizeof *v);
    if (!v)
        return RILL_ENOMEM;
    if (t->dirty_list_short) {
        for (size_t h = 0; h < t->map.cap; h++)
            if (t->map.vals[h] != RILL_IDMAP_EMPTY && slot_head(t, t->map.vals[h])->dirty)
                v[k++] = (id_slot){t->map.keys[h], t->map.vals[h]};
    } else {
        for (size_t i = 0; i < t->ndirty; i++) {
            row_head *h = slot_head(t, t->dirty[i]);
            if (h->dirty)
                v[k++] = (id_slot){h->id, t->dirty[i]};
        }
    }
    qsort(v, k, sizeof *v, rill_table_cmp_id);
    *out = v;
    *n = k;
    return RILL_OK;
}

/* Every row clean, the dirty list empty. */
static void clear_dirty(rill_table *t)
{
    for (size_t i = 0; i < t->ndirty; i++) {
        row_head *h = slot_head(t, t->dirty[i]);
        h->dirty = 0;
        h->in_dirty_list = 0;
    }
    if (t->dirty_list_short)
        for (size_t h = 0; h < t->map.cap; h++)
            if (t->map.vals[h] != RILL_IDMAP_EMPTY)
                slot_head(t, t->map.vals[h])->dirty = 0;
    t->dirty_list_short = false;
    t->ndirty = 0;
}

/* Admission counts as (id, count) pairs in map order, which is a function of the ids alone:
 * the same state gives the same bytes. */
static int snap_pending(rill_table *t, rill_table_snap *sn)
{
    if (t->o.admit <= 1)
        return RILL_OK;
    size_t n = t->pending.count, rec = sizeof(uint64_t) + sizeof(uint32_t);
    unsigned char *p = malloc(n * rec + 1);
    if (!p)
        return RILL_ENOMEM;
    sn->pending = p;
    sn->pending_len = n * rec;
    for (size_t h = 0; h < t->pending.cap; h++)
        if (t->pending.vals[h] != RILL_IDMAP_EMPTY) {
            memcpy(p, &t->pending.keys[h], sizeof(uint64_t));
            memcpy(p + sizeof(uint64_t), &t->pending.vals[h], sizeof(uint32_t));
            p += rec;
        }
    return RILL_OK;
}

/* The snapshot's rows that are new to the store: fresh ones, and fresh spilled ones not in it
 * (a spilled row read back is in it with the spill's freshness). */
static uint64_t new_rows(const rill_table *t, const rill_table_snap *sn)
{
    uint64_t n = 0;
    for (size_t i = 0; i < sn->n; i++)
        n += slot_head(t, sn->slots[i])->fresh;
    if (!t->spilled)
        return n;
    for (size_t h = 0; h < t->fresh_spill.cap; h++) {
        if (t->fresh_spill.vals[h] == RILL_IDMAP_EMPTY)
            continue;
        uint64_t id = t->fresh_spill.keys[h];
        size_t lo = 0, hi = sn->n;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (sn->ids[mid] < id)
                lo = mid + 1;
            else
                hi = mid;
        }
        n += lo == sn->n || sn->ids[lo] != id;
    }
    return n;
}

static void snap_free(rill_table_snap *sn)
{
    free(sn->ids);
    free(sn->vals);
    free(sn->scratch);
    free(sn->slots);
    free(sn->pending);
    free(sn->gids);
    memset(sn, 0, sizeof *sn);
}

void rill_table_row_value(const rill_table *t, uint32_t slot, unsigned char *dst)
{
    size_t fl = (size_t)t->stride * sizeof(float);
    const row_head *hd = slot_head(t, slot);
    memcpy(dst, slot_row(t, slot), fl);
    uint64_t used = hd->used, count = hd->count;
    memcpy(dst + fl, &used, sizeof used);
    memcpy(dst + fl + sizeof used, &count, sizeof count);
}

int rill_table_snapshot(rill_table *t, rill_table_snap *sn, bool pin, rill_err *err)
{
    memset(sn, 0, sizeof *sn);
    if (!t->store)
        return RILL_OK;
    id_slot *v;
    size_t n;
    if (dirty_rows(t, &v, &n))
        return rill_errf(err, RILL_ENOMEM, "table '%s': out of memory in a checkpoint", t->name);
    size_t fl = (size_t)t->stride * sizeof(float);
    sn->val_bytes = fl + ROW_TAIL;
    sn->ids = malloc((n ? n : 1) * sizeof *sn->ids);
    sn->slots = malloc((n ? n : 1) * sizeof *sn->slots);
    /* a background checkpoint copies the rows (training goes on changing them); one written
     * here and now reads them from the cache */
    if (pin)
        sn->vals = malloc((n ? n : 1) * sn->val_bytes);
    else
        sn->scratch = malloc(sn->val_bytes);
    if (!sn->ids || !sn->slots || !(pin ? (void *)sn->vals : (void *)sn->scratch) ||
        snap_pending(t, sn)) {
        free(v);
        snap_free(sn);
        return rill_errf(err, RILL_ENOMEM,
                         "table '%s': out of memory copying %zu changed rows for a checkpoint",
                         t->name, n);
    }
    for (size_t i = 0; i < n; i++) {
        if (pin) {
            if (i + 4 < n)
                __builtin_prefetch(slot_row(t, v[i + 4].slot));
            rill_table_row_value(t, v[i].slot, sn->vals + i * sn->val_bytes);
        }
        sn->ids[i] = v[i].id;
        sn->slots[i] = v[i].slot;
        slot_head(t, v[i].slot)->pinned = pin;
    }
    free(v);
    sn->n = n;
    sn->pinned = pin;
    sn->fold_spill = t->spilled;
    sn->sweep = rill_table_sweeps(t);
    /* a new generation, with a slice of the rolling fold; or a full fold (table_gens.c) */
    uint64_t spilled = t->spilled ? t->spill_rows : 0; /* a row spilled twice counted twice */
    uint64_t adds = n + (spilled < (uint64_t)t->rows ? spilled : (uint64_t)t->rows);
    sn->before = t->gs;
    sn->before.where = NULL;
    sn->sliced = sn->before;
    sn->new_rows = new_rows(t, sn);
    uint64_t held = t->gs.new_rows + sn->new_rows, least = RILL_GENS_MIN_BASE;
    uint64_t base = t->st.rows > held ? t->st.rows - held : 0;
    if (least > (uint64_t)t->rows)
        least = (uint64_t)t->rows;
    sn->fold = !t->gens_ok || t->store->fold_next || t->gs.ngens >= RILL_GENS_MAX ||
               t->gs.entries + adds > 2 * (base > least ? base : least);
    sn->gen = sn->fold ? 0 : t->gs.ngens + 1;
    sn->slice_from = t->gs.sweep_at;
    sn->slice_len = 0;
    if (!sn->fold && t->gs.ngens >= t->gs.gen_lo) {
        uint64_t rows = (uint64_t)t->rows;
        sn->slice_len = (rows + RILL_GENS_CYCLE - 1) / RILL_GENS_CYCLE;
    }
    sn->drop_gens = t->gens_stale;
    sn->drop_spill = t->spill_stale;
    clear_dirty(t);
    t->inflight = pin;
    t->snap_rows = pin ? n : 0;
    return RILL_OK;
}

/* evict_after: delete stored rows unused for evict_after steps, visiting at most `budget` rows
 * from where the last sweep stopped (the position is kept in the meta database with the
 * checkpoint, so a resumed run sweeps as the uninterrupted one would). On the caller's thread
 * only (rill_table_snap.sweep). */
static int sweep(rill_table *t, MDB_txn *txn, MDB_dbi meta, uint64_t step, size_t budget,
                 rill_err *err)
{
    t->nswept = 0;
    if (step <= (uint64_t)t->o.evict_after)
        return RILL_OK;
    uint64_t limit = step - (uint64_t)t->o.evict_after;
    size_t fl = (size_t)t->stride * sizeof(float);
    MDB_cursor *c;
    int rc = mdb_cursor_open(txn, t->main, &c);
    if (rc)
        return rill_store_mdb_err(t->store, rc, "sweeping old rows", err);
    uint64_t pos = t->sweep_pos;
    MDB_val k = {sizeof pos, &pos}, v;
    rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
    for (size_t seen = 0; seen < budget; seen++) {
        if (rc == MDB_NOTFOUND) { /* past the last row: the next sweep starts over */
            pos = 0;
            break;
        }
        if (rc)
            break;
        uint64_t id, used;
        memcpy(&id, k.mv_data, sizeof id);
        memcpy(&used, (const char *)v.mv_data + fl, sizeof used);
        pos = id + 1;
        if (used < limit) {
            if (t->nswept == t->swept_cap) {
                size_t cap = t->swept_cap ? t->swept_cap * 2 : 1024;
                uint64_t *sw = realloc(t->swept, cap * sizeof *sw);
                if (!sw) {
                    mdb_cursor_close(c);
                    return rill_errf(err, RILL_ENOMEM, "table '%s': out of memory", t->name);
                }
                t->swept = sw;
                t->swept_cap = cap;
            }
            t->swept[t->nswept++] = id;
            /* after a delete, MDB_NEXT gives the row that followed the deleted one */
            if ((rc = mdb_cursor_del(c, 0)))
                break;
        }
        rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
    }
    mdb_cursor_close(c);
    if (rc && rc != MDB_NOTFOUND)
        return rc == MDB_MAP_FULL ? rc : rill_store_mdb_err(t->store, rc, "sweeping old rows", err);
    char key[200];
    snprintf(key, sizeof key, "sweep:%s", t->name);
    MDB_val mk = {strlen(key), key};
    if ((rc = rill_put_sealed(t->store, txn, meta, &mk, &pos, sizeof pos)))
        return rc == MDB_MAP_FULL ? rc : rill_store_mdb_err(t->store, rc, "sweeping old rows", err);
    t->sweep_next = pos;
    return RILL_OK;
}

int rill_table_snap_write(rill_table *t, rill_table_snap *sn, MDB_txn *txn, MDB_dbi meta,
                          uint64_t step, uint64_t *rows, uint64_t *bytes, rill_err *err)
{
    if (!t->store)
        return RILL_OK;
    int rc;
    uint64_t rows0 = *rows;
    if (sn->drop_spill && (rc = mdb_drop(txn, t->spill, 0)))
        return rc == MDB_MAP_FULL ? rc : rill_store_mdb_err(t->store, rc, "emptying the spill", err);
    if ((rc = sn->fold ? rill_gens_fold(t, sn, txn, rows, bytes, err)
                       : rill_gens_write(t, sn, txn, rows, bytes, err)))
        return rc;
    /* a sweep visits a few times what this checkpoint writes of the table */
    size_t budget = (size_t)(4 * (*rows - rows0)) + 4096;
    if (sn->sweep && (rc = sweep(t, txn, meta, step, budget, err)))
        return rc;
    if (sn->pending) {
        char key[200];
        snprintf(key, sizeof key, "admit:%s", t->name);
        MDB_val k = {strlen(key), key};
        if ((rc = rill_put_sealed(t->store, txn, meta, &k, sn->pending, sn->pending_len)))
            return rc == MDB_MAP_FULL
                       ? rc
                       : rill_store_mdb_err(t->store, rc, "writing admission counts", err);
    }
    return RILL_OK;
}

/* The sweep's deletions are committed: those rows leave the cache too. */
static void drop_swept(rill_table *t)
{
    for (size_t i = 0; i < t->nswept; i++) {
        size_t h = rill_idmap_slot(&t->map, t->swept[i]);
        if (t->map.vals[h] != RILL_IDMAP_EMPTY) {
            uint32_t slot = t->map.vals[h];
            rill_idmap_remove_at(&t->map, h);
            slot_head(t, slot)->dirty = 0;
            if (t->nfree < t->free_cap || !rill_table_grow_free(t))
                t->free_slots[t->nfree++] = slot;
        }
        t->st.deleted++;
        if (t->st.rows)
            t->st.rows--;
    }
    if (t->o.evict_after > 0)
        t->sweep_pos = t->sweep_next;
    t->nswept = 0;
}

/* The first n ids of the checkpoint's slice are in the base now. */
static void mark_folded(rill_table *t, const rill_table_snap *sn, uint64_t n)
{
    uint64_t rows = (uint64_t)t->rows;
    for (uint64_t i = 0; i < n; i++)
        t->gs.where[(sn->slice_from + i) % rows] = 0;
    t->st.folded += n;
}

void rill_table_snap_done(rill_table *t, rill_table_snap *sn, bool committed)
{
    if (!t->store)
        return;
    for (size_t i = 0; i < sn->n; i++) {
        row_head *hd = slot_head(t, sn->slots[i]);
        hd->pinned = 0;
        if (committed)
            hd->fresh = 0; /* stored now */
        if (!committed && !hd->dirty) { /* not written: the next checkpoint writes it */
            hd->dirty = 1;
            t->dirty_list_short = true; /* found by looking at every row (a failure is rare) */
        }
    }
    if (committed) {
        if (sn->drop_gens)
            t->gens_stale = false;
        if (sn->drop_spill)
            t->spill_stale = false;
        bool had = sn->before.ngens >= sn->before.gen_lo;
        if (!sn->fold || had) {
            /* where[] changes: no read transaction from before the commit may use it, nor
             * the threads reading ahead while it changes */
            rill_table_end_reads(t);
            rill_prefetch_pause(t->store);
            uint8_t *where = t->gs.where;
            if (!sn->fold) {
                mark_folded(t, sn, sn->slice_len);
                for (size_t i = 0; i < sn->ngids; i++)
                    where[sn->gids[i]] = (uint8_t)sn->gen;
            } else {
                memset(where, 0, (size_t)t->rows);
                t->st.folds++;
                t->gens_stale = true;
            }
            t->gs = sn->after;
            t->gs.where = where;
            rill_prefetch_resume(t->store);
        }
        if (sn->fold_spill) {
            t->spilled = false;
            t->spill_rows = 0;
            /* new spilled rows read back while it was written are stored now too */
            for (size_t h = 0; h < t->fresh_spill.cap; h++) {
                if (t->fresh_spill.vals[h] == RILL_IDMAP_EMPTY)
                    continue;
                size_t m = rill_idmap_slot(&t->map, t->fresh_spill.keys[h]);
                if (t->map.vals[m] != RILL_IDMAP_EMPTY)
                    slot_head(t, t->map.vals[m])->fresh = 0;
            }
            rill_idmap_clear(&t->fresh_spill);
            t->spill_stale = !sn->fold || had; /* left in place (table_gens.c) */
        }
        drop_swept(t);
    } else {
        t->nswept = 0;
        /* the rolling fold's transactions that committed stand: their slice is in the base */
        uint64_t done = sn->sliced.swept - sn->before.swept;
        if (!sn->fold && (done || sn->sliced.del_len != sn->before.del_len)) {
            rill_table_end_reads(t);
            rill_prefetch_pause(t->store);
            uint8_t *where = t->gs.where;
            mark_folded(t, sn, done);
            t->gs = sn->sliced;
            t->gs.where = where;
            rill_prefetch_resume(t->store);
        }
    }
    t->inflight = false;
    t->snap_rows = 0;
    snap_free(sn);
}

bool rill_table_sweeps(const rill_table *t)
{
    return t->store && t->o.evict_after > 0;
}

void rill_table_set_sweep(rill_table *t, uint64_t pos)
{
    t->sweep_pos = t->sweep_next = pos;
}

int rill_table_read_pending(rill_table *t, const void *blob, size_t len)
{
    size_t rec = sizeof(uint64_t) + sizeof(uint32_t), n = len / rec;
    if (len % rec || rill_idmap_reserve(&t->pending, n))
        return RILL_EINVAL;
    const unsigned char *p = blob;
    for (size_t i = 0; i < n; i++, p += rec) {
        uint64_t id;
        uint32_t count;
        memcpy(&id, p, sizeof id);
        memcpy(&count, p + sizeof id, sizeof count);
        size_t h = rill_idmap_slot(&t->pending, id);
        if (t->pending.vals[h] == RILL_IDMAP_EMPTY)
            rill_idmap_fill(&t->pending, h, id, count);
        else
            t->pending.vals[h] = count;
    }
    return RILL_OK;
}
