/* The multi-task generator: determinism, the CSV format, samples of one model, the
 * first-exposure rates, the tasks' correlation, the repeats and their planted lift, and the
 * configuration errors. */
#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gen.h"
#include "gentest.h"
#include "tap.h"

enum { MT_NCOL = 16, MT_NCAT = 9, MT_NNUM = 4, MT_KMAX = 5 };
static const char mt_header[] = "t1,t2,repeats,user,C1,C2,C3,C4,C5,C6,C7,C8,I1,I2,I3,I4\n";

static int gen_mt_text(const rill_gen_multitask_cfg *cfg, text *t, float *z1, float *z2, int *k,
                       rill_err *err)
{
    t->buf = NULL;
    t->len = 0;
    FILE *f = open_memstream(&t->buf, &t->len);
    if (!f)
        return -1;
    int rc = z1 || z2 || k ? rill_gen_multitask_truth(cfg, f, z1, z2, k, err)
                           : rill_gen_multitask(cfg, f, err);
    fclose(f);
    return rc;
}

/* One parse of a multi-task text: the labels and repeat counts per row, and where each row's
 * features start (after the third comma) and end, for comparing texts feature by feature. */
typedef struct {
    bool header_ok;
    size_t lines, bad_lines;
    char first_bad[200];
    size_t cat_empty[MT_NCAT], num_empty[MT_NNUM];
    int *y1, *y2, *k;
    const char **feat, **feat_end;
} mtparsed;

/* Checks every line strictly: 16 comma-separated fields, labels 0/1, repeats one digit 0..5,
 * user and C fields 8 lowercase hex digits (user and C1 never empty), counts, LF. */
static void mt_parse(const text *t, size_t max_lines, mtparsed *p)
{
    memset(p, 0, sizeof *p);
    p->y1 = calloc(max_lines, sizeof *p->y1);
    p->y2 = calloc(max_lines, sizeof *p->y2);
    p->k = calloc(max_lines, sizeof *p->k);
    p->feat = calloc(max_lines, sizeof *p->feat);
    p->feat_end = calloc(max_lines, sizeof *p->feat_end);
    size_t hl = sizeof mt_header - 1;
    p->header_ok = t->len >= hl && memcmp(t->buf, mt_header, hl) == 0;
    if (!p->header_ok)
        return;
    const char *s = t->buf + hl, *end = t->buf + t->len;
    while (s < end) {
        const char *nl = memchr(s, '\n', (size_t)(end - s));
        const char *e = nl ? nl : end;
        const char *why = nl ? NULL : "no final newline";
        size_t row = p->lines;
        int col = 0;
        for (const char *f = s; !why;) {
            const char *comma = memchr(f, ',', (size_t)(e - f));
            const char *fe = comma ? comma : e;
            size_t n = (size_t)(fe - f);
            if (col >= MT_NCOL) {
                why = "more than 16 fields";
                break;
            }
            if (col < 2) {
                if (n != 1 || (f[0] != '0' && f[0] != '1'))
                    why = "a label is not 0 or 1";
                else if (row < max_lines)
                    (col == 0 ? p->y1 : p->y2)[row] = f[0] - '0';
            } else if (col == 2) {
                if (n != 1 || f[0] < '0' || f[0] > '0' + MT_KMAX)
                    why = "repeats is not 0..5";
                else if (row < max_lines) {
                    p->k[row] = f[0] - '0';
                    p->feat[row] = fe + 1;
                    p->feat_end[row] = e;
                }
            } else if (col < 3 + MT_NCAT) {
                if (n == 0 && col <= 4)
                    why = "user or C1 is empty";
                else if (n == 0)
                    p->cat_empty[col - 3]++;
                else if (!is_hex8(f, n))
                    why = "a categorical field is not 8 lowercase hex digits";
            } else {
                if (n == 0)
                    p->num_empty[col - 3 - MT_NCAT]++;
                else if (!is_count(f, n, 0))
                    why = "an I field is not a count";
            }
            col++;
            if (!comma)
                break;
            f = comma + 1;
        }
        if (!why && col != MT_NCOL)
            why = "fewer than 16 fields";
        if (!why && memchr(s, '\r', (size_t)(e - s)))
            why = "carriage return";
        if (why && p->bad_lines++ == 0)
            snprintf(p->first_bad, sizeof p->first_bad, "line %zu: %s", p->lines + 2, why);
        p->lines++;
        s = e + 1;
    }
}

