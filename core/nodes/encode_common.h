/* Shared by the encode node kinds: resolving field names and building ids layouts. */
#ifndef RILL_ENCODE_COMMON_H
#define RILL_ENCODE_COMMON_H

#include "graph.h"

enum { RILL_FIELD_CAT, RILL_FIELD_NUM };

/* Reads argument 'fields' (a name or list of names) and resolves each in the schema's
 * categorical or numeric columns; *cols (malloc'd) gets the column indexes. */
int rill_encode_fields(rill_node *n, int kind, int **cols, int *F, rill_err *err);
/* Fills n->layout for F fields with one table per field of rows[f] rows, or one shared
 * table of rows[0] rows. Field names come from the schema. */
int rill_encode_layout(rill_node *n, int kind, const int *cols, int F, const int64_t *rows,
                       bool shared, rill_err *err);

#endif
