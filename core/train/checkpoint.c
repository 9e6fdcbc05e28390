/* Checkpoints of a graph (checkpoint.h). */
#include "checkpoint.h"

int rill_checkpoint_write(rill_store *s, rill_graph *g, const void *state, size_t state_len,
                          rill_err *err)
{
    return rill_store_checkpoint(s, g, state, state_len, err);
}

int rill_checkpoint_read(rill_store *s, rill_graph *g, void **state, size_t *state_len,
                         rill_err *err)
{
    return rill_store_restore(s, g, state, state_len, err);
}
