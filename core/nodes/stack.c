#include "stack.h"

#include <stdlib.h>
#include <string.h>

#include "kernels.h"
#include "pool.h"
#include "util.h"

int rill_inputs_width(rill_node *n, size_t *cols, rill_err *err)
{
    *cols = 0;
    if (n->nin == 0)
        return rill_node_errf(n, RILL_EINVAL, err, "needs at least one input node");
    for (int i = 0; i < n->nin; i++) {
        if (n->in[i]->out_kind != RILL_OUT_DENSE)
            return rill_node_errf(n, RILL_ESHAPE, err,
                                  "input %d ('%s', %s) gives ids, not vectors: put an embed node "
                                  "between them",
                                  i + 1, n->in[i]->name, n->in[i]->ops->name);
        size_t c = 1;
        for (int d = 0; d < n->in[i]->nd; d++)
            c *= (size_t)n->in[i]->dims[d];
        *cols += c;
    }
    return RILL_OK;
}

int rill_inputs_join(rill_node *n, rill_step *s, float **x, rill_err *err)
{
    if (n->nin == 1) {
        *x = n->in[0]->out;
        return RILL_OK;
    }
    size_t cols = 0;
    for (int i = 0; i < n->nin; i++)
        cols += n->in[i]->cols;
    float *buf = rill_node_alloc(n, s, (size_t)s->B * cols * sizeof(float), false, err);
    if (!buf)
        return err->code;
    size_t off = 0;
    for (int i = 0; i < n->nin; i++) {
        size_t c = n->in[i]->cols;
        for (int b = 0; b < s->B; b++)
            memcpy(buf + (size_t)b * cols + off, n->in[i]->out + (size_t)b * c, c * sizeof(float));
        off += c;
    }
    *x = buf;
    return RILL_OK;
}

float *rill_inputs_grad_buffer(rill_node *n, rill_step *s, rill_err *err, int *rc)
{
    *rc = RILL_OK;
    bool any = false;
    size_t cols = 0;
    for (int i = 0; i < n->nin; i++) {
        any |= n->in[i]->dout != NULL;
        cols += n->in[i]->cols;
    }
    if (!any)
        return NULL;
    if (n->nin == 1)
        return n->in[0]->dout;
    float *buf = rill_node_alloc(n, s, (size_t)s->B * cols * sizeof(float), true, err);
    if (!buf)
        *rc = err->code;
    return buf;
}

void rill_inputs_split_grad(rill_node *n, rill_step *s, const float *dx)
{
    if (n->nin == 1 || !dx)
        return; /* a single input's gradient was written in place */
    size_t cols = 0, off = 0;
    for (int i = 0; i < n->nin; i++)
        cols += n->in[i]->cols;
    for (int i = 0; i < n->nin; i++) {
        size_t c = n->in[i]->cols;
        float *d = n->in[i]->dout;
        if (d)
            for (int b = 0; b < s->B; b++) {
                const float *src = dx + (size_t)b * cols + off;
                float *dst = d + (size_t)b * c;
                for (size_t k = 0; k < c; k++)
                    dst[k] += src[k];
            }
        off += c;
    }
}

int rill_stack_args(rill_node *n, int *norm, double *dropout, rill_err *err)
{
    static const char *const norms[] = {"none", "batch", "layer", NULL};
    int rc;
    if ((rc = rill_args_enum(&n->args, "norm", norms, RILL_NORM_NONE, norm, err)) ||
        (rc = rill_args_num(&n->args, "dropout", 0.0, 0.0, 0.95, dropout, err)))
        return rc;
    return RILL_OK;
}