static void mt_free(mtparsed *p)
{
    free(p->y1);
    free(p->y2);
    free(p->k);
    free(p->feat);
    free(p->feat_end);
}

static bool same_features(const mtparsed *a, const mtparsed *b, size_t i)
{
    size_t na = (size_t)(a->feat_end[i] - a->feat[i]), nb = (size_t)(b->feat_end[i] - b->feat[i]);
    return na == nb && memcmp(a->feat[i], b->feat[i], na) == 0;
}

static double pearson(const float *x, const float *y, size_t n)
{
    double mx = 0, my = 0, sxx = 0, syy = 0, sxy = 0;
    for (size_t i = 0; i < n; i++) {
        mx += (double)x[i];
        my += (double)y[i];
    }
    mx /= (double)n;
    my /= (double)n;
    for (size_t i = 0; i < n; i++) {
        double a = (double)x[i] - mx, b = (double)y[i] - my;
        sxx += a * a;
        syy += b * b;
        sxy += a * b;
    }
    return sxy / sqrt(sxx * syy);
}

static double sigm(double z)
{
    return 1 / (1 + exp(-z));
}

static void test_mt_format_and_determinism(void)
{
    enum { ROWS = 3000 };
    rill_gen_multitask_cfg cfg;
    rill_gen_multitask_defaults(&cfg);
    ok(cfg.seed == 1 && cfg.sample == 0 && cfg.correlation == 0.5 && cfg.rate1 == 0.10 &&
       cfg.rate2 == 0.03 && cfg.repeat_rate == 0.3 && cfg.repeat_lift == 0.5,
       "multitask defaults: seed 1, sample 0, correlation 0.5, rates 0.10 and 0.03, "
       "repeat_rate 0.3, repeat_lift 0.5");
    cfg.rows = ROWS;
    cfg.seed = 11;
    rill_gen_multitask_cfg other = cfg, prefix = cfg;
    other.seed = 12;
    prefix.rows = 1000;
    rill_err err = {0};
    text t1, t2, t3, t4;
    int rc = gen_mt_text(&cfg, &t1, NULL, NULL, NULL, &err) |
             gen_mt_text(&cfg, &t2, NULL, NULL, NULL, &err) |
             gen_mt_text(&other, &t3, NULL, NULL, NULL, &err) |
             gen_mt_text(&prefix, &t4, NULL, NULL, NULL, &err);
    ok(rc == 0, "multitask: generate 3000, 3000, 3000 and 1000 rows (%s)", rc ? err.msg : "ok");
    ok(t1.len == t2.len && memcmp(t1.buf, t2.buf, t1.len) == 0, "multitask: same cfg, same bytes");
    ok(t1.len != t3.len || memcmp(t1.buf, t3.buf, t1.len) != 0,
       "multitask: another seed, other bytes");
    ok(t4.len < t1.len && memcmp(t1.buf, t4.buf, t4.len) == 0,
       "multitask: the first 1000 rows do not depend on how many follow");

    mtparsed p;
    mt_parse(&t1, ROWS, &p);
    ok(p.header_ok, "multitask: the header is %.*s", (int)sizeof mt_header - 2, mt_header);
    ok(p.lines == ROWS, "multitask: %zu rows after the header", p.lines);
    if (!ok(p.bad_lines == 0, "multitask: every line has 16 comma-separated fields: labels 0/1, "
                              "repeats 0..5, 8 hex digits or empty, counts or empty, LF"))
        diag("%zu bad lines, first %s", p.bad_lines, p.first_bad);
    size_t cempty = 0, nempty = 0;
    for (int c = 0; c < MT_NCAT; c++)
        cempty += p.cat_empty[c];
    for (int j = 0; j < MT_NNUM; j++)
        nempty += p.num_empty[j];
    ok(cempty > 0 && nempty > 0 && p.num_empty[0] == 0,
       "multitask: some C and I fields are empty (%zu, %zu), I1 never", cempty, nempty);
    mt_free(&p);

    /* the truth does not depend on writing */
    float *z1 = malloc(ROWS * sizeof *z1), *z2 = malloc(ROWS * sizeof *z2),
          *w1 = malloc(ROWS * sizeof *w1), *w2 = malloc(ROWS * sizeof *w2);
    int *k = malloc(ROWS * sizeof *k), *kk = malloc(ROWS * sizeof *kk);
    text t5;
    rc = gen_mt_text(&cfg, &t5, z1, z2, k, &err);
    int rc2 = rill_gen_multitask_truth(&cfg, NULL, w1, w2, kk, &err);
    ok(rc == 0 && rc2 == 0 && t5.len == t1.len && memcmp(t5.buf, t1.buf, t1.len) == 0 &&
       memcmp(z1, w1, ROWS * sizeof *z1) == 0 && memcmp(z2, w2, ROWS * sizeof *z2) == 0 &&
       memcmp(k, kk, ROWS * sizeof *k) == 0,
       "multitask: the truth (z1, z2, k) is the same with and without writing, the text too");
    free(z1);
    free(z2);
    free(w1);
    free(w2);
    free(k);
    free(kk);

    rill_gen_multitask_cfg none = cfg;
    none.rows = 0;
    text t6;
    rc = gen_mt_text(&none, &t6, NULL, NULL, NULL, &err);
    ok(rc == 0 && t6.len == sizeof mt_header - 1, "multitask: rows = 0 writes the header alone");
    free(t1.buf);
    free(t2.buf);
    free(t3.buf);
    free(t4.buf);
    free(t5.buf);
    free(t6.buf);
}

