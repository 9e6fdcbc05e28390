/* interact_dot: DLRM's pairwise dot products. Every input is a list of fields of width D (a
 * (B, D) input is one field, a (B, F, D) input is F fields); the output is the 1-D inputs
 * passed through side by side (argument passthrough, default true) followed by the dot
 * products of every field pair (i, j), j < i, in that order: (1,0) (2,0) (2,1) (3,0) ... */
#include <stdlib.h>
#include <string.h>

#include "graph.h"
#include "kernels.h"
#include "nodes.h"
#include "pool.h"

typedef struct {
    int F, D, npass;
    bool passthrough;
    float *Z; /* this step's fields, (B, F, D) */
} dot_state;

typedef struct {
    float *out;
    const float *Z, *dout;
    float *dZ;
    int ldo, F, D;
} dot_job;

/* The pair kernels are the one place outside the GEMMs where DLRM spends real time, so they
 * use GCC vector types (16 floats: one AVX-512 register, or two AVX2 ones, elsewhere split by
 * the compiler). Forward: per example Z^T (D, Fp) is laid out with the fields padded to a
 * multiple of 16, and the dots of field i with fields 0..i-1 are accumulated 16 fields at a
 * time. Backward: dZ_i += sum_k G_ik Z_k with G the symmetric matrix of pair gradients, 16
 * dims at a time. Widths other than multiples of 16 take the plain loops. */
typedef float v16 __attribute__((vector_size(64)));
/* the helpers below are always inlined, so the note about passing 64-byte vectors between
 * functions on machines without AVX-512 does not apply */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wpsabi"
#endif
#define DOT_MAX_F 128

