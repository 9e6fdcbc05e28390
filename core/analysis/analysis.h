/* Analyses of a trained run over its validation data: the graph runs forward over every
 * batch (no training) and what some nodes computed is averaged. Nodes are found by what they
 * can do (node.h: mixture_weights, behaviour_weights, sequence, forwards_input), not by kind.
 * Each takes the call's options and data as rill_args (the binding's conversion of the
 * script's tables; data as rill_data_spec_read reads it), fills a result the caller frees
 * with its _free, and returns RILL_OK or an error that names the analysis. */
#ifndef RILL_ANALYSIS_H
#define RILL_ANALYSIS_H

#include <stddef.h>
#include <stdint.h>

#include "args.h"
#include "err.h"
#include "graph.h"

typedef struct rill_gate_means {
    const char *gate;    /* the gate node's name (the graph's) */
    int nexperts;
    const char **expert; /* the node behind each expert (through pass-through nodes) */
    double *mean;        /* mean mixture weight of each expert; NAN with no rows */
} rill_gate_means;

typedef struct rill_gates_result {
    int ngates;
    rill_gate_means *gate;
    uint64_t rows;
} rill_gates_result;

/* opts {run =}: every gate's mean mixture weight of each of its experts over the validation
 * part (AME: which embedding sets a task leans on). RILL_EINVAL when the graph has no gate. */
int rill_analyze_gates(rill_graph *g, rill_args *data, rill_args *opts, rill_gates_result *res,
                       rill_err *err);
void rill_gates_result_free(rill_gates_result *res);

/* A mean over the validation rows, keyed by two 64-bit values (a category hash or a position,
 * and the target's category hash). */
typedef struct rill_pair_mean {
    uint64_t first, target;
    double mean;
    uint64_t count;
} rill_pair_mean;

typedef struct rill_attention_result {
    int L; /* the sequence length; the arrays below have L + 1 entries, position 1..L */
    double *mean;    /* mean weight at position p before the target (1 = newest) */
    double *lift;    /* mean of weight x the row's behaviours (1: an even spread); NAN: none */
    uint64_t *count;
    rill_pair_mean *pairs; /* (behaviour category, target category): mean weight */
    size_t npairs;
    rill_pair_mean *position_targets; /* (position, target category): mean lift */
    size_t nposition_targets;
} rill_attention_result;

/* opts {run =, node =, target_cat =, sequence_cat =}: the attention weights node (one with
 * behaviour weights, over a node giving a sequence: tim or din over embed_seq) gave over the
 * validation part, by position and by category pair (the categorical fields target_cat and
 * sequence_cat, when both are given). */
int rill_analyze_attention(rill_graph *g, rill_args *data, rill_args *opts,
                           rill_attention_result *res, rill_err *err);
void rill_attention_result_free(rill_attention_result *res);

#endif
