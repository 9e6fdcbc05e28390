/* Optimizers. Dense parameters: SGD, Adam, AdamW over whole blocks. Embedding rows: SGD,
 * Adagrad, row-wise Adagrad and lazy Adam, applied only to the rows a batch touched; a row
 * is stored as its dim weights followed by its optimizer state (rill_optim_row_state
 * floats), so the store keeps a row and its state together. Definitions follow
 * torch.optim (Adam, AdamW, Adagrad, SparseAdam) and FBGEMM's exact row-wise Adagrad. */
#ifndef RILL_OPTIM_H
#define RILL_OPTIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "args.h"

typedef enum {
    RILL_OPT_SGD,
    RILL_OPT_ADAM,
    RILL_OPT_ADAMW,
    RILL_OPT_ADAGRAD,
    RILL_OPT_ROWWISE_ADAGRAD,
    RILL_OPT_LAZY_ADAM,
    RILL_OPT_NONE, /* rows the engine writes itself (CEL's assignment): no update, no state */
} rill_optim_kind;

typedef struct rill_optim {
    rill_optim_kind kind;
    double lr, beta1, beta2, eps, weight_decay, initial_acc;
    double l2; /* embedding rows: L2 penalty, added to a touched row's gradient */
} rill_optim;

const char *rill_optim_name(rill_optim_kind k);
/* Reads {kind = "adam", lr = ..., ...} from a settings table. sparse selects which kinds are
 * allowed (embedding rows) and the defaults. */
int rill_optim_parse(rill_args *spec, bool sparse, rill_optim *o, rill_err *err);
/* Floats of optimizer state stored after a row of `dim` weights. */
int rill_optim_row_state(const rill_optim *o, int dim);

/* One dense step on n values: w, its gradient g, state m and v (NULL for SGD). t is the
 * 1-based step count; lr already includes the schedule. */
void rill_optim_dense_step(const rill_optim *o, float *w, const float *g, float *m, float *v,
                           size_t n, double lr, uint64_t t);
/* One step on a touched row: row holds dim weights then the state; g is the row's gradient
 * (L2 is added here). t is the 1-based global step (lazy Adam's bias correction). */
void rill_optim_row_step(const rill_optim *o, float *row, const float *g, int dim, double lr,
                         uint64_t t);

#endif
