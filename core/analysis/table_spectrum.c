/* Singular spectra of a run's embedding tables: see table_spectrum.h. */
#include "table_spectrum.h"

#include <stdlib.h>
#include <string.h>

#include "run.h"
#include "spectrum.h"
#include "store.h"

int rill_graph_table_index(const rill_graph *g, const char *name)
{
    for (int i = 0; i < g->ntables; i++)
        if (strcmp(rill_table_name(g->tables[i]), name) == 0)
            return i;
    return -1;
}

static const rill_param *projection(const rill_graph *g, int i)
{
    return g->table_proj ? g->table_proj[i] : NULL;
}

/* The width of table i as the spectrum sees it (MLET: collapsed). */
static int width(const rill_graph *g, int i)
{
    const rill_param *proj = projection(g, i);
    return proj ? proj->cols : rill_table_dim(g->tables[i]);
}

/* row (of table i; NULL: none) as the spectrum sees it, into out (width floats): MLET's
 * collapsed row W1[id] W2, zeros for no row. */
static void spectrum_row_of(const rill_graph *g, int i, const float *row, float *out)
{
    const rill_param *proj = projection(g, i);
    int d = width(g, i);
    if (!row) {
        memset(out, 0, (size_t)d * sizeof *out);
    } else if (proj) {
        for (int j = 0; j < d; j++) {
            double acc = 0;
            for (int k = 0; k < proj->rows; k++)
                acc += (double)row[k] * (double)proj->data[(size_t)k * d + j];
            out[j] = (float)acc;
        }
    } else {
        memcpy(out, row, (size_t)d * sizeof *out);
    }
}

typedef struct {
    rill_graph *g;
    const int *members;
    int nm;
    rill_spectrum sp;
    float *buf;
    uint64_t min_count;
} joint_ctx;

static int joint_row(void *ud, uint64_t id, const float *row)
{
    joint_ctx *c = ud;
    if (c->min_count && rill_table_count(c->g->tables[c->members[0]], id) < c->min_count)
        return 0;
    float *p = c->buf;
    for (int m = 0; m < c->nm; m++) {
        int i = c->members[m];
        /* the first table's row is the one being visited; the others are looked up */
        spectrum_row_of(c->g, i, m == 0 ? row : rill_table_peek(c->g->tables[i], id), p);
        p += width(c->g, i);
    }
    rill_spectrum_add(&c->sp, c->buf);
    return 0;
}

int rill_tables_spectrum(rill_graph *g, const int *members, int nm, uint64_t min_count,
                         const char *name, rill_spectrum_result *out, rill_err *err)
{
    joint_ctx c = {.g = g, .members = members, .nm = nm, .min_count = min_count};
    memset(out, 0, sizeof *out);
    snprintf(out->name, sizeof out->name, "%s", name);
    for (int m = 0; m < nm; m++)
        out->dim += width(g, members[m]);
    out->sv = malloc((size_t)out->dim * sizeof *out->sv);
    c.buf = malloc((size_t)out->dim * sizeof *c.buf);
    int rc = !out->sv || !c.buf ? rill_errf(err, RILL_ENOMEM, "out of memory")
                                : rill_spectrum_init(&c.sp, out->dim, err);
    if (!rc)
        rc = rill_table_each(g->tables[members[0]], joint_row, &c, err);
    out->rows = c.sp.n;
    if (!rc && c.sp.n > 0)
        rc = rill_spectrum_finish(&c.sp, out->sv, &out->ia, err);
    rill_spectrum_free(&c.sp);
    free(c.buf);
    if (rc) {
        free(out->sv);
        out->sv = NULL;
    }
    return rc;
}

/* The tables of joint group k ({name =, tables = {...}}) into members (*nm of them; caller
 * frees) */
static int read_group(rill_graph *g, const rill_value *group, long k, const char **name,
                      int **members, int *nm, rill_err *err)
{
    const rill_value *tables = NULL;
    *name = NULL;
    *members = NULL;
    *nm = 0;
    for (int i = 0; group->type == RILL_V_MAP && i < group->u.map.n; i++) {
        const rill_value *v = &group->u.map.vals[i];
        if (strcmp(group->u.map.keys[i], "name") == 0 && v->type == RILL_V_STR)
            *name = v->u.str;
        if (strcmp(group->u.map.keys[i], "tables") == 0 && v->type == RILL_V_LIST)
            tables = v;
    }
    int n = tables ? tables->u.list.n : 0;
    if (!*name || n < 1 || !(*members = calloc((size_t)n, sizeof **members)))
        return rill_errf(err, RILL_EINVAL,
                         "core.spectrum: joint[%ld] needs a name and a list of tables", k);
    for (*nm = 0; *nm < n; ++*nm) {
        const rill_value *t = &tables->u.list.items[*nm];
        int i = t->type == RILL_V_STR ? rill_graph_table_index(g, t->u.str) : -1;
        if (i < 0)
            return rill_errf(err, RILL_EINVAL, "core.spectrum: no table '%s'",
                             t->type == RILL_V_STR ? t->u.str : "(not a string)");
        (*members)[*nm] = i;
    }
    return RILL_OK;
}

int rill_analyze_spectrum(rill_graph *g, rill_args *a, rill_spectrum_result **out, int *n,
                          rill_err *err)
{
    const char *run;
    bool each_table;
    long min_count;
    int rc;
    *out = NULL;
    *n = 0;
    if ((rc = rill_args_str(a, "run", NULL, &run, err)))
        return rc;
    if (!run)
        return rill_errf(err, RILL_EINVAL, "rill analyze spectrum: which run?");
    if ((!g->built && (rc = rill_run_open_for_reading(g, run, 1, err))) ||
        (rc = rill_args_bool(a, "tables", true, &each_table, err)) ||
        (rc = rill_args_int(a, "min_count", 0, -(1L << 53), 1L << 53, &min_count, err)))
        return rc;
    if (min_count < 0)
        return rill_errf(err, RILL_EINVAL, "rill analyze spectrum: --min-count must be 0 or more");
    const rill_value *joint = rill_args_get(a, "joint");
    int ngroups = joint && joint->type == RILL_V_LIST ? joint->u.list.n : 0;
    if (!(*out = calloc((size_t)(g->ntables + ngroups + 1), sizeof **out)))
        return rill_errf(err, RILL_ENOMEM, "out of memory");
    for (int i = 0; i < g->ntables && !rc && each_table; i++)
        if (!(rc = rill_tables_spectrum(g, &i, 1, (uint64_t)min_count,
                                        rill_table_name(g->tables[i]), &(*out)[*n], err)))
            ++*n;
    for (int k = 0; k < ngroups && !rc; k++) {
        const char *name;
        int *members, nm;
        rc = read_group(g, &joint->u.list.items[k], k + 1, &name, &members, &nm, err);
        if (!rc && !(rc = rill_tables_spectrum(g, members, nm, (uint64_t)min_count, name,
                                               &(*out)[*n], err)))
            ++*n;
        free(members);
    }
    if (rc) {
        rill_spectrum_results_free(*out, *n);
        *out = NULL;
        *n = 0;
    }
    return rc;
}

void rill_spectrum_results_free(rill_spectrum_result *r, int n)
{
    for (int i = 0; r && i < n; i++)
        free(r[i].sv);
    free(r);
}
