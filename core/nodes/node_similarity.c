/* similarity: the similarity of two pre-trained vectors of an example (schema columns of role
 * vector, e.g. a user's and an item's), as one numeric feature, the "embedding similarity" of
 * the heterogeneous mixture-of-experts design, which feeds it to encode_mnse. Arguments: a, b
 * (the vector columns' names, of one dim, required), measure ("cosine", default, or "dot").
 * Output (B, 1); an example missing either vector (or with a zero vector under cosine) gets
 * NaN, which encode_mnse encodes as zeros; other nodes should not take it directly. The
 * vectors are data, not parameters: nothing to train, no backward. */
#include <math.h>
#include <stdlib.h>

#include "graph.h"
#include "nodes.h"
#include "pool.h"

typedef struct {
    int a, b, dim; /* first numeric field of each vector */
    bool cosine;
} sim_state;

static int sim_create(rill_node *n, rill_err *err)
{
    static const char *const measures[] = {"cosine", "dot", NULL};
    sim_state *st = calloc(1, sizeof *st);
    if (!st)
        return rill_node_errf(n, RILL_ENOMEM, err, "out of memory");
    n->st = st;
    const char *a, *b;
    int measure, rc, da = 0, db = 0;
    if ((rc = rill_args_str(&n->args, "a", NULL, &a, err)) ||
        (rc = rill_args_str(&n->args, "b", NULL, &b, err)) ||
        (rc = rill_args_enum(&n->args, "measure", measures, 0, &measure, err)))
        return rc;
    if (!a || !b)
        return rill_node_errf(n, RILL_EINVAL, err, "arguments 'a' and 'b' are required: two "
                              "vector columns of the data, e.g. a = \"user_vec\", b = \"item_vec\"");
    if (n->nin != 0)
        return rill_node_errf(n, RILL_EINVAL, err, "takes no inputs (it reads the vector "
                              "columns of the batch)");
    const rill_schema *s = n->g->schema;
    if ((st->a = rill_schema_vector(s, a, &da)) < 0 || (st->b = rill_schema_vector(s, b, &db)) < 0)
        return rill_node_errf(n, RILL_EINVAL, err, "no vector column '%s' in the %s data (a "
                              "schema column of role vector)", st->a < 0 ? a : b, s->name);
    if (da != db)
        return rill_node_errf(n, RILL_ESHAPE, err, "vectors '%s' (dim %d) and '%s' (dim %d) "
                              "differ in dim", a, da, b, db);
    st->dim = da;
    st->cosine = measure == 0;
    n->out_kind = RILL_OUT_DENSE;
    n->nd = 1;
    n->dims[0] = 1;
    return RILL_OK;
}

typedef struct {
    const sim_state *st;
    const rill_batch *b;
    float *out;
} sim_job;

static void sim_part(void *ctx, size_t r0, size_t r1, int worker)
{
    const sim_job *j = ctx;
    const sim_state *st = j->st;
    int nn = j->b->schema->nnum;
    (void)worker;
    for (size_t r = r0; r < r1; r++) {
        const float *x = j->b->num + r * (size_t)nn + st->a, *y = j->b->num + r * (size_t)nn + st->b;
        double dot = 0, xx = 0, yy = 0;
        for (int k = 0; k < st->dim; k++) {
            dot += (double)x[k] * (double)y[k];
            xx += (double)x[k] * (double)x[k];
            yy += (double)y[k] * (double)y[k];
        }
        double v = dot;
        if (st->cosine)
            v = xx > 0 && yy > 0 ? dot / sqrt(xx * yy) : (double)NAN;
        j->out[r] = (float)v; /* NaN in, NaN out: a missing vector */
    }
}

static int sim_forward(rill_node *n, rill_step *s, rill_err *err)
{
    (void)err;
    sim_job j = {n->st, s->batch, n->out};
    rill_parallel_for((size_t)s->B, 256, sim_part, &j);
    return RILL_OK;
}

static void sim_destroy(rill_node *n)
{
    free(n->st);
}

const rill_node_ops rill_node_similarity = {.name = "similarity",
    .args = (const char *const[]){"a", "b", "measure", NULL},
                                            .create = sim_create,
                                            .forward = sim_forward,
                                            .backward = NULL,
                                            .destroy = sim_destroy};
