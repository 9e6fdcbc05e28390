/* Dense layer kernels (linear, layer norm, batch norm): GEMMs through rill_sgemm, the
 * element-wise work split over the pool by rows. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "blas.h"
#include "kernels.h"
#include "pool.h"

typedef struct {
    float *out;
    uint16_t *out16;
    const float *b;
    int Out;
    bool relu;
} bias_job;

static void bias_part(void *ctx, size_t r0, size_t r1, int worker)
{
    const bias_job *j = ctx;
    (void)worker;
    for (size_t r = r0; r < r1; r++) {
        float *o = j->out + r * (size_t)j->Out;
        if (j->relu)
            for (int c = 0; c < j->Out; c++) {
                float v = o[c] + j->b[c];
                o[c] = v > 0.0f ? v : 0.0f;
            }
        else
            for (int c = 0; c < j->Out; c++)
                o[c] += j->b[c];
        if (j->out16) /* while the row is in L1 */
            rill_bf16_round_row(j->out16 + r * (size_t)j->Out, o, j->Out);
    }
}

int linear_forward(rill_precision p, float *out, const float *x, const float *W, const float *b,
                   int B, int In, int Out, bool relu, const linear_bf16 *h, rill_err *err)
{
    int rc = rill_gemm_h(p, false, true, B, Out, In, 1.0f, x, h ? h->x : NULL, In, W,
                         h ? h->W : NULL, In, 0.0f, out, Out, err);
    if (rc)
        return rc;
    bias_job j = {out, h ? h->out : NULL, b, Out, relu};
    rill_parallel_for((size_t)B, 64, bias_part, &j);
    return RILL_OK;
}

typedef struct {
    float *dpre;
    uint16_t *dpre16;
    const float *dout, *out;
    int B, Out;
    bool relu;
    float *db;
} mask_job;

/* dpre = dout masked by the ReLU (or copied), and its bf16 copy, row by row */
static void mask_part(void *ctx, size_t r0, size_t r1, int worker)
{
    const mask_job *j = ctx;
    (void)worker;
    size_t n = (size_t)j->Out;
    for (size_t r = r0; r < r1; r++) {
        const float *d = j->dout + r * n, *o = j->out ? j->out + r * n : NULL;
        float *p = j->dpre + r * n;
        if (j->relu)
            for (size_t c = 0; c < n; c++)
                p[c] = o[c] > 0.0f ? d[c] : 0.0f;
        else if (p != d)
            memcpy(p, d, n * sizeof *p);
        if (j->dpre16)
            rill_bf16_round_row(j->dpre16 + r * n, p, (int)n);
    }
}

/* db += column sums of dpre, as dpre^T times a vector of ones (a GEMV reads dpre once,
 * row by row, where a loop per column would stride through it) */
static const float *ones(int n)
{
    static float *v;
    static int len;
    if (n > len) {
        float *nv = realloc(v, (size_t)n * sizeof *nv);
        if (!nv)
            return NULL;
        for (int i = len; i < n; i++)
            nv[i] = 1.0f;
        v = nv;
        len = n;
    }
    return v;
}

static void colsum_part(void *ctx, size_t c0, size_t c1, int worker)
{
    const mask_job *j = ctx;
    (void)worker;
    const float *one = ones(j->B);
    if (one)
        cblas_sgemv(CblasRowMajor, CblasTrans, j->B, (int)(c1 - c0), 1.0f, j->dpre + c0, j->Out,
                    one, 1, 1.0f, j->db + c0, 1);
    else
        for (size_t c = c0; c < c1; c++) /* no memory for the ones: the plain loop */
            for (int r = 0; r < j->B; r++)
                j->db[c] += j->dpre[(size_t)r * j->Out + c];
}

int linear_backward(rill_precision p, float *dx, float *dW, float *db, const float *dout,
                    float *dpre, const float *out, const float *x, const float *W, int B, int In,
                    int Out, bool relu, bool dx_overwrite, const linear_bf16 *h, rill_err *err)
{
    int rc = RILL_OK;
    uint16_t *dpre16 = h ? h->dpre : NULL;
    mask_job j = {dpre, dpre16, dout, out, B, Out, relu, db};
    if (relu || dpre != dout || dpre16)
        rill_parallel_for((size_t)B, 64, mask_part, &j);
    if (db) {
        ones(B); /* grown here, before the threads read it */
        rill_parallel_for((size_t)Out, 64, colsum_part, &j);
    }
    if (dW)
        rc = rill_gemm_h(p, true, false, Out, In, B, 1.0f, dpre, dpre16, Out, x, h ? h->x : NULL,
                         In, 1.0f, dW, In, err);
    if (dx && !rc)
        rc = rill_gemm_h(p, false, false, B, In, Out, 1.0f, dpre, dpre16, Out, W,
                         h ? h->W : NULL, In, dx_overwrite ? 0.0f : 1.0f, dx, In, err);
    return rc;
}

