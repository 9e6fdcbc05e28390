/* What the data generators (gen_criteo.c, gen_multitask.c) share: Zipf-distributed ranks,
 * per-value effects and vectors read off a hash of the value, sums under a field's law (for
 * centring them), Lomax counts, and fast text formatting. Internal to core/: the public API
 * is gen.h. The hot helpers are inline here, since the generators call them per row and
 * field; the set-up lives in gen_common.c. */
#ifndef RILL_GEN_COMMON_H
#define RILL_GEN_COMMON_H

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "err.h"
#include "util.h"

/* RILL_GEN_UDIM: the dimension of the planted interaction vectors. RILL_GEN_ALIAS_MAX: fields
 * of up to this many values sample from an alias table; larger ones by rejection-inversion. */
enum { RILL_GEN_UDIM = 4, RILL_GEN_ALIAS_MAX = 65536 };

/* Ranks 1..card with P(r) proportional to r^-s. */
typedef struct rill_zipf {
    uint64_t card;
    double s;
    uint32_t *thr, *alias;     /* alias table (card <= RILL_GEN_ALIAS_MAX), else NULL */
    double h_x1, h_n, squeeze; /* rejection-inversion constants (no table) */
} rill_zipf;

/* w[r - 1] = r^-s for r = 1..n: the unnormalised law of a field's head. */
void rill_zipf_weights(double s, uint64_t n, double *w);
/* Sets z up for card values: with an alias table when card <= RILL_GEN_ALIAS_MAX, built from
 * w (the card weights above, which it scales in place: take sums under the law first), else
 * by rejection-inversion (w unused, may be NULL). Returns 0, or -1 when out of memory (z then
 * holds nothing to free). */
int rill_zipf_setup(rill_zipf *z, uint64_t card, double s, double *w);
/* Rejection-inversion at any card, never a table (the store benchmark's single field). */
void rill_zipf_setup_ri(rill_zipf *z, uint64_t card, double s);
void rill_zipf_free(rill_zipf *z);
uint64_t rill_zipf_draw_ri(const rill_zipf *z, rill_rng *r);

/* One rank; one 64-bit draw with a table. */
static inline uint64_t rill_zipf_draw(const rill_zipf *z, rill_rng *r)
{
    if (!z->thr)
        return rill_zipf_draw_ri(z, r);
    /* bin from the high 32 bits, keep-or-alias from the low 32 */
    uint64_t x = rill_rng_next(r);
    uint32_t i = (uint32_t)(((x >> 32) * z->card) >> 32);
    return 1 + ((uint32_t)x < z->thr[i] ? i : z->alias[i]);
}

/* Sums under the law of ranks 1..card (P(r) proportional to r^-s) of m functions of the rank,
 * for centring per-value effects and vectors: sums[i] += w_r * values(ctx, r)[i] over the
 * head r = 1..min(card, RILL_GEN_ALIAS_MAX), and *norm = the whole law's mass, the tail's by
 * the integral of x^-s (good to ~1e-10 that far out). The tail's values are left out: their
 * weighted mean is that of 10^5 or more independent values, about 1e-3. w: the head's
 * weights from rill_zipf_weights, or NULL to compute them. m <= 16. */
void rill_zipf_law_sums(double s, uint64_t card, const double *w, int m,
                        void (*values)(const void *ctx, uint64_t r, double *out), const void *ctx,
                        double *sums, double *norm);

/* Centring: a field's effects and vectors shifted by their means under its law (empty rows
 * included), so that a Zipf head's few values do not leave the positive rate swinging with the
 * seed, nor part of every interaction a first-order effect in disguise. values(ctx, r, out)
 * gives rank r's raw effects of the nparts parts, then (when has_vec) their raw vectors, part
 * after part; rank 0 is the empty value, whose effect counts with probability miss / 2^64 and
 * whose vector is 0 (vectors are only offset for present values). w: the head's weights r^-s
 * (rill_zipf_weights) or NULL. nparts * (1 + RILL_GEN_UDIM) <= 16. */
void rill_gen_center(const rill_zipf *z, uint64_t miss, const double *w, int nparts, bool has_vec,
                     void (*values)(const void *ctx, uint64_t r, double *out), const void *ctx,
                     double *emean, double (*vmean)[RILL_GEN_UDIM]);

/* A group of planted interactions: every pair of its n fields (0-based indices) interacts,
 * weighted by c. */
enum { RILL_GEN_GROUP_MAX = 4 };
typedef struct rill_gen_group {
    int n, f[RILL_GEN_GROUP_MAX];
    double c;
} rill_gen_group;

/* The key of rill_hash64(x, salt) for salt = rill_hash64(f, seed ^ what): a value's hash is
 * then rill_mix64(x ^ key), the salt's own mixing done once instead of per row. */
static inline uint64_t rill_gen_key(uint64_t seed, int f, uint64_t what)
{
    return rill_mix64(rill_hash64((uint64_t)f, seed ^ what) + 0x9e3779b97f4a7c15ULL);
}

/* A 64-bit draw below this happens with probability p. */
static inline uint64_t rill_gen_threshold(double p)
{
    return (uint64_t)(p * 18446744073709551616.0);
}

/* Four 16-bit uniforms of a hash summed (Irwin-Hall), centred and scaled to variance 1:
 * close enough to a normal for effect sizes, and far cheaper than Box-Muller. */
