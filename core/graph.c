#include "graph.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nodes.h"
#include "pool.h"
#include "store.h"
#include "util.h"

typedef struct {
    char name[128];
    rill_node *node;
    int64_t rows;
    int dim;
    rill_optim opt;
    double init;
    rill_table_opts opts;
    rill_table **slot;
    rill_param *proj;
} table_spec;

/* kept beside the graph so graph.h need not show it */
typedef struct {
    rill_graph g;
    table_spec *specs;
    int nspecs;
    float *stats_block;   /* non-trainable parameters (running statistics) */
    bool planned;
} graph_impl;

int rill_node_errf(const rill_node *n, int code, rill_err *err, const char *fmt, ...)
{
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return rill_errf(err, code, "node '%s' (%s) at %s: %s", n->name, n->ops->name, n->where, msg);
}

void *rill_node_alloc(rill_node *n, rill_step *s, size_t bytes, bool zero, rill_err *err)
{
    void *p = zero ? rill_arena_zalloc(s->arena, bytes) : rill_arena_alloc(s->arena, bytes);
    if (!p)
        rill_node_errf(n, RILL_ENOMEM, err, "out of memory for %zu bytes of step memory (batch %d)",
                       bytes, s->B);
    return p;
}

int rill_node_fields(const rill_node *in, int *F, int *D)
{
    if (in->out_kind != RILL_OUT_DENSE)
        return -1;
    if (in->nd == 1) {
        *F = 1;
        *D = in->dims[0];
    } else if (in->nd == 2) {
        *F = in->dims[0];
        *D = in->dims[1];
    } else {
        return -1;
    }
    return 0;
}

int rill_graph_create(rill_graph **out, const rill_schema *schema, rill_err *err)
{
    graph_impl *gi = rill_zalloc(sizeof *gi);
    if (!gi)
        return rill_errf(err, RILL_ENOMEM, "out of memory creating a graph");
    gi->g.schema = schema;
    /* Embeddings default to row-wise Adagrad, the usual choice for large CTR tables. The
     * initial accumulator matters: the loss is a batch mean, so a row's gradient is of order
     * 1/batch, and without it a row seen once takes a full-size first step and the long tail
     * of ids memorises its few examples. 1e-6 suits batches of about 2048. */
    gi->g.default_sparse.kind = RILL_OPT_ROWWISE_ADAGRAD;
    gi->g.default_sparse.lr = 0.1;
    gi->g.default_sparse.eps = 1e-8;
    gi->g.default_sparse.initial_acc = 1e-6;
    gi->g.profile = getenv("RILL_PROFILE") != NULL;
    *out = &gi->g;
    return RILL_OK;
}

static void free_node(rill_node *n)
{
    if (!n)
        return;
    if (n->ops && n->ops->destroy)
        n->ops->destroy(n);
    if (n->args.map) {
        rill_value_free(n->args.map);
        free(n->args.map);
    }
    rill_ids_layout *l = &n->layout;
    if (l->field_names)
        for (int f = 0; f < l->F; f++)
            free(l->field_names[f]);
    free(l->field_names);
    free(l->table_rows);
    free(l->field_table);
    free(n->in);
    free(n);
}

void rill_graph_free(rill_graph *g)
{
    if (!g)
        return;
    graph_impl *gi = (graph_impl *)g;
    for (int i = 0; i < g->nnodes; i++)
        free_node(g->nodes[i]);
    free(g->nodes);
    for (int i = 0; i < g->nparams; i++)
        free(g->params[i]);
    free(g->params);
    rill_store_close(g->store); /* first: it ends its reads on the tables */
    for (int i = 0; i < g->ntables; i++)
        rill_table_free(g->tables[i]);
    free(g->tables);
    free(g->table_owner);
    free(g->table_proj);
    free(gi->specs);
    rill_free(g->param_block);
    rill_free(gi->stats_block);
    rill_free(gi);
}

rill_node *rill_graph_find(const rill_graph *g, const char *name)
{
    for (int i = 0; i < g->nnodes; i++)
        if (strcmp(g->nodes[i]->name, name) == 0)
            return g->nodes[i];
    return NULL;
}

