/* The Criteo-style generator: rows of label, I1..I13, C1..C26 as tab-separated text, drawn
 * from a planted model whose structure is fixed here and whose numbers come from the seed.
 * It is a test and benchmark fixture, not a simulation of real traffic: what matters is that
 * the data look like Criteo to the reader (hex ids, empty fields, Zipf heads, counts with
 * heavy tails), that it is fast, that the same cfg gives the same bytes, and that the labels
 * carry pairwise-interaction signal that a first-order model cannot reach.
 *
 * The model (README.md carries the same definition). M = max_cardinality; the tables below
 * give k, s, miss, sigma per C field, miss, lambda, alpha, w per I field, and the groups.
 *   C field f: empty with probability miss[f], else rank r ~ Zipf(s[f]) on 1..card[f],
 *     P(r) proportional to r^-s[f], with card[f] = max(3, round(3 (M/3)^(k[f]/25))); k[] is a
 *     permutation of 0..25, so cardinalities spread log-uniformly from 3 to exactly M. The
 *     text is the 8 hex digits of a 32-bit hash of (seed, f, r); in big fields a few ranks
 *     share a value, as hashed ids do.
 *   I field j: empty with probability miss[j], else floor(lambda[j] (U^(-1/alpha[j]) - 1)),
 *     U uniform on (0,1] (a Lomax count: mostly small, heavy-tailed), capped at 2^31 - 1.
 *     I2 is instead -1, -2 or -3 (equally likely) in 10% of rows.
 *   logit = BIAS
 *         + sum_f sigma[f] (e(f, r_f) - mean_f e)            r_f = 0 when C f is empty
 *         + sum_j w[j] log1p(I_j)                            over I fields present and > 0
 *         + interaction * sum_groups c_G / 2 * sum_{f < g in G} <v_f(r_f), v_g(r_g)>
 *   e(f, r): four 16-bit pieces of a hash of (seed, f, r), summed and scaled to mean 0 and
 *     variance 1 (nearly normal). With entity_clusters = K, in the four largest fields r is
 *     first replaced by its cluster 1 + hash(seed, f, r) mod K, and sigma is 0.6. v_f(r) in R^4: the four 16-bit pieces of another hash, each
 *     scaled to a uniform of mean 0 and variance 1, minus their mean v-bar_f; v_f(0) = 0.
 *     The means are taken under field f's own law (see rill_gen_center), so neither the
 *     first-order part's average nor any interaction's average over one of its fields
 *     depends on the seed: the interactions hold nothing a first-order model can use.
 *   label = 1 with probability sigmoid(logit).
 * The 1/2 is 1/sqrt(4): each pair's dot product then has variance about 1.
 *
 * One xoshiro stream, seeded from the seed, makes every draw in row order: per row the 26 C
 * fields (an empty-or-not draw where miss > 0, then the rank), the 13 I fields (likewise,
 * plus I2's sign draw), then the label. The interaction scale only enters the label, so
 * interaction = 0 gives the same features with other labels.
 *
 * Zipf ranks come from gen_common.h: a Walker alias table for fields of up to
 * RILL_GEN_ALIAS_MAX values, rejection-inversion above that. */
#include "gen.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gen_common.h"
#include "util.h"

enum { NCAT = 26, NNUM = 13, UDIM = RILL_GEN_UDIM, OUTBUF = 1 << 20 };

#define DEFAULT_MAX_CARD 4e6
#define MAX_MAX_CARD 4294967296.0   /* values are 32-bit hashes: more ranks only collide */
#define BIAS (-1.45)                /* gives a positive rate near 25% at the defaults */

/* k: position on the log-cardinality scale; s: Zipf exponent; miss: empty rate; sigma:
 * spread of the per-value first-order effects, small in the big fields, whose tails no model
 * sees often enough to learn. Comments give card at M = 4,000,000. */
