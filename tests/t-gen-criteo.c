/* The Criteo generator: determinism, the line format, the designed rates and cardinalities,
 * the Zipf head, the planted signal, and the configuration errors. */
#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gen.h"
#include "gentest.h"
#include "metrics.h"
#include "tap.h"

enum { NCOL = 40, NNUM = 13, NCAT = 26 };

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

/* What the checks below need from one parse of a generated text. */
typedef struct {
    size_t lines, positives, bad_lines;
    char first_bad[200];
    size_t num_empty[NNUM], cat_empty[NCAT], negatives[NNUM];
    uint32_t *cat;   /* lines x NCAT values; 0 stands for empty (a hash of 0 is left alone) */
} parsed;

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

int main(void)
{
    test_determinism();
    test_format_and_rates();
    test_max_cardinality();
    test_signal();
    test_bad_cfg();
    return done_testing();
}
