/* The multi-task generator: CSV rows of two task labels, a repeat count, a user, C1..C8 and
 * I1..I4, drawn from a planted model whose structure is fixed here and whose numbers come from
 * the seed (gen.h gives the model). Like the Criteo generator it is a fixture with a known
 * truth, not a simulation of traffic: what matters is that the tasks' correlation, their
 * first-exposure rates and the repeats' propensities are what the settings say, so a
 * multi-task model or an IPW correction can be checked against them.
 *
 * Each task's logit is built from two "parts" computed with the same code and independent
 * hash keys: part 0 is task 1's non-bias logit; task 2's is
 *   correlation * part0 + sqrt(1 - correlation^2) * gamma * (part1 - beta * part0),
 * with beta and gamma taken on a calibration sample so that the second term is uncorrelated
 * with part 0 and has its variance. Independent hashed effects are uncorrelated only on
 * average over seeds (a field of 3 values has 3 effects), so without this the correlation
 * would swing with the seed.
 *
 * Per row one xoshiro stream draws, in order: user and C1..C8 (an empty-or-not draw where a
 * field can be empty, then the rank), I1..I4 (likewise, then the count), one 64-bit draw for
 * the repeat count, then one uniform per label. Every row takes those draws whatever the
 * settings, so correlation, rates and repeat settings change labels and repeats only, never
 * the features. The stream is seeded from (seed, sample), the model and the calibration
 * sample (a stream of its own) from the seed alone, so samples share the model. */
#include "gen.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "gen_common.h"
#include "util.h"

enum {
    NCAT = 9,            /* user, C1..C8 */
    NNUM = 4,            /* I1..I4 */
    NPART = 2,           /* the logit parts: task 1's, and the one task 2 mixes in */
    KMAX = 5,            /* largest repeat count */
    NCAL = 1 << 16,      /* calibration rows */
    UDIM = RILL_GEN_UDIM,
};

/* card: values; s: Zipf exponent; miss: empty rate; sigma: spread of the per-value effects.
 * The user's law is flatter than the items' (a heavy user is a few percent of the rows). */
static const struct {
    const char *name;
    uint64_t card;
    double s, miss, sigma;
} catspec[NCAT] = {
    {"user", 10000, 0.90, 0.00, 0.35},
    {"C1", 20000, 1.05, 0.00, 0.35}, /* the item */
    {"C2", 300, 1.10, 0.00, 0.30},
    {"C3", 3, 1.00, 0.00, 0.30},
    {"C4", 12, 1.20, 0.05, 0.30},
    {"C5", 60, 1.10, 0.10, 0.25},
    {"C6", 2000, 1.15, 0.00, 0.25},
    {"C7", 150, 1.20, 0.20, 0.25},
    {"C8", 5000, 1.10, 0.30, 0.20},
};

/* Counts: empty rate, Lomax scale and tail index, spread of the weight of log1p(count). */
static const struct {
    double miss, lambda, alpha, wscale;
} numspec[NNUM] = {
    {0.00, 3, 1.5, 0.12},   /* I1 */
    {0.20, 20, 1.3, 0.12},  /* I2 */
    {0.10, 1, 2.0, 0.12},   /* I3 */
    {0.40, 100, 1.2, 0.12}, /* I4 */
};

/* Every pair of fields within a group interacts through one vector per (field, value), as
 * in the Criteo generator; the first group is user x item x C2, what a GAUC per user sees. */
enum { GROUP_MAX = RILL_GEN_GROUP_MAX };
static const rill_gen_group groups[] = {
    {3, {0, 1, 2}, 0.5},    /* user, C1, C2: 3 pairs */
    {4, {3, 4, 5, 7}, 0.4}, /* C3, C4, C5, C7: 6 pairs */
};
enum { NGROUP = sizeof groups / sizeof groups[0] };

/* P(k) for k = 1..KMAX is proportional to 2^-k: k <= i+1 with probability cum[i]. */
static const double repeat_cum[KMAX - 1] = {16.0 / 31, 24.0 / 31, 28.0 / 31, 30.0 / 31};

