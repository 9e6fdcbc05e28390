/* relu: max(0, x) element-wise, any dense input. A multi-embedding model puts one after each
 * set's parameter-free interaction (dot, FM), the non-linearity that keeps the sets from
 * adding up to one larger embedding. */
#include <string.h>

#include "graph.h"
#include "nodes.h"

static int relu_create(rill_node *n, rill_err *err)
{
    if (n->nin != 1 || n->in[0]->out_kind != RILL_OUT_DENSE)
        return rill_node_errf(n, RILL_ESHAPE, err, "takes one dense input");
    n->out_kind = RILL_OUT_DENSE;
    n->nd = n->in[0]->nd;
    memcpy(n->dims, n->in[0]->dims, sizeof n->dims);
    return RILL_OK;
}

static int relu_forward(rill_node *n, rill_step *s, rill_err *err)
{
    (void)err;
    size_t total = (size_t)s->B * n->cols;
    const float *x = n->in[0]->out;
    for (size_t k = 0; k < total; k++)
        n->out[k] = x[k] > 0.0f ? x[k] : 0.0f;
    return RILL_OK;
}

static int relu_backward(rill_node *n, rill_step *s, rill_err *err)
{
    (void)err;
    float *d = n->in[0]->dout;
    if (!d)
        return RILL_OK;
    size_t total = (size_t)s->B * n->cols;
    for (size_t k = 0; k < total; k++)
        if (n->out[k] > 0.0f)
            d[k] += n->dout[k];
    return RILL_OK;
}

const rill_node_ops rill_node_relu = {.name = "relu",
    .args = (const char *const[]){NULL},
                                      .create = relu_create,
                                      .forward = relu_forward,
                                      .backward = relu_backward,
                                      .destroy = NULL};
