/* interact_concat: the inputs flattened and side by side, (B, sum of widths). */
#include "graph.h"
#include "nodes.h"
#include "stack.h"

#include <string.h>

static int concat_create(rill_node *n, rill_err *err)
{
    size_t cols;
    int rc = rill_inputs_width(n, &cols, err);
    if (rc)
        return rc;
    n->out_kind = RILL_OUT_DENSE;
    n->nd = 1;
    n->dims[0] = (int)cols;
    return RILL_OK;
}

static int concat_forward(rill_node *n, rill_step *s, rill_err *err)
{
    (void)err;
    size_t off = 0;
    for (int i = 0; i < n->nin; i++) {
        size_t c = n->in[i]->cols;
        for (int b = 0; b < s->B; b++)
            memcpy(n->out + (size_t)b * n->cols + off, n->in[i]->out + (size_t)b * c,
                   c * sizeof(float));
        off += c;
    }
    return RILL_OK;
}

static int concat_backward(rill_node *n, rill_step *s, rill_err *err)
{
    (void)err;
    size_t off = 0;
    for (int i = 0; i < n->nin; i++) {
        size_t c = n->in[i]->cols;
        float *d = n->in[i]->dout;
        if (d)
            for (int b = 0; b < s->B; b++) {
                const float *g = n->dout + (size_t)b * n->cols + off;
                float *o = d + (size_t)b * c;
                for (size_t k = 0; k < c; k++)
                    o[k] += g[k];
            }
        off += c;
    }
    return RILL_OK;
}

const rill_node_ops rill_node_interact_concat = {.name = "interact_concat",
    .args = (const char *const[]){NULL},
                                                 .create = concat_create,
                                                 .forward = concat_forward,
                                                 .backward = concat_backward,
                                                 .destroy = NULL};
