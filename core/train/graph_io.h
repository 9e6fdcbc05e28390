/* A graph's parameters in files of their own: exports for inference (export.c) and parameter
 * files (params_file.c). Graph I/O, on the graph's side of the store (store.h knows no
 * graph); checkpoints are checkpoint.h. */
#ifndef RILL_GRAPH_IO_H
#define RILL_GRAPH_IO_H

#include "err.h"
#include "graph.h"

/* Writes DIR/manifest.json, one .npy per table (ids and weights, no optimizer state) and per
 * dense parameter, and the pipeline and its settings (either may be NULL). A stored table
 * must have no unsaved rows. */
int rill_export(rill_graph *g, const char *dir, const char *pipeline, const char *settings,
                rill_err *err);
/* Loads an export into g, built in RAM from the same pipeline. */
int rill_import(rill_graph *g, const char *dir, rill_err *err);

/* A run's parameters in one file (no store: g:save / g:load): every dense parameter of the
 * graph (by name) and every table's rows. Load checks names and shapes against the graph, so
 * parameters from another pipeline give a clear error instead of a silently wrong model. */
int rill_params_save(rill_graph *g, const char *path, rill_err *err);
int rill_params_load(rill_graph *g, const char *path, rill_err *err);

#endif
