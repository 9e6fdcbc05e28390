/* The generators' shared set-up: Zipf sampling by Walker alias tables (fields of up to
 * RILL_GEN_ALIAS_MAX values, one random number per draw) and by rejection-inversion (Hoermann
 * and Derflinger 1996) above that, which needs no table and O(1) expected work per draw at
 * any cardinality; and sums under a field's law. */
#include "gen_common.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* expm1(t)/t, continuous through t = 0 where the plain formula divides 0/0. */
static double expm1_over(double t)
{
    return fabs(t) < 1e-8 ? 1 + t / 2 + t * t / 6 : expm1(t) / t;
}

/* H(x) = integral of t^-s from 1 to x, which is log(x) at s = 1; written through expm1_over
 * so that exponents just off 1 lose no precision. */
static double zipf_H(double x, double s)
{
    double lx = log(x);
    return expm1_over((1 - s) * lx) * lx;
}

/* The inverse of H, on the hot path: plain log and exp, which are much faster than log1p.
 * 1 + (1-s)y stays well away from 0 for the exponents used (1-s >= -0.3, y <= H(inf)), so
 * the result is good to a few ulps, and an ulp only matters for a draw landing exactly on a
 * rank boundary. */
static double zipf_Hinv(double y, double s)
{
    return s == 1 ? exp(y) : exp(log(1 + (1 - s) * y) / (1 - s));
}

void rill_zipf_setup_ri(rill_zipf *z, uint64_t card, double s)
{
    *z = (rill_zipf){.card = card, .s = s};
    z->h_x1 = zipf_H(1.5, s) - 1;
    z->h_n = zipf_H((double)card + 0.5, s);
    z->squeeze = 2 - zipf_Hinv(zipf_H(2.5, s) - pow(2, -s), s);
}

/* Rejection-inversion: invert the integral of the hat x^-s at a uniform point, round to the
 * nearest rank, and accept unless the point fell in the sliver between hat and histogram.
 * Most draws are accepted by the squeeze test without evaluating anything more. */
uint64_t rill_zipf_draw_ri(const rill_zipf *z, rill_rng *r)
{
    for (;;) {
        double u = z->h_n + rill_rng_unit(r) * (z->h_x1 - z->h_n);
        double x = zipf_Hinv(u, z->s);
        double kd = floor(x + 0.5);
        if (kd < 1)
            kd = 1;
        else if (kd > (double)z->card)
            kd = (double)z->card;
        if (kd - x <= z->squeeze || u >= zipf_H(kd + 0.5, z->s) - pow(kd, -z->s))
            return (uint64_t)kd;
    }
}

/* Walker's alias method, built with Vose's two worklists. Bin i keeps rank i+1 when the low
 * 32 bits of the draw fall below thr[i], else gives rank alias[i]+1. A full bin points at
 * itself, so it needs no threshold of 2^32. */
static int alias_build(rill_zipf *z, double *w)
{
    size_t n = (size_t)z->card;
    z->thr = malloc(n * sizeof *z->thr);
    z->alias = malloc(n * sizeof *z->alias);
    uint32_t *small = malloc(2 * n * sizeof *small), *large = small ? small + n : NULL;
    if (!z->thr || !z->alias || !small) {
        free(small);
        rill_zipf_free(z);
        return -1;
    }
    double sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += w[i];
    size_t ns = 0, nl = 0;
    for (size_t i = 0; i < n; i++) {
        w[i] *= (double)n / sum;
        if (w[i] < 1)
            small[ns++] = (uint32_t)i;
        else
            large[nl++] = (uint32_t)i;
    }
    while (ns && nl) {
        uint32_t a = small[--ns], b = large[--nl];
        z->thr[a] = (uint32_t)(w[a] * 4294967296.0);
        z->alias[a] = b;
        w[b] -= 1 - w[a];
        if (w[b] < 1)
            small[ns++] = b;
        else
            large[nl++] = b;
    }
    /* what is left is 1 up to rounding */
    while (nl) {
        uint32_t b = large[--nl];
        z->thr[b] = 0;
        z->alias[b] = b;
    }
    while (ns) {
        uint32_t a = small[--ns];
        z->thr[a] = 0;
        z->alias[a] = a;
    }
    free(small);
    return 0;
}

