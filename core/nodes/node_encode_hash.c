/* encode_hash: categorical values to table rows by 64-bit hashing: row = hash(value, field
 * salt) mapped onto [0, buckets) by a multiply-shift. Arguments: fields (names, required),
 * buckets (rows per field's table: a number, or a list with one per field; default 2^20),
 * shared (one table of `buckets` rows for all fields, the field salt keeping equal values of
 * different fields apart; default false), missing ("own": a missing value gets its own row
 * per field, default; "none": no row, so its embedding is zero), seed (salt; default 0),
 * hash (default true; false: the value itself is the row, modulo buckets, for data whose
 * values are already row numbers). */
#include <stdlib.h>
#include <string.h>

#include "encode_common.h"
#include "nodes.h"
#include "pool.h"
#include "util.h"

typedef struct {
    int F;
    int *cols;
    uint64_t *salt, *buckets;
    uint64_t *key;     /* rill_hash64's mix of each salt, made once: hash = mix64(value ^ key) */
    uint64_t *missing; /* each field's row for a missing value */
    bool missing_own, hash;
} hash_state;

/* a value no hex field can hold is not needed: the missing row hashes a marker with the salt */
#define MISSING_MARK 0x6d697373696e6721ULL

/* hash to [0, buckets) by a multiply-shift (Lemire's fast range): uniform like a modulo,
 * without a 64-bit division per value */
static inline uint64_t to_bucket(uint64_t h, uint64_t buckets)
{
    return (uint64_t)(((__uint128_t)h * buckets) >> 64);
}

static int hash_create(rill_node *n, rill_err *err)
{
    hash_state *st = calloc(1, sizeof *st);
    long *buckets = NULL;
    int nb = 0, rc, missing;
    bool shared;
    long seed;
    static const char *const missing_modes[] = {"own", "none", NULL};
    if (!st)
        return rill_node_errf(n, RILL_ENOMEM, err, "out of memory");
    n->st = st;
    if ((rc = rill_encode_fields(n, RILL_FIELD_CAT, &st->cols, &st->F, err)) ||
        (rc = rill_args_int_list(&n->args, "buckets", 1, 1L << 40, &buckets, &nb, err)) ||
        (rc = rill_args_bool(&n->args, "shared", false, &shared, err)) ||
        (rc = rill_args_enum(&n->args, "missing", missing_modes, 0, &missing, err)) ||
        (rc = rill_args_int(&n->args, "seed", 0, 0, 1L << 53, &seed, err)) ||
        (rc = rill_args_bool(&n->args, "hash", true, &st->hash, err)))
        goto done;
    st->missing_own = missing == 0;
    if (nb > 1 && (shared || nb != st->F)) {
        rc = rill_node_errf(n, RILL_EINVAL, err,
                            "buckets has %d entries for %d fields%s: give one number, or one per "
                            "field",
                            nb, st->F, shared ? " in a shared table" : "");
        goto done;
    }
    st->salt = calloc((size_t)st->F, sizeof *st->salt);
    st->buckets = calloc((size_t)st->F, sizeof *st->buckets);
    st->key = calloc((size_t)st->F, sizeof *st->key);
    st->missing = calloc((size_t)st->F, sizeof *st->missing);
    int64_t *rows = calloc((size_t)st->F, sizeof *rows);
    if (!st->salt || !st->buckets || !st->key || !st->missing || !rows) {
        free(rows);
        rc = rill_node_errf(n, RILL_ENOMEM, err, "out of memory");
        goto done;
    }
    for (int f = 0; f < st->F; f++) {
        const char *name = n->g->schema->cat_names[st->cols[f]];
        uint64_t h = (uint64_t)seed;
        for (const char *c = name; *c; c++)
            h = rill_hash64((uint64_t)(unsigned char)*c, h);
        st->salt[f] = h;
        st->buckets[f] = (uint64_t)(nb == 0 ? 1L << 20 : nb == 1 ? buckets[0] : buckets[f]);
        rows[f] = (int64_t)st->buckets[f];
        st->key[f] = rill_mix64(h + 0x9e3779b97f4a7c15ULL);
        st->missing[f] = to_bucket(rill_hash64(MISSING_MARK, h), st->buckets[f]);
    }
    rc = rill_encode_layout(n, RILL_FIELD_CAT, st->cols, st->F, rows, shared, err);
    free(rows);
done:
    free(buckets);
    return rc;
}


