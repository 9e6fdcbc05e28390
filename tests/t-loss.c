/* The loss mixes of loss_bce beyond the plain BCE: the scheduled task weight and ranking
 * share (their values along the ramp), inverse propensity weighting of repeated exposures
 * (the estimated propensities, the clip, the weights they give, their checkpoint), gradient
 * checks with all of it on, and the argument errors. */
#include "graphtest.h"
#include "kernels.h"
#include "pool.h"

enum { B = 12 };

/* label click, a weight, one numeric column: repeats */
static void make_schema(rill_schema *s)
{
    memset(s, 0, sizeof *s);
    s->name = strdup("test");
    s->nlabels = 1;
    s->label_names = calloc(1, sizeof(char *));
    s->label_names[0] = strdup("click");
    s->has_weight = true;
    s->nnum = 1;
    s->num_names = calloc(1, sizeof(char *));
    s->num_names[0] = strdup("repeats");
    s->ncat = 1;
    s->cat_names = calloc(1, sizeof(char *));
    s->cat_multi = calloc(1, sizeof(bool));
    s->cat_names[0] = strdup("user");
}

/* repeats 0,1,2,3,7,empty cycling; labels: the first six and the last positive, so each
 * count has both */
static const float repeats[B] = {0, 1, 2, 3, 7, NAN, 0, 1, 2, 3, 7, NAN};
static const float labels[B] = {1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 1};

static void make_batch(rill_batch *b, const rill_schema *s)
{
    rill_err err;
    rill_batch_init(b, s, B, &err);
    /* gcc 12.2 with AVX-512 copied `labels` as eight ones and the last four values here:
     * the Makefile's compiler probe (tools/ccprobe/) now builds with a flag that avoids it */
    memcpy(b->labels, labels, sizeof labels);
    memcpy(b->num, repeats, sizeof repeats);
    for (int r = 0; r < B; r++)
        b->weights[r] = (float)(0.5 + 0.1 * r);
    memset(b->cat[0].off, 0, (B + 1) * sizeof *b->cat[0].off); /* no users */
    b->B = B;
}

typedef struct {
    rill_graph *g;
    gt_case c;
    float z[B];
} loss_graph;

static int build(loss_graph *lg, const rill_schema *sc, const rill_batch *batch, const char *args,
                 rill_err *err)
{
    memset(lg, 0, sizeof *lg);
    rill_graph_create(&lg->g, sc, err);
    lg->c = (gt_case){.g = lg->g, .batch = batch, .B = B, .nfeeds = 1};
    rill_arena_init(&lg->c.arena, 0);
    lg->c.feeds[0] = gt_add(lg->g, "feed", "z", NULL, 0, "dims={1}", err);
    lg->c.node = gt_add(lg->g, "loss_bce", "task", &lg->c.feeds[0], 1, args, err);
    if (!lg->c.node || rill_graph_build(lg->g, 1, err))
        return -1;
    for (int i = 0; i < B; i++)
        lg->z[i] = (float)(0.3 * (i % 5) - 0.7);
    lg->c.feed_data[0] = lg->z;
    return 0;
}

static void drop(loss_graph *lg)
{
    rill_graph_free(lg->g);
    rill_arena_free(&lg->c.arena);
}

/* the loss at step t */
static double loss_at(loss_graph *lg, uint64_t t, rill_err *err)
{
    rill_step s = {.batch = lg->c.batch, .B = B, .training = true, .t = t, .arena = &lg->c.arena};
    rill_arena_reset(&lg->c.arena);
    rill_feed_set(lg->c.feeds[0], lg->z);
    double l = NAN;
    if (rill_graph_forward(lg->g, &s, &l, err))
        return NAN;
    return l;
}

/* w * (a * BCE(weights) + (1 - a) * L_pair) computed with the kernels directly */
static double reference(const float *z, const float *w, double weight, double a)
{
    float dz[B], ex[B];
    memset(dz, 0, sizeof dz);
    double bce = bce_forward_backward(dz, ex, z, labels, w, B, 1.0);
    void *work = malloc(pair_work_bytes(B));
    double pair = pair_forward_backward(dz, z, labels, B, 1.0, work);
    free(work);
    return weight * (a * bce + (1.0 - a) * pair);
}