static const struct {
    int k;
    double s, miss, sigma;
} catspec[NCAT] = {
    {12, 1.20, 0.00, 0.30}, /* C1: 2613 */
    {3, 1.05, 0.00, 0.35}, /* C2: 16 */
    {22, 1.00, 0.03, 0.12}, /* C3: 736321 */
    {17, 1.15, 0.03, 0.18}, /* C4: 43861 */
    {6, 1.20, 0.00, 0.30}, /* C5: 89 */
    {0, 1.10, 0.12, 0.30}, /* C6: 3 */
    {14, 1.20, 0.00, 0.25}, /* C7: 8074 */
    {9, 1.25, 0.00, 0.30}, /* C8: 481 */
    {1, 1.30, 0.00, 0.25}, /* C9: 5 */
    {19, 1.05, 0.00, 0.12}, /* C10: 135542 */
    {10, 1.15, 0.00, 0.30}, /* C11: 845 */
    {23, 1.00, 0.40, 0.12}, /* C12: 1294389 */
    {8, 1.20, 0.00, 0.30}, /* C13: 274 */
    {2, 1.10, 0.00, 0.35}, /* C14: 9 */
    {16, 1.10, 0.00, 0.18}, /* C15: 24951 */
    {24, 1.00, 0.40, 0.12}, /* C16: 2275425 */
    {4, 1.10, 0.00, 0.30}, /* C17: 29 */
    {11, 1.20, 0.00, 0.25}, /* C18: 1486 */
    {7, 1.15, 0.40, 0.25}, /* C19: 156 */
    {5, 1.30, 0.40, 0.30}, /* C20: 50 */
    {25, 1.00, 0.03, 0.12}, /* C21: 4000000 */
    {15, 1.25, 0.30, 0.18}, /* C22: 14193 */
    {13, 1.05, 0.00, 0.25}, /* C23: 4593 */
    {20, 1.10, 0.03, 0.12}, /* C24: 238272 */
    {18, 1.20, 0.40, 0.18}, /* C25: 77104 */
    {21, 1.05, 0.40, 0.12}, /* C26: 418861 */
};

/* Counts: empty rate, Lomax scale and tail index, weight of log1p(count) in the logit. */
static const struct {
    double miss, lambda, alpha, w;
} numspec[NNUM] = {
    {0.40, 2, 1.5, 0.15},    /* I1 */
    {0.00, 5, 1.2, 0},       /* I2, also -1..-3 */
    {0.20, 10, 1.3, -0.10},  /* I3 */
    {0.20, 4, 2.0, 0},       /* I4 */
    {0.03, 2000, 1.1, 0},    /* I5 */
    {0.22, 50, 1.2, -0.08},  /* I6 */
    {0.04, 5, 1.3, 0},       /* I7 */
    {0.00, 10, 2.5, 0},      /* I8 */
    {0.04, 50, 1.5, 0},      /* I9 */
    {0.40, 0.5, 2.0, 0.30},  /* I10 */
    {0.04, 2, 1.8, 0.20},    /* I11 */
    {0.40, 0.5, 1.5, 0},     /* I12 */
    {0.22, 5, 1.8, 0},       /* I13 */
};

/* The planted interactions: every pair of fields within a group interacts, through one
 * vector per (field, value) shared by all of that field's pairs. Within a group the term is
 * exactly a factorization machine's of dimension UDIM, so an FM or DLRM with embeddings of
 * UDIM * NGROUP = 8 dimensions or more can represent the whole of it. Each group mixes fields
 * of a handful of values with fields of hundreds to thousands, whose heads 10^5 rows see
 * often enough to learn. Fields are 0-based C indices; cardinalities at M = 4,000,000. */
enum { GROUP_MAX = RILL_GEN_GROUP_MAX };
static const rill_gen_group groups[] = {
    {4, {5, 1, 12, 0}, 0.5},   /* C6 (3), C2 (16), C13 (274), C1 (2613): 6 pairs */
    {4, {13, 19, 10, 6}, 0.5}, /* C14 (9), C20 (50, 40% empty), C11 (845), C7 (8074): 6 pairs */
};
enum { NGROUP = sizeof groups / sizeof groups[0] };