/* Every argument given must be one the kind takes; the closest known name is offered. */
static int check_known_args(rill_node *n, rill_err *err)
{
    const rill_value *m = n->args.map;
    const char *const *known = n->ops->args;
    if (!m || m->type != RILL_V_MAP || !known)
        return RILL_OK;
    for (int i = 0; i < m->u.map.n; i++) {
        const char *key = m->u.map.keys[i];
        int k = 0;
        while (known[k] && strcmp(known[k], key) != 0)
            k++;
        if (known[k])
            continue;
        char list[400] = "";
        size_t len = 0;
        for (k = 0; known[k]; k++)
            len += (size_t)snprintf(list + len, len < sizeof list ? sizeof list - len : 0, "%s%s",
                                    k ? ", " : "", known[k]);
        const char *near = rill_closest_name(key, known);
        char hint[120] = "";
        if (near)
            snprintf(hint, sizeof hint, "; did you mean '%s'?", near);
        return rill_node_errf(n, RILL_EINVAL, err, "unknown argument '%s' (%s: %s)%s", key,
                              n->ops->name, known[0] ? list : "it takes none", hint);
    }
    return RILL_OK;
}

/* A known argument that create did not read has no effect with the other settings given. */
static int check_used_args(rill_node *n, rill_err *err)
{
    const rill_value *m = n->args.map;
    if (!m || m->type != RILL_V_MAP)
        return RILL_OK;
    for (int i = 0; i < m->u.map.n; i++)
        if (!m->u.map.vals[i].used && m->u.map.vals[i].type != RILL_V_NIL)
            return rill_node_errf(n, RILL_EINVAL, err,
                                  "argument '%s' has no effect with the other settings given "
                                  "(remove it, or see the %s node's settings in the README)",
                                  m->u.map.keys[i], n->ops->name);
    return RILL_OK;
}

/* A node of kind ops named name (or kind_N), made at where, taking args (ownership moves to
 * it); NULL when out of memory. */
static rill_node *new_node(rill_graph *g, const rill_node_ops *ops, const char *kind,
                           const char *name, const char *where, int nin, rill_value *args)
{
    rill_node *n = calloc(1, sizeof *n);
    if (!n || (nin && !(n->in = calloc((size_t)nin, sizeof *n->in)))) {
        free(n);
        return NULL;
    }
    n->ops = ops;
    n->g = g;
    n->index = g->nnodes;
    n->loss_weight = 1.0;
    if (name && *name)
        snprintf(n->name, sizeof n->name, "%s", name);
    else
        snprintf(n->name, sizeof n->name, "%s_%d", kind, g->nnodes + 1);
    snprintf(n->where, sizeof n->where, "%s", where ? where : "?");
    n->args.map = args;
    snprintf(n->args.who, sizeof n->args.who, "node '%s' (%s) at %s", n->name, kind, n->where);
    return n;
}

/* n's name is new, its inputs are g's, and g has room for one more node. */
static int admit_node(rill_graph *g, rill_node *n, rill_node **inputs, int nin, rill_err *err)
{
    const rill_node *same = rill_graph_find(g, n->name);
    if (same)
        return rill_node_errf(n, RILL_EINVAL, err,
                              "a node named '%s' already exists (made at %s); names must be unique",
                              n->name, same->where);
    for (int i = 0; i < nin; i++) {
        if (!inputs[i] || inputs[i]->g != g)
            return rill_node_errf(n, RILL_EINVAL, err, "input %d belongs to another graph", i + 1);
        n->in[i] = inputs[i];
    }
    n->nin = nin;
    if (g->nnodes == g->cap) {
        int cap = g->cap ? g->cap * 2 : 16;
        rill_node **nodes = realloc(g->nodes, (size_t)cap * sizeof *nodes);
        if (!nodes)
            return rill_errf(err, RILL_ENOMEM, "out of memory adding a node");
        g->nodes = nodes;
        g->cap = cap;
    }
    return RILL_OK;
}

/* The kind's create, with its arguments checked before (known) and after (all used); on
 * failure the parameters create declared are forgotten. */
