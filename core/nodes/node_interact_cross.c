/* interact_cross: the DCNv2 cross network over the inputs side by side (x0, width n):
 * x_{l+1} = x0 * (W_l x_l + b_l) + x_l for l = 0 .. layers-1, output x_layers. W_l is full
 * (n x n) or, with rank = r > 0, the low-rank U_l V_l^T (U, V n x r), as in DCNv2's
 * "DCN-Mix"-free low-rank form. Arguments: layers (default 3), rank (default 0 = full). */
#include <stdlib.h>
#include <string.h>

#include "blas.h"
#include "graph.h"
#include "kernels.h"
#include "nodes.h"
#include "pool.h"
#include "stack.h"

#define MAX_CROSS 16

typedef struct {
    int layers, rank, n;
    rill_param *W[MAX_CROSS], *U[MAX_CROSS], *V[MAX_CROSS], *b[MAX_CROSS];
    float *x0, *xs[MAX_CROSS + 1], *z[MAX_CROSS], *h[MAX_CROSS];
    /* this step's bf16 copies (full rank, bf16 GEMMs): each layer's x and W */
    uint16_t *x16[MAX_CROSS], *W16[MAX_CROSS];
} cross_state;

typedef struct {
    float *out, *dx0, *dx, *dz;
    const float *x0, *x, *z, *dout, *b;
    int n;
    uint16_t *out16, *dz16; /* may be NULL */
} cross_job;

static void cross_fwd_part(void *ctx, size_t r0, size_t r1, int worker)
{
    const cross_job *j = ctx;
    (void)worker;
    for (size_t r = r0; r < r1; r++)
        for (int i = 0; i < j->n; i++) {
            size_t k = r * (size_t)j->n + i;
            float zi = j->z[k] + j->b[i];
            ((float *)j->z)[k] = zi;
            j->out[k] = j->x0[k] * zi + j->x[k];
        }
    if (j->out16)
        rill_bf16_round_rows(j->out16 + r0 * (size_t)j->n, j->out + r0 * (size_t)j->n,
                             (int)(r1 - r0), j->n, j->n);
}

int cross_forward(rill_precision p, float *out, float *z, float *h, const float *x0,
                  const float *x, const float *W, const float *U, const float *V, const float *b,
                  int B, int n, int rank, const cross_bf16 *c16, rill_err *err)
{
    int rc;
    if (rank == 0)
        rc = rill_gemm_h(p, false, true, B, n, n, 1.0f, x, c16 ? c16->x : NULL, n, W,
                         c16 ? c16->W : NULL, n, 0.0f, z, n, err);
    else if (!(rc = rill_gemm(p, false, false, B, rank, n, 1.0f, x, n, V, rank, 0.0f, h, rank,
                              err)))
        rc = rill_gemm(p, false, true, B, n, rank, 1.0f, h, rank, U, rank, 0.0f, z, n, err);
    if (rc)
        return rc;
    cross_job j = {out, NULL, NULL, NULL, x0, x, z, NULL, b, n, c16 ? c16->out : NULL, NULL};
    rill_parallel_for((size_t)B, 64, cross_fwd_part, &j);
    return RILL_OK;
}

static void cross_bwd_part(void *ctx, size_t r0, size_t r1, int worker)
{
    const cross_job *j = ctx;
    (void)worker;
    for (size_t r = r0; r < r1; r++)
        for (int i = 0; i < j->n; i++) {
            size_t k = r * (size_t)j->n + i;
            float g = j->dout[k];
            j->dz[k] = g * j->x0[k];
            if (j->dx0)
                j->dx0[k] += g * j->z[k];
            j->dx[k] += g;
        }
    if (j->dz16)
        rill_bf16_round_rows(j->dz16 + r0 * (size_t)j->n, j->dz + r0 * (size_t)j->n,
                             (int)(r1 - r0), j->n, j->n);
}

typedef struct {
    float *db;
    const float *dz;
    int B, n;
} bias_job;

/* db[i] += the sum over rows of dz[., i], each column summed from 0 in row order; walked row
 * by row over COLS columns at a time, since a column alone is one float per cache line */
static void bias_grad_part(void *ctx, size_t c0, size_t c1, int worker)
{
    enum { COLS = 256 };
    const bias_job *j = ctx;
    (void)worker;
    for (size_t a = c0; a < c1; a += COLS) {
        size_t e = a + COLS < c1 ? a + COLS : c1;
        float acc[COLS] = {0};
        for (int r = 0; r < j->B; r++) {
            const float *row = j->dz + (size_t)r * j->n;
            for (size_t i = a; i < e; i++)
                acc[i - a] += row[i];
        }
        for (size_t i = a; i < e; i++)
            j->db[i] += acc[i - a];
    }
}

