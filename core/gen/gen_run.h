/* The generators as the commands run them: settings read from a rill_args (what the binding
 * converts a script's table into; a misspelt setting is refused by name), the output written
 * whole or not at all. */
#ifndef RILL_GEN_RUN_H
#define RILL_GEN_RUN_H

#include <stdio.h>

#include "args.h"
#include "err.h"

/* A generator writing to out, as rill_gen_criteo and rill_gen_multitask do. */
typedef int (*rill_generator_fn)(const void *cfg, FILE *out, rill_err *err);

/* Runs gen into the file out ("-": stdout), written under out.tmp and renamed when complete,
 * so a refused setting or a failed write leaves no partial file. An out that exists and is
 * not a regular file (a pipe, /dev/stdout, a link to a device) is written directly: renaming
 * over it would replace it with a file. Errors name out. */
int rill_gen_write(const char *out, rill_generator_fn gen, const void *cfg, rill_err *err);

/* {rows =, seed =, out =, max_cardinality =, interaction =, entity_clusters =} */
int rill_gen_criteo_run(rill_args *a, rill_err *err);
/* {rows =, seed =, sample =, out =, correlation =, rate1 =, rate2 =, repeat_rate =,
 * repeat_lift =}: absent settings take rill_gen_multitask_defaults'; their ranges are
 * checked by the generator, whose messages name them */
int rill_gen_multitask_run(rill_args *a, rill_err *err);
/* {rows =, ids =, exponent =, seed =, out =} (the store benchmark's data) */
int rill_gen_zipf_run(rill_args *a, rill_err *err);
/* {rows =, seed =, from =, max_cardinality =, interaction =, entity_clusters =}: the AUC of
 * the planted model's true logit (*auc) and of its first-order part (*auc1) on rows
 * [from, rows) of that generated file: the ceiling a model can reach there, and what one
 * without interactions can at most. */
int rill_gen_criteo_truth_run(rill_args *a, double *auc, double *auc1, rill_err *err);

#endif
