/* Embedding tables: a RAM cache of rows (slabs of fixed-size rows found through the
 * id map, core/idmap.h, from row id to slot), alone or in front of the store's LMDB databases.
 *
 * A cache row is the row's floats (weights, then optimizer state) followed by a small header:
 * its id, the last step that used it, and whether it changed since it was last written. Slots
 * freed by eviction are reused, so row pointers handed out for a step stay valid until the
 * step ends. A stored row (LMDB value) is the floats followed by the last step that saw it,
 * how many steps did, and (from store format 3) the seal that is checked whenever the row is
 * read.
 *
 * This file is the cache: slots, creation, lookups, updates. The stored side (reads from LMDB,
 * write-back, eviction, prefill) is in table_rows.c; files, iteration and the benchmark in
 * table_file.c; the layout they share in table_impl.h. */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "idmap.h"
#include "pool.h"
#include "table_impl.h"
#include "util.h"

/* ---- cache rows ---- */

static int take_slot(rill_table *t, uint32_t *slot)
{
    if (t->nfree) {
        *slot = t->free_slots[--t->nfree];
        return RILL_OK;
    }
    if (t->nslots / SLAB_ROWS >= t->nslabs) {
        if (t->nslots >= UINT32_MAX - SLAB_ROWS)
            return RILL_ENOMEM;
        if (t->nslabs == t->slab_cap) {
            size_t cap = t->slab_cap ? t->slab_cap * 2 : 16;
            unsigned char **sl = realloc(t->slabs, cap * sizeof *sl);
            if (!sl)
                return RILL_ENOMEM;
            t->slabs = sl;
            t->slab_cap = cap;
        }
        unsigned char *slab = rill_alloc((size_t)SLAB_ROWS * t->row_bytes);
        if (!slab)
            return RILL_ENOMEM;
        t->slabs[t->nslabs++] = slab;
    }
    *slot = t->nslots++;
    return RILL_OK;
}

/* room for one more free slot; 0 on success */
int rill_table_grow_free(rill_table *t)
{
    size_t cap = t->free_cap ? t->free_cap * 2 : 1024;
    uint32_t *f = realloc(t->free_slots, cap * sizeof *f);
    if (!f)
        return -1;
    t->free_slots = f;
    t->free_cap = cap;
    return 0;
}

static int mark_dirty(rill_table *t, uint32_t slot)
{
    row_head *h = slot_head(t, slot);
    h->dirty = 1;
    if (h->in_dirty_list || !t->store)
        return RILL_OK;
    if (t->ndirty == t->dirty_cap) {
        size_t cap = t->dirty_cap ? t->dirty_cap * 2 : 4096;
        uint32_t *d = realloc(t->dirty, cap * sizeof *d);
        if (!d) {
            /* the row's flag is set: the next flush finds it by looking at every row */
            t->dirty_list_short = true;
            return RILL_ENOMEM;
        }
        t->dirty = d;
        t->dirty_cap = cap;
    }
    t->dirty[t->ndirty++] = slot;
    h->in_dirty_list = 1;
    return RILL_OK;
}

void rill_table_init_row(const rill_table *t, uint64_t id, float *row)
{
    for (int j = 0; j < t->dim; j++)
        row[j] = t->init_scale * (float)(2.0 * rill_hash_unit(t->seed, id, (uint64_t)j) - 1.0);
    float acc = (float)t->opt.initial_acc;
    bool adagrad = t->opt.kind == RILL_OPT_ADAGRAD || t->opt.kind == RILL_OPT_ROWWISE_ADAGRAD;
    for (int j = t->dim; j < t->stride; j++)
        row[j] = adagrad ? acc : 0.0f;
}

/* ---- creation ---- */

