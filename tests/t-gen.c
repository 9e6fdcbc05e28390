/* The Criteo generator: determinism, the line format, the designed rates and cardinalities,
 * the Zipf head, the planted signal, and the configuration errors. The multi-task generator:
 * determinism, the CSV format, samples of one model, the first-exposure rates, the tasks'
 * correlation, the repeats and their planted lift, and the configuration errors. */
#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gen.h"
#include "metrics.h"
#include "tap.h"

enum { NCOL = 40, NNUM = 13, NCAT = 26 };

typedef struct {
    char *buf;
    size_t len;
} text;

/* Runs the generator into memory. */
static int gen_text(const rill_gen_cfg *cfg, text *t, rill_err *err)
{
    t->buf = NULL;
    t->len = 0;
    FILE *f = open_memstream(&t->buf, &t->len);
    if (!f)
        return -1;
    int rc = rill_gen_criteo(cfg, f, err);
    fclose(f);
    return rc;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

/* What the checks below need from one parse of a generated text. */
typedef struct {
    size_t lines, positives, bad_lines;
    char first_bad[200];
    size_t num_empty[NNUM], cat_empty[NCAT], negatives[NNUM];
    uint32_t *cat;   /* lines x NCAT values; 0 stands for empty (a hash of 0 is left alone) */
} parsed;

static int is_hex8(const char *s, size_t n)
{
    if (n != 8)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return 1;
}

static int is_count(const char *s, size_t n, int allow_minus)
{
    size_t i = allow_minus && n > 1 && s[0] == '-';
    if (i == n)
        return 0;
    for (; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return 0;
    return 1;
}

/* Checks every line strictly (40 fields, label 0/1, counts, 8 lowercase hex digits, LF) and
 * collects the categorical values. */
static void parse(const text *t, size_t max_lines, parsed *p)
{
    memset(p, 0, sizeof *p);
    p->cat = calloc(max_lines * NCAT, sizeof *p->cat);
    const char *s = t->buf, *end = t->buf + t->len;
    while (s < end) {
        const char *nl = memchr(s, '\n', (size_t)(end - s));
        const char *e = nl ? nl : end;
        const char *why = NULL;
        int col = 0;
        const char *f = s;
        if (!nl)
            why = "no final newline";
        while (!why) {
            const char *tab = memchr(f, '\t', (size_t)(e - f));
            const char *fe = tab ? tab : e;
            size_t n = (size_t)(fe - f);
            if (col >= NCOL) {
                why = "more than 40 fields";
                break;
            }
            if (col == 0) {
                if (n != 1 || (f[0] != '0' && f[0] != '1'))
                    why = "label is not 0 or 1";
                else
                    p->positives += f[0] == '1';
            } else if (col <= NNUM) {
                if (n == 0)
                    p->num_empty[col - 1]++;
                else if (!is_count(f, n, col == 2))
                    why = "I field is not a count";
                else if (f[0] == '-')
                    p->negatives[col - 1]++;
            } else {
                int c = col - 1 - NNUM;
                if (n == 0)
                    p->cat_empty[c]++;
                else if (!is_hex8(f, n))
                    why = "C field is not 8 lowercase hex digits";
                else if (p->lines < max_lines)
                    p->cat[p->lines * NCAT + c] = (uint32_t)strtoul(f, NULL, 16);
            }
            col++;
            if (!tab)
                break;
            f = tab + 1;
        }
        if (!why && col != NCOL)
            why = "fewer than 40 fields";
        if (!why && memchr(s, '\r', (size_t)(e - s)))
            why = "carriage return";
        if (why && p->bad_lines++ == 0)
            snprintf(p->first_bad, sizeof p->first_bad, "line %zu: %s", p->lines + 1, why);
        p->lines++;
        s = e + 1;
    }
}

/* Distinct values of field c, and the counts of the most frequent and of the median value. */
static size_t field_stats(const parsed *p, int c, size_t *top, size_t *median)
{
    uint32_t *v = malloc(p->lines * sizeof *v);
    size_t n = 0;
    for (size_t i = 0; i < p->lines; i++)
        if (p->cat[i * NCAT + c])
            v[n++] = p->cat[i * NCAT + c];
    qsort(v, n, sizeof *v, cmp_u32);
    size_t *runs = malloc((n + 1) * sizeof *runs), distinct = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && v[j] == v[i])
            j++;
        runs[distinct++] = j - i;
        i = j;
    }
    size_t best = 0;
    for (size_t i = 0; i < distinct; i++)
        best = runs[i] > best ? runs[i] : best;
    /* the median over distinct values, by a partial count: values seen k times */
    size_t med = 0;
    if (distinct) {
        size_t below = 0;
        for (size_t k = 1; k <= best && !med; k++) {
            for (size_t i = 0; i < distinct; i++)
                below += runs[i] == k;
            if (below * 2 >= distinct)
                med = k;
        }
    }
    if (top)
        *top = best;
    if (median)
        *median = med;
    free(v);
    free(runs);
    return distinct;
}

