/* bf16 GEMMs (rill_gemm with RILL_BF16, core/gemm_bf16.c): the rounding (to nearest, ties to
 * even, NaN kept quiet, overflow to infinity) on chosen values and, row by row, on random bit
 * patterns against the scalar form; products of every form the nodes use (A and B plain or
 * transposed, alpha, beta, leading dimensions wider than the matrix) against a double-precision
 * product of the same bf16-rounded operands, at 1 and 2 threads, so every split (rows, columns,
 * the inner dimension) runs; C's columns past N untouched; the same call twice gives the same
 * bits; thin products fall back to fp32 exactly; a CPU without bf16 (RILL_HIDE_BF16) is an
 * error that says what it lacks. The products skip where this CPU cannot run bf16. */
#include "blas.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pool.h"
#include "tap.h"
#include "util.h"

static float bits_float(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static void check_rounding(void)
{
    struct {
        uint32_t in;
        uint16_t want;
        const char *what;
    } c[] = {
        {0x3f800000u, 0x3f80, "1.0"},
        {0x3f808000u, 0x3f80, "a tie rounds to the even 1.0"},
        {0x3f818000u, 0x3f82, "a tie rounds to the even 0x3f82"},
        {0x3f808001u, 0x3f81, "just above the tie rounds up"},
        {0xbf80ffffu, 0xbf81, "negative values round by magnitude"},
        {0x7f7fffffu, 0x7f80, "the largest float rounds to infinity"},
        {0x7f800000u, 0x7f80, "infinity stays"},
        {0x7f800001u, 0x7fc0, "a signalling NaN becomes a quiet NaN"},
        {0xffc00000u, 0xffc0, "a quiet NaN keeps its sign"},
        {0x00000001u, 0x0000, "the smallest subnormal rounds to zero"},
        {0x00018000u, 0x0002, "subnormals are rounded, not flushed"},
    };
    int bad = 0;
    for (size_t i = 0; i < sizeof c / sizeof *c; i++) {
        uint16_t got = rill_bf16_round(bits_float(c[i].in));
        if (got != c[i].want) {
            diag("%s: %08x gave %04x, expected %04x", c[i].what, c[i].in, got, c[i].want);
            bad++;
        }
    }
    ok(bad == 0, "rill_bf16_round: %zu chosen values (ties to even, NaN, overflow, subnormals)",
       sizeof c / sizeof *c);
    ok(rill_bf16_float(0x3f80) == 1.0f && rill_bf16_float(0xc040) == -3.0f,
       "rill_bf16_float widens exactly");

    enum { N = 4099 };
    static float src[N];
    static uint16_t row[N];
    rill_rng r;
    rill_rng_seed(&r, 3);
    for (int i = 0; i < N; i++) {
        uint32_t u = (uint32_t)rill_rng_next(&r);
        if (i % 7 == 0) /* mantissas at the rounding boundary, and NaN/infinity exponents */
            u = (u & 0xffff0000u) | (i % 14 ? 0x8000u : 0x7fffu);
        if (i % 11 == 0)
            u |= 0x7f800000u;
        memcpy(&src[i], &u, sizeof u);
    }
    bad = 0;
    for (int n = 0; n <= 40; n++) { /* every tail length, and one long row */
        int len = n == 40 ? N : n;
        rill_bf16_round_row(row, src, len);
        for (int i = 0; i < len; i++)
            bad += row[i] != rill_bf16_round(src[i]);
    }
    ok(bad == 0, "rill_bf16_round_row equals the scalar rounding on random bit patterns "
                 "(%d differ)", bad);
}

/* C0 = the product of the rounded operands in double, and the bound of its f32 error */
static void reference(bool ta, bool tb, int M, int N, int K, float alpha, const float *A,
                      int lda, const float *B, int ldb, float beta, const float *C0, int ldc,
                      double *want, double *tol)
{
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double acc = 0, mag = 0;
            for (int k = 0; k < K; k++) {
                float a = ta ? A[(size_t)k * lda + i] : A[(size_t)i * lda + k];
                float b = tb ? B[(size_t)j * ldb + k] : B[(size_t)k * ldb + j];
                double p = (double)rill_bf16_float(rill_bf16_round(a)) *
                           (double)rill_bf16_float(rill_bf16_round(b));
                acc += p;
                mag += fabs(p);
            }
            double c = beta == 0.0f ? 0.0 : (double)beta * (double)C0[(size_t)i * ldc + j];
            want[(size_t)i * N + j] = (double)alpha * acc + c;
            /* f32 accumulation's worst case: a rounding of 2^-24 per addition */
            tol[(size_t)i * N + j] =
                0x1p-23 * (K + 4) * (fabs((double)alpha) * mag + fabs(c)) + 1e-30;
        }
}