static int table_new(rill_table **out, const char *name, int64_t rows, int dim,
                     const rill_optim *opt, uint64_t seed, double init_scale, rill_err *err)
{
    *out = NULL;
    if (rows < 1 || dim < 1)
        return rill_errf(err, RILL_EINVAL, "table '%s': %lld rows of dim %d is not a table",
                         name, (long long)rows, dim);
    rill_table *t = rill_zalloc(sizeof *t);
    if (!t || rill_idmap_init(&t->map, 512) || rill_idmap_init(&t->pending, 8) ||
        rill_idmap_init(&t->fresh_spill, 8)) {
        rill_table_free(t);
        return rill_errf(err, RILL_ENOMEM, "table '%s': out of memory", name);
    }
    snprintf(t->name, sizeof t->name, "%s", name);
    t->rows = rows;
    t->dim = dim;
    t->stride = dim + rill_optim_row_state(opt, dim);
    t->opt = *opt;
    t->seed = seed;
    t->init_scale = (float)init_scale;
    t->head_off = RILL_ALIGN((size_t)t->stride * sizeof(float), 8);
    t->row_bytes = t->head_off + sizeof(row_head);
    *out = t;
    return RILL_OK;
}

static bool plain_tables;

void rill_table_use_plain(bool on)
{
    plain_tables = on;
}

