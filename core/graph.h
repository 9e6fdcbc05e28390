/* The graph: named nodes in the order the script added them (inputs always come first, so
 * that order is a topological one), dense parameters in one block, embedding tables, and
 * the step that runs forward and backward over a batch. Defining the graph computes
 * nothing; rill_graph_build allocates and initialises the parameters. */
#ifndef RILL_GRAPH_H
#define RILL_GRAPH_H

#include "node.h"
#include "optim.h"

/* The store's types, by name only: the graph holds tables and a store but core/ sees the
 * store's functions only where it includes store.h. */
typedef struct rill_table rill_table;
typedef struct rill_store rill_store;
typedef struct rill_table_opts rill_table_opts;

typedef enum {
    RILL_INIT_ZERO,
    RILL_INIT_ONE,
    RILL_INIT_XAVIER, /* uniform(+-sqrt(6/(fan_in+fan_out))) with fan_in = cols, fan_out = rows */
    RILL_INIT_UNIFORM, /* uniform(+-scale) */
    RILL_INIT_NORMAL,  /* normal(0, scale) */
} rill_init;

struct rill_param {
    char name[128];          /* "node.W1" */
    rill_node *node;
    int rows, cols;
    size_t n;
    rill_init init;
    double scale;
    bool trainable;          /* false for running statistics */
    float *data, *grad;      /* carved from the graph's blocks at build */
    float *m, *v;            /* optimizer state (Adam) */
};

struct rill_graph {
    const rill_schema *schema;
    rill_node **nodes;
    int nnodes, cap;
    rill_param **params;
    int nparams;
    rill_table **tables;
    rill_node **table_owner;
    int ntables;
    float *param_block;      /* data | grad | m | v of every dense parameter */
    size_t param_floats;
    bool built;
    uint64_t seed;
    rill_store *store;        /* the run's store the tables live in, or NULL (RAM only) */
    bool collapsed;           /* inference form: factorised embeddings (MLET) as one table */
    rill_param **table_proj;  /* per table: the matrix an export applies to its rows, or NULL */
    rill_optim default_sparse;  /* for embed nodes that do not name an optimizer */
    rill_precision precision;   /* of the dense GEMMs in training and in the evaluations run
                                 * beside it (rill.train{ precision }); RILL_FP32 by default */
    /* where training steps' time goes (rill bench, RILL_PROFILE=1): per node in rill_node,
     * and here the update, the gradients' zeroing before backward, and the trainer's waits
     * for the loader's next batch; seconds */
    bool profile;
    double prof_update, prof_zero, prof_loader;
};

int rill_graph_create(rill_graph **g, const rill_schema *schema, rill_err *err);
void rill_graph_free(rill_graph *g);

/* Adds a node of the named kind. inputs are borrowed; args (a RILL_V_MAP, may be NULL) is
 * taken over by the node, also on failure. where is "file:line" of the script. On error
 * (unknown kind, bad argument, shape mismatch) nothing is added and err names the node and
 * where. */
int rill_graph_add(rill_graph *g, const char *kind, const char *name, const char *where,
                   rill_node **inputs, int nin, rill_value *args, rill_node **out,
                   rill_err *err);
rill_node *rill_graph_find(const rill_graph *g, const char *name);
/* The node kinds, for messages: "add, embed, encode_bucket, ..." */
const char *rill_node_kind_list(void);

/* Called by nodes from create. */
rill_param *rill_graph_param(rill_graph *g, rill_node *n, const char *name, int rows, int cols,
                             rill_init init, double scale, rill_err *err);
int rill_graph_table(rill_graph *g, rill_node *n, const char *name, int64_t rows, int dim,
                     const rill_optim *opt, double init_scale, const rill_table_opts *opts,
                     rill_table **out, rill_err *err);

/* Makes an export multiply every row of the table behind *slot by proj (rows x cols = the
 * table's dim x the exported dim): MLET exports W1 W2 as one table. */
void rill_graph_table_projection(rill_graph *g, rill_table **slot, rill_param *proj);

/* Allocates and initialises parameters (deterministic in seed), tables in RAM. */
int rill_graph_build(rill_graph *g, uint64_t seed, rill_err *err);
/* The same with the tables in a run's store, which the graph takes over (closed with it). */
int rill_graph_build_on(rill_graph *g, uint64_t seed, rill_store *store, rill_err *err);
/* A text that changes when anything that shapes the parameters changes: node kinds, names,
 * inputs, arguments, the data's columns (malloc'd). */
char *rill_graph_signature(const rill_graph *g);

/* Looks one batch ahead (training with a store): the pure ids nodes (encoders) run on b with
 * the step memory of `arena`, and every node that looks rows up and reads only such nodes
 * hands their ids to its tables; the store then reads the rows its caches lack on its I/O
 * threads while the current step computes. Changes no value and no node's output of the
 * step in progress. */
int rill_graph_prefetch(rill_graph *g, const rill_batch *b, rill_arena *arena, rill_err *err);
/* Forward over the step's batch; sets every node's output and, for loss nodes, n->loss.
 * *loss gets the weighted sum of the loss nodes (may be NULL). */
int rill_graph_forward(rill_graph *g, rill_step *s, double *loss, rill_err *err);
/* Zeroes dense gradients, runs backward from the loss nodes. Embedding nodes leave their
 * rows' gradients with their tables for rill_graph_update. */
int rill_graph_backward(rill_graph *g, rill_step *s, rill_err *err);
/* Runs every node's after_step hook (training, after rill_graph_update). */
int rill_graph_after_step(rill_graph *g, rill_step *s, rill_err *err);
/* Forward over s's batch (run s->training = false to score without changing anything) and
 * each example's weighted loss summed over the loss nodes into ex (B). */
int rill_graph_example_loss(rill_graph *g, rill_step *s, float *ex, rill_err *err);
/* Sum of squares of every gradient of this step (dense and touched rows). */
double rill_graph_grad_sqnorm(rill_graph *g);
/* Applies the optimizers: dense with `dense` at lr_scale * its lr, tables with their own,
 * all gradients first multiplied by grad_scale (clipping). */
int rill_graph_update(rill_graph *g, const rill_optim *dense, double lr_scale,
                      double grad_scale, uint64_t t, rill_err *err);

size_t rill_graph_dense_count(const rill_graph *g);   /* trainable dense floats */
/* With RILL_PROFILE set in the environment: time per node and step, on stderr. */
/* Starts or stops timing training steps (the figures above); on at creation when RILL_PROFILE
 * is set. Turning it on clears the figures. */
void rill_graph_profile(rill_graph *g, bool on);
void rill_graph_profile_print(const rill_graph *g, uint64_t steps);

/* After a forward pass: the first node (in forward order) whose dense output holds a
 * non-finite value, or failing that one larger in magnitude than `big`; NULL when none does.
 * *worst gets that node's largest magnitude (inf or NaN for a non-finite one). */
rill_node *rill_graph_first_blowup(rill_graph *g, int B, double big, double *worst);

#endif