void layernorm_forward(float *y, float *xhat, float *rstd, const float *x, const float *gamma,
                       const float *beta, int B, int C, float eps)
{
    for (int r = 0; r < B; r++) {
        const float *xr = x + (size_t)r * C;
        double mean = 0, var = 0;
        for (int c = 0; c < C; c++)
            mean += (double)xr[c];
        mean /= C;
        for (int c = 0; c < C; c++)
            var += ((double)xr[c] - mean) * ((double)xr[c] - mean);
        var /= C;
        float rs = (float)(1.0 / sqrt(var + (double)eps));
        rstd[r] = rs;
        for (int c = 0; c < C; c++) {
            float h = (float)((double)xr[c] - mean) * rs;
            xhat[(size_t)r * C + c] = h;
            y[(size_t)r * C + c] = gamma[c] * h + beta[c];
        }
    }
}

void layernorm_backward(float *dx, float *dgamma, float *dbeta, const float *dy,
                        const float *xhat, const float *rstd, const float *gamma, int B, int C)
{
    for (int r = 0; r < B; r++) {
        const float *dyr = dy + (size_t)r * C, *h = xhat + (size_t)r * C;
        double s1 = 0, s2 = 0; /* means of dxhat and of dxhat * xhat */
        for (int c = 0; c < C; c++) {
            float dh = dyr[c] * gamma[c];
            s1 += (double)dh;
            s2 += (double)(dh * h[c]);
            dgamma[c] += dyr[c] * h[c];
            dbeta[c] += dyr[c];
        }
        float m1 = (float)(s1 / C), m2 = (float)(s2 / C);
        if (dx)
            for (int c = 0; c < C; c++)
                dx[(size_t)r * C + c] += rstd[r] * (dyr[c] * gamma[c] - m1 - h[c] * m2);
    }
}

void batchnorm_forward(float *y, float *xhat, float *rstd, const float *x, const float *gamma,
                       const float *beta, float *run_mean, float *run_var, int B, int C,
                       float eps, float momentum, bool training)
{
    for (int c = 0; c < C; c++) {
        double mean, var;
        if (training) {
            double s = 0, q = 0;
            for (int r = 0; r < B; r++)
                s += (double)x[(size_t)r * C + c];
            mean = s / B;
            for (int r = 0; r < B; r++) {
                double d = (double)x[(size_t)r * C + c] - mean;
                q += d * d;
            }
            var = q / B;
            /* the running variance is the unbiased estimate, as torch keeps it */
            double unbiased = B > 1 ? q / (B - 1) : var, mo = (double)momentum;
            run_mean[c] = (float)((1.0 - mo) * (double)run_mean[c] + mo * mean);
            run_var[c] = (float)((1.0 - mo) * (double)run_var[c] + mo * unbiased);
        } else {
            mean = (double)run_mean[c];
            var = (double)run_var[c];
        }
        float rs = (float)(1.0 / sqrt(var + (double)eps));
        rstd[c] = rs;
        for (int r = 0; r < B; r++) {
            size_t i = (size_t)r * C + c;
            float h = (float)((double)x[i] - mean) * rs;
            xhat[i] = h;
            y[i] = gamma[c] * h + beta[c];
        }
    }
}

void batchnorm_backward(float *dx, float *dgamma, float *dbeta, const float *dy,
                        const float *xhat, const float *rstd, const float *gamma, int B, int C)
{
    for (int c = 0; c < C; c++) {
        double sdy = 0, sdyh = 0;
        for (int r = 0; r < B; r++) {
            size_t i = (size_t)r * C + c;
            sdy += (double)dy[i];
            sdyh += (double)(dy[i] * xhat[i]);
        }
        dgamma[c] += (float)sdyh;
        dbeta[c] += (float)sdy;
        if (!dx)
            continue;
        float k = gamma[c] * rstd[c], m1 = (float)(sdy / B), m2 = (float)(sdyh / B);
        for (int r = 0; r < B; r++) {
            size_t i = (size_t)r * C + c;
            dx[i] += k * (dy[i] - m1 - xhat[i] * m2);
        }
    }
}
