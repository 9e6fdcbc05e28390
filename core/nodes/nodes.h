/* The list of node kinds. */
#ifndef RILL_NODES_H
#define RILL_NODES_H

#include "node.h"

/* The only list of node kinds, in the order kinds are listed to users: one line registers a
 * kind (its ops table is rill_node_NAME, defined in core/nodes/node_NAME.c); the declarations,
 * the table and the count all come from it, so a kind cannot be half-registered. */
#define RILL_NODE_KINDS(X)                                                                 \
    X(encode_hash) X(encode_log) X(encode_bucket) X(embed) X(interact_concat)              \
    X(interact_dot) X(interact_fm) X(interact_cross) X(mlp) X(tower) X(add) X(loss_bce)   \
    X(feed) X(embed_mlet) X(relu) X(embed_cel) X(encode_mnse) X(similarity) X(embed_seq)  \
    X(tim) X(din) X(gate) X(stop_gradient)

#define RILL_NODE_DECLARE(k) extern const rill_node_ops rill_node_##k;
RILL_NODE_KINDS(RILL_NODE_DECLARE)
#undef RILL_NODE_DECLARE

#define RILL_NODE_ONE(k) +1
enum { RILL_NODE_KIND_COUNT = 0 RILL_NODE_KINDS(RILL_NODE_ONE) };
#undef RILL_NODE_ONE

const rill_node_ops *rill_node_kind(const char *name);
const rill_node_ops *rill_node_kind_at(int i); /* NULL past the end */

/* The values a feed node gives this step: (B, its shape), borrowed until forward. */
void rill_feed_set(rill_node *n, const float *data);

#endif
