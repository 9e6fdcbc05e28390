#include "optim.h"

#include <math.h>
#include <string.h>

const char *rill_optim_name(rill_optim_kind k)
{
    switch (k) {
    case RILL_OPT_SGD: return "sgd";
    case RILL_OPT_ADAM: return "adam";
    case RILL_OPT_ADAMW: return "adamw";
    case RILL_OPT_ADAGRAD: return "adagrad";
    case RILL_OPT_ROWWISE_ADAGRAD: return "rowwise_adagrad";
    case RILL_OPT_LAZY_ADAM: return "lazy_adam";
    case RILL_OPT_NONE: return "none";
    }
    return "?";
}

int rill_optim_parse(rill_args *spec, bool sparse, rill_optim *o, rill_err *err)
{
    static const char *const dense_kinds[] = {"sgd", "adam", "adamw", NULL};
    static const char *const sparse_kinds[] = {"sgd", "adagrad", "rowwise_adagrad",
                                               "lazy_adam", NULL};
    static const rill_optim_kind sparse_map[] = {RILL_OPT_SGD, RILL_OPT_ADAGRAD,
                                                 RILL_OPT_ROWWISE_ADAGRAD, RILL_OPT_LAZY_ADAM};
    int k, rc;
    memset(o, 0, sizeof *o);
    if ((rc = rill_args_enum(spec, "kind", sparse ? sparse_kinds : dense_kinds, -1, &k, err)))
        return rc;
    o->kind = sparse ? sparse_map[k] : (rill_optim_kind)k;
    double def_lr = 0.01, def_eps = 1e-8;
    switch (o->kind) {
    case RILL_OPT_SGD: def_lr = sparse ? 0.01 : 0.01; break;
    case RILL_OPT_ADAM:
    case RILL_OPT_ADAMW:
    case RILL_OPT_LAZY_ADAM: def_lr = 1e-3; break;
    case RILL_OPT_ADAGRAD: def_lr = 0.01; def_eps = 1e-10; break;
    case RILL_OPT_ROWWISE_ADAGRAD: def_lr = 0.01; break;
    case RILL_OPT_NONE: break;
    }
    if ((rc = rill_args_num(spec, "lr", def_lr, 0, 1e6, &o->lr, err)) ||
        (rc = rill_args_num(spec, "eps", def_eps, 0, 1, &o->eps, err)))
        return rc;
    if (o->kind == RILL_OPT_ADAM || o->kind == RILL_OPT_ADAMW || o->kind == RILL_OPT_LAZY_ADAM) {
        if ((rc = rill_args_num(spec, "beta1", 0.9, 0, 0.999999, &o->beta1, err)) ||
            (rc = rill_args_num(spec, "beta2", 0.999, 0, 0.99999999, &o->beta2, err)))
            return rc;
    }
    if (o->kind == RILL_OPT_ADAMW &&
        (rc = rill_args_num(spec, "weight_decay", 0.01, 0, 1e3, &o->weight_decay, err)))
        return rc;
    if ((o->kind == RILL_OPT_ADAGRAD || o->kind == RILL_OPT_ROWWISE_ADAGRAD) &&
        (rc = rill_args_num(spec, "initial_accumulator", 0, 0, 1e6, &o->initial_acc, err)))
        return rc;
    if (sparse && (rc = rill_args_num(spec, "l2", 0, 0, 1e6, &o->l2, err)))
        return rc;
    return rill_args_check_unused(spec, err);
}

int rill_optim_row_state(const rill_optim *o, int dim)
{
    switch (o->kind) {
    case RILL_OPT_ADAGRAD: return dim;
    case RILL_OPT_ROWWISE_ADAGRAD: return 1;
    case RILL_OPT_LAZY_ADAM:
    case RILL_OPT_ADAM:
    case RILL_OPT_ADAMW: return 2 * dim;
    default: return 0;
    }
}

void rill_optim_dense_step(const rill_optim *o, float *w, const float *g, float *m, float *v,
                           size_t n, double lr, uint64_t t)
{
    switch (o->kind) {
    case RILL_OPT_ADAM:
    case RILL_OPT_ADAMW: {
        const float b1 = (float)o->beta1, b2 = (float)o->beta2;
        /* bias corrections folded into a step size and an eps, as torch computes them */
        const double bc1 = 1.0 - pow(o->beta1, (double)t), bc2 = 1.0 - pow(o->beta2, (double)t);
        const float step = (float)(lr / bc1), rbc2 = (float)(1.0 / sqrt(bc2)), eps = (float)o->eps;
        const float decay = o->kind == RILL_OPT_ADAMW ? (float)(1.0 - lr * o->weight_decay) : 1.0f;
        for (size_t i = 0; i < n; i++) {
            float gi = g[i];
            m[i] = b1 * m[i] + (1.0f - b1) * gi;
            v[i] = b2 * v[i] + (1.0f - b2) * gi * gi;
            w[i] = w[i] * decay - step * m[i] / (sqrtf(v[i]) * rbc2 + eps);
        }
        break;
    }
    default: {
        const float s = (float)lr;
        for (size_t i = 0; i < n; i++)
            w[i] -= s * g[i];
        break;
    }
    }
}

void rill_optim_row_step(const rill_optim *o, float *row, const float *g, int dim, double lr,
                         uint64_t t)
{
    float *w = row, *st = row + dim;
    const float l2 = (float)o->l2;
    switch (o->kind) {
    case RILL_OPT_ADAGRAD: {
        const float s = (float)lr, eps = (float)o->eps;
        for (int i = 0; i < dim; i++) {
            float gi = g[i] + l2 * w[i];
            st[i] += gi * gi;
            w[i] -= s * gi / (sqrtf(st[i]) + eps);
        }
        break;
    }
    case RILL_OPT_ROWWISE_ADAGRAD: {
        float sq = 0;
        for (int i = 0; i < dim; i++) {
            float gi = g[i] + l2 * w[i];
            sq += gi * gi;
        }
        st[0] += sq / (float)dim;
        const float s = (float)lr / (sqrtf(st[0]) + (float)o->eps);
        for (int i = 0; i < dim; i++)
            w[i] -= s * (g[i] + l2 * w[i]);
        break;
    }
    case RILL_OPT_NONE:
        break;
    case RILL_OPT_LAZY_ADAM: {
        float *m = st, *v = st + dim;
        const float b1 = (float)o->beta1, b2 = (float)o->beta2, eps = (float)o->eps;
        const float step =
            (float)(lr * sqrt(1.0 - pow(o->beta2, (double)t)) / (1.0 - pow(o->beta1, (double)t)));
        for (int i = 0; i < dim; i++) {
            float gi = g[i] + l2 * w[i];
            m[i] = b1 * m[i] + (1.0f - b1) * gi;
            v[i] = b2 * v[i] + (1.0f - b2) * gi * gi;
            w[i] -= step * m[i] / (sqrtf(v[i]) + eps);
        }
        break;
    }
    default: {
        const float s = (float)lr;
        for (int i = 0; i < dim; i++)
            w[i] -= s * (g[i] + l2 * w[i]);
        break;
    }
    }
}
