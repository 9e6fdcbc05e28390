/* Evaluation metrics. AUC is exact: scores are sorted and tied scores share the average
 * rank, so a positive and a negative with equal scores count 1/2 (Mann-Whitney). */
#ifndef RILL_METRICS_H
#define RILL_METRICS_H

#include <stddef.h>
#include <stdint.h>

/* AUC of scores against labels (> 0.5 is positive); NAN when one class is absent, n is 0,
 * a score is NaN or memory runs out. Works for logits and probabilities alike (only the
 * order matters). */
double rill_auc(const float *score, const float *label, size_t n);
/* Grouped AUC (e.g. per user): the mean of each group's AUC weighted by its number of
 * examples, over the groups that have both a positive and a negative (the others have no
 * AUC and are left out, as in DIN's GAUC). *ngroups gets the groups counted (may be NULL).
 * NAN when no group has both classes, or memory runs out. */
double rill_gauc(const float *score, const float *label, const uint64_t *group, size_t n,
                 size_t *ngroups);
/* Mean natural-log loss of probabilities p (no clipping: p of 0 or 1 on the wrong label is inf). */
double rill_logloss_prob(const float *p, const float *label, size_t n);
/* Mean BCE from logits, computed stably: max(z,0) - z y + log(1 + exp(-|z|)).
 * Both logloss functions return NAN for n = 0. */
double rill_logloss_logit(const float *z, const float *label, size_t n);

#endif
