/* The node contract. Each node kind is one file filling a rill_node_ops, listed once in
 * nodes.c. `create` runs when the script adds the node: it reads the node's arguments, checks
 * its inputs' shapes, sets its output shape and declares its parameters, so a mistake is
 * reported at the script line that made the node. forward computes the output for the
 * step's batch; backward adds (+=) into the gradients of the inputs that need one and of the
 * node's parameters. */
#ifndef RILL_NODE_H
#define RILL_NODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "args.h"
#include "arena.h"
#include "batch.h"
#include "blas.h"
#include "err.h"

typedef struct rill_graph rill_graph;
typedef struct rill_node rill_node;
typedef struct rill_param rill_param;
typedef struct rill_table rill_table;
typedef struct rill_store rill_store;

typedef enum {
    RILL_OUT_DENSE, /* B x cols floats; dims give the per-example shape */
    RILL_OUT_IDS,   /* per example and field a list of table row ids */
    RILL_OUT_LOSS,  /* a scalar */
} rill_out_kind;

/* Ids of F fields for B examples: the list of example b, field f is
 * id[off[b*F + f] .. off[b*F + f + 1]); field f's ids index table field_table[f]. */
typedef struct rill_ids {
    uint32_t *off;
    uint64_t *id;
} rill_ids;

typedef struct rill_ids_layout {
    int F;
    int ntables;
    int64_t *table_rows; /* ntables: rows of each table (ids are below it) */
    int *field_table;    /* F */
    char **field_names;  /* F, for messages and analysis */
} rill_ids_layout;

/* One training or evaluation step. */
typedef struct rill_step {
    const rill_batch *batch;
    int B;
    bool training;
    uint64_t t;      /* 1-based step number (dropout masks, optimizers) */
    uint64_t seed;
    rill_precision precision; /* of the dense GEMMs (rill_gemm): the run's, RILL_FP32 unless set */
    rill_arena *arena;
    /* set: a backward that measures one task's gradient (entanglement) and updates nothing:
     * only this loss node runs, and nodes keep no statistics from it */
    const rill_node *only_loss;
} rill_step;

typedef struct rill_node_ops {
    const char *name;
    /* The arguments the kind takes, NULL-terminated: any other is refused (with the closest
     * name) before create runs, so create's own errors never make a valid argument look
     * unknown; one that is taken but not read with the given settings is refused after it. */
    const char *const *args;
    int (*create)(rill_node *n, rill_err *err);
    int (*forward)(rill_node *n, rill_step *s, rill_err *err);
    int (*backward)(rill_node *n, rill_step *s, rill_err *err);
    void (*destroy)(rill_node *n);
    /* Optional. after_step runs in training after the optimizer update, with the step's
     * batch (CEL's cluster optimisation). save and load carry state a node keeps between
     * steps through checkpoints (*buf malloc'd; load gets what save wrote; a save of 0 bytes
     * stores nothing, and load gets 0 bytes when there is nothing stored). field_table
     * (embedding kinds) names the table whose rows count how often field f's ids were seen
     * in training, for per-frequency evaluation. */
    int (*after_step)(rill_node *n, rill_step *s, rill_err *err);
    int (*save)(rill_node *n, void **buf, size_t *len, rill_err *err);
    int (*load)(rill_node *n, const void *buf, size_t len, rill_err *err);
    rill_table *(*field_table)(rill_node *n, int f);
    /* Optional capabilities: code outside a kind's file asks a node what it can do through
     * these, never which kind it is (analyses, attention nodes reading their input).
     * mixture_weights (gate): the mixture weights of the last forward, B x *E (E: its
     * experts, inputs 1 .. nin-1), valid until the step's arena is reset.
     * behaviour_weights (attention over a behaviour sequence: tim, din): writes the weights
     * the last forward gave each of the L behaviour slots into out (B x L, 0 in padding).
     * sequence (embed_seq): *L, the sequence length of its (B, 1 + L, D) output (the target,
     * then L behaviour slots, oldest first, left-padded), and returns the last forward's
     * B x L mask (1 for a real behaviour; NULL before any forward).
     * forwards_input: the output is the one input's values unchanged (stop_gradient), so an
     * analysis can name the node behind it. */
    const float *(*mixture_weights)(const rill_node *n, int *E);
    int (*behaviour_weights)(const rill_node *n, int B, float *out);
    const float *(*sequence)(const rill_node *n, int *L);
    bool forwards_input;
    /* Looking a batch ahead (rill_graph_prefetch). pure: forward reads only the step's batch
     * and the node's settings and writes only its output (encoders), so the graph may run it
     * on the next batch. prefetch (embedding kinds): hands its tables the ids its inputs' ids
     * outputs hold, for B examples (rill_table_prefetch). */
    bool pure;
    void (*prefetch)(rill_node *n, int B);
} rill_node_ops;

struct rill_node {
    const rill_node_ops *ops;
    rill_graph *g;
    int index;
    char name[64];
    char where[192];        /* script file:line that made the node */
    rill_node **in;
    int nin;
    rill_args args;         /* args.map is owned by the node */
    void *st;               /* kind-private state */

    rill_out_kind out_kind;
    int nd, dims[3];        /* per-example shape of a dense output */
    size_t cols;            /* product of dims */
    rill_ids_layout layout; /* of an ids output */
    bool has_params;        /* set when the node declares a parameter or table */
    bool needs_grad;        /* the loss depends on a parameter through this node */
    int label;              /* loss nodes: schema label column */
    double loss_weight;     /* loss nodes: weight in the total */
    double prof_fwd, prof_bwd; /* seconds in training steps' forward and backward, when the
                                * graph profiles (rill_graph_profile) */

    /* this step */
    float *out, *dout;
    rill_ids ids;
    double loss;            /* loss nodes: this step's value, weighted */
    float *example_loss;    /* loss nodes: per example, weighted so they sum to loss */
};

/* Errors from a node say which node, of which kind, made where. */
int rill_node_errf(const rill_node *n, int code, rill_err *err, const char *fmt, ...)
    RILL_PRINTF(4, 5);
/* Arena allocation with a node-named error on failure. */
void *rill_node_alloc(rill_node *n, rill_step *s, size_t bytes, bool zero, rill_err *err);
/* Input i as a field list: a 1-D input of width D is one field, an F x D input is F fields. */
int rill_node_fields(const rill_node *in, int *F, int *D);

#endif
