/* Between embed_seq and the attention nodes that read its output (tim): which of a row's
 * behaviour slots are real. */
#ifndef RILL_SEQ_H
#define RILL_SEQ_H

#include "node.h"

/* If n is an embed_seq node: its sequence length L (the output is (B, 1 + L, D): the target,
 * then L behaviour slots, oldest first, left-padded), and this step's mask (B x L, 1 for a
 * real behaviour). NULL for any other node. */
const float *rill_embed_seq_mask(const rill_node *n, int *L);

#endif
