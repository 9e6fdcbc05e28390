/* In-memory tables. Rows are created on first touch, in a pool of fixed-size slabs, and
 * found through an open-addressing map from row id to slot. A hashed table of 2^20 rows thus
 * costs what its touched rows cost, fresh memory is taken in order (a few page faults per
 * slab, not one per scattered row), and row pointers stay valid as the table grows. */
#include "store.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "pool.h"
#include "util.h"

#define SLAB_ROWS 65536
#define EMPTY UINT32_MAX

struct rill_table {
    char name[128];
    int64_t rows;            /* ids are below this */
    int dim, stride;         /* stride = dim + optimizer state floats */
    rill_optim opt;
    uint64_t seed;
    float init_scale;
    float **slabs;           /* SLAB_ROWS rows each */
    size_t nslabs, slab_cap;
    uint64_t *keys;          /* map: id -> slot */
    uint32_t *slots;
    size_t map_cap;          /* power of two, at most half full */
    uint64_t touched, visits;
    /* staged gradient of this step */
    size_t stage_n;
    const uint64_t *stage_ids;
    float *const *stage_rows;
    float *stage_grad;
};

static inline float *slot_row(const rill_table *t, uint32_t slot)
{
    return t->slabs[slot / SLAB_ROWS] + (size_t)(slot % SLAB_ROWS) * (size_t)t->stride;
}

static int map_alloc(rill_table *t, size_t cap)
{
    t->keys = rill_alloc(cap * sizeof *t->keys);
    t->slots = rill_alloc(cap * sizeof *t->slots);
    if (!t->keys || !t->slots)
        return RILL_ENOMEM;
    memset(t->slots, 0xff, cap * sizeof *t->slots);
    t->map_cap = cap;
    return RILL_OK;
}

static size_t map_find(const rill_table *t, uint64_t id)
{
    size_t mask = t->map_cap - 1, h = (size_t)rill_mix64(id) & mask;
    while (t->slots[h] != EMPTY && t->keys[h] != id)
        h = (h + 1) & mask;
    return h;
}

static int map_grow(rill_table *t)
{
    uint64_t *keys = t->keys;
    uint32_t *slots = t->slots;
    size_t cap = t->map_cap;
    if (map_alloc(t, cap * 2)) {
        rill_free(t->keys);
        rill_free(t->slots);
        t->keys = keys;
        t->slots = slots;
        t->map_cap = cap;
        return RILL_ENOMEM;
    }
    for (size_t i = 0; i < cap; i++)
        if (slots[i] != EMPTY) {
            size_t h = map_find(t, keys[i]);
            t->keys[h] = keys[i];
            t->slots[h] = slots[i];
        }
    rill_free(keys);
    rill_free(slots);
    return RILL_OK;
}

int rill_table_create(rill_table **out, const char *name, int64_t rows, int dim,
                      const rill_optim *opt, uint64_t seed, double init_scale, rill_err *err)
{
    *out = NULL;
    if (rows < 1 || dim < 1)
        return rill_errf(err, RILL_EINVAL, "table '%s': %lld rows of dim %d is not a table",
                         name, (long long)rows, dim);
    if (rows > (int64_t)UINT32_MAX - SLAB_ROWS)
        return rill_errf(err, RILL_EINVAL,
                         "table '%s': %lld rows; an in-memory table holds at most 2^32 rows",
                         name, (long long)rows);
    rill_table *t = rill_zalloc(sizeof *t);
    if (!t || map_alloc(t, 1024)) {
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
    *out = t;
    return RILL_OK;
}

void rill_table_free(rill_table *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->nslabs; i++)
        rill_free(t->slabs[i]);
    free(t->slabs);
    rill_free(t->keys);
    rill_free(t->slots);
    rill_free(t);
}

