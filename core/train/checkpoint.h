/* Checkpoints of a graph: the graph side of the store's checkpoint. It hands the store the
 * dense parameters, node state and run state; the store writes them with the dirty rows in
 * one transaction (store.h). Reading back fills a graph built on the store. */
#ifndef RILL_CHECKPOINT_H
#define RILL_CHECKPOINT_H

#include <stddef.h>

#include "err.h"
#include "graph.h"
#include "store.h"

/* The checkpoint of g on s with state (the run state, opaque here) in one transaction. */
int rill_checkpoint_write(rill_store *s, rill_graph *g, const void *state, size_t state_len,
                          rill_err *err);
/* Reads back the last checkpoint: dense parameters and node state into g (built on s; NULL
 * reads only the run state) and the run state (malloc'd into *state). RILL_EOF when s has no
 * checkpoint yet. */
int rill_checkpoint_read(rill_store *s, rill_graph *g, void **state, size_t *state_len,
                         rill_err *err);

#endif
