/* tower: a task's head, hidden ReLU layers then one linear unit: one logit per example.
 * Arguments: sizes (hidden widths, may be empty: {} is logistic regression on the inputs),
 * norm, dropout (on the hidden layers). */
#include <stdlib.h>

#include "graph.h"
#include "nodes.h"
#include "stack.h"

typedef struct {
    rill_stack m;
    float *x;
} tower_state;

static int tower_create(rill_node *n, rill_err *err)
{
    long *hidden = NULL, sizes[17];
    int nhidden = 0, norm, rc;
    double dropout;
    size_t cols;
    if ((rc = rill_inputs_width(n, &cols, err)) ||
        (rc = rill_args_int_list(&n->args, "sizes", 1, 1 << 20, &hidden, &nhidden, err)))
        return rc;
    if (nhidden > 15)
        rc = rill_node_errf(n, RILL_EINVAL, err, "at most 15 hidden layers, got %d", nhidden);
    for (int i = 0; !rc && i < nhidden; i++)
        sizes[i] = hidden[i];
    sizes[nhidden] = 1;
    free(hidden);
    if (rc || (rc = rill_stack_args(n, &norm, &dropout, err)))
        return rc;
    tower_state *st = calloc(1, sizeof *st);
    if (!st)
        return rill_node_errf(n, RILL_ENOMEM, err, "out of memory");
    n->st = st;
    n->out_kind = RILL_OUT_DENSE;
    n->nd = 1;
    n->dims[0] = 1;
    return rill_stack_create(n, &st->m, (int)cols, sizes, nhidden + 1, norm, dropout, false, err);
}

static int tower_forward(rill_node *n, rill_step *s, rill_err *err)
{
    tower_state *st = n->st;
    int rc = rill_inputs_join(n, s, &st->x, err);
    return rc ? rc : rill_stack_forward(n, &st->m, s, st->x, n->out, err);
}

static int tower_backward(rill_node *n, rill_step *s, rill_err *err)
{
    tower_state *st = n->st;
    int rc;
    float *dx = rill_inputs_grad_buffer(n, s, err, &rc);
    if (rc || (rc = rill_stack_backward(n, &st->m, s, st->x, n->out, n->dout, dx, err)))
        return rc;
    rill_inputs_split_grad(n, s, dx);
    return RILL_OK;
}

static void tower_destroy(rill_node *n)
{
    free(n->st);
}

const rill_node_ops rill_node_tower = {"tower", tower_create, tower_forward, tower_backward,
                                       tower_destroy};
