/* Helpers for tests that drive nodes directly: arguments written as a compact string
 * ("sizes={4,3},norm='layer'"), a graph on the Criteo schema with feed inputs, one step run by
 * hand (forward, then backward from a chosen output gradient), and a finite-difference check. */
#ifndef RILL_GRAPHTEST_H
#define RILL_GRAPHTEST_H

#include <ctype.h>
#include <math.h>
#include <string.h>

#include "graph.h"
#include "nodes.h"
#include "store.h"
#include "graph_io.h"
#include "tap.h"
#include "util.h"

static inline rill_value gt_parse_value(const char **p);

static inline void gt_skip(const char **p)
{
    while (isspace((unsigned char)**p))
        (*p)++;
}

static inline rill_value gt_parse_table(const char **p)
{
    /* {a, b} is a list; {k=v, ...} a map */
    rill_value v = {.type = RILL_V_LIST};
    (*p)++;
    gt_skip(p);
    const char *q = *p;
    while (isalnum((unsigned char)*q) || *q == '_')
        q++;
    while (isspace((unsigned char)*q))
        q++;
    bool is_map = *q == '=' && q != *p;
    if (is_map)
        v.type = RILL_V_MAP;
    while (**p && **p != '}') {
        if (is_map) {
            char key[64];
            int n = 0;
            gt_skip(p);
            while ((isalnum((unsigned char)**p) || **p == '_') && n < 63)
                key[n++] = *(*p)++;
            key[n] = 0;
            gt_skip(p);
            (*p)++; /* '=' */
            rill_map_set(&v, key, gt_parse_value(p));
        } else {
            rill_list_push(&v, gt_parse_value(p));
        }
        gt_skip(p);
        if (**p == ',')
            (*p)++;
        gt_skip(p);
    }
    if (**p == '}')
        (*p)++;
    return v;
}

static inline rill_value gt_parse_value(const char **p)
{
    gt_skip(p);
    if (**p == '{')
        return gt_parse_table(p);
    if (**p == '\'') {
        char buf[128];
        int n = 0;
        (*p)++;
        while (**p && **p != '\'' && n < 127)
            buf[n++] = *(*p)++;
        buf[n] = 0;
        if (**p == '\'')
            (*p)++;
        return rill_value_str(buf);
    }
    if (!strncmp(*p, "true", 4)) {
        *p += 4;
        return rill_value_bool(true);
    }
    if (!strncmp(*p, "false", 5)) {
        *p += 5;
        return rill_value_bool(false);
    }
    char *end;
    double x = strtod(*p, &end);
    *p = end;
    return rill_value_num(x);
}

/* "k=v,k2={1,2}" -> a heap map the graph takes over */
static inline rill_value *gt_args(const char *s)
{
    rill_value *m = malloc(sizeof *m);
    char buf[1024];
    snprintf(buf, sizeof buf, "{%s}", s ? s : "");
    const char *p = buf;
    *m = gt_parse_table(&p);
    m->type = RILL_V_MAP;
    return m;
}

static inline rill_node *gt_add(rill_graph *g, const char *kind, const char *name, rill_node **in,
                         int nin, const char *args, rill_err *err)
{
    rill_node *n = NULL;
    if (rill_graph_add(g, kind, name, "test.lua:1", in, nin, gt_args(args), &n, err))
        return NULL;
    return n;
}

/* The behaviour-sequence model the sequence tests share, on a schema (y, item, hist): shared
 * hashed ids, embed_seq of dim 2 over the newest 3 behaviours, and tim and din over it; built,
 * not trained. The item ids get a large bucket count so each text hash keeps its own row. */
static inline rill_graph *gt_sequence_model(const rill_schema *s)
{
    rill_graph *g;
    rill_err err = {0};
    rill_graph_create(&g, s, &err);
    rill_node *ids = gt_add(g, "encode_hash", "ids", NULL, 0,
                            "fields={'item','hist'},buckets=1000003,shared=true,missing='none'", &err);
    rill_node *seq = ids ? gt_add(g, "embed_seq", "seq", &ids, 1,
                                  "dim=2,target='item',sequence='hist',length=3", &err)
                         : NULL;
    rill_node *tim = seq ? gt_add(g, "tim", "tim", &seq, 1, NULL, &err) : NULL;
    rill_node *din = seq ? gt_add(g, "din", "din", &seq, 1, "sizes={4}", &err) : NULL;
    if (!ok(tim && din && !rill_graph_build(g, 1, &err), "sequence graph: encode_hash, embed_seq, tim, din"))
        diag("%s", err.msg);
    return g;
}

