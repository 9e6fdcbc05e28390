/* Metrics: AUC and logloss against the reference vectors, AUC against a brute-force pairwise
 * count on tied data, and the logit form of the logloss against the probability form. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "metrics.h"
#include "tap.h"
#include "testvec.h"
#include "util.h"

/* One skipped test in TAP form; tap.h only has skip_all, which ends the program. */
static void skip(const char *why)
{
    tap_run++;
    printf("ok %d # SKIP %s\n", tap_run, why);
}

/* The definition itself: pairs won plus half the tied pairs, over |P||N|. */
static double auc_brute(const float *s, const float *y, size_t n)
{
    double num = 0, npos = 0, nneg = 0;
    for (size_t i = 0; i < n; i++) {
        if (y[i] > 0.5f)
            npos++;
        else
            nneg++;
    }
    if (npos == 0 || nneg == 0)
        return (double)NAN;
    for (size_t i = 0; i < n; i++) {
        if (!(y[i] > 0.5f))
            continue;
        for (size_t j = 0; j < n; j++) {
            if (y[j] > 0.5f)
                continue;
            num += s[i] > s[j] ? 1.0 : s[i] == s[j] ? 0.5 : 0.0;
        }
    }
    return num / (npos * nneg);
}

static int close_enough(double got, double want, double atol, double rtol)
{
    return fabs(got - want) <= atol + rtol * fabs(want);
}

static void test_vectors(void)
{
    FILE *f = tv_open("auc.txt");
    if (!f) {
        diag("auc.txt not found (set RILL_TESTVECTORS to the folder holding it)");
        skip("reference vectors absent");
        return;
    }
    tv_case c;
    int rc, cases = 0;
    while ((rc = tv_next(f, &c)) == 1) {
        const tv_tensor *p = tv_get(&c, "p"), *want_auc = tv_get(&c, "auc"),
                        *want_ll = tv_get(&c, "logloss");
        float *pf = tv_floats(&c, "p"), *yf = tv_floats(&c, "y");
        if (!p || !want_auc || !want_ll || !pf || !yf) {
            ok(0, "%s: has tensors p, y, auc, logloss", c.name);
        } else {
            size_t n = (size_t)p->n;
            double auc = rill_auc(pf, yf, n), ll = rill_logloss_prob(pf, yf, n);
            if (!ok(close_enough(auc, want_auc->v[0], 1e-6, 1e-5), "%s: auc", c.name))
                diag("got %.9g, want %.9g", auc, want_auc->v[0]);
            if (!ok(close_enough(ll, want_ll->v[0], 1e-6, 1e-5), "%s: logloss", c.name))
                diag("got %.9g, want %.9g", ll, want_ll->v[0]);
        }
        free(pf);
        free(yf);
        tv_free(&c);
        cases++;
    }
    ok(rc == 0 && cases > 0, "auc.txt read to the end (%d cases)", cases);
    fclose(f);
}

/* Random scores drawn from `levels` distinct values (so many ties across the classes), some
 * of them negative and one level being -0.0 against +0.0, and labels with positive rate q. */
static void fill_tied(rill_rng *r, float *s, float *y, size_t n, int levels, double q)
{
    for (size_t i = 0; i < n; i++) {
        int l = (int)rill_rng_below(r, (uint64_t)levels);
        s[i] = (float)(l - levels / 2) * 0.37f;
        if (l == levels / 2 && rill_rng_below(r, 2))
            s[i] = -0.0f;
        y[i] = rill_rng_unit(r) < q ? 1.0f : 0.0f;
    }
}

