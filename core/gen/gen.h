/* The data generators: synthetic data sets of any size, so tests, the demo and the benchmarks
 * need no downloads. Criteo layout: label, I1..I13 counts, C1..C26 categorical values
 * (8 hex digits), with Zipf-distributed categories of varied cardinalities (up to
 * millions) and labels drawn from a planted model with pairwise field interactions. The
 * multi-task layout: two labels of correlated tasks and repeated exposures with a known
 * propensity (below). */
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

/* Multi-task CTR data with a known truth, for checking multi-task models and inverse
 * propensity weighting. CSV with a header line, the columns
 *   t1,t2,repeats,user,C1,...,C8,I1,...,I4
 * t1, t2: 0/1 labels of two tasks. repeats: k, how many times this (user, item) was shown
 * before (0 = first exposure). user and C1..C8: categorical, 8 hex digits, Zipf-distributed
 * (user 10,000 values, C1 the item, 20,000; the others 3 to 5,000), some C fields empty at
 * times. I1..I4: counts (Lomax), some empty.
 * Truth: per task t a logit z_t = bias_t + per-value first-order effects + log1p(count)
 * effects + pairwise interactions (dot products of 4-dimensional value vectors within the
 * groups {user, C1, C2} and {C3, C4, C5, C7}). Task 2's non-bias part is
 * correlation * task 1's + sqrt(1 - correlation^2) * an independent part of the same
 * variance (decorrelated from task 1's on a fixed sample of 65,536 rows), so the two
 * non-bias logits correlate at `correlation` across rows. The biases are solved on that sample
 * so that first exposures are positive at rate1 and rate2.
 * Repeats: k = 0 with probability 1 - repeat_rate, else k in 1..5 with P(k) proportional to
 * 2^-k (a geometric law, P(k+1)/P(k) = 1/2, truncated at 5). The label of task t is 1 with
 * probability min(1, sigmoid(z_t) (1 + repeat_lift k)): a repeat's true propensity is
 * 1 + repeat_lift k, and 1 / that its positives' IPW weight. The features do not depend on k. */
typedef struct rill_gen_multitask_cfg {
    uint64_t rows;      /* data rows after the header; 0 writes the header alone */
    uint64_t seed;      /* the planted model (effects, biases, value texts) and the rows */
    uint64_t sample;    /* another sample makes other rows from the same model: training and
                         * validation files are one seed, two samples */
    double correlation; /* of the two tasks' non-bias logits, in [-1, 1] */
    double rate1;       /* task 1's positive rate on first exposures, in (0, 0.5] */
    double rate2;       /* task 2's, in (0, 0.5] */
    double repeat_rate; /* the share of rows that are repeats (k >= 1), in [0, 1); 0 gives
                         * first exposures only, unbiased data */
    double repeat_lift; /* a repeat's positive probability is multiplied by 1 + lift k
                         * (capped at 1), in [0, 10] */
} rill_gen_multitask_cfg;

/* The defaults: rows 0, seed 1, sample 0, correlation 0.5, rate1 0.10, rate2 0.03,
 * repeat_rate 0.3, repeat_lift 0.5. Start from them and set what differs. */
void rill_gen_multitask_defaults(rill_gen_multitask_cfg *cfg);
/* Writes the header and cfg->rows lines to out; same cfg, same bytes; the first n rows do not
 * depend on how many follow. Errors: RILL_EINVAL (a setting out of range or NaN, the message
 * names it; no cfg or no out), RILL_ENOMEM, RILL_EIO (write failed). */
int rill_gen_multitask(const rill_gen_multitask_cfg *cfg, FILE *out, rill_err *err);
/* The same rows, also handing back per row the two first-exposure logits z1, z2 (the labels'
 * probabilities before the repeat lift) and k. out may be NULL (nothing written); z1, z2 and
 * repeats may each be NULL or hold cfg->rows values. */
int rill_gen_multitask_truth(const rill_gen_multitask_cfg *cfg, FILE *out, float *z1, float *z2,
                             int *repeats, rill_err *err);

#endif