typedef struct {
    bool ta, tb;
    int M, N, K;
    float alpha, beta;
    const char *what;
} shape;

static int check_product(const shape *s, int threads, rill_rng *r)
{
    int M = s->M, N = s->N, K = s->K, pad = 3;
    int lda = (s->ta ? M : K) + pad, ldb = (s->tb ? K : N) + pad, ldc = N + pad;
    size_t na = (size_t)(s->ta ? K : M) * lda, nb = (size_t)(s->tb ? N : K) * ldb;
    size_t nc = (size_t)M * ldc;
    float *A = malloc(na * sizeof *A), *B = malloc(nb * sizeof *B);
    float *C = malloc(nc * sizeof *C), *C0 = malloc(nc * sizeof *C0);
    float *C2 = malloc(nc * sizeof *C2);
    double *want = malloc((size_t)M * N * sizeof *want), *tol = malloc((size_t)M * N * sizeof *tol);
    for (size_t i = 0; i < na; i++)
        A[i] = (float)(rill_rng_unit(r) * 2 - 1);
    for (size_t i = 0; i < nb; i++)
        B[i] = (float)(rill_rng_unit(r) * 2 - 1);
    for (size_t i = 0; i < nc; i++)
        C0[i] = (float)(rill_rng_unit(r) * 2 - 1);
    memcpy(C, C0, nc * sizeof *C);
    memcpy(C2, C0, nc * sizeof *C);
    reference(s->ta, s->tb, M, N, K, s->alpha, A, lda, B, ldb, s->beta, C0, ldc, want, tol);
    rill_err err = {0};
    int rc = rill_gemm(RILL_BF16, s->ta, s->tb, M, N, K, s->alpha, A, lda, B, ldb, s->beta, C,
                       ldc, &err);
    int rc2 = rill_gemm(RILL_BF16, s->ta, s->tb, M, N, K, s->alpha, A, lda, B, ldb, s->beta, C2,
                        ldc, &err);
    /* the same product in fp32: it must miss the bound somewhere, or the test could not tell
     * rounded operands from unrounded ones */
    float *F = malloc(nc * sizeof *F);
    memcpy(F, C0, nc * sizeof *F);
    rill_sgemm(s->ta, s->tb, M, N, K, s->alpha, A, lda, B, ldb, s->beta, F, ldc);
    int fp32_misses = 0;
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++)
            fp32_misses += fabs((double)F[(size_t)i * ldc + j] - want[(size_t)i * N + j]) >
                           tol[(size_t)i * N + j];
    free(F);
    int bad = 0, outside = 0;
    double worst = 0;
    for (int i = 0; i < M; i++) {
        for (int j = 0; j < N; j++) {
            double e = fabs((double)C[(size_t)i * ldc + j] - want[(size_t)i * N + j]);
            if (e > tol[(size_t)i * N + j])
                bad++;
            if (e / tol[(size_t)i * N + j] > worst)
                worst = e / tol[(size_t)i * N + j];
        }
        for (int j = N; j < ldc; j++)
            outside += C[(size_t)i * ldc + j] != C0[(size_t)i * ldc + j];
    }
    ok(rc == 0 && rc2 == 0 && bad == 0 && outside == 0 && fp32_misses > 0,
       "%s: %c%c %d x %d x %d, alpha %g, beta %g, %d thread%s: within the f32 bound of the "
       "rounded operands' product (worst %.3f of it; the unrounded product misses it at %d "
       "of %d), columns past N untouched",
       s->what, s->ta ? 'T' : 'N', s->tb ? 'T' : 'N', M, N, K, (double)s->alpha,
       (double)s->beta, threads, threads > 1 ? "s" : "", worst, fp32_misses, M * N);
    if (rc || rc2)
        diag("%s", err.msg);
    ok(memcmp(C, C2, nc * sizeof *C) == 0, "%s, %d thread%s: the same call twice gives the same "
                                          "bits", s->what, threads, threads > 1 ? "s" : "");
    free(A), free(B), free(C), free(C0), free(C2), free(want), free(tol);
    return bad;
}

