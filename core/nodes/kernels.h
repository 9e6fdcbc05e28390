/* Kernels: plain functions over flat row-major arrays, shared by node kinds and checked by
 * the tests against reference vectors. Shapes are in the first comment; every backward adds
 * (+=) into its outputs, which the caller zeroes once; a NULL gradient pointer means "not
 * needed". */
#ifndef RILL_KERNELS_H
#define RILL_KERNELS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "blas.h"

/* A layer's bf16 copies (precision bf16; see rill_gemm_h), each NULL where absent: x and W
 * are read by the products instead of rounding the f32 values again; out and dpre, when
 * given, are written with the rounded output (forward) or masked gradient (backward) as each
 * row is made, for the products that read them next. Dense, the f32 arrays' shapes. */
typedef struct {
    const uint16_t *x, *W;
    uint16_t *out, *dpre;
} linear_bf16;

/* x (B,In), W (Out,In), b (Out) -> out (B,Out) = x W^T + b, then ReLU when relu. The GEMMs
 * of linear and cross run at precision p (rill_gemm); they fail only in bf16 (err). h may be
 * NULL. */
int linear_forward(rill_precision p, float *out, const float *x, const float *W, const float *b,
                   int B, int In, int Out, bool relu, const linear_bf16 *h, rill_err *err);
/* dout (B,Out) is the gradient after the ReLU; out is the forward output (for the ReLU
 * mask, may be NULL when relu is false). dpre (B,Out) is scratch for the masked gradient and
 * may alias dout when the caller no longer needs dout. dx is written instead of added to
 * when dx_overwrite (saves zeroing a buffer the caller owns). h may be NULL. */
int linear_backward(rill_precision p, float *dx, float *dW, float *db, const float *dout,
                    float *dpre, const float *out, const float *x, const float *W, int B, int In,
                    int Out, bool relu, bool dx_overwrite, const linear_bf16 *h, rill_err *err);

/* Z (B,F,D) fields -> out[b*ldo + c], c over the F(F-1)/2 strict-lower-triangle pairs
 * (i,j), j < i, in row order: (1,0) (2,0) (2,1) (3,0) ... */
void dot_pairs_forward(float *out, int ldo, const float *Z, int B, int F, int D);
void dot_pairs_backward(float *dZ, const float *dout, int ldo, const float *Z, int B, int F,
                        int D);

/* emb (B,F,D) -> out (B) = sum over field pairs f<g of <emb_f, emb_g>. */
void fm_forward(float *out, const float *emb, int B, int F, int D);
void fm_backward(float *demb, const float *dout, const float *emb, int B, int F, int D);

/* A full-rank cross layer's bf16 copies (any may be NULL): x and W as rounded once by the
 * caller; out16 gets out rounded (the next layer's x) in the same pass that writes out, dz16
 * the rounded dz in the pass that makes dz, so no operand is rounded twice. */
typedef struct {
    const uint16_t *x, *W;
    uint16_t *out, *dz;
} cross_bf16;

/* One DCNv2 cross layer: out = x0 * (W x + b) + x, with W (n,n) when rank == 0, else
 * W = U V^T, U and V (n,rank). z (B,n) receives W x + b, h (B,rank) receives x V. */
int cross_forward(rill_precision p, float *out, float *z, float *h, const float *x0,
                  const float *x, const float *W, const float *U, const float *V, const float *b,
                  int B, int n, int rank, const cross_bf16 *c16, rill_err *err);
/* dz (B,n) and dh (B,rank) are scratch. */
int cross_backward(rill_precision p, float *dx0, float *dx, float *dW, float *dU, float *dV,
                   float *db, float *dz, float *dh, const float *dout, const float *x0,
                   const float *x, const float *z, const float *h, const float *W,
                   const float *U, const float *V, int B, int n, int rank,
                   const cross_bf16 *c16, rill_err *err);

/* Weighted-mean BCE with logits: z, y (B), w (B or NULL). Returns the loss; dz (B) gets the
 * gradient times scale (not accumulated: dz is written); ex (B, or NULL) each example's share
 * of the loss times scale (they sum to the returned loss times scale). */
double bce_forward_backward(float *dz, float *ex, const float *z, const float *y, const float *w,
                            int B, double scale);
/* The combined-pair ranking loss (Lin et al., KDD 2024): the mean over every (positive i,
 * negative j) pair of the batch of -log sigmoid(z_i - z_j), 0 when there are no positives or
 * no negatives. Adds scale times its gradient to dz and returns the loss. Exact, pair by pair
 * (O(|P||N|) time, no pair matrix), the positives split over the thread pool; work holds
 * pair_work_bytes(B) bytes. Results depend on the thread count only. */
size_t pair_work_bytes(int B);
double pair_forward_backward(float *dz, const float *z, const float *y, int B, double scale,
                             void *work);

/* Layer norm over each row of x (B,C): y = gamma * (x - mean) / sqrt(var + eps) + beta.
 * xhat (B,C) and rstd (B) are kept for backward. */
void layernorm_forward(float *y, float *xhat, float *rstd, const float *x, const float *gamma,
                       const float *beta, int B, int C, float eps);
void layernorm_backward(float *dx, float *dgamma, float *dbeta, const float *dy,
                        const float *xhat, const float *rstd, const float *gamma, int B, int C);
/* Batch norm over the batch per column; training uses the batch statistics and moves the
 * running ones (momentum), evaluation uses the running ones. */
void batchnorm_forward(float *y, float *xhat, float *rstd, const float *x, const float *gamma,
                       const float *beta, float *run_mean, float *run_var, int B, int C,
                       float eps, float momentum, bool training);
void batchnorm_backward(float *dx, float *dgamma, float *dbeta, const float *dy,
                        const float *xhat, const float *rstd, const float *gamma, int B, int C);

#endif
