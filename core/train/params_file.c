/* The run's parameter file: "RILLPAR1", the dense parameter count, then per parameter its
 * name, size and values (running statistics included), then the table count and each table
 * (rill_table_save). Written to a temporary name and renamed, so a crash while saving leaves
 * the previous file whole. */
#include "graph_io.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "store.h"

static const char MAGIC[8] = {'R', 'I', 'L', 'L', 'P', 'A', 'R', '1'};

int rill_params_save(rill_graph *g, const char *path, rill_err *err)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "wb");
    if (!f)
        return rill_errf(err, RILL_EIO, "%s: cannot write: %s", tmp, strerror(errno));
    uint32_t np = (uint32_t)g->nparams, nt = (uint32_t)g->ntables;
    int rc = RILL_OK;
    if (fwrite(MAGIC, sizeof MAGIC, 1, f) != 1 || fwrite(&np, sizeof np, 1, f) != 1)
        goto io;
    for (int i = 0; i < g->nparams; i++) {
        const rill_param *p = g->params[i];
        uint32_t len = (uint32_t)strlen(p->name);
        uint64_t n = p->n;
        if (fwrite(&len, sizeof len, 1, f) != 1 || fwrite(p->name, len, 1, f) != 1 ||
            fwrite(&n, sizeof n, 1, f) != 1 || fwrite(p->data, sizeof(float), p->n, f) != p->n)
            goto io;
    }
    if (fwrite(&nt, sizeof nt, 1, f) != 1)
        goto io;
    for (int i = 0; i < g->ntables; i++)
        if ((rc = rill_table_save(g->tables[i], f, err)))
            goto fail;
    if (fflush(f) != 0 || ferror(f))
        goto io;
    if (fclose(f) != 0) {
        f = NULL;
        goto io;
    }
    f = NULL;
    if (rename(tmp, path) != 0)
        return rill_errf(err, RILL_EIO, "%s: cannot rename to %s: %s", tmp, path, strerror(errno));
    return RILL_OK;
io:
    rc = rill_errf(err, RILL_EIO, "%s: write failed: %s", tmp, strerror(errno));
fail:
    if (f)
        fclose(f);
    remove(tmp);
    return rc;
}

int rill_params_load(rill_graph *g, const char *path, rill_err *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return rill_errf(err, RILL_EIO, "%s: cannot read: %s", path, strerror(errno));
    char magic[8];
    uint32_t np, nt;
    int rc = RILL_OK;
    if (fread(magic, sizeof magic, 1, f) != 1 || memcmp(magic, MAGIC, sizeof MAGIC) != 0) {
        rc = rill_errf(err, RILL_EIO, "%s: not a Rill parameter file", path);
        goto out;
    }
    if (fread(&np, sizeof np, 1, f) != 1) {
        rc = rill_errf(err, RILL_EIO, "%s: truncated (the file ends in its header)", path);
        goto out;
    }
    if (np != (uint32_t)g->nparams) {
        rc = rill_errf(err, RILL_EINVAL,
                       "%s: holds %u dense parameters, the graph has %d: was the pipeline changed "
                       "since training?",
                       path, np, g->nparams);
        goto out;
    }
    for (int i = 0; i < g->nparams; i++) {
        rill_param *p = g->params[i];
        uint32_t len;
        uint64_t n;
        char name[256];
        if (fread(&len, sizeof len, 1, f) != 1 || len >= sizeof name ||
            fread(name, len, 1, f) != 1 || fread(&n, sizeof n, 1, f) != 1) {
            rc = rill_errf(err, RILL_EIO, "%s: truncated (or damaged) at parameter %d", path, i + 1);
            goto out;
        }
        name[len] = 0;
        if (strcmp(name, p->name) != 0 || n != p->n) {
            rc = rill_errf(err, RILL_EINVAL,
                           "%s: parameter %d is '%s' (%llu values), the graph's is '%s' (%zu): was "
                           "the pipeline changed since training?",
                           path, i + 1, name, (unsigned long long)n, p->name, p->n);
            goto out;
        }
        if (fread(p->data, sizeof(float), p->n, f) != p->n) {
            rc = rill_errf(err, RILL_EIO, "%s: truncated in parameter '%s'", path, name);
            goto out;
        }
    }
    if (fread(&nt, sizeof nt, 1, f) != 1) {
        rc = rill_errf(err, RILL_EIO, "%s: truncated after the dense parameters", path);
        goto out;
    }
    if (nt != (uint32_t)g->ntables) {
        rc = rill_errf(err, RILL_EINVAL,
                       "%s: holds %u embedding tables, the graph has %d: was the pipeline changed "
                       "since training?",
                       path, nt, g->ntables);
        goto out;
    }
    for (int i = 0; i < g->ntables && !rc; i++)
        rc = rill_table_load(g->tables[i], f, path, err);
    if (!rc && fgetc(f) != EOF)
        rc = rill_errf(err, RILL_EIO, "%s: unexpected bytes after the last table (damaged file?)",
                       path);
out:
    fclose(f);
    return rc;
}
