#include "spectrum.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "linalg.h" /* dsyev_ */

int rill_spectrum_init(rill_spectrum *s, int d, rill_err *err)
{
    memset(s, 0, sizeof *s);
    if (d < 1 || d > 65536)
        return rill_errf(err, RILL_EINVAL, "a spectrum of dimension %d (expected 1 to 65536)", d);
    s->d = d;
    s->gram = calloc((size_t)d * (size_t)d, sizeof *s->gram);
    return s->gram ? RILL_OK : rill_errf(err, RILL_ENOMEM, "out of memory for a %d x %d Gram matrix", d, d);
}

void rill_spectrum_free(rill_spectrum *s)
{
    free(s->gram);
    s->gram = NULL;
}

void rill_spectrum_add(rill_spectrum *s, const float *row)
{
    int d = s->d;
    for (int i = 0; i < d; i++) {
        double ri = row[i];
        double *g = s->gram + (size_t)i * d;
        for (int j = 0; j <= i; j++) /* the lower triangle; mirrored at the end */
            g[j] += ri * (double)row[j];
    }
    s->n++;
}

static int cmp_desc(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

int rill_spectrum_finish(rill_spectrum *s, double *sv, double *ia, rill_err *err)
{
    int d = s->d, info = 0, lwork = -1;
    for (int i = 0; i < d; i++)
        for (int j = 0; j < i; j++)
            s->gram[(size_t)j * d + i] = s->gram[(size_t)i * d + j];
    double q;
    dsyev_("N", "U", &d, s->gram, &d, sv, &q, &lwork, &info);
    lwork = info == 0 ? (int)q : 3 * d;
    double *work = malloc((size_t)(lwork > 1 ? lwork : 1) * sizeof *work);
    if (!work)
        return rill_errf(err, RILL_ENOMEM, "out of memory");
    dsyev_("N", "U", &d, s->gram, &d, sv, work, &lwork, &info);
    free(work);
    if (info != 0)
        return rill_errf(err, RILL_EINVAL, "the eigenvalue solver failed (LAPACK dsyev info %d)", info);
    for (int i = 0; i < d; i++)
        sv[i] = sqrt(sv[i] > 0 ? sv[i] : 0); /* rounding can leave tiny negatives */
    qsort(sv, (size_t)d, sizeof *sv, cmp_desc);
    double sum = 0;
    for (int i = 0; i < d; i++)
        sum += sv[i];
    *ia = sv[0] > 0 ? sum / sv[0] : 0;
    return RILL_OK;
}