static void schedule_cases(const rill_schema *sc, const rill_batch *batch)
{
    rill_err err = {0};
    loss_graph lg;
    if (!ok(!build(&lg, sc, batch,
                   "weight=2,weight_to=0.5,alpha=1,alpha_to=0.2,ramp_start=10,ramp_steps=40",
                   &err),
            "a ramped loss builds"))
        diag("%s", err.msg);
    struct {
        uint64_t t;
        double weight, alpha;
    } at[] = {{1, 2, 1}, {10, 2, 1}, {20, 1.625, 0.8}, {30, 1.25, 0.6}, {50, 0.5, 0.2},
              {1000, 0.5, 0.2}};
    for (size_t i = 0; i < sizeof at / sizeof at[0]; i++) {
        double got = loss_at(&lg, at[i].t, &err);
        double want = reference(lg.z, batch->weights, at[i].weight, at[i].alpha);
        ok(fabs(got - want) < 1e-6 * fmax(1.0, fabs(want)),
           "step %llu: weight %.3f, alpha %.2f (loss %.6f, expected %.6f)",
           (unsigned long long)at[i].t, at[i].weight, at[i].alpha, got, want);
    }
    drop(&lg);
}

/* counts per repeat count (capped at 5; empty = 0) from `steps` steps of the batch */
static void counts(int steps, double pos[6], double seen[6])
{
    memset(pos, 0, 6 * sizeof(double));
    memset(seen, 0, 6 * sizeof(double));
    for (int r = 0; r < B; r++) {
        int k = repeats[r] > 0 ? (repeats[r] >= 5 ? 5 : (int)repeats[r]) : 0;
        seen[k] += steps;
        pos[k] += steps * (double)labels[r];
    }
}

static double clipped(double p, double clip)
{
    return fmin(clip, fmax(1.0 / clip, p));
}

/* the weights the documented estimators give after `steps` steps of the batch */
static void expected_weights(float *w, const float *base, int steps, bool linear, double prior,
                             double clip)
{
    double pos[6], seen[6], p[6];
    counts(steps, pos, seen);
    double r0 = (pos[0] + 1.0) / (seen[0] + 2.0), num = 0, den = 0;
    for (int k = 1; k <= 5; k++) {
        p[k] = seen[k] + prior > 0 ? (pos[k] + prior * r0) / (seen[k] + prior) / r0 : 1.0;
        num += seen[k] * k * (p[k] - 1.0);
        den += seen[k] * k * k;
    }
    for (int k = 1; k <= 5; k++)
        p[k] = clipped(linear ? 1.0 + num / den * k : p[k], clip);
    for (int r = 0; r < B; r++) {
        int k = repeats[r] > 0 ? (repeats[r] >= 5 ? 5 : (int)repeats[r]) : 0;
        w[r] = k > 0 && labels[r] > 0.5f ? (float)((double)base[r] / p[k]) : base[r];
    }
}

static void after_steps(loss_graph *lg, int steps)
{
    rill_err err;
    for (int i = 0; i < steps; i++) {
        rill_step s = {.batch = lg->c.batch, .B = B, .training = true, .t = (uint64_t)i + 1,
                       .arena = &lg->c.arena};
        rill_graph_after_step(lg->g, &s, &err);
    }
}