int cross_backward(rill_precision p, float *dx0, float *dx, float *dW, float *dU, float *dV,
                   float *db, float *dz, float *dh, const float *dout, const float *x0,
                   const float *x, const float *z, const float *h, const float *W,
                   const float *U, const float *V, int B, int n, int rank,
                   const cross_bf16 *c16, rill_err *err)
{
    cross_job j = {NULL, dx0, dx, dz, x0, x, z, dout, NULL, n, NULL, c16 ? c16->dz : NULL};
    rill_parallel_for((size_t)B, 64, cross_bwd_part, &j);
    bias_job bj = {db, dz, B, n};
    rill_parallel_for((size_t)n, 64, bias_grad_part, &bj);
    int rc;
    if (rank == 0) {
        const uint16_t *dz16 = c16 ? c16->dz : NULL, *x16 = c16 ? c16->x : NULL,
                       *W16 = c16 ? c16->W : NULL;
        if (!(rc = rill_gemm_h(p, true, false, n, n, B, 1.0f, dz, dz16, n, x, x16, n, 1.0f, dW, n,
                               err)))
            rc = rill_gemm_h(p, false, false, B, n, n, 1.0f, dz, dz16, n, W, W16, n, 1.0f, dx, n,
                             err);
    } else if (!(rc = rill_gemm(p, true, false, n, rank, B, 1.0f, dz, n, h, rank, 1.0f, dU, rank,
                                err)) &&
               !(rc = rill_gemm(p, false, false, B, rank, n, 1.0f, dz, n, U, rank, 0.0f, dh,
                                rank, err)) &&
               !(rc = rill_gemm(p, true, false, n, rank, B, 1.0f, x, n, dh, rank, 1.0f, dV, rank,
                                err))) {
        rc = rill_gemm(p, false, true, B, n, rank, 1.0f, dh, rank, V, rank, 1.0f, dx, n, err);
    }
    return rc;
}

static int cross_create(rill_node *n, rill_err *err)
{
    size_t cols;
    long layers, rank;
    int rc;
    if ((rc = rill_inputs_width(n, &cols, err)) ||
        (rc = rill_args_int(&n->args, "layers", 3, 1, MAX_CROSS, &layers, err)) ||
        (rc = rill_args_int(&n->args, "rank", 0, 0, 1 << 16, &rank, err)))
        return rc;
    if (rank >= (long)cols)
        return rill_node_errf(n, RILL_EINVAL, err,
                              "rank = %ld is not below the input width %zu: use rank = 0 (full)",
                              rank, cols);
    cross_state *st = calloc(1, sizeof *st);
    if (!st)
        return rill_node_errf(n, RILL_ENOMEM, err, "out of memory");
    n->st = st;
    st->layers = (int)layers;
    st->rank = (int)rank;
    st->n = (int)cols;
    for (int l = 0; l < st->layers; l++) {
        char name[24];
        if (rank == 0) {
            snprintf(name, sizeof name, "W%d", l + 1);
            if (!(st->W[l] = rill_graph_param(n->g, n, name, st->n, st->n, RILL_INIT_XAVIER, 1.0,
                                              err)))
                return err->code;
        } else {
            snprintf(name, sizeof name, "U%d", l + 1);
            if (!(st->U[l] = rill_graph_param(n->g, n, name, st->n, st->rank, RILL_INIT_XAVIER,
                                              1.0, err)))
                return err->code;
            snprintf(name, sizeof name, "V%d", l + 1);
            if (!(st->V[l] = rill_graph_param(n->g, n, name, st->n, st->rank, RILL_INIT_XAVIER,
                                              1.0, err)))
                return err->code;
        }
        snprintf(name, sizeof name, "b%d", l + 1);
        if (!(st->b[l] = rill_graph_param(n->g, n, name, 1, st->n, RILL_INIT_ZERO, 0, err)))
            return err->code;
    }
    n->out_kind = RILL_OUT_DENSE;
    n->nd = 1;
    n->dims[0] = st->n;
    return RILL_OK;
}

