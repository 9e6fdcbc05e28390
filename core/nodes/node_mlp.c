/* mlp: linear layers with ReLU over the inputs side by side.
 * Arguments: sizes (list of layer widths, required), last_activation (default true: the last
 * layer gets ReLU too, as DLRM's bottom MLP does), norm ("none", "batch", "layer"), dropout. */
#include <stdlib.h>

#include "graph.h"
#include "nodes.h"
#include "stack.h"

static int mlp_create(rill_node *n, rill_err *err)
{
    long *sizes = NULL;
    int nsizes = 0, norm, rc;
    double dropout;
    bool last_act;
    size_t cols;
    if ((rc = rill_inputs_width(n, &cols, err)))
        return rc;
    if ((rc = rill_args_int_list(&n->args, "sizes", 1, 1 << 20, &sizes, &nsizes, err)))
        return rc;
    if (nsizes == 0)
        rc = rill_node_errf(n, RILL_EINVAL, err, "argument 'sizes' is required, e.g. sizes = {512, 256, 16}");
    if (!rc && !(rc = rill_stack_args(n, &norm, &dropout, err)) &&
        !(rc = rill_args_bool(&n->args, "last_activation", true, &last_act, err))) {
        rill_stack_node *st = calloc(1, sizeof *st);
        if (!st)
            rc = rill_node_errf(n, RILL_ENOMEM, err, "out of memory");
        else {
            n->st = st;
            rc = rill_stack_create(n, &st->m, (int)cols, sizes, nsizes, norm, dropout, last_act,
                                   err);
            n->out_kind = RILL_OUT_DENSE;
            n->nd = 1;
            n->dims[0] = (int)sizes[nsizes - 1];
        }
    }
    free(sizes);
    return rc;
}

const rill_node_ops rill_node_mlp = {.name = "mlp",
    .args = (const char *const[]){"sizes", "last_activation", "norm", "dropout", NULL},
                                     .create = mlp_create,
                                     .forward = rill_stack_node_forward,
                                     .backward = rill_stack_node_backward,
                                     .destroy = rill_stack_node_destroy};
