/* encode_mnse: Multiple Numeral Systems Encoding of numeric features (the heterogeneous
 * mixture-of-experts design of "Ads Recommendation in a Collapsed and Entangled World",
 * KDD 2024). A value is first made a non-negative integer v; then, in each base b, its digits
 * d_p = floor(v / b^p) mod b for p = 0 .. L_b - 1 (leading zeros included), L_b the fewest
 * positions that hold max_value; each (base, position, digit) has its own learnable
 * embedding T_b[p * b + d_p]; a base's embeddings are summed and the bases' sums concatenated:
 *   out[f] = concat_b sum_p T_{f,b}[p * b + d_p(v_f)]       (one set of tables per field)
 * so that nearby values share most digits (and embeddings) in some base while distant ones
 * differ, unlike one bucket per value.
 *
 * Inputs: none (the numeric `fields` of the batch) or one dense (B, F) node (e.g. a similarity
 * of pre-trained vectors). The integer, with y = x + offset (default 0): transform = "round"
 * (v = round(y * scale), default scale 1), or "log" (v = round(scale * ln(1 + y)), default
 * scale 100); negative values become
 * 0 and values past max_value (default 1,000,000) max_value. A missing value (NaN) encodes as
 * zeros. Arguments: dim (per base, required), bases (default {2, 3, 5, 10}), init (embeddings
 * uniform(+-init), default 0.05). Output (B, F, #bases * dim). The digits are discrete, so no
 * gradient flows to a dense input; the tables are dense parameters (NODE.FIELD, rows: each
 * base's L_b * b in order), trained by the dense optimizer. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "encode_common.h"
#include "graph.h"
#include "nodes.h"
#include "pool.h"

#define MAX_BASES 8

typedef struct {
    int F, D, nb, R;       /* fields, dim per base, bases, table rows */
    int base[MAX_BASES], len[MAX_BASES], off[MAX_BASES];
    int *cols;             /* batch numeric columns (no input) */
    bool log;
    double scale, offset;
    long max_value;
    rill_param **T;        /* per field, R x D */
    int64_t *v;            /* this step: B x F integers, -1 missing */
} mnse_state;

/* The bases (default 2, 3, 5, 10) and, per base, the fewest digit positions L with
 * b^L > max_value: base i's rows are off[i] .. off[i] + L * b - 1 of each field's table. */
static int read_bases(rill_node *n, mnse_state *st, rill_err *err)
{
    long *bases = NULL;
    int nb = 0, rc;
    if (rill_args_has(&n->args, "bases")) {
        if ((rc = rill_args_int_list(&n->args, "bases", 2, 1000, &bases, &nb, err)))
            return rc;
        if (nb < 1 || nb > MAX_BASES) {
            free(bases);
            return rill_node_errf(n, RILL_EINVAL, err, "argument 'bases' must list 1 to %d "
                                  "bases, got %d", MAX_BASES, nb);
        }
        for (int i = 0; i < nb; i++)
            st->base[i] = (int)bases[i];
        free(bases);
    } else {
        static const int dflt[] = {2, 3, 5, 10};
        nb = 4;
        memcpy(st->base, dflt, sizeof dflt);
    }
    st->nb = nb;
    for (int i = 0; i < nb; i++) {
        double p = 1;
        int L = 0;
        while (p <= (double)st->max_value) {
            p *= st->base[i];
            L++;
        }
        st->len[i] = L;
        st->off[i] = st->R;
        st->R += L * st->base[i];
    }
    return RILL_OK;
}

/* What is encoded: the numeric columns named by 'fields', or one dense (B, F) input. */
static int read_source(rill_node *n, mnse_state *st, rill_err *err)
{
    if (n->nin == 0)
        return rill_encode_fields(n, RILL_FIELD_NUM, &st->cols, &st->F, err);
    if (rill_args_has(&n->args, "fields"))
        return rill_node_errf(n, RILL_EINVAL, err, "give 'fields' (numeric columns of the "
                              "data) or one input node, not both");
    const rill_node *in = n->in[0];
    if (n->nin != 1 || in->out_kind != RILL_OUT_DENSE || in->nd != 1)
        return rill_node_errf(n, RILL_ESHAPE, err, "takes one dense (B, F) input, got %d "
                              "input(s)%s%s",
                              n->nin, n->nin ? ", the first " : "",
                              n->nin ? (in->nd == 1 ? "not dense" : "with field vectors") : "");
    st->F = in->dims[0];
    return RILL_OK;
}

