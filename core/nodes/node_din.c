/* din: DIN's target attention (Zhou et al., "Deep Interest Network for Click-Through Rate
 * Prediction", KDD 2018) over an embed_seq output (target v, behaviours E, mask). Each real
 * behaviour e_i gets a weight from a small MLP, the activation unit, over [e_i, v, e_i - v,
 * e_i * v]; the weights are not normalised (DIN keeps the intensity of interest), and the
 * user's interest is their weighted sum:
 *   w_i = MLP([e_i, v, e_i - v, e_i * v]),   out = sum_i w_i e_i
 * A row without behaviours gives zeros. Inputs: one embed_seq node, or a dense (B, 1 + L, D)
 * node and its (B, L) mask (above 0.5: real), which no gradient reaches. Arguments: sizes
 * (the activation unit's hidden widths, default {80, 40}), with_target (default false: true
 * appends v, output (B, 2D)). The hidden layers are sigmoid units, as in the authors' code
 * (the paper's figure names PReLU or Dice; ReLU units here died at their start, where the
 * inputs are small embeddings, and left a constant weight). Output (B, D) or (B, 2D). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "blas.h"
#include "graph.h"
#include "nodes.h"
#include "seq.h"

#define MAX_LAYERS 8

typedef struct {
    int L, D, nl;           /* nl hidden layers, then one output unit */
    int width[MAX_LAYERS + 2]; /* width[0] = 4D, width[nl + 1] = 1 */
    bool with_target;
    rill_param *W[MAX_LAYERS + 1], *b[MAX_LAYERS + 1];
    /* this step */
    int N;                  /* real behaviours in the batch */
    int *row, *slot;        /* each one's row and slot */
    float *act[MAX_LAYERS + 2]; /* act[0] = X (N x 4D), act[l] after layer l, act[nl+1] = w */
} din_state;

static int din_create(rill_node *n, rill_err *err)
{
    din_state *st = calloc(1, sizeof *st);
    if (!st)
        return rill_node_errf(n, RILL_ENOMEM, err, "out of memory");
    n->st = st;
    long *sizes = NULL;
    int ns = 0, rc, L = 0;
    bool has_sizes = rill_args_has(&n->args, "sizes");
    if ((has_sizes && (rc = rill_args_int_list(&n->args, "sizes", 1, 4096, &sizes, &ns, err))) ||
        (rc = rill_args_bool(&n->args, "with_target", false, &st->with_target, err))) {
        free(sizes);
        return rc;
    }
    if (!has_sizes) {
        static long dflt[] = {80, 40};
        ns = 2;
        sizes = malloc(sizeof dflt);
        if (!sizes)
            return rill_node_errf(n, RILL_ENOMEM, err, "out of memory");
        memcpy(sizes, dflt, sizeof dflt);
    }
    if (ns > MAX_LAYERS) {
        free(sizes);
        return rill_node_errf(n, RILL_EINVAL, err, "argument 'sizes' lists %d layers (at most %d)",
                              ns, MAX_LAYERS);
    }
    if ((rc = rill_seq_input(n, &L, err))) {
        free(sizes);
        return rc;
    }
    st->L = L;
    st->D = n->in[0]->dims[1];
    st->nl = ns;
    st->width[0] = 4 * st->D;
    for (int l = 0; l < ns; l++)
        st->width[l + 1] = (int)sizes[l];
    st->width[ns + 1] = 1;
    free(sizes);
    for (int l = 0; l <= st->nl; l++) {
        char name[32];
        snprintf(name, sizeof name, "W%d", l + 1);
        if (!(st->W[l] = rill_graph_param(n->g, n, name, st->width[l + 1], st->width[l],
                                          RILL_INIT_XAVIER, 0, err)))
            return err->code;
        snprintf(name, sizeof name, "b%d", l + 1);
        if (!(st->b[l] = rill_graph_param(n->g, n, name, 1, st->width[l + 1], RILL_INIT_ZERO, 0,
                                          err)))
            return err->code;
    }
    n->out_kind = RILL_OUT_DENSE;
    n->nd = 1;
    n->dims[0] = st->with_target ? 2 * st->D : st->D;
    return RILL_OK;
}