static inline double rill_gen_normalish(uint64_t h)
{
    double sum = (double)(h & 0xffff) + (double)((h >> 16) & 0xffff) +
                 (double)((h >> 32) & 0xffff) + (double)(h >> 48);
    return (sum * (1.0 / 65536) - 2) * 1.7320508075688772;
}

/* The four 16-bit pieces of a hash as uniforms of mean 0 and variance 1. */
static inline void rill_gen_uniform4(uint64_t h, double v[RILL_GEN_UDIM])
{
    for (int d = 0; d < RILL_GEN_UDIM; d++)
        v[d] = ((double)((h >> (16 * d)) & 0xffff) * (1.0 / 65536) - 0.5) * 3.4641016151377544;
}

/* The text of rank r's value under hash key `key`: 32 bits of its hash, as 8 hex digits. */
static inline uint32_t rill_gen_hex_value(uint64_t key, uint64_t r)
{
    return (uint32_t)(rill_mix64(r ^ key) >> 32);
}

/* Rank r's raw vector under hash key `key`: four uniforms of mean 0 and variance 1. */
static inline void rill_gen_raw_vec(uint64_t key, uint64_t r, double v[RILL_GEN_UDIM])
{
    rill_gen_uniform4(rill_mix64(r ^ key), v);
}

/* Rank r's vector, centred by mean; an empty value (r = 0) has none (0). */
static inline void rill_gen_vec(uint64_t key, const double mean[RILL_GEN_UDIM], uint64_t r,
                                double v[RILL_GEN_UDIM])
{
    if (r == 0) {
        for (int d = 0; d < RILL_GEN_UDIM; d++)
            v[d] = 0;
        return;
    }
    rill_gen_raw_vec(key, r, v);
    for (int d = 0; d < RILL_GEN_UDIM; d++)
        v[d] -= mean[d];
}

/* A Lomax count floor(lambda (U^(-1/alpha) - 1)), U uniform on (0,1]: mostly small,
 * heavy-tailed, capped at 2^31 - 1. One draw. */
static inline int64_t rill_gen_lomax(rill_rng *r, double lambda, double alpha)
{
    double u = 1 - rill_rng_unit(r); /* (0,1], so the power is finite */
    double v = floor(lambda * (exp(-log(u) / alpha) - 1));
    return v < 2147483647.0 ? (int64_t)v : 2147483647;
}

/* The sum over pairs i < j of <v_i, v_j>, as (|sum v|^2 - sum |v|^2) / 2: every pair of a
 * group interacting, a factorization machine's second-order term, in O(n). */
static inline double rill_gen_pairs(const double (*v)[RILL_GEN_UDIM], int n)
{
    double sum[RILL_GEN_UDIM] = {0}, sq = 0, ss = 0;
    for (int i = 0; i < n; i++)
        for (int d = 0; d < RILL_GEN_UDIM; d++) {
            sum[d] += v[i][d];
            sq += v[i][d] * v[i][d];
        }
    for (int d = 0; d < RILL_GEN_UDIM; d++)
        ss += sum[d] * sum[d];
    return (ss - sq) * 0.5;
}

static inline double rill_gen_sigmoid(double z)
{
    return z >= 0 ? 1 / (1 + exp(-z)) : exp(z) / (1 + exp(z));
}

/* ---- text output: rows formatted at p, written out as the buffer fills ------------------ */

enum { RILL_GEN_TEXT_BUF = 1 << 20, RILL_GEN_ROW_MAX = 4096 /* bytes a row may take */ };

typedef struct rill_gen_text {
    FILE *f;         /* NULL: no text is written (buf is NULL) */
    char *buf, *p;   /* the next row goes at p */
} rill_gen_text;

/* A buffer for rows to f (none when f is NULL). RILL_ENOMEM. */
int rill_gen_text_open(rill_gen_text *t, FILE *f, rill_err *err);
/* After a row, rows in all so far: writes the buffer out when another row might not fit.
 * RILL_EIO ("generator: writing rows up to N failed: ..."). */
int rill_gen_text_row_end(rill_gen_text *t, uint64_t rows, rill_err *err);
/* Ends the text: when rc (the generation's result so far) is RILL_OK, writes what is left of
 * rows in all (RILL_EIO as above); frees the buffer either way. Returns rc or the write's. */
int rill_gen_text_close(rill_gen_text *t, uint64_t rows, int rc, rill_err *err);

/* ---- formatting: each writes at p and returns the end -------------------------------- */

static inline char *rill_gen_put_u64(char *p, uint64_t v)
{
    char tmp[20];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n)
        *p++ = tmp[--n];
    return p;
}

static inline char *rill_gen_put_i64(char *p, int64_t v)
{
    if (v < 0) {
        *p++ = '-';
        return rill_gen_put_u64(p, (uint64_t)0 - (uint64_t)v);
    }
    return rill_gen_put_u64(p, (uint64_t)v);
}

static inline char *rill_gen_put_hex8(char *p, uint32_t v)
{
    static const char digits[] = "0123456789abcdef";
    for (int i = 7; i >= 0; i--) {
        p[i] = digits[v & 15];
        v >>= 4;
    }
    return p + 8;
}

#endif
