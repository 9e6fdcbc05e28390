/* The singular spectrum and information abundance (rill analyze spectrum) on tables with a
 * known answer: E = U diag(s) V^T built from random orthonormal U and V, a collapsed table
 * (every row a multiple of one vector), fewer rows than dimensions; and the top eigenvector
 * CEL splits along, against a rotated diagonal matrix. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "linalg.h"
#include "spectrum.h"
#include "tap.h"
#include "util.h"

/* Orthonormal columns: Gram-Schmidt on the k columns of the n x k row-major matrix q. */
static void orthonormalise(double *q, int n, int k)
{
    for (int j = 0; j < k; j++) {
        for (int p = 0; p < j; p++) {
            double dot = 0;
            for (int i = 0; i < n; i++)
                dot += q[i * k + j] * q[i * k + p];
            for (int i = 0; i < n; i++)
                q[i * k + j] -= dot * q[i * k + p];
        }
        double norm = 0;
        for (int i = 0; i < n; i++)
            norm += q[i * k + j] * q[i * k + j];
        norm = sqrt(norm);
        for (int i = 0; i < n; i++)
            q[i * k + j] /= norm;
    }
}

static void random_fill(double *a, size_t n, rill_rng *rng)
{
    for (size_t i = 0; i < n; i++)
        a[i] = rill_rng_unit(rng) * 2 - 1;
}

/* Singular values and IA of the n x d table E = U diag(s) V^T (U: n x d, V: d x d). */
static int known_table(int n, int d, const double *s, double *sv, double *ia, rill_rng *rng)
{
    double *U = malloc((size_t)n * d * sizeof *U), *V = malloc((size_t)d * d * sizeof *V);
    float *row = malloc((size_t)d * sizeof *row);
    rill_spectrum sp;
    rill_err err = {0};
    random_fill(U, (size_t)n * d, rng);
    random_fill(V, (size_t)d * d, rng);
    orthonormalise(U, n, d);
    orthonormalise(V, d, d);
    int rc = rill_spectrum_init(&sp, d, &err);
    for (int i = 0; i < n && !rc; i++) {
        for (int c = 0; c < d; c++) {
            double v = 0;
            for (int k = 0; k < d; k++)
                v += U[i * d + k] * s[k] * V[c * d + k];
            row[c] = (float)v;
        }
        rill_spectrum_add(&sp, row);
    }
    if (!rc)
        rc = rill_spectrum_finish(&sp, sv, ia, &err);
    rill_spectrum_free(&sp);
    free(U);
    free(V);
    free(row);
    return rc;
}

int main(void)
{
    rill_rng rng;
    rill_rng_seed(&rng, 42);
    rill_err err = {0};

    /* a table with singular values 5, 3, 2, 0.5 (in shuffled order): IA = 10.5 / 5 */
    const double s4[4] = {2, 5, 0.5, 3};
    double sv[16], ia = 0;
    ok(known_table(200, 4, s4, sv, &ia, &rng) == RILL_OK, "a 200 x 4 table: the spectrum is computed");
    is_near(sv[0], 5.0, 1e-5, "largest singular value");
    is_near(sv[1], 3.0, 1e-5, "second");
    is_near(sv[2], 2.0, 1e-5, "third");
    is_near(sv[3], 0.5, 1e-5, "smallest");
    is_near(ia, 2.1, 1e-5, "information abundance: sum over largest");

    /* balanced: every direction equal gives IA = d */
    double s16[16];
    for (int k = 0; k < 16; k++)
        s16[k] = 1.5;
    ok(known_table(64, 16, s16, sv, &ia, &rng) == RILL_OK, "a 64 x 16 table with equal values");
    is_near(ia, 16.0, 1e-3, "a balanced table has IA = dim");

    /* collapsed: every row a multiple of one vector */
    rill_spectrum sp;
    ok(rill_spectrum_init(&sp, 8, &err) == RILL_OK, "a spectrum of dim 8");
    float dir[8], row[8];
    for (int c = 0; c < 8; c++)
        dir[c] = (float)(c + 1) / 8.0f;
    double norm2 = 0, len2 = 0;
    for (int c = 0; c < 8; c++)
        norm2 += (double)dir[c] * (double)dir[c];
    for (int i = 0; i < 100; i++) {
        float a = (float)(rill_rng_unit(&rng) * 2 - 1);
        for (int c = 0; c < 8; c++)
            row[c] = a * dir[c];
        len2 += (double)a * (double)a;
        rill_spectrum_add(&sp, row);
    }
    ok(rill_spectrum_finish(&sp, sv, &ia, &err) == RILL_OK, "a collapsed table: computed");
    is_near(sv[0], sqrt(len2 * norm2), 1e-3, "its one singular value is |a| |v|");
    ok(sv[1] < 1e-3 * sv[0], "the others vanish (%.3g)", sv[1]);
    is_near(ia, 1.0, 1e-3, "a collapsed table has IA = 1");
    rill_spectrum_free(&sp);

    /* fewer rows than dimensions: rank 3 of 10 */
    ok(rill_spectrum_init(&sp, 10, &err) == RILL_OK, "a spectrum of dim 10");
    for (int i = 0; i < 3; i++) {
        float r[10];
        for (int c = 0; c < 10; c++)
            r[c] = c == i ? 2.0f : 0.0f;
        rill_spectrum_add(&sp, r);
    }
    int frc = rill_spectrum_finish(&sp, sv, &ia, &err);
    ok(frc == RILL_OK && fabs(sv[2] - 2) < 1e-9 && sv[3] == 0 && fabs(ia - 3) < 1e-9,
       "three rows in ten dimensions: rank 3, IA 3 (%.3f)", ia);
    rill_spectrum_free(&sp);

    /* an empty table: no values, IA 0, not a failure */
    ok(rill_spectrum_init(&sp, 4, &err) == RILL_OK &&
           rill_spectrum_finish(&sp, sv, &ia, &err) == RILL_OK && sv[0] == 0 && ia == 0,
       "an empty table: singular values 0, IA 0");
    rill_spectrum_free(&sp);
    ok(rill_spectrum_init(&sp, 0, &err) == RILL_EINVAL && strstr(err.msg, "dimension 0"),
       "dimension 0 is refused: %s", err.msg);

    /* the top eigenvector of R diag(1, 4, 2) R^T is R's second column (3, -6, 2) / 7, its
     * sign fixed so the largest component is positive */
    const double R[9] = {2, 3, 6, 3, -6, 2, 6, 2, -3}; /* / 7: orthogonal */
    const double lam[3] = {1, 4, 2};
    double A[9] = {0}, v[3];
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
            for (int k = 0; k < 3; k++)
                A[i * 3 + j] += R[i * 3 + k] / 7 * lam[k] * R[j * 3 + k] / 7;
    ok(rill_top_eigenvector(3, A, v, &err) == RILL_OK, "top eigenvector computed");
    is_near(v[0], -3.0 / 7, 1e-9, "component 1");
    is_near(v[1], 6.0 / 7, 1e-9, "component 2 (the largest, positive)");
    is_near(v[2], -2.0 / 7, 1e-9, "component 3");
    return done_testing();
}
