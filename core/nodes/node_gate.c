/* gate: a task's softmax gate over experts, MMoE's mixture (Ma et al., "Modeling Task
 * Relationships in Multi-task Learning with Multi-gate Mixture-of-Experts", KDD 2018):
 *   g = softmax(W x + b) over the E experts,   out = sum_e g_e expert_e
 * Inputs: the gate's input x (any dense node, flattened), then the E experts (dense, all of
 * one width H). Each task gets its own gate over the shared experts (PLE/CGC: over its own
 * and the shared ones). Output (B, H). W (E x |x|) Xavier-initialised, b zero. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "blas.h"
#include "graph.h"
#include "nodes.h"

typedef struct {
    int E, H, X;
    rill_param *W, *b;
    float *g; /* this step: B x E */
} gate_state;

static int gate_create(rill_node *n, rill_err *err)
{
    gate_state *st = calloc(1, sizeof *st);
    if (!st)
        return rill_node_errf(n, RILL_ENOMEM, err, "out of memory");
    n->st = st;
    if (n->nin < 3)
        return rill_node_errf(n, RILL_EINVAL, err, "takes the gate's input and at least two "
                              "experts, got %d input(s)", n->nin);
    for (int i = 0; i < n->nin; i++)
        if (n->in[i]->out_kind != RILL_OUT_DENSE)
            return rill_node_errf(n, RILL_ESHAPE, err, "input %d ('%s') is not dense", i + 1,
                                  n->in[i]->name);
    st->X = (int)n->in[0]->cols;
    st->E = n->nin - 1;
    st->H = (int)n->in[1]->cols;
    for (int i = 2; i < n->nin; i++)
        if ((int)n->in[i]->cols != st->H)
            return rill_node_errf(n, RILL_ESHAPE, err, "experts differ in width: '%s' has %d, "
                                  "'%s' has %d", n->in[1]->name, st->H, n->in[i]->name,
                                  (int)n->in[i]->cols);
    if (!(st->W = rill_graph_param(n->g, n, "W", st->E, st->X, RILL_INIT_XAVIER, 0, err)) ||
        !(st->b = rill_graph_param(n->g, n, "b", 1, st->E, RILL_INIT_ZERO, 0, err)))
        return err->code;
    n->out_kind = RILL_OUT_DENSE;
    n->nd = 1;
    n->dims[0] = st->H;
    return RILL_OK;
}

static int gate_forward(rill_node *n, rill_step *s, rill_err *err)
{
    gate_state *st = n->st;
    int B = s->B, E = st->E, H = st->H;
    st->g = rill_node_alloc(n, s, (size_t)B * E * sizeof(float), false, err);
    if (!st->g)
        return err->code;
    for (int r = 0; r < B; r++)
        memcpy(st->g + (size_t)r * E, st->b->data, (size_t)E * sizeof(float));
    int rc = rill_gemm(s->precision, false, true, B, E, st->X, 1.0f, n->in[0]->out, st->X,
                       st->W->data, st->X, 1.0f, st->g, E, err);
    if (rc)
        return rc;
    for (int r = 0; r < B; r++) {
        float *g = st->g + (size_t)r * E, mx = g[0];
        for (int e = 1; e < E; e++)
            mx = g[e] > mx ? g[e] : mx;
        double sum = 0;
        for (int e = 0; e < E; e++)
            sum += exp((double)(g[e] - mx));
        for (int e = 0; e < E; e++)
            g[e] = (float)(exp((double)(g[e] - mx)) / sum);
        float *out = n->out + (size_t)r * H;
        memset(out, 0, (size_t)H * sizeof *out);
        for (int e = 0; e < E; e++) {
            const float *x = n->in[1 + e]->out + (size_t)r * H;
            for (int h = 0; h < H; h++)
                out[h] += g[e] * x[h];
        }
    }
    return RILL_OK;
}

static int gate_backward(rill_node *n, rill_step *s, rill_err *err)
{
    gate_state *st = n->st;
    int B = s->B, E = st->E, H = st->H;
    float *ds = rill_node_alloc(n, s, (size_t)B * E * sizeof(float), false, err);
    if (!ds)
        return err->code;
    for (int r = 0; r < B; r++) {
        const float *g = st->g + (size_t)r * E, *d = n->dout + (size_t)r * H;
        double dot = 0;
        for (int e = 0; e < E; e++) {
            const float *x = n->in[1 + e]->out + (size_t)r * H;
            double da = 0;
            for (int h = 0; h < H; h++)
                da += (double)d[h] * (double)x[h];
            ds[(size_t)r * E + e] = (float)da;
            dot += (double)g[e] * da;
            float *dx = n->in[1 + e]->dout;
            if (dx)
                for (int h = 0; h < H; h++)
                    dx[(size_t)r * H + h] += g[e] * d[h];
        }
        for (int e = 0; e < E; e++) /* softmax: ds_e = g_e (da_e - sum_k g_k da_k) */
            ds[(size_t)r * E + e] = (float)((double)g[e] * ((double)ds[(size_t)r * E + e] - dot));
    }
    int rc = rill_gemm(s->precision, true, false, E, st->X, B, 1.0f, ds, E, n->in[0]->out,
                       st->X, 1.0f, st->W->grad, st->X, err);
    if (rc)
        return rc;
    for (int r = 0; r < B; r++)
        for (int e = 0; e < E; e++)
            st->b->grad[e] += ds[(size_t)r * E + e];
    if (n->in[0]->dout)
        rc = rill_gemm(s->precision, false, false, B, st->X, E, 1.0f, ds, E, st->W->data, st->X,
                       1.0f, n->in[0]->dout, st->X, err);
    return rc;
}

/* the mixture_weights capability: B x E from the last forward, valid until the arena resets */
static const float *gate_weights(const rill_node *n, int *E)
{
    const gate_state *st = n->st;
    *E = st->E;
    return st->g;
}

static void gate_destroy(rill_node *n)
{
    free(n->st);
}

const rill_node_ops rill_node_gate = {.name = "gate",
    .args = (const char *const[]){NULL},
                                      .create = gate_create,
                                      .forward = gate_forward,
                                      .backward = gate_backward,
                                      .destroy = gate_destroy,
                                      .mixture_weights = gate_weights};
