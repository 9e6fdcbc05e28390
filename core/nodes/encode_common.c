#include "encode_common.h"

#include <stdlib.h>
#include <string.h>

int rill_encode_fields(rill_node *n, int kind, int **cols, int *F, rill_err *err)
{
    const rill_schema *sc = n->g->schema;
    const char **names = NULL;
    int count = 0, rc;
    *cols = NULL;
    *F = 0;
    if ((rc = rill_args_str_list(&n->args, "fields", &names, &count, err)))
        return rc;
    if (count == 0) {
        free(names);
        return rill_node_errf(n, RILL_EINVAL, err,
                              "argument 'fields' is required: the %s columns to encode, e.g. "
                              "fields = data.%s",
                              kind == RILL_FIELD_CAT ? "categorical" : "numeric",
                              kind == RILL_FIELD_CAT ? "categorical" : "numeric");
    }
    int *c = malloc((size_t)count * sizeof *c);
    if (!c) {
        free(names);
        return rill_node_errf(n, RILL_ENOMEM, err, "out of memory");
    }
    for (int i = 0; i < count; i++) {
        c[i] = kind == RILL_FIELD_CAT ? rill_schema_cat(sc, names[i]) : rill_schema_num(sc, names[i]);
        if (c[i] < 0) {
            int other = kind == RILL_FIELD_CAT ? rill_schema_num(sc, names[i])
                                               : rill_schema_cat(sc, names[i]);
            rc = rill_node_errf(n, RILL_EINVAL, err, "no %s field '%s' in the %s data%s",
                                kind == RILL_FIELD_CAT ? "categorical" : "numeric", names[i],
                                sc->name,
                                other >= 0 ? (kind == RILL_FIELD_CAT
                                                  ? " (it is numeric: use encode_log or encode_bucket)"
                                                  : " (it is categorical: use encode_hash)")
                                           : "");
            free(c);
            free(names);
            return rc;
        }
        for (int k = 0; k < i; k++)
            if (c[k] == c[i]) {
                rc = rill_node_errf(n, RILL_EINVAL, err, "field '%s' is listed twice", names[i]);
                free(c);
                free(names);
                return rc;
            }
    }
    free(names);
    *cols = c;
    *F = count;
    return RILL_OK;
}

int rill_encode_layout(rill_node *n, int kind, const int *cols, int F, const int64_t *rows,
                       bool shared, rill_err *err)
{
    const rill_schema *sc = n->g->schema;
    rill_ids_layout *l = &n->layout;
    l->F = F;
    l->ntables = shared ? 1 : F;
    l->table_rows = calloc((size_t)l->ntables, sizeof *l->table_rows);
    l->field_table = calloc((size_t)F, sizeof *l->field_table);
    l->field_names = calloc((size_t)F, sizeof *l->field_names);
    if (!l->table_rows || !l->field_table || !l->field_names)
        return rill_node_errf(n, RILL_ENOMEM, err, "out of memory");
    for (int f = 0; f < F; f++) {
        l->field_table[f] = shared ? 0 : f;
        l->field_names[f] =
            strdup(kind == RILL_FIELD_CAT ? sc->cat_names[cols[f]] : sc->num_names[cols[f]]);
        if (!l->field_names[f])
            return rill_node_errf(n, RILL_ENOMEM, err, "out of memory");
    }
    for (int t = 0; t < l->ntables; t++)
        l->table_rows[t] = rows[t];
    n->out_kind = RILL_OUT_IDS;
    return RILL_OK;
}
