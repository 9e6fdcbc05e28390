/* loss_bce: binary cross-entropy with logits, the weighted mean over the batch,
 * sum_b w_b bce(z_b, y_b) / sum_b w_b with bce(z, y) = max(z,0) - z y + log(1 + exp(-|z|)),
 * which never takes the log of a rounded-off sigmoid. Arguments: label (the schema's label
 * column, default the first), weight (this loss's weight in the total, default 1),
 * sample_weight (use the schema's per-sample weight column; default true when it has one),
 * alpha (default 1): the loss is alpha * BCE + (1 - alpha) * L_pair, with L_pair the
 * combined-pair ranking loss (Lin et al., "Understanding the Ranking Loss for Recommendation
 * with Sparse User Feedback", KDD 2024; pair_forward_backward in kernels.h), unweighted by
 * sample weights.
 *
 * Schedules: weight_to and alpha_to move weight and alpha linearly to those values over
 * ramp_steps training steps from step ramp_start (default 0); before it they are weight and
 * alpha, after it weight_to and alpha_to.
 *
 * Inverse propensity weighting for repeated exposure: ipw names a numeric column holding how
 * often the user saw the item before (0 or empty: a first exposure). A repeat exposure's
 * positive is more likely than a first one's (the user came back to it), so its weight is
 * divided by the propensity p_k of a positive at repeat count k relative to a first exposure,
 * clipped to [1/ipw_clip, ipw_clip]. p_k is estimated from the training batches already seen
 * (after_step counts positives and examples per k, counts above ipw_max_repeats pooled, the
 * counts checkpointed): ipw_estimator = "ratio" (default) takes p_k = r_k / r_0 with r_k
 * k's positive rate shrunk towards r_0 by ipw_prior pseudo-examples (default 100), so a rare
 * k starts at 1; "linear" fits p_k = 1 + beta k to those ratios by least squares weighted by
 * each k's examples, smoother when the high counts are rare. Negatives keep their weight. */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "blob.h"
#include "graph.h"
#include "kernels.h"
#include "nodes.h"
#include "pool.h"

enum { IPW_RATIO, IPW_LINEAR, IPW_MAX_REPEATS = 100 };

typedef struct {
    bool sample_weight;
    double weight, weight_to, alpha, alpha_to;
    long ramp_start, ramp_steps;
    int ipw_col;          /* numeric field of the repeat count, -1: no IPW */
    int estimator;        /* IPW_* */
    long max_repeats;
    double clip, prior;
    double pos[IPW_MAX_REPEATS + 1], seen[IPW_MAX_REPEATS + 1]; /* per repeat count k */
    float *dz, *y, *w;
} bce_state;

static const uint32_t IPW_STATE_MAGIC = 0x49505701u; /* "IPW" v1: the raw form (legacy) */
#define IPW_BLOB_MAGIC 0x49505702u /* the field-by-field form (blob.h) */
#define IPW_BLOB_VERSION 1

/* The pair loss's work: the positives' and negatives' indexes and exponentials, and per
 * worker its share of the loss and of the negatives' gradients. */
typedef struct {
    const float *z;
    const int *pos, *neg;
    const double *epos, *eneg; /* exp(c - z_i) of the positives, exp(z_j - c) of the negatives */
    int np, nn;
    bool direct;               /* logits too far apart for the products: exp per pair */
    double *gneg;              /* per worker nn gradients, then its loss */
    float *dz;
    double k;                  /* scale / (np nn) */
} pair_job;

static void pair_part(void *ctx, size_t b, size_t e, int worker)
{
    pair_job *j = ctx;
    double *gneg = j->gneg + (size_t)worker * ((size_t)j->nn + 1), sum = 0;
    for (size_t p = b; p < e; p++) {
        double gi = 0;
        for (int q = 0; q < j->nn; q++) {
            /* -log sigmoid(d) = log(1 + t) with t = exp(-d), d = z_i - z_j; its derivative in
             * d is -sigmoid(-d) = -t / (1 + t). The products of the precomputed exponentials
             * give t without an exp per pair. */
            double l, s;
            if (!j->direct) {
                double t = j->epos[p] * j->eneg[q];
                l = log1p(t);
                s = t / (1.0 + t);
            } else {
                double d = (double)j->z[j->pos[p]] - (double)j->z[j->neg[q]];
                double x = exp(-fabs(d));
                l = (d < 0 ? -d : 0) + log1p(x);
                s = d >= 0 ? x / (1.0 + x) : 1.0 / (1.0 + x);
            }
            sum += l;
            gi -= s;
            gneg[q] += s;
        }
        j->dz[j->pos[p]] += (float)(j->k * gi);
    }
    gneg[j->nn] += sum;
}