static void test_brute(void)
{
    static const size_t sizes[] = {2, 3, 7, 50, 333, 2000};
    static const int levels[] = {1, 2, 5, 40};
    static const double rates[] = {0.1, 0.5, 0.9};
    rill_rng r;
    rill_rng_seed(&r, 42);
    float *s = malloc(2000 * sizeof *s), *y = malloc(2000 * sizeof *y);
    double worst = 0;
    int nan_agree = 1, runs = 0;
    for (size_t a = 0; a < sizeof sizes / sizeof *sizes; a++)
        for (size_t b = 0; b < sizeof levels / sizeof *levels; b++)
            for (size_t c = 0; c < sizeof rates / sizeof *rates; c++) {
                size_t n = sizes[a];
                fill_tied(&r, s, y, n, levels[b], rates[c]);
                double got = rill_auc(s, y, n), want = auc_brute(s, y, n);
                runs++;
                if (isnan(want) || isnan(got))
                    nan_agree &= isnan(want) && isnan(got);
                else
                    worst = fmax(worst, fabs(got - want));
            }
    ok(worst < 1e-12, "auc matches the pairwise count on %d tied data sets (worst %.2e)", runs,
       worst);
    ok(nan_agree, "auc is NaN exactly when the pairwise count has no pairs");

    /* scores spanning the whole float range: infinities, denormals, both zeros */
    static const float wide[] = {-INFINITY, -3e38f, -1.0f, -1e-40f, -0.0f, 0.0f, 1e-40f,
                                 1e-30f,    2.5f,   3e38f, INFINITY};
    size_t nw = sizeof wide / sizeof *wide, n = 0;
    for (size_t i = 0; i < nw; i++)
        for (int lab = 0; lab < 2; lab++) {
            s[n] = wide[i];
            y[n++] = (float)((i * 7 + (size_t)lab * 3) % 5 < 2 ? lab : 1 - lab);
        }
    is_near(rill_auc(s, y, n), auc_brute(s, y, n), 1e-12, "auc over the whole float range");

    float one_s = 0.5f, one_y = 1.0f;
    ok(isnan(rill_auc(&one_s, &one_y, 1)), "n = 1: one class absent gives NaN");
    ok(isnan(rill_auc(s, y, 0)), "n = 0 gives NaN");
    for (size_t i = 0; i < 100; i++)
        y[i] = 0.0f;
    ok(isnan(rill_auc(s, y, 100)), "all negative gives NaN");
    s[3] = NAN;
    y[5] = 1.0f;
    ok(isnan(rill_auc(s, y, 100)), "a NaN score gives NaN");
    free(s);
    free(y);
}

/* Millions of rows, checked against counting per score level (O(n + L^2), independent of the
 * sort), and timed. */
static void test_large(void)
{
    enum { L = 1000 };
    size_t n = 3000000;
    float *s = malloc(n * sizeof *s), *y = malloc(n * sizeof *y);
    double *pos = calloc(L, sizeof *pos), *neg = calloc(L, sizeof *neg);
    if (!s || !y || !pos || !neg) {
        ok(0, "allocate %zu rows", n);
        goto done;
    }
    rill_rng r;
    rill_rng_seed(&r, 7);
    for (size_t i = 0; i < n; i++) {
        int l = (int)rill_rng_below(&r, L);
        /* the label leans on the level, so the AUC is well away from 1/2 */
        y[i] = rill_rng_unit(&r) < 0.1 + 0.6 * l / L ? 1.0f : 0.0f;
        s[i] = (float)l / L - 0.5f;
        (y[i] > 0.5f ? pos : neg)[l]++;
    }
    double num = 0, below = 0, np = 0, nn = 0;
    for (int l = 0; l < L; l++) {
        num += pos[l] * (below + 0.5 * neg[l]);
        below += neg[l];
        np += pos[l];
        nn += neg[l];
    }
    double t0 = rill_now();
    double got = rill_auc(s, y, n);
    double dt = rill_now() - t0;
    is_near(got, num / (np * nn), 1e-12, "auc on %zu rows matches per-level counting", n);
    diag("auc of %zu rows took %.3f s", n, dt);
done:
    free(s);
    free(y);
    free(pos);
    free(neg);
}

static double sigmoid(double z)
{
    return z >= 0 ? 1 / (1 + exp(-z)) : exp(z) / (1 + exp(z));
}

