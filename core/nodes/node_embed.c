/* embed: ids to vectors through embedding tables, single layer. Inputs: one or more ids
 * nodes (encoders); their fields follow each other in the output (B, F, dim), and each input
 * table becomes one table of this node. A field with several ids per example is pooled
 * (sum or mean); a field with none gives zeros. Arguments: dim (required), pooling ("sum",
 * default, or "mean"), optim (the rows' optimizer, e.g. rill.adagrad{lr = 0.05}; default
 * row-wise Adagrad, lr 0.1, initial accumulator 1e-6), init (new rows are uniform(+-init),
 * default 0.05), admit (create a row only once its id was seen this many steps; until then it
 * reads as zeros and is not trained; default 0: at once), prefill (in a run's store, create
 * every row of the table up front rather than on first touch; default false), evict_after
 * (in a run's store, delete rows unused for this many steps; default 0: never). The lookup
 * itself is lookup.c's. */
#include <stdlib.h>

#include "lookup.h"
#include "nodes.h"

static int embed_create(rill_node *n, rill_err *err)
{
    rill_lookup *lk = calloc(1, sizeof *lk);
    rill_lookup_args a;
    long dim;
    int rc;
    if (!lk)
        return rill_node_errf(n, RILL_ENOMEM, err, "out of memory");
    n->st = lk;
    if ((rc = rill_lookup_read_args(n, &a, err)) ||
        (rc = rill_args_int(&n->args, "dim", 0, 1, 1 << 16, &dim, err)))
        return rc;
    if (dim == 0)
        return rill_node_errf(n, RILL_EINVAL, err, "argument 'dim' is required, e.g. dim = 16");
    if ((rc = rill_lookup_create(n, lk, (int)dim, &a, NULL, err)))
        return rc;
    n->out_kind = RILL_OUT_DENSE;
    n->nd = 2;
    n->dims[0] = lk->F;
    n->dims[1] = lk->D;
    return RILL_OK;
}

static int embed_forward(rill_node *n, rill_step *s, rill_err *err)
{
    return rill_lookup_forward(n, s, n->st, n->out, err);
}

static int embed_backward(rill_node *n, rill_step *s, rill_err *err)
{
    return rill_lookup_backward(n, s, n->st, n->dout, err);
}

static void embed_destroy(rill_node *n)
{
    if (n->st)
        rill_lookup_free(n->st);
    free(n->st);
}

static void embed_prefetch(rill_node *n, int B)
{
    rill_lookup_prefetch(n->st, B);
}

static rill_table *embed_field_table(rill_node *n, int f)
{
    return rill_lookup_table_of_field(n->st, f);
}

const rill_node_ops rill_node_embed = {.name = "embed",
    .args = (const char *const[]){"dim", "admit", "evict_after", "init", "optim", "pooling", "prefill", NULL},
                                       .create = embed_create,
                                       .forward = embed_forward,
                                       .backward = embed_backward,
                                       .destroy = embed_destroy,
                                       .field_table = embed_field_table,
                                       .prefetch = embed_prefetch};
