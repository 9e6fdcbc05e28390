/* The parameter store through its public API (store/store.h): rows created from (seed, id);
 * updates, checkpoints and reopening (a reopened store holds exactly the last checkpoint, and
 * nothing changed after it); rows in key order; eviction and spill under a tiny RAM budget,
 * checked row by row against an unlimited in-memory table updated the same way; the map
 * growing from 1 MiB; the values a checkpoint's caller puts and gets (the map growing under
 * them); the run's named values; one writer at a time (from a forked child, as
 * flock locks belong to an open file description); missing, truncated, random, empty and
 * foreign files; rows damaged behind the store's back (verify names them); a table or dense
 * parameter of another shape; admission; verify and digest; dense parameters of a graph
 * checkpointed and restored.
 * Every store lives in a mkdtemp directory that is removed at the end. */
#include <ftw.h>
#include <lmdb.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "checkpoint.h"
#include "crc32c.h"
#include "graphtest.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#define HAVE_LSAN 1
#endif

static char tmpdir[64];

static bool has(const char *msg, const char *needle)
{
    return strstr(msg, needle) != NULL;
}

static char *in_tmp(char *buf, size_t cap, const char *name)
{
    snprintf(buf, cap, "%s/%s", tmpdir, name);
    return buf;
}

static int rm_entry(const char *path, const struct stat *sb, int type, struct FTW *f)
{
    (void)sb;
    (void)type;
    (void)f;
    return remove(path);
}