/* The settings change what they say and nothing else: the features never move. */
static void test_mt_settings_change_labels_only(void)
{
    enum { ROWS = 5000 };
    rill_gen_multitask_cfg base;
    rill_gen_multitask_defaults(&base);
    base.rows = ROWS;
    base.seed = 21;
    rill_gen_multitask_cfg norep = base, rho = base;
    norep.repeat_rate = 0;
    rho.correlation = -0.3;
    rill_err err = {0};
    text tb, tn, tr;
    int rc = gen_mt_text(&base, &tb, NULL, NULL, NULL, &err) |
             gen_mt_text(&norep, &tn, NULL, NULL, NULL, &err) |
             gen_mt_text(&rho, &tr, NULL, NULL, NULL, &err);
    mtparsed b, n, r;
    mt_parse(&tb, ROWS, &b);
    mt_parse(&tn, ROWS, &n);
    mt_parse(&tr, ROWS, &r);
    size_t feat_differ = 0, repeats_base = 0, repeats_norep = 0, first_label_differ = 0;
    size_t t1_differ = 0, t2_differ = 0, k_differ = 0;
    for (size_t i = 0; i < ROWS; i++) {
        feat_differ += !same_features(&b, &n, i) + !same_features(&b, &r, i);
        repeats_base += b.k[i] > 0;
        repeats_norep += n.k[i] > 0;
        /* a first exposure in both has the same probabilities and draws: the same labels */
        if (b.k[i] == 0)
            first_label_differ += b.y1[i] != n.y1[i] || b.y2[i] != n.y2[i];
        t1_differ += b.y1[i] != r.y1[i];
        t2_differ += b.y2[i] != r.y2[i];
        k_differ += b.k[i] != r.k[i];
    }
    ok(rc == 0 && b.bad_lines + n.bad_lines + r.bad_lines == 0 && feat_differ == 0,
       "multitask: repeat_rate and correlation leave every feature as it was");
    ok(repeats_norep == 0 && repeats_base > ROWS / 5,
       "multitask: repeat_rate = 0 gives no repeats (%zu; %zu at 0.3)", repeats_norep,
       repeats_base);
    ok(first_label_differ == 0, "multitask: ... and the same labels on first exposures");
    ok(t1_differ == 0 && k_differ == 0 && t2_differ > 0,
       "multitask: another correlation changes t2 only (%zu rows)", t2_differ);
    mt_free(&b);
    mt_free(&n);
    mt_free(&r);
    free(tb.buf);
    free(tn.buf);
    free(tr.buf);
}

/* First-exposure rates: the labels of unbiased data (repeat_rate 0), and the truth's mean
 * probability at other rates. */
