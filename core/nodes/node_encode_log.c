/* encode_log: numeric counts to dense values, log(1 + x). Arguments: fields (numeric names,
 * required), negative ("zero": negative counts become 0, as DLRM's Criteo preprocessing
 * does, default; "sign": sign(x) log(1 + |x|)). A missing value is 0. Output (B, F). */
#include <math.h>
#include <stdlib.h>

#include "encode_common.h"
#include "nodes.h"
#include "pool.h"

typedef struct {
    int F;
    int *cols;
    bool sign;
} log_state;

static int log_create(rill_node *n, rill_err *err)
{
    static const char *const modes[] = {"zero", "sign", NULL};
    log_state *st = calloc(1, sizeof *st);
    int mode, rc;
    if (!st)
        return rill_node_errf(n, RILL_ENOMEM, err, "out of memory");
    n->st = st;
    if ((rc = rill_encode_fields(n, RILL_FIELD_NUM, &st->cols, &st->F, err)) ||
        (rc = rill_args_enum(&n->args, "negative", modes, 0, &mode, err)))
        return rc;
    st->sign = mode == 1;
    n->out_kind = RILL_OUT_DENSE;
    n->nd = 1;
    n->dims[0] = st->F;
    return RILL_OK;
}

typedef struct {
    const log_state *st;
    const rill_batch *b;
    float *out;
} log_job;

static void log_part(void *ctx, size_t r0, size_t r1, int worker)
{
    const log_job *j = ctx;
    const log_state *st = j->st;
    int nn = j->b->schema->nnum;
    (void)worker;
    for (size_t r = r0; r < r1; r++)
        for (int f = 0; f < st->F; f++) {
            float x = j->b->num[r * (size_t)nn + st->cols[f]], v;
            if (isnan(x))
                v = 0.0f;
            else if (x >= 0.0f)
                v = log1pf(x);
            else
                v = st->sign ? -log1pf(-x) : 0.0f;
            j->out[r * (size_t)st->F + f] = v;
        }
}

static int log_forward(rill_node *n, rill_step *s, rill_err *err)
{
    (void)err;
    log_job j = {n->st, s->batch, n->out};
    rill_parallel_for((size_t)s->B, 256, log_part, &j);
    return RILL_OK;
}

static void log_destroy(rill_node *n)
{
    log_state *st = n->st;
    if (st)
        free(st->cols);
    free(st);
}

const rill_node_ops rill_node_encode_log = {.name = "encode_log",
    .args = (const char *const[]){"fields", "negative", NULL},
                                            .create = log_create,
                                            .forward = log_forward,
                                            .backward = NULL,
                                            .destroy = log_destroy};