int rill_stack_create(rill_node *n, rill_stack *m, int in_cols, const long *sizes, int nsizes,
                      int norm, double dropout, bool last_act, rill_err *err)
{
    memset(m, 0, sizeof *m);
    if (nsizes > 16)
        return rill_node_errf(n, RILL_EINVAL, err, "at most 16 layers, got %d", nsizes);
    m->nlayers = nsizes;
    m->norm = norm;
    m->dropout = (float)dropout;
    m->last_act = last_act;
    m->sizes[0] = in_cols;
    for (int i = 0; i < nsizes; i++) {
        char name[24];
        int in = m->sizes[i], out = (int)sizes[i];
        m->sizes[i + 1] = out;
        snprintf(name, sizeof name, "W%d", i + 1);
        if (!(m->W[i] = rill_graph_param(n->g, n, name, out, in, RILL_INIT_XAVIER, 1.0, err)))
            return err->code;
        snprintf(name, sizeof name, "b%d", i + 1);
        if (!(m->b[i] = rill_graph_param(n->g, n, name, 1, out, RILL_INIT_ZERO, 0, err)))
            return err->code;
        bool act = i < nsizes - 1 || last_act;
        if (act && norm != RILL_NORM_NONE) {
            snprintf(name, sizeof name, "gamma%d", i + 1);
            if (!(m->gamma[i] = rill_graph_param(n->g, n, name, 1, out, RILL_INIT_ONE, 0, err)))
                return err->code;
            snprintf(name, sizeof name, "beta%d", i + 1);
            if (!(m->beta[i] = rill_graph_param(n->g, n, name, 1, out, RILL_INIT_ZERO, 0, err)))
                return err->code;
            if (norm == RILL_NORM_BATCH) {
                snprintf(name, sizeof name, "mean%d", i + 1);
                if (!(m->run_mean[i] =
                          rill_graph_param(n->g, n, name, 1, out, RILL_INIT_ZERO, 0, err)))
                    return err->code;
                snprintf(name, sizeof name, "var%d", i + 1);
                if (!(m->run_var[i] =
                          rill_graph_param(n->g, n, name, 1, out, RILL_INIT_ONE, 0, err)))
                    return err->code;
                m->run_mean[i]->trainable = m->run_var[i]->trainable = false;
            }
        }
    }
    return RILL_OK;
}

/* Dropout keeps a value with probability 1 - p and scales it by 1 / (1 - p); the mask comes
 * from (seed, step, node, layer, element), so a run is reproducible. */
typedef struct {
    float *y;
    uint8_t *mask;
    size_t cols;
    float p, scale;
    uint64_t key;
} drop_job;

static void drop_part(void *ctx, size_t r0, size_t r1, int worker)
{
    const drop_job *j = ctx;
    (void)worker;
    for (size_t r = r0; r < r1; r++)
        for (size_t c = 0; c < j->cols; c++) {
            size_t i = r * j->cols + c;
            bool keep = rill_hash_unit(j->key, i, 0) >= (double)j->p;
            j->mask[i] = keep;
            j->y[i] = keep ? j->y[i] * j->scale : 0.0f;
        }
}

/* Which of a layer's products run in bf16 (rill_gemm_is_bf16): the forward one, the weight
 * gradient's, the input gradient's. */
static bool fwd_bf16(const rill_step *s, int In, int Out)
{
    return rill_gemm_is_bf16(s->precision, s->B, Out, In);
}

static bool dw_bf16(const rill_step *s, int In, int Out)
{
    return s->training && rill_gemm_is_bf16(s->precision, Out, In, s->B);
}

static bool dx_bf16(const rill_step *s, int In, int Out)
{
    return s->training && rill_gemm_is_bf16(s->precision, s->B, In, Out);
}

static uint16_t *alloc16(rill_node *n, rill_step *s, size_t count, rill_err *err)
{
    return rill_node_alloc(n, s, count * sizeof(uint16_t), false, err);
}

