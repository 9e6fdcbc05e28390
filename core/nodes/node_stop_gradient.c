/* stop_gradient: its input's values, passed on unchanged, and no gradient back into the
 * input. STEM's "All Forward, Task-specific Backward" (Su et al., AAAI 2024): a task's gate
 * sees the other tasks' experts and embeddings through stop_gradient, so its loss trains only
 * its own and the shared ones. Input: one dense node; output: the same shape. */
#include <stdlib.h>
#include <string.h>

#include "graph.h"
#include "nodes.h"

static int stop_create(rill_node *n, rill_err *err)
{
    if (n->nin != 1 || n->in[0]->out_kind != RILL_OUT_DENSE)
        return rill_node_errf(n, RILL_ESHAPE, err, "takes one dense input, got %d input(s)",
                              n->nin);
    n->out_kind = RILL_OUT_DENSE;
    n->nd = n->in[0]->nd;
    memcpy(n->dims, n->in[0]->dims, sizeof n->dims);
    return RILL_OK;
}

static int stop_forward(rill_node *n, rill_step *s, rill_err *err)
{
    (void)err;
    memcpy(n->out, n->in[0]->out, (size_t)s->B * n->cols * sizeof(float));
    return RILL_OK;
}

static int stop_backward(rill_node *n, rill_step *s, rill_err *err)
{
    (void)n, (void)s, (void)err; /* the point: nothing flows back */
    return RILL_OK;
}

const rill_node_ops rill_node_stop_gradient = {.name = "stop_gradient",
    .args = (const char *const[]){NULL},
                                               .create = stop_create,
                                               .forward = stop_forward,
                                               .backward = stop_backward,
                                               .destroy = NULL,
                                               .forwards_input = true};