static void rm_tree(const char *dir)
{
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static int open_store(rill_store **s, const char *dir, int mode, size_t cache, size_t map,
                      rill_err *err)
{
    rill_store_cfg cfg = {.mode = mode, .cache_bytes = cache, .map_bytes = map};
    return rill_store_open(s, dir, &cfg, err);
}

static const rill_optim SGD = {.kind = RILL_OPT_SGD, .lr = 1.0};
static const rill_optim ROWWISE = {.kind = RILL_OPT_ROWWISE_ADAGRAD, .lr = 0.1, .eps = 1e-8,
                                   .initial_acc = 1e-6};

static uint64_t mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* n ids drawn from [0, space) scaled by `spread`, distinct, in a scrambled order; returns
 * how many are left after removing repeats */
static size_t step_ids(uint64_t step, uint64_t salt, size_t n, uint64_t space, uint64_t spread,
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

static float grad_of(uint64_t step, uint64_t id, int d)
{
    return 0.01f * (float)((int)(mix(step * 1000003 + id * 17 + (uint64_t)d) % 21) - 10);
}

/* One training step on a table: look the ids up, give every row a gradient, apply. The rows
 * as looked up (before the update) are copied into before (n x stride) when it is not NULL. */
static int train_step(rill_table *t, const uint64_t *ids, size_t n, uint64_t step, float *before,
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
static size_t count_differing(rill_table *t, rill_table *ref, const uint64_t *ids, size_t n)
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

static int collect(void *ud, uint64_t id, const float *row)
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

static void seen_free(rows_seen *r)
{
    free(r->ids);
    free(r->vals);
}

/* rill_table_each over t in ascending id order, the same ids and values as over ref */
static void check_each(rill_table *t, rill_table *ref, const char *what)
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

/* ---- rows from (seed, id), updates, checkpoint, reopen ---- */

static void test_checkpoint(void)
{
    rill_err err;
    char d1[256], d2[256];
    in_tmp(d1, sizeof d1, "basic");
    in_tmp(d2, sizeof d2, "basic2");
    rill_store *s1, *s2;
    rill_table *t1, *t2, *mem, *other;
    int rc = open_store(&s1, d1, RILL_STORE_CREATE, 0, 0, &err);
    if (!ok(rc == RILL_OK, "create a store in %s", d1)) {
        diag("%s", err.msg);
        return;
    }
    ok(!rill_store_has_checkpoint(s1), "a new store has no checkpoint");
    void *state = NULL;
    size_t len = 0;
    ok(rill_store_restore(s1, NULL, NULL, &state, &len, &err) == RILL_EOF && !state,
       "restore from a new store: RILL_EOF");
    rc = open_store(&s2, d2, RILL_STORE_CREATE, 0, 0, &err) ||
         rill_store_table(s1, &t1, "emb", 1000, 4, &SGD, 7, 0.05, NULL, &err) ||
         rill_store_table(s2, &t2, "emb", 1000, 4, &SGD, 7, 0.05, NULL, &err) ||
         rill_table_create(&mem, "emb", 1000, 4, &SGD, 7, 0.05, &err) ||
         rill_table_create(&other, "emb", 1000, 4, &SGD, 8, 0.05, &err);
    if (!ok(rc == RILL_OK, "a second store; table 'emb' (1000 x 4, SGD, seed 7) in both")) {
        diag("%s", err.msg);
        return; /* not worth cleaning up after: the test has failed */
    }

    /* the same id gives the same row in both stores and in RAM, whatever the order of touch */
    enum { N = 300 };
    uint64_t ids[N], rev[N];
    size_t n = step_ids(1, 1, N, 1000, 1, ids);
    for (size_t i = 0; i < n; i++)
        rev[i] = ids[n - 1 - i];
    float *r1[N], *r2[N], *rm[N], *ro[N];
    rc = rill_table_lookup(t1, ids, n, r1, &err) || rill_table_lookup(t2, rev, n, r2, &err) ||
         rill_table_lookup(mem, ids, n, rm, &err) || rill_table_lookup(other, ids, n, ro, &err);
    ok(rc == RILL_OK, "lookups of %zu distinct ids create rows", n);
    size_t same = 0, same_other = 0, in_range = 0;
    for (size_t i = 0; i < n; i++) {
        same += memcmp(r1[i], r2[n - 1 - i], 4 * sizeof(float)) == 0 &&
                memcmp(r1[i], rm[i], 4 * sizeof(float)) == 0;
        same_other += memcmp(r1[i], ro[i], 4 * sizeof(float)) == 0;
        bool in = r1[i][0] != 0 || r1[i][1] != 0;
        for (int d = 0; d < 4; d++)
            in = in && fabsf(r1[i][d]) <= 0.05f;
        in_range += in;
    }
    ok(same == n, "the same seed: every row equal in two stores (touched in opposite orders) "
                  "and in RAM (%zu of %zu)", same, n);
    ok(same_other == 0, "another seed: no row equal (%zu)", same_other);
    ok(in_range == n, "initial weights within +-0.05 and not zero (%zu of %zu)", in_range, n);
    rill_table_stats st;
    rill_table_get_stats(t1, &st);
    ok(st.rows == n && st.created == n && rill_table_touched(t1) == n,
       "stats: %llu rows, %llu created", (unsigned long long)st.rows,
       (unsigned long long)st.created);
    uint64_t bad = 1000;
    float *row;
    rc = rill_table_lookup(t1, &bad, 1, &row, &err);
    ok(rc == RILL_EINVAL && has(err.msg, "out of range"), "id 1000 of 1000 rows: %s", err.msg);

    /* an SGD step with lr 1 subtracts the gradient */
    float before[N * 4];
    rc = train_step(t1, ids, n, 1, before, &err) || train_step(t2, ids, n, 1, NULL, &err) ||
         train_step(mem, ids, n, 1, NULL, &err);
    size_t exact = 0;
    for (size_t i = 0; i < n; i++) {
        const float *p = rill_table_peek(t1, ids[i]);
        bool e = p != NULL;
        for (int d = 0; e && d < 4; d++)
            e = p[d] == before[i * 4 + (size_t)d] - grad_of(1, ids[i], d);
        exact += e;
    }
    ok(rc == RILL_OK && exact == n, "SGD, lr 1: every row is its old value minus its gradient "
                                    "(%zu of %zu)", exact, n);
    rc = rill_store_end_step(s1, 1, &err) || rill_store_end_step(s2, 1, &err);
    ok(rc == RILL_OK, "end of step 1");
    static const char state1[] = "state of step 1";
    rc = rill_store_checkpoint(s1, NULL, NULL, state1, sizeof state1, &err) ||
         rill_store_checkpoint(s2, NULL, NULL, state1, sizeof state1, &err);
    if (!ok(rc == RILL_OK, "checkpoint both stores"))
        diag("%s", err.msg);
    ok(rill_store_has_checkpoint(s1), "the store has a checkpoint now");
    uint64_t dg1 = 0, dg2 = 1;
    rc = rill_store_digest(s1, &dg1, &err) || rill_store_digest(s2, &dg2, &err);
    ok(rc == RILL_OK && dg1 == dg2, "identical content, equal digests (%016llx)",
       (unsigned long long)dg1);
    ok(rill_store_verify(s1, &err) == RILL_OK, "verify passes");
    rill_store_info info;
    rill_store_get_info(s1, &info);
    ok(info.checkpoints == 1 && info.last_checkpoint_bytes >= n * 4 * sizeof(float) &&
           info.map_size >= info.used_bytes && info.used_bytes > 0,
       "info: 1 checkpoint of %llu bytes; %llu bytes used of a %llu-byte map",
       (unsigned long long)info.last_checkpoint_bytes, (unsigned long long)info.used_bytes,
       (unsigned long long)info.map_size);
    char cp[256];
    in_tmp(cp, sizeof cp, "basic-copy");
    rc = rill_store_copy(s1, cp, &err);
    if (!ok(rc == RILL_OK, "copy the store to %s", cp))
        diag("%s", err.msg);

    /* after the checkpoint: a changed row and a new one, then a "crash" (closed unsaved) */
    uint64_t later[2] = {ids[0], 1000 - 1};
    while (later[1] == ids[0] || rill_table_peek(t1, later[1]))
        later[1]--; /* an id the checkpoint lacks */
    rc = train_step(t1, later, 2, 2, NULL, &err) || rill_store_end_step(s1, 2, &err);
    ok(rc == RILL_OK && rill_table_peek(t1, later[1]) != NULL, "step 2 changes id %llu and "
                                                               "creates id %llu",
       (unsigned long long)later[0], (unsigned long long)later[1]);
    uint64_t dg_after = 0;
    rill_store_digest(s1, &dg_after, &err);
    ok(dg_after == dg1, "unsaved changes leave the digest (the last checkpoint's) as it was");
    rows_seen none = {.stride = 4};
    rc = rill_table_each(t1, collect, &none, &err);
    ok(rc == RILL_EINVAL && none.n == 0 && has(err.msg, "checkpoint first"),
       "rill_table_each with unsaved rows: %s", err.msg);
    seen_free(&none);
    rill_store_close(s1);
    rill_table_free(t1);

    rc = open_store(&s1, d1, RILL_STORE_READ, 0, 0, &err) ||
         rill_store_table(s1, &t1, "emb", 1000, 4, &SGD, 7, 0.05, NULL, &err);
    if (!ok(rc == RILL_OK, "reopen read-only")) {
        diag("%s", err.msg);
        return;
    }
    ok(count_differing(t1, mem, ids, n) == 0,
       "reopened: every row exactly as checkpointed (peek, %zu rows)", n);
    ok(rill_table_peek(t1, later[1]) == NULL, "a row created after the checkpoint is absent");
    rc = rill_store_restore(s1, NULL, NULL, &state, &len, &err);
    ok(rc == RILL_OK && len == sizeof state1 && memcmp(state, state1, len) == 0,
       "restore gives back the run state of the checkpoint");
    free(state);
    uint64_t dg3 = 0;
    rill_store_digest(s1, &dg3, &err);
    ok(dg3 == dg1, "reopened: the same digest");
    check_each(t1, mem, "reopened");
    rill_store_get_info(s1, &info);
    ok(rill_store_verify(s1, &err) == RILL_OK, "reopened: verify passes");
    rc = rill_store_checkpoint(s1, NULL, NULL, state1, sizeof state1, &err);
    ok(rc != RILL_OK && has(err.msg, "read-only"), "a checkpoint of a read-only store: %s",
       err.msg);
    rill_store_close(s1);
    rill_table_free(t1);

    /* the copy holds the same (its table opened first: see test_digest_leak); a change and a
     * checkpoint change the digest */
    rill_store *c;
    rill_table *ct = NULL;
    uint64_t dgc = 0;
    rc = open_store(&c, cp, RILL_STORE_READ, 0, 0, &err) ||
         rill_store_table(c, &ct, "emb", 1000, 4, &SGD, 7, 0.05, NULL, &err) ||
         rill_store_digest(c, &dgc, &err);
    ok(rc == RILL_OK && dgc == dg1, "the copy: the same digest");
    if (c)
        rill_store_close(c);
    rill_table_free(ct);
    rc = train_step(t2, later, 1, 2, NULL, &err) || rill_store_end_step(s2, 2, &err) ||
         rill_store_checkpoint(s2, NULL, NULL, state1, sizeof state1, &err) ||
         rill_store_digest(s2, &dg2, &err);
    ok(rc == RILL_OK && dg2 != dg1, "one row changed and checkpointed: another digest");
    rill_store_close(s2);
    rill_table_free(t2);
    rill_table_free(mem);
    rill_table_free(other);
}

/* ---- eviction and spill under a tiny budget, against RAM ---- */

enum { EV_PER = 300, EV_SPACE = 5000, EV_SPREAD = 37, EV_STEPS = 60 };

typedef struct {
    rill_store *s;
    rill_table *a, *b;       /* in the store: row-wise Adagrad dim 8, SGD dim 4 */
} ev_store;

static int ev_open(ev_store *e, const char *dir, int mode, rill_err *err)
{
    memset(e, 0, sizeof *e);
    int rc = open_store(&e->s, dir, mode, 1, 0, err); /* 1 byte: the minimum, 1024 rows */
    if (!rc)
        rc = rill_store_table(e->s, &e->a, "a", 1000000, 8, &ROWWISE, 11, 0.05, NULL, err);
    if (!rc)
        rc = rill_store_table(e->s, &e->b, "b", 1000000, 4, &SGD, 12, 0.05, NULL, err);
    return rc;
}

static void ev_close(ev_store *e)
{
    rill_store_close(e->s);
    rill_table_free(e->a);
    rill_table_free(e->b);
}

/* steps [from, to]: both tables, store and RAM, the same updates; every looked-up row compared
 * before its update; checkpoints every 10 steps */
static void ev_steps(ev_store *e, rill_table *ma, rill_table *mb, uint64_t from, uint64_t to,
                     size_t *differ, size_t *over_budget, rill_err *err)
{
    uint64_t ids[EV_PER];
    static float sa[EV_PER * 9], sb[EV_PER * 4], ra[EV_PER * 9], rb[EV_PER * 4];
    for (uint64_t t = from; t <= to; t++) {
        size_t n = step_ids(t, 3, EV_PER, EV_SPACE, EV_SPREAD, ids);
        int rc = train_step(e->a, ids, n, t, sa, err) || train_step(ma, ids, n, t, ra, err) ||
                 train_step(e->b, ids, n, t, sb, err) || train_step(mb, ids, n, t, rb, err) ||
                 rill_store_end_step(e->s, t, err);
        if (rc) {
            diag("step %llu: %s", (unsigned long long)t, err->msg);
            (*differ)++;
            return;
        }
        for (size_t i = 0; i < n; i++)
            *differ += memcmp(sa + 9 * i, ra + 9 * i, 9 * sizeof(float)) != 0 ||
                       memcmp(sb + 4 * i, rb + 4 * i, 4 * sizeof(float)) != 0;
        rill_table_stats st;
        rill_table_get_stats(e->a, &st);
        *over_budget += st.cached > st.cache_capacity;
        if (t % 10 == 0 && rill_store_checkpoint(e->s, NULL, NULL, &t, sizeof t, err)) {
            diag("checkpoint at %llu: %s", (unsigned long long)t, err->msg);
            (*differ)++;
        }
    }
}

/* every id of the space, stored against RAM */
static size_t ev_compare(ev_store *e, rill_table *ma, rill_table *mb)
{
    size_t bad = 0;
    for (uint64_t k = 0; k < EV_SPACE; k++) {
        uint64_t id = k * EV_SPREAD;
        const float *x = rill_table_peek(e->a, id), *y = rill_table_peek(ma, id);
        bad += (x == NULL) != (y == NULL) || (x && memcmp(x, y, 9 * sizeof(float)) != 0);
        x = rill_table_peek(e->b, id);
        y = rill_table_peek(mb, id);
        bad += (x == NULL) != (y == NULL) || (x && memcmp(x, y, 4 * sizeof(float)) != 0);
    }
    return bad;
}

static void test_eviction(void)
{
    rill_err err;
    char dir[256];
    in_tmp(dir, sizeof dir, "evict");
    ev_store e;
    rill_table *ma, *mb;
    int rc = ev_open(&e, dir, RILL_STORE_CREATE, &err) ||
             rill_table_create(&ma, "a", 1000000, 8, &ROWWISE, 11, 0.05, &err) ||
             rill_table_create(&mb, "b", 1000000, 4, &SGD, 12, 0.05, &err);
    if (!ok(rc == RILL_OK, "a store with a 1-byte cache budget; tables a and b, and twins in RAM")) {
        diag("%s", err.msg);
        return;
    }
    size_t differ = 0, over = 0;
    ev_steps(&e, ma, mb, 1, 30, &differ, &over, &err);
    rill_table_stats st;
    rill_table_get_stats(e.a, &st);
    ok(st.cache_capacity == 1024, "the budget is the minimum, 1024 rows a table (%llu)",
       (unsigned long long)st.cache_capacity);
    ok(st.evicted > 0 && st.spilled > 0 && st.misses > st.created,
       "30 steps over %d ids: rows evicted (%llu), spilled (%llu), read back (%llu misses for "
       "%llu created)",
       EV_SPACE, (unsigned long long)st.evicted, (unsigned long long)st.spilled,
       (unsigned long long)st.misses, (unsigned long long)st.created);
    ok(st.rows == rill_table_touched(ma) && st.rows > st.cache_capacity,
       "the store counts %llu rows, as many as RAM",
       (unsigned long long)st.rows);
    ev_close(&e);

    rc = ev_open(&e, dir, RILL_STORE_WRITE, &err);
    if (!ok(rc == RILL_OK, "reopened for writing after the checkpoint of step 30")) {
        diag("%s", err.msg);
        rill_table_free(ma);
        rill_table_free(mb);
        return;
    }
    ok(rill_table_touched(e.a) == rill_table_touched(ma) &&
           rill_table_touched(e.b) == rill_table_touched(mb),
       "reopened: it counts the stored rows as touched (%llu)",
       (unsigned long long)rill_table_touched(e.a));
    ev_steps(&e, ma, mb, 31, EV_STEPS, &differ, &over, &err);
    ok(differ == 0, "steps 1 to %d: every row looked up equals RAM's before its update (%zu "
                    "differ)", EV_STEPS, differ);
    ok(over == 0, "after every step the cache is within its budget (%zu steps over)", over);
    size_t bad = ev_compare(&e, ma, mb);
    ok(bad == 0, "after step %d: every row equals RAM's, cached or stored (%zu differ)", EV_STEPS,
       bad);
    ok(rill_store_verify(e.s, &err) == RILL_OK, "verify passes");
    uint64_t dg = 0, dg2 = 1;
    rill_store_digest(e.s, &dg, &err);

    /* more steps, spilling, in the store only; then closed without a checkpoint */
    rill_table_stats st0, st1;
    rill_table_get_stats(e.a, &st0);
    uint64_t ids[EV_PER];
    for (uint64_t t = EV_STEPS + 1; t <= EV_STEPS + 10 && !rc; t++) {
        size_t n = step_ids(t, 4, EV_PER, EV_SPACE, EV_SPREAD, ids);
        rc = train_step(e.a, ids, n, t, NULL, &err) || train_step(e.b, ids, n, t, NULL, &err) ||
             rill_store_end_step(e.s, t, &err);
    }
    rill_table_get_stats(e.a, &st1);
    ok(rc == RILL_OK && st1.spilled > st0.spilled,
       "10 more steps without a checkpoint spill %llu rows",
       (unsigned long long)(st1.spilled - st0.spilled));
    rill_store_digest(e.s, &dg2, &err);
    ok(dg2 == dg, "spills change nothing of the last checkpoint's digest");
    ev_close(&e);

    rc = ev_open(&e, dir, RILL_STORE_READ, &err);
    if (!ok(rc == RILL_OK, "reopened read-only")) {
        diag("%s", err.msg);
        rill_table_free(ma);
        rill_table_free(mb);
        return;
    }
    bad = ev_compare(&e, ma, mb);
    ok(bad == 0, "reopened: every row is that of step %d's checkpoint, none of the spilled "
                 "later ones (%zu differ)", EV_STEPS, bad);
    rill_store_digest(e.s, &dg2, &err);
    ok(dg2 == dg, "reopened: the same digest");
    check_each(e.a, ma, "table a reopened");
    check_each(e.b, mb, "table b reopened");
    ev_close(&e);

    /* for writing again: the spill of the lost steps is dropped, nothing of it comes back */
    rc = ev_open(&e, dir, RILL_STORE_WRITE, &err);
    ok(rc == RILL_OK && ev_compare(&e, ma, mb) == 0,
       "reopened for writing: the same rows, the unsaved spill dropped");
    if (rc == RILL_OK)
        ev_close(&e);
    rill_table_free(ma);
    rill_table_free(mb);
}

/* ---- evict_after: rows unused for a while are deleted, a bounded part per checkpoint ---- */

enum { EA_COLD = 10000, EA_HOT = 10, EA_AFTER = 5, EA_STEPS = 40 };

/* step t of the evict_after run: step 1 touches the cold ids [0, EA_COLD), every step the hot
 * ones [EA_COLD, EA_COLD + EA_HOT), and steps from 30 on cold id 7 again */
static int ea_step(rill_store *s, rill_table *t, uint64_t step, rill_err *err)
{
    static uint64_t ids[EA_COLD + EA_HOT];
    size_t n = 0;
    if (step == 1)
        for (uint64_t i = 0; i < EA_COLD; i++)
            ids[n++] = i;
    for (uint64_t i = 0; i < EA_HOT; i++)
        ids[n++] = EA_COLD + i;
    if (step >= 30)
        ids[n++] = 7;
    rill_store_set_step(s, step);
    int rc = train_step(t, ids, n, step, NULL, err);
    return rc ? rc : rill_store_end_step(s, step, err);
}

static void test_evict_after(void)
{
    rill_err err;
    char da[256], db[256];
    in_tmp(da, sizeof da, "sweep-a");
    in_tmp(db, sizeof db, "sweep-b");
    rill_table_opts o = {.evict_after = EA_AFTER};
    rill_store *a, *b;
    rill_table *ta, *tb, *mem;
    int rc = open_store(&a, da, RILL_STORE_CREATE, 0, 0, &err) ||
             open_store(&b, db, RILL_STORE_CREATE, 0, 0, &err) ||
             rill_store_table(a, &ta, "emb", 1 << 20, 4, &SGD, 3, 0.05, &o, &err) ||
             rill_store_table(b, &tb, "emb", 1 << 20, 4, &SGD, 3, 0.05, &o, &err) ||
             rill_table_create(&mem, "emb", 1 << 20, 4, &SGD, 3, 0.05, &err);
    if (!ok(rc == RILL_OK, "two stores with a table of evict_after = %d", EA_AFTER)) {
        diag("%s", err.msg);
        return;
    }
    /* the same steps in both; b closed and reopened for writing after every checkpoint */
    uint64_t deleted_first = 0, rows_after = 0;
    size_t digests_differ = 0;
    for (uint64_t step = 1; step <= EA_STEPS && !rc; step++) {
        rc = ea_step(a, ta, step, &err) || ea_step(b, tb, step, &err);
        if (rc || step % 5)
            continue;
        rc = rill_store_checkpoint(a, NULL, NULL, &step, sizeof step, &err) ||
             rill_store_checkpoint(b, NULL, NULL, &step, sizeof step, &err);
        uint64_t d1 = 0, d2 = 1;
        rill_store_digest(a, &d1, &err);
        rill_store_digest(b, &d2, &err);
        digests_differ += d1 != d2;
        rill_table_stats st;
        rill_table_get_stats(ta, &st);
        if (step == 10)
            deleted_first = st.deleted;
        if (step == 25)
            rows_after = st.rows;
        rill_store_close(b);
        rill_table_free(tb);
        rc = rc || open_store(&b, db, RILL_STORE_WRITE, 0, 0, &err) ||
             rill_store_table(b, &tb, "emb", 1 << 20, 4, &SGD, 3, 0.05, &o, &err);
    }
    if (!ok(rc == RILL_OK, "%d steps, a checkpoint every 5", EA_STEPS))
        diag("%s", err.msg);
    ok(deleted_first > 0 && deleted_first < EA_COLD,
       "the first sweep (step 10) deletes a part of the %d cold rows (%llu)", EA_COLD,
       (unsigned long long)deleted_first);
    ok(rows_after == EA_HOT, "by step 25 only the %d hot rows are left (%llu)", EA_HOT,
       (unsigned long long)rows_after);
    ok(digests_differ == 0,
       "a store reopened after every checkpoint sweeps as one kept open (equal digests)");
    ok(rill_table_peek(ta, 3) == NULL && rill_table_peek(ta, EA_COLD) != NULL,
       "a swept row is gone, a hot row is there");
    /* cold id 7, swept, then used from step 30 on: a new row, from its initial values */
    uint64_t seven = 7;
    for (uint64_t step = 30; step <= EA_STEPS && !rc; step++)
        rc = train_step(mem, &seven, 1, step, NULL, &err);
    const float *x = rill_table_peek(ta, 7), *y = rill_table_peek(mem, 7);
    ok(rc == RILL_OK && x && y && memcmp(x, y, 4 * sizeof(float)) == 0,
       "a swept id used again is a new row, made from (seed, id) again");
    rill_store_close(a);
    rill_table_free(ta);
    rill_store_close(b);
    rill_table_free(tb);
    rc = open_store(&a, da, RILL_STORE_READ, 0, 0, &err) ||
         rill_store_table(a, &ta, "emb", 1 << 20, 4, &SGD, 3, 0.05, &o, &err);
    if (ok(rc == RILL_OK, "reopened read-only")) {
        rows_seen r = {.stride = 4};
        rill_table_each(ta, collect, &r, &err);
        ok(r.n == EA_HOT + 1 && r.ids[0] == 7 && r.ids[1] == EA_COLD,
           "it holds the hot rows and id 7 (%zu rows)", r.n);
        seen_free(&r);
        rill_store_close(a);
        rill_table_free(ta);
    }
    rill_table_free(mem);
}

/* ---- the map grows ---- */

static void test_map_growth(void)
{
    rill_err err;
    char dir[256];
    enum { ROWS = 60000, PER = 6000 };
    static const size_t caches[2] = {0, 1};
    for (int c = 0; c < 2; c++) {
        snprintf(dir, sizeof dir, "%s/grow%d", tmpdir, c);
        rill_store *s;
        rill_table *t, *mem;
        int rc = open_store(&s, dir, RILL_STORE_CREATE, caches[c], (size_t)1 << 20, &err) ||
                 rill_store_table(s, &t, "big", 1 << 20, 16, &SGD, 5, 0.05, NULL, &err) ||
                 rill_table_create(&mem, "big", 1 << 20, 16, &SGD, 5, 0.05, &err);
        if (!ok(rc == RILL_OK, "a store with a 1 MiB map, cache %s",
                caches[c] ? "of 1024 rows" : "unlimited")) {
            diag("%s", err.msg);
            return;
        }
        static uint64_t ids[PER];
        for (uint64_t step = 1; step <= ROWS / PER && !rc; step++) {
            for (size_t k = 0; k < PER; k++)
                ids[k] = (step - 1) * PER + k;
            rc = train_step(t, ids, PER, step, NULL, &err) ||
                 train_step(mem, ids, PER, step, NULL, &err) ||
                 rill_store_end_step(s, step, &err);
            if (!rc && step % 5 == 0)
                rc = rill_store_checkpoint(s, NULL, NULL, &step, sizeof step, &err);
        }
        if (!ok(rc == RILL_OK, "%d rows of 16 floats (about 5 MiB) written and checkpointed", ROWS))
            diag("%s", err.msg);
        rill_store_info info;
        rill_store_get_info(s, &info);
        ok(info.map_size > ((size_t)4 << 20) && info.used_bytes > ((size_t)4 << 20),
           "the map grew: %llu bytes used of a %llu-byte map", (unsigned long long)info.used_bytes,
           (unsigned long long)info.map_size);
        rill_table_stats st;
        rill_table_get_stats(t, &st);
        if (caches[c])
            ok(st.spilled > 0, "spills too grew the map (%llu rows spilled)",
               (unsigned long long)st.spilled);
        ok(rill_store_verify(s, &err) == RILL_OK, "verify passes");
        rill_store_close(s);
        rill_table_free(t);
        rc = open_store(&s, dir, RILL_STORE_READ, 0, 0, &err) ||
             rill_store_table(s, &t, "big", 1 << 20, 16, &SGD, 5, 0.05, NULL, &err);
        if (ok(rc == RILL_OK, "reopened read-only")) {
            check_each(t, mem, "grown map reopened");
            rill_store_close(s);
            rill_table_free(t);
        } else {
            diag("%s", err.msg);
        }
        rill_table_free(mem);
    }
}

/* ---- the checkpoint's caller values (rill_ckpt_put / rill_ckpt_get), no graph ---- */

typedef struct {
    unsigned char *big; /* 3 MiB: more than the 1 MiB map holds, so the map grows */
    size_t big_len;
    int calls;          /* how often put_all ran */
} ckpt_values;

static int put_values(void *ud, rill_ckpt *c, rill_err *err)
{
    ckpt_values *v = ud;
    v->calls++;
    rill_ckpt_part two[2] = {{"head-", 5}, {"tail", 4}};
    rill_ckpt_part big = {v->big, v->big_len};
    int rc = rill_ckpt_put(c, RILL_CKPT_DENSE, "w", two, 2);
    if (!rc)
        rc = rill_ckpt_put(c, RILL_CKPT_STATE, "node:n", &big, 1);
    return rc; /* as it is: MDB_MAP_FULL makes the store grow and run this again */
}

typedef struct {
    const ckpt_values *want;
    bool w_ok, big_ok, absent_eof;
} ckpt_check;

static int get_values(void *ud, rill_ckpt *c, rill_err *err)
{
    ckpt_check *k = ud;
    const void *val;
    size_t len;
    int rc = rill_ckpt_get(c, RILL_CKPT_DENSE, "w", &val, &len, "w", err);
    k->w_ok = rc == RILL_OK && len == 9 && memcmp(val, "head-tail", 9) == 0;
    rc = rill_ckpt_get(c, RILL_CKPT_STATE, "node:n", &val, &len, "node", err);
    k->big_ok = rc == RILL_OK && len == k->want->big_len && memcmp(val, k->want->big, len) == 0;
    /* the spaces are apart: "w" is not in the state space */
    k->absent_eof = rill_ckpt_get(c, RILL_CKPT_STATE, "w", &val, &len, "w", err) == RILL_EOF &&
                    rill_ckpt_get(c, RILL_CKPT_DENSE, "nothing", &val, &len, "x", err) == RILL_EOF;
    return RILL_OK;
}

static void test_ckpt_values(void)
{
    rill_err err = {0};
    char dir[256];
    in_tmp(dir, sizeof dir, "values");
    ckpt_values v = {.big_len = (size_t)3 << 20};
    v.big = malloc(v.big_len);
    for (size_t i = 0; i < v.big_len; i++)
        v.big[i] = (unsigned char)mix(i);
    rill_store *s;
    int rc = open_store(&s, dir, RILL_STORE_CREATE, 0, (size_t)1 << 20, &err);
    if (!rc)
        rc = rill_store_checkpoint(s, put_values, &v, "run", 3, &err);
    ok(rc == RILL_OK && v.calls >= 2, "a checkpoint writes the caller's values; a full map grows "
       "and runs put_all again (%d calls)%s%s", v.calls, rc ? ": " : "", rc ? err.msg : "");
    if (!rc)
        rill_store_close(s);
    rc = open_store(&s, dir, RILL_STORE_READ, 0, 0, &err);
    ckpt_check k = {.want = &v};
    void *state = NULL;
    size_t len = 0;
    if (!rc)
        rc = rill_store_restore(s, get_values, &k, &state, &len, &err);
    ok(rc == RILL_OK && len == 3 && memcmp(state, "run", 3) == 0,
       "restore reads the run state back%s%s", rc ? ": " : "", rc ? err.msg : "");
    ok(k.w_ok && k.big_ok, "and get_all reads each value as put, parts joined (%s, %s)",
       k.w_ok ? "2 parts" : "2 parts wrong", k.big_ok ? "3 MiB" : "3 MiB wrong");
    ok(k.absent_eof, "an absent key, or one of the other space, is RILL_EOF");
    free(state);
    if (!rc)
        rill_store_close(s);
    free(v.big);
}

/* ---- the run's named values ---- */

static bool meta_is(rill_store *s, const char *key, const char *want)
{
    rill_err err;
    void *v = NULL;
    size_t len = 0;
    int rc = rill_store_get_meta(s, key, &v, &len, &err);
    bool same = rc == RILL_OK && len == strlen(want) && memcmp(v, want, len) == 0 &&
                ((char *)v)[len] == 0;
    if (!same)
        diag("meta '%s': rc %d, '%.*s' (wanted '%s')", key, rc, v ? (int)len : 0,
             v ? (char *)v : "", want);
    free(v);
    return same;
}

static bool meta_absent(rill_store *s, const char *key)
{
    rill_err err;
    void *v = NULL;
    size_t len = 0;
    int rc = rill_store_get_meta(s, key, &v, &len, &err);
    free(v);
    return rc == RILL_EOF && v == NULL;
}

static void test_meta(void)
{
    rill_err err;
    char dir[256];
    in_tmp(dir, sizeof dir, "meta");
    rill_store *s;
    int rc = open_store(&s, dir, RILL_STORE_CREATE, 0, 0, &err);
    if (!ok(rc == RILL_OK, "a store for named values")) {
        diag("%s", err.msg);
        return;
    }
    rc = rill_store_set_meta(s, "pipeline", "old", 3, &err) ||
         rill_store_set_meta(s, "pipeline", "print(1)", 8, &err) ||
         rill_store_set_meta(s, "settings", "return {}", 9, &err);
    ok(rc == RILL_OK && meta_is(s, "pipeline", "print(1)") && meta_absent(s, "nothing"),
       "set, set again, get back before any commit; an absent key is RILL_EOF");
    ok(rill_store_commit_meta(s, &err) == RILL_OK, "commit");
    rill_store_set_meta(s, "unsaved", "x", 1, &err);
    rill_store_close(s);

    rc = open_store(&s, dir, RILL_STORE_WRITE, 0, 0, &err);
    if (!ok(rc == RILL_OK, "reopened for writing")) {
        diag("%s", err.msg);
        return;
    }
    ok(meta_is(s, "pipeline", "print(1)") && meta_is(s, "settings", "return {}"),
       "the committed values are there, 0-terminated");
    ok(meta_absent(s, "unsaved"), "a value set but neither committed nor checkpointed is not");
    rc = rill_store_set_meta(s, "signature", "sig", 3, &err) ||
         rill_store_checkpoint(s, NULL, NULL, "st", 2, &err);
    ok(rc == RILL_OK, "a value set, then a checkpoint");
    rill_store_close(s);

    rc = open_store(&s, dir, RILL_STORE_READ, 0, 0, &err);
    if (!ok(rc == RILL_OK, "reopened read-only")) {
        diag("%s", err.msg);
        return;
    }
    ok(meta_is(s, "signature", "sig") && meta_is(s, "pipeline", "print(1)"),
       "the checkpoint wrote the value set before it");
    rc = rill_store_set_meta(s, "x", "y", 1, &err) == RILL_OK
             ? rill_store_commit_meta(s, &err)
             : RILL_OK;
    ok(rc != RILL_OK && has(err.msg, "read-only"), "commit to a read-only store: %s", err.msg);
    rill_store_close(s);
}

/* ---- one writer ---- */

/* In a child: opens dir in mode and reports through the pipe "OK" or the error message; exits
 * at once (no atexit handlers: the sanitizers' leak check belongs to the parent). */
static int child_open(const char *dir, int mode, char *msg, size_t cap)
{
    int fds[2];
    if (pipe(fds) != 0)
        return -1;
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        close(fds[0]);
        rill_err err = {0};
        rill_store *s;
        int rc = open_store(&s, dir, mode, 0, 0, &err);
        char out[1100];
        int len = snprintf(out, sizeof out, "%s", rc ? err.msg : "OK");
        if (!rc)
            rill_store_close(s);
        ssize_t w = write(fds[1], out, (size_t)len);
        _exit(w == len ? (rc ? 1 : 0) : 3);
    }
    close(fds[1]);
    size_t got = 0;
    ssize_t r;
    while (got + 1 < cap && (r = read(fds[0], msg + got, cap - 1 - got)) > 0)
        got += (size_t)r;
    msg[got] = 0;
    close(fds[0]);
    int status;
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
        return -1;
    return WEXITSTATUS(status);
}

static void test_one_writer(void)
{
    rill_err err;
    char dir[256], msg[1200], pid[64];
    in_tmp(dir, sizeof dir, "locked");
    rill_store *s;
    rill_table *t;
    int rc = open_store(&s, dir, RILL_STORE_CREATE, 0, 0, &err) ||
             rill_store_table(s, &t, "emb", 100, 2, &SGD, 1, 0.05, NULL, &err);
    uint64_t id = 3;
    rc = rc || train_step(t, &id, 1, 1, NULL, &err) ||
         rill_store_checkpoint(s, NULL, NULL, "st", 2, &err);
    if (!ok(rc == RILL_OK, "a store open for writing, with a checkpoint")) {
        diag("%s", err.msg);
        return;
    }
    uint64_t dg = 0, dg2 = 1;
    rill_store_digest(s, &dg, &err);
    snprintf(pid, sizeof pid, "(pid %ld", (long)getpid());
    int st = child_open(dir, RILL_STORE_WRITE, msg, sizeof msg);
    ok(st == 1 && has(msg, "being written by another process") && has(msg, pid),
       "another process opening it for writing is refused, naming the writer: %s", msg);
    snprintf(pid, sizeof pid, "(pid %ld)", (long)getpid());
    ok(has(msg, pid), "the message's parentheses close after the pid");
    st = child_open(dir, RILL_STORE_CREATE, msg, sizeof msg);
    ok(st == 1 && has(msg, "being written by another process"),
       "another process creating a store there is refused: %s", msg);
    rill_store_digest(s, &dg2, &err);
    ok(dg2 == dg && rill_table_peek(t, 3) != NULL,
       "the refused creation left the store as it was");
    st = child_open(dir, RILL_STORE_READ, msg, sizeof msg);
    ok(st == 0, "another process may open it read-only (%s)", msg);
    rill_store_close(s);
    rill_table_free(t);
    st = child_open(dir, RILL_STORE_WRITE, msg, sizeof msg);
    ok(st == 0, "once the writer has closed it, another process may write (%s)", msg);
    rc = open_store(&s, dir, RILL_STORE_WRITE, 0, 0, &err);
    ok(rc == RILL_OK, "and so may this one again");
    if (!rc)
        rill_store_close(s);
}

/* ---- damaged and foreign files ---- */

static int write_file(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    size_t w = n ? fwrite(data, 1, n, f) : 0;
    return fclose(f) == 0 && w == n ? 0 : -1;
}

static void *read_file(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    struct stat sb;
    void *p = fstat(fileno(f), &sb) == 0 ? malloc((size_t)sb.st_size + 1) : NULL;
    *n = p ? fread(p, 1, (size_t)sb.st_size, f) : 0;
    fclose(f);
    return p;
}

/* opens dir in each of READ and WRITE: both must fail, saying every needle */
static void refused(const char *dir, const char *what, const char *n1, const char *n2)
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

static void test_bad_stores(void)
{
    rill_err err;
    char dir[256], path[300], good[300];
    in_tmp(dir, sizeof dir, "no/such/run");
    refused(dir, "a missing directory", "has no store (store.mdb)", NULL);
    in_tmp(dir, sizeof dir, "bad");
    mkdir(dir, 0755);
    refused(dir, "a directory without store.mdb", "has no store (store.mdb)", NULL);

    snprintf(path, sizeof path, "%s/store.mdb", dir);
    snprintf(good, sizeof good, "%s/basic/store.mdb", tmpdir);
    size_t n = 0;
    unsigned char *real = read_file(good, &n);
    if (!ok(real && n > 8192, "a real store to cut (%zu bytes)", n)) {
        free(real);
        return;
    }
    write_file(path, real, 4096);
    refused(dir, "the first 4096 bytes of a store", "4096 bytes is too short for a store",
            "truncated");
    write_file(path, "", 0);
    refused(dir, "an empty store.mdb", "0 bytes is too short for a store", NULL);
    unsigned char *noise = malloc(100000);
    for (size_t i = 0; i < 100000; i++)
        noise[i] = (unsigned char)(mix(i) >> 13);
    write_file(path, noise, 100000);
    refused(dir, "100,000 random bytes", "is not an LMDB store", NULL);
    size_t m = 0;
    unsigned char *after = read_file(path, &m);
    ok(after && m == 100000 && memcmp(after, noise, m) == 0,
       "the refused file is left as it was");
    free(after);
    free(noise);
    /* a real store with its meta pages torn: zeroes over the first 8 KiB */
    memset(real, 0, 8192);
    write_file(path, real, n);
    refused(dir, "a store with its first 8 KiB zeroed", "is not an LMDB store", NULL);
    free(real);

    /* an LMDB file of someone else's */
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    unlink(path);
    int rc = mdb_env_create(&env);
    rc = rc || mdb_env_open(env, path, MDB_NOSUBDIR, 0644) || mdb_txn_begin(env, NULL, 0, &txn);
    if (!rc) {
        MDB_val k = {5, (void *)"hello"}, v = {5, (void *)"world"};
        rc = mdb_dbi_open(txn, NULL, 0, &dbi) || mdb_put(txn, dbi, &k, &v, 0) ||
             mdb_txn_commit(txn);
    }
    mdb_env_close(env);
    ok(rc == 0, "an LMDB file with one key in its unnamed database");
    refused(dir, "a foreign LMDB file", "is an LMDB file but not a Rill store", NULL);

    /* a Rill store of another format version */
    rill_store *s;
    in_tmp(dir, sizeof dir, "version");
    rc = open_store(&s, dir, RILL_STORE_CREATE, 0, 0, &err) ||
         rill_store_set_meta(s, "format", "rill-store 99", 13, &err) ||
         rill_store_commit_meta(s, &err);
    ok(rc == RILL_OK, "a store claiming format 'rill-store 99'");
    if (!rc)
        rill_store_close(s);
    refused(dir, "another format", "not a store this Rill can read", "rill-store 99");
}

/* ---- rows damaged behind the store's back ---- */

/* Puts one value under id into the table database t:emb of dir/store.mdb, with LMDB itself. */
static int raw_put(const char *dir, uint64_t id, const void *val, size_t len)
{
    char path[300];
    snprintf(path, sizeof path, "%s/store.mdb", dir);
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    int rc = mdb_env_create(&env);
    if (rc)
        return rc;
    rc = mdb_env_set_maxdbs(env, 16) || mdb_env_open(env, path, MDB_NOSUBDIR, 0644) ||
         mdb_txn_begin(env, NULL, 0, &txn);
    if (!rc) {
        MDB_val k = {sizeof id, &id}, v = {len, (void *)val};
        rc = mdb_dbi_open(txn, "t:emb", MDB_INTEGERKEY, &dbi) || mdb_put(txn, dbi, &k, &v, 0);
        rc = rc ? (mdb_txn_abort(txn), rc) : mdb_txn_commit(txn);
    }
    mdb_env_close(env);
    return rc;
}

/* Flips one bit of the first row of t:emb in dir/store.mdb, with LMDB itself; *id gets its id. */
static int raw_flip(const char *dir, uint64_t *id)
{
    char path[300];
    snprintf(path, sizeof path, "%s/store.mdb", dir);
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    MDB_cursor *cur;
    int rc = mdb_env_create(&env);
    if (rc)
        return rc;
    rc = mdb_env_set_maxdbs(env, 16) || mdb_env_open(env, path, MDB_NOSUBDIR, 0644) ||
         mdb_txn_begin(env, NULL, 0, &txn);
    if (!rc) {
        MDB_val k, v;
        unsigned char buf[256];
        rc = mdb_dbi_open(txn, "t:emb", MDB_INTEGERKEY, &dbi) || mdb_cursor_open(txn, dbi, &cur);
        if (!rc) {
            rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST) || v.mv_size > sizeof buf;
            mdb_cursor_close(cur);
        }
        if (!rc) {
            memcpy(id, k.mv_data, sizeof *id);
            memcpy(buf, v.mv_data, v.mv_size);
            buf[5] ^= 0x10; /* a bit of the second float */
            v.mv_data = buf;
            rc = mdb_put(txn, dbi, &k, &v, 0);
        }
        rc = rc ? (mdb_txn_abort(txn), rc) : mdb_txn_commit(txn);
    }
    mdb_env_close(env);
    return rc;
}

static void test_damaged_rows(void)
{
    rill_err err;
    char src[256], dir[256], cmd[700];
    in_tmp(src, sizeof src, "basic-copy");
    static const char *const cases[3] = {"a 3-byte row", "a row holding NaN", "a flipped bit"};
    for (int c = 0; c < 3; c++) {
        snprintf(dir, sizeof dir, "%s/damaged%d", tmpdir, c);
        snprintf(cmd, sizeof cmd, "cp -r '%s' '%s'", src, dir);
        /* 4 floats, then the last-used step and the use count (two uint64), then the seal: a
         * CRC32C of the key and the 32 bytes before it */
        unsigned char row[36];
        float f[8] = {0.1f, 0.2f, NAN, 0.4f, 0, 0, 0, 0};
        uint64_t key = 3, flipped = 0;
        memcpy(row, f, 32);
        uint32_t seal = rill_crc32c(rill_crc32c(0, &key, sizeof key), row, 32);
        memcpy(row + 32, &seal, sizeof seal);
        int rc = system(cmd) != 0 || (c == 0   ? raw_put(dir, 3, "abc", 3)
                                      : c == 1 ? raw_put(dir, 3, row, sizeof row)
                                               : raw_flip(dir, &flipped));
        if (!ok(rc == 0, "a copy of a store with %s for id 3, put there with LMDB", cases[c]))
            continue;
        rill_store *s;
        rill_table *t;
        rc = open_store(&s, dir, RILL_STORE_READ, 0, 0, &err) ||
             rill_store_table(s, &t, "emb", 1000, 4, &SGD, 7, 0.05, NULL, &err);
        if (!ok(rc == RILL_OK, "%s: it opens", cases[c])) {
            diag("%s", err.msg);
            continue;
        }
        rc = rill_store_verify(s, &err);
        ok(rc == RILL_ESTORE && has(err.msg, "table 'emb'") && has(err.msg, dir) &&
               has(err.msg, c == 0   ? "3-byte row (expected 8 and 36)"
                            : c == 1 ? "row 3 holds a non-finite value"
                                     : "fails its checksum"),
           "%s: verify names the file, the table and the fault: %s", cases[c], err.msg);
        uint64_t d;
        if (c == 2)
            ok(rill_store_digest(s, &d, &err) == RILL_ESTORE && has(err.msg, "fails its checksum"),
               "%s: the digest refuses it: %s", cases[c], err.msg);
        if (c != 1) {
            uint64_t id = c == 0 ? 3 : flipped;
            const float *row_read;
            char want[80];
            snprintf(want, sizeof want, c == 0 ? "row 3 holds 3 bytes, expected 36"
                                               : "row %llu fails its checksum",
                     (unsigned long long)id);
            rc = rill_table_read(t, id, &row_read, &err);
            ok(rc == RILL_ESTORE && has(err.msg, want) && has(err.msg, dir),
               "%s: reading it for evaluation is an error: %s", cases[c], err.msg);
            rill_err fault;
            ok(rill_table_peek(t, id) == NULL && rill_table_fault(t, &fault) == RILL_ESTORE &&
                   has(fault.msg, want),
               "%s: peek reads it as absent and keeps the fault", cases[c]);
            float *r;
            rc = rill_table_lookup(t, &id, 1, &r, &err);
            ok(rc == RILL_ESTORE && has(err.msg, want),
               "%s: a lookup refuses it: %s", cases[c], err.msg);
        }
        rill_store_close(s);
        rill_table_free(t);
    }
}

/* ---- digest and verify before any table is opened (rill inspect --digest, --check) ---- */

/* rill_store_digest and rill_store_verify each read in a transaction of their own while
 * rill_store_list, which they call, reads in another, and both open the tables' databases:
 * LMDB allows mdb_dbi_open in one transaction at a time. Under LeakSanitizer the names it
 * copies leak; checked in a child, so that the leak check at exit stays meaningful. */
/* ---- truncated and damaged files, stores of other runs (the hardening issue) ---- */

/* A closed store of `rows` prefilled rows of dim 16 and one checkpoint, in dir. */
static int make_filled(const char *dir, int64_t rows, rill_err *err)
{
    rill_store *s;
    rill_table *t = NULL;
    rill_table_opts o = {.prefill = true};
    int rc = open_store(&s, dir, RILL_STORE_CREATE, 0, 0, err);
    if (rc)
        return rc;
    rc = rill_store_table(s, &t, "emb", rows, 16, &SGD, 7, 0.05, &o, err);
    if (!rc)
        rc = rill_store_checkpoint(s, NULL, NULL, "state", 5, err);
    rill_store_close(s);
    if (t)
        rill_table_free(t); /* a store's tables are the graph's to free; here, the test's */
    return rc;
}

static int copy_file(const char *from, const char *to)
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

/* Runs every read a command makes of a store (open, verify, digest, every row, the checkpoint)
 * in a child, so that a crash is a failed test, not a dead test program. Returns the child's
 * status: 0 if every call returned (and *errors gets how many returned an error), else -1;
 * first holds the first error. */
static int read_everything(const char *dir, int *errors, char *first, size_t cap)
{
    int fds[2];
    if (pipe(fds))
        return -1;
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        rill_err err = {0}, e1 = {0};
        int n = 0;
        rill_store *s;
        rill_table *t = NULL;
        if (open_store(&s, dir, RILL_STORE_READ, 0, 0, &err) == RILL_OK) {
            uint64_t d;
            if (rill_store_verify(s, &err) && ++n == 1)
                e1 = err;
            if (rill_store_digest(s, &d, &err) && ++n == 1)
                e1 = err;
            void *st;
            size_t len;
            if (rill_store_restore(s, NULL, NULL, &st, &len, &err) < 0 && ++n == 1)
                e1 = err;
            if (rill_store_table(s, &t, "emb", 30000, 16, &SGD, 7, 0.05, NULL, &err) && ++n == 1)
                e1 = err;
            for (uint64_t id = 0; t && id < 30000; id++) {
                const float *row;
                if (rill_table_read(t, id, &row, &err)) {
                    if (++n == 1)
                        e1 = err;
                    break;
                }
            }
            rill_store_close(s);
            rill_table_free(t);
        } else {
            n = 1;
            e1 = err;
        }
        dprintf(fds[1], "%d\n%s", n, e1.msg);
        _exit(0);
    }
    close(fds[1]);
    char buf[1200] = "";
    ssize_t got = 0, r;
    while ((r = read(fds[0], buf + got, sizeof buf - 1 - (size_t)got)) > 0)
        got += r;
    buf[got > 0 ? got : 0] = 0;
    close(fds[0]);
    int status;
    waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        snprintf(first, cap, "the child died: %s %d", WIFSIGNALED(status) ? "signal" : "exit",
                 WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
        return -1;
    }
    char *nl = strchr(buf, '\n');
    *errors = atoi(buf);
    snprintf(first, cap, "%s", nl ? nl + 1 : "");
    return 0;
}