static void test_logloss(void)
{
    enum { N = 1000 };
    float z[N], p[N], y[N];
    rill_rng r;
    rill_rng_seed(&r, 3);
    for (int i = 0; i < N; i++) {
        z[i] = (float)(8 * rill_rng_unit(&r) - 4);
        p[i] = (float)sigmoid((double)z[i]);
        y[i] = (float)rill_rng_below(&r, 2);
    }
    /* p is rounded to float, which moves log(1-p) by up to 6e-8/(1-p) ~ 3e-6 at |z| = 4 */
    is_near(rill_logloss_logit(z, y, N), rill_logloss_prob(p, y, N), 1e-5,
            "logloss from logits equals logloss of sigmoid(z) for |z| <= 4");

    float ze[4] = {100, 100, -100, -100}, ye[4] = {0, 1, 0, 1};
    double terms[4];
    int finite = 1;
    for (int i = 0; i < 4; i++) {
        terms[i] = rill_logloss_logit(&ze[i], &ye[i], 1);
        finite &= isfinite(terms[i]);
    }
    ok(finite, "logloss from logits is finite at z = +-100");
    is_near(terms[0], 100, 1e-12, "z = 100, y = 0 costs 100");
    is_near(terms[1], 0, 1e-40, "z = 100, y = 1 costs exp(-100)");
    is_near(terms[2], 0, 1e-40, "z = -100, y = 0 costs exp(-100)");
    is_near(terms[3], 100, 1e-12, "z = -100, y = 1 costs 100");
    is_near(rill_logloss_logit(ze, ye, 4), 50, 1e-12, "their mean is 50");

    float p1 = 1.0f, p0 = 0.0f, one = 1.0f, zero = 0.0f;
    is_near(rill_logloss_prob(&p1, &one, 1), 0, 0, "p = 1 on a positive costs 0 (no 0 * inf)");
    is_near(rill_logloss_prob(&p0, &zero, 1), 0, 0, "p = 0 on a negative costs 0");
    ok(isinf(rill_logloss_prob(&p0, &one, 1)), "p = 0 on a positive is inf (no clipping)");
    ok(isnan(rill_logloss_prob(p, y, 0)) && isnan(rill_logloss_logit(z, y, 0)),
       "logloss of no rows is NaN");
}

/* GAUC by its definition: each group's brute-force AUC weighted by its size, over the groups
 * with both classes. */
static void test_gauc(void)
{
    enum { N = 600 };
    static float s[N], y[N], gs[N], gy[N];
    static uint64_t grp[N];
    rill_rng rng;
    rill_rng_seed(&rng, 21);
    for (int i = 0; i < N; i++) {
        grp[i] = 1000 + rill_rng_below(&rng, 37) * 7919; /* 37 groups, unsorted ids */
        /* group 1000 all positive, 1000 + 7919 all negative: no AUC, left out */
        y[i] = grp[i] == 1000 ? 1.0f : grp[i] == 1000 + 7919 ? 0.0f
                                                                : (rill_rng_unit(&rng) < 0.4);
        s[i] = (float)rill_rng_below(&rng, 20) + y[i] * (float)rill_rng_below(&rng, 6); /* ties */
    }
    double num = 0, den = 0;
    size_t want_groups = 0;
    for (uint64_t k = 0; k < 37; k++) {
        size_t n = 0;
        for (int i = 0; i < N; i++)
            if (grp[i] == 1000 + k * 7919) {
                gs[n] = s[i];
                gy[n++] = y[i];
            }
        double a = auc_brute(gs, gy, n);
        if (a == a) {
            num += a * (double)n;
            den += (double)n;
            want_groups++;
        }
    }
    size_t got_groups = 0;
    double got = rill_gauc(s, y, grp, N, &got_groups);
    ok(close_enough(got, num / den, 1e-12, 1e-12) && got_groups == want_groups &&
           want_groups == 35,
       "gauc: size-weighted mean of the groups' AUC, one-class groups left out (%.9f vs %.9f, "
       "%zu groups)", got, num / den, got_groups);
    for (int i = 0; i < N; i++)
        grp[i] = 5; /* one group: GAUC is the AUC */
    ok(close_enough(rill_gauc(s, y, grp, N, NULL), rill_auc(s, y, N), 1e-12, 0),
       "gauc: one group is the plain AUC");
    for (int i = 0; i < N; i++)
        grp[i] = (uint64_t)i; /* every group one example: no group has both classes */
    ok(isnan(rill_gauc(s, y, grp, N, &got_groups)) && got_groups == 0,
       "gauc: NaN when no group has both classes");
}

int main(void)
{
    test_vectors();
    test_brute();
    test_large();
    test_logloss();
    test_gauc();
    return done_testing();
}
