/* add: element-wise sum of inputs of the same width, times scale (argument, default 1): DeepFM
 * adds its FM and deep logits; a multi-embedding model averages its sets' interactions with
 * scale = 1 / sets. */
#include <stdlib.h>
#include <string.h>

#include "graph.h"
#include "nodes.h"

typedef struct {
    float scale;
} add_state;

static int add_create(rill_node *n, rill_err *err)
{
    double scale;
    int rc = rill_args_num(&n->args, "scale", 1.0, -1e6, 1e6, &scale, err);
    if (rc)
        return rc;
    add_state *st = calloc(1, sizeof *st);
    if (!st)
        return rill_node_errf(n, RILL_ENOMEM, err, "out of memory");
    st->scale = (float)scale;
    n->st = st;
    if (n->nin < 1)
        return rill_node_errf(n, RILL_EINVAL, err, "needs at least one input node");
    for (int i = 0; i < n->nin; i++) {
        rill_node *in = n->in[i];
        if (in->out_kind != RILL_OUT_DENSE)
            return rill_node_errf(n, RILL_ESHAPE, err, "input %d ('%s') is not a dense output", i + 1,
                                  in->name);
        if (in->cols != n->in[0]->cols)
            return rill_node_errf(n, RILL_ESHAPE, err,
                                  "inputs must have the same width: '%s' has %zu, '%s' has %zu",
                                  n->in[0]->name, n->in[0]->cols, in->name, in->cols);
    }
    n->out_kind = RILL_OUT_DENSE;
    n->nd = n->in[0]->nd;
    memcpy(n->dims, n->in[0]->dims, sizeof n->dims);
    return RILL_OK;
}

static int add_forward(rill_node *n, rill_step *s, rill_err *err)
{
    (void)err;
    size_t total = (size_t)s->B * n->cols;
    float sc = ((add_state *)n->st)->scale;
    memcpy(n->out, n->in[0]->out, total * sizeof(float));
    for (int i = 1; i < n->nin; i++) {
        const float *x = n->in[i]->out;
        for (size_t k = 0; k < total; k++)
            n->out[k] += x[k];
    }
    if (sc != 1.0f)
        for (size_t k = 0; k < total; k++)
            n->out[k] *= sc;
    return RILL_OK;
}

static int add_backward(rill_node *n, rill_step *s, rill_err *err)
{
    (void)err;
    size_t total = (size_t)s->B * n->cols;
    float sc = ((add_state *)n->st)->scale;
    for (int i = 0; i < n->nin; i++) {
        float *d = n->in[i]->dout;
        if (d)
            for (size_t k = 0; k < total; k++)
                d[k] += sc * n->dout[k];
    }
    return RILL_OK;
}

static void add_destroy(rill_node *n)
{
    free(n->st);
}

const rill_node_ops rill_node_add = {.name = "add",
    .args = (const char *const[]){"scale", NULL},
                                     .create = add_create,
                                     .forward = add_forward,
                                     .backward = add_backward,
                                     .destroy = add_destroy};