static void test_truncated_and_damaged(void)
{
    rill_err err = {0};
    char good[256], dir[256], path[300], gpath[300], first[1100];
    in_tmp(good, sizeof good, "filled");
    if (!ok(make_filled(good, 30000, &err) == RILL_OK, "a store of 30,000 rows")) {
        diag("%s", err.msg);
        return;
    }
    snprintf(gpath, sizeof gpath, "%s/store.mdb", good);
    struct stat sb;
    stat(gpath, &sb);
    int errors = 0;

    /* cut to 2/3: every command once died of SIGBUS */
    in_tmp(dir, sizeof dir, "truncated");
    mkdir(dir, 0755);
    snprintf(path, sizeof path, "%s/store.mdb", dir);
    copy_file(gpath, path);
    ok(truncate(path, sb.st_size * 2 / 3) == 0, "the copy cut to 2/3 (%lld of %lld bytes)",
       (long long)(sb.st_size * 2 / 3), (long long)sb.st_size);
    char want[120];
    snprintf(want, sizeof want, "truncated: %lld bytes, expected at least %lld",
             (long long)(sb.st_size * 2 / 3), (long long)sb.st_size);
    refused(dir, "a truncated store", want, path);

    /* 40 pages zeroed in the middle: LMDB's assertions once aborted the process */
    in_tmp(dir, sizeof dir, "zeroed");
    mkdir(dir, 0755);
    snprintf(path, sizeof path, "%s/store.mdb", dir);
    copy_file(gpath, path);
    FILE *f = fopen(path, "r+b");
    static char zero[40 * 4096];
    bool wrote = f && fseek(f, (sb.st_size / 2) & ~4095L, SEEK_SET) == 0 &&
                 fwrite(zero, 1, sizeof zero, f) == sizeof zero;
    if (f)
        fclose(f);
    int rc = wrote ? read_everything(dir, &errors, first, sizeof first) : -1;
    ok(rc == 0 && errors > 0 && has(first, path) && has(first, "damaged"),
       "40 zeroed pages: every read returns, %d of them an error naming the file: %s", errors,
       first);

    /* 200 bits flipped at random (past the two meta pages) */
    in_tmp(dir, sizeof dir, "flipped");
    mkdir(dir, 0755);
    snprintf(path, sizeof path, "%s/store.mdb", dir);
    copy_file(gpath, path);
    f = fopen(path, "r+b");
    uint64_t x = 99;
    for (int i = 0; f && i < 200; i++) {
        x = mix(x);
        long at = 8192 + (long)(x % (uint64_t)(sb.st_size - 8192));
        fseek(f, at, SEEK_SET);
        int c = fgetc(f);
        fseek(f, at, SEEK_SET);
        fputc(c ^ (1 << (x >> 61)), f);
    }
    if (f)
        fclose(f);
    rc = read_everything(dir, &errors, first, sizeof first);
    ok(rc == 0 && errors > 0 && has(first, path),
       "200 flipped bits: every read returns, %d of them an error naming the file: %s", errors,
       first);
    rc = read_everything(good, &errors, first, sizeof first);
    ok(rc == 0 && errors == 0, "the undamaged store reads back without an error (%s)", first);
}