static void test_determinism(void)
{
    rill_gen_cfg a = {.rows = 3000, .seed = 11, .interaction = -1};
    rill_gen_cfg b = a;
    b.seed = 12;
    rill_err err = {0};
    text t1, t2, t3;
    int rc = gen_text(&a, &t1, &err) | gen_text(&a, &t2, &err) | gen_text(&b, &t3, &err);
    ok(rc == 0, "generate 3 x 3000 rows (%s)", rc ? err.msg : "ok");
    ok(t1.len == t2.len && memcmp(t1.buf, t2.buf, t1.len) == 0, "same cfg, same bytes");
    ok(t1.len != t3.len || memcmp(t1.buf, t3.buf, t1.len) != 0, "another seed, other bytes");

    /* rows are generated in order from one stream: a prefix is the same data */
    rill_gen_cfg c = a;
    c.rows = 1000;
    text t4;
    gen_text(&c, &t4, &err);
    ok(t4.len < t1.len && memcmp(t1.buf, t4.buf, t4.len) == 0,
       "the first 1000 rows do not depend on how many follow");

    /* the interaction scale changes labels only: the features use the same draws */
    rill_gen_cfg d = a;
    d.interaction = 0;
    text t5;
    gen_text(&d, &t5, &err);
    int same_features = 1, labels_differ = 0;
    const char *x = t1.buf, *y = t5.buf;
    while (same_features && x < t1.buf + t1.len && y < t5.buf + t5.len) {
        const char *xe = memchr(x, '\n', (size_t)(t1.buf + t1.len - x));
        const char *ye = memchr(y, '\n', (size_t)(t5.buf + t5.len - y));
        if (!xe || !ye || xe - x != ye - y || memcmp(x + 1, y + 1, (size_t)(xe - x - 1)))
            same_features = 0;
        labels_differ += x[0] != y[0];
        x = xe + 1;
        y = ye + 1;
    }
    ok(same_features && labels_differ > 0,
       "interaction = 0 keeps every feature and changes some labels (%d of 3000)", labels_differ);
    free(t1.buf);
    free(t2.buf);
    free(t3.buf);
    free(t4.buf);
    free(t5.buf);
}

