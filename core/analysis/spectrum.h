/* The singular spectrum of an embedding table (Guo et al., "On the Embedding Collapse when
 * Scaling up Recommendation Models"): rows are streamed into the d x d Gram matrix E^T E (in
 * double), whose eigenvalues (LAPACK dsyev through OpenBLAS) are the squared singular values
 * of E. Information abundance is sum(sigma) / max(sigma): d for a table whose rows fill every
 * direction equally, near 1 for a collapsed one. */
#ifndef RILL_SPECTRUM_H
#define RILL_SPECTRUM_H

#include <stdint.h>

#include "err.h"
#include "linalg.h" /* rill_top_eigenvector, which lived here: its users keep compiling */

typedef struct rill_spectrum {
    int d;
    uint64_t n;
    double *gram;
} rill_spectrum;

int rill_spectrum_init(rill_spectrum *s, int d, rill_err *err);
void rill_spectrum_free(rill_spectrum *s);
void rill_spectrum_add(rill_spectrum *s, const float *row);
/* sv (d values) gets the singular values, largest first; *ia the information abundance. */
int rill_spectrum_finish(rill_spectrum *s, double *sv, double *ia, rill_err *err);

#endif
