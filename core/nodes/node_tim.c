/* tim: the Temporal Interest Module (Zhou et al., "Temporal Interest Network for User
 * Response Prediction", WWW 2024) over an embed_seq output (target v, behaviours E, mask M).
 * Each behaviour and the target get a target-aware temporal encoding added, an embedding of
 * the behaviour's position relative to the target (the newest behaviour is 1, the target
 * itself 0), P being (L + 1) x D:
 *   e~_j = E[j] + P[L - j]  (slot j, 0 = oldest),  v~ = v + P[0],
 *   alpha = softmax over real j of <e~_j, v~> / sqrt(D),
 *   out = sum_j alpha_j (e~_j * v~)                 (element-wise: target-aware representation)
 * as in ../shared/testvectors/tim.txt. A row without behaviours gives zeros. Output (B, D).
 * Inputs: one embed_seq node, or a dense (B, 1 + L, D) node (the target in slot 0) and a
 * dense (B, L) mask (above 0.5: a real behaviour), which no gradient reaches.
 * Arguments: init (P uniform(+-init), default 0.05), with_target (default false: true appends
 * the target's own embedding v, so the output is (B, 2D) and a model needs no second table
 * for the target). We use relative positions (the test
 * vectors' form); the paper's bucketed time gaps would need per-behaviour times. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "graph.h"
#include "nodes.h"
#include "pool.h"
#include "seq.h"

typedef struct {
    int L, D;
    bool with_target;
    rill_param *P;
    float *alpha; /* this step: B x L */
} tim_state;

static int tim_create(rill_node *n, rill_err *err)
{
    tim_state *st = calloc(1, sizeof *st);
    if (!st)
        return rill_node_errf(n, RILL_ENOMEM, err, "out of memory");
    n->st = st;
    double init;
    int rc, L = 0;
    if ((rc = rill_args_num(&n->args, "init", 0.05, 0.0, 100.0, &init, err)) ||
        (rc = rill_args_bool(&n->args, "with_target", false, &st->with_target, err)))
        return rc;
    if ((rc = rill_seq_input(n, &L, err)))
        return rc;
    st->L = L;
    st->D = n->in[0]->dims[1];
    if (!(st->P = rill_graph_param(n->g, n, "P", L + 1, st->D, RILL_INIT_UNIFORM, init, err)))
        return err->code;
    n->out_kind = RILL_OUT_DENSE;
    n->nd = 1;
    n->dims[0] = st->with_target ? 2 * st->D : st->D;
    return RILL_OK;
}

typedef struct {
    const rill_node *n;
    const float *mask;
} tim_job;

static void forward_part(void *ctx, size_t b0, size_t b1, int worker)
{
    const tim_job *j = ctx;
    const rill_node *n = j->n;
    const tim_state *st = n->st;
    int L = st->L, D = st->D;
    const float *P = st->P->data;
    double scale = 1.0 / sqrt((double)D);
    (void)worker;
    for (size_t b = b0; b < b1; b++) {
        const float *x = n->in[0]->out + b * (size_t)(L + 1) * D, *m = j->mask + b * (size_t)L;
        int W = st->with_target ? 2 * D : D;
        float *out = n->out + b * (size_t)W, *alpha = st->alpha + b * (size_t)L;
        if (st->with_target)
            memcpy(out + D, x, (size_t)D * sizeof *out);
        double mx = -INFINITY;
        for (int k = 0; k < L; k++) {
            alpha[k] = 0;
            if (!(m[k] > 0.5f))
                continue;
            double dot = 0;
            for (int d = 0; d < D; d++)
                dot += ((double)x[(1 + k) * D + d] + (double)P[(L - k) * D + d]) *
                       ((double)x[d] + (double)P[d]);
            alpha[k] = (float)(dot * scale);
            if ((double)alpha[k] > mx)
                mx = (double)alpha[k];
        }
        double sum = 0;
        for (int k = 0; k < L; k++)
            if (m[k] > 0.5f)
                sum += exp((double)alpha[k] - mx);
        memset(out, 0, (size_t)D * sizeof *out);
        for (int k = 0; k < L; k++) {
            if (!(m[k] > 0.5f))
                continue;
            alpha[k] = (float)(exp((double)alpha[k] - mx) / sum);
            for (int d = 0; d < D; d++)
                out[d] += (float)((double)alpha[k] *
                                  ((double)x[(1 + k) * D + d] + (double)P[(L - k) * D + d]) *
                                  ((double)x[d] + (double)P[d]));
        }
    }
}


static int tim_forward(rill_node *n, rill_step *s, rill_err *err)
{
    tim_state *st = n->st;
    const float *mask = rill_seq_mask_of(n);
    st->alpha = rill_node_alloc(n, s, (size_t)s->B * st->L * sizeof(float), false, err);
    if (!st->alpha)
        return err->code;
    tim_job j = {n, mask};
    rill_parallel_for((size_t)s->B, 16, forward_part, &j);
    return RILL_OK;
}