int rill_stack_forward(rill_node *n, rill_stack *m, rill_step *s, const float *x, float *out,
                       rill_err *err)
{
    const float *in = x;
    /* the input rounded once for the products that read it (forward and weight gradient) */
    m->x16 = NULL;
    if (fwd_bf16(s, m->sizes[0], m->sizes[1]) || dw_bf16(s, m->sizes[0], m->sizes[1])) {
        if (!(m->x16 = alloc16(n, s, (size_t)s->B * m->sizes[0], err)))
            return err->code;
        rill_bf16_round_rows(m->x16, x, s->B, m->sizes[0], m->sizes[0]);
    }
    const uint16_t *in16 = m->x16;
    for (int i = 0; i < m->nlayers; i++) {
        int In = m->sizes[i], Out = m->sizes[i + 1];
        bool act = i < m->nlayers - 1 || m->last_act;
        bool last = i == m->nlayers - 1;
        size_t bytes = (size_t)s->B * Out * sizeof(float);
        float *y = last ? out : rill_node_alloc(n, s, bytes, false, err);
        if (!y)
            return err->code;
        m->act[i] = y;
        m->pre[i] = NULL;
        /* the weights rounded once a step, for the forward and input-gradient products; the
         * output for the next layer's */
        m->W16[i] = m->act16[i] = NULL;
        if ((fwd_bf16(s, In, Out) || dx_bf16(s, In, Out)) &&
            !(m->W16[i] = alloc16(n, s, (size_t)In * Out, err)))
            return err->code;
        if (m->W16[i])
            rill_bf16_round_rows(m->W16[i], m->W[i]->data, Out, In, In);
        if (!last && (fwd_bf16(s, Out, m->sizes[i + 2]) || dw_bf16(s, Out, m->sizes[i + 2])) &&
            !(m->act16[i] = alloc16(n, s, (size_t)s->B * Out, err)))
            return err->code;
        /* a norm or dropout changes y after the bias epilogue: its copy is made after them */
        bool later = act && (m->norm != RILL_NORM_NONE || (m->dropout > 0.0f && s->training));
        linear_bf16 h = {in16, m->W16[i], later ? NULL : m->act16[i], NULL};
        if (!act || m->norm == RILL_NORM_NONE) {
            int rc = linear_forward(s->precision, y, in, m->W[i]->data, m->b[i]->data, s->B, In,
                                    Out, act, &h, err);
            if (rc)
                return rc;
        } else {
            float *pre = rill_node_alloc(n, s, bytes, false, err);
            float *xhat = rill_node_alloc(n, s, bytes, false, err);
            float *rstd = rill_node_alloc(n, s, (size_t)(s->B > Out ? s->B : Out) * sizeof(float),
                                          false, err);
            if (!pre || !xhat || !rstd)
                return err->code;
            int rc = linear_forward(s->precision, pre, in, m->W[i]->data, m->b[i]->data, s->B,
                                    In, Out, false, &h, err);
            if (rc)
                return rc;
            if (m->norm == RILL_NORM_LAYER)
                layernorm_forward(y, xhat, rstd, pre, m->gamma[i]->data, m->beta[i]->data, s->B,
                                  Out, 1e-5f);
            else
                batchnorm_forward(y, xhat, rstd, pre, m->gamma[i]->data, m->beta[i]->data,
                                  m->run_mean[i]->data, m->run_var[i]->data, s->B, Out, 1e-5f,
                                  0.1f, s->training);
            for (size_t k = 0; k < (size_t)s->B * Out; k++)
                y[k] = y[k] > 0.0f ? y[k] : 0.0f;
            m->pre[i] = pre;
            m->xhat[i] = xhat;
            m->rstd[i] = rstd;
        }
        m->mask[i] = NULL;
        if (act && m->dropout > 0.0f && s->training) {
            uint8_t *mask = rill_node_alloc(n, s, (size_t)s->B * Out, false, err);
            if (!mask)
                return err->code;
            drop_job j = {y, mask, (size_t)Out, m->dropout, 1.0f / (1.0f - m->dropout),
                          rill_hash64(rill_hash64(s->t, s->seed), (uint64_t)n->index * 64 + i)};
            rill_parallel_for((size_t)s->B, 64, drop_part, &j);
            m->mask[i] = mask;
        }
        if (later && m->act16[i])
            rill_bf16_round_rows(m->act16[i], y, s->B, Out, Out);
        in = y;
        in16 = m->act16[i];
    }
    return RILL_OK;
}

