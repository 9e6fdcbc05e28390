/* mlp: linear layers with ReLU over the inputs side by side.
 * Arguments: sizes (list of layer widths, required), last_activation (default true: the last
 * layer gets ReLU too, as DLRM's bottom MLP does), norm ("none", "batch", "layer"), dropout. */
#include <stdlib.h>

#include "graph.h"
#include "nodes.h"
#include "stack.h"

typedef struct {
    rill_stack m;
    float *x;
} mlp_state;

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
        mlp_state *st = calloc(1, sizeof *st);
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

static int mlp_forward(rill_node *n, rill_step *s, rill_err *err)
{
    mlp_state *st = n->st;
    int rc = rill_inputs_join(n, s, &st->x, err);
    return rc ? rc : rill_stack_forward(n, &st->m, s, st->x, n->out, err);
}

static int mlp_backward(rill_node *n, rill_step *s, rill_err *err)
{
    mlp_state *st = n->st;
    int rc;
    float *dx = rill_inputs_grad_buffer(n, s, err, &rc);
    if (rc || (rc = rill_stack_backward(n, &st->m, s, st->x, n->out, n->dout, dx, err)))
        return rc;
    rill_inputs_split_grad(n, s, dx);
    return RILL_OK;
}

static void mlp_destroy(rill_node *n)
{
    free(n->st);
}

const rill_node_ops rill_node_mlp = {"mlp", mlp_create, mlp_forward, mlp_backward, mlp_destroy};