const char *rill_table_name(const rill_table *t) { return t->name; }
int rill_table_dim(const rill_table *t) { return t->dim; }
int64_t rill_table_rows(const rill_table *t) { return t->rows; }
const rill_optim *rill_table_optim(const rill_table *t) { return &t->opt; }
uint64_t rill_table_touched(const rill_table *t) { return t->touched; }
uint64_t rill_table_row_visits(const rill_table *t) { return t->visits; }

static void init_row(const rill_table *t, uint64_t id, float *row)
{
    for (int j = 0; j < t->dim; j++)
        row[j] = t->init_scale * (float)(2.0 * rill_hash_unit(t->seed, id, (uint64_t)j) - 1.0);
    float acc = (float)t->opt.initial_acc;
    for (int j = t->dim; j < t->stride; j++)
        row[j] = (t->opt.kind == RILL_OPT_ADAGRAD || t->opt.kind == RILL_OPT_ROWWISE_ADAGRAD)
                     ? acc
                     : 0.0f;
}

/* A slot for a new row, its memory in the slab pool (which grows by whole slabs). */
static float *new_row(rill_table *t, uint64_t id, size_t h)
{
    uint32_t slot = (uint32_t)t->touched;
    if (slot / SLAB_ROWS >= t->nslabs) {
        if (t->nslabs == t->slab_cap) {
            size_t cap = t->slab_cap ? t->slab_cap * 2 : 16;
            float **sl = realloc(t->slabs, cap * sizeof *sl);
            if (!sl)
                return NULL;
            t->slabs = sl;
            t->slab_cap = cap;
        }
        float *slab = rill_alloc((size_t)SLAB_ROWS * (size_t)t->stride * sizeof(float));
        if (!slab)
            return NULL;
        t->slabs[t->nslabs++] = slab;
    }
    t->keys[h] = id;
    t->slots[h] = slot;
    t->touched++;
    return slot_row(t, slot);
}

int rill_table_lookup(rill_table *t, const uint64_t *ids, size_t n, float **rows, rill_err *err)
{
    for (size_t i = 0; i < n; i++) {
        uint64_t id = ids[i];
        if (i + 8 < n) { /* the map is large and probed at random: fetch ahead */
            size_t ah = (size_t)rill_mix64(ids[i + 8]) & (t->map_cap - 1);
            __builtin_prefetch(&t->keys[ah]);
            __builtin_prefetch(&t->slots[ah]);
        }
        if (id >= (uint64_t)t->rows)
            return rill_errf(err, RILL_EINVAL, "table '%s': row id %llu is out of range [0, %lld)",
                             t->name, (unsigned long long)id, (long long)t->rows);
        if (2 * (t->touched + 1) > t->map_cap && map_grow(t))
            return rill_errf(err, RILL_ENOMEM, "table '%s': out of memory growing to %llu rows",
                             t->name, (unsigned long long)t->touched + 1);
        size_t h = map_find(t, id);
        if (t->slots[h] != EMPTY) {
            rows[i] = slot_row(t, t->slots[h]);
            continue;
        }
        float *row = new_row(t, id, h);
        if (!row)
            return rill_errf(err, RILL_ENOMEM, "table '%s': out of memory for row %llu", t->name,
                             (unsigned long long)t->touched + 1);
        init_row(t, id, row);
        rows[i] = row;
    }
    return RILL_OK;
}

const float *rill_table_peek(const rill_table *t, uint64_t id)
{
    size_t h = map_find(t, id);
    return t->slots[h] == EMPTY ? NULL : slot_row(t, t->slots[h]);
}

void rill_table_stage(rill_table *t, size_t n, const uint64_t *ids, float *const *rows,
                      float *grad)
{
    t->stage_n = n;
    t->stage_ids = ids;
    t->stage_rows = rows;
    t->stage_grad = grad;
}