int rill_stack_backward(rill_node *n, rill_stack *m, rill_step *s, const float *x,
                        const float *out, const float *dout, float *dx, rill_err *err)
{
    (void)out;
    int maxw = 0;
    for (int i = 1; i <= m->nlayers; i++)
        maxw = m->sizes[i] > maxw ? m->sizes[i] : maxw;
    size_t bytes = (size_t)s->B * maxw * sizeof(float);
    float *g = rill_node_alloc(n, s, bytes, false, err);   /* gradient at a layer's output */
    float *g2 = rill_node_alloc(n, s, bytes, false, err);  /* ... at its input */
    uint16_t *g16 = NULL; /* the masked gradient's bf16 copy, for the products that want it */
    if (!g || !g2)
        return err->code;
    memcpy(g, dout, (size_t)s->B * m->sizes[m->nlayers] * sizeof(float));
    for (int i = m->nlayers - 1; i >= 0; i--) {
        int In = m->sizes[i], Out = m->sizes[i + 1];
        bool act = i < m->nlayers - 1 || m->last_act;
        const float *xin = i == 0 ? x : m->act[i - 1];
        size_t nout = (size_t)s->B * Out;
        if (m->mask[i]) {
            float scale = 1.0f / (1.0f - m->dropout);
            for (size_t k = 0; k < nout; k++)
                g[k] = m->mask[i][k] ? g[k] * scale : 0.0f;
        }
        float *din = i == 0 ? dx : g2;
        bool want16 = dw_bf16(s, In, Out) || (din && dx_bf16(s, In, Out));
        if (want16 && !g16 && !(g16 = alloc16(n, s, (size_t)s->B * maxw, err)))
            return err->code;
        linear_bf16 h = {i == 0 ? m->x16 : m->act16[i - 1], m->W16[i], NULL,
                         want16 ? g16 : NULL};
        if (m->pre[i]) {
            /* ReLU after the norm: mask by the output, then back through the norm */
            /* y > 0 exactly where the ReLU passed and dropout kept the value */
            const float *y = m->act[i];
            for (size_t k = 0; k < nout; k++)
                if (!(y[k] > 0.0f))
                    g[k] = 0.0f;
            float *dpre = rill_node_alloc(n, s, nout * sizeof(float), true, err);
            if (!dpre)
                return err->code;
            if (m->norm == RILL_NORM_LAYER)
                layernorm_backward(dpre, m->gamma[i]->grad, m->beta[i]->grad, g, m->xhat[i],
                                   m->rstd[i], m->gamma[i]->data, s->B, Out);
            else
                batchnorm_backward(dpre, m->gamma[i]->grad, m->beta[i]->grad, g, m->xhat[i],
                                   m->rstd[i], m->gamma[i]->data, s->B, Out);
            int rc = linear_backward(s->precision, din, m->W[i]->grad, m->b[i]->grad, dpre,
                                     dpre, NULL, xin, m->W[i]->data, s->B, In, Out, false, i > 0,
                                     &h, err);
            if (rc)
                return rc;
        } else {
            int rc = linear_backward(s->precision, din, m->W[i]->grad, m->b[i]->grad, g, g,
                                     m->act[i], xin, m->W[i]->data, s->B, In, Out, act, i > 0,
                                     &h, err);
            if (rc)
                return rc;
        }
        float *t = g;
        g = g2;
        g2 = t;
    }
    return RILL_OK;
}

int rill_stack_node_forward(rill_node *n, rill_step *s, rill_err *err)
{
    rill_stack_node *st = n->st;
    int rc = rill_inputs_join(n, s, &st->x, err);
    return rc ? rc : rill_stack_forward(n, &st->m, s, st->x, n->out, err);
}

int rill_stack_node_backward(rill_node *n, rill_step *s, rill_err *err)
{
    rill_stack_node *st = n->st;
    int rc;
    float *dx = rill_inputs_grad_buffer(n, s, err, &rc);
    if (rc || (rc = rill_stack_backward(n, &st->m, s, st->x, n->out, n->dout, dx, err)))
        return rc;
    rill_inputs_split_grad(n, s, dx);
    return RILL_OK;
}

void rill_stack_node_destroy(rill_node *n)
{
    free(n->st);
}