typedef struct mtfield {
    rill_zipf zipf;
    uint64_t miss;     /* empty when the next 64-bit draw is below this */
    double sigma;
    uint64_t key_hex, key_eff[NPART], key_vec[NPART]; /* rill_gen_key */
    bool has_vec;
    double emean[NPART], vmean[NPART][UDIM]; /* means under the field's law (rill_gen_center) */
} mtfield;

typedef struct mtgen {
    mtfield cat[NCAT];
    uint64_t nmiss[NNUM];
    double numw[NPART][NNUM];
    double corr, corr_rest; /* correlation and sqrt(1 - correlation^2) */
    double beta, gamma;     /* decorrelation of part 1 from part 0 */
    double bias[2];
    double lift;
    uint64_t repeat_thr;      /* a repeat when the row's repeat draw is below this */
    uint64_t repeat_cut[KMAX - 1];
} mtgen;

/* One row's features and its two logit parts. */
typedef struct mtrow {
    uint64_t rank[NCAT]; /* 0 = empty */
    int64_t num[NNUM];
    bool num_present[NNUM];
    double part[NPART];
} mtrow;

/* ---- the planted model ------------------------------------------------------------------ */

static inline double raw_effect(const mtfield *c, int p, uint64_t r)
{
    return rill_gen_normalish(rill_mix64(r ^ c->key_eff[p]));
}

/* What rill_gen_center averages: both parts' raw effects, then both parts' raw vectors. */
static void center_values(const void *ctx, uint64_t r, double *out)
{
    const mtfield *c = ctx;
    for (int p = 0; p < NPART; p++) {
        out[p] = raw_effect(c, p, r);
        if (c->has_vec)
            rill_gen_raw_vec(c->key_vec[p], r, out + NPART + p * UDIM);
    }
}

/* Draws one row's features and computes both logit parts. */
static void draw_row(const mtgen *g, rill_rng *rng, mtrow *row)
{
    for (int p = 0; p < NPART; p++)
        row->part[p] = 0;
    for (int f = 0; f < NCAT; f++) {
        const mtfield *c = &g->cat[f];
        uint64_t r = c->miss && rill_rng_next(rng) < c->miss ? 0 : rill_zipf_draw(&c->zipf, rng);
        row->rank[f] = r;
        for (int p = 0; p < NPART; p++)
            row->part[p] += c->sigma * (raw_effect(c, p, r) - c->emean[p]);
    }
    for (int j = 0; j < NNUM; j++) {
        row->num_present[j] = !(g->nmiss[j] && rill_rng_next(rng) < g->nmiss[j]);
        if (!row->num_present[j])
            continue;
        row->num[j] = rill_gen_lomax(rng, numspec[j].lambda, numspec[j].alpha);
        double x = log1p((double)row->num[j]);
        for (int p = 0; p < NPART; p++)
            row->part[p] += g->numw[p][j] * x;
    }
    for (int p = 0; p < NPART; p++)
        for (int q = 0; q < NGROUP; q++) {
            double v[GROUP_MAX][UDIM];
            for (int i = 0; i < groups[q].n; i++) {
                const mtfield *c = &g->cat[groups[q].f[i]];
                rill_gen_vec(c->key_vec[p], c->vmean[p], row->rank[groups[q].f[i]], v[i]);
            }
            /* the 1/2 is 1/sqrt(UDIM): each pair's dot product has variance about 1 */
            double pairs = rill_gen_pairs((const double (*)[UDIM])v, groups[q].n);
            row->part[p] += groups[q].c * pairs * 0.5;
        }
}

/* Task 2's non-bias logit from the parts. */
static inline double mix(const mtgen *g, const double part[NPART])
{
    return g->corr * part[0] + g->corr_rest * g->gamma * (part[1] - g->beta * part[0]);
}

