/* The embedding lookup the embed node kinds share: one table per input table, a step that
 * deduplicates each table's ids, asks the store for each distinct row once, pools a field's
 * rows (sum or mean) into (B, F, D), and in backward sums each distinct row's gradient in a
 * fixed order (so results do not depend on the thread count) before staging it with the
 * table. In evaluation, rows that do not exist read as zeros and are not created. Tables are
 * independent, so they run in parallel. */
#ifndef RILL_LOOKUP_H
#define RILL_LOOKUP_H

#include "graph.h"
#include "idmap.h"
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
/* Hands each table the ids its inputs' outputs hold for B examples (a batch ahead, from
 * rill_graph_prefetch), for the store to read the rows its cache lacks ahead of the step. */
void rill_lookup_prefetch(const rill_lookup *lk, int B);
/* The ids this step's batch holds in the given fields of an ids node (a table's values), and
 * the open-addressing map size for them (a power of two, at least twice as many). */
size_t rill_lookup_count(const rill_node *src, const int *src_field, int nfields, int B,
                         size_t *map_cap);
/* Where one table's ids come from in a batch and which output slots they fill. */
typedef struct rill_lookup_span {
    const rill_node *src;     /* the ids input */
    const int *src_field;     /* per entry: the field within src */
    const int *fields;        /* per entry: the output field */
    int nfields;
    int Fout;                 /* output slots per example */
    const int *base, *slots;  /* output field f fills base[f] .. base[f] + slots[f] - 1;
                                 NULL: field f is slot f, pooled */
    bool mean;                /* a pooled field's occurrences weigh 1/count */
} rill_lookup_span;

/* A step's occurrences of one table's ids, made distinct; the arrays are step memory (from
 * rill_lookup_plan), valid until the step's arena is reset. */
typedef struct rill_lookup_occ {
    uint64_t *uniq;      /* distinct ids, in order of first sight */
    uint32_t *uniq_of;   /* per occurrence: its distinct id's index */
    uint32_t *out;       /* per occurrence: its output slot, b * Fout + slot */
    float *scale;        /* per occurrence: its pooling weight */
    uint64_t *map_keys;  /* the id map's memory: map_cap slots (rill_lookup_count) */
    uint32_t *map_vals;
    size_t map_cap;
    size_t nocc, nuniq;
} rill_lookup_occ;

/* Counts the span's occurrences in this step's batch (o->nocc) and takes o's arrays for them
 * from n's step memory (the arena is not thread-safe: call before the parallel part).
 * RILL_ENOMEM naming the node. */
int rill_lookup_plan(rill_node *n, rill_step *s, const rill_lookup_span *sp, rill_lookup_occ *o,
                     rill_err *err);
/* Walks the span's ids of a batch of B (fields in order, then examples, then values; a
 * sequence field keeps its last slots[f] values), interning each in an id map over o's map
 * memory: o's arrays, nocc and nuniq filled. */
void rill_lookup_dedupe(const rill_lookup_span *sp, int B, rill_lookup_occ *o);
/* The error of a parallel step over tables that failed: the first worker's of errs (nerrs,
 * one per worker), prefixed with node n, else RILL_ESTORE "table lookup failed". */
int rill_lookup_job_err(const rill_node *n, const rill_err *errs, int nerrs, rill_err *err);
/* The table behind field f's pooled vector. */
rill_table *rill_lookup_table_of_field(const rill_lookup *lk, int f);
/* Where the graph will put table t (in input order) once built. */
rill_table **rill_lookup_table_slot(rill_lookup *lk, int t);

#endif