static void test_mt_rates(void)
{
    enum { ROWS = 40000 };
    rill_gen_multitask_cfg cfg;
    rill_gen_multitask_defaults(&cfg);
    cfg.rows = ROWS;
    cfg.seed = 2;
    cfg.repeat_rate = 0;
    rill_err err = {0};
    text t;
    int rc = gen_mt_text(&cfg, &t, NULL, NULL, NULL, &err);
    mtparsed p;
    mt_parse(&t, ROWS, &p);
    double pos1 = 0, pos2 = 0;
    for (size_t i = 0; i < ROWS; i++) {
        pos1 += p.y1[i];
        pos2 += p.y2[i];
    }
    double r1 = pos1 / ROWS, r2 = pos2 / ROWS;
    /* 4.5 binomial standard deviations (0.0015 and 0.00085) */
    double tol1 = 4.5 * sqrt(0.10 * 0.90 / ROWS), tol2 = 4.5 * sqrt(0.03 * 0.97 / ROWS);
    ok(rc == 0 && p.lines == ROWS && fabs(r1 - 0.10) < tol1,
       "multitask: t1 positive rate %.4f (designed 0.10 +- %.4f)", r1, tol1);
    ok(fabs(r2 - 0.03) < tol2, "multitask: t2 positive rate %.4f (designed 0.03 +- %.4f)", r2,
       tol2);
    mt_free(&p);
    free(t.buf);

    float *z1 = malloc(ROWS * sizeof *z1), *z2 = malloc(ROWS * sizeof *z2);
    const double rates[][2] = {{0.5, 0.01}, {0.25, 0.4}};
    for (int c = 0; c < 2; c++) {
        cfg.rate1 = rates[c][0];
        cfg.rate2 = rates[c][1];
        cfg.seed = (uint64_t)(7 + c);
        rc = rill_gen_multitask_truth(&cfg, NULL, z1, z2, NULL, &err);
        double m1 = 0, m2 = 0;
        for (size_t i = 0; i < ROWS; i++) {
            m1 += sigm((double)z1[i]);
            m2 += sigm((double)z2[i]);
        }
        m1 /= ROWS;
        m2 /= ROWS;
        /* only the features are sampled here: the sd of a mean probability is below 0.002 */
        ok(rc == 0 && fabs(m1 - rates[c][0]) < 0.006 && fabs(m2 - rates[c][1]) < 0.006,
           "multitask: rates %.2f and %.2f: mean true probabilities %.4f and %.4f", rates[c][0],
           rates[c][1], m1, m2);
    }
    free(z1);
    free(z2);
}

static void test_mt_correlation(void)
{
    enum { ROWS = 20000 };
    rill_gen_multitask_cfg cfg;
    rill_gen_multitask_defaults(&cfg);
    cfg.rows = ROWS;
    float *z1 = malloc(ROWS * sizeof *z1), *z2 = malloc(ROWS * sizeof *z2);
    rill_err err = {0};
    const double rhos[] = {0, 0.5, 0.9, -0.6};
    for (int c = 0; c < 4; c++) {
        cfg.correlation = rhos[c];
        cfg.seed = (uint64_t)(30 + c);
        int rc = rill_gen_multitask_truth(&cfg, NULL, z1, z2, NULL, &err);
        double r = pearson(z1, z2, ROWS);
        /* sampling sd of r is (1 - rho^2) / sqrt(ROWS), 0.007 at most; the calibration
         * sample's error is of the same order */
        ok(rc == 0 && fabs(r - rhos[c]) < 0.03,
           "multitask: correlation %.1f: the true logits correlate at %.4f", rhos[c], r);
    }
    for (int c = 0; c < 2; c++) {
        cfg.correlation = c ? -1 : 1;
        int rc = rill_gen_multitask_truth(&cfg, NULL, z1, z2, NULL, &err);
        double r = pearson(z1, z2, ROWS);
        ok(rc == 0 && fabs(r - cfg.correlation) < 1e-6,
           "multitask: correlation %g: the logits are one up to sign and bias (r = %.7f)",
           cfg.correlation, r);
    }
    /* the task-2 logit's spread equals task 1's: the independent part has the same scale */
    cfg.correlation = 0;
    rill_gen_multitask_truth(&cfg, NULL, z1, z2, NULL, &err);
    double s1 = 0, s2 = 0, m1 = 0, m2 = 0;
    for (size_t i = 0; i < ROWS; i++) {
        m1 += (double)z1[i];
        m2 += (double)z2[i];
    }
    m1 /= ROWS;
    m2 /= ROWS;
    for (size_t i = 0; i < ROWS; i++) {
        s1 += ((double)z1[i] - m1) * ((double)z1[i] - m1);
        s2 += ((double)z2[i] - m2) * ((double)z2[i] - m2);
    }
    s1 = sqrt(s1 / ROWS);
    s2 = sqrt(s2 / ROWS);
    ok(fabs(s2 / s1 - 1) < 0.05, "multitask: correlation 0: the logits' sd are %.3f and %.3f",
       s1, s2);
    free(z1);
    free(z2);
}

