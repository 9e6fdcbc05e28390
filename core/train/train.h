/* Training and evaluation loops: batches from readers through the graph, the optimizers, the
 * learning-rate schedule, gradient clipping, periodic evaluation with early stopping, a
 * progress line and metrics written as JSON lines in the run directory. */
#ifndef RILL_TRAIN_H
#define RILL_TRAIN_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "graph.h"
#include "reader.h"

enum { RILL_DECAY_NONE, RILL_DECAY_LINEAR, RILL_DECAY_COSINE, RILL_DECAY_EXP };

typedef struct rill_schedule {
    long warmup;         /* steps of linear warmup from lr/warmup to lr */
    int decay;           /* RILL_DECAY_* */
    long decay_start;    /* step where decay begins (after warmup by default) */
    long decay_steps;    /* linear/cosine: steps to reach min_scale; exp: steps per halving */
    double min_scale;    /* lower bound of the lr multiplier */
} rill_schedule;

typedef struct rill_train_cfg {
    int epochs;
    long max_steps;          /* 0: no limit */
    rill_optim dense;
    rill_schedule schedule;
    double clip_norm;        /* 0: no clipping */
    double diverge;          /* a step loss this many times the lowest smoothed loss so far
                              * (after 20 steps) stops training as diverged; 0: 100; < 0: never
                              * (a non-finite loss always stops it) */
    long eval_every;         /* steps between evaluations; 0: at the end of each epoch */
    int patience;            /* early stopping: evaluations without AUC gain; 0: off */
    double min_delta;        /* AUC gain that counts as one */
    uint64_t seed;
    const char *run_dir;     /* metrics.jsonl and timing.jsonl go here; NULL: nowhere */
    rill_store *store;       /* the graph's store: checkpoints go here (NULL: none) */
    long checkpoint_every;   /* steps between checkpoints; 0: only at the end and on Ctrl-C */
    bool resume;             /* continue from the store's last checkpoint */
    bool progress;           /* progress line on stderr */
    bool fold_at_end;        /* with a store: the last checkpoint folds prefilled tables'
                              * generations into their base (rill_store_fold_next) */
    int prefetch;            /* with a store, reading coming batches' rows ahead:
                              * RILL_PREFETCH_AUTO (0, the default), _ON or _OFF */
    long entanglement_every; /* steps between probes of each task's gradient on every embedding
                              * table, logged to run_dir/metrics.jsonl (graphs of 2+ losses
                              * with a run_dir); 0: off */
    volatile sig_atomic_t *stop; /* set asynchronously (Ctrl-C): stop after this step */
} rill_train_cfg;

/* AUTO: on while the training thread waits for the disk (it takes a major page fault a step
 * or more), off again once the process reads nothing from the disk; measured every 16 steps.
 * In memory, reading ahead costs a second pass of the encoders for nothing; from a disk that
 * answers one read in milliseconds it overlaps the reads with each other and with the step. */
enum { RILL_PREFETCH_AUTO = 0, RILL_PREFETCH_ON = 1, RILL_PREFETCH_OFF = 2 };

#define RILL_MAX_TASKS 8

typedef struct rill_task_metrics {
    char task[64];     /* the loss node's name */
    char label[64];
    double auc, logloss, pos_rate;
    double mean_pred;  /* the mean predicted probability (calibration: against pos_rate) */
    uint64_t n;
    double gauc;       /* grouped AUC where the schema groups examples, else NaN */
    uint64_t groups;   /* the groups with both classes that gauc averages */
} rill_task_metrics;

/* Per-frequency evaluation: the examples split by how many training steps saw the id of one
 * categorical field (MLET and CEL claim most of their gain on rare ids). */
#define RILL_MAX_FREQ 6

typedef struct rill_freq_bucket {
    uint64_t lo, hi;   /* training steps seen: [lo, hi) */
    double auc, logloss;
    uint64_t n;
} rill_freq_bucket;

typedef struct rill_eval_result {
    int ntasks;
    rill_task_metrics task[RILL_MAX_TASKS];
    uint64_t rows;
    double seconds;
    char freq_field[64];
    int nfreq;         /* buckets of the first task (0: none) */
    rill_freq_bucket freq[RILL_MAX_FREQ];
} rill_eval_result;

typedef struct rill_freq_cfg {
    char field[64];            /* a categorical field; "" for the one with the largest table */
    uint64_t bounds[RILL_MAX_FREQ - 1];
    int nbounds;               /* default (0): 10, 1000: rare, medium, frequent */
    /* Where the counts come from. NULL: the use counts of the field's embedding rows (how
     * many training steps touched the row; a hashed row counts all ids that share it).
     * A reader (the run's training part): the field's values counted over one pass of it,
     * the same for every model of the data, so variants with different tables compare. */
    rill_reader *count_from;
} rill_freq_cfg;

typedef struct rill_train_result {
    uint64_t steps, examples;
    double seconds, eval_seconds; /* all of it, and the part spent evaluating */
    double examples_per_s;        /* training only: examples / (seconds - eval_seconds) */
    double last_loss;
    rill_eval_result last, best;
    uint64_t best_step;
    bool early_stopped, interrupted;
    uint64_t bad_lines;
    /* the process's disk traffic and major page faults over the training loop (the final
     * checkpoint included; /proc/self/io and getrusage) */
    uint64_t disk_read_bytes, disk_write_bytes, major_faults;
    double final_checkpoint_seconds; /* the last checkpoint's time, which seconds leaves out */
} rill_train_result;

/* Linear warmup then decay; the multiplier of the base learning rates at 1-based step t. */
double rill_schedule_scale(const rill_schedule *s, uint64_t t);

/* Trains g (built) on train; evaluates on valid (may be NULL). With a store, checkpoints every
 * checkpoint_every steps, at the end and when *cfg->stop is set (then returns RILL_EINTR);
 * with resume, continues from the last checkpoint so that the finished run equals one never
 * interrupted (same thread count). */
int rill_train(rill_graph *g, const rill_train_cfg *cfg, rill_reader *train,
               rill_reader *valid, rill_train_result *res, rill_err *err);

/* Forward over every batch of r: AUC and logloss per loss node, and with freq (may be NULL)
 * per frequency bucket of the first task. predictions (may be NULL) gets one line per
 * example: the probability of each task, tab-separated. */
int rill_evaluate(rill_graph *g, rill_reader *r, FILE *predictions, const rill_freq_cfg *freq,
                  rill_eval_result *res, rill_err *err);

/* What a checkpoint says of the run (rill inspect). */
typedef struct rill_train_state {
    uint64_t step, examples, best_step;
    int epoch;
    bool epoch_done, finished, early_stopped;
    rill_eval_result best, last;
} rill_train_state;
int rill_train_state_info(const void *blob, size_t len, rill_train_state *out);

#endif