static int mnse_create(rill_node *n, rill_err *err)
{
    static const char *const transforms[] = {"round", "log", NULL};
    mnse_state *st = calloc(1, sizeof *st);
    if (!st)
        return rill_node_errf(n, RILL_ENOMEM, err, "out of memory");
    n->st = st;
    long dim;
    int transform, rc;
    double init;
    if ((rc = rill_args_int(&n->args, "dim", 0, 1, 4096, &dim, err)) ||
        (rc = rill_args_enum(&n->args, "transform", transforms, 0, &transform, err)) ||
        (rc = rill_args_num(&n->args, "scale", transform == 1 ? 100.0 : 1.0, 1e-12, 1e12,
                            &st->scale, err)) ||
        (rc = rill_args_num(&n->args, "offset", 0.0, -1e12, 1e12, &st->offset, err)) ||
        (rc = rill_args_int(&n->args, "max_value", 1000000, 1, 1L << 40, &st->max_value, err)) ||
        (rc = rill_args_num(&n->args, "init", 0.05, 0.0, 100.0, &init, err)))
        return rc;
    if (dim == 0)
        return rill_node_errf(n, RILL_EINVAL, err, "argument 'dim' is required (the embedding "
                              "width per base), e.g. dim = 8");
    if ((rc = read_bases(n, st, err)))
        return rc;
    st->D = (int)dim;
    st->log = transform == 1;
    if ((rc = read_source(n, st, err)) || (rc = rill_args_check_unused(&n->args, err)))
        return rc;
    st->T = calloc((size_t)st->F, sizeof *st->T);
    if (!st->T)
        return rill_node_errf(n, RILL_ENOMEM, err, "out of memory");
    for (int f = 0; f < st->F; f++) {
        char name[200];
        if (n->nin == 0)
            snprintf(name, sizeof name, "%s", n->g->schema->num_names[st->cols[f]]);
        else
            snprintf(name, sizeof name, "%d", f + 1);
        if (!(st->T[f] = rill_graph_param(n->g, n, name, st->R, st->D, RILL_INIT_UNIFORM, init,
                                          err)))
            return err->code;
    }
    n->out_kind = RILL_OUT_DENSE;
    n->nd = 2;
    n->dims[0] = st->F;
    n->dims[1] = st->nb * st->D;
    return RILL_OK;
}

typedef struct {
    const rill_node *n;
    const rill_step *s;
} mnse_job;

static int64_t to_integer(const mnse_state *st, float x)
{
    if (isnan(x))
        return -1;
    double y = (double)x + st->offset;
    double v = st->log ? st->scale * log1p(y > 0 ? y : 0.0) : st->scale * y;
    if (!(v > 0))
        return 0;
    v = floor(v + 0.5);
    return v > (double)st->max_value ? (int64_t)st->max_value : (int64_t)v;
}

static void forward_part(void *ctx, size_t r0, size_t r1, int worker)
{
    const mnse_job *j = ctx;
    const rill_node *n = j->n;
    const mnse_state *st = n->st;
    int F = st->F, D = st->D, W = st->nb * D;
    (void)worker;
    for (size_t r = r0; r < r1; r++)
        for (int f = 0; f < F; f++) {
            float x = n->nin ? n->in[0]->out[r * (size_t)F + f]
                             : j->s->batch->num[r * (size_t)j->s->batch->schema->nnum +
                                                 (size_t)st->cols[f]];
            int64_t v = to_integer(st, x);
            st->v[r * (size_t)F + f] = v;
            float *out = n->out + (r * (size_t)F + f) * W;
            memset(out, 0, (size_t)W * sizeof *out);
            if (v < 0)
                continue;
            const float *T = st->T[f]->data;
            for (int k = 0; k < st->nb; k++) {
                int64_t rest = v, b = st->base[k];
                float *o = out + (size_t)k * D;
                for (int p = 0; p < st->len[k]; p++) {
                    const float *row = T + (size_t)(st->off[k] + p * b + rest % b) * D;
                    for (int d = 0; d < D; d++)
                        o[d] += row[d];
                    rest /= b;
                }
            }
        }
}

static int mnse_forward(rill_node *n, rill_step *s, rill_err *err)
{
    mnse_state *st = n->st;
    st->v = rill_node_alloc(n, s, (size_t)s->B * st->F * sizeof *st->v, false, err);
    if (!st->v)
        return err->code;
    mnse_job j = {n, s};
    rill_parallel_for((size_t)s->B, 64, forward_part, &j);
    return RILL_OK;
}

/* Per field (its own table), rows in order: the same sums for any thread count. */
static void backward_part(void *ctx, size_t f0, size_t f1, int worker)
{
    const mnse_job *j = ctx;
    const rill_node *n = j->n;
    const mnse_state *st = n->st;
    int F = st->F, D = st->D, W = st->nb * D;
    (void)worker;
    for (size_t f = f0; f < f1; f++) {
        float *G = st->T[f]->grad;
        for (int r = 0; r < j->s->B; r++) {
            int64_t v = st->v[(size_t)r * F + f];
            if (v < 0)
                continue;
            const float *g = n->dout + ((size_t)r * F + f) * W;
            for (int k = 0; k < st->nb; k++) {
                int64_t rest = v, b = st->base[k];
                for (int p = 0; p < st->len[k]; p++) {
                    float *row = G + (size_t)(st->off[k] + p * b + rest % b) * D;
                    for (int d = 0; d < D; d++)
                        row[d] += g[(size_t)k * D + d];
                    rest /= b;
                }
            }
        }
    }
}

static int mnse_backward(rill_node *n, rill_step *s, rill_err *err)
{
    (void)err;
    mnse_job j = {n, s};
    rill_parallel_each((size_t)((mnse_state *)n->st)->F, backward_part, &j);
    return RILL_OK;
}

static void mnse_destroy(rill_node *n)
{
    mnse_state *st = n->st;
    if (st) {
        free(st->cols);
        free(st->T);
    }
    free(st);
}

const rill_node_ops rill_node_encode_mnse = {.name = "encode_mnse",
    .args = (const char *const[]){"bases", "dim", "fields", "init", "max_value", "offset", "scale", "transform", NULL},
                                             .create = mnse_create,
                                             .forward = mnse_forward,
                                             .backward = mnse_backward,
                                             .destroy = mnse_destroy};
