/* The list of node kinds. */
#ifndef RILL_NODES_H
#define RILL_NODES_H

#include "node.h"

extern const rill_node_ops rill_node_encode_hash, rill_node_encode_log, rill_node_encode_bucket,
    rill_node_embed, rill_node_interact_concat, rill_node_interact_dot, rill_node_interact_fm,
    rill_node_interact_cross, rill_node_mlp, rill_node_tower, rill_node_add, rill_node_loss_bce, rill_node_feed, rill_node_embed_mlet, rill_node_relu,
    rill_node_embed_cel, rill_node_encode_mnse, rill_node_similarity, rill_node_embed_seq,
    rill_node_tim, rill_node_din, rill_node_gate, rill_node_stop_gradient;

#define RILL_NODE_KIND_COUNT 23

const rill_node_ops *rill_node_kind(const char *name);
const rill_node_ops *rill_node_kind_at(int i); /* NULL past the end */

/* The values a feed node gives this step: (B, its shape), borrowed until forward. */
void rill_feed_set(rill_node *n, const float *data);
/* A gate's mixture weights from its last forward: B x E (E experts, *E set), valid until the
 * step's arena is reset. */
const float *rill_gate_weights(const rill_node *n, int *E);

#endif
