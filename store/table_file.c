/* A table as a whole, outside the training loop: its rows saved to and loaded from a file
 * (rill_table_save/load: a header with the table's shape, checked on load, then id and row
 * per cached row), every row visited (rill_table_each: the cache, then the stored rows), and
 * the row-gather benchmark. */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "pool.h"
#include "table_impl.h"
#include "util.h"

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
    qsort(v, n, sizeof *v, rill_table_cmp_id);
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
    if ((rc = rill_store_checkpoint_wait(t->store, err)))
        return rc; /* the rows of the checkpoint just taken are in the store once it is done */
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
    if ((rc = rill_table_begin_reads(t, err)))
        return rc;
    rill_rows r;
    if ((rc = rill_rows_open(&r, t->store, t->rtxn, t->main, t->gens, t->gs.ngens >= t->gs.gen_lo ? t->gs.where : NULL,
                             (uint64_t)t->rows)))
        return rill_store_mdb_err(t->store, rc, "reading rows", err);
    MDB_val k, v;
    size_t want = rill_sealed_len(t->store, (size_t)t->stride * sizeof(float) + ROW_TAIL);
    char what[160];
    snprintf(what, sizeof what, "table '%s'", t->name);
    uint64_t id;
    while ((rc = rill_rows_next(&r, &id, &k, &v, err)) == RILL_OK) {
        if (v.mv_size != want) {
            rc = rill_errf(err, RILL_ESTORE, "%s: table '%s' holds a malformed row (%zu/%zu bytes)",
                           t->store->path, t->name, k.mv_size, v.mv_size);
            break;
        }
        if ((rc = rill_unseal(t->store, &k, &v, what, false, err)) ||
            (rc = fn(ud, id, v.mv_data)))
            break;
    }
    rill_rows_close(&r);
    rill_table_end_reads(t);
    return rc == RILL_EOF ? RILL_OK : rc;
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
