/* encode_bucket: numeric counts to ids by log bucketing, the Criteo competition winners'
 * rule: row 0 = missing, 1 = negative, 2 + x for x in [0, 3), and for x >= 3,
 * 4 + floor(ln(x)^2) (3 -> 5, 10 -> 9, 1000 -> 51), capped at buckets - 1. Arguments: fields (numeric names, required),
 * buckets (rows per field, default 64, at least 8), shared (one table, fields offset by
 * field index; default false). Output: ids, one per field and example. */
#include <math.h>
#include <stdlib.h>

#include "encode_common.h"
#include "nodes.h"

typedef struct {
    int F;
    int *cols;
    long buckets;
    bool shared;
} bucket_state;

static int bucket_create(rill_node *n, rill_err *err)
{
    bucket_state *st = calloc(1, sizeof *st);
    int rc;
    if (!st)
        return rill_node_errf(n, RILL_ENOMEM, err, "out of memory");
    n->st = st;
    if ((rc = rill_encode_fields(n, RILL_FIELD_NUM, &st->cols, &st->F, err)) ||
        (rc = rill_args_int(&n->args, "buckets", 64, 8, 1 << 20, &st->buckets, err)) ||
        (rc = rill_args_bool(&n->args, "shared", false, &st->shared, err)))
        return rc;
    int64_t *rows = calloc((size_t)st->F, sizeof *rows);
    if (!rows)
        return rill_node_errf(n, RILL_ENOMEM, err, "out of memory");
    for (int f = 0; f < st->F; f++)
        rows[f] = st->shared ? (int64_t)st->buckets * st->F : st->buckets;
    rc = rill_encode_layout(n, RILL_FIELD_NUM, st->cols, st->F, rows, st->shared, err);
    free(rows);
    return rc;
}

static uint64_t bucket_of(float x, long buckets)
{
    if (isnan(x))
        return 0;
    if (x < 0.0f)
        return 1;
    if (x < 3.0f)
        return 2 + (uint64_t)x;
    double l = log((double)x);
    double id = 4.0 + floor(l * l);
    return id >= (double)(buckets - 1) ? (uint64_t)(buckets - 1) : (uint64_t)id;
}

static int bucket_forward(rill_node *n, rill_step *s, rill_err *err)
{
    bucket_state *st = n->st;
    const rill_batch *b = s->batch;
    int F = st->F, nn = b->schema->nnum;
    n->ids.off = rill_node_alloc(n, s, ((size_t)s->B * F + 1) * sizeof(uint32_t), false, err);
    n->ids.id = rill_node_alloc(n, s, (size_t)s->B * F * sizeof(uint64_t), false, err);
    if (!n->ids.off || !n->ids.id)
        return err->code;
    for (int r = 0; r < s->B; r++)
        for (int f = 0; f < F; f++) {
            size_t k = (size_t)r * F + f;
            n->ids.off[k] = (uint32_t)k;
            uint64_t id = bucket_of(b->num[(size_t)r * nn + st->cols[f]], st->buckets);
            n->ids.id[k] = st->shared ? (uint64_t)f * (uint64_t)st->buckets + id : id;
        }
    n->ids.off[(size_t)s->B * F] = (uint32_t)((size_t)s->B * F);
    return RILL_OK;
}

static void bucket_destroy(rill_node *n)
{
    bucket_state *st = n->st;
    if (st)
        free(st->cols);
    free(st);
}

const rill_node_ops rill_node_encode_bucket = {.name = "encode_bucket",
    .args = (const char *const[]){"fields", "buckets", "shared", NULL},
                                               .create = bucket_create,
                                               .forward = bucket_forward,
                                               .backward = NULL,
                                               .destroy = bucket_destroy,
                                               .pure = true};