static int create_node(graph_impl *gi, rill_node *n, rill_err *err)
{
    rill_graph *g = &gi->g;
    int nparams0 = g->nparams, nspecs0 = gi->nspecs, rc;
    if ((rc = check_known_args(n, err)))
        return rc;
    if ((rc = n->ops->create(n, err)) || (rc = check_used_args(n, err))) {
        for (int i = nparams0; i < g->nparams; i++)
            free(g->params[i]);
        g->nparams = nparams0;
        gi->nspecs = nspecs0;
        return rc;
    }
    if (n->out_kind == RILL_OUT_DENSE) {
        n->cols = 1;
        for (int i = 0; i < n->nd; i++)
            n->cols *= (size_t)n->dims[i];
    }
    n->needs_grad = n->has_params;
    for (int i = 0; i < n->nin; i++)
        n->needs_grad |= n->in[i]->needs_grad;
    return RILL_OK;
}

int rill_graph_add(rill_graph *g, const char *kind, const char *name, const char *where,
                   rill_node **inputs, int nin, rill_value *args, rill_node **out,
                   rill_err *err)
{
    graph_impl *gi = (graph_impl *)g;
    int rc = RILL_OK;
    rill_node *n = NULL;
    *out = NULL;
    const rill_node_ops *ops = rill_node_kind(kind);
    if (!ops) {
        rc = rill_errf(err, RILL_EINVAL, "%s: unknown node kind '%s' (kinds: %s)",
                       where ? where : "?", kind, rill_node_kind_list());
        goto fail;
    }
    if (g->built) {
        rc = rill_errf(err, RILL_EINVAL,
                       "%s: cannot add node '%s' (%s): the graph has already been built "
                       "(trained); make a new graph",
                       where ? where : "?", name ? name : kind, kind);
        goto fail;
    }
    if (!(n = new_node(g, ops, kind, name, where, nin, args))) {
        rc = rill_errf(err, RILL_ENOMEM, "out of memory adding a node");
        goto fail;
    }
    args = NULL; /* the node's now */
    if ((rc = admit_node(g, n, inputs, nin, err)) || (rc = create_node(gi, n, err)))
        goto fail;
    g->nodes[g->nnodes++] = n;
    gi->planned = false;
    *out = n;
    return RILL_OK;
fail:
    if (args) {
        rill_value_free(args);
        free(args);
    }
    free_node(n);
    return rc;
}

rill_param *rill_graph_param(rill_graph *g, rill_node *n, const char *name, int rows, int cols,
                             rill_init init, double scale, rill_err *err)
{
    rill_param *p = calloc(1, sizeof *p);
    rill_param **ps = realloc(g->params, (size_t)(g->nparams + 1) * sizeof *ps);
    if (!p || !ps) {
        free(p);
        if (ps)
            g->params = ps;
        rill_node_errf(n, RILL_ENOMEM, err, "out of memory declaring parameter %s", name);
        return NULL;
    }
    g->params = ps;
    snprintf(p->name, sizeof p->name, "%s.%s", n->name, name);
    p->node = n;
    p->rows = rows;
    p->cols = cols;
    p->n = (size_t)rows * (size_t)cols;
    p->init = init;
    p->scale = scale;
    p->trainable = true;
    g->params[g->nparams++] = p;
    n->has_params = true;
    return p;
}

int rill_graph_table(rill_graph *g, rill_node *n, const char *name, int64_t rows, int dim,
                     const rill_optim *opt, double init_scale, const rill_table_opts *opts,
                     rill_table **slot, rill_err *err)
{
    graph_impl *gi = (graph_impl *)g;
    table_spec *s = realloc(gi->specs, (size_t)(gi->nspecs + 1) * sizeof *s);
    if (!s)
        return rill_node_errf(n, RILL_ENOMEM, err, "out of memory declaring table %s", name);
    gi->specs = s;
    table_spec *t = &s[gi->nspecs++];
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s.%s", n->name, name);
    t->node = n;
    t->rows = rows;
    t->dim = dim;
    t->opt = opt ? *opt : g->default_sparse;
    t->init = init_scale;
    if (opts)
        t->opts = *opts;
    t->slot = slot;
    n->has_params = true;
    return RILL_OK;
}