typedef struct catfield {
    rill_zipf zipf;        /* its ranks' law: card values, exponent s */
    uint64_t miss;         /* empty when the next 64-bit draw is below this */
    double sigma;
    /* hash keys (rill_gen_key): a value's hash is rill_mix64(r ^ key) */
    uint64_t key_hex, key_eff, key_vec, key_cluster;
    uint64_t clusters;     /* entity_clusters for an entity field, else 0 */
    int has_vec;           /* in some group */
    double emean, vmean[UDIM]; /* see rill_gen_center */
} catfield;

typedef struct gen {
    catfield cat[NCAT];
    uint64_t nmiss[NNUM];
    rill_rng rng;
    double interaction;
} gen;

/* ---- hashed values, effects and vectors ------------------------------------------------- */

/* With planted entity clusters, a value's effect is that of its cluster (1..clusters). */
static inline uint64_t effect_key(const catfield *c, uint64_t r)
{
    if (!c->clusters || r == 0)
        return r;
    return 1 + rill_mix64(r ^ c->key_cluster) % c->clusters;
}

static inline double raw_effect(const catfield *c, uint64_t r)
{
    return rill_gen_normalish(rill_mix64(effect_key(c, r) ^ c->key_eff));
}

/* Rank 0 (empty) has an effect too: models see the empty value as a category of its own. */
static inline double effect(const catfield *c, uint64_t r)
{
    return c->sigma * (raw_effect(c, r) - c->emean);
}

/* What rill_gen_center averages: a rank's raw effect, then (if in a group) its raw vector. */
static void center_values(const void *ctx, uint64_t r, double *out)
{
    const catfield *c = ctx;
    out[0] = raw_effect(c, r);
    if (c->has_vec)
        rill_gen_raw_vec(c->key_vec, r, out + 1);
}

/* ---- set-up ----------------------------------------------------------------------------- */

static void gen_free(gen *g)
{
    for (int f = 0; f < NCAT; f++)
        rill_zipf_free(&g->cat[f].zipf);
}

static int gen_init(gen *g, const rill_gen_cfg *cfg, rill_err *err)
{
    memset(g, 0, sizeof *g);
    double m = cfg->max_cardinality == 0 ? DEFAULT_MAX_CARD : cfg->max_cardinality;
    if (!(m >= 4 && m <= MAX_MAX_CARD))
        return rill_errf(err, RILL_EINVAL,
                         "generator: max_cardinality %g is out of range (give 4 to %.0f, or 0 "
                         "for the default %.0f)",
                         cfg->max_cardinality, MAX_MAX_CARD, DEFAULT_MAX_CARD);
    if (isnan(cfg->interaction))
        return rill_errf(err, RILL_EINVAL,
                         "generator: interaction is NaN (give a scale >= 0, or < 0 for the "
                         "default 1)");
    g->interaction = cfg->interaction < 0 ? 1 : cfg->interaction;

    uint64_t seed = cfg->seed;
    rill_rng_seed(&g->rng, rill_hash64(seed, 0x726f7773ULL)); /* "rows" */
    for (int j = 0; j < NNUM; j++)
        g->nmiss[j] = rill_gen_threshold(numspec[j].miss);
    for (int q = 0; q < NGROUP; q++)
        for (int i = 0; i < groups[q].n; i++)
            g->cat[groups[q].f[i]].has_vec = 1;

    double *w = malloc(RILL_GEN_ALIAS_MAX * sizeof *w);
    if (!w)
        return rill_errf(err, RILL_ENOMEM, "generator: out of memory for Zipf tables");
    for (int f = 0; f < NCAT; f++) {
        catfield *c = &g->cat[f];
        int k = catspec[f].k;
        /* the largest field gets exactly M, so max_cardinality means what it says */
        double card = k == NCAT - 1 ? m : 3 * exp(log(m / 3) * k / (NCAT - 1));
        uint64_t ncard = (uint64_t)llround(card);
        if (ncard < 3)
            ncard = 3;
        double s = catspec[f].s;
        /* rill_gen_center reads the law from zipf before the table exists */
        c->zipf = (rill_zipf){.card = ncard, .s = s};
        c->miss = rill_gen_threshold(catspec[f].miss);
        c->sigma = catspec[f].sigma;
        c->key_hex = rill_gen_key(seed, f, 0x6865782076616cULL);
        c->key_eff = rill_gen_key(seed, f, 0x6566666563740aULL);
        c->key_vec = rill_gen_key(seed, f, 0x766563746f720aULL);
        c->key_cluster = rill_gen_key(seed, f, 0x636c757374657273ULL); /* "clusters" */
        if (cfg->entity_clusters && k >= NCAT - 4) {
            c->clusters = cfg->entity_clusters;
            c->sigma = 0.6;
        }
        int small = ncard <= RILL_GEN_ALIAS_MAX;
        if (small)
            rill_zipf_weights(s, ncard, w);
        /* centring (the first ranks carry most rows: the top value of C6 alone about half) */
        rill_gen_center(&c->zipf, c->miss, small ? w : NULL, 1, c->has_vec != 0, center_values, c,
                        &c->emean, &c->vmean);
        if (rill_zipf_setup(&c->zipf, ncard, s, w)) { /* scales w: after centring */
            free(w);
            gen_free(g);
            return rill_errf(err, RILL_ENOMEM, "generator: out of memory for C%d's table", f + 1);
        }
    }
    free(w);
    return RILL_OK;
}

