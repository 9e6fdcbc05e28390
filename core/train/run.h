/* A run as the commands start it: the settings of rill.train / rill.evaluate / rill export
 * (a rill_args each, what the binding converts a script's tables into) turned into readers, a
 * store and the trainer's configuration, then one call. Also what the analyses share: a data
 * specification and a finished run opened for reading. Errors name the call ("rill.train at
 * dlrm.lua:40: ...", from the rill_args' who) and what to do. */
#ifndef RILL_RUN_H
#define RILL_RUN_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "args.h"
#include "err.h"
#include "graph.h"
#include "reader.h"
#include "store.h"
#include "train.h"

/* The data table of a call: the reader configuration of its training part, and where its
 * validation part is (a file of its own, or a share of the data file). */
typedef struct rill_data_spec {
    rill_reader_cfg cfg;
    const char *valid_path; /* points into the rill_args' tree */
    double valid;
} rill_data_spec;

/* {path =, format =, valid =, valid_path =, split =, shuffle =, on_bad_line =, max_bad =,
 * max_line =, threaded =, cache =}; an unknown key is an error. cache: "auto" (the default:
 * rill_data_cache_dir), "off", or a directory for the data cache (core/data/reader_cache.c). */
int rill_data_spec_read(rill_args *a, const rill_schema *schema, int batch, uint64_t seed,
                        rill_data_spec *d, rill_err *err);
/* Where the data caches go by default: $RILL_CACHE_DIR ("off": nowhere), else
 * $XDG_CACHE_HOME/rill, else $HOME/.cache/rill; NULL when none is set. */
const char *rill_data_cache_dir(void);
typedef struct rill_read_result {
    uint64_t rows, batches, bad_lines;
    double open_seconds; /* opening the reader: counting lines, writing the cache if needed */
    double seconds, cpu_seconds; /* reading every batch after that, wall clock and CPU */
    bool cached;                 /* the rows came from the data cache */
} rill_read_result;
/* rill.data.read: every batch of the data's training part once, on the calling thread (the
 * loader thread off), as fast as the reader gives them; what the loader costs a core. */
int rill_run_read_all(const rill_schema *schema, rill_args *data, int batch,
                      rill_read_result *res, rill_err *err);
/* What evaluation and the analyses read, in file order: the whole file at path when one is
 * given, else the run's validation part (its own file, or its share of the data file). */
int rill_run_open_validation(rill_data_spec *d, const char *path, rill_reader **r,
                             rill_err *err);
/* A finished run for evaluation: its store read-only (the copy at the best evaluation when
 * early stopping kept one), checked to be this graph's, g built on it, the dense parameters
 * restored. RILL_ESTORE when the run is another graph's or has no checkpoint. */
int rill_run_open_for_reading(rill_graph *g, const char *run, uint64_t seed, rill_err *err);

typedef struct rill_run_result {
    rill_train_result train;
    bool has_store;        /* a run directory was given: store has its checkpoint figures */
    rill_store_info store;
} rill_run_result;

/* rill.train: opts {epochs =, batch =, ..., optim = {...}, run =, resume =, cache =, meta =,
 * init_from =} and data (rill_data_spec_read) on a fresh graph g. The store is opened last,
 * so a start that fails on its settings or data leaves an old run as it was. *stop set
 * (Ctrl-C) ends training after the step and saves: res->train.interrupted, not an error. */
int rill_run_train(rill_graph *g, rill_args *data, rill_args *opts,
                   volatile sig_atomic_t *stop, rill_run_result *res, rill_err *err);
/* rill.evaluate: opts {run =, export =, path =, predict = (a file, "-": stdout), batch =,
 * threads =, seed =, frequency = {field =, bounds =, from = "table" | "data"}}. */
int rill_run_evaluate(rill_graph *g, rill_args *data, rill_args *opts, rill_eval_result *res,
                      rill_err *err);
/* rill export: {run =, out =, pipeline =, settings =} on a fresh graph: the run's last
 * checkpoint (or its best copy) as .npy files and a manifest. */
int rill_run_export(rill_graph *g, rill_args *a, rill_err *err);
/* g:save(path) / g:load(path) of the dense parameters; g is built first if it has not been. */
int rill_run_params_file(rill_graph *g, const char *path, bool save, rill_err *err);

#endif