void rill_graph_table_projection(rill_graph *g, rill_table **slot, rill_param *proj)
{
    graph_impl *gi = (graph_impl *)g;
    for (int i = 0; i < gi->nspecs; i++)
        if (gi->specs[i].slot == slot)
            gi->specs[i].proj = proj;
}

size_t rill_graph_dense_count(const rill_graph *g)
{
    size_t n = 0;
    for (int i = 0; i < g->nparams; i++)
        if (g->params[i]->trainable)
            n += g->params[i]->n;
    return n;
}

static void init_param(rill_param *p, uint64_t seed)
{
    rill_rng rng;
    uint64_t h = seed;
    for (const char *c = p->name; *c; c++)
        h = rill_hash64((uint64_t)(unsigned char)*c, h);
    rill_rng_seed(&rng, h);
    double bound = p->scale;
    if (p->init == RILL_INIT_XAVIER)
        bound = p->scale * sqrt(6.0 / (double)(p->rows + p->cols));
    for (size_t i = 0; i < p->n; i++) {
        switch (p->init) {
        case RILL_INIT_ZERO: p->data[i] = 0; break;
        case RILL_INIT_ONE: p->data[i] = 1; break;
        case RILL_INIT_NORMAL: p->data[i] = (float)(p->scale * rill_rng_normal(&rng)); break;
        default: p->data[i] = (float)(bound * (2.0 * rill_rng_unit(&rng) - 1.0)); break;
        }
    }
}

int rill_graph_build(rill_graph *g, uint64_t seed, rill_err *err)
{
    return rill_graph_build_on(g, seed, NULL, err);
}

int rill_graph_build_on(rill_graph *g, uint64_t seed, rill_store *store, rill_err *err)
{
    graph_impl *gi = (graph_impl *)g;
    if (g->built) {
        if (store)
            rill_store_close(store); /* taken over, even when refused */
        return store ? rill_errf(err, RILL_EINVAL,
                                 "this graph has already been built%s; make a new graph for a "
                                 "new run",
                                 g->store ? " on a run's store" : "")
                     : RILL_OK;
    }
    g->store = store;
    g->seed = seed;
    size_t ntrain = 0, nstats = 0;
    for (int i = 0; i < g->nparams; i++)
        *(g->params[i]->trainable ? &ntrain : &nstats) += RILL_ALIGN(g->params[i]->n, 16);
    g->param_floats = ntrain;
    g->param_block = rill_zalloc((ntrain ? ntrain : 1) * 4 * sizeof(float));
    gi->stats_block = rill_zalloc((nstats ? nstats : 1) * sizeof(float));
    g->tables = calloc((size_t)(gi->nspecs ? gi->nspecs : 1), sizeof *g->tables);
    g->table_owner = calloc((size_t)(gi->nspecs ? gi->nspecs : 1), sizeof *g->table_owner);
    g->table_proj = calloc((size_t)(gi->nspecs ? gi->nspecs : 1), sizeof *g->table_proj);
    if (!g->table_proj || !g->param_block || !gi->stats_block || !g->tables || !g->table_owner)
        return rill_errf(err, RILL_ENOMEM, "out of memory for %zu dense parameters", ntrain);
    size_t off = 0, soff = 0;
    for (int i = 0; i < g->nparams; i++) {
        rill_param *p = g->params[i];
        if (p->trainable) {
            p->data = g->param_block + off;
            p->grad = g->param_block + ntrain + off;
            p->m = g->param_block + 2 * ntrain + off;
            p->v = g->param_block + 3 * ntrain + off;
            off += RILL_ALIGN(p->n, 16);
        } else {
            p->data = gi->stats_block + soff;
            soff += RILL_ALIGN(p->n, 16);
        }
        init_param(p, seed);
    }
    for (int i = 0; i < gi->nspecs; i++) {
        table_spec *s = &gi->specs[i];
        uint64_t tseed = rill_hash64((uint64_t)i + 1, seed);
        int rc = store ? rill_store_table(store, &g->tables[i], s->name, s->rows, s->dim, &s->opt,
                                          tseed, s->init, &s->opts, err)
                       : rill_table_create(&g->tables[i], s->name, s->rows, s->dim, &s->opt, tseed,
                                           s->init, err);
        if (!rc && !store)
            rill_table_set_opts(g->tables[i], &s->opts);
        if (rc)
            return rill_err_prefix(err, "node '%s' (%s) at %s: ", s->node->name,
                                   s->node->ops->name, s->node->where);
        g->table_owner[i] = s->node;
        g->table_proj[i] = s->proj;
        *s->slot = g->tables[i];
        g->ntables = i + 1;
    }
    g->built = true;
    return RILL_OK;
}

