/* The engine's small dense linear algebra, beside core/blas.h's products: what node kinds and
 * the analyses share (CEL's split along a cluster's first principal component, the spectra
 * of core/analysis/spectrum.h). Doubles, row-major, LAPACK through OpenBLAS. */
#ifndef RILL_LINALG_H
#define RILL_LINALG_H

#include "err.h"

/* LAPACK's symmetric eigensolver (OpenBLAS ships it): eigenvalues ascending into w, with
 * jobz "V" the eigenvectors too, over a. */
void dsyev_(const char *jobz, const char *uplo, const int *n, double *a, const int *lda,
            double *w, double *work, const int *lwork, int *info);

/* The eigenvector of the largest eigenvalue of the symmetric d x d matrix a (row-major,
 * destroyed) into vec (d), with its largest component made positive so the sign is fixed
 * (CEL's split along the first principal component). */
int rill_top_eigenvector(int d, double *a, double *vec, rill_err *err);

#endif
