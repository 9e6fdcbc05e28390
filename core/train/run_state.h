/* The run state a checkpoint keeps besides the parameters: enough for the training loop to
 * continue exactly where it was (train.c), and for rill inspect to say where a run is.
 *
 * Saved field by field (core/blob.h): adding a field is a new tag with a default for blobs
 * written before it, no shadow struct. Version 3 is the first in this form; versions 1 and 2
 * were the raw bytes of the struct, which the legacy reader (run_state.c) still loads. */
#ifndef RILL_RUN_STATE_H
#define RILL_RUN_STATE_H

#include <stddef.h>
#include <stdint.h>

#include "batch.h"
#include "err.h"
#include "train.h"

/* The tags: the run state's, an evaluation's (RILL_RS_BEST, RILL_RS_LAST: nested blobs), a
 * task's metrics (RILL_EV_TASK + k) and a frequency bucket's (RILL_EV_FREQ + j). Never reuse
 * one: a field that goes away leaves its number unused. */
enum {
    RILL_RS_STEP = 1, RILL_RS_EXAMPLES, RILL_RS_BAD_TOTAL, RILL_RS_BEST_STEP,
    RILL_RS_METRICS_BYTES, RILL_RS_EPOCH, RILL_RS_EPOCH_DONE, RILL_RS_FINISHED,
    RILL_RS_SINCE_BEST, RILL_RS_EARLY_STOPPED, RILL_RS_HAS_POS, RILL_RS_EMA, RILL_RS_EMA_W,
    RILL_RS_POS_EPOCH, RILL_RS_POS_CHUNK, RILL_RS_POS_BATCH, RILL_RS_POS_OFFSET,
    RILL_RS_POS_LINE, RILL_RS_POS_BAD_LINES, RILL_RS_BEST, RILL_RS_LAST,
    RILL_RS_END = 0xffff, /* written last: a blob cut at a field boundary lacks it */
};
enum {
    RILL_EV_NTASKS = 1, RILL_EV_ROWS, RILL_EV_SECONDS, RILL_EV_FREQ_FIELD, RILL_EV_NFREQ,
    RILL_EV_TASK = 0x100, RILL_EV_FREQ = 0x200,
};
enum {
    RILL_TM_TASK = 1, RILL_TM_LABEL, RILL_TM_AUC, RILL_TM_LOGLOSS, RILL_TM_POS_RATE,
    RILL_TM_MEAN_PRED, RILL_TM_N, RILL_TM_GAUC, RILL_TM_GROUPS,
};
enum { RILL_FQ_LO = 1, RILL_FQ_HI, RILL_FQ_AUC, RILL_FQ_LOGLOSS, RILL_FQ_N };

typedef struct rill_run_state {
    uint64_t step, examples, bad_total, best_step, metrics_bytes;
    int32_t epoch;           /* the epoch the last step belonged to */
    int32_t epoch_done;      /* its end-of-epoch work (evaluation) is done too */
    int32_t finished;        /* training ended (all epochs, max_steps or early stop) */
    int32_t since_best, early_stopped, has_pos;
    rill_data_pos pos;       /* the last step's batch */
    double ema, ema_w;       /* the smoothed loss, as a weighted sum and its weight */
    rill_eval_result best, last;
} rill_run_state;

/* st as a blob (*blob malloc'd). RILL_ENOMEM. */
int rill_run_state_save(const rill_run_state *st, void **blob, size_t *len, rill_err *err);
/* A blob of rill_run_state_save's, or of the raw form of versions 1 and 2, into *st (fields
 * the blob lacks take their defaults: zero, and NaN for metrics). RILL_ESTORE, naming what is
 * wrong, for a blob that is not a run state, is truncated or damaged, or is newer than this
 * build. */
int rill_run_state_load(rill_run_state *st, const void *blob, size_t len, rill_err *err);

#endif