/* The b with mean over i of sigmoid(b + x[i]) = rate: Newton's method on that increasing,
 * smooth function, kept inside a bracket that shrinks with every step (a step leaving it is
 * replaced by bisection), so it converges from any start in a few steps. */
static double solve_bias(const double *x, size_t n, double rate)
{
    double mean = 0;
    for (size_t i = 0; i < n; i++)
        mean += x[i];
    mean /= (double)n;
    double lo = -50, hi = 50, b = log(rate / (1 - rate)) - mean;
    for (int it = 0; it < 200; it++) {
        double f = 0, df = 0;
        for (size_t i = 0; i < n; i++) {
            double s = rill_gen_sigmoid(b + x[i]);
            f += s;
            df += s * (1 - s);
        }
        f = f / (double)n - rate;
        df /= (double)n;
        if (f == 0)
            break;
        if (f < 0)
            lo = b;
        else
            hi = b;
        double next = b - f / df;
        if (!(next > lo && next < hi))
            next = 0.5 * (lo + hi);
        if (fabs(next - b) < 1e-12)
            break;
        b = next;
    }
    return b;
}

/* beta, gamma and the biases from NCAL rows of a stream of their own. */
static int calibrate(mtgen *g, uint64_t seed, const rill_gen_multitask_cfg *cfg, rill_err *err)
{
    double *part = malloc(2 * (size_t)NCAL * sizeof *part), *x = malloc(NCAL * sizeof *x);
    if (!part || !x) {
        free(part);
        free(x);
        return rill_errf(err, RILL_ENOMEM, "generator: out of memory for the calibration rows");
    }
    rill_rng rng;
    rill_rng_seed(&rng, rill_hash64(seed, 0x63616c6962ULL)); /* "calib" */
    mtrow row;
    double m0 = 0, m1 = 0;
    for (size_t i = 0; i < NCAL; i++) {
        draw_row(g, &rng, &row);
        part[2 * i] = row.part[0];
        part[2 * i + 1] = row.part[1];
        m0 += row.part[0];
        m1 += row.part[1];
    }
    m0 /= NCAL;
    m1 /= NCAL;
    double v0 = 0, v1 = 0, c01 = 0;
    for (size_t i = 0; i < NCAL; i++) {
        double a = part[2 * i] - m0, b = part[2 * i + 1] - m1;
        v0 += a * a;
        v1 += b * b;
        c01 += a * b;
    }
    /* part1 - beta part0 is uncorrelated with part0; gamma gives it part0's variance */
    g->beta = c01 / v0;
    g->gamma = sqrt(v0 / (v1 - g->beta * c01));
    for (size_t i = 0; i < NCAL; i++)
        x[i] = part[2 * i];
    g->bias[0] = solve_bias(x, NCAL, cfg->rate1);
    for (size_t i = 0; i < NCAL; i++)
        x[i] = mix(g, part + 2 * i);
    g->bias[1] = solve_bias(x, NCAL, cfg->rate2);
    free(part);
    free(x);
    return RILL_OK;
}

/* ---- set-up ----------------------------------------------------------------------------- */

void rill_gen_multitask_defaults(rill_gen_multitask_cfg *cfg)
{
    *cfg = (rill_gen_multitask_cfg){.rows = 0,
                                    .seed = 1,
                                    .sample = 0,
                                    .correlation = 0.5,
                                    .rate1 = 0.10,
                                    .rate2 = 0.03,
                                    .repeat_rate = 0.3,
                                    .repeat_lift = 0.5};
}