static void test_run_identity(void)
{
    rill_err err = {0};
    char a[256], b[256], pa[300], pb[300], ida[300];
    in_tmp(a, sizeof a, "run-a");
    in_tmp(b, sizeof b, "run-b");
    if (make_filled(a, 100, &err) || make_filled(b, 100, &err)) {
        ok(0, "two runs: %s", err.msg);
        return;
    }
    rill_store *s;
    char id_a[40] = "", id_b[40] = "";
    if (open_store(&s, a, RILL_STORE_READ, 0, 0, &err) == RILL_OK) {
        snprintf(id_a, sizeof id_a, "%s", rill_store_run_id(s));
        rill_store_close(s);
    }
    if (open_store(&s, b, RILL_STORE_READ, 0, 0, &err) == RILL_OK) {
        snprintf(id_b, sizeof id_b, "%s", rill_store_run_id(s));
        rill_store_close(s);
    }
    snprintf(ida, sizeof ida, "%s/run.id", a);
    FILE *f = fopen(ida, "r");
    char line[64] = "";
    if (f) {
        if (!fgets(line, sizeof line, f))
            line[0] = 0;
        fclose(f);
    }
    ok(strlen(id_a) == 32 && strlen(id_b) == 32 && strcmp(id_a, id_b) != 0 &&
           strncmp(line, id_a, 32) == 0,
       "each run has its own identity, in the store and in run.id (%s, %s)", id_a, id_b);
    snprintf(pa, sizeof pa, "%s/store.mdb", a);
    snprintf(pb, sizeof pb, "%s/store.mdb", b);
    copy_file(pa, pb);
    char want[400];
    snprintf(want, sizeof want, "belongs to run %s, but %s/run.id says this directory is run %s",
             id_a, b, id_b);
    refused(b, "run a's store copied into run b", want, "copied in from another run");
    /* a store of an earlier build has no identity: read as it is, given one when resumed */
    unlink(ida);
    ok(open_store(&s, a, RILL_STORE_READ, 0, 0, &err) == RILL_OK && access(ida, F_OK) != 0,
       "without run.id the store opens to read, and nothing is written into the run");
    rill_store_close(s);
    ok(open_store(&s, a, RILL_STORE_WRITE, 0, 0, &err) == RILL_OK && access(ida, F_OK) == 0,
       "opened to write, run.id is written again");
    rill_store_close(s);
}