char *rill_graph_signature(const rill_graph *g)
{
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    if (!buf)
        return NULL;
    buf[0] = 0;
#define PUT(...)                                                                                 \
    do {                                                                                         \
        int need_ = snprintf(NULL, 0, __VA_ARGS__);                                              \
        while (len + (size_t)need_ + 1 > cap) {                                                  \
            char *nb_ = realloc(buf, cap * 2);                                                   \
            if (!nb_) {                                                                          \
                free(buf);                                                                       \
                return NULL;                                                                     \
            }                                                                                    \
            buf = nb_;                                                                           \
            cap *= 2;                                                                            \
        }                                                                                        \
        len += (size_t)snprintf(buf + len, cap - len, __VA_ARGS__);                              \
    } while (0)
    const rill_schema *sc = g->schema;
    PUT("data %s labels", sc->name);
    for (int i = 0; i < sc->nlabels; i++)
        PUT(" %s", sc->label_names[i]);
    PUT(" numeric");
    for (int i = 0; i < sc->nnum; i++)
        PUT(" %s", sc->num_names[i]);
    PUT(" categorical");
    for (int i = 0; i < sc->ncat; i++)
        PUT(" %s%s", sc->cat_names[i], sc->cat_multi[i] ? "*" : "");
    PUT("\n");
    for (int i = 0; i < g->nnodes; i++) {
        const rill_node *n = g->nodes[i];
        PUT("%s %s(", n->ops->name, n->name);
        for (int k = 0; k < n->nin; k++)
            PUT("%s%s", k ? "," : "", n->in[k]->name);
        PUT(") ");
        if (n->args.map) {
            size_t need = rill_value_format(n->args.map, NULL, 0);
            char *a = malloc(need);
            if (!a) {
                free(buf);
                return NULL;
            }
            rill_value_format(n->args.map, a, need);
            PUT("%s", a);
            free(a);
        }
        PUT("\n");
    }
#undef PUT
    return buf;
}

/* A node takes part in backward when the loss depends on it and it depends on a parameter. */
static void plan(rill_graph *g)
{
    graph_impl *gi = (graph_impl *)g;
    if (gi->planned)
        return;
    bool *on_path = calloc((size_t)g->nnodes + 1, sizeof *on_path);
    for (int i = g->nnodes - 1; i >= 0; i--) {
        rill_node *n = g->nodes[i];
        if (n->out_kind == RILL_OUT_LOSS)
            on_path[i] = true;
        if (on_path[i])
            for (int k = 0; k < n->nin; k++)
                on_path[n->in[k]->index] = true;
    }
    for (int i = 0; i < g->nnodes; i++) {
        rill_node *n = g->nodes[i];
        n->needs_grad = n->has_params;
        for (int k = 0; k < n->nin; k++)
            n->needs_grad |= n->in[k]->needs_grad;
        if (!on_path[i])
            n->needs_grad = false;
    }
    /* a node whose input is off the loss path must not receive gradients for it */
    free(on_path);
    gi->planned = true;
}

void rill_graph_profile(rill_graph *g, bool on)
{
    if (on && !g->profile) {
        for (int i = 0; i < g->nnodes; i++)
            g->nodes[i]->prof_fwd = g->nodes[i]->prof_bwd = 0;
        g->prof_update = g->prof_zero = g->prof_loader = 0;
    }
    g->profile = on;
}