static void test_format_and_rates(void)
{
    enum { ROWS = 20000 };
    rill_gen_cfg cfg = {.rows = ROWS, .seed = 1, .interaction = -1};
    rill_err err = {0};
    text t;
    int rc = gen_text(&cfg, &t, &err);
    ok(rc == 0, "generate %d rows (%s)", ROWS, rc ? err.msg : "ok");
    parsed p;
    parse(&t, ROWS, &p);
    ok(p.lines == ROWS, "%zu lines", p.lines);
    if (!ok(p.bad_lines == 0, "every line: 40 tab-separated fields, label 0/1, counts, 8 hex "
                              "digits or empty, LF"))
        diag("%zu bad lines, first %s", p.bad_lines, p.first_bad);

    double rate = (double)p.positives / ROWS;
    ok(rate >= 0.20 && rate <= 0.30, "positive rate %.3f is within 0.20..0.30", rate);

    /* empty rates: C1 never, C12 and C16 40%, I2 never, I1 40% (binomial sd ~0.0035) */
    double c12 = (double)p.cat_empty[11] / ROWS, i1 = (double)p.num_empty[0] / ROWS;
    ok(p.cat_empty[0] == 0 && p.num_empty[1] == 0, "C1 and I2 are never empty");
    ok(fabs(c12 - 0.40) < 0.02 && fabs(i1 - 0.40) < 0.02, "C12 (%.3f) and I1 (%.3f) are 40%% empty",
       c12, i1);
    size_t neg_elsewhere = 0;
    for (int j = 0; j < NNUM; j++)
        neg_elsewhere += j == 1 ? 0 : p.negatives[j];
    double i2neg = (double)p.negatives[1] / ROWS;
    ok(fabs(i2neg - 0.10) < 0.015 && neg_elsewhere == 0,
       "I2 is negative in %.3f of rows (designed 0.10), no other count is", i2neg);

    /* cardinalities: C21 is the largest field (4M values), C6 the smallest (3), C9 has 5 */
    size_t top21, med21;
    size_t d21 = field_stats(&p, 20, &top21, &med21);
    size_t d6 = field_stats(&p, 5, NULL, NULL), d9 = field_stats(&p, 8, NULL, NULL);
    ok(d21 > 5000, "C21 shows many distinct values (%zu in %d rows)", d21, ROWS);
    ok(d6 == 3 && d9 == 5, "C6 shows 3 values (%zu), C9 shows 5 (%zu)", d6, d9);
    ok(top21 >= 50 * med21, "Zipf head: C21's top value is seen %zu times, the median one %zu",
       top21, med21);
    size_t dmax = 0, dmin = SIZE_MAX;
    for (int c = 0; c < NCAT; c++) {
        size_t d = field_stats(&p, c, NULL, NULL);
        dmax = d > dmax ? d : dmax;
        dmin = d < dmin ? d : dmin;
    }
    diag("distinct values per field in %d rows: %zu to %zu", ROWS, dmin, dmax);
    free(p.cat);
    free(t.buf);
}

static void test_max_cardinality(void)
{
    enum { ROWS = 20000 };
    rill_gen_cfg cfg = {.rows = ROWS, .seed = 5, .max_cardinality = 100, .interaction = -1};
    rill_err err = {0};
    text t;
    int rc = gen_text(&cfg, &t, &err);
    parsed p;
    parse(&t, ROWS, &p);
    size_t dmax = 0;
    for (int c = 0; c < NCAT; c++) {
        size_t d = field_stats(&p, c, NULL, NULL);
        dmax = d > dmax ? d : dmax;
    }
    ok(rc == 0 && p.bad_lines == 0 && dmax == 100,
       "max_cardinality 100: the largest field shows exactly 100 values (%zu)", dmax);
    free(p.cat);
    free(t.buf);
}

static void test_signal(void)
{
    enum { ROWS = 20000 };
    rill_gen_cfg cfg = {.rows = ROWS, .seed = 3, .interaction = -1};
    rill_err err = {0};
    float *z = malloc(ROWS * sizeof *z), *z1 = malloc(ROWS * sizeof *z1),
          *zq = malloc(ROWS * sizeof *zq), *y = malloc(ROWS * sizeof *y);
    text t = {0};
    FILE *f = open_memstream(&t.buf, &t.len);
    int rc = rill_gen_criteo_truth(&cfg, f, z, z1, &err);
    fclose(f);
    ok(rc == 0, "generate with the true logits (%s)", rc ? err.msg : "ok");
    size_t i = 0;
    double expect = 0, got = 0;
    for (const char *s = t.buf; i < ROWS && s < t.buf + t.len; i++) {
        y[i] = s[0] == '1' ? 1.0f : 0.0f;
        got += (double)y[i];
        expect += 1 / (1 + exp(-(double)z[i]));
        s = strchr(s, '\n') + 1;
    }
    /* sd of the count is below sqrt(ROWS)/2 ~ 71 */
    ok(i == ROWS && fabs(got - expect) < 300, "labels follow sigmoid(logit): %.0f positives, "
       "%.0f expected", got, expect);
    double auc = rill_auc(z, y, ROWS), auc1 = rill_auc(z1, y, ROWS);
    ok(auc > 0.80 && auc < 0.88, "AUC of the true logit is %.3f (designed 0.80..0.88)", auc);
    ok(auc - auc1 > 0.05, "AUC of its first-order part alone is %.3f, well below", auc1);

    rc = rill_gen_criteo_truth(&cfg, NULL, zq, NULL, &err);
    ok(rc == 0 && memcmp(z, zq, ROWS * sizeof *z) == 0, "the logits do not depend on writing");

    /* planted entity clusters: the same features, a first-order part carrying more signal
     * (the entity fields' effects spread 0.6 instead of 0.12) */
    rill_gen_cfg ec = cfg;
    ec.entity_clusters = 16;
    text te = {0};
    f = open_memstream(&te.buf, &te.len);
    rc = rill_gen_criteo_truth(&ec, f, zq, z1, &err);
    fclose(f);
    int same_features = rc == 0 && te.len == t.len, labels_differ = 0;
    for (const char *a = t.buf, *b = te.buf; same_features && a < t.buf + t.len;) {
        const char *ae = strchr(a, '\n'), *be = strchr(b, '\n');
        same_features = ae - a == be - b && memcmp(a + 1, b + 1, (size_t)(ae - a - 1)) == 0;
        labels_differ += a[0] != b[0];
        a = ae + 1;
        b = be + 1;
    }
    double auc1_own = 0;
    ok(same_features && labels_differ > 0,
       "entity_clusters = 16 keeps every feature and changes some labels (%d)", labels_differ);
    {
        float *yec = malloc(ROWS * sizeof *yec);
        size_t k = 0;
        for (const char *b = te.buf; k < ROWS; k++, b = strchr(b, '\n') + 1)
            yec[k] = b[0] == '1' ? 1.0f : 0.0f;
        auc1_own = rill_auc(z1, yec, ROWS);
        free(yec);
    }
    ok(auc1_own > auc1 + 0.02, "its first-order part predicts its labels better: AUC %.3f against "
       "%.3f without clusters", auc1_own, auc1);
    free(te.buf);

    cfg.interaction = 0;
    rill_gen_criteo_truth(&cfg, NULL, z, z1, &err);
    ok(memcmp(z, z1, ROWS * sizeof *z) == 0, "interaction = 0: the logit is its first-order part");
    free(z);
    free(z1);
    free(zq);
    free(y);
    free(t.buf);
}