static int din_forward(rill_node *n, rill_step *s, rill_err *err)
{
    din_state *st = n->st;
    int B = s->B, L = st->L, D = st->D, W = st->with_target ? 2 * D : D;
    const float *mask = rill_seq_mask_of(n), *x = n->in[0]->out;
    int N = 0;
    for (int i = 0; i < B * L; i++)
        N += mask[i] > 0.5f;
    st->N = N;
    size_t m = (size_t)(N ? N : 1);
    st->row = rill_node_alloc(n, s, m * sizeof(int), false, err);
    st->slot = rill_node_alloc(n, s, m * sizeof(int), false, err);
    if (!st->row || !st->slot)
        return err->code;
    for (int l = 0; l <= st->nl + 1; l++)
        if (!(st->act[l] = rill_node_alloc(n, s, m * st->width[l] * sizeof(float), false, err)))
            return err->code;
    N = 0;
    for (int b = 0; b < B; b++)
        for (int k = 0; k < L; k++)
            if (mask[(size_t)b * L + k] > 0.5f) {
                st->row[N] = b;
                st->slot[N] = k;
                const float *e = x + ((size_t)b * (L + 1) + 1 + k) * D, *v = x + (size_t)b * (L + 1) * D;
                float *X = st->act[0] + (size_t)N * 4 * D;
                for (int d = 0; d < D; d++) {
                    X[d] = e[d];
                    X[D + d] = v[d];
                    X[2 * D + d] = e[d] - v[d];
                    X[3 * D + d] = e[d] * v[d];
                }
                N++;
            }
    /* the activation unit: all real behaviours of the batch at once */
    for (int l = 0; l <= st->nl && N; l++) {
        int in = st->width[l], out = st->width[l + 1];
        float *H = st->act[l + 1];
        for (int i = 0; i < N; i++)
            memcpy(H + (size_t)i * out, st->b[l]->data, (size_t)out * sizeof *H);
        rill_sgemm(false, true, N, out, in, 1.0f, st->act[l], in, st->W[l]->data, in, 1.0f, H, out);
        if (l < st->nl)
            for (size_t i = 0; i < (size_t)N * out; i++)
                H[i] = 1.0f / (1.0f + expf(-H[i]));
    }
    memset(n->out, 0, (size_t)B * W * sizeof(float));
    const float *w = st->act[st->nl + 1];
    for (int i = 0; i < N; i++) {
        const float *e = x + ((size_t)st->row[i] * (L + 1) + 1 + st->slot[i]) * D;
        float *o = n->out + (size_t)st->row[i] * W;
        for (int d = 0; d < D; d++)
            o[d] += w[i] * e[d];
    }
    if (st->with_target)
        for (int b = 0; b < B; b++)
            memcpy(n->out + (size_t)b * W + D, x + (size_t)b * (L + 1) * D, (size_t)D * sizeof(float));
    return RILL_OK;
}

static int din_backward(rill_node *n, rill_step *s, rill_err *err)
{
    din_state *st = n->st;
    int B = s->B, L = st->L, D = st->D, W = st->with_target ? 2 * D : D, N = st->N;
    const float *x = n->in[0]->out, *w = st->act[st->nl + 1];
    float *dx = n->in[0]->dout;
    size_t m = (size_t)(N ? N : 1);
    float *dA = rill_node_alloc(n, s, m * st->width[st->nl + 1] * sizeof(float), false, err);
    if (!dA)
        return err->code;
    /* out = sum w_i e_i: dw_i = <g, e_i>, de_i += w_i g */
    for (int i = 0; i < N; i++) {
        const float *e = x + ((size_t)st->row[i] * (L + 1) + 1 + st->slot[i]) * D;
        const float *g = n->dout + (size_t)st->row[i] * W;
        double dot = 0;
        for (int d = 0; d < D; d++)
            dot += (double)g[d] * (double)e[d];
        dA[i] = (float)dot;
        if (dx) {
            float *de = dx + ((size_t)st->row[i] * (L + 1) + 1 + st->slot[i]) * D;
            for (int d = 0; d < D; d++)
                de[d] += w[i] * g[d];
        }
    }
    /* back through the activation unit, layer by layer */
    for (int l = st->nl; l >= 0 && N; l--) {
        int in = st->width[l], out = st->width[l + 1];
        /* dA: gradient at layer l's output (after its sigmoid for hidden layers) */
        if (l < st->nl) {
            const float *H = st->act[l + 1];
            for (size_t i = 0; i < (size_t)N * out; i++)
                dA[i] *= H[i] * (1.0f - H[i]);
        }
        rill_sgemm(true, false, out, in, N, 1.0f, dA, out, st->act[l], in, 1.0f, st->W[l]->grad, in);
        for (int i = 0; i < N; i++)
            for (int j = 0; j < out; j++)
                st->b[l]->grad[j] += dA[(size_t)i * out + j];
        float *dIn = rill_node_alloc(n, s, m * in * sizeof(float), false, err);
        if (!dIn)
            return err->code;
        rill_sgemm(false, false, N, in, out, 1.0f, dA, out, st->W[l]->data, in, 0.0f, dIn, in);
        dA = dIn;
    }
    /* dX = [de, dv, d(e - v), d(e * v)] into the behaviour and the target */
    for (int i = 0; i < N && dx; i++) {
        int b = st->row[i];
        const float *e = x + ((size_t)b * (L + 1) + 1 + st->slot[i]) * D, *v = x + (size_t)b * (L + 1) * D;
        float *de = dx + ((size_t)b * (L + 1) + 1 + st->slot[i]) * D, *dv = dx + (size_t)b * (L + 1) * D;
        const float *g = dA + (size_t)i * 4 * D;
        for (int d = 0; d < D; d++) {
            de[d] += g[d] + g[2 * D + d] + g[3 * D + d] * v[d];
            dv[d] += g[D + d] - g[2 * D + d] + g[3 * D + d] * e[d];
        }
    }
    if (st->with_target && dx)
        for (int b = 0; b < B; b++)
            for (int d = 0; d < D; d++)
                dx[(size_t)b * (L + 1) * D + d] += n->dout[(size_t)b * W + D + d];
    return RILL_OK;
}

static int din_weights(const rill_node *n, int B, float *out)
{
    const din_state *st = n->st;
    memset(out, 0, (size_t)B * st->L * sizeof *out);
    for (int i = 0; i < st->N; i++)
        out[(size_t)st->row[i] * st->L + st->slot[i]] = st->act[st->nl + 1][i];
    return RILL_OK;
}

static void din_destroy(rill_node *n)
{
    free(n->st);
}

const rill_node_ops rill_node_din = {.name = "din",
    .args = (const char *const[]){"sizes", "with_target", NULL},
                                     .create = din_create,
                                     .forward = din_forward,
                                     .backward = din_backward,
                                     .destroy = din_destroy,
                                     .behaviour_weights = din_weights};