void rill_graph_profile_print(const rill_graph *g, uint64_t steps)
{
    if (!g->profile || !steps)
        return;
    double k = 1e3 / (double)steps;
    for (int i = 0; i < g->nnodes; i++)
        fprintf(stderr, "profile %-12s %-16s fwd %7.3f ms  bwd %7.3f ms\n", g->nodes[i]->name,
                g->nodes[i]->ops->name, g->nodes[i]->prof_fwd * k, g->nodes[i]->prof_bwd * k);
    fprintf(stderr, "profile update %7.3f ms  gradient zeroing %7.3f ms  loader wait %7.3f ms\n",
            g->prof_update * k, g->prof_zero * k, g->prof_loader * k);
}

/* whether n looks rows up from inputs the graph can run ahead */
static bool can_prefetch(const rill_node *n)
{
    if (!n->ops->prefetch)
        return false;
    for (int i = 0; i < n->nin; i++)
        if (!n->in[i]->ops->pure)
            return false;
    return true;
}

int rill_graph_prefetch(rill_graph *g, const rill_batch *b, rill_arena *arena, rill_err *err)
{
    if (!g->built || !g->store || !b)
        return RILL_OK;
    rill_arena_reset(arena);
    rill_step s = {.batch = b, .B = b->B, .training = true, .arena = arena};
    int rc = RILL_OK;
    /* the pure nodes the prefetching ones read, run on b; their outputs of the step in
     * progress put back after */
    rill_ids *kept = rill_arena_alloc(arena, (size_t)g->nnodes * sizeof *kept);
    bool *ran = rill_arena_alloc(arena, (size_t)g->nnodes * sizeof *ran);
    if (!kept || !ran)
        return rill_errf(err, RILL_ENOMEM, "out of memory looking a batch ahead");
    memset(ran, 0, (size_t)g->nnodes * sizeof *ran);
    for (int i = 0; i < g->nnodes && !rc; i++) {
        rill_node *n = g->nodes[i];
        if (!can_prefetch(n))
            continue;
        for (int k = 0; k < n->nin && !rc; k++) {
            rill_node *src = n->in[k];
            if (ran[src->index])
                continue;
            kept[src->index] = src->ids;
            ran[src->index] = true;
            rc = src->ops->forward(src, &s, err);
        }
        if (!rc)
            n->ops->prefetch(n, b->B);
    }
    for (int i = 0; i < g->nnodes; i++)
        if (ran[i])
            g->nodes[i]->ids = kept[i];
    if (!rc)
        rill_store_prefetch(g->store);
    return rc;
}

int rill_graph_forward(rill_graph *g, rill_step *s, double *loss, rill_err *err)
{
    if (!g->built)
        return rill_errf(err, RILL_EINVAL, "the graph must be built before running it");
    plan(g);
    double total = 0;
    for (int i = 0; i < g->nnodes; i++) {
        rill_node *n = g->nodes[i];
        n->dout = NULL;
        if (n->out_kind == RILL_OUT_DENSE) {
            n->out = rill_node_alloc(n, s, (size_t)s->B * n->cols * sizeof(float), false, err);
            if (!n->out)
                return err->code;
        }
        double t0 = g->profile && s->training ? rill_now() : 0;
        int rc = n->ops->forward(n, s, err);
        if (rc)
            return rc;
        if (t0 > 0)
            n->prof_fwd += rill_now() - t0;
        if (n->out_kind == RILL_OUT_LOSS)
            total += n->loss;
    }
    if (loss)
        *loss = total;
    return RILL_OK;
}

int rill_graph_after_step(rill_graph *g, rill_step *s, rill_err *err)
{
    for (int i = 0; i < g->nnodes; i++) {
        rill_node *n = g->nodes[i];
        int rc;
        if (n->ops->after_step && (rc = n->ops->after_step(n, s, err)))
            return rc;
    }
    return RILL_OK;
}

int rill_graph_example_loss(rill_graph *g, rill_step *s, float *ex, rill_err *err)
{
    int rc = rill_graph_forward(g, s, NULL, err);
    if (rc)
        return rc;
    memset(ex, 0, (size_t)s->B * sizeof *ex);
    for (int i = 0; i < g->nnodes; i++) {
        const rill_node *n = g->nodes[i];
        if (n->out_kind == RILL_OUT_LOSS && n->example_loss)
            for (int b = 0; b < s->B; b++)
                ex[b] += n->example_loss[b];
    }
    return RILL_OK;
}

