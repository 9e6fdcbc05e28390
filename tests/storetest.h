/* What the store tests (t-store.c, t-store-cache.c, t-store-runs.c) share: a mkdtemp
 * directory removed at the end, stores opened with a few settings, rows trained from (step,
 * id) and compared row by row, a directory copied file by file, and the check that a store
 * is refused. */
#ifndef RILL_STORETEST_H
#define RILL_STORETEST_H

#include <dirent.h>
#include <ftw.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#include "graphtest.h"

static char tmpdir[64];

static inline bool has(const char *msg, const char *needle)
{
    return strstr(msg, needle) != NULL;
}

static char *in_tmp(char *buf, size_t cap, const char *name)
{
    snprintf(buf, cap, "%s/%s", tmpdir, name);
    return buf;
}

static inline int rm_entry(const char *path, const struct stat *sb, int type, struct FTW *f)
{
    (void)sb;
    (void)type;
    (void)f;
    return remove(path);
}

static inline void rm_tree(const char *dir)
{
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static inline int open_store(rill_store **s, const char *dir, int mode, size_t cache, size_t map,
                      rill_err *err)
{
    rill_store_cfg cfg = {.mode = mode, .cache_bytes = cache, .map_bytes = map};
    return rill_store_open(s, dir, &cfg, err);
}

/* open_store with checkpoints written on the caller's thread */
static inline int open_store_sync(rill_store **s, const char *dir, int mode, size_t cache,
                                  size_t map, rill_err *err)
{
    rill_store_cfg cfg = {.mode = mode, .cache_bytes = cache, .map_bytes = map,
                          .sync_checkpoints = true};
    return rill_store_open(s, dir, &cfg, err);
}

static const rill_optim SGD = {.kind = RILL_OPT_SGD, .lr = 1.0};
static const rill_optim ROWWISE = {.kind = RILL_OPT_ROWWISE_ADAGRAD, .lr = 0.1, .eps = 1e-8,
                                   .initial_acc = 1e-6};

static inline uint64_t mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

static inline int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* n ids drawn from [0, space) scaled by `spread`, distinct, in a scrambled order; returns
 * how many are left after removing repeats */
static inline size_t step_ids(uint64_t step, uint64_t salt, size_t n, uint64_t space, uint64_t spread,
                       uint64_t *ids)
{
    for (size_t k = 0; k < n; k++)
        ids[k] = (mix(step * 100003 + k + salt * 7919) % space) * spread;
    qsort(ids, n, sizeof *ids, cmp_u64);
    size_t m = 0;
    for (size_t k = 0; k < n; k++)
        if (m == 0 || ids[k] != ids[m - 1])
            ids[m++] = ids[k];
    for (size_t k = m; k > 1; k--) { /* scramble, deterministically */
        size_t j = mix(step ^ (k * 31)) % k;
        uint64_t x = ids[k - 1];
        ids[k - 1] = ids[j];
        ids[j] = x;
    }
    return m;
}

static inline float grad_of(uint64_t step, uint64_t id, int d)
{
    return 0.01f * (float)((int)(mix(step * 1000003 + id * 17 + (uint64_t)d) % 21) - 10);
}

/* One training step on a table: look the ids up, give every row a gradient, apply. The rows
 * as looked up (before the update) are copied into before (n x stride) when it is not NULL. */
static inline int train_step(rill_table *t, const uint64_t *ids, size_t n, uint64_t step, float *before,
                      rill_err *err)
{
    int dim = rill_table_dim(t), stride = rill_table_stride(t);
    float **rows = malloc((n ? n : 1) * sizeof *rows);
    float *grad = malloc((n ? n : 1) * (size_t)dim * sizeof *grad);
    int rc = rows && grad ? rill_table_lookup(t, ids, n, rows, err) : RILL_ENOMEM;
    if (!rc) {
        for (size_t i = 0; i < n; i++) {
            for (int d = 0; d < dim; d++)
                grad[i * (size_t)dim + (size_t)d] = grad_of(step, ids[i], d);
            if (before && rows[i])
                memcpy(before + i * (size_t)stride, rows[i], (size_t)stride * sizeof(float));
        }
        rill_table_stage(t, n, ids, rows, grad);
        rill_table_apply(t, 1.0, 1.0, step);
    }
    free(rows);
    free(grad);
    return rc;
}

/* rows of t and ref for every id in ids: how many differ (or are missing in one of them) */
static inline size_t count_differing(rill_table *t, rill_table *ref, const uint64_t *ids, size_t n)
{
    size_t bad = 0, bytes = (size_t)rill_table_stride(t) * sizeof(float);
    for (size_t i = 0; i < n; i++) {
        const float *a = rill_table_peek(t, ids[i]), *b = rill_table_peek(ref, ids[i]);
        if (!a || !b || memcmp(a, b, bytes) != 0)
            bad++;
    }
    return bad;
}

/* rill_table_each into arrays */
typedef struct {
    uint64_t *ids;
    float *vals;
    size_t n, cap;
    int stride;
} rows_seen;

static inline int collect(void *ud, uint64_t id, const float *row)
{
    rows_seen *r = ud;
    if (r->n == r->cap) {
        size_t cap = r->cap ? 2 * r->cap : 1024;
        uint64_t *ni = realloc(r->ids, cap * sizeof *ni);
        if (!ni)
            return RILL_ENOMEM;
        r->ids = ni;
        float *nv = realloc(r->vals, cap * (size_t)r->stride * sizeof *nv);
        if (!nv)
            return RILL_ENOMEM;
        r->vals = nv;
        r->cap = cap;
    }
    r->ids[r->n] = id;
    memcpy(r->vals + r->n * (size_t)r->stride, row, (size_t)r->stride * sizeof(float));
    r->n++;
    return RILL_OK;
}

static inline void seen_free(rows_seen *r)
{
    free(r->ids);
    free(r->vals);
}

/* rill_table_each over t in ascending id order, the same ids and values as over ref */
static inline void check_each(rill_table *t, rill_table *ref, const char *what)
{
    rill_err err;
    rows_seen a = {.stride = rill_table_stride(t)}, b = {.stride = rill_table_stride(ref)};
    int rc = rill_table_each(t, collect, &a, &err);
    if (!ok(rc == RILL_OK, "%s: rill_table_each over the stored table", what))
        diag("%s", err.msg);
    rill_table_each(ref, collect, &b, &err);
    bool ascending = true;
    for (size_t i = 1; i < a.n; i++)
        ascending = ascending && a.ids[i - 1] < a.ids[i];
    ok(a.n > 0 && ascending, "%s: %zu rows, ids strictly ascending", what, a.n);
    ok(a.n == b.n && memcmp(a.ids, b.ids, a.n * sizeof *a.ids) == 0 &&
           memcmp(a.vals, b.vals, a.n * (size_t)a.stride * sizeof(float)) == 0,
       "%s: the same ids and values as the in-memory table (%zu and %zu rows)", what, a.n, b.n);
    seen_free(&a);
    seen_free(&b);
}

static inline int copy_file(const char *from, const char *to)
{
    FILE *a = fopen(from, "rb"), *b = fopen(to, "wb");
    int rc = !a || !b;
    char buf[1 << 16];
    size_t n;
    while (!rc && (n = fread(buf, 1, sizeof buf, a)) > 0)
        rc = fwrite(buf, 1, n, b) != n;
    if (a)
        fclose(a);
    if (b && fclose(b) != 0)
        rc = 1;
    return rc;
}

/* A copy of the flat directory from (a store and the files beside it) at to, made here rather
 * than by a shell: 0 on success. */
static inline int copy_dir(const char *from, const char *to)
{
    DIR *d = opendir(from);
    int rc = !d || mkdir(to, 0755) != 0;
    struct dirent *e;
    while (!rc && (e = readdir(d)) != NULL) {
        char a[4400], b[4400];
        struct stat sb;
        snprintf(a, sizeof a, "%s/%s", from, e->d_name);
        snprintf(b, sizeof b, "%s/%s", to, e->d_name);
        if (stat(a, &sb) == 0 && S_ISREG(sb.st_mode))
            rc = copy_file(a, b);
    }
    if (d)
        closedir(d);
    return rc;
}

/* opens dir in each of READ and WRITE: both must fail, saying every needle */
static inline void refused(const char *dir, const char *what, const char *n1, const char *n2)
{
    static const int modes[2] = {RILL_STORE_READ, RILL_STORE_WRITE};
    static const char *const names[2] = {"read", "write"};
    for (int m = 0; m < 2; m++) {
        rill_err err = {0};
        rill_store *s = (rill_store *)1;
        int rc = open_store(&s, dir, modes[m], 0, 0, &err);
        ok(rc == RILL_ESTORE && s == NULL && has(err.msg, n1) && (!n2 || has(err.msg, n2)),
           "%s, opened to %s: %s", what, names[m], err.msg);
        if (rc == RILL_OK)
            rill_store_close(s);
    }
}

/* The tests' directory, made before the first test (a TAP bail-out when it cannot be). */
static inline bool make_tmpdir(void)
{
    snprintf(tmpdir, sizeof tmpdir, "%s", "/tmp/rill-store-XXXXXX");
    if (!mkdtemp(tmpdir)) {
        printf("Bail out! mkdtemp failed\n");
        return false;
    }
    return true;
}

#endif