/* ---- rows ------------------------------------------------------------------------------- */

/* One row's features and its logit's parts. */
typedef struct crow {
    uint64_t rank[NCAT]; /* 0 = empty */
    int64_t num[NNUM];
    int num_present[NNUM];
    double first, inter; /* first-order effects and interactions */
} crow;

/* Draws one row from g's stream. */
static void draw_row(gen *g, crow *row)
{
    rill_rng *rng = &g->rng;
    row->first = BIAS;
    row->inter = 0;
    for (int f = 0; f < NCAT; f++) {
        const catfield *c = &g->cat[f];
        row->rank[f] = c->miss && rill_rng_next(rng) < c->miss ? 0 : rill_zipf_draw(&c->zipf, rng);
        row->first += effect(c, row->rank[f]);
    }
    for (int j = 0; j < NNUM; j++) {
        row->num_present[j] = !(g->nmiss[j] && rill_rng_next(rng) < g->nmiss[j]);
        if (!row->num_present[j])
            continue;
        row->num[j] = rill_gen_lomax(rng, numspec[j].lambda, numspec[j].alpha);
        /* real Criteo's I2 has a few small negative values */
        if (j == 1 && rill_rng_next(rng) < rill_gen_threshold(0.1))
            row->num[j] = -1 - (int64_t)rill_rng_below(rng, 3);
        if (numspec[j].w != 0 && row->num[j] > 0)
            row->first += numspec[j].w * log1p((double)row->num[j]);
    }
    if (g->interaction > 0) {
        for (int q = 0; q < NGROUP; q++) {
            double v[GROUP_MAX][UDIM];
            for (int i = 0; i < groups[q].n; i++) {
                const catfield *c = &g->cat[groups[q].f[i]];
                rill_gen_vec(c->key_vec, c->vmean, row->rank[groups[q].f[i]], v[i]);
            }
            /* the 1/2 is 1/sqrt(UDIM): each pair's dot has variance about 1 */
            row->inter += groups[q].c * rill_gen_pairs((const double (*)[UDIM])v, groups[q].n) * 0.5;
        }
        row->inter *= g->interaction;
    }
}

/* The row as a line of the Criteo layout at p: label, 13 numbers, 26 hex values. At most
 * 1 + 13 * 12 + 26 * 9 + 1 bytes, far below RILL_GEN_ROW_MAX. */
static char *put_row(const gen *g, char *p, int label, const crow *row)
{
    *p++ = (char)('0' + label);
    for (int j = 0; j < NNUM; j++) {
        *p++ = '\t';
        if (!row->num_present[j])
            continue;
        p = rill_gen_put_i64(p, row->num[j]);
    }
    for (int f = 0; f < NCAT; f++) {
        *p++ = '\t';
        if (row->rank[f])
            p = rill_gen_put_hex8(p, rill_gen_hex_value(g->cat[f].key_hex, row->rank[f]));
    }
    *p++ = '\n';
    return p;
}