/* Each range is written so that NaN fails it. */
static int check_cfg(const rill_gen_multitask_cfg *cfg, rill_err *err)
{
    if (!(cfg->correlation >= -1 && cfg->correlation <= 1))
        return rill_errf(err, RILL_EINVAL,
                         "generator: correlation %g is out of range [-1, 1] (the correlation of "
                         "the two tasks' logits; default 0.5)",
                         cfg->correlation);
    if (!(cfg->rate1 > 0 && cfg->rate1 <= 0.5))
        return rill_errf(err, RILL_EINVAL,
                         "generator: rate1 %g is out of range (0, 0.5] (task 1's positive rate on "
                         "first exposures; default 0.1)",
                         cfg->rate1);
    if (!(cfg->rate2 > 0 && cfg->rate2 <= 0.5))
        return rill_errf(err, RILL_EINVAL,
                         "generator: rate2 %g is out of range (0, 0.5] (task 2's positive rate on "
                         "first exposures; default 0.03)",
                         cfg->rate2);
    if (!(cfg->repeat_rate >= 0 && cfg->repeat_rate < 1))
        return rill_errf(err, RILL_EINVAL,
                         "generator: repeat_rate %g is out of range [0, 1) (the share of repeated "
                         "exposures; default 0.3)",
                         cfg->repeat_rate);
    if (!(cfg->repeat_lift >= 0 && cfg->repeat_lift <= 10))
        return rill_errf(err, RILL_EINVAL,
                         "generator: repeat_lift %g is out of range [0, 10] (a repeat k's "
                         "positive rate is multiplied by 1 + lift k; default 0.5)",
                         cfg->repeat_lift);
    return RILL_OK;
}

static void gen_free(mtgen *g)
{
    for (int f = 0; f < NCAT; f++)
        rill_zipf_free(&g->cat[f].zipf);
}

static int gen_init(mtgen *g, const rill_gen_multitask_cfg *cfg, rill_err *err)
{
    memset(g, 0, sizeof *g);
    int rc = check_cfg(cfg, err);
    if (rc)
        return rc;
    uint64_t seed = cfg->seed;
    g->corr = cfg->correlation;
    g->corr_rest = sqrt(1 - cfg->correlation * cfg->correlation);
    g->lift = cfg->repeat_lift;
    g->repeat_thr = rill_gen_threshold(cfg->repeat_rate);
    for (int i = 0; i < KMAX - 1; i++)
        g->repeat_cut[i] = rill_gen_threshold(cfg->repeat_rate * repeat_cum[i]);
    for (int j = 0; j < NNUM; j++) {
        g->nmiss[j] = rill_gen_threshold(numspec[j].miss);
        for (int p = 0; p < NPART; p++) { /* a weight per part: "numw" + p */
            uint64_t h = rill_hash64((uint64_t)j, seed ^ (0x6e756d77ULL + (uint64_t)p));
            g->numw[p][j] = numspec[j].wscale * rill_gen_normalish(h);
        }
    }
    for (int q = 0; q < NGROUP; q++)
        for (int i = 0; i < groups[q].n; i++)
            g->cat[groups[q].f[i]].has_vec = true;

    double *w = malloc(RILL_GEN_ALIAS_MAX * sizeof *w);
    if (!w)
        return rill_errf(err, RILL_ENOMEM, "generator: out of memory for Zipf tables");
    for (int f = 0; f < NCAT; f++) {
        mtfield *c = &g->cat[f];
        uint64_t card = catspec[f].card;
        double s = catspec[f].s;
        c->zipf = (rill_zipf){.card = card, .s = s}; /* the law, for rill_gen_center */
        c->miss = rill_gen_threshold(catspec[f].miss);
        c->sigma = catspec[f].sigma;
        /* salts other than the Criteo generator's, so the two never share values */
        c->key_hex = rill_gen_key(seed, f, 0x6d742d686578ULL); /* "mt-hex" */
        for (int p = 0; p < NPART; p++) {
            c->key_eff[p] = rill_gen_key(seed, f, 0x6d742d65666600ULL + (uint64_t)p);
            c->key_vec[p] = rill_gen_key(seed, f, 0x6d742d76656300ULL + (uint64_t)p);
        }
        rill_zipf_weights(s, card, w);
        rill_gen_center(&c->zipf, c->miss, w, NPART, c->has_vec, center_values, c, c->emean,
                        c->vmean);
        if (rill_zipf_setup(&c->zipf, card, s, w)) { /* scales w: after centring */
            free(w);
            gen_free(g);
            return rill_errf(err, RILL_ENOMEM, "generator: out of memory for %s's table",
                             catspec[f].name);
        }
    }
    free(w);
    if ((rc = calibrate(g, seed, cfg, err)))
        gen_free(g);
    return rc;
}