int rill_table_create(rill_table **out, const char *name, int64_t rows, int dim,
                      const rill_optim *opt, uint64_t seed, double init_scale, rill_err *err)
{
    int rc = table_new(out, name, rows, dim, opt, seed, init_scale, err);
    if (rc || !plain_tables)
        return rc;
    rill_table *t = *out;
    t->plain_bytes = (size_t)rows * (size_t)t->stride * sizeof(float);
    void *p = mmap(NULL, t->plain_bytes, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    t->made = rill_zalloc(((size_t)rows + 63) / 64 * sizeof(uint64_t));
    if (p == MAP_FAILED || !t->made) {
        if (p != MAP_FAILED)
            munmap(p, t->plain_bytes);
        rill_table_free(t);
        *out = NULL;
        return rill_errf(err, RILL_ENOMEM, "table '%s': cannot map %lld plain rows", name,
                         (long long)rows);
    }
    if (t->plain_bytes >= ((size_t)32 << 20))
        madvise(p, t->plain_bytes, MADV_HUGEPAGE);
    t->plain = p;
    return RILL_OK;
}

void rill_table_free(rill_table *t)
{
    if (!t)
        return;
    if (t->rtxn)
        mdb_txn_abort(t->rtxn);
    if (t->plain)
        munmap(t->plain, t->plain_bytes);
    rill_free(t->made);
    for (size_t i = 0; i < t->nslabs; i++)
        rill_free(t->slabs[i]);
    free(t->slabs);
    free(t->free_slots);
    free(t->dirty);
    free(t->swept);
    free(t->gs.where);
    rill_idmap_free(&t->map);
    rill_idmap_free(&t->pending);
    rill_idmap_free(&t->fresh_spill);
    rill_free(t);
}

void rill_table_set_opts(rill_table *t, const rill_table_opts *o)
{
    t->o = *o;
}

void rill_table_attach(rill_table *t, rill_store *s, MDB_dbi main, MDB_dbi spill)
{
    t->store = s;
    t->main = main;
    t->spill = spill;
}

void rill_table_attach_gens(rill_table *t, const MDB_dbi *gens, bool gens_ok,
                            const rill_gens_state *gs)
{
    t->gens_open = gens != NULL;
    if (gens)
        t->gens = *gens;
    free(t->gs.where);
    t->gs = *gs;
    t->gens_ok = gens && gens_ok && gs->where;
}

void rill_table_set_budget(rill_table *t, size_t rows)
{
    t->budget = rows;
    t->st.cache_capacity = rows;
}

void rill_table_set_stored_rows(rill_table *t, uint64_t rows)
{
    t->st.rows = rows;
}

size_t rill_table_row_bytes(const rill_table *t)
{
    return t->row_bytes;
}

const char *rill_table_name(const rill_table *t) { return t->name; }
int rill_table_dim(const rill_table *t) { return t->dim; }
int rill_table_stride(const rill_table *t) { return t->stride; }
int64_t rill_table_rows(const rill_table *t) { return t->rows; }
const rill_optim *rill_table_optim(const rill_table *t) { return &t->opt; }
uint64_t rill_table_touched(const rill_table *t)
{
    return t->store || t->plain ? t->st.rows : t->map.count;
}
uint64_t rill_table_row_visits(const rill_table *t) { return t->visits; }

void rill_table_get_stats(const rill_table *t, rill_table_stats *st)
{
    *st = t->st;
    st->cached = t->map.count;
    st->pending = t->pending.count;
    st->generations = t->gs.ngens >= t->gs.gen_lo ? t->gs.ngens - t->gs.gen_lo + 1 : 0;
    st->generation_values = t->gs.entries;
    if (!t->store)
        st->rows = t->map.count;
}

/* ---- lookups ---- */

/* Admission: true once id has been seen o.admit times (counted once per lookup call; the
 * embed node looks each distinct id up once a step). */
static int admitted(rill_table *t, uint64_t id, bool *yes)
{
    *yes = true;
    if (t->o.admit <= 1)
        return RILL_OK;
    if (rill_idmap_reserve(&t->pending, 1))
        return RILL_ENOMEM;
    size_t h = rill_idmap_slot(&t->pending, id);
    uint32_t seen = t->pending.vals[h] == RILL_IDMAP_EMPTY ? 0 : t->pending.vals[h];
    seen++;
    if (seen >= (uint32_t)t->o.admit) {
        if (t->pending.vals[h] != RILL_IDMAP_EMPTY)
            rill_idmap_remove_at(&t->pending, h);
        return RILL_OK;
    }
    if (t->pending.vals[h] == RILL_IDMAP_EMPTY)
        rill_idmap_fill(&t->pending, h, id, seen);
    else
        t->pending.vals[h] = seen;
    *yes = false;
    return RILL_OK;
}

static int plain_lookup(rill_table *t, const uint64_t *ids, size_t n, float **rows, rill_err *err)
{
    for (size_t i = 0; i < n; i++) {
        uint64_t id = ids[i];
        if (id >= (uint64_t)t->rows)
            return rill_errf(err, RILL_EINVAL, "table '%s': row id %llu is out of range [0, %lld)",
                             t->name, (unsigned long long)id, (long long)t->rows);
        float *row = t->plain + id * (uint64_t)t->stride;
        if (!(t->made[id >> 6] & (1ULL << (id & 63)))) {
            rill_table_init_row(t, id, row);
            t->made[id >> 6] |= 1ULL << (id & 63);
            t->st.created++;
            t->st.rows++;
        }
        rows[i] = row;
    }
    return RILL_OK;
}

static int lookup_rows(rill_table *t, const uint64_t *ids, size_t n, float **rows, rill_err *err);

int rill_table_lookup(rill_table *t, const uint64_t *ids, size_t n, float **rows, rill_err *err)
{
    if (t->plain)
        return plain_lookup(t, ids, n, rows, err);
    if (!t->store)
        return lookup_rows(t, ids, n, rows, err);
    if (rill_store_refuse_damaged(t->store, err))
        return RILL_ESTORE;
    int rc;
    RILL_GUARDED(rc, g, t->store, "reading rows", err, rill_table_end_reads(t),
                 lookup_rows(t, ids, n, rows, err));
    return rc;
}

static int lookup_rows(rill_table *t, const uint64_t *ids, size_t n, float **rows, rill_err *err)
{
    if (rill_idmap_reserve(&t->map, n))
        return rill_errf(err, RILL_ENOMEM, "table '%s': out of memory growing its row map",
                         t->name);
    for (size_t i = 0; i < n; i++) {
        uint64_t id = ids[i];
        if (i + 8 < n) { /* the map is large and probed at random: fetch ahead */
            size_t ah = rill_idmap_home(&t->map, ids[i + 8]);
            __builtin_prefetch(&t->map.keys[ah]);
            __builtin_prefetch(&t->map.vals[ah]);
        }
        if (id >= (uint64_t)t->rows)
            return rill_errf(err, RILL_EINVAL, "table '%s': row id %llu is out of range [0, %lld)",
                             t->name, (unsigned long long)id, (long long)t->rows);
        size_t h = rill_idmap_slot(&t->map, id);
        if (t->map.vals[h] != RILL_IDMAP_EMPTY) {
            uint32_t slot = t->map.vals[h];
            row_head *hd = slot_head(t, slot);
            hd->used = t->step;
            hd->count += hd->count != ROW_COUNT_MAX;
            rows[i] = slot_row(t, slot);
            t->st.hits++;
            continue;
        }
        t->st.misses++;
        const float *stored = NULL;
        int rc;
        if (t->store) {
            double t0 = rill_now();
            rc = rill_table_stored_row(t, id, &stored, err);
            t->st.read_seconds += rill_now() - t0;
            if (rc)
                return rc;
        }
        if (!stored) {
            bool yes;
            if (admitted(t, id, &yes))
                return rill_errf(err, RILL_ENOMEM, "table '%s': out of memory", t->name);
            if (!yes) {
                rows[i] = NULL;
                continue;
            }
        }
        uint32_t slot;
        if (take_slot(t, &slot))
            return rill_errf(err, RILL_ENOMEM, "table '%s': out of memory for %llu cached rows",
                             t->name, (unsigned long long)t->map.count + 1);
        float *row = slot_row(t, slot);
        row_head *hd = slot_head(t, slot);
        hd->id = id;
        hd->used = t->step;
        hd->slot = slot;
        hd->dirty = 0;
        hd->in_dirty_list = 0;
        hd->pinned = 0;
        hd->fresh = !stored;
        if (stored && t->spilled && t->fresh_spill.count) { /* a new row spilled, read back */
            size_t fh = rill_idmap_slot(&t->fresh_spill, id);
            hd->fresh = t->fresh_spill.vals[fh] != RILL_IDMAP_EMPTY;
        }
        if (stored) {
            memcpy(row, stored, (size_t)t->stride * sizeof(float));
            uint64_t count;
            memcpy(&count, (const char *)stored + (size_t)t->stride * sizeof(float) + sizeof(uint64_t),
                   sizeof count);
            hd->count = count < ROW_COUNT_MAX ? (uint32_t)count + 1 : ROW_COUNT_MAX;
        } else {
            hd->count = 1;
            rill_table_init_row(t, id, row);
            t->st.created++;
            t->st.rows++;
            if (mark_dirty(t, slot))
                return rill_errf(err, RILL_ENOMEM, "table '%s': out of memory", t->name);
        }
        rill_idmap_fill(&t->map, h, id, slot);
        rows[i] = row;
    }
    return RILL_OK;
}

int rill_table_write_row(rill_table *t, uint64_t id, const float *vals, int n, rill_err *err)
{
    float *row;
    int rc = rill_table_lookup(t, &id, 1, &row, err);
    if (rc)
        return rc;
    if (!row)
        return rill_errf(err, RILL_EINVAL, "table '%s': row %llu is not admitted yet", t->name,
                         (unsigned long long)id);
    memmove(row, vals, (size_t)n * sizeof(float));
    if (t->plain)
        return RILL_OK;
    row_head *hd = (row_head *)((unsigned char *)row + t->head_off);
    hd->count -= hd->count != ROW_COUNT_MAX; /* the engine's own write is not a use */
    if (mark_dirty(t, hd->slot))
        return rill_errf(err, RILL_ENOMEM, "table '%s': out of memory", t->name);
    return RILL_OK;
}

uint64_t rill_table_count(rill_table *t, uint64_t id)
{
    if (id >= (uint64_t)t->rows || t->plain)
        return 0;
    size_t h = rill_idmap_slot(&t->map, id);
    if (t->map.vals[h] != RILL_IDMAP_EMPTY)
        return slot_head(t, t->map.vals[h])->count;
    const float *row = NULL;
    rill_err err = {0};
    if (!t->store)
        return 0;
    if (rill_table_guarded_row(t, id, &row, &err))
        rill_table_keep_fault(t, &err);
    if (!row)
        return 0;
    uint64_t c;
    memcpy(&c, (const char *)row + (size_t)t->stride * sizeof(float) + sizeof(uint64_t), sizeof c);
    return c;
}

int rill_table_read(rill_table *t, uint64_t id, const float **row, rill_err *err)
{
    *row = NULL;
    if (id >= (uint64_t)t->rows)
        return RILL_OK;
    if (t->plain) {
        if (t->made[id >> 6] & (1ULL << (id & 63)))
            *row = t->plain + id * (uint64_t)t->stride;
        return RILL_OK;
    }
    size_t h = rill_idmap_slot(&t->map, id);
    if (t->map.vals[h] != RILL_IDMAP_EMPTY) {
        *row = slot_row(t, t->map.vals[h]);
        return RILL_OK;
    }
    return t->store ? rill_table_guarded_row(t, id, row, err) : RILL_OK;
}

const float *rill_table_peek(rill_table *t, uint64_t id)
{
    const float *row;
    rill_err err = {0};
    if (rill_table_read(t, id, &row, &err)) {
        rill_table_keep_fault(t, &err);
        return NULL;
    }
    return row;
}

/* ---- gradients and updates ---- */

void rill_table_stage(rill_table *t, size_t n, const uint64_t *ids, float *const *rows,
                      float *grad)
{
    t->stage_n = n;
    t->stage_ids = ids;
    t->stage_rows = rows;
    t->stage_grad = grad;
}

void rill_table_staged(const rill_table *t, size_t *n, float *const **rows, const float **grad)
{
    *n = t->stage_n;
    *rows = t->stage_rows;
    *grad = t->stage_grad;
}

double rill_table_grad_sqnorm(const rill_table *t)
{
    double s = 0;
    for (size_t i = 0; i < t->stage_n; i++) {
        if (!t->stage_rows[i])
            continue;
        const float *g = t->stage_grad + i * (size_t)t->dim;
        for (int d = 0; d < t->dim; d++)
            s += (double)g[d] * (double)g[d];
    }
    return s;
}

typedef struct {
    rill_table *t;
    double lr;
    float gscale;
    uint64_t step;
} apply_job;

static void apply_part(void *ctx, size_t b, size_t e, int worker)
{
    apply_job *j = ctx;
    rill_table *t = j->t;
    (void)worker;
    for (size_t i = b; i < e; i++) {
        if (i + 8 < e && t->stage_rows[i + 8]) {
            __builtin_prefetch(t->stage_rows[i + 8], 1);
            __builtin_prefetch(t->stage_rows[i + 8] + 16, 1);
        }
        float *row = t->stage_rows[i];
        if (!row)
            continue;
        float *g = t->stage_grad + i * (size_t)t->dim;
        if (j->gscale != 1.0f)
            for (int d = 0; d < t->dim; d++)
                g[d] *= j->gscale;
        rill_optim_row_step(&t->opt, row, g, t->dim, j->lr, j->step);
    }
}

void rill_table_apply(rill_table *t, double lr_scale, double grad_scale, uint64_t t_step)
{
    apply_job j = {t, t->opt.lr * lr_scale, (float)grad_scale, t_step};
    rill_parallel_for(t->stage_n, 512, apply_part, &j);
    if (t->store)
        for (size_t i = 0; i < t->stage_n; i++) {
            float *row = t->stage_rows[i];
            if (row) /* a row that misses the dirty list is still flagged: see mark_dirty */
                mark_dirty(t, ((row_head *)((unsigned char *)row + t->head_off))->slot);
        }
    t->visits += t->stage_n;
    t->stage_n = 0;
}

