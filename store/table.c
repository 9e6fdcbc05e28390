/* Embedding tables: a RAM cache of rows (slabs of fixed-size rows found through the
 * id map, core/idmap.h, from row id to slot), alone or in front of the store's LMDB databases.
 *
 * A cache row is the row's floats (weights, then optimizer state) followed by a small header:
 * its id, the last step that used it, and whether it changed since it was last written. Slots
 * freed by eviction are reused, so row pointers handed out for a step stay valid until the
 * step ends. A stored row (LMDB value) is the floats followed by the last step that saw it,
 * how many steps did, and (from store format 3) the seal that is checked whenever the row is
 * read. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/statvfs.h>

#include "idmap.h"
#include "pool.h"
#include "store_impl.h"
#include "util.h"

#define SLAB_ROWS 16384

/* After a stored row's floats: the last step that used it and how many training steps did */
#define ROW_TAIL (2 * sizeof(uint64_t))

typedef struct {
    uint64_t id;
    uint64_t used;   /* last step that looked the row up */
    uint64_t count;  /* training steps that looked it up (per-frequency evaluation) */
    uint32_t slot;   /* this row's slot, so a row pointer finds its bookkeeping */
    uint16_t dirty;
    uint16_t in_dirty_list;
} row_head;

struct rill_table {
    char name[128];
    int64_t rows;
    int dim, stride;
    rill_optim opt;
    uint64_t seed;
    float init_scale;
    rill_table_opts o;
    size_t row_bytes;        /* floats and header, 8-aligned */
    size_t head_off;         /* where the header starts in a cache row */
    /* the cache */
    unsigned char **slabs;
    size_t nslabs, slab_cap;
    uint32_t nslots;         /* slots ever taken */
    uint32_t *free_slots;
    size_t nfree, free_cap;
    rill_idmap map;          /* id -> slot */
    uint32_t *dirty;         /* slots changed since the last flush */
    size_t ndirty, dirty_cap;
    bool dirty_list_short;   /* a dirty row missed the list (no memory): flush looks at all */
    size_t budget;           /* rows; 0: no limit */
    rill_idmap pending;      /* admission: id -> sightings so far */
    uint64_t step;           /* the current step, for the rows' "used" stamps */
    rill_table_stats st;
    uint64_t visits;
    /* the store */
    rill_store *store;
    MDB_dbi main, spill;
    MDB_txn *rtxn;           /* this step's read transaction, begun on the first miss */
    bool spilled;            /* the spill database holds rows */
    uint64_t sweep_pos;      /* evict_after: the id the next sweep starts from */
    uint64_t sweep_next;     /* ... once the checkpoint being written commits */
    uint64_t *swept;         /* ids the sweep in the checkpoint being written deleted */
    rill_err fault;          /* the first damaged row met by peek or count (rill_table_fault) */
    size_t nswept, swept_cap;
    /* the benchmark baseline (rill_table_use_plain): one array of rows x stride floats indexed by
     * id, and a bit per row made; RAM tables only, no files, no iteration */
    float *plain;
    uint64_t *made;
    size_t plain_bytes;
    /* staged gradient of this step */
    size_t stage_n;
    const uint64_t *stage_ids;
    float *const *stage_rows;
    float *stage_grad;
};

/* ---- cache rows ---- */

static inline float *slot_row(const rill_table *t, uint32_t slot)
{
    return (float *)(t->slabs[slot / SLAB_ROWS] + (size_t)(slot % SLAB_ROWS) * t->row_bytes);
}

static inline row_head *slot_head(const rill_table *t, uint32_t slot)
{
    return (row_head *)((unsigned char *)slot_row(t, slot) + t->head_off);
}

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
static int grow_free(rill_table *t)
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

static void init_row(const rill_table *t, uint64_t id, float *row)
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
    if (!t || rill_idmap_init(&t->map, 512) || rill_idmap_init(&t->pending, 8)) {
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
    rill_idmap_free(&t->map);
    rill_idmap_free(&t->pending);
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
    if (!t->store)
        st->rows = t->map.count;
}