static inline void gt_fill(float *x, size_t n, rill_rng *r, double scale)
{
    for (size_t i = 0; i < n; i++)
        x[i] = (float)(scale * (2.0 * rill_rng_unit(r) - 1.0));
}

typedef struct {
    rill_graph *g;
    rill_node *node;       /* under test */
    rill_node *feeds[4];
    float *feed_data[4];
    int nfeeds;
    const rill_batch *batch;
    int B;
    rill_arena arena;
} gt_case;

/* Runs forward over the whole graph; returns sum(node.out * r) (or the loss, r == NULL). */
static inline double gt_objective(gt_case *c, const float *r, rill_err *err)
{
    rill_step s = {.batch = c->batch, .B = c->B, .training = true, .t = 1, .seed = 7,
                   .arena = &c->arena};
    rill_arena_reset(&c->arena);
    for (int i = 0; i < c->nfeeds; i++)
        rill_feed_set(c->feeds[i], c->feed_data[i]);
    double loss = 0;
    if (rill_graph_forward(c->g, &s, &loss, err))
        return NAN;
    if (!r)
        return loss;
    double acc = 0;
    for (size_t i = 0; i < (size_t)c->B * c->node->cols; i++)
        acc += (double)c->node->out[i] * (double)r[i];
    return acc;
}

/* Forward, then the node's backward from dout = r (or from the loss); copies the feeds'
 * gradients into dfeed[i] (B x cols each, caller-allocated) and leaves dense parameter
 * gradients in the graph. */
static inline int gt_backward(gt_case *c, const float *r, float **dfeed, rill_err *err)
{
    rill_step s = {.batch = c->batch, .B = c->B, .training = true, .t = 1, .seed = 7,
                   .arena = &c->arena};
    if (isnan(gt_objective(c, r, err)))
        return -1;
    if (c->g->param_floats)
        memset(c->g->param_block + c->g->param_floats, 0, c->g->param_floats * sizeof(float));
    for (int i = 0; i < c->nfeeds; i++) {
        size_t n = (size_t)c->B * c->feeds[i]->cols;
        c->feeds[i]->dout = rill_arena_zalloc(&c->arena, n * sizeof(float));
    }
    if (r) {
        size_t n = (size_t)c->B * c->node->cols;
        c->node->dout = rill_arena_alloc(&c->arena, n * sizeof(float));
        memcpy(c->node->dout, r, n * sizeof(float));
    }
    if (c->node->ops->backward(c->node, &s, err))
        return -1;
    for (int i = 0; i < c->nfeeds; i++)
        memcpy(dfeed[i], c->feeds[i]->dout, (size_t)c->B * c->feeds[i]->cols * sizeof(float));
    return 0;
}

/* Worst relative error over the values x[0..n) (feed data or a parameter) between the
 * analytic gradient an and central differences of the objective. A value whose forward and
 * backward difference quotients disagree sits next to a kink (ReLU) and is skipped;
 * *skipped (may be NULL) counts them. */
static inline double gt_fd_skip(gt_case *c, const float *r, float *x, const float *an, size_t n,
                                double eps, int *skipped, rill_err *err)
{
    double worst = 0;
    if (skipped)
        *skipped = 0;
    for (size_t i = 0; i < n; i++) {
        float x0 = x[i];
        double f0 = gt_objective(c, r, err);
        x[i] = (float)((double)x0 + eps);
        double hu = (double)x[i] - (double)x0;
        double up = gt_objective(c, r, err);
        x[i] = (float)((double)x0 - eps);
        double hd = (double)x0 - (double)x[i];
        double dn = gt_objective(c, r, err);
        x[i] = x0;
        double central = (up - dn) / (hu + hd);
        double fwd = (up - f0) / hu, bwd = (f0 - dn) / hd;
        if (fabs(fwd - bwd) > 0.01 * fmax(1.0, fabs(central))) {
            if (skipped)
                (*skipped)++;
            continue;
        }
        double e = fabs(central - (double)an[i]) / fmax(1.0, fabs(central));
        if (!(e <= worst))
            worst = e;
    }
    return worst;
}

static inline double gt_fd(gt_case *c, const float *r, float *x, const float *an, size_t n,
                           double eps, rill_err *err)
{
    return gt_fd_skip(c, r, x, an, n, eps, NULL, err);
}

#endif
