/* Evaluation metrics. AUC is exact: scores are sorted and tied scores share the average
 * rank, so a positive and a negative with equal scores count 1/2 (Mann-Whitney). */
#ifndef RILL_METRICS_H
#define RILL_METRICS_H

#include <stddef.h>

/* AUC of scores against 0/1 labels; NAN when all labels are equal. Works for logits and
 * probabilities alike (only the order matters). */
double rill_auc(const float *score, const float *label, size_t n);
/* Mean natural-log loss of probabilities p (no clipping: p of 0 or 1 on the wrong label is inf). */
double rill_logloss_prob(const float *p, const float *label, size_t n);
/* Mean BCE from logits, computed stably: max(z,0) - z y + log(1 + exp(-|z|)). */
double rill_logloss_logit(const float *z, const float *label, size_t n);

#endif