/* ---- reading stored rows ---- */

static int begin_reads(rill_table *t, rill_err *err)
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
static int stored_row(rill_table *t, uint64_t id, const float **row, rill_err *err)
{
    *row = NULL;
    int rc = begin_reads(t, err);
    if (rc)
        return rc;
    MDB_val k = {sizeof id, &id}, v;
    rc = t->spilled ? mdb_get(t->rtxn, t->spill, &k, &v) : MDB_NOTFOUND;
    if (rc == MDB_NOTFOUND)
        rc = mdb_get(t->rtxn, t->main, &k, &v);
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

/* stored_row under a guard: a broken page is an error, not a crash. */
static int guarded_row(rill_table *t, uint64_t id, const float **row, rill_err *err)
{
    if (rill_store_refuse_damaged(t->store, err))
        return RILL_ESTORE;
    int rc;
    RILL_GUARDED(rc, g, t->store, "reading a row", err, rill_table_end_reads(t),
                 stored_row(t, id, row, err));
    return rc;
}

/* A damaged row met where no error can be returned (peek, count): kept for rill_table_fault. */
static void keep_fault(rill_table *t, const rill_err *err)
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
            init_row(t, id, row);
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
            hd->count++;
            rows[i] = slot_row(t, slot);
            t->st.hits++;
            continue;
        }
        t->st.misses++;
        const float *stored = NULL;
        int rc;
        if (t->store && (rc = stored_row(t, id, &stored, err)))
            return rc;
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
        if (stored) {
            memcpy(row, stored, (size_t)t->stride * sizeof(float));
            memcpy(&hd->count, (const char *)stored + (size_t)t->stride * sizeof(float) + sizeof(uint64_t),
                   sizeof hd->count);
            hd->count++;
        } else {
            hd->count = 1;
            init_row(t, id, row);
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
    hd->count--; /* the engine's own write is not a use */
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
    if (guarded_row(t, id, &row, &err))
        keep_fault(t, &err);
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
    return t->store ? guarded_row(t, id, row, err) : RILL_OK;
}

const float *rill_table_peek(rill_table *t, uint64_t id)
{
    const float *row;
    rill_err err = {0};
    if (rill_table_read(t, id, &row, &err)) {
        keep_fault(t, &err);
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

/* ---- write-back ---- */

typedef struct {
    uint64_t id;
    uint32_t slot;
} id_slot;

static int cmp_id(const void *a, const void *b)
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
        memcpy(val.mv_data, slot_row(t, v[i].slot), fl);
        const row_head *hd = slot_head(t, v[i].slot);
        memcpy((char *)val.mv_data + fl, &hd->used, sizeof(uint64_t));
        memcpy((char *)val.mv_data + fl + sizeof(uint64_t), &hd->count, sizeof(uint64_t));
        rill_seal(t->store, &k, val.mv_data, fl + ROW_TAIL);
        *bytes += val.mv_size;
    }
    return RILL_OK;
}