double rill_table_grad_sqnorm(const rill_table *t)
{
    double s = 0;
    size_t n = t->stage_n * (size_t)t->dim;
    for (size_t i = 0; i < n; i++)
        s += (double)t->stage_grad[i] * (double)t->stage_grad[i];
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
        if (i + 8 < e) {
            __builtin_prefetch(t->stage_rows[i + 8], 1);
            __builtin_prefetch(t->stage_rows[i + 8] + 16, 1);
        }
        float *g = t->stage_grad + i * (size_t)t->dim;
        if (j->gscale != 1.0f)
            for (int d = 0; d < t->dim; d++)
                g[d] *= j->gscale;
        rill_optim_row_step(&t->opt, t->stage_rows[i], g, t->dim, j->lr, j->step);
    }
}

void rill_table_apply(rill_table *t, double lr_scale, double grad_scale, uint64_t t_step)
{
    apply_job j = {t, t->opt.lr * lr_scale, (float)grad_scale, t_step};
    rill_parallel_for(t->stage_n, 512, apply_part, &j);
    t->visits += t->stage_n;
    t->stage_n = 0;
}

/* File layout per table: "RTAB" u32 version, u32 name length, name, i64 rows, i32 dim,
 * i32 stride, i32 optim kind, u64 count, then count x (u64 id, stride floats). */
#define TAB_MAGIC 0x42415452u /* "RTAB" little-endian */

typedef struct {
    uint64_t id;
    uint32_t slot;
} id_slot;

static int cmp_id(const void *a, const void *b)
{
    uint64_t x = ((const id_slot *)a)->id, y = ((const id_slot *)b)->id;
    return x < y ? -1 : x > y;
}

/* The created rows sorted by id (malloc'd; NULL when out of memory). */
static id_slot *sorted_rows(const rill_table *t)
{
    id_slot *v = malloc((t->touched ? t->touched : 1) * sizeof *v);
    if (!v)
        return NULL;
    size_t n = 0;
    for (size_t h = 0; h < t->map_cap; h++)
        if (t->slots[h] != EMPTY)
            v[n++] = (id_slot){t->keys[h], t->slots[h]};
    qsort(v, n, sizeof *v, cmp_id);
    return v;
}

int rill_table_save(const rill_table *t, FILE *f, rill_err *err)
{
    uint32_t head[3] = {TAB_MAGIC, 1, (uint32_t)strlen(t->name)};
    int32_t shape[3] = {t->dim, t->stride, (int32_t)t->opt.kind};
    uint64_t count = t->touched;
    id_slot *v = sorted_rows(t);
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
fail:
    free(v);
    return rill_errf(err, RILL_EIO, "table '%s': write failed (disk full?)", t->name);
}

static void table_clear(rill_table *t)
{
    for (size_t i = 0; i < t->nslabs; i++)
        rill_free(t->slabs[i]);
    t->nslabs = 0;
    memset(t->slots, 0xff, t->map_cap * sizeof *t->slots);
    t->touched = 0;
    t->stage_n = 0;
}

int rill_table_load(rill_table *t, FILE *f, const char *path, rill_err *err)
{
    uint32_t head[3];
    int32_t shape[3];
    int64_t rows;
    uint64_t count;
    char name[256];
    size_t got = fread(head, sizeof head, 1, f);
    if (got != 1)
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

int rill_table_each(const rill_table *t, int (*fn)(void *ud, uint64_t id, const float *row),
                    void *ud)
{
    id_slot *v = sorted_rows(t);
    if (!v)
        return RILL_ENOMEM;
    int rc = RILL_OK;
    for (uint64_t i = 0; i < t->touched && !rc; i++)
        rc = fn(ud, v[i].id, slot_row(t, v[i].slot));
    free(v);
    return rc;
}

typedef struct {
    const float *data;
    int64_t rows;
    int stride;
    uint64_t samples;
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
    gather_job j = {.data = p, .rows = rows, .stride = stride, .samples = samples};
    rill_parallel_for(samples / 4, 1 << 14, gather_part, &j); /* warm up */
    double t0 = rill_now();
    rill_parallel_for(samples, 1 << 14, gather_part, &j);
    double dt = rill_now() - t0;
    munmap(p, bytes);
    *rows_per_s = dt > 0 ? (double)samples / dt : 0;
    return RILL_OK;
}
