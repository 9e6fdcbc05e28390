/* Checkpoints of a graph (checkpoint.h): the graph's dense parameters and node state as the
 * store's (key, bytes) values. */
#include "checkpoint.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static size_t param_floats(const rill_param *p)
{
    return p->n * (p->trainable ? 3 : 1);
}

static void node_key(char *key, size_t size, const rill_node *n)
{
    snprintf(key, size, "node:%s", n->name);
}

/* data | m | v of a trainable parameter, data alone of running statistics */
static int put_param(rill_ckpt *c, const rill_param *p)
{
    size_t bytes = p->n * sizeof(float);
    rill_ckpt_part parts[3] = {{p->data, bytes}, {p->m, bytes}, {p->v, bytes}};
    return rill_ckpt_put(c, RILL_CKPT_DENSE, p->name, parts, p->trainable ? 3 : 1);
}

static int put_node(rill_ckpt *c, rill_node *n, rill_err *err)
{
    void *buf = NULL;
    size_t len = 0;
    int rc = n->ops->save(n, &buf, &len, err);
    if (rc || len == 0) { /* nothing to keep (a loss without IPW) */
        free(buf);
        return rc;
    }
    char key[96];
    node_key(key, sizeof key, n);
    rill_ckpt_part part = {buf, len};
    rc = rill_ckpt_put(c, RILL_CKPT_STATE, key, &part, 1);
    free(buf);
    return rc;
}

/* Runs inside the store's write transaction, again from the start when the map grows. */
static int put_graph(void *ud, rill_ckpt *c, rill_err *err)
{
    rill_graph *g = ud;
    int rc;
    for (int i = 0; i < g->nparams; i++)
        if ((rc = put_param(c, g->params[i])))
            return rc;
    for (int i = 0; i < g->nnodes; i++)
        if (g->nodes[i]->ops->save && (rc = put_node(c, g->nodes[i], err)))
            return rc;
    return RILL_OK;
}

int rill_checkpoint_write(rill_store *s, rill_graph *g, const void *state, size_t state_len,
                          rill_err *err)
{
    return rill_store_checkpoint(s, g ? put_graph : NULL, g, state, state_len, err);
}

static int get_param(rill_ckpt *c, rill_param *p, rill_err *err)
{
    const void *val;
    size_t len, bytes = p->n * sizeof(float);
    int rc = rill_ckpt_get(c, RILL_CKPT_DENSE, p->name, &val, &len, "a dense parameter", err);
    if (rc == RILL_EOF)
        return rill_errf(err, RILL_ESTORE,
                         "%s has no dense parameter '%s': the store belongs to another graph",
                         rill_ckpt_file(c), p->name);
    if (rc)
        return rc;
    if (len != param_floats(p) * sizeof(float))
        return rill_errf(err, RILL_ESTORE,
                         "%s: dense parameter '%s' holds %zu bytes, the graph's needs %zu: "
                         "the store belongs to another graph",
                         rill_ckpt_file(c), p->name, len, param_floats(p) * sizeof(float));
    const char *src = val; /* in the map, aligned to 2 bytes only: copied, not read as floats */
    memcpy(p->data, src, bytes);
    if (p->trainable) {
        memcpy(p->m, src + bytes, bytes);
        memcpy(p->v, src + 2 * bytes, bytes);
    }
    return RILL_OK;
}

static int get_node(rill_ckpt *c, rill_node *n, rill_err *err)
{
    char key[96];
    node_key(key, sizeof key, n);
    const void *val;
    size_t len;
    int rc = rill_ckpt_get(c, RILL_CKPT_STATE, key, &val, &len, "a node's state", err);
    /* no state: a node that keeps none in this configuration (or kept none in the build that
     * wrote the store) accepts an empty one */
    static const char none[1];
    rill_err quiet = {0};
    if (rc == RILL_EOF && n->ops->load(n, none, 0, &quiet) == RILL_OK)
        return RILL_OK;
    if (rc == RILL_EOF)
        return rill_errf(err, RILL_ESTORE,
                         "%s has no state for node '%s': the store belongs to another graph",
                         rill_ckpt_file(c), n->name);
    if (rc)
        return rc;
    return n->ops->load(n, val, len, err);
}

/* Runs inside the store's read transaction (val points into the map until it ends). */
static int get_graph(void *ud, rill_ckpt *c, rill_err *err)
{
    rill_graph *g = ud;
    int rc;
    for (int i = 0; i < g->nparams; i++)
        if ((rc = get_param(c, g->params[i], err)))
            return rc;
    for (int i = 0; i < g->nnodes; i++)
        if (g->nodes[i]->ops->load && (rc = get_node(c, g->nodes[i], err)))
            return rc;
    return RILL_OK;
}

int rill_checkpoint_read(rill_store *s, rill_graph *g, void **state, size_t *state_len,
                         rill_err *err)
{
    return rill_store_restore(s, g ? get_graph : NULL, g, state, state_len, err);
}