int rill_table_flush(rill_table *t, MDB_txn *txn, uint64_t *rows, uint64_t *bytes,
                     rill_err *err)
{
    if (!t->store)
        return RILL_OK;
    int rc;
    if (t->spilled) {
        /* first the spilled rows join the main database (the spill is sorted); a row spilled
         * and then read back and changed is dirty in the cache, and written after this */
        MDB_cursor *c;
        if ((rc = mdb_cursor_open(txn, t->spill, &c)))
            return rill_store_mdb_err(t->store, rc, "reading spilled rows", err);
        MDB_val k, val;
        for (rc = mdb_cursor_get(c, &k, &val, MDB_FIRST); rc == 0;
             rc = mdb_cursor_get(c, &k, &val, MDB_NEXT)) {
            int prc = mdb_put(txn, t->main, &k, &val, 0);
            if (prc) {
                mdb_cursor_close(c);
                return prc == MDB_MAP_FULL
                           ? prc
                           : rill_store_mdb_err(t->store, prc, "folding in spilled rows", err);
            }
            *bytes += val.mv_size;
            (*rows)++;
        }
        mdb_cursor_close(c);
        if (rc != MDB_NOTFOUND)
            return rill_store_mdb_err(t->store, rc, "reading spilled rows", err);
        if ((rc = mdb_drop(txn, t->spill, 0)))
            return rc == MDB_MAP_FULL ? rc
                                      : rill_store_mdb_err(t->store, rc, "emptying the spill", err);
    }
    size_t cap = t->dirty_list_short ? t->map.count : t->ndirty, n = 0;
    id_slot *v = malloc((cap ? cap : 1) * sizeof *v);
    if (!v)
        return rill_errf(err, RILL_ENOMEM, "table '%s': out of memory in a checkpoint", t->name);
    if (t->dirty_list_short) {
        for (size_t h = 0; h < t->map.cap; h++)
            if (t->map.vals[h] != RILL_IDMAP_EMPTY && slot_head(t, t->map.vals[h])->dirty)
                v[n++] = (id_slot){t->map.keys[h], t->map.vals[h]};
    } else {
        for (size_t i = 0; i < t->ndirty; i++) {
            row_head *h = slot_head(t, t->dirty[i]);
            if (h->dirty)
                v[n++] = (id_slot){h->id, t->dirty[i]};
        }
    }
    qsort(v, n, sizeof *v, cmp_id);
    rc = put_rows(t, txn, t->main, v, n, bytes, err);
    *rows += n;
    free(v);
    return rc;
}

/* evict_after: within a checkpoint, delete stored rows unused for evict_after steps, visiting
 * at most `budget` rows from where the last sweep stopped (the position is kept in the meta
 * database with the checkpoint, so a resumed run sweeps as the uninterrupted one would). */
