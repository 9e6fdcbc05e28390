/* In-memory tables: one anonymous mapping of rows x (dim + state) floats, a bitmap of the
 * rows created so far. The kernel backs pages only when a row in them is first written, so
 * a 2^20-row hashed table costs what its touched rows cost. */
#include "store.h"

#include <math.h>
#include <string.h>
#include <sys/mman.h>

#include "pool.h"
#include "util.h"

struct rill_table {
    char name[128];
    int64_t rows;
    int dim, stride;         /* stride = dim + optimizer state floats */
    rill_optim opt;
    uint64_t seed;
    float init_scale;
    float *data;
    size_t map_bytes;
    uint64_t *made;          /* bit per row */
    uint64_t touched;
    /* staged gradient of this step */
    size_t stage_n;
    const uint64_t *stage_ids;
    float *const *stage_rows;
    float *stage_grad;
};

int rill_table_create(rill_table **out, const char *name, int64_t rows, int dim,
                      const rill_optim *opt, uint64_t seed, double init_scale, rill_err *err)
{
    *out = NULL;
    if (rows < 1 || dim < 1)
        return rill_errf(err, RILL_EINVAL, "table '%s': %lld rows of dim %d is not a table",
                         name, (long long)rows, dim);
    rill_table *t = rill_zalloc(sizeof *t);
    if (!t)
        return rill_errf(err, RILL_ENOMEM, "table '%s': out of memory", name);
    snprintf(t->name, sizeof t->name, "%s", name);
    t->rows = rows;
    t->dim = dim;
    t->stride = dim + rill_optim_row_state(opt, dim);
    t->opt = *opt;
    t->seed = seed;
    t->init_scale = (float)init_scale;
    size_t bytes;
    if (rill_mul_size((size_t)rows, (size_t)t->stride * sizeof(float), &bytes)) {
        rill_free(t);
        return rill_errf(err, RILL_EINVAL, "table '%s': %lld rows x %d floats overflow", name,
                         (long long)rows, t->stride);
    }
    t->map_bytes = bytes;
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                   -1, 0);
    t->made = rill_zalloc(((size_t)rows + 63) / 64 * sizeof(uint64_t));
    if (p == MAP_FAILED || !t->made) {
        if (p != MAP_FAILED)
            munmap(p, bytes);
        rill_free(t->made);
        rill_free(t);
        return rill_errf(err, RILL_ENOMEM, "table '%s': cannot reserve %zu bytes for %lld rows",
                         name, bytes, (long long)rows);
    }
    /* huge pages: a first touch faults 2 MiB at once and random row reads miss the TLB far
     * less; the kernel falls back to small pages where it cannot */
    if (bytes >= ((size_t)32 << 20))
        madvise(p, bytes, MADV_HUGEPAGE);
    t->data = p;
    *out = t;
    return RILL_OK;
}

void rill_table_free(rill_table *t)
{
    if (!t)
        return;
    munmap(t->data, t->map_bytes);
    rill_free(t->made);
    rill_free(t);
}

const char *rill_table_name(const rill_table *t) { return t->name; }
int rill_table_dim(const rill_table *t) { return t->dim; }
int64_t rill_table_rows(const rill_table *t) { return t->rows; }
const rill_optim *rill_table_optim(const rill_table *t) { return &t->opt; }
uint64_t rill_table_touched(const rill_table *t) { return t->touched; }

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

int rill_table_lookup(rill_table *t, const uint64_t *ids, size_t n, float **rows, rill_err *err)
{
    for (size_t i = 0; i < n; i++) {
        uint64_t id = ids[i];
        if (id >= (uint64_t)t->rows)
            return rill_errf(err, RILL_EINVAL, "table '%s': row id %llu is out of range [0, %lld)",
                             t->name, (unsigned long long)id, (long long)t->rows);
        float *row = t->data + id * (uint64_t)t->stride;
        uint64_t bit = 1ULL << (id & 63);
        if (!(t->made[id >> 6] & bit)) {
            init_row(t, id, row);
            t->made[id >> 6] |= bit;
            t->touched++;
        }
        rows[i] = row;
    }
    return RILL_OK;
}

