/* encode_log: numeric counts to dense values, log(1 + x). Arguments: fields (numeric names,
 * required), negative ("zero": negative counts become 0, as DLRM's Criteo preprocessing
 * does, default; "sign": sign(x) log(1 + |x|)). A missing value is 0. Output (B, F). */
#include <math.h>
#include <stdlib.h>

#include "encode_common.h"
#include "nodes.h"

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

static int log_forward(rill_node *n, rill_step *s, rill_err *err)
{
    log_state *st = n->st;
    const rill_batch *b = s->batch;
    int nn = b->schema->nnum;
    (void)err;
    for (int r = 0; r < s->B; r++)
        for (int f = 0; f < st->F; f++) {
            float x = b->num[(size_t)r * nn + st->cols[f]];
            float v;
            if (isnan(x))
                v = 0.0f;
            else if (x >= 0.0f)
                v = log1pf(x);
            else
                v = st->sign ? -log1pf(-x) : 0.0f;
            n->out[(size_t)r * st->F + f] = v;
        }
    return RILL_OK;
}

static void log_destroy(rill_node *n)
{
    log_state *st = n->st;
    if (st)
        free(st->cols);
    free(st);
}

const rill_node_ops rill_node_encode_log = {"encode_log", log_create, log_forward, NULL,
                                            log_destroy};