static int pair_workers(void)
{
    int w = rill_pool_threads();
    return w > 1 ? w : 1;
}

size_t pair_work_bytes(int B)
{
    size_t n = (size_t)(B > 0 ? B : 1);
    return n * (2 * sizeof(int) + 2 * sizeof(double)) + (size_t)pair_workers() * (n + 1) * sizeof(double);
}

double pair_forward_backward(float *dz, const float *z, const float *y, int B, double scale,
                             void *work)
{
    int *pos = work, *neg = pos + B, np = 0, nn = 0;
    double *epos = (double *)(neg + B), *eneg = epos + B, *gneg = eneg + B;
    double lo = INFINITY, hi = -INFINITY;
    for (int b = 0; b < B; b++) {
        if (y[b] > 0.5f)
            pos[np++] = b;
        else
            neg[nn++] = b;
        lo = fmin(lo, (double)z[b]);
        hi = fmax(hi, (double)z[b]);
    }
    if (np == 0 || nn == 0)
        return 0.0;
    /* exp(c - z_i) exp(z_j - c) = exp(z_j - z_i) is exact to rounding while neither it nor
     * the factors overflow or underflow: with c centred, logits less than 600 apart */
    double c = 0.5 * (lo + hi);
    bool direct = !(hi - lo < 600.0);
    if (!direct) {
        for (int p = 0; p < np; p++)
            epos[p] = exp(c - (double)z[pos[p]]);
        for (int q = 0; q < nn; q++)
            eneg[q] = exp((double)z[neg[q]] - c);
    }
    int workers = pair_workers();
    memset(gneg, 0, (size_t)workers * ((size_t)nn + 1) * sizeof *gneg);
    double k = 1.0 / ((double)np * (double)nn);
    pair_job j = {z, pos, neg, epos, eneg, np, nn, direct, gneg, dz, scale * k};
    /* each worker at least ~64k pairs: small batches stay in the calling thread */
    size_t chunk = (size_t)(65536 / nn + 1);
    rill_parallel_for((size_t)np, chunk, pair_part, &j);
    /* the workers' shares summed in double into worker 0's, then one rounding per negative */
    double *g0 = gneg, sum = g0[nn];
    for (int w = 1; w < workers; w++) {
        const double *g = gneg + (size_t)w * ((size_t)nn + 1);
        sum += g[nn];
        for (int q = 0; q < nn; q++)
            g0[q] += g[q];
    }
    for (int q = 0; q < nn; q++)
        dz[neg[q]] += (float)(scale * k * g0[q]);
    return k * sum;
}

double bce_forward_backward(float *dz, float *ex, const float *z, const float *y, const float *w,
                            int B, double scale)
{
    double num = 0, den = 0;
    for (int b = 0; b < B; b++) {
        double wb = w ? (double)w[b] : 1.0, zb = z[b], yb = y[b];
        double l = (zb > 0 ? zb : 0) - zb * yb + log1p(exp(-fabs(zb)));
        num += wb * l;
        den += wb;
    }
    double k = den > 0 ? scale / den : 0.0;
    if (ex)
        for (int b = 0; b < B; b++) {
            double zb = z[b], yb = y[b];
            double l = (zb > 0 ? zb : 0) - zb * yb + log1p(exp(-fabs(zb)));
            ex[b] = (float)(k * (w ? (double)w[b] : 1.0) * l);
        }
    for (int b = 0; b < B; b++) {
        double zb = z[b], wb = w ? (double)w[b] : 1.0, yb = y[b];
        /* sigmoid(z) - y; for y = 1 as -sigmoid(-z), so tiny values are not cancelled */
        double e = exp(-fabs(zb));
        double sig = zb >= 0 ? 1.0 / (1.0 + e) : e / (1.0 + e);
        double sig_neg = zb >= 0 ? e / (1.0 + e) : 1.0 / (1.0 + e); /* sigmoid(-z) */
        double g = yb == 1.0 ? -sig_neg : yb == 0.0 ? sig : sig - yb;
        dz[b] = (float)(k * wb * g);
    }
    return den > 0 ? num / den : 0.0;
}