int rill_table_sweep(rill_table *t, MDB_txn *txn, MDB_dbi meta, uint64_t step, size_t budget,
                     rill_err *err)
{
    t->nswept = 0;
    if (!t->store || t->o.evict_after <= 0 || step <= (uint64_t)t->o.evict_after)
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

/* Admission counts are part of the run's state: written with every checkpoint (as id, count
 * pairs under "admit:NAME" in the meta database) and read back when the table opens. */
int rill_table_write_pending(rill_table *t, MDB_txn *txn, MDB_dbi meta, rill_err *err)
{
    if (!t->store || t->o.admit <= 1)
        return RILL_OK;
    char key[200];
    snprintf(key, sizeof key, "admit:%s", t->name);
    size_t n = t->pending.count, rec = sizeof(uint64_t) + sizeof(uint32_t);
    MDB_val k = {strlen(key), key}, v = {rill_sealed_len(t->store, n * rec), NULL};
    int rc = mdb_put(txn, meta, &k, &v, MDB_RESERVE);
    if (rc)
        return rc == MDB_MAP_FULL ? rc
                                  : rill_store_mdb_err(t->store, rc, "writing admission counts", err);
    /* in map order, which is a function of the ids alone: the same state writes the same bytes */
    unsigned char *p = v.mv_data;
    for (size_t h = 0; h < t->pending.cap; h++)
        if (t->pending.vals[h] != RILL_IDMAP_EMPTY) {
            memcpy(p, &t->pending.keys[h], sizeof(uint64_t));
            memcpy(p + sizeof(uint64_t), &t->pending.vals[h], sizeof(uint32_t));
            p += rec;
        }
    rill_seal(t->store, &k, v.mv_data, n * rec);
    return RILL_OK;
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

void rill_table_set_sweep(rill_table *t, uint64_t pos)
{
    t->sweep_pos = t->sweep_next = pos;
}

void rill_table_set_step(rill_table *t, uint64_t step)
{
    t->step = step;
}

void rill_table_flushed(rill_table *t)
{
    /* the sweep's deletions are committed: forget those rows in RAM too */
    for (size_t i = 0; i < t->nswept; i++) {
        size_t h = rill_idmap_slot(&t->map, t->swept[i]);
        if (t->map.vals[h] != RILL_IDMAP_EMPTY) {
            uint32_t slot = t->map.vals[h];
            rill_idmap_remove_at(&t->map, h);
            row_head *hd = slot_head(t, slot);
            hd->dirty = 0;
            if (t->nfree < t->free_cap || !grow_free(t))
                t->free_slots[t->nfree++] = slot;
        }
        t->st.deleted++;
        if (t->st.rows)
            t->st.rows--;
    }
    if (t->o.evict_after > 0)
        t->sweep_pos = t->sweep_next;
    t->nswept = 0;
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
    t->spilled = false;
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
    (void)s;
    c->bytes = 0;
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

/* Evicts the least recently used rows down to 90% of the budget; never rows of this step. */
static int evict(rill_table *t, rill_err *err)
{
    size_t target = t->budget - t->budget / 10, n = 0, cand = 0;
    if (t->map.count <= target)
        return RILL_OK;
    age_slot *all = malloc(t->map.count * sizeof *all);
    if (!all)
        return rill_errf(err, RILL_ENOMEM, "table '%s': out of memory evicting", t->name);
    for (size_t h = 0; h < t->map.cap; h++)
        if (t->map.vals[h] != RILL_IDMAP_EMPTY) {
            uint32_t slot = t->map.vals[h];
            row_head *hd = slot_head(t, slot);
            if (hd->used < t->step)
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
        qsort(dirty, n, sizeof *dirty, cmp_id);
        rill_table_end_reads(t); /* a write may grow the map; no read may be open */
        spill_ctx c = {t, dirty, n, 0};
        rc = rill_store_write(t->store, spill_fn, &c, "spilling evicted rows", err);
        if (!rc) {
            t->spilled = true;
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
    if (t->store && t->budget && t->map.count > t->budget)
        rc = evict(t, err);
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
        init_row(t, id, c->row);
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

/* ---- files and iteration ---- */

/* File layout per table: "RTAB" u32 version, u32 name length, name, i64 rows, i32 dim,
 * i32 stride, i32 optim kind, u64 count, then count x (u64 id, stride floats). */
#define TAB_MAGIC 0x42415452u /* "RTAB" little-endian */

/* The cached rows sorted by id (malloc'd; NULL when out of memory). */
static id_slot *sorted_cache(const rill_table *t)
{
    id_slot *v = malloc((t->map.count ? t->map.count : 1) * sizeof *v);
    if (!v)
        return NULL;
    size_t n = 0;
    for (size_t h = 0; h < t->map.cap; h++)
        if (t->map.vals[h] != RILL_IDMAP_EMPTY)
            v[n++] = (id_slot){t->map.keys[h], t->map.vals[h]};
    qsort(v, n, sizeof *v, cmp_id);
    return v;
}

int rill_table_save(rill_table *t, FILE *f, rill_err *err)
{
    if (t->plain)
        return rill_errf(err, RILL_EINVAL, "table '%s': plain tables (rill_table_use_plain, a "
                                           "benchmark baseline) cannot be saved", t->name);
    if (t->store)
        return rill_errf(err, RILL_EINVAL,
                         "table '%s' lives in a store: its checkpoints hold it, not a parameter file",
                         t->name);
    uint32_t head[3] = {TAB_MAGIC, 1, (uint32_t)strlen(t->name)};
    int32_t shape[3] = {t->dim, t->stride, (int32_t)t->opt.kind};
    uint64_t count = t->map.count;
    id_slot *v = sorted_cache(t);
    if (!v)
        return rill_errf(err, RILL_ENOMEM, "table '%s': out of memory saving", t->name);
    if (fwrite(head, sizeof head, 1, f) != 1 || fwrite(t->name, head[2], 1, f) != 1 ||
        fwrite(&t->rows, sizeof t->rows, 1, f) != 1 || fwrite(shape, sizeof shape, 1, f) != 1 ||
        fwrite(&count, sizeof count, 1, f) != 1)
        goto fail;
    for (uint64_t i = 0; i < count; i++)
        if (fwrite(&v[i].id, sizeof v[i].id, 1, f) != 1 ||
            fwrite(slot_row(t, v[i].slot), sizeof(float), (size_t)t->stride, f) !=
                (size_t)t->stride)
            goto fail;
    free(v);
    return RILL_OK;
fail:;
    int en = errno;
    free(v);
    return rill_errf(err, en == ENOSPC || en == EDQUOT ? RILL_ENOSPC : RILL_EIO,
                     "table '%s': cannot write its rows: %s", t->name, strerror(en));
}

static void table_clear(rill_table *t)
{
    for (size_t i = 0; i < t->nslabs; i++)
        rill_free(t->slabs[i]);
    t->nslabs = 0;
    t->nslots = 0;
    t->nfree = 0;
    t->ndirty = 0;
    rill_idmap_clear(&t->map);
    t->stage_n = 0;
}

int rill_table_load(rill_table *t, FILE *f, const char *path, rill_err *err)
{
    uint32_t head[3];
    int32_t shape[3];
    int64_t rows;
    uint64_t count;
    char name[256];
    if (t->store)
        return rill_errf(err, RILL_EINVAL, "table '%s' lives in a store: load from the store",
                         t->name);
    if (fread(head, sizeof head, 1, f) != 1)
        return rill_errf(err, RILL_EIO, "%s: truncated where table '%s' begins", path, t->name);
    if (head[0] != TAB_MAGIC || head[1] != 1 || head[2] >= sizeof name)
        return rill_errf(err, RILL_EIO, "%s: not a table record where table '%s' was expected",
                         path, t->name);
    if (fread(name, head[2], 1, f) != 1 || fread(&rows, sizeof rows, 1, f) != 1 ||
        fread(shape, sizeof shape, 1, f) != 1 || fread(&count, sizeof count, 1, f) != 1)
        return rill_errf(err, RILL_EIO, "%s: truncated header of table '%s'", path, t->name);
    name[head[2]] = 0;
    if (strcmp(name, t->name) || rows != t->rows || shape[0] != t->dim || shape[1] != t->stride ||
        shape[2] != (int32_t)t->opt.kind)
        return rill_errf(err, RILL_EINVAL,
                         "%s: table '%s' (%lld x %d, %s) does not match the graph's '%s' "
                         "(%lld x %d, %s): was the pipeline changed since training?",
                         path, name, (long long)rows, shape[0],
                         rill_optim_name((rill_optim_kind)shape[2]), t->name,
                         (long long)t->rows, t->dim, rill_optim_name(t->opt.kind));
    table_clear(t); /* the file's rows replace whatever the table held */
    for (uint64_t i = 0; i < count; i++) {
        uint64_t id;
        if (fread(&id, sizeof id, 1, f) != 1 || id >= (uint64_t)t->rows)
            return rill_errf(err, RILL_EIO, "%s: table '%s': bad or truncated row %llu of %llu",
                             path, t->name, (unsigned long long)i, (unsigned long long)count);
        float *row;
        if (rill_table_lookup(t, &id, 1, &row, err))
            return rill_err_prefix(err, "%s: ", path);
        if (fread(row, sizeof(float), (size_t)t->stride, f) != (size_t)t->stride)
            return rill_errf(err, RILL_EIO, "%s: table '%s': truncated row %llu", path, t->name,
                             (unsigned long long)id);
    }
    return RILL_OK;
}

static int each_stored(rill_table *t, int (*fn)(void *ud, uint64_t id, const float *row),
                       void *ud, rill_err *err);

int rill_table_each(rill_table *t, int (*fn)(void *ud, uint64_t id, const float *row),
                    void *ud, rill_err *err)
{
    int rc = RILL_OK;
    if (t->plain)
        return rill_errf(err, RILL_EINVAL, "table '%s': plain tables (rill_table_use_plain, a "
                                           "benchmark baseline) cannot be listed", t->name);
    if (!t->store) {
        id_slot *v = sorted_cache(t);
        if (!v)
            return rill_errf(err, RILL_ENOMEM, "table '%s': out of memory", t->name);
        for (uint64_t i = 0; i < t->map.count && !rc; i++)
            rc = fn(ud, v[i].id, slot_row(t, v[i].slot));
        free(v);
        return rc;
    }
    if (t->ndirty || t->spilled || t->dirty_list_short)
        return rill_errf(err, RILL_EINVAL,
                         "table '%s' has rows not yet written to its store: checkpoint first",
                         t->name);
    if (rill_store_refuse_damaged(t->store, err))
        return RILL_ESTORE;
    RILL_GUARDED(rc, g, t->store, "reading rows", err, rill_table_end_reads(t),
                 each_stored(t, fn, ud, err));
    return rc;
}

static int each_stored(rill_table *t, int (*fn)(void *ud, uint64_t id, const float *row),
                       void *ud, rill_err *err)
{
    int rc;
    if ((rc = begin_reads(t, err)))
        return rc;
    MDB_cursor *c;
    if ((rc = rill_cursor_open(t->rtxn, t->main, &c)))
        return rill_store_mdb_err(t->store, rc, "reading rows", err);
    MDB_val k, v;
    size_t want = rill_sealed_len(t->store, (size_t)t->stride * sizeof(float) + ROW_TAIL);
    char what[160];
    snprintf(what, sizeof what, "table '%s'", t->name);
    int mrc;
    for (mrc = mdb_cursor_get(c, &k, &v, MDB_FIRST); mrc == 0 && !rc;
         mrc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        uint64_t id;
        if (k.mv_size != sizeof id || v.mv_size != want) {
            rc = rill_errf(err, RILL_ESTORE, "%s: table '%s' holds a malformed row (%zu/%zu bytes)",
                           t->store->path, t->name, k.mv_size, v.mv_size);
            break;
        }
        if ((rc = rill_unseal(t->store, &k, &v, what, false, err)))
            break;
        memcpy(&id, k.mv_data, sizeof id);
        rc = fn(ud, id, v.mv_data);
    }
    rill_cursor_close(c);
    rill_table_end_reads(t);
    if (!rc && mrc != MDB_NOTFOUND)
        rc = rill_store_mdb_err(t->store, mrc, "reading rows", err);
    return rc;
}

/* ---- benchmark ---- */

typedef struct {
    const float *data;
    int64_t rows;
    int stride;
    float sink[64];
} gather_job;

static void gather_part(void *ctx, size_t b, size_t e, int worker)
{
    gather_job *j = ctx;
    float acc[64] = {0};
    int w = j->stride < 64 ? j->stride : 64;
    for (size_t i = b; i < e; i++) {
        uint64_t id = rill_hash64(i, 12345) % (uint64_t)j->rows;
        const float *row = j->data + id * (uint64_t)j->stride;
        for (int d = 0; d < w; d++)
            acc[d] += row[d];
    }
    j->sink[worker % 64] += acc[0] + acc[w - 1];
}

int rill_table_bench_gather(int64_t rows, int stride, uint64_t samples, double *rows_per_s,
                            rill_err *err)
{
    size_t bytes = (size_t)rows * (size_t)stride * sizeof(float);
    float *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                    -1, 0);
    if (p == MAP_FAILED)
        return rill_errf(err, RILL_ENOMEM, "gather benchmark: cannot map %zu bytes", bytes);
    if (bytes >= ((size_t)32 << 20))
        madvise(p, bytes, MADV_HUGEPAGE);
    for (size_t i = 0; i < bytes / sizeof(float); i += 1024)
        p[i] = 1.0f; /* back every page, as trained tables are */
    gather_job j = {.data = p, .rows = rows, .stride = stride};
    rill_parallel_for(samples / 4, 1 << 14, gather_part, &j); /* warm up */
    double t0 = rill_now();
    rill_parallel_for(samples, 1 << 14, gather_part, &j);
    double dt = rill_now() - t0;
    munmap(p, bytes);
    *rows_per_s = dt > 0 ? (double)samples / dt : 0;
    return RILL_OK;
}