static void test_digest_leak(void)
{
#ifdef HAVE_LSAN
    char dir[256];
    in_tmp(dir, sizeof dir, "basic-copy");
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        rill_err err;
        rill_store *s;
        uint64_t d;
        int rc = open_store(&s, dir, RILL_STORE_READ, 0, 0, &err) || rill_store_digest(s, &d, &err) ||
                 rill_store_verify(s, &err);
        if (!rc)
            rill_store_close(s);
        _exit(rc ? 2 : __lsan_do_recoverable_leak_check() ? 1 : 0);
    }
    int status = -1;
    if (pid > 0)
        waitpid(pid, &status, 0);
    ok(pid > 0 && WIFEXITED(status) && WEXITSTATUS(status) != 2,
       "a child digests and verifies the copy, no table opened");
    ok(WIFEXITED(status) && WEXITSTATUS(status) == 0, "and LeakSanitizer finds no leak");
#else
    tap_run++;
    printf("ok %d # SKIP not built with LeakSanitizer (make check)\n", tap_run);
#endif
}

/* ---- a table of another shape ---- */

static void test_other_graph(void)
{
    rill_err err;
    char dir[256];
    in_tmp(dir, sizeof dir, "basic");
    static const int modes[2] = {RILL_STORE_WRITE, RILL_STORE_READ};
    for (int m = 0; m < 2; m++) {
        const char *how = m ? "read-only" : "for writing";
        rill_store *s;
        rill_table *t = NULL;
        int rc = open_store(&s, dir, modes[m], 0, 0, &err);
        if (!ok(rc == RILL_OK, "the basic store, %s", how)) {
            diag("%s", err.msg);
            return;
        }
        rc = rill_store_table(s, &t, "emb", 1000, 8, &SGD, 7, 0.05, NULL, &err);
        ok(rc != RILL_OK && has(err.msg, "table 'emb'") &&
               has(err.msg, "the store belongs to another graph"),
           "%s: 'emb' of dim 8 instead of 4: %s", how, err.msg);
        rc = rill_store_table(s, &t, "emb", 1000, 4, &ROWWISE, 7, 0.05, NULL, &err);
        ok(rc != RILL_OK && has(err.msg, "the store belongs to another graph"),
           "%s: 'emb' with row-wise Adagrad instead of SGD: %s", how, err.msg);
        rc = rill_store_table(s, &t, "emb", 2000, 4, &SGD, 7, 0.05, NULL, &err);
        ok(rc != RILL_OK && has(err.msg, "the store belongs to another graph"),
           "%s: 'emb' of 2000 rows instead of 1000: %s", how, err.msg);
        if (m) {
            rc = rill_store_table(s, &t, "nosuch", 1000, 4, &SGD, 7, 0.05, NULL, &err);
            ok(rc != RILL_OK && has(err.msg, "has no table 'nosuch'"),
               "%s: a table the store lacks: %s", how, err.msg);
        }
        rc = rill_store_table(s, &t, "emb", 1000, 4, &SGD, 7, 0.05, NULL, &err);
        ok(rc == RILL_OK && t && rill_table_peek(t, 3) != NULL,
           "%s: after the refusals, the right shape opens", how);
        rill_store_close(s);
        rill_table_free(t);
    }
}