static int bce_create(rill_node *n, rill_err *err)
{
    const rill_schema *sc = n->g->schema;
    const char *label;
    int rc;
    if (n->nin != 1 || n->in[0]->out_kind != RILL_OUT_DENSE || n->in[0]->cols != 1)
        return rill_node_errf(n, RILL_ESHAPE, err,
                              "takes one input of one logit per example (a tower), got %d input%s%s",
                              n->nin, n->nin == 1 ? "" : "s",
                              n->nin == 1 ? " of another width" : "");
    bce_state *st = calloc(1, sizeof *st);
    if (!st)
        return rill_node_errf(n, RILL_ENOMEM, err, "out of memory");
    n->st = st;
    if (!sc || sc->nlabels == 0)
        return rill_node_errf(n, RILL_EINVAL, err, "the data has no label column");
    static const char *const estimators[] = {"ratio", "linear", NULL};
    const char *ipw;
    if ((rc = rill_args_str(&n->args, "label", sc->label_names[0], &label, err)) ||
        (rc = rill_args_num(&n->args, "weight", 1.0, 0.0, 1e6, &st->weight, err)) ||
        (rc = rill_args_num(&n->args, "weight_to", st->weight, 0.0, 1e6, &st->weight_to, err)) ||
        (rc = rill_args_bool(&n->args, "sample_weight", sc->has_weight, &st->sample_weight, err)) ||
        (rc = rill_args_num(&n->args, "alpha", 1.0, 0.0, 1.0, &st->alpha, err)) ||
        (rc = rill_args_num(&n->args, "alpha_to", st->alpha, 0.0, 1.0, &st->alpha_to, err)) ||
        (rc = rill_args_int(&n->args, "ramp_start", 0, 0, LONG_MAX, &st->ramp_start, err)) ||
        (rc = rill_args_int(&n->args, "ramp_steps", 0, 0, LONG_MAX, &st->ramp_steps, err)) ||
        (rc = rill_args_str(&n->args, "ipw", NULL, &ipw, err)) ||
        (rc = rill_args_enum(&n->args, "ipw_estimator", estimators, IPW_RATIO, &st->estimator,
                             err)) ||
        (rc = rill_args_num(&n->args, "ipw_clip", 10.0, 1.0, 1e6, &st->clip, err)) ||
        (rc = rill_args_num(&n->args, "ipw_prior", 100.0, 0.0, 1e12, &st->prior, err)) ||
        (rc = rill_args_int(&n->args, "ipw_max_repeats", 5, 1, IPW_MAX_REPEATS, &st->max_repeats,
                            err)))
        return rc;
    n->loss_weight = st->weight;
    bool ramped = st->weight_to != st->weight || st->alpha_to != st->alpha;
    if (ramped && st->ramp_steps == 0)
        return rill_node_errf(n, RILL_EINVAL, err,
                              "weight_to or alpha_to is set but ramp_steps is not: over how many "
                              "steps should the value move?");
    st->ipw_col = -1;
    if (ipw) {
        st->ipw_col = rill_schema_num(sc, ipw);
        if (st->ipw_col < 0)
            return rill_node_errf(n, RILL_EINVAL, err,
                                  "ipw = '%s': the %s data has no numeric column of that name "
                                  "(the repeat count must be a numeric column)",
                                  ipw, sc->name);
    } else if (rill_args_has(&n->args, "ipw_estimator") || rill_args_has(&n->args, "ipw_clip") ||
               rill_args_has(&n->args, "ipw_prior") || rill_args_has(&n->args, "ipw_max_repeats")) {
        return rill_node_errf(n, RILL_EINVAL, err,
                              "ipw_* settings need ipw = the repeat-count column");
    }
    n->label = rill_schema_label(sc, label);
    if (n->label < 0) {
        char known[256] = "";
        size_t len = 0;
        for (int i = 0; i < sc->nlabels; i++)
            len += (size_t)snprintf(known + len, len < sizeof known ? sizeof known - len : 0,
                                    "%s%s", i ? ", " : "", sc->label_names[i]);
        return rill_node_errf(n, RILL_EINVAL, err, "no label column '%s' in the %s data (labels: %s)",
                              label, sc->name, known);
    }
    if (st->sample_weight && !sc->has_weight)
        return rill_node_errf(n, RILL_EINVAL, err,
                              "sample_weight = true but the %s data has no weight column", sc->name);
    n->out_kind = RILL_OUT_LOSS;
    return RILL_OK;
}

/* A scheduled value at 1-based step t: from at ramp_start to to at ramp_start + ramp_steps. */
static double ramp(const bce_state *st, double from, double to, uint64_t t)
{
    if (st->ramp_steps == 0 || from == to)
        return from;
    double k = ((double)t - (double)st->ramp_start) / (double)st->ramp_steps;
    return from + (to - from) * fmin(1.0, fmax(0.0, k));
}