/* The repeat counts' law, and the labels of repeats: per k, the positives counted against
 * the planted probabilities min(1, sigmoid(z) (1 + lift k)), and the rate among repeats over
 * the rate among first exposures against the planted inflation. */
/* Task task's labels y against its planted logits z and repeat counts k (count: rows per k):
 * positives per k, and the rate ratio of repeats to first exposures. */
static void check_repeat_lift(const rill_gen_multitask_cfg *cfg, int task, size_t rows,
                              const int *y, const float *z, const int *k, const size_t *count)
{
    /* per k: observed and expected positives, and the variance of the observed count */
    double obs[MT_KMAX + 1] = {0}, expect[MT_KMAX + 1] = {0}, var[MT_KMAX + 1] = {0};
    double base0 = 0; /* sum of sigmoid(z) over first exposures */
    for (size_t i = 0; i < rows; i++) {
        double s = sigm((double)z[i]), q = s * (1 + cfg->repeat_lift * k[i]);
        q = q < 1 ? q : 1;
        obs[k[i]] += y[i];
        expect[k[i]] += q;
        var[k[i]] += q * (1 - q);
        if (k[i] == 0)
            base0 += s;
    }
    bool counts_ok = true;
    for (int j = 0; j <= MT_KMAX; j++)
        counts_ok = counts_ok && fabs(obs[j] - expect[j]) < 4.5 * sqrt(var[j]) + 1;
    ok(counts_ok, "multitask: t%d positives per k match the planted probabilities "
                  "(k=0: %.0f vs %.0f, k=1: %.0f vs %.0f, k=2: %.0f vs %.0f)",
       task + 1, obs[0], expect[0], obs[1], expect[1], obs[2], expect[2]);

    /* pooled over repeats: the rate ratio against the one the truth implies, within
     * 4.5 standard errors (delta method on a ratio of two independent rates) */
    double on = 0, oe = 0, ov = 0, n_rep = (double)(rows - count[0]);
    for (int j = 1; j <= MT_KMAX; j++) {
        on += obs[j];
        oe += expect[j];
        ov += var[j];
    }
    double ratio = (on / n_rep) / (obs[0] / (double)count[0]);
    double want = (oe / n_rep) / (base0 / (double)count[0]);
    double se = ratio * sqrt(ov / (on * on) + var[0] / (obs[0] * obs[0]));
    ok(fabs(ratio - want) < 4.5 * se,
       "multitask: t%d rate among repeats / among first exposures = %.3f (planted %.3f; "
       "mean 1 + lift k = %.3f)",
       task + 1, ratio, want,
       1 + cfg->repeat_lift * (double)(count[1] + 2 * count[2] + 3 * count[3] +
                                      4 * count[4] + 5 * count[5]) / n_rep);
    /* k = 1 alone, where the cap at 1 hardly matters: the planted ratio is 1 + lift up to
     * the two row sets' different features */
    double r1 = (obs[1] / (double)count[1]) / (obs[0] / (double)count[0]);
    double se1 = r1 * sqrt(var[1] / (obs[1] * obs[1]) + var[0] / (obs[0] * obs[0]));
    double w1 = (expect[1] / (double)count[1]) / (base0 / (double)count[0]);
    ok(fabs(r1 - w1) < 4.5 * se1,
       "multitask: t%d rate at k = 1 / at k = 0 = %.3f (planted %.3f, 1 + lift = 1.5)",
       task + 1, r1, w1);
}

