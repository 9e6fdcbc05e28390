/* The data generator: synthetic data sets of any size, so tests, the demo and the benchmarks
 * need no downloads. Criteo layout: label, I1..I13 counts, C1..C26 categorical values
 * (8 hex digits), with Zipf-distributed categories of varied cardinalities (up to
 * millions) and labels drawn from a planted model with pairwise field interactions. */
#ifndef RILL_GEN_H
#define RILL_GEN_H

#include <stdint.h>
#include <stdio.h>

#include "err.h"

typedef struct rill_gen_cfg {
    uint64_t rows;
    uint64_t seed;
    double max_cardinality;   /* largest field's number of distinct values; 0 = 4,000,000 */
    double interaction;       /* scale of the planted pairwise terms; < 0 = default 1 */
    uint64_t entity_clusters; /* 0: off. Else the four largest fields (C3, C12, C16, C21) are
                               * entities in this many planted clusters: a value's first-order
                               * effect is its cluster's (a hash of the value picks it), with
                               * spread 0.6 instead of 0.12 (data for CEL's experiment) */
} rill_gen_cfg;

/* Writes cfg->rows lines to out; same cfg, same bytes; rows = 0 writes nothing. Errors:
 * RILL_EINVAL (max_cardinality outside [4, 2^32], interaction not a number), RILL_ENOMEM,
 * RILL_EIO (write failed). */
int rill_gen_criteo(const rill_gen_cfg *cfg, FILE *out, rill_err *err);
/* The same rows, also handing back each row's true logit and its first-order part (bias and
 * first-order terms, no interactions), for tests and for measuring how much signal the
 * planted model carries. out may be NULL (nothing written); logit and first_order may be NULL
 * or hold cfg->rows floats. */
int rill_gen_criteo_truth(const rill_gen_cfg *cfg, FILE *out, float *logit, float *first_order,
                          rill_err *err);

/* Criteo-format rows whose only value is C1: an id in [0, ids) written as 16 hex digits,
 * Zipf-distributed with the given exponent, and a label from a planted per-id effect. The
 * store benchmark trains one large table on it. */
typedef struct rill_gen_zipf_cfg {
    uint64_t rows, ids, seed;
    double exponent;
} rill_gen_zipf_cfg;
int rill_gen_zipf_field(const rill_gen_zipf_cfg *cfg, FILE *out, rill_err *err);

#endif