const float *rill_table_peek(const rill_table *t, uint64_t id)
{
    if (id >= (uint64_t)t->rows || !(t->made[id >> 6] & (1ULL << (id & 63))))
        return NULL;
    return t->data + id * (uint64_t)t->stride;
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
    t->stage_n = 0;
}

/* File layout per table: "RTAB" u32 version, u32 name length, name, i64 rows, i32 dim,
 * i32 stride, i32 optim kind, u64 count, then count x (u64 id, stride floats). */
#define TAB_MAGIC 0x42415452u /* "RTAB" little-endian */

int rill_table_save(const rill_table *t, FILE *f, rill_err *err)
{
    uint32_t head[3] = {TAB_MAGIC, 1, (uint32_t)strlen(t->name)};
    int32_t shape[3] = {t->dim, t->stride, (int32_t)t->opt.kind};
    uint64_t count = t->touched;
    if (fwrite(head, sizeof head, 1, f) != 1 || fwrite(t->name, head[2], 1, f) != 1 ||
        fwrite(&t->rows, sizeof t->rows, 1, f) != 1 || fwrite(shape, sizeof shape, 1, f) != 1 ||
        fwrite(&count, sizeof count, 1, f) != 1)
        goto fail;
    for (uint64_t w = 0; w < ((uint64_t)t->rows + 63) / 64; w++) {
        uint64_t bits = t->made[w];
        while (bits) {
            uint64_t id = w * 64 + (uint64_t)__builtin_ctzll(bits);
            bits &= bits - 1;
            if (fwrite(&id, sizeof id, 1, f) != 1 ||
                fwrite(t->data + id * (uint64_t)t->stride, sizeof(float), (size_t)t->stride, f) !=
                    (size_t)t->stride)
                goto fail;
        }
    }
    return RILL_OK;
fail:
    return rill_errf(err, RILL_EIO, "table '%s': write failed (disk full?)", t->name);
}

int rill_table_load(rill_table *t, FILE *f, const char *path, rill_err *err)
{
    uint32_t head[3];
    int32_t shape[3];
    int64_t rows;
    uint64_t count;
    char name[256];
    if (fread(head, sizeof head, 1, f) != 1 || head[0] != TAB_MAGIC || head[1] != 1 ||
        head[2] >= sizeof name)
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
    for (uint64_t i = 0; i < count; i++) {
        uint64_t id;
        if (fread(&id, sizeof id, 1, f) != 1 || id >= (uint64_t)t->rows)
            return rill_errf(err, RILL_EIO, "%s: table '%s': bad or truncated row %llu of %llu",
                             path, t->name, (unsigned long long)i, (unsigned long long)count);
        float *row = t->data + id * (uint64_t)t->stride;
        if (fread(row, sizeof(float), (size_t)t->stride, f) != (size_t)t->stride)
            return rill_errf(err, RILL_EIO, "%s: table '%s': truncated row %llu", path, t->name,
                             (unsigned long long)id);
        if (!(t->made[id >> 6] & (1ULL << (id & 63)))) {
            t->made[id >> 6] |= 1ULL << (id & 63);
            t->touched++;
        }
    }
    return RILL_OK;
}

int rill_table_each(const rill_table *t, int (*fn)(void *ud, uint64_t id, const float *row),
                    void *ud)
{
    for (uint64_t w = 0; w < ((uint64_t)t->rows + 63) / 64; w++) {
        uint64_t bits = t->made[w];
        while (bits) {
            uint64_t id = w * 64 + (uint64_t)__builtin_ctzll(bits);
            bits &= bits - 1;
            int rc = fn(ud, id, t->data + id * (uint64_t)t->stride);
            if (rc)
                return rc;
        }
    }
    return RILL_OK;
}