void rill_zipf_weights(double s, uint64_t n, double *w)
{
    for (uint64_t r = 1; r <= n; r++)
        w[r - 1] = pow((double)r, -s);
}

int rill_zipf_setup(rill_zipf *z, uint64_t card, double s, double *w)
{
    if (card > RILL_GEN_ALIAS_MAX) {
        rill_zipf_setup_ri(z, card, s);
        return 0;
    }
    *z = (rill_zipf){.card = card, .s = s};
    return alias_build(z, w);
}

void rill_zipf_free(rill_zipf *z)
{
    free(z->thr);
    free(z->alias);
    z->thr = z->alias = NULL;
}

void rill_zipf_law_sums(double s, uint64_t card, const double *w, int m,
                        void (*values)(const void *ctx, uint64_t r, double *out), const void *ctx,
                        double *sums, double *norm)
{
    uint64_t head = card < RILL_GEN_ALIAS_MAX ? card : RILL_GEN_ALIAS_MAX;
    double z = 0, v[16];
    for (uint64_t r = 1; r <= head; r++) {
        double wr = w ? w[r - 1] : pow((double)r, -s);
        values(ctx, r, v);
        for (int i = 0; i < m; i++)
            sums[i] += wr * v[i];
        z += wr;
    }
    if (card > head)
        z += zipf_H((double)card + 0.5, s) - zipf_H((double)head + 0.5, s);
    *norm = z;
}

void rill_gen_center(const rill_zipf *z, uint64_t miss, const double *w, int nparts, bool has_vec,
                     void (*values)(const void *ctx, uint64_t r, double *out), const void *ctx,
                     double *emean, double (*vmean)[RILL_GEN_UDIM])
{
    double sums[16] = {0}, empty[16], norm;
    rill_zipf_law_sums(z->s, z->card, w, has_vec ? nparts * (1 + RILL_GEN_UDIM) : nparts, values,
                       ctx, sums, &norm);
    values(ctx, 0, empty);
    double pmiss = (double)miss * (1.0 / 18446744073709551616.0);
    for (int p = 0; p < nparts; p++) {
        emean[p] = (1 - pmiss) * sums[p] / norm + pmiss * empty[p];
        for (int d = 0; d < RILL_GEN_UDIM; d++)
            vmean[p][d] = sums[nparts + p * RILL_GEN_UDIM + d] / norm;
    }
}

int rill_gen_text_open(rill_gen_text *t, FILE *f, rill_err *err)
{
    t->f = f;
    t->buf = t->p = f ? malloc(RILL_GEN_TEXT_BUF) : NULL;
    if (f && !t->buf)
        return rill_errf(err, RILL_ENOMEM, "generator: out of memory for the output buffer");
    return RILL_OK;
}

static int write_out(rill_gen_text *t, uint64_t rows, rill_err *err)
{
    size_t n = (size_t)(t->p - t->buf);
    if (fwrite(t->buf, 1, n, t->f) != n)
        return rill_errf(err, RILL_EIO, "generator: writing rows up to %llu failed: %s",
                         (unsigned long long)rows, strerror(errno));
    t->p = t->buf;
    return RILL_OK;
}

int rill_gen_text_row_end(rill_gen_text *t, uint64_t rows, rill_err *err)
{
    if ((size_t)(t->p - t->buf) > RILL_GEN_TEXT_BUF - RILL_GEN_ROW_MAX)
        return write_out(t, rows, err);
    return RILL_OK;
}

int rill_gen_text_close(rill_gen_text *t, uint64_t rows, int rc, rill_err *err)
{
    if (rc == RILL_OK && t->f && t->p > t->buf)
        rc = write_out(t, rows, err);
    free(t->buf);
    t->buf = t->p = NULL;
    return rc;
}
