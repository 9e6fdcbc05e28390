/* The parameter store: embedding tables whose rows are handed to nodes for one step and
 * updated by the table's own optimizer from the gradients the nodes stage. Node kinds know
 * only this header. Rows are created on first touch, initialised from (seed, row id) so the
 * order of first touches does not change the values.
 *
 * This implementation keeps each table in anonymous memory (pages are only backed once
 * touched) and saves/loads the touched rows of a run; the LMDB-backed store replaces it
 * behind the same functions. */
#ifndef RILL_STORE_H
#define RILL_STORE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "err.h"
#include "optim.h"

typedef struct rill_table rill_table;

/* rows: ids are in [0, rows). init_scale: new rows' weights are uniform(+-init_scale). */
int rill_table_create(rill_table **t, const char *name, int64_t rows, int dim,
                      const rill_optim *opt, uint64_t seed, double init_scale, rill_err *err);
void rill_table_free(rill_table *t);

const char *rill_table_name(const rill_table *t);
int rill_table_dim(const rill_table *t);
int64_t rill_table_rows(const rill_table *t);
const rill_optim *rill_table_optim(const rill_table *t);
uint64_t rill_table_touched(const rill_table *t); /* rows created so far */
/* Distinct rows updated, summed over the steps so far (each was gathered once in forward and
 * read and written once by its optimizer). */
uint64_t rill_table_row_visits(const rill_table *t);
/* Benchmark: random reads of whole rows of `stride` floats from a table-like mapping of
 * `rows` rows, on the pool's threads; *rows_per_s gets the rate. */
int rill_table_bench_gather(int64_t rows, int stride, uint64_t samples, double *rows_per_s,
                            rill_err *err);

/* rows[i] points at the dim weights of ids[i] (its optimizer state follows them); valid
 * until the step's rill_table_apply. Ids must be below rill_table_rows. */
int rill_table_lookup(rill_table *t, const uint64_t *ids, size_t n, float **rows,
                      rill_err *err);
/* Read-only view of a row for evaluation and export; NULL when the row was never created. */
const float *rill_table_peek(const rill_table *t, uint64_t id);

/* Hands the table this step's gradient for n distinct rows (grad is n x dim; it and rows
 * must stay valid until rill_table_apply). A second call in the same step replaces the first. */
void rill_table_stage(rill_table *t, size_t n, const uint64_t *ids, float *const *rows,
                      float *grad);
double rill_table_grad_sqnorm(const rill_table *t);
/* Optimizer step on the staged rows with lr * lr_scale and gradients times grad_scale;
 * clears the stage. t_step is the 1-based global step. */
void rill_table_apply(rill_table *t, double lr_scale, double grad_scale, uint64_t t_step);

/* Saves every created row (id, weights, state) / loads them back into a table of the same
 * name, dim and optimizer. Errors name the table and the file position. */
int rill_table_save(const rill_table *t, FILE *f, rill_err *err);
int rill_table_load(rill_table *t, FILE *f, const char *path, rill_err *err);
/* Calls fn for every created row in id order (export, analysis). */
int rill_table_each(const rill_table *t, int (*fn)(void *ud, uint64_t id, const float *row),
                    void *ud);

/* A run's parameters in one file: every dense parameter of the graph (by name) and every
 * table's created rows. Load checks names and shapes against the graph, so parameters from
 * another pipeline give a clear error instead of a silently wrong model. */
struct rill_graph;
int rill_params_save(struct rill_graph *g, const char *path, rill_err *err);
int rill_params_load(struct rill_graph *g, const char *path, rill_err *err);

#endif
