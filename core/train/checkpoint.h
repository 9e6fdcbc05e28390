/* Checkpoints of a graph: the graph side of the store's checkpoint (store.h). The store knows
 * no graph; this file walks it and hands the store its values, which the store writes with
 * the dirty rows and the run state in one write transaction:
 *   dense space, key = the parameter's name: its n floats, then for a trainable parameter
 *     Adam's m and v (n floats each), 3n floats in all;
 *   state space, key = "node:NAME": what the node's save wrote, for every node with a save
 *     that wrote something (a save of 0 bytes stores nothing);
 *   state space, key = "run": the run state (opaque here; train.c's blob).
 * Reading back checks every parameter is there with its size ("the store belongs to another
 * graph" otherwise) and gives every node with a load its state, or 0 bytes when none is
 * stored (a node that keeps none accepts that; one that needs state makes it an error). */
#ifndef RILL_CHECKPOINT_H
#define RILL_CHECKPOINT_H

#include <stddef.h>

#include "err.h"
#include "graph.h"
#include "store.h"

/* The checkpoint of g on s with state (the run state, opaque here) in one transaction. g may
 * be NULL (tests): then only the tables and the run state are written. */
int rill_checkpoint_write(rill_store *s, rill_graph *g, const void *state, size_t state_len,
                          rill_err *err);
/* Reads back the last checkpoint: dense parameters and node state into g (built on s; NULL
 * reads only the run state) and the run state (malloc'd into *state). RILL_EOF when s has no
 * checkpoint yet. */
int rill_checkpoint_read(rill_store *s, rill_graph *g, void **state, size_t *state_len,
                         rill_err *err);

#endif