int rill_gen_criteo_truth(const rill_gen_cfg *cfg, FILE *out, float *logit, float *first_order,
                          rill_err *err)
{
    if (!cfg)
        return rill_errf(err, RILL_EINVAL, "generator: no configuration given");
    gen g;
    rill_gen_text text;
    int rc = gen_init(&g, cfg, err);
    if (rc)
        return rc;
    if ((rc = rill_gen_text_open(&text, out, err))) {
        gen_free(&g);
        return rc;
    }
    for (uint64_t i = 0; i < cfg->rows; i++) {
        crow row;
        draw_row(&g, &row);
        double z = row.first + row.inter;
        int label = rill_rng_unit(&g.rng) < rill_gen_sigmoid(z);
        if (logit)
            logit[i] = (float)z;
        if (first_order)
            first_order[i] = (float)row.first;
        if (!out)
            continue;
        text.p = put_row(&g, text.p, label, &row);
        if ((rc = rill_gen_text_row_end(&text, i + 1, err)))
            break;
    }
    rc = rill_gen_text_close(&text, cfg->rows, rc, err);
    gen_free(&g);
    return rc;
}

/* rows = 0 is not an error: it writes nothing (the reader will refuse the empty file, which
 * is the place to say so). */
int rill_gen_criteo(const rill_gen_cfg *cfg, FILE *out, rill_err *err)
{
    if (!out)
        return rill_errf(err, RILL_EINVAL, "generator: no output stream given");
    return rill_gen_criteo_truth(cfg, out, NULL, NULL, err);
}

/* ---- one large Zipf field (the store benchmark) ------------------------------------------ */

int rill_gen_zipf_field(const rill_gen_zipf_cfg *cfg, FILE *out, rill_err *err)
{
    if (!cfg || !out)
        return rill_errf(err, RILL_EINVAL, "generator: no configuration or no output");
    if (cfg->ids < 4 || cfg->ids > ((uint64_t)1 << 40))
        return rill_errf(err, RILL_EINVAL, "generator: ids = %llu is out of range [4, 2^40]",
                         (unsigned long long)cfg->ids);
    if (!(cfg->exponent > 0.5 && cfg->exponent < 3))
        return rill_errf(err, RILL_EINVAL, "generator: exponent %g is out of range (0.5, 3)",
                         cfg->exponent);
    rill_zipf zipf;
    rill_zipf_setup_ri(&zipf, cfg->ids, cfg->exponent);
    rill_rng rng;
    rill_rng_seed(&rng, rill_hash64(cfg->seed, 0x7a697066));
    char *buf = malloc(OUTBUF + 256);
    if (!buf)
        return rill_errf(err, RILL_ENOMEM, "generator: out of memory");
    size_t len = 0;
    for (uint64_t i = 0; i < cfg->rows; i++) {
        uint64_t rank = rill_zipf_draw_ri(&zipf, &rng);
        /* a planted per-id effect, so there is something to learn */
        double z = 2.0 * (rill_hash_unit(cfg->seed, rank, 1) - 0.5) * 3.0 - 1.0;
        char *p = buf + len;
        *p++ = rill_rng_unit(&rng) < rill_gen_sigmoid(z) ? '1' : '0';
        for (int k = 0; k < NNUM; k++)
            *p++ = '\t';
        *p++ = '\t';
        static const char digits[] = "0123456789abcdef";
        uint64_t v = rank - 1; /* ids 0 .. ids-1, as 16 hex digits */
        for (int d = 15; d >= 0; d--) {
            p[d] = digits[v & 15];
            v >>= 4;
        }
        p += 16;
        for (int k = 1; k < NCAT; k++)
            *p++ = '\t';
        *p++ = '\n';
        len = (size_t)(p - buf);
        if (len >= OUTBUF) {
            if (fwrite(buf, 1, len, out) != len) {
                free(buf);
                return rill_errf(err, RILL_EIO, "generator: write failed");
            }
            len = 0;
        }
    }
    int rc = len && fwrite(buf, 1, len, out) != len ? rill_errf(err, RILL_EIO, "generator: write failed")
                                                   : RILL_OK;
    free(buf);
    return rc;
}