/* ---- admission ---- */

static void test_admission(void)
{
    rill_err err;
    char dir[256];
    in_tmp(dir, sizeof dir, "admit");
    rill_store *s;
    rill_table *t, *mem;
    rill_table_opts o = {.admit = 3};
    int rc = open_store(&s, dir, RILL_STORE_CREATE, 0, 0, &err) ||
             rill_store_table(s, &t, "adm", 100, 4, &SGD, 9, 0.05, &o, &err) ||
             rill_table_create(&mem, "adm", 100, 4, &SGD, 9, 0.05, &err);
    if (!ok(rc == RILL_OK, "a table with admit = 3")) {
        diag("%s", err.msg);
        return;
    }
    bool nulls = true;
    float *row = NULL;
    rill_table_stats st;
    for (uint64_t step = 1; step <= 2; step++) {
        uint64_t id = 5;
        float *rows[1];
        rc = rill_table_lookup(t, &id, 1, rows, &err);
        nulls = nulls && rc == RILL_OK && rows[0] == NULL && rill_table_peek(t, 5) == NULL;
        float g[4] = {1, 1, 1, 1};
        rill_table_stage(t, 1, &id, rows, g); /* a row not admitted is not trained */
        rill_table_apply(t, 1.0, 1.0, step);
        if (step == 1)
            rill_table_get_stats(t, &st);
        rill_store_end_step(s, step, &err);
    }
    ok(nulls, "id 5 reads as NULL in its first two steps");
    ok(st.pending == 1 && st.rows == 0 && st.created == 0,
       "after the first: 1 pending, no row (%llu, %llu)", (unsigned long long)st.pending,
       (unsigned long long)st.rows);
    uint64_t ids[2] = {5, 6};
    float *rows[2];
    rc = rill_table_lookup(t, ids, 2, rows, &err);
    const float *want = NULL;
    if (rc == RILL_OK && rill_table_lookup(mem, ids, 1, &row, &err) == RILL_OK)
        want = row;
    ok(rc == RILL_OK && rows[0] && want && memcmp(rows[0], want, 4 * sizeof(float)) == 0,
       "in its third step it gets a row, with the initial values of (seed, 5)");
    ok(rows[1] == NULL, "id 6, first seen in that step, does not");
    rill_table_get_stats(t, &st);
    ok(st.rows == 1 && st.created == 1 && st.pending == 1, "1 row, 1 pending (%llu, %llu)",
       (unsigned long long)st.rows, (unsigned long long)st.pending);
    rill_store_end_step(s, 3, &err);
    rc = rill_store_checkpoint(s, NULL, NULL, "st", 2, &err);
    rill_store_close(s);
    rill_table_free(t);
    rc = rc || open_store(&s, dir, RILL_STORE_READ, 0, 0, &err) ||
         rill_store_table(s, &t, "adm", 100, 4, &SGD, 9, 0.05, &o, &err);
    if (ok(rc == RILL_OK, "checkpointed and reopened")) {
        ok(rill_table_peek(t, 5) != NULL && rill_table_peek(t, 6) == NULL,
           "the admitted row is stored, the pending id is not");
        rill_store_close(s);
        rill_table_free(t);
    }
    rill_table_free(mem);
}