static void test_bad_cfg(void)
{
    rill_err err = {0};
    text t;
    rill_gen_cfg cfg = {.rows = 10, .seed = 1, .max_cardinality = 3, .interaction = -1};
    int rc = gen_text(&cfg, &t, &err);
    ok(rc == RILL_EINVAL && strstr(err.msg, "max_cardinality 3") && t.len == 0,
       "max_cardinality 3 is refused, nothing written: %s", err.msg);
    free(t.buf);
    cfg.max_cardinality = (double)NAN;
    ok(rill_gen_criteo(&cfg, stdout, &err) == RILL_EINVAL, "max_cardinality NaN is refused");
    cfg.max_cardinality = 1e10;
    ok(rill_gen_criteo(&cfg, stdout, &err) == RILL_EINVAL, "max_cardinality 1e10 is refused: %s",
       err.msg);
    cfg.max_cardinality = 4;
    cfg.interaction = (double)NAN;
    ok(rill_gen_criteo(&cfg, stdout, &err) == RILL_EINVAL && strstr(err.msg, "interaction"),
       "interaction NaN is refused: %s", err.msg);
    ok(rill_gen_criteo(NULL, stdout, &err) == RILL_EINVAL, "no cfg is refused");
    cfg.interaction = -1;
    ok(rill_gen_criteo(&cfg, NULL, &err) == RILL_EINVAL, "no output stream is refused");

    /* the smallest allowed: every field has 3 or 4 values */
    cfg.rows = 2000;
    rc = gen_text(&cfg, &t, &err);
    parsed p;
    parse(&t, 2000, &p);
    size_t dmax = 0;
    for (int c = 0; c < NCAT; c++) {
        size_t d = field_stats(&p, c, NULL, NULL);
        dmax = d > dmax ? d : dmax;
    }
    ok(rc == 0 && p.bad_lines == 0 && dmax == 4, "max_cardinality 4 works (largest field %zu)",
       dmax);
    free(p.cat);
    free(t.buf);

    cfg.rows = 0;
    rc = gen_text(&cfg, &t, &err);
    ok(rc == 0 && t.len == 0, "rows = 0 writes nothing and succeeds");
    free(t.buf);
}

/* ---- the multi-task generator ------------------------------------------------------- */

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
    test_determinism();
    test_format_and_rates();
    test_max_cardinality();
    test_signal();
    test_bad_cfg();
    test_mt_format_and_determinism();
    test_mt_settings_change_labels_only();
    test_mt_samples();
    test_mt_rates();
    test_mt_correlation();
    test_mt_repeats();
    test_mt_bad_cfg();
    return done_testing();
}