/* The operands' bf16 copies (rill_gemm_h), as a layer's epilogue writes them, give the bits
 * rounding the f32 operands gives: dense ones (read where the split takes the matrix as
 * stored) and padded ones (then ignored). The layers' three products (forward, input and
 * weight gradients) must read dense copies: given copies of 2A, they must give the bits of
 * the product of 2A (2A's rounding is exactly twice A's). */
static void check_copies(const shape *s, int threads, int pad, bool layer, rill_rng *r)
{
    int M = s->M, N = s->N, K = s->K;
    int lda = (s->ta ? M : K) + pad, ldb = (s->tb ? K : N) + pad, ldc = N;
    int ra = s->ta ? K : M, rb = s->tb ? N : K;
    size_t na = (size_t)ra * lda, nb = (size_t)rb * ldb, nc = (size_t)M * ldc;
    float *A = malloc(na * sizeof *A), *B = malloc(nb * sizeof *B);
    float *C1 = malloc(nc * sizeof *C1), *C2 = malloc(nc * sizeof *C2);
    uint16_t *A16 = malloc(na * sizeof *A16), *B16 = malloc(nb * sizeof *B16);
    for (size_t i = 0; i < na; i++)
        A[i] = (float)(rill_rng_unit(r) * 2 - 1);
    for (size_t i = 0; i < nb; i++)
        B[i] = (float)(rill_rng_unit(r) * 2 - 1);
    for (size_t i = 0; i < nc; i++)
        C1[i] = C2[i] = (float)(rill_rng_unit(r) * 2 - 1);
    rill_bf16_round_rows(A16, A, ra, lda, lda);
    rill_bf16_round_rows(B16, B, rb, ldb, ldb);
    rill_err err = {0};
    int rc = rill_gemm(RILL_BF16, s->ta, s->tb, M, N, K, s->alpha, A, lda, B, ldb, s->beta, C1,
                       ldc, &err);
    int rc2 = rill_gemm_h(RILL_BF16, s->ta, s->tb, M, N, K, s->alpha, A, A16, lda, B, B16, ldb,
                          s->beta, C2, ldc, &err);
    ok(rc == 0 && rc2 == 0 && memcmp(C1, C2, nc * sizeof *C1) == 0,
       "%s, %d thread%s, operands' bf16 copies %s: the same bits as rounding the operands",
       s->what, threads, threads > 1 ? "s" : "", pad ? "padded (not read)" : "dense");
    if (rc || rc2)
        diag("%s", err.msg);
    if (layer && !pad) {
        float *A2 = malloc(na * sizeof *A2), *C3 = malloc(nc * sizeof *C3);
        float *C4 = malloc(nc * sizeof *C4);
        for (size_t i = 0; i < na; i++)
            A2[i] = 2.0f * A[i];
        for (size_t i = 0; i < nc; i++)
            C3[i] = C4[i] = (float)i * 0.001f;
        rill_bf16_round_rows(A16, A2, ra, lda, lda);
        rc = rill_gemm(RILL_BF16, s->ta, s->tb, M, N, K, s->alpha, A2, lda, B, ldb, s->beta, C3,
                       ldc, &err);
        rc2 = rill_gemm_h(RILL_BF16, s->ta, s->tb, M, N, K, s->alpha, A, A16, lda, B, B16, ldb,
                          s->beta, C4, ldc, &err);
        ok(rc == 0 && rc2 == 0 && memcmp(C3, C4, nc * sizeof *C3) == 0,
           "%s, %d thread%s: the dense copy is what the product reads", s->what, threads,
           threads > 1 ? "s" : "");
        free(A2), free(C3), free(C4);
    }
    free(A), free(B), free(C1), free(C2), free(A16), free(B16);
}