typedef struct {
    const hash_state *st;
    const rill_batch *b;
    rill_ids *ids;
    uint32_t *row_start; /* B + 1: where each example's ids begin */
} hash_job;

static uint32_t ids_of(const hash_state *st, const rill_batch *b, int r)
{
    uint32_t n = 0;
    for (int f = 0; f < st->F; f++) {
        const rill_catcol *c = &b->cat[st->cols[f]];
        uint32_t k = c->off[r + 1] - c->off[r];
        n += k ? k : (uint32_t)st->missing_own;
    }
    return n;
}

static void count_part(void *ctx, size_t r0, size_t r1, int worker)
{
    hash_job *j = ctx;
    (void)worker;
    for (size_t r = r0; r < r1; r++)
        j->row_start[r + 1] = ids_of(j->st, j->b, (int)r);
}

static void fill_part(void *ctx, size_t r0, size_t r1, int worker)
{
    enum { ROWS = 256 };
    hash_job *j = ctx;
    const hash_state *st = j->st;
    int F = st->F;
    bool own = st->missing_own, hash = st->hash;
    uint32_t *restrict off = j->ids->off;
    uint64_t *restrict id = j->ids->id;
    uint32_t at[ROWS]; /* where each example's next id goes */
    (void)worker;
    /* field by field over ROWS examples at a time: one field's offsets and values are read in
     * order, with its key and bucket count in registers */
    for (size_t b0 = r0; b0 < r1; b0 += ROWS) {
        size_t b1 = b0 + ROWS < r1 ? b0 + ROWS : r1;
        for (size_t r = b0; r < b1; r++)
            at[r - b0] = j->row_start[r];
        for (int f = 0; f < F; f++) {
            const rill_catcol *c = &j->b->cat[st->cols[f]];
            const uint32_t *restrict coff = c->off;
            const uint64_t *restrict val = c->val;
            uint64_t key = st->key[f], buckets = st->buckets[f], missing = st->missing[f];
            for (size_t r = b0; r < b1; r++) {
                uint32_t k = at[r - b0], a = coff[r], e = coff[r + 1];
                off[r * (size_t)F + f] = k;
                if (a == e && own)
                    id[k++] = missing;
                if (hash)
                    for (uint32_t i = a; i < e; i++)
                        id[k++] = to_bucket(rill_mix64(val[i] ^ key), buckets);
                else
                    for (uint32_t i = a; i < e; i++)
                        id[k++] = val[i] % buckets;
                at[r - b0] = k;
            }
        }
    }
}

static int hash_forward(rill_node *n, rill_step *s, rill_err *err)
{
    hash_state *st = n->st;
    const rill_batch *b = s->batch;
    int F = st->F, B = s->B;
    hash_job j = {st, b, &n->ids, NULL};
    j.row_start = rill_node_alloc(n, s, ((size_t)B + 1) * sizeof(uint32_t), false, err);
    n->ids.off = rill_node_alloc(n, s, ((size_t)B * F + 1) * sizeof(uint32_t), false, err);
    if (!j.row_start || !n->ids.off)
        return err->code;
    j.row_start[0] = 0;
    rill_parallel_for((size_t)B, 256, count_part, &j);
    for (int r = 0; r < B; r++)
        j.row_start[r + 1] += j.row_start[r];
    n->ids.id = rill_node_alloc(n, s, ((size_t)j.row_start[B] + 1) * sizeof(uint64_t), false, err);
    if (!n->ids.id)
        return err->code;
    rill_parallel_for((size_t)B, 256, fill_part, &j);
    n->ids.off[(size_t)B * F] = j.row_start[B];
    return RILL_OK;
}

static void hash_destroy(rill_node *n)
{
    hash_state *st = n->st;
    if (st) {
        free(st->cols);
        free(st->salt);
        free(st->buckets);
        free(st->key);
        free(st->missing);
    }
    free(st);
}

const rill_node_ops rill_node_encode_hash = {.name = "encode_hash",
    .args = (const char *const[]){"fields", "buckets", "hash", "missing", "seed", "shared", NULL},
                                             .create = hash_create,
                                             .forward = hash_forward,
                                             .backward = NULL,
                                             .destroy = hash_destroy,
                                             .pure = true};