static inline v16 load16(const float *p)
{
    v16 v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline void store16(float *p, v16 v)
{
    memcpy(p, &v, sizeof v);
}

static void pairs_fwd_plain(const float *z, float *o, int F, int D)
{
    int c = 0;
    for (int i = 1; i < F; i++)
        for (int k = 0; k < i; k++) {
            float s = 0;
            for (int d = 0; d < D; d++)
                s += z[i * D + d] * z[k * D + d];
            o[c++] = s;
        }
}

static void pairs_fwd_part(void *ctx, size_t b0, size_t b1, int worker)
{
    const dot_job *j = ctx;
    (void)worker;
    int F = j->F, D = j->D, Fp = (F + 15) / 16 * 16;
    float zt[DOT_MAX_F * 64] __attribute__((aligned(64)));
    float acc[DOT_MAX_F * (DOT_MAX_F - 1) / 2 + DOT_MAX_F];
    bool fast = F <= DOT_MAX_F && D <= 64;
    for (size_t b = b0; b < b1; b++) {
        const float *z = j->Z + b * (size_t)F * D;
        float *o = j->out + b * (size_t)j->ldo;
        if (!fast) {
            pairs_fwd_plain(z, o, F, D);
            continue;
        }
        for (int d = 0; d < D; d++) {
            float *row = zt + d * Fp;
            for (int f = 0; f < F; f++)
                row[f] = z[f * D + d];
            for (int f = F; f < Fp; f++)
                row[f] = 0.0f;
        }
        /* whole 16-wide blocks go to acc, row i at offset c; the lanes past i spill into
         * the next row's place, which that row then overwrites */
        int c = 0, i = 1;
        /* the rows of the first block two at a time: two independent chains share each zt
         * load (each row's sum still runs over d in order: the same bits); the second's
         * store goes after the first's, whose spill it overwrites as before */
        for (; i + 1 <= 16 && i + 1 < F; i += 2) {
            v16 a0 = {0}, a1 = {0};
            for (int d = 0; d < D; d++) {
                v16 t = load16(zt + d * Fp);
                a0 += z[i * D + d] * t;
                a1 += z[(i + 1) * D + d] * t;
            }
            store16(acc + c, a0);
            store16(acc + c + i, a1);
            c += 2 * i + 1;
        }
        for (; i < F; i++) {
            if (i <= 16) {
                v16 a0 = {0};
                for (int d = 0; d < D; d++)
                    a0 += z[i * D + d] * load16(zt + d * Fp);
                store16(acc + c, a0);
            } else if (i <= 32) {
                v16 a0 = {0}, a1 = {0};
                for (int d = 0; d < D; d++) {
                    float zi = z[i * D + d];
                    a0 += zi * load16(zt + d * Fp);
                    a1 += zi * load16(zt + d * Fp + 16);
                }
                store16(acc + c, a0);
                store16(acc + c + 16, a1);
            } else {
                int nb = (i + 15) / 16;
                for (int q = 0; q < nb; q++) {
                    v16 a = {0};
                    for (int d = 0; d < D; d++)
                        a += z[i * D + d] * load16(zt + d * Fp + 16 * q);
                    store16(acc + c + 16 * q, a);
                }
            }
            c += i;
        }
        memcpy(o, acc, (size_t)c * sizeof(float));
    }
}

void dot_pairs_forward(float *out, int ldo, const float *Z, int B, int F, int D)
{
    dot_job j = {out, Z, NULL, NULL, ldo, F, D};
    rill_parallel_for((size_t)B, 32, pairs_fwd_part, &j);
}

static void pairs_bwd_part(void *ctx, size_t b0, size_t b1, int worker)
{
    const dot_job *j = ctx;
    (void)worker;
    int F = j->F, D = j->D;
    float G[DOT_MAX_F * DOT_MAX_F];
    bool fast = F <= DOT_MAX_F && D % 16 == 0 && D <= 64;
    for (size_t b = b0; b < b1; b++) {
        const float *z = j->Z + b * (size_t)F * D;
        float *dz = j->dZ + b * (size_t)F * D;
        const float *g = j->dout + b * (size_t)j->ldo;
        int c = 0;
        if (!fast) {
            for (int i = 1; i < F; i++)
                for (int k = 0; k < i; k++) {
                    float gk = g[c++];
                    for (int d = 0; d < D; d++) {
                        dz[i * D + d] += gk * z[k * D + d];
                        dz[k * D + d] += gk * z[i * D + d];
                    }
                }
            continue;
        }
        for (int i = 0; i < F; i++)
            G[i * F + i] = 0.0f;
        for (int i = 1; i < F; i++)
            for (int k = 0; k < i; k++) {
                G[i * F + k] = g[c];
                G[k * F + i] = g[c++];
            }
        int nq = D / 16, i = 0;
        if (nq == 1) {
            /* four fields at a time: four independent chains of adds share each z_k load
             * (each field's sum still runs over k in order: the same bits) */
            for (; i + 4 <= F; i += 4) {
                v16 a0 = load16(dz + i * D), a1 = load16(dz + (i + 1) * D),
                    a2 = load16(dz + (i + 2) * D), a3 = load16(dz + (i + 3) * D);
                const float *g0 = G + i * F, *g1 = g0 + F, *g2 = g1 + F, *g3 = g2 + F;
                for (int k = 0; k < F; k++) {
                    v16 zk = load16(z + k * D);
                    a0 += g0[k] * zk;
                    a1 += g1[k] * zk;
                    a2 += g2[k] * zk;
                    a3 += g3[k] * zk;
                }
                store16(dz + i * D, a0);
                store16(dz + (i + 1) * D, a1);
                store16(dz + (i + 2) * D, a2);
                store16(dz + (i + 3) * D, a3);
            }
        }
        for (; i < F; i++) {
            v16 a[4];
            for (int q = 0; q < nq; q++)
                a[q] = load16(dz + i * D + 16 * q);
            for (int k = 0; k < F; k++) {
                float gk = G[i * F + k];
                for (int q = 0; q < nq; q++)
                    a[q] += gk * load16(z + k * D + 16 * q);
            }
            for (int q = 0; q < nq; q++)
                store16(dz + i * D + 16 * q, a[q]);
        }
    }
}

void dot_pairs_backward(float *dZ, const float *dout, int ldo, const float *Z, int B, int F,
                        int D)
{
    dot_job j = {NULL, Z, dout, dZ, ldo, F, D};
    rill_parallel_for((size_t)B, 32, pairs_bwd_part, &j);
}

static int dot_create(rill_node *n, rill_err *err)
{
    dot_state *st = calloc(1, sizeof *st);
    if (!st)
        return rill_node_errf(n, RILL_ENOMEM, err, "out of memory");
    n->st = st;
    int rc = rill_args_bool(&n->args, "passthrough", true, &st->passthrough, err);
    if (rc)
        return rc;
    if (n->nin == 0)
        return rill_node_errf(n, RILL_EINVAL, err, "needs input nodes (embeddings, a bottom MLP)");
    for (int i = 0; i < n->nin; i++) {
        int F, D;
        if (rill_node_fields(n->in[i], &F, &D))
            return rill_node_errf(n, RILL_ESHAPE, err,
                                  "input %d ('%s', %s) must be vectors (B, D) or fields (B, F, D)",
                                  i + 1, n->in[i]->name, n->in[i]->ops->name);
        if (i > 0 && D != st->D)
            return rill_node_errf(n, RILL_ESHAPE, err,
                                  "all fields must have one width: '%s' has %d, '%s' has %d "
                                  "(make the bottom MLP's last size equal the embedding dim)",
                                  n->in[0]->name, st->D, n->in[i]->name, D);
        st->D = D;
        st->F += F;
        if (n->in[i]->nd == 1 && st->passthrough)
            st->npass += D;
    }
    if (st->F < 2)
        return rill_node_errf(n, RILL_ESHAPE, err, "needs at least two fields, got %d", st->F);
    n->out_kind = RILL_OUT_DENSE;
    n->nd = 1;
    n->dims[0] = st->npass + st->F * (st->F - 1) / 2;
    return RILL_OK;
}

/* The node's step runs as one parallel pass over example rows: gather the row's fields
 * into Z (and the pass-through columns), then the pair kernel on those rows; backward zeroes
 * the rows of dZ, runs the kernel, and adds the rows back into the inputs' gradients. */
typedef struct {
    rill_node *n;
    dot_job k;
} node_job;

static void node_fwd_part(void *ctx, size_t b0, size_t b1, int worker)
{
    node_job *j = ctx;
    rill_node *n = j->n;
    dot_state *st = n->st;
    int F = st->F, D = st->D, ldo = (int)n->cols;
    for (size_t b = b0; b < b1; b++) {
        int f0 = 0, p0 = 0;
        for (int i = 0; i < n->nin; i++) {
            const rill_node *in = n->in[i];
            int Fi = in->nd == 1 ? 1 : in->dims[0];
            size_t w = (size_t)Fi * D;
            memcpy(st->Z + (b * F + f0) * D, in->out + b * w, w * sizeof(float));
            if (in->nd == 1 && st->passthrough) {
                memcpy(n->out + b * ldo + p0, in->out + b * D, (size_t)D * sizeof(float));
                p0 += D;
            }
            f0 += Fi;
        }
    }
    pairs_fwd_part(&j->k, b0, b1, worker);
}

static int dot_forward(rill_node *n, rill_step *s, rill_err *err)
{
    dot_state *st = n->st;
    int F = st->F, D = st->D, B = s->B;
    st->Z = rill_node_alloc(n, s, (size_t)B * F * D * sizeof(float), false, err);
    if (!st->Z)
        return err->code;
    node_job j = {n, {n->out + st->npass, st->Z, NULL, NULL, (int)n->cols, F, D}};
    rill_parallel_for((size_t)B, 32, node_fwd_part, &j);
    return RILL_OK;
}

static void node_bwd_part(void *ctx, size_t b0, size_t b1, int worker)
{
    node_job *j = ctx;
    rill_node *n = j->n;
    dot_state *st = n->st;
    int F = st->F, D = st->D, ldo = (int)n->cols;
    memset(j->k.dZ + b0 * F * D, 0, (b1 - b0) * F * D * sizeof(float));
    pairs_bwd_part(&j->k, b0, b1, worker);
    for (size_t b = b0; b < b1; b++) {
        int f0 = 0, p0 = 0;
        for (int i = 0; i < n->nin; i++) {
            rill_node *in = n->in[i];
            int Fi = in->nd == 1 ? 1 : in->dims[0];
            size_t w = (size_t)Fi * D;
            bool pass = in->nd == 1 && st->passthrough;
            if (in->dout) {
                float *d = in->dout + b * w;
                const float *g = j->k.dZ + (b * F + f0) * D;
                for (size_t k = 0; k < w; k++)
                    d[k] += g[k];
                if (pass) {
                    const float *gp = n->dout + b * ldo + p0;
                    for (int k = 0; k < D; k++)
                        d[k] += gp[k];
                }
            }
            if (pass)
                p0 += D;
            f0 += Fi;
        }
    }
}

static int dot_backward(rill_node *n, rill_step *s, rill_err *err)
{
    dot_state *st = n->st;
    int F = st->F, D = st->D, B = s->B;
    float *dZ = rill_node_alloc(n, s, (size_t)B * F * D * sizeof(float), false, err);
    if (!dZ)
        return err->code;
    node_job j = {n, {NULL, st->Z, n->dout + st->npass, dZ, (int)n->cols, F, D}};
    rill_parallel_for((size_t)B, 32, node_bwd_part, &j);
    return RILL_OK;
}

static void dot_destroy(rill_node *n)
{
    free(n->st);
}

const rill_node_ops rill_node_interact_dot = {.name = "interact_dot",
    .args = (const char *const[]){"passthrough", NULL},
                                              .create = dot_create,
                                              .forward = dot_forward,
                                              .backward = dot_backward,
                                              .destroy = dot_destroy};