static void test_mt_repeats(void)
{
    enum { ROWS = 60000 };
    rill_gen_multitask_cfg cfg;
    rill_gen_multitask_defaults(&cfg);
    cfg.rows = ROWS;
    cfg.seed = 5;
    float *z[2] = {malloc(ROWS * sizeof(float)), malloc(ROWS * sizeof(float))};
    int *k = malloc(ROWS * sizeof *k);
    rill_err err = {0};
    text t;
    int rc = gen_mt_text(&cfg, &t, z[0], z[1], k, &err);
    mtparsed p;
    mt_parse(&t, ROWS, &p);
    ok(rc == 0 && p.lines == ROWS && p.bad_lines == 0, "multitask: %d rows with repeats", ROWS);

    size_t count[MT_KMAX + 1] = {0}, kmismatch = 0;
    for (size_t i = 0; i < ROWS; i++) {
        count[k[i]]++;
        kmismatch += k[i] != p.k[i];
    }
    ok(kmismatch == 0, "multitask: the repeats column is the truth's k");
    double share = 1 - (double)count[0] / ROWS, tol = 4.5 * sqrt(0.3 * 0.7 / ROWS);
    ok(fabs(share - 0.3) < tol, "multitask: %.4f of the rows are repeats (designed 0.3 +- %.4f)",
       share, tol);
    /* P(k) proportional to 2^-k on 1..5: 16, 8, 4, 2, 1 in 31 */
    bool law_ok = true;
    for (int j = 1; j <= MT_KMAX; j++) {
        double want = 0.3 * ROWS * (double)(1 << (MT_KMAX - j)) / 31;
        law_ok = law_ok && fabs((double)count[j] - want) < 4.5 * sqrt(want);
    }
    ok(law_ok, "multitask: k = 1..5 in %zu, %zu, %zu, %zu, %zu rows (expected 16:8:4:2:1)",
       count[1], count[2], count[3], count[4], count[5]);

    const int *y[2] = {p.y1, p.y2};
    for (int task = 0; task < 2; task++)
        check_repeat_lift(&cfg, task, ROWS, y[task], z[task], k, count);
    mt_free(&p);
    free(t.buf);
    free(z[0]);
    free(z[1]);
    free(k);
}

/* Field c (0 = user, 1..8 = C1..C8) of row i as a number, 0 when empty. */
static uint32_t mt_value(const mtparsed *p, size_t i, int c)
{
    const char *f = p->feat[i];
    for (int skip = 0; skip < c; skip++)
        f = strchr(f, ',') + 1;
    return *f == ',' ? 0 : (uint32_t)strtoul(f, NULL, 16);
}

/* The distinct values of field c, sorted, into v (at most n); returns how many. */
static size_t mt_distinct(const mtparsed *p, int c, uint32_t *v, size_t n)
{
    size_t m = 0;
    for (size_t i = 0; i < p->lines; i++) {
        uint32_t x = mt_value(p, i, c);
        bool seen = x == 0;
        for (size_t j = 0; j < m && !seen; j++)
            seen = v[j] == x;
        if (!seen && m < n)
            v[m++] = x;
    }
    qsort(v, m, sizeof *v, cmp_u32);
    return m;
}

/* Another sample: other rows from the same model, whose value texts come from the seed. */
static void test_mt_samples(void)
{
    enum { ROWS = 3000 };
    rill_gen_multitask_cfg a;
    rill_gen_multitask_defaults(&a);
    a.rows = ROWS;
    rill_gen_multitask_cfg b = a, c = a;
    b.sample = 1;
    c.seed = 2;
    rill_err err = {0};
    text ta, tb, tc;
    int rc = gen_mt_text(&a, &ta, NULL, NULL, NULL, &err) |
             gen_mt_text(&b, &tb, NULL, NULL, NULL, &err) |
             gen_mt_text(&c, &tc, NULL, NULL, NULL, &err);
    mtparsed pa, pb, pc;
    mt_parse(&ta, ROWS, &pa);
    mt_parse(&tb, ROWS, &pb);
    mt_parse(&tc, ROWS, &pc);
    size_t same_rows = 0;
    for (size_t i = 0; i < ROWS; i++)
        same_rows += same_features(&pa, &pb, i);
    ok(rc == 0 && pb.bad_lines == 0 && same_rows < 10,
       "multitask: sample 1 has other rows than sample 0 (%zu of %d alike)", same_rows, ROWS);
    /* C3 has 3 values, C4 12: each text shows them all */
    uint32_t va[16], vb[16], vc[16];
    bool same_model = true, other_model = false;
    for (int f = 3; f <= 4; f++) { /* C3, C4 */
        size_t na = mt_distinct(&pa, f, va, 16), nb = mt_distinct(&pb, f, vb, 16),
               nc = mt_distinct(&pc, f, vc, 16);
        same_model = same_model && na == (f == 3 ? 3 : 12) && na == nb &&
                     memcmp(va, vb, na * sizeof *va) == 0;
        other_model = other_model || nc != na || memcmp(va, vc, na * sizeof *va) != 0;
    }
    ok(same_model && other_model,
       "multitask: ... from the same model: C3's 3 and C4's 12 values are the same texts (another "
       "seed, other texts)");
    mt_free(&pa);
    mt_free(&pb);
    mt_free(&pc);
    free(ta.buf);
    free(tb.buf);
    free(tc.buf);
}

