/* feed: a dense input whose values the caller supplies for each step (rill_feed_set). Used by
 * the gradient checks and by tools that drive the graph directly. Arguments: dims (1 or 2
 * numbers: the per-example shape). */
#include <stdlib.h>
#include <string.h>

#include "graph.h"
#include "nodes.h"

typedef struct {
    const float *data;
} feed_state;

void rill_feed_set(rill_node *n, const float *data)
{
    ((feed_state *)n->st)->data = data;
}

static int feed_create(rill_node *n, rill_err *err)
{
    long *dims = NULL;
    int nd = 0;
    int rc = rill_args_int_list(&n->args, "dims", 1, 1 << 24, &dims, &nd, err);
    if (rc)
        return rc;
    if (nd < 1 || nd > 2) {
        free(dims);
        return rill_node_errf(n, RILL_EINVAL, err, "argument 'dims' needs 1 or 2 numbers");
    }
    n->out_kind = RILL_OUT_DENSE;
    n->nd = nd;
    for (int i = 0; i < nd; i++)
        n->dims[i] = (int)dims[i];
    free(dims);
    n->st = calloc(1, sizeof(feed_state));
    return n->st ? RILL_OK : rill_node_errf(n, RILL_ENOMEM, err, "out of memory");
}

static int feed_forward(rill_node *n, rill_step *s, rill_err *err)
{
    feed_state *st = n->st;
    if (!st->data)
        return rill_node_errf(n, RILL_EINVAL, err, "no values were fed for this step");
    memcpy(n->out, st->data, (size_t)s->B * n->cols * sizeof(float));
    return RILL_OK;
}

static void feed_destroy(rill_node *n)
{
    free(n->st);
}

const rill_node_ops rill_node_feed = {.name = "feed",
    .args = (const char *const[]){"dims", NULL},
                                      .create = feed_create,
                                      .forward = feed_forward,
                                      .backward = NULL,
                                      .destroy = feed_destroy};