static int cross_forward_node(rill_node *n, rill_step *s, rill_err *err)
{
    cross_state *st = n->st;
    int B = s->B, N = st->n, r = st->rank;
    int rc = rill_inputs_join(n, s, &st->x0, err);
    if (rc)
        return rc;
    st->xs[0] = st->x0;
    /* full rank in bf16: every layer's x and W rounded once for its forward and backward */
    bool c16 = r == 0 && rill_gemm_is_bf16(s->precision, B, N, N);
    size_t xn = (size_t)B * N * sizeof(uint16_t), wn = (size_t)N * N * sizeof(uint16_t);
    if (c16 && !(st->x16[0] = rill_node_alloc(n, s, xn, false, err)))
        return err->code;
    if (c16)
        rill_bf16_round_rows(st->x16[0], st->x0, B, N, N);
    for (int l = 0; l < st->layers; l++) {
        bool last = l == st->layers - 1;
        float *out = last ? n->out : rill_node_alloc(n, s, (size_t)B * N * sizeof(float), false, err);
        st->z[l] = rill_node_alloc(n, s, (size_t)B * N * sizeof(float), false, err);
        st->h[l] = r ? rill_node_alloc(n, s, (size_t)B * r * sizeof(float), false, err) : NULL;
        if (!out || !st->z[l] || (r && !st->h[l]))
            return err->code;
        st->W16[l] = c16 ? rill_node_alloc(n, s, wn, false, err) : NULL;
        if (c16 && !last && !(st->x16[l + 1] = rill_node_alloc(n, s, xn, false, err)))
            return err->code;
        if (c16 && !st->W16[l])
            return err->code;
        if (c16)
            rill_bf16_round_rows(st->W16[l], st->W[l]->data, N, N, N);
        cross_bf16 h16 = {c16 ? st->x16[l] : NULL, st->W16[l],
                          c16 && !last ? st->x16[l + 1] : NULL, NULL};
        rc = cross_forward(s->precision, out, st->z[l], st->h[l], st->x0, st->xs[l],
                           r ? NULL : st->W[l]->data, r ? st->U[l]->data : NULL,
                           r ? st->V[l]->data : NULL, st->b[l]->data, B, N, r,
                           c16 ? &h16 : NULL, err);
        if (rc)
            return rc;
        st->xs[l + 1] = out;
    }
    return RILL_OK;
}

static int cross_backward_node(rill_node *n, rill_step *s, rill_err *err)
{
    cross_state *st = n->st;
    int B = s->B, N = st->n, r = st->rank, rc;
    size_t bytes = (size_t)B * N * sizeof(float);
    float *dx0 = rill_node_alloc(n, s, bytes, true, err);
    float *g = rill_node_alloc(n, s, bytes, false, err);
    float *gx = rill_node_alloc(n, s, bytes, false, err);
    float *dz = rill_node_alloc(n, s, bytes, false, err);
    float *dh = r ? rill_node_alloc(n, s, (size_t)B * r * sizeof(float), false, err) : NULL;
    /* the forward's copies are this step's when it made them (full rank, bf16) */
    bool c16 = r == 0 && st->W16[0] && rill_gemm_is_bf16(s->precision, B, N, N);
    uint16_t *dz16 = c16 ? rill_node_alloc(n, s, (size_t)B * N * sizeof(uint16_t), false, err)
                         : NULL;
    if (!dx0 || !g || !gx || !dz || (r && !dh) || (c16 && !dz16))
        return err->code;
    memcpy(g, n->dout, bytes);
    for (int l = st->layers - 1; l >= 0; l--) {
        /* layer 0's x is x0 itself: its gradient goes straight into dx0 */
        float *dx = l == 0 ? dx0 : gx;
        if (l > 0)
            memset(gx, 0, bytes);
        rc = cross_backward(s->precision, dx0, dx, r ? NULL : st->W[l]->grad,
                            r ? st->U[l]->grad : NULL, r ? st->V[l]->grad : NULL, st->b[l]->grad,
                            dz, dh, g, st->x0, st->xs[l], st->z[l], st->h[l],
                            r ? NULL : st->W[l]->data, r ? st->U[l]->data : NULL,
                            r ? st->V[l]->data : NULL, B, N, r,
                            c16 ? &(cross_bf16){st->x16[l], st->W16[l], NULL, dz16} : NULL, err);
        if (rc)
            return rc;
        float *t = g;
        g = gx;
        gx = t;
    }
    float *dxin = rill_inputs_grad_buffer(n, s, err, &rc);
    if (rc)
        return rc;
    if (dxin) {
        for (size_t k = 0; k < (size_t)B * N; k++)
            dxin[k] += dx0[k];
        rill_inputs_split_grad(n, s, dxin);
    }
    return RILL_OK;
}

static void cross_destroy(rill_node *n)
{
    free(n->st);
}

const rill_node_ops rill_node_interact_cross = {.name = "interact_cross",
    .args = (const char *const[]){"layers", "rank", NULL},
                                                .create = cross_create,
                                                .forward = cross_forward_node,
                                                .backward = cross_backward_node,
                                                .destroy = cross_destroy};