int rill_graph_backward(rill_graph *g, rill_step *s, rill_err *err)
{
    double z0 = g->profile ? rill_now() : 0;
    if (g->param_floats)
        memset(g->param_block + g->param_floats, 0, g->param_floats * sizeof(float));
    for (int i = 0; i < g->nnodes; i++) {
        rill_node *n = g->nodes[i];
        n->dout = NULL;
        if (n->needs_grad && n->out_kind == RILL_OUT_DENSE) {
            n->dout = rill_node_alloc(n, s, (size_t)s->B * n->cols * sizeof(float), true, err);
            if (!n->dout)
                return err->code;
        }
    }
    if (z0 > 0)
        g->prof_zero += rill_now() - z0;
    for (int i = g->nnodes - 1; i >= 0; i--) {
        rill_node *n = g->nodes[i];
        if (!n->needs_grad || !n->ops->backward ||
            (s->only_loss && n->out_kind == RILL_OUT_LOSS && n != s->only_loss))
            continue;
        double t0 = g->profile ? rill_now() : 0;
        int rc = n->ops->backward(n, s, err);
        if (rc)
            return rc;
        if (t0 > 0)
            n->prof_bwd += rill_now() - t0;
    }
    return RILL_OK;
}

double rill_graph_grad_sqnorm(rill_graph *g)
{
    double s = 0;
    const float *gr = g->param_block + g->param_floats;
    for (size_t i = 0; i < g->param_floats; i++)
        s += (double)gr[i] * (double)gr[i];
    for (int i = 0; i < g->ntables; i++)
        s += rill_table_grad_sqnorm(g->tables[i]);
    return s;
}

typedef struct {
    rill_graph *g;
    const rill_optim *o;
    double lr;
    float gscale;
    uint64_t t;
    double lr_scale;
} dense_job;

static void dense_part(void *ctx, size_t b, size_t e, int worker)
{
    dense_job *j = ctx;
    size_t n = j->g->param_floats;
    float *w = j->g->param_block, *gr = w + n, *m = w + 2 * n, *v = w + 3 * n;
    b *= 4096;
    e = e * 4096 < n ? e * 4096 : n;
    if (j->gscale != 1.0f)
        for (size_t i = b; i < e; i++)
            gr[i] *= j->gscale;
    rill_optim_dense_step(j->o, w + b, gr + b, m + b, v + b, e - b, j->lr, j->t);
}

static void tables_part(void *ctx, size_t b, size_t e, int worker)
{
    dense_job *j = ctx;
    (void)worker;
    /* inside a pool job, the table's own parallel loop runs in this thread */
    for (size_t i = b; i < e; i++)
        rill_table_apply(j->g->tables[i], j->lr_scale, (double)j->gscale, j->t);
}

int rill_graph_update(rill_graph *g, const rill_optim *dense, double lr_scale,
                      double grad_scale, uint64_t t, rill_err *err)
{
    (void)err;
    double t0 = g->profile ? rill_now() : 0;
    dense_job j = {g, dense, dense->lr * lr_scale, (float)grad_scale, t, lr_scale};
    rill_parallel_for((g->param_floats + 4095) / 4096, 8, dense_part, &j);
    rill_parallel_each((size_t)g->ntables, tables_part, &j);
    if (t0 > 0)
        g->prof_update += rill_now() - t0;
    return RILL_OK;
}

rill_node *rill_graph_first_blowup(rill_graph *g, int B, double big, double *worst)
{
    rill_node *first_big = NULL;
    double big_val = 0;
    for (int i = 0; i < g->nnodes; i++) {
        rill_node *n = g->nodes[i];
        if (n->out_kind != RILL_OUT_DENSE || !n->out)
            continue;
        size_t len = (size_t)B * n->cols;
        double m = 0;
        for (size_t j = 0; j < len; j++) {
            float v = n->out[j];
            if (!isfinite(v)) {
                *worst = (double)v;
                return n;
            }
            if ((double)fabsf(v) > m)
                m = (double)fabsf(v);
        }
        if (!first_big && m > big) {
            first_big = n;
            big_val = m;
        }
    }
    *worst = big_val;
    return first_big;
}
