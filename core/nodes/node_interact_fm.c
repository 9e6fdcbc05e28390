/* interact_fm: the factorization machine's second-order term over fields of width D,
 * out = sum over field pairs f < g of <e_f, e_g>, computed in O(F D) as
 * 0.5 * sum_d ((sum_f e_fd)^2 - sum_f e_fd^2). Inputs are fields as for interact_dot.
 * Argument output: "sum" (default, the one number) or "vector": the D terms before the sum
 * over d, 0.5 ((sum_f e_fd)^2 - sum_f e_fd^2) (NFM's bi-interaction pooling, He and Chua,
 * SIGIR 2017), so that an FM can be an expert of width D under a mixture's gate. */
#include <stdlib.h>
#include <string.h>

#include "graph.h"
#include "kernels.h"
#include "nodes.h"
#include "pool.h"

typedef struct {
    int F, D;
    bool vector;
    float *Z;
} fm_state;

/* Example e's term in dimension d: 0.5 ((sum_f e_fd)^2 - sum_f e_fd^2). */
static inline float fm_dim_term(const float *e, int F, int D, int d)
{
    float s = 0, q = 0;
    for (int f = 0; f < F; f++) {
        float v = e[f * D + d];
        s += v;
        q += v * v;
    }
    return 0.5f * (s * s - q);
}

/* Its gradient times g, added into de: g (sum_f e_fd - e_fd) for every field f. */
static inline void fm_dim_backward(float *de, const float *e, int F, int D, int d, float g)
{
    float s = 0;
    for (int f = 0; f < F; f++)
        s += e[f * D + d];
    for (int f = 0; f < F; f++)
        de[f * D + d] += g * (s - e[f * D + d]);
}

void fm_forward(float *out, const float *emb, int B, int F, int D)
{
    for (int b = 0; b < B; b++) {
        float acc = 0;
        for (int d = 0; d < D; d++)
            acc += fm_dim_term(emb + (size_t)b * F * D, F, D, d);
        out[b] = acc;
    }
}

void fm_backward(float *demb, const float *dout, const float *emb, int B, int F, int D)
{
    for (int b = 0; b < B; b++)
        for (int d = 0; d < D; d++)
            fm_dim_backward(demb + (size_t)b * F * D, emb + (size_t)b * F * D, F, D, d, dout[b]);
}

/* the bi-interaction vector: out is (B, D) */
static void fm_vector_forward(float *out, const float *emb, int B, int F, int D)
{
    for (int b = 0; b < B; b++)
        for (int d = 0; d < D; d++)
            out[(size_t)b * D + d] = fm_dim_term(emb + (size_t)b * F * D, F, D, d);
}

static void fm_vector_backward(float *demb, const float *dout, const float *emb, int B, int F,
                               int D)
{
    for (int b = 0; b < B; b++)
        for (int d = 0; d < D; d++)
            fm_dim_backward(demb + (size_t)b * F * D, emb + (size_t)b * F * D, F, D, d,
                            dout[(size_t)b * D + d]);
}

static int fm_create(rill_node *n, rill_err *err)
{
    fm_state *st = calloc(1, sizeof *st);
    if (!st)
        return rill_node_errf(n, RILL_ENOMEM, err, "out of memory");
    n->st = st;
    if (n->nin == 0)
        return rill_node_errf(n, RILL_EINVAL, err, "needs input nodes (field embeddings)");
    for (int i = 0; i < n->nin; i++) {
        int F, D;
        if (rill_node_fields(n->in[i], &F, &D))
            return rill_node_errf(n, RILL_ESHAPE, err,
                                  "input %d ('%s') must be vectors (B, D) or fields (B, F, D)",
                                  i + 1, n->in[i]->name);
        if (i > 0 && D != st->D)
            return rill_node_errf(n, RILL_ESHAPE, err,
                                  "all fields must have one width: '%s' has %d, '%s' has %d",
                                  n->in[0]->name, st->D, n->in[i]->name, D);
        st->D = D;
        st->F += F;
    }
    static const char *const outputs[] = {"sum", "vector", NULL};
    int output, rc;
    if ((rc = rill_args_enum(&n->args, "output", outputs, 0, &output, err)))
        return rc;
    st->vector = output == 1;
    n->out_kind = RILL_OUT_DENSE;
    n->nd = 1;
    n->dims[0] = st->vector ? st->D : 1;
    return RILL_OK;
}

static int fm_forward_node(rill_node *n, rill_step *s, rill_err *err)
{
    fm_state *st = n->st;
    int F = st->F, D = st->D, B = s->B;
    if (n->nin == 1) {
        st->Z = n->in[0]->out;
    } else {
        st->Z = rill_node_alloc(n, s, (size_t)B * F * D * sizeof(float), false, err);
        if (!st->Z)
            return err->code;
        int f0 = 0;
        for (int i = 0; i < n->nin; i++) {
            size_t w = n->in[i]->cols;
            for (int b = 0; b < B; b++)
                memcpy(st->Z + (size_t)b * F * D + (size_t)f0 * D, n->in[i]->out + (size_t)b * w,
                       w * sizeof(float));
            f0 += (int)(w / (size_t)D);
        }
    }
    if (st->vector)
        fm_vector_forward(n->out, st->Z, B, F, D);
    else
        fm_forward(n->out, st->Z, B, F, D);
    return RILL_OK;
}

static int fm_backward_node(rill_node *n, rill_step *s, rill_err *err)
{
    fm_state *st = n->st;
    int F = st->F, D = st->D, B = s->B;
    if (n->nin == 1) {
        if (n->in[0]->dout)
            (st->vector ? fm_vector_backward : fm_backward)(n->in[0]->dout, n->dout, st->Z, B, F, D);
        return RILL_OK;
    }
    float *dZ = rill_node_alloc(n, s, (size_t)B * F * D * sizeof(float), true, err);
    if (!dZ)
        return err->code;
    (st->vector ? fm_vector_backward : fm_backward)(dZ, n->dout, st->Z, B, F, D);
    int f0 = 0;
    for (int i = 0; i < n->nin; i++) {
        size_t w = n->in[i]->cols;
        float *d = n->in[i]->dout;
        if (d)
            for (int b = 0; b < B; b++)
                for (size_t k = 0; k < w; k++)
                    d[(size_t)b * w + k] += dZ[(size_t)b * F * D + (size_t)f0 * D + k];
        f0 += (int)(w / (size_t)D);
    }
    return RILL_OK;
}

static void fm_destroy(rill_node *n)
{
    free(n->st);
}

const rill_node_ops rill_node_interact_fm = {.name = "interact_fm",
    .args = (const char *const[]){"output", NULL},
                                             .create = fm_create,
                                             .forward = fm_forward_node,
                                             .backward = fm_backward_node,
                                             .destroy = fm_destroy};
