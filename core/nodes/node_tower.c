/* tower: a task's head, hidden ReLU layers then one linear unit: one logit per example.
 * Arguments: sizes (hidden widths, may be empty: {} is logistic regression on the inputs),
 * norm, dropout (on the hidden layers). */
#include <stdlib.h>

#include "graph.h"
#include "nodes.h"
#include "stack.h"

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
    rill_stack_node *st = calloc(1, sizeof *st);
    if (!st)
        return rill_node_errf(n, RILL_ENOMEM, err, "out of memory");
    n->st = st;
    n->out_kind = RILL_OUT_DENSE;
    n->nd = 1;
    n->dims[0] = 1;
    return rill_stack_create(n, &st->m, (int)cols, sizes, nhidden + 1, norm, dropout, false, err);
}

const rill_node_ops rill_node_tower = {.name = "tower",
    .args = (const char *const[]){"sizes", "norm", "dropout", NULL},
                                       .create = tower_create,
                                       .forward = rill_stack_node_forward,
                                       .backward = rill_stack_node_backward,
                                       .destroy = rill_stack_node_destroy};
