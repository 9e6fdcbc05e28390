/* Singular spectra of a run's embedding tables (spectrum.h does the maths): each table's, and
 * that of tables read side by side (multi-embedding: a field's M sets as one embedding). MLET
 * tables are taken collapsed (each row times the table's projection), as they are exported. */
#ifndef RILL_TABLE_SPECTRUM_H
#define RILL_TABLE_SPECTRUM_H

#include <stdint.h>

#include "args.h"
#include "err.h"
#include "graph.h"

typedef struct rill_spectrum_result {
    char name[256];
    uint64_t rows; /* rows taken */
    int dim;
    double ia;     /* information abundance; 0 with no rows */
    double *sv;    /* dim singular values, largest first (rows > 0) */
} rill_spectrum_result;

/* The table of g named name, or -1. */
int rill_graph_table_index(const rill_graph *g, const char *name);
/* The spectrum of tables members[0..nm) of g read side by side: for each row id of the first
 * table (trained in min_count steps or more; 0: all), its rows in all of them concatenated
 * (zeros where a table has no such row). nm = 1: one table's spectrum. */
int rill_tables_spectrum(rill_graph *g, const int *members, int nm, uint64_t min_count,
                         const char *name, rill_spectrum_result *out, rill_err *err);
/* core.spectrum's request a: {run =, tables = true (each table's spectrum), min_count = 0,
 * joint = {{name =, tables = {NAME, ...}}, ...}}: opens the run unless g is built, then
 * *out gets *n results (each table's, then each joint group's; free with
 * rill_spectrum_results_free). */
int rill_analyze_spectrum(rill_graph *g, rill_args *a, rill_spectrum_result **out, int *n,
                          rill_err *err);
void rill_spectrum_results_free(rill_spectrum_result *r, int n);

#endif
