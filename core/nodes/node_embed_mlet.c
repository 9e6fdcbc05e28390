/* embed_mlet: MLET, multi-layer embedding training (Deng et al., "Enhancing Cross-Category
 * Learning in Recommendation Systems with Multi-Layer Embedding Training"). Each table is
 * factorised: e_i = W1[i] W2, W1 (rows x inner) in the store like any table, W2 a dense
 * inner x dim matrix shared by all the table's rows. Both are trained; W2's gradient is dense,
 * so every category's embedding moves with each batch, which is what the paper credits for
 * the gain on rare categories. Pooling happens in the inner space: sum(W1 rows) W2 equals
 * sum(W1 rows W2).
 *
 * An export collapses each table to W = W1 W2 (rows x dim), so inference costs what a
 * single-layer table costs. A graph built in its collapsed form (rill predict on an export,
 * rill.train{ init_from = EXPORT }) makes this node a plain single-layer embedding with tables
 * of the same names, so a model can be collapsed and fine-tuned as single-layer.
 *
 * Arguments: dim (required), inner (required: the inner dimension; the paper takes it larger
 * than dim), and the arguments of embed (pooling, optim, init, admit, prefill, evict_after).
 * W2 is initialised Xavier-uniform. */
#include <stdlib.h>
#include <string.h>

#include "blas.h"
#include "lookup.h"
#include "nodes.h"

typedef struct {
    rill_lookup lk;
    int d, k;
    bool collapsed;
    rill_param **W2;   /* per table */
    int *field_w2;     /* per field: its table's index */
    float *pooled;     /* this step: (B, F, k) */
} mlet_state;

static int mlet_create(rill_node *n, rill_err *err)
{
    mlet_state *st = calloc(1, sizeof *st);
    rill_lookup_args a;
    long dim, inner;
    int rc;
    if (!st)
        return rill_node_errf(n, RILL_ENOMEM, err, "out of memory");
    n->st = st;
    if ((rc = rill_lookup_read_args(n, &a, err)) ||
        (rc = rill_args_int(&n->args, "dim", 0, 1, 1 << 16, &dim, err)) ||
        (rc = rill_args_int(&n->args, "inner", 0, 1, 1 << 16, &inner, err)))
        return rc;
    if (dim == 0 || inner == 0)
        return rill_node_errf(n, RILL_EINVAL, err,
                              "arguments 'dim' and 'inner' are required, e.g. dim = 16, inner = 64");
    st->d = (int)dim;
    st->k = (int)inner;
    st->collapsed = n->g->collapsed;
    if ((rc = rill_lookup_create(n, &st->lk, st->collapsed ? st->d : st->k, &a, NULL, err)))
        return rc;
    n->out_kind = RILL_OUT_DENSE;
    n->nd = 2;
    n->dims[0] = st->lk.F;
    n->dims[1] = st->d;
    if (st->collapsed)
        return RILL_OK;
    int T = st->lk.ntables, F = st->lk.F;
    st->W2 = calloc((size_t)T, sizeof *st->W2);
    st->field_w2 = calloc((size_t)F, sizeof *st->field_w2);
    if (!st->W2 || !st->field_w2)
        return rill_node_errf(n, RILL_ENOMEM, err, "out of memory");
    /* one W2 per table, named after the table's first field */
    const rill_ids_layout *l;
    int f0 = 0, t0 = 0;
    for (int i = 0; i < n->nin; i++) {
        l = &n->in[i]->layout;
        for (int t = 0; t < l->ntables; t++) {
            char name[160];
            int first = -1;
            for (int f = 0; f < l->F; f++)
                if (l->field_table[f] == t) {
                    if (first < 0)
                        first = f;
                    st->field_w2[f0 + f] = t0 + t;
                }
            if (l->ntables == 1 && l->F > 1)
                snprintf(name, sizeof name, "W2.%s", n->in[i]->name);
            else
                snprintf(name, sizeof name, "W2.%s", l->field_names[first < 0 ? 0 : first]);
            if (!(st->W2[t0 + t] = rill_graph_param(n->g, n, name, st->k, st->d, RILL_INIT_XAVIER,
                                                    1.0, err)))
                return err->code;
        }
        f0 += l->F;
        t0 += l->ntables;
    }
    /* an export writes W1 W2 */
    for (int t = 0; t < T; t++)
        rill_graph_table_projection(n->g, rill_lookup_table_slot(&st->lk, t), st->W2[t]);
    return RILL_OK;
}

static int mlet_forward(rill_node *n, rill_step *s, rill_err *err)
{
    mlet_state *st = n->st;
    if (st->collapsed)
        return rill_lookup_forward(n, s, &st->lk, n->out, err);
    int B = s->B, F = st->lk.F, k = st->k, d = st->d;
    st->pooled = rill_node_alloc(n, s, (size_t)B * F * k * sizeof(float), false, err);
    if (!st->pooled)
        return err->code;
    int rc = rill_lookup_forward(n, s, &st->lk, st->pooled, err);
    if (rc)
        return rc;
    /* out[:, f, :] = pooled[:, f, :] W2 (strided rows: one GEMM per field) */
    for (int f = 0; f < F; f++)
        rill_sgemm(false, false, B, d, k, 1.0f, st->pooled + (size_t)f * k, F * k,
                   st->W2[st->field_w2[f]]->data, d, 0.0f, n->out + (size_t)f * d, F * d);
    return RILL_OK;
}

static int mlet_backward(rill_node *n, rill_step *s, rill_err *err)
{
    mlet_state *st = n->st;
    if (st->collapsed)
        return rill_lookup_backward(n, s, &st->lk, n->dout, err);
    int B = s->B, F = st->lk.F, k = st->k, d = st->d;
    float *dpooled = rill_node_alloc(n, s, (size_t)B * F * k * sizeof(float), false, err);
    if (!dpooled)
        return err->code;
    for (int f = 0; f < F; f++) {
        rill_param *W2 = st->W2[st->field_w2[f]];
        /* dW2 += pooled_f^T dout_f;  dpooled_f = dout_f W2^T */
        rill_sgemm(true, false, k, d, B, 1.0f, st->pooled + (size_t)f * k, F * k,
                   n->dout + (size_t)f * d, F * d, 1.0f, W2->grad, d);
        rill_sgemm(false, true, B, k, d, 1.0f, n->dout + (size_t)f * d, F * d, W2->data, d, 0.0f,
                   dpooled + (size_t)f * k, F * k);
    }
    return rill_lookup_backward(n, s, &st->lk, dpooled, err);
}

static void mlet_destroy(rill_node *n)
{
    mlet_state *st = n->st;
    if (st) {
        rill_lookup_free(&st->lk);
        free(st->W2);
        free(st->field_w2);
    }
    free(st);
}

static rill_table *mlet_field_table(rill_node *n, int f)
{
    return rill_lookup_table_of_field(&((mlet_state *)n->st)->lk, f);
}

static void mlet_prefetch(rill_node *n, int B)
{
    rill_lookup_prefetch(&((mlet_state *)n->st)->lk, B);
}

const rill_node_ops rill_node_embed_mlet = {.name = "embed_mlet",
    .args = (const char *const[]){"dim", "inner", "admit", "evict_after", "init", "optim", "pooling", "prefill", NULL},
                                            .create = mlet_create,
                                            .forward = mlet_forward,
                                            .backward = mlet_backward,
                                            .destroy = mlet_destroy,
                                            .field_table = mlet_field_table,
                                            .prefetch = mlet_prefetch};
