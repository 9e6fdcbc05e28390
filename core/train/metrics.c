/* Evaluation metrics: exact AUC, logloss from probabilities and from logits. Everything is
 * accumulated in double; float inputs are only read.
 *
 * AUC is the Mann-Whitney statistic with ties counted 1/2. Instead of assigning mid-ranks
 * and summing them, the scores of the positives and of the negatives are sorted separately
 * and merged: each positive wins against the negatives strictly below it and ties with the
 * negatives equal to it. That is the same number (mid-ranks are exactly "below + equal/2"),
 * but it is counted in integers, so it is exact up to the final division. */
#include "metrics.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* A float's bits mapped to a uint32 that sorts in the same order as the float: flip all
 * bits of negatives, only the sign bit of positives. -0.0 is made +0.0 first so that the two
 * zeros, which compare equal, also tie here. Callers have already rejected NaN. */
static inline uint32_t float_key(float x)
{
    uint32_t u;
    if (x == 0.0f)
        x = 0.0f;
    memcpy(&u, &x, sizeof u);
    return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

/* LSD radix sort of n keys in three passes of 11, 11 and 10 bits, ping-ponging between a
 * and tmp; the sorted keys end up in a. A pass whose digit is the same for every key is
 * skipped: scores that are probabilities share their top bits, so that often saves one. */
static void radix_sort_u32(uint32_t *a, uint32_t *tmp, size_t n)
{
    enum { BITS = 11, BUCKETS = 1 << BITS };
    static const int shift[3] = {0, 11, 22};
    size_t count[3][BUCKETS];
    memset(count, 0, sizeof count);
    for (size_t i = 0; i < n; i++) {
        uint32_t k = a[i];
        count[0][k & (BUCKETS - 1)]++;
        count[1][(k >> 11) & (BUCKETS - 1)]++;
        count[2][k >> 22]++;
    }
    uint32_t *src = a, *dst = tmp;
    for (int p = 0; p < 3; p++) {
        size_t *c = count[p];
        if (n == 0 || c[(src[0] >> shift[p]) & (BUCKETS - 1)] == n)
            continue;
        size_t sum = 0;
        for (int b = 0; b < BUCKETS; b++) {
            size_t t = c[b];
            c[b] = sum;
            sum += t;
        }
        for (size_t i = 0; i < n; i++) {
            uint32_t k = src[i];
            dst[c[(k >> shift[p]) & (BUCKETS - 1)]++] = k;
        }
        uint32_t *t = src;
        src = dst;
        dst = t;
    }
    if (src != a)
        memcpy(a, src, n * sizeof *a);
}

/* Labels are 0/1; anything above 1/2 counts as positive, so 0.0f/1.0f read back from text
 * files or soft labels rounded by the caller behave the same. NaN scores make the AUC NaN
 * (they have no place in the order), as does an absent class. Allocation failure also
 * returns NaN: this function has no error channel, and a metric that silently came out
 * wrong would be worse; the caller sees NaN and can report it. Memory: 8 bytes per row. */
double rill_auc(const float *score, const float *label, size_t n)
{
    size_t npos = 0;
    for (size_t i = 0; i < n; i++) {
        if (isnan(score[i]))
            return (double)NAN;
        npos += label[i] > 0.5f;
    }
    size_t nneg = n - npos;
    if (npos == 0 || nneg == 0)
        return (double)NAN;

    size_t bytes;
    if (rill_mul_size(n, 2 * sizeof(uint32_t), &bytes))
        return (double)NAN;
    uint32_t *keys = rill_alloc(bytes);
    if (!keys)
        return (double)NAN;
    uint32_t *tmp = keys + n;
    /* positives fill keys[0, npos), negatives keys[npos, n) */
    size_t ip = 0, in = npos;
    for (size_t i = 0; i < n; i++) {
        if (label[i] > 0.5f)
            keys[ip++] = float_key(score[i]);
        else
            keys[in++] = float_key(score[i]);
    }
    uint32_t *pos = keys, *neg = keys + npos;
    radix_sort_u32(pos, tmp, npos);
    radix_sort_u32(neg, tmp, nneg);

    /* twice the numerator: 2 per win, 1 per tie. Integer, so exact; it is at most
     * 2 * npos * nneg <= n^2 / 2, which fits 64 bits for n below 6e9. */
    uint64_t num2 = 0;
    size_t below = 0, j = 0;
    for (size_t i = 0; i < npos;) {
        uint32_t k = pos[i];
        size_t run = 1;
        while (i + run < npos && pos[i + run] == k)
            run++;
        while (j < nneg && neg[j] < k) {
            j++;
            below++;
        }
        size_t eq = 0;
        while (j + eq < nneg && neg[j + eq] == k)
            eq++;
        num2 += (uint64_t)run * (2 * (uint64_t)below + eq);
        i += run;
    }
    rill_free(keys);
    return (double)num2 / (2.0 * (double)npos * (double)nneg);
}

/* Mean of -(y log p + (1-y) log(1-p)). A term whose weight is 0 is skipped rather than
 * multiplied, so p = 1 with y = 1 gives 0, not 0 * -inf = NaN; p = 0 with y = 1 gives inf
 * as the header promises. log1p(-p) keeps precision for tiny p. Empty input gives NaN. */
double rill_logloss_prob(const float *p, const float *label, size_t n)
{
    double sum = 0;
    for (size_t i = 0; i < n; i++) {
        double y = (double)label[i], q = (double)p[i], t = 0;
        if (y != 0)
            t += y * log(q);
        if (y != 1)
            t += (1 - y) * log1p(-q);
        sum -= t;
    }
    return n ? sum / (double)n : (double)NAN;
}

/* Mean BCE from logits: max(z,0) - z y + log1p(exp(-|z|)). exp never overflows (its argument
 * is <= 0) and for large |z| the log1p term underflows to 0 gracefully, so z = +-100 gives
 * 100 or 0 exactly where the naive log(sigmoid(z)) gives -inf. Empty input gives NaN. */
double rill_logloss_logit(const float *z, const float *label, size_t n)
{
    double sum = 0;
    for (size_t i = 0; i < n; i++) {
        double x = (double)z[i], y = (double)label[i];
        sum += fmax(x, 0.0) - x * y + log1p(exp(-fabs(x)));
    }
    return n ? sum / (double)n : (double)NAN;
}

typedef struct {
    uint64_t group;
    size_t i;
} group_key;

static int cmp_group(const void *a, const void *b)
{
    const group_key *x = a, *y = b;
    if (x->group != y->group)
        return x->group < y->group ? -1 : 1;
    return x->i < y->i ? -1 : x->i > y->i;
}

double rill_gauc(const float *score, const float *label, const uint64_t *group, size_t n,
                 size_t *ngroups)
{
    if (ngroups)
        *ngroups = 0;
    group_key *k = malloc((n ? n : 1) * sizeof *k);
    float *zs = malloc((n ? n : 1) * sizeof *zs), *ys = malloc((n ? n : 1) * sizeof *ys);
    double num = 0, den = 0;
    size_t counted = 0;
    if (!k || !zs || !ys) {
        free(k);
        free(zs);
        free(ys);
        return (double)NAN;
    }
    for (size_t i = 0; i < n; i++)
        k[i] = (group_key){group[i], i};
    qsort(k, n, sizeof *k, cmp_group);
    for (size_t a = 0; a < n;) {
        size_t b = a;
        while (b < n && k[b].group == k[a].group)
            b++;
        for (size_t j = a; j < b; j++) {
            zs[j - a] = score[k[j].i];
            ys[j - a] = label[k[j].i];
        }
        double auc = rill_auc(zs, ys, b - a);
        if (auc == auc) { /* both classes present */
            num += auc * (double)(b - a);
            den += (double)(b - a);
            counted++;
        }
        a = b;
    }
    free(k);
    free(zs);
    free(ys);
    if (ngroups)
        *ngroups = counted;
    return den > 0 ? num / den : (double)NAN;
}
