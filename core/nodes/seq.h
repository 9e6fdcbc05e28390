/* Between embed_seq and the attention nodes that read its output (tim): which of a row's
 * behaviour slots are real. */
#ifndef RILL_SEQ_H
#define RILL_SEQ_H

#include "node.h"

/* If n gives a sequence (its ops' sequence capability: embed_seq): its length L (the output
 * is (B, 1 + L, D): the target, then L behaviour slots, oldest first, left-padded), and this
 * step's mask (B x L, 1 for a real behaviour). NULL for any other node. */
const float *rill_embed_seq_mask(const rill_node *n, int *L);

/* For an attention node over a target and its behaviours: checks n's inputs (one embed_seq,
 * or a dense (B, 1 + L, D) node and its (B, L) mask) and gives L; an error names n. */
int rill_seq_input(rill_node *n, int *L, rill_err *err);
/* This step's mask of n's behaviours (above 0.5: real), for a node rill_seq_input accepted. */
const float *rill_seq_mask_of(const rill_node *n);

/* The attention weights the last forward of n (a node with the behaviour_weights capability:
 * tim, din) gave each behaviour slot: out gets B x L values, 0 in padding (tim: the softmax;
 * din: the activation unit's unnormalised weights). RILL_EINVAL for other nodes. */
int rill_seq_weights(const rill_node *n, int B, float *out);

#endif