/* ---- dense parameters through a graph ---- */

static rill_graph *small_graph(const rill_schema *sc, const char *tower, rill_store *s,
                               rill_err *err)
{
    rill_graph *g;
    if (rill_graph_create(&g, sc, err)) {
        rill_store_close(s);
        return NULL;
    }
    rill_node *ids = gt_add(g, "encode_hash", "ids", NULL, 0, "fields={'C1','C2'},buckets=100",
                            err);
    rill_node *emb = ids ? gt_add(g, "embed", "emb", &ids, 1, "dim=3", err) : NULL;
    rill_node *counts = gt_add(g, "encode_log", "counts", NULL, 0, "fields={'I1','I2'}", err);
    rill_node *in[2] = {emb, counts};
    rill_node *top = emb && counts ? gt_add(g, "tower", "top", in, 2, tower, err) : NULL;
    rill_node *loss = top ? gt_add(g, "loss_bce", "click", &top, 1, NULL, err) : NULL;
    if (!loss) {
        rill_store_close(s);
        rill_graph_free(g);
        return NULL;
    }
    if (rill_graph_build_on(g, 1, s, err)) { /* takes the store over, also on failure */
        rill_graph_free(g);
        return NULL;
    }
    return g;
}

static void test_dense(void)
{
    rill_err err;
    rill_schema sc;
    if (!ok(rill_schema_criteo(&sc, &err) == RILL_OK, "the Criteo schema"))
        return;
    char dir[256];
    in_tmp(dir, sizeof dir, "dense");
    rill_store *s;
    rill_graph *g = NULL;
    const char *tower = "sizes={4},norm='batch'";
    int rc = open_store(&s, dir, RILL_STORE_CREATE, 0, 0, &err);
    if (!rc)
        g = small_graph(&sc, tower, s, &err);
    if (!ok(g != NULL, "a graph (embed, tower with batch norm, loss) built on a new store")) {
        diag("%s", err.msg);
        rill_schema_free(&sc);
        return;
    }
    size_t total = 0;
    for (int p = 0; p < g->nparams; p++)
        total += g->params[p]->n * (g->params[p]->trainable ? 3 : 1);
    float *want = malloc(total * sizeof *want);
    size_t k = 0;
    for (int p = 0; p < g->nparams; p++) {
        rill_param *q = g->params[p];
        for (size_t i = 0; i < q->n; i++) {
            q->data[i] = want[k++] = (float)p + 0.001f * (float)i;
            if (q->trainable) {
                q->m[i] = want[k++] = -(float)p - 0.5f;
                q->v[i] = want[k++] = 0.25f * (float)i;
            }
        }
    }
    rc = rill_checkpoint_write(g->store, g, "st", 2, &err);
    ok(rc == RILL_OK, "checkpoint %d dense parameters (%zu floats with Adam's state)",
       g->nparams, total);
    rill_graph_free(g);

    g = NULL;
    rc = open_store(&s, dir, RILL_STORE_READ, 0, 0, &err);
    if (!rc)
        g = small_graph(&sc, tower, s, &err);
    void *state = NULL;
    size_t len = 0;
    rc = g ? rill_checkpoint_read(g->store, g, &state, &len, &err) : -1;
    free(state);
    size_t same = 0;
    k = 0;
    for (int p = 0; g && p < g->nparams; p++) {
        rill_param *q = g->params[p];
        for (size_t i = 0; i < q->n; i++) {
            same += q->data[i] == want[k++];
            if (q->trainable) {
                same += q->m[i] == want[k++];
                same += q->v[i] == want[k++];
            }
        }
    }
    ok(rc == RILL_OK && same == total,
       "a new graph on the reopened store restores every value and Adam's m and v (%zu of %zu)",
       same, total);
    if (g)
        rill_graph_free(g);
    free(want);

    g = NULL;
    rc = open_store(&s, dir, RILL_STORE_READ, 0, 0, &err);
    if (!rc)
        g = small_graph(&sc, "sizes={5},norm='batch'", s, &err);
    rc = g ? rill_checkpoint_read(g->store, g, &state, &len, &err) : -1;
    ok(rc != RILL_OK && state == NULL && has(err.msg, "the store belongs to another graph"),
       "a graph whose tower is wider: %s", err.msg);
    if (g)
        rill_graph_free(g);
    rill_schema_free(&sc);
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "%s", "/tmp/rill-store-XXXXXX");
    if (!mkdtemp(tmpdir)) {
        printf("Bail out! mkdtemp failed\n");
        return 1;
    }
    test_checkpoint();
    test_eviction();
    test_evict_after();
    test_map_growth();
    test_ckpt_values();
    test_meta();
    test_one_writer();
    test_bad_stores();
    test_damaged_rows();
    test_truncated_and_damaged();
    test_run_identity();
    test_digest_leak();
    test_other_graph();
    test_admission();
    test_dense();
    rm_tree(tmpdir);
    return done_testing();
}