/* A product thinner than a bf16 tile runs in fp32: it equals rill_sgemm's bits. */
static void check_thin(void)
{
    enum { M = 64, N = 48, K = 13 };
    float A[M * K], B[N * K], C1[M * N], C2[M * N];
    for (int i = 0; i < M * K; i++)
        A[i] = (float)((i * 37) % 101) / 50.0f - 1.0f;
    for (int i = 0; i < N * K; i++)
        B[i] = (float)((i * 53) % 97) / 48.0f - 1.0f;
    rill_err err = {0};
    rill_sgemm(false, true, M, N, K, 1.0f, A, K, B, K, 0.0f, C1, N);
    int rc = rill_gemm(RILL_BF16, false, true, M, N, K, 1.0f, A, K, B, K, 0.0f, C2, N, &err);
    ok(rc == 0 && memcmp(C1, C2, sizeof C1) == 0,
       "K = 13 (a layer of 13 inputs): the product stays fp32, rill_sgemm's bits");
}

int main(void)
{
    rill_err err = {0};
    check_rounding();

    setenv("RILL_HIDE_BF16", "1", 1);
    int rc = rill_bf16_check(NULL, &err);
    ok(rc == RILL_EINVAL && strstr(err.msg, "needs a CPU with AMX-BF16 or AVX512-BF16") &&
           strstr(err.msg, "has neither"),
       "a CPU without AMX-BF16 or AVX512-BF16 is an error naming what it lacks");
    diag("%s", err.msg);
    unsetenv("RILL_HIDE_BF16");

    const char *kernel = NULL;
    if (rill_bf16_check(&kernel, &err)) {
        printf("# the products are skipped: %s\n", err.msg);
        return done_testing();
    }
    bool amx, avx512_bf16;
    rill_cpu_bf16(&amx, &avx512_bf16);
    diag("oneDNN's kernel: %s (AMX-BF16 %s, AVX512-BF16 %s)", kernel, amx ? "yes" : "no",
         avx512_bf16 ? "yes" : "no");

    const shape shapes[] = {
        {false, true, 300, 130, 70, 1.0f, 0.0f, "forward (x W^T)"},
        {false, false, 300, 70, 130, 1.0f, 1.0f, "input gradient (dy W), beta 1"},
        {false, false, 300, 70, 130, 1.0f, 0.0f, "input gradient, beta 0"},
        {true, false, 130, 70, 300, 1.0f, 1.0f, "weight gradient (dy^T x)"},
        {true, false, 48, 40, 100, 1.0f, 1.0f, "weight gradient with a short batch"},
        {false, true, 40, 300, 64, 1.0f, 0.0f, "a wide C (column split)"},
        {true, true, 64, 300, 48, 1.0f, 0.0f, "both transposed"},
        {true, true, 300, 64, 48, 1.0f, 0.0f, "both transposed, a tall C (A transposed)"},
        {true, false, 40, 300, 64, 1.0f, 0.0f, "A transposed, wide C"},
        {false, true, 96, 96, 96, -0.5f, 0.25f, "alpha and beta"},
        {false, false, 33, 17, 35, 1.0f, 0.0f, "odd sizes"},
    };
    rill_rng r;
    rill_rng_seed(&r, 11);
    for (int threads = 1; threads <= 2; threads++) {
        if (rill_pool_start(threads, &err)) {
            ok(0, "pool of %d threads: %s", threads, err.msg);
            continue;
        }
        for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++) {
            check_product(&shapes[i], threads, &r);
            check_copies(&shapes[i], threads, 0, i < 5, &r);
            check_copies(&shapes[i], threads, 3, false, &r);
        }
    }
    check_thin();
    rill_pool_stop();
    return done_testing();
}