/* ---- rows ------------------------------------------------------------------------------- */

static int repeat_count(const mtgen *g, uint64_t u)
{
    if (u >= g->repeat_thr)
        return 0;
    int k = 1;
    while (k < KMAX && u >= g->repeat_cut[k - 1])
        k++;
    return k;
}

/* The row as a CSV line at p: both labels, the repeat count, the categorical values in hex,
 * the numbers. At most 5 + 9 * 9 + 4 * 11 + 1 bytes, far below RILL_GEN_ROW_MAX. */
static char *put_row(const mtgen *g, char *p, const int label[2], int k, const mtrow *row)
{
    *p++ = (char)('0' + label[0]);
    *p++ = ',';
    *p++ = (char)('0' + label[1]);
    *p++ = ',';
    *p++ = (char)('0' + k);
    for (int f = 0; f < NCAT; f++) {
        *p++ = ',';
        if (row->rank[f])
            p = rill_gen_put_hex8(p, rill_gen_hex_value(g->cat[f].key_hex, row->rank[f]));
    }
    for (int j = 0; j < NNUM; j++) {
        *p++ = ',';
        if (row->num_present[j])
            p = rill_gen_put_i64(p, row->num[j]);
    }
    *p++ = '\n';
    return p;
}

int rill_gen_multitask_truth(const rill_gen_multitask_cfg *cfg, FILE *out, float *z1, float *z2,
                             int *repeats, rill_err *err)
{
    if (!cfg)
        return rill_errf(err, RILL_EINVAL, "generator: no configuration given");
    mtgen g;
    rill_gen_text text;
    int rc = gen_init(&g, cfg, err);
    if (rc)
        return rc;
    if ((rc = rill_gen_text_open(&text, out, err))) {
        gen_free(&g);
        return rc;
    }
    if (out) {
        static const char header[] = "t1,t2,repeats,user,C1,C2,C3,C4,C5,C6,C7,C8,I1,I2,I3,I4\n";
        memcpy(text.p, header, sizeof header - 1);
        text.p += sizeof header - 1;
    }
    /* the model above came from the seed alone; the rows from (seed, sample) */
    rill_rng rng;
    rill_rng_seed(&rng, rill_hash64(cfg->sample, rill_hash64(cfg->seed, 0x6d74726f7773ULL)));
    mtrow row;
    for (uint64_t i = 0; i < cfg->rows; i++) {
        draw_row(&g, &rng, &row);
        int k = repeat_count(&g, rill_rng_next(&rng));
        double z[2] = {g.bias[0] + row.part[0], g.bias[1] + mix(&g, row.part)};
        int label[2];
        for (int t = 0; t < 2; t++) {
            double prob = rill_gen_sigmoid(z[t]) * (1 + g.lift * k);
            label[t] = rill_rng_unit(&rng) < (prob < 1 ? prob : 1);
        }
        if (z1)
            z1[i] = (float)z[0];
        if (z2)
            z2[i] = (float)z[1];
        if (repeats)
            repeats[i] = k;
        if (!out)
            continue;
        text.p = put_row(&g, text.p, label, k, &row);
        if ((rc = rill_gen_text_row_end(&text, i + 1, err)))
            break;
    }
    rc = rill_gen_text_close(&text, cfg->rows, rc, err);
    gen_free(&g);
    return rc;
}

int rill_gen_multitask(const rill_gen_multitask_cfg *cfg, FILE *out, rill_err *err)
{
    if (!out)
        return rill_errf(err, RILL_EINVAL, "generator: no output stream given");
    return rill_gen_multitask_truth(cfg, out, NULL, NULL, NULL, err);
}