static void test_mt_bad_cfg(void)
{
    rill_gen_multitask_cfg good;
    rill_gen_multitask_defaults(&good);
    good.rows = 10;
    static const struct {
        const char *name;
        size_t offset;
        double bad[3];
    } cases[] = {
        {"correlation", offsetof(rill_gen_multitask_cfg, correlation), {1.01, -1.5, NAN}},
        {"rate1", offsetof(rill_gen_multitask_cfg, rate1), {0, 0.51, NAN}},
        {"rate2", offsetof(rill_gen_multitask_cfg, rate2), {-0.1, 0.6, NAN}},
        {"repeat_rate", offsetof(rill_gen_multitask_cfg, repeat_rate), {-0.01, 1, NAN}},
        {"repeat_lift", offsetof(rill_gen_multitask_cfg, repeat_lift), {-0.5, 10.5, NAN}},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        bool all = true;
        char first[sizeof ((rill_err *)0)->msg] = "";
        for (int b = 0; b < 3; b++) {
            rill_gen_multitask_cfg cfg = good;
            *(double *)((char *)&cfg + cases[c].offset) = cases[c].bad[b];
            rill_err err = {0};
            text t;
            int rc = gen_mt_text(&cfg, &t, NULL, NULL, NULL, &err);
            all = all && rc == RILL_EINVAL && strstr(err.msg, cases[c].name) && t.len == 0;
            if (b == 0)
                snprintf(first, sizeof first, "%s", err.msg);
            free(t.buf);
        }
        ok(all, "multitask: %s out of range or NaN is refused, nothing written: %s",
           cases[c].name, first);
    }
    /* the edges of the ranges are allowed */
    rill_gen_multitask_cfg edge = good;
    edge.correlation = -1;
    edge.rate1 = 0.5;
    edge.repeat_rate = 0;
    edge.repeat_lift = 10;
    rill_err err = {0};
    text t;
    int rc = gen_mt_text(&edge, &t, NULL, NULL, NULL, &err);
    free(t.buf);
    edge.correlation = 1;
    edge.repeat_lift = 0;
    edge.repeat_rate = 0.99;
    rc |= gen_mt_text(&edge, &t, NULL, NULL, NULL, &err);
    ok(rc == 0, "multitask: correlation -1 and 1, rate 0.5, repeat_rate 0 and 0.99, lift 0 and "
                "10 are allowed (%s)", rc ? err.msg : "ok");
    free(t.buf);

    rill_gen_multitask_cfg zero = {.rows = 10};
    ok(rill_gen_multitask(&zero, stdout, &err) == RILL_EINVAL && strstr(err.msg, "rate1"),
       "multitask: a zeroed cfg is refused, naming rate1: %s", err.msg);
    ok(rill_gen_multitask(NULL, stdout, &err) == RILL_EINVAL, "multitask: no cfg is refused");
    ok(rill_gen_multitask(&good, NULL, &err) == RILL_EINVAL,
       "multitask: no output stream is refused");
}

int main(void)
{
    test_mt_format_and_determinism();
    test_mt_settings_change_labels_only();
    test_mt_samples();
    test_mt_rates();
    test_mt_correlation();
    test_mt_repeats();
    test_mt_bad_cfg();
    return done_testing();
}