static int repeat_count(const bce_state *st, float v)
{
    if (!(v > 0)) /* empty (NaN) or 0: a first exposure */
        return 0;
    return v >= (float)st->max_repeats ? (int)st->max_repeats : (int)v;
}

/* k's positive rate relative to a first exposure's, r_k / r_0, with r_k shrunk towards r_0 by
 * the prior's pseudo-examples (1 when k was never seen and there is no prior) */
static double rate_ratio(const bce_state *st, int k, double r0)
{
    double n = st->seen[k] + st->prior;
    return n > 0 ? (st->pos[k] + st->prior * r0) / n / r0 : 1.0;
}

/* The estimated propensity of a positive at repeat count k >= 1 relative to a first
 * exposure, clipped (see the top of the file). */
static double propensity(const bce_state *st, int k)
{
    /* r_0 with one pseudo-positive in two pseudo-examples, so it is never 0 */
    double r0 = (st->pos[0] + 1.0) / (st->seen[0] + 2.0), p;
    if (st->estimator == IPW_RATIO) {
        p = rate_ratio(st, k, r0);
    } else {
        double num = 0, den = 0;
        for (int j = 1; j <= st->max_repeats; j++) {
            num += st->seen[j] * j * (rate_ratio(st, j, r0) - 1.0);
            den += st->seen[j] * j * j;
        }
        p = 1.0 + (den > 0 ? num / den : 0.0) * k;
    }
    return fmin(st->clip, fmax(1.0 / st->clip, p));
}

static int bce_forward(rill_node *n, rill_step *s, rill_err *err)
{
    bce_state *st = n->st;
    const rill_batch *b = s->batch;
    int nl = b->schema->nlabels;
    size_t fb = (size_t)s->B * sizeof(float);
    st->y = rill_node_alloc(n, s, fb, false, err);
    st->dz = rill_node_alloc(n, s, fb, false, err);
    n->example_loss = rill_node_alloc(n, s, fb, false, err);
    if (!st->y || !st->dz || !n->example_loss)
        return err->code;
    for (int i = 0; i < s->B; i++)
        st->y[i] = b->labels[(size_t)i * nl + n->label];
    const float *w = st->sample_weight ? b->weights : NULL;
    if (st->ipw_col >= 0) {
        double p[IPW_MAX_REPEATS + 1];
        for (int k = 1; k <= st->max_repeats; k++)
            p[k] = propensity(st, k);
        if (!(st->w = rill_node_alloc(n, s, fb, false, err)))
            return err->code;
        int nn = b->schema->nnum;
        for (int i = 0; i < s->B; i++) {
            int k = repeat_count(st, b->num[(size_t)i * nn + st->ipw_col]);
            float wi = w ? w[i] : 1.0f;
            st->w[i] = k > 0 && st->y[i] > 0.5f ? (float)((double)wi / p[k]) : wi;
        }
        w = st->w;
    }
    double a = ramp(st, st->alpha, st->alpha_to, s->t);
    n->loss_weight = ramp(st, st->weight, st->weight_to, s->t);
    n->loss = n->loss_weight * a *
              bce_forward_backward(st->dz, n->example_loss, n->in[0]->out, st->y, w, s->B,
                                   n->loss_weight * a);
    /* the pair loss has no per-example share and evaluation reads only the logits: training
     * alone needs it */
    if (a < 1.0 && s->training) {
        void *work = rill_node_alloc(n, s, pair_work_bytes(s->B), false, err);
        if (!work)
            return err->code;
        n->loss += n->loss_weight * (1.0 - a) *
                   pair_forward_backward(st->dz, n->in[0]->out, st->y, s->B,
                                         n->loss_weight * (1.0 - a), work);
    }
    return RILL_OK;
}

/* Counts the step's examples and positives per repeat count for the next steps' estimate. */
static int bce_after_step(rill_node *n, rill_step *s, rill_err *err)
{
    bce_state *st = n->st;
    const rill_batch *b = s->batch;
    (void)err;
    if (st->ipw_col < 0)
        return RILL_OK;
    int nl = b->schema->nlabels, nn = b->schema->nnum;
    for (int i = 0; i < s->B; i++) {
        int k = repeat_count(st, b->num[(size_t)i * nn + st->ipw_col]);
        st->seen[k] += 1.0;
        st->pos[k] += b->labels[(size_t)i * nl + n->label] > 0.5f;
    }
    return RILL_OK;
}

/* The repeat counts, field by field (blob.h): ipw_max_repeats, then pos and seen, each
 * max_repeats + 1 doubles. */
enum { IPW_MAX = 1, IPW_POS, IPW_SEEN };

