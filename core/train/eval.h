/* What the training loop (train.c) shares with evaluation (eval.c) beyond train.h's
 * rill_evaluate. Private to core/train. */
#ifndef RILL_EVAL_H
#define RILL_EVAL_H

#include "train.h"

/* The graph's loss nodes, one per task, into out (room for RILL_MAX_TASKS): their count, or
 * < 0 with err filled when there are none or too many. */
int rill_loss_nodes(rill_graph *g, rill_node **out, rill_err *err);

#endif
