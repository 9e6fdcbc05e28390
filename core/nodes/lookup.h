/* The embedding lookup the embed node kinds share: one table per input table, a step that
 * deduplicates each table's ids, asks the store for each distinct row once, pools a field's
 * rows (sum or mean) into (B, F, D), and in backward sums each distinct row's gradient in a
 * fixed order (so results do not depend on the thread count) before staging it with the
 * table. In evaluation, rows that do not exist read as zeros and are not created. Tables are
 * independent, so they run in parallel. */
#ifndef RILL_LOOKUP_H
#define RILL_LOOKUP_H

#include "graph.h"
#include "store.h"

typedef struct table_work table_work;

/* Settings every embed kind reads: pooling, optim, init, admit, prefill, evict_after. */
typedef struct rill_lookup_args {
    bool mean;
    rill_optim opt;
    double init;
    rill_table_opts topts;
} rill_lookup_args;

typedef struct rill_lookup {
    int F, D;
    bool mean;
    int ntables;
    table_work *t;
    /* output positions: field f fills base[f] .. base[f] + slots[f] - 1 of Fout; a field of
     * one slot is pooled, a field of L slots is a sequence (below) */
    int *slots, *base, Fout;
} rill_lookup;

/* Checks that n's inputs are ids and reads the shared arguments. */
int rill_lookup_read_args(rill_node *n, rill_lookup_args *a, rill_err *err);
/* Declares one table of width D per input table, named after its field (or its input, for a
 * shared table) followed by suffix. */
int rill_lookup_create(rill_node *n, rill_lookup *lk, int D, const rill_lookup_args *a,
                       const char *suffix, rill_err *err);
/* Makes field f a sequence of L slots: its last L values (the newest, when a sequence is
 * listed oldest first) fill the last slots, one value each and not pooled; the slots before
 * them are zeros (left padding). The output becomes (B, Fout, D). Call after create. */
int rill_lookup_set_slots(rill_lookup *lk, int f, int L);
/* out (B, Fout, D): written, not accumulated */
int rill_lookup_forward(rill_node *n, rill_step *s, rill_lookup *lk, float *out, rill_err *err);
/* dout (B, Fout, D): the gradient of the output */
int rill_lookup_backward(rill_node *n, rill_step *s, rill_lookup *lk, const float *dout,
                         rill_err *err);
void rill_lookup_free(rill_lookup *lk);
/* The ids this step's batch holds in the given fields of an ids node (a table's values), and
 * the open-addressing map size for them (a power of two, at least twice as many). */
size_t rill_lookup_count(const rill_node *src, const int *src_field, int nfields, int B,
                         size_t *map_cap);
/* The table behind field f's pooled vector. */
rill_table *rill_lookup_table_of_field(const rill_lookup *lk, int f);
/* Where the graph will put table t (in input order) once built. */
rill_table **rill_lookup_table_slot(rill_lookup *lk, int t);

#endif
