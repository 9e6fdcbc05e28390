/* loss_bce: binary cross-entropy with logits, the weighted mean over the batch,
 * sum_b w_b bce(z_b, y_b) / sum_b w_b with bce(z, y) = max(z,0) - z y + log(1 + exp(-|z|)),
 * which never takes the log of a rounded-off sigmoid. Arguments: label (the schema's label
 * column, default the first), weight (this loss's weight in the total, default 1),
 * sample_weight (use the schema's per-sample weight column; default true when it has one),
 * alpha (default 1): the loss is alpha * BCE + (1 - alpha) * L_pair, with L_pair the
 * combined-pair ranking loss (Lin et al., "Understanding the Ranking Loss for Recommendation
 * with Sparse User Feedback", KDD 2024; pair_forward_backward in kernels.h), unweighted by
 * sample weights. */
#include <math.h>
#include <stdlib.h>

#include "graph.h"
#include "kernels.h"
#include "nodes.h"

typedef struct {
    bool sample_weight;
    double alpha;
    float *dz, *y;
} bce_state;

double pair_forward_backward(float *dz, const float *z, const float *y, int B, double scale)
{
    double np = 0, nn = 0;
    for (int b = 0; b < B; b++) {
        np += y[b] > 0.5f;
        nn += !(y[b] > 0.5f);
    }
    if (np == 0 || nn == 0)
        return 0.0;
    double k = 1.0 / (np * nn), sum = 0;
    for (int i = 0; i < B; i++) {
        if (!(y[i] > 0.5f))
            continue;
        double gi = 0;
        for (int j = 0; j < B; j++) {
            if (y[j] > 0.5f)
                continue;
            double d = (double)z[i] - (double)z[j];
            /* -log sigmoid(d) = softplus(-d); its derivative in d is -sigmoid(-d) */
            double e = exp(-fabs(d));
            sum += (d < 0 ? -d : 0) + log1p(e);
            double s_neg = d >= 0 ? e / (1.0 + e) : 1.0 / (1.0 + e);
            gi -= s_neg;
            dz[j] += (float)(scale * k * s_neg);
        }
        dz[i] += (float)(scale * k * gi);
    }
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
    if ((rc = rill_args_str(&n->args, "label", sc->label_names[0], &label, err)) ||
        (rc = rill_args_num(&n->args, "weight", 1.0, 0.0, 1e6, &n->loss_weight, err)) ||
        (rc = rill_args_bool(&n->args, "sample_weight", sc->has_weight, &st->sample_weight, err)) ||
        (rc = rill_args_num(&n->args, "alpha", 1.0, 0.0, 1.0, &st->alpha, err)))
        return rc;
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

static int bce_forward(rill_node *n, rill_step *s, rill_err *err)
{
    bce_state *st = n->st;
    const rill_batch *b = s->batch;
    int nl = b->schema->nlabels;
    st->y = rill_node_alloc(n, s, (size_t)s->B * sizeof(float), false, err);
    st->dz = rill_node_alloc(n, s, (size_t)s->B * sizeof(float), false, err);
    n->example_loss = rill_node_alloc(n, s, (size_t)s->B * sizeof(float), false, err);
    if (!st->y || !st->dz || !n->example_loss)
        return err->code;
    for (int i = 0; i < s->B; i++)
        st->y[i] = b->labels[(size_t)i * nl + n->label];
    double a = st->alpha;
    n->loss = n->loss_weight * a *
              bce_forward_backward(st->dz, n->example_loss, n->in[0]->out, st->y,
                                   st->sample_weight ? b->weights : NULL, s->B, n->loss_weight * a);
    if (a < 1.0)
        n->loss += n->loss_weight * (1.0 - a) *
                   pair_forward_backward(st->dz, n->in[0]->out, st->y, s->B,
                                         n->loss_weight * (1.0 - a));
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
                                          .create = bce_create,
                                          .forward = bce_forward,
                                          .backward = bce_backward,
                                          .destroy = bce_destroy};