static void ipw_cases(const rill_schema *sc, const rill_batch *batch)
{
    struct {
        const char *args;
        bool linear, sample_weight;
        double prior, clip;
    } cases[] = {
        {"ipw='repeats',sample_weight=false", false, false, 100, 10},
        {"ipw='repeats',ipw_prior=3", false, true, 3, 10},
        {"ipw='repeats',ipw_prior=0,ipw_clip=1.5", false, true, 0, 1.5},
        {"ipw='repeats',ipw_estimator='linear',ipw_prior=2", true, true, 2, 10},
    };
    float ones[B];
    for (int r = 0; r < B; r++)
        ones[r] = 1.0f;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        rill_err err = {0};
        loss_graph lg;
        if (!ok(!build(&lg, sc, batch, cases[i].args, &err), "loss_bce{%s} builds", cases[i].args)) {
            diag("%s", err.msg);
            drop(&lg);
            continue;
        }
        const float *base = cases[i].sample_weight ? batch->weights : ones;
        double before = loss_at(&lg, 1, &err);
        ok(fabs(before - reference(lg.z, base, 1, 1)) < 1e-6,
           "%s: before any step every propensity is 1", cases[i].args);
        after_steps(&lg, 7);
        float w[B];
        expected_weights(w, base, 7, cases[i].linear, cases[i].prior, cases[i].clip);
        double got = loss_at(&lg, 8, &err), want = reference(lg.z, w, 1, 1);
        ok(fabs(got - want) < 1e-6, "%s: after 7 steps the loss uses the estimated weights "
           "(%.6f, expected %.6f)", cases[i].args, got, want);
        ok(fabs(got - before) > 1e-4, "%s: and they change it (%.6f before)", cases[i].args,
           before);

        /* gradient: the weights are constants of the logits */
        float *dfeed[1] = {malloc(B * sizeof(float))};
        if (gt_backward(&lg.c, NULL, dfeed, &err) == 0) {
            double worst = gt_fd(&lg.c, NULL, lg.z, dfeed[0], B, 5e-4, &err);
            ok(worst < 1e-2, "%s: d logits match finite differences (worst %.2e)", cases[i].args,
               worst);
        } else {
            ok(0, "%s: backward ran (%s)", cases[i].args, err.msg);
        }
        free(dfeed[0]);

        /* the counts go through a checkpoint: a fresh node loaded with them gives the loss */
        void *buf = NULL;
        size_t len = 0;
        loss_graph fresh;
        build(&fresh, sc, batch, cases[i].args, &err);
        int rc = lg.c.node->ops->save(lg.c.node, &buf, &len, &err) ||
                 fresh.c.node->ops->load(fresh.c.node, buf, len, &err);
        ok(rc == 0 && fabs(loss_at(&fresh, 8, &err) - got) < 1e-9,
           "%s: the counts survive a checkpoint", cases[i].args);
        rc = fresh.c.node->ops->load(fresh.c.node, buf, len - 8, &err);
        ok(rc == RILL_ESTORE && strstr(err.msg, "task") && strstr(err.msg, "repeat counts"),
           "a cut checkpoint is an error naming the node: %s", err.msg);
        free(buf);
        drop(&fresh);
        drop(&lg);
    }

    /* the ramp and IPW together, gradient-checked on the ramp (t = 1: a quarter of it) */
    rill_err err = {0};
    loss_graph lg;
    build(&lg, sc, batch, "ipw='repeats',ipw_prior=1,alpha=0.9,alpha_to=0.1,weight=1.5,"
                          "weight_to=0.5,ramp_steps=4", &err);
    after_steps(&lg, 3);
    float *dfeed[1] = {malloc(B * sizeof(float))};
    int rc = gt_backward(&lg.c, NULL, dfeed, &err);
    double worst = rc ? 1 : gt_fd(&lg.c, NULL, lg.z, dfeed[0], B, 5e-4, &err);
    ok(rc == 0 && worst < 1e-2, "IPW with a ramped weight and ranking share: d logits match "
       "finite differences (worst %.2e)", worst);
    free(dfeed[0]);
    drop(&lg);
}

/* The pair loss by its definition, in long double, for the kernel's shortcuts (products of
 * exponentials, the positives split over the pool) to be checked against. */
static double pair_plain(double *dz, const float *z, const float *y, int n)
{
    long double sum = 0, np = 0, nn = 0;
    for (int i = 0; i < n; i++) {
        np += y[i] > 0.5f;
        nn += !(y[i] > 0.5f);
    }
    for (int i = 0; i < n; i++)
        dz[i] = 0;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++)
            if (y[i] > 0.5f && !(y[j] > 0.5f)) {
                long double d = (long double)z[i] - (long double)z[j];
                sum += d > 0 ? log1pl(expl(-d)) : -d + log1pl(expl(d));
                long double s = 1.0L / (1.0L + expl(d)); /* sigmoid(-d) */
                dz[i] -= (double)(s / (np * nn));
                dz[j] += (double)(s / (np * nn));
            }
    return (double)(sum / (np * nn));
}

