/* What a run's store holds, read without building a graph (rill inspect, the crash tests'
 * digests, the Lua side's look at the pipeline a run was made with). Each opens the store
 * read-only and closes it before returning. */
#ifndef RILL_INSPECT_H
#define RILL_INSPECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "store.h"
#include "train.h"

typedef struct rill_inspect_result {
    rill_store_entry *entry; /* tables and dense parameters, in the store's order */
    int nentries;
    rill_store_info info;
    bool has_state;          /* the run has a checkpoint: state says where it stands */
    rill_train_state state;
} rill_inspect_result;

/* Lists the run's store; with check, also verifies it (rill_store_verify). On an error
 * after the store was opened, res still holds what was read (free it either way). */
int rill_inspect_run(const char *run, bool check, rill_inspect_result *res, rill_err *err);
void rill_inspect_result_free(rill_inspect_result *res);
/* The digest of the run's last checkpoint (rill_store_digest). */
int rill_inspect_digest(const char *run, uint64_t *digest, rill_err *err);
/* The text kept under key in the run's store (*val malloc'd); RILL_EOF when there is none. */
int rill_inspect_meta(const char *run, const char *key, void **val, size_t *len,
                      rill_err *err);

#endif