/* Per row: the input gradient is the row's own; dP is summed over rows in order afterwards
 * (per-row parts in a buffer) so the result does not depend on the thread count. */
typedef struct {
    const rill_node *n;
    const float *mask;
    float *dP_rows; /* B x (L + 1) x D */
    double *scratch; /* B x (3D + L): v~, dv~, g * v~ and dalpha per row */
} tim_bjob;

static void backward_part(void *ctx, size_t b0, size_t b1, int worker)
{
    const tim_bjob *j = ctx;
    const rill_node *n = j->n;
    const tim_state *st = n->st;
    int L = st->L, D = st->D;
    const float *P = st->P->data;
    float *dx_all = n->in[0]->dout;
    double scale = 1.0 / sqrt((double)D);
    (void)worker;
    for (size_t b = b0; b < b1; b++) {
        double *vt = j->scratch + b * (size_t)(3 * D + L), *dvt = vt + D, *gv = vt + 2 * D;
        double *dalpha = vt + 3 * D;
        const float *x = n->in[0]->out + b * (size_t)(L + 1) * D, *m = j->mask + b * (size_t)L;
        int W = st->with_target ? 2 * D : D;
        const float *g = n->dout + b * (size_t)W, *alpha = st->alpha + b * (size_t)L;
        float *dP = j->dP_rows + b * (size_t)(L + 1) * D;
        float *dx = dx_all ? dx_all + b * (size_t)(L + 1) * D : NULL;
        memset(dP, 0, (size_t)(L + 1) * D * sizeof *dP);
        for (int d = 0; d < D; d++) {
            vt[d] = (double)x[d] + (double)P[d];
            dvt[d] = 0;
            gv[d] = (double)g[d] * vt[d];
        }
        /* dalpha_k = <g, e~_k * v~> = <e~_k, g * v~>; softmax: ds_k = a_k (dalpha_k - sum) */
        double sum = 0;
        for (int k = 0; k < L; k++) {
            if (!(m[k] > 0.5f))
                continue;
            double da = 0;
            for (int d = 0; d < D; d++)
                da += ((double)x[(1 + k) * D + d] + (double)P[(L - k) * D + d]) * gv[d];
            dalpha[k] = da;
            sum += (double)alpha[k] * da;
        }
        for (int k = 0; k < L; k++) {
            if (!(m[k] > 0.5f))
                continue;
            double ds = (double)alpha[k] * (dalpha[k] - sum) * scale;
            for (int d = 0; d < D; d++) {
                double et = (double)x[(1 + k) * D + d] + (double)P[(L - k) * D + d];
                double de = (double)alpha[k] * gv[d] + ds * vt[d];
                dvt[d] += (double)alpha[k] * (double)g[d] * et + ds * et;
                dP[(L - k) * D + d] += (float)de;
                if (dx)
                    dx[(1 + k) * D + d] += (float)de;
            }
        }
        for (int d = 0; d < D; d++) {
            dP[d] += (float)dvt[d];
            if (dx)
                dx[d] += (float)dvt[d] + (st->with_target ? g[D + d] : 0.0f);
        }
    }
}

static int tim_backward(rill_node *n, rill_step *s, rill_err *err)
{
    tim_state *st = n->st;
    size_t per = (size_t)(st->L + 1) * st->D;
    tim_bjob j = {n, rill_seq_mask_of(n), NULL, NULL};
    j.dP_rows = rill_node_alloc(n, s, (size_t)s->B * per * sizeof(float), false, err);
    j.scratch = rill_node_alloc(n, s, (size_t)s->B * (3 * st->D + st->L) * sizeof(double), false,
                                err);
    if (!j.dP_rows || !j.scratch)
        return err->code;
    rill_parallel_for((size_t)s->B, 16, backward_part, &j);
    for (int b = 0; b < s->B; b++)
        for (size_t i = 0; i < per; i++)
            st->P->grad[i] += j.dP_rows[(size_t)b * per + i];
    return RILL_OK;
}

static int tim_weights(const rill_node *n, int B, float *out)
{
    const tim_state *st = n->st;
    memcpy(out, st->alpha, (size_t)B * st->L * sizeof *out);
    return RILL_OK;
}

static void tim_destroy(rill_node *n)
{
    free(n->st);
}

const rill_node_ops rill_node_tim = {.name = "tim",
    .args = (const char *const[]){"init", "with_target", NULL},
                                     .create = tim_create,
                                     .forward = tim_forward,
                                     .backward = tim_backward,
                                     .destroy = tim_destroy,
                                     .behaviour_weights = tim_weights};