static int bce_save(rill_node *n, void **buf, size_t *len, rill_err *err)
{
    bce_state *st = n->st;
    *buf = NULL;
    *len = 0;
    if (st->ipw_col < 0)
        return RILL_OK; /* no counts to keep */
    size_t counts = (size_t)(st->max_repeats + 1) * sizeof(double);
    rill_blob b;
    rill_blob_init(&b, IPW_BLOB_MAGIC, IPW_BLOB_VERSION);
    rill_blob_put_i64(&b, IPW_MAX, st->max_repeats);
    rill_blob_put(&b, IPW_POS, st->pos, counts);
    rill_blob_put(&b, IPW_SEEN, st->seen, counts);
    return rill_blob_finish(&b, buf, len, "the loss's repeat counts", err)
               ? rill_err_prefix(err, "node '%s' (%s) at %s: ", n->name, n->ops->name, n->where)
               : RILL_OK;
}

/* The legacy reader: the raw form before blobs, IPW_STATE_MAGIC then pos and seen. */
static int bce_load_legacy(rill_node *n, const void *buf, size_t len, rill_err *err)
{
    bce_state *st = n->st;
    size_t counts = (size_t)(st->max_repeats + 1) * sizeof(double);
    if (len != sizeof IPW_STATE_MAGIC + 2 * counts)
        return rill_node_errf(n, RILL_ESTORE, err,
                              "the checkpoint's repeat counts do not fit this loss (%zu bytes, "
                              "expected %zu: was ipw_max_repeats changed?)",
                              len, sizeof IPW_STATE_MAGIC + 2 * counts);
    memcpy(st->pos, (const unsigned char *)buf + sizeof IPW_STATE_MAGIC, counts);
    memcpy(st->seen, (const unsigned char *)buf + sizeof IPW_STATE_MAGIC + counts, counts);
    return RILL_OK;
}

static int bce_load(rill_node *n, const void *buf, size_t len, rill_err *err)
{
    bce_state *st = n->st;
    if (len == 0 && st->ipw_col < 0)
        return RILL_OK;
    uint32_t magic = 0;
    if (len >= sizeof magic)
        memcpy(&magic, buf, sizeof magic);
    if (magic == IPW_STATE_MAGIC)
        return bce_load_legacy(n, buf, len, err);
    rill_blob_reader r;
    int64_t stored = 0;
    const void *pos, *seen;
    size_t npos, nseen, want = (size_t)st->max_repeats + 1;
    int rc = rill_blob_open(&r, buf, len, IPW_BLOB_MAGIC, IPW_BLOB_VERSION,
                            "the loss's repeat counts", err);
    if (!rc && !(rc = rill_blob_get_i64(&r, IPW_MAX, &stored, -1, err)) &&
        !(rc = rill_blob_get_array(&r, IPW_POS, sizeof(double), &pos, &npos, err)))
        rc = rill_blob_get_array(&r, IPW_SEEN, sizeof(double), &seen, &nseen, err);
    if (rc)
        return rill_err_prefix(err, "node '%s' (%s) at %s: ", n->name, n->ops->name, n->where);
    if (stored != st->max_repeats || npos != want || nseen != want)
        return rill_node_errf(n, RILL_ESTORE, err,
                              "the checkpoint's repeat counts do not fit this loss (kept for "
                              "ipw_max_repeats = %lld, %zu and %zu counts; this loss has %ld: was "
                              "ipw_max_repeats changed?)",
                              (long long)stored, npos, nseen, st->max_repeats);
    memcpy(st->pos, pos, want * sizeof(double));
    memcpy(st->seen, seen, want * sizeof(double));
    return RILL_OK;
}

static int bce_backward(rill_node *n, rill_step *s, rill_err *err)
{
    bce_state *st = n->st;
    (void)err;
    float *d = n->in[0]->dout;
    if (d)
        for (int i = 0; i < s->B; i++)
            d[i] += st->dz[i];
    return RILL_OK;
}

static void bce_destroy(rill_node *n)
{
    free(n->st);
}

const rill_node_ops rill_node_loss_bce = {.name = "loss_bce",
    .args = (const char *const[]){"alpha", "alpha_to", "ipw", "ipw_clip", "ipw_estimator", "ipw_max_repeats", "ipw_prior", "label", "ramp_start", "ramp_steps", "sample_weight", "weight", "weight_to", NULL},
                                          .create = bce_create,
                                          .forward = bce_forward,
                                          .backward = bce_backward,
                                          .destroy = bce_destroy,
                                          .after_step = bce_after_step,
                                          .save = bce_save,
                                          .load = bce_load};
