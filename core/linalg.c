/* Small dense linear algebra: see linalg.h. */
#include "linalg.h"

#include <math.h>
#include <stdlib.h>

int rill_top_eigenvector(int d, double *a, double *vec, rill_err *err)
{
    int info = 0, lwork = -1;
    double q, *w = malloc((size_t)d * sizeof *w);
    if (!w)
        return rill_errf(err, RILL_ENOMEM, "out of memory");
    dsyev_("V", "U", &d, a, &d, w, &q, &lwork, &info);
    lwork = info == 0 ? (int)q : 3 * d;
    double *work = malloc((size_t)(lwork > 1 ? lwork : 1) * sizeof *work);
    if (!work) {
        free(w);
        return rill_errf(err, RILL_ENOMEM, "out of memory");
    }
    dsyev_("V", "U", &d, a, &d, w, work, &lwork, &info);
    free(work);
    free(w);
    if (info != 0)
        return rill_errf(err, RILL_EINVAL, "the eigenvalue solver failed (LAPACK dsyev info %d)", info);
    /* eigenvalues ascend; LAPACK's column-major eigenvectors are rows of a row-major a */
    const double *v = a + (size_t)(d - 1) * d;
    int big = 0;
    for (int i = 1; i < d; i++)
        if (fabs(v[i]) > fabs(v[big]))
            big = i;
    double sign = v[big] < 0 ? -1.0 : 1.0;
    for (int i = 0; i < d; i++)
        vec[i] = sign * v[i];
    return RILL_OK;
}
