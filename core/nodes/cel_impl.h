/* Between the embed_cel node kind (node_embed_cel.c: arguments, create, forward, backward,
 * the after_step schedule, the ops) and CEL's cluster machinery beside it: cel_window.c (the
 * gradient window and reassignment's accumulator), cel_split.c (GPCA splits, moving an
 * entity), cel_reassign.c (the probing passes and reassignment), cel_state.c (the
 * checkpointed state, with the reader of the legacy layout). Not a public header: only those
 * files include it. What CEL does and why is at the top of node_embed_cel.c. */
#ifndef RILL_CEL_IMPL_H
#define RILL_CEL_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "graph.h"
#include "idmap.h"
#include "lookup.h"

typedef struct {
    /* fixed */
    int nfields;
    int *fields;           /* output field indexes */
    int *src_field;        /* the field index within src */
    const rill_node *src;
    rill_table *clusters, *assign;
    char name[128];        /* the field (or shared table) name, for messages */
    /* cluster bookkeeping (checkpointed) */
    long used;             /* slots used so far */
    int64_t *members;      /* per slot: entities assigned */
    int32_t *cmap;         /* per slot: this step's distinct-cluster index, -1 (kept clear) */
    /* the window since the last cluster event (checkpointed) */
    size_t wn, wcap;
    uint64_t *wid;
    uint32_t *wcluster, *wocc;
    float *wgrad;          /* wn x D */
    rill_idmap wmap;       /* entity -> its index in wid */
    /* reassignment: each entity seen in the probing steps before the next reassignment,
     * its cluster then, its candidates and its examples' loss summed under its own (0) and
     * each candidate (checkpointed) */
    size_t rn, rcap;
    uint64_t *rid;
    uint32_t *rcur, *rnex, *rcand; /* rcand: rn x candidates */
    double *rloss;                 /* rn x (candidates + 1) */
    rill_idmap rmap;               /* entity -> its index in rid */
    /* this step */
    rill_lookup_occ occ;   /* the distinct entities and each occurrence's */
    size_t ncl;
    uint32_t *ent_cluster, *ent_cl; /* their cluster, and its distinct-cluster index */
    uint64_t *cl;          /* distinct clusters */
    float **cl_rows;
    float *egrad, *cgrad;
} cel_table;

typedef struct {
    int F, D, ntables;
    bool mean_pool, mean_grad;
    long K, split_every, reassign_every, reassign_window, candidates, cluster_until, min_examples;
    cel_table *t;
    int probe;             /* table being probed in reassignment, -1 none */
    const uint32_t *probe_cluster; /* per distinct entity of the probed table */
} cel_state;

/* What reassignment needs of a table's training step, taken before the probing passes
 * overwrite the node's step state. */
typedef struct {
    size_t nu, nocc;
    uint64_t *ent;
    uint32_t *cur, *occ_ent, *occ_b, *nex; /* nex: the entity's examples in the batch */
    float *g;
} cel_snapshot;

/* cel_window.c: the window since the last cluster event, and the reassignment sums */
uint32_t rill_cel_window_index(const cel_table *w, uint64_t id);
int rill_cel_window_add(const cel_state *st, cel_table *w, size_t nu, const uint64_t *ent,
                        const uint32_t *cluster, const float *grad, const uint32_t *occ_count);
void rill_cel_window_clear(cel_table *w);
int rill_cel_acc_reserve(const cel_state *st, cel_table *w, size_t more);
void rill_cel_acc_clear(cel_table *w);

/* cel_split.c */
int rill_cel_move_entity(cel_table *w, uint64_t id, uint32_t from, uint32_t to, rill_err *err);
int rill_cel_split(rill_node *n, cel_table *w, rill_err *err);

/* cel_reassign.c */
int rill_cel_take_snapshot(rill_node *n, cel_table *w, cel_snapshot *sn, rill_err *err);
void rill_cel_snapshot_free(cel_snapshot *sn);
bool rill_cel_probing(const cel_state *st, uint64_t t);
int rill_cel_reassign_probe(rill_node *n, rill_step *s, int ti, const cel_snapshot *sn,
                            rill_err *err);
int rill_cel_reassign_apply(rill_node *n, int ti, rill_err *err);

/* cel_state.c: the node's save and load ops */
int rill_cel_save(rill_node *n, void **buf, size_t *len, rill_err *err);
int rill_cel_load(rill_node *n, const void *buf, size_t len, rill_err *err);

#endif