static void pair_cases(void)
{
    /* a large batch (the positives split over 2 threads), logits of order 1; then logits
     * 900 apart, where the kernel takes an exp per pair */
    int sizes[] = {3000, 40};
    double spreads[] = {3.0, 900.0};
    for (int c = 0; c < 2; c++) {
        int n = sizes[c];
        float *z = malloc((size_t)n * sizeof *z), *y = malloc((size_t)n * sizeof *y);
        float *dz = calloc((size_t)n, sizeof *dz);
        double *want = malloc((size_t)n * sizeof *want);
        rill_rng rng;
        rill_rng_seed(&rng, 3 + (uint64_t)c);
        for (int i = 0; i < n; i++) {
            z[i] = (float)(spreads[c] * (rill_rng_unit(&rng) - 0.5));
            y[i] = rill_rng_unit(&rng) < 0.3 ? 1.0f : 0.0f;
        }
        void *work = malloc(pair_work_bytes(n));
        double got = pair_forward_backward(dz, z, y, n, 1.0, work);
        double ref = pair_plain(want, z, y, n), worst = 0;
        for (int i = 0; i < n; i++)
            worst = fmax(worst, fabs((double)dz[i] - want[i]) / fmax(1e-3 / n, fabs(want[i])));
        ok(fabs(got - ref) <= 1e-9 * fmax(1.0, fabs(ref)) && worst < 1e-4,
           "pair loss, %d examples, logits spread %g: loss %.9g (definition %.9g), gradients "
           "within %.1e relative", n, spreads[c], got, ref, worst);
        free(z), free(y), free(dz), free(want), free(work);
    }
}

static void error_cases(const rill_schema *sc, const rill_batch *batch)
{
    struct {
        const char *args, *expect;
    } cases[] = {
        {"ipw='clicks'", "no numeric column"},
        {"ipw='user'", "no numeric column"},
        {"ipw_clip=3", "need ipw"},
        {"ipw='repeats',ipw_estimator='kde'", "ipw_estimator"},
        {"ipw='repeats',ipw_clip=0.5", "ipw_clip"},
        {"ipw='repeats',ipw_max_repeats=0", "ipw_max_repeats"},
        {"weight_to=2", "ramp_steps"},
        {"alpha_to=1.5,ramp_steps=3", "alpha_to"},
        {"ramp_steps=-1", "ramp_steps"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        rill_err err = {0};
        loss_graph lg;
        int rc = build(&lg, sc, batch, cases[i].args, &err);
        ok(rc != 0 && strstr(err.msg, cases[i].expect) && strstr(err.msg, "test.lua:1"),
           "loss_bce{%s} is refused: %s", cases[i].args, err.msg);
        drop(&lg);
    }
}

/* noinline: what reached memory, not what the compiler believes it stored */
__attribute__((noinline)) static int positives(const float *y, int n)
{
    int k = 0;
    for (int i = 0; i < n; i++)
        k += y[i] > 0.5f;
    return k;
}

int main(void)
{
    rill_err err;
    rill_pool_start(2, &err);
    rill_schema sc;
    make_schema(&sc);
    rill_batch batch;
    make_batch(&batch, &sc);
    int npos = positives(batch.labels, B);
    ok(npos == 7, "the batch holds the 7 positive labels written (%d; 9 is gcc 12.2's AVX-512 "
       "miscopy, see tools/ccprobe/)", npos);
    schedule_cases(&sc, &batch);
    ipw_cases(&sc, &batch);
    pair_cases();
    error_cases(&sc, &batch);
    rill_batch_free(&batch);
    rill_schema_free(&sc);
    rill_pool_stop();
    return done_testing();
}
