/* Export of a trained model for inference, and its import.
 *
 * DIR/manifest.json lists what is there; every array is a NumPy .npy file (format 1.0,
 * little-endian), so Python loads it with numpy.load:
 *   TABLE.ids.npy     uint64 (n,)     the ids of the rows that exist, ascending
 *   TABLE.npy         float32 (n, dim) their weights (optimizer state is not exported)
 *   PARAM.npy         float32 (rows, cols) each dense parameter (running statistics too)
 *   pipeline.lua, meta.lua   the pipeline and its settings, so rill predict rebuilds the graph
 * A row id missing from a table reads as zeros, as in rill eval. */
#include "graph_io.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"
#include "util.h"

static int npy_header(FILE *f, const char *descr, uint64_t rows, uint64_t cols, bool two_d)
{
    char dict[256];
    int n = two_d ? snprintf(dict, sizeof dict,
                             "{'descr': '%s', 'fortran_order': False, 'shape': (%llu, %llu), }",
                             descr, (unsigned long long)rows, (unsigned long long)cols)
                  : snprintf(dict, sizeof dict,
                             "{'descr': '%s', 'fortran_order': False, 'shape': (%llu,), }", descr,
                             (unsigned long long)rows);
    /* magic (6) + version (2) + length (2) + dict + padding + '\n', a multiple of 64 */
    size_t total = RILL_ALIGN(10 + (size_t)n + 1, 64);
    uint16_t hlen = (uint16_t)(total - 10);
    unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(hlen & 0xff),
                             (unsigned char)(hlen >> 8)};
    if (fwrite(pre, sizeof pre, 1, f) != 1 || fwrite(dict, (size_t)n, 1, f) != 1)
        return -1;
    for (size_t i = 10 + (size_t)n; i < total - 1; i++)
        if (fputc(' ', f) == EOF)
            return -1;
    return fputc('\n', f) == EOF ? -1 : 0;
}

/* Reads an .npy header; checks descr and returns the shape (cols = 1 for 1-D arrays). */
static int npy_read_header(FILE *f, const char *path, const char *descr, uint64_t *rows,
                           uint64_t *cols, rill_err *err)
{
    unsigned char pre[10];
    if (fread(pre, sizeof pre, 1, f) != 1 || memcmp(pre, "\x93NUMPY", 6) != 0 || pre[6] != 1)
        return rill_errf(err, RILL_EDATA, "%s: not a NumPy .npy file (version 1)", path);
    size_t hlen = (size_t)pre[8] | ((size_t)pre[9] << 8);
    char *h = malloc(hlen + 1);
    if (!h)
        return rill_errf(err, RILL_ENOMEM, "out of memory");
    if (fread(h, hlen, 1, f) != 1) {
        free(h);
        return rill_errf(err, RILL_EDATA, "%s: truncated header", path);
    }
    h[hlen] = 0;
    char want[64];
    snprintf(want, sizeof want, "'descr': '%s'", descr);
    unsigned long long r = 0, c = 1;
    const char *sh = strstr(h, "'shape': (");
    int got = sh ? sscanf(sh + 10, "%llu, %llu", &r, &c) : 0; /* "(n,)" gives 1, "(n, m)" 2 */
    if (got == 1)
        c = 1;
    int rc = RILL_OK;
    if (!strstr(h, want) || !strstr(h, "'fortran_order': False") || got < 1)
        rc = rill_errf(err, RILL_EDATA, "%s: expected a C-ordered %s array, header is %s", path,
                       descr, h);
    free(h);
    *rows = r;
    *cols = c;
    return rc;
}

static void file_name(char *out, size_t cap, const char *dir, const char *name, const char *ext)
{
    /* names hold letters, digits, '_' and '.'; anything else becomes '_' */
    char safe[200];
    size_t i = 0;
    for (; name[i] && i < sizeof safe - 1; i++) {
        char ch = name[i];
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                  ch == '_' || ch == '.' || ch == '-';
        safe[i] = ok ? ch : '_';
    }
    safe[i] = 0;
    snprintf(out, cap, "%s/%s%s", dir, safe, ext);
}

typedef struct {
    FILE *ids, *vals;
    int dim;                 /* floats written per row */
    const rill_param *proj;  /* rows are multiplied by it (MLET: W1 W2), or NULL */
    float *buf;
    uint64_t n;
    bool count_only;
} export_rows;

static int export_row(void *ud, uint64_t id, const float *row)
{
    export_rows *e = ud;
    e->n++;
    if (e->count_only)
        return RILL_OK;
    const float *out = row;
    if (e->proj) {
        /* the collapsed row: row (1 x inner) times proj (inner x dim), summed in double */
        int k = e->proj->rows, d = e->proj->cols;
        for (int j = 0; j < d; j++) {
            double acc = 0;
            for (int i = 0; i < k; i++)
                acc += (double)row[i] * (double)e->proj->data[(size_t)i * d + j];
            e->buf[j] = (float)acc;
        }
        out = e->buf;
    }
    if (fwrite(&id, sizeof id, 1, e->ids) != 1 ||
        fwrite(out, sizeof(float), (size_t)e->dim, e->vals) != (size_t)e->dim)
        return RILL_EIO;
    return RILL_OK;
}

static int write_text(const char *dir, const char *name, const char *text, rill_err *err)
{
    char path[4400];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fputs(text, f) == EOF || fclose(f) != 0)
        return rill_errf(err, RILL_EIO, "%s: cannot write: %s", path, strerror(errno));
    return RILL_OK;
}

static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            fputc('\\', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

/* Table i as NAME.npy (rows x dim, MLET's rows through their projection) and NAME.ids.npy,
 * and its entry in the manifest (after a comma when it is not the first). */
static int export_table(rill_graph *g, int i, const char *dir, FILE *man, rill_err *err)
{
    char path[4400], ipath[4400];
    rill_table *t = g->tables[i];
    const char *name = rill_table_name(t);
    const rill_param *proj = g->table_proj ? g->table_proj[i] : NULL;
    export_rows e = {.dim = rill_table_dim(t), .count_only = true};
    int rc = rill_table_each(t, export_row, &e, err);
    if (rc)
        return rc;
    uint64_t n = e.n;
    file_name(path, sizeof path, dir, name, ".npy");
    file_name(ipath, sizeof ipath, dir, name, ".ids.npy");
    e = (export_rows){.dim = proj ? proj->cols : rill_table_dim(t), .proj = proj};
    e.buf = proj ? malloc((size_t)proj->cols * sizeof(float)) : NULL;
    if (proj && !e.buf)
        return rill_errf(err, RILL_ENOMEM, "out of memory");
    e.vals = fopen(path, "wb");
    e.ids = fopen(ipath, "wb");
    if (!e.vals || !e.ids || npy_header(e.vals, "<f4", n, (uint64_t)e.dim, true) ||
        npy_header(e.ids, "<u8", n, 1, false))
        rc = rill_errf(err, RILL_EIO, "%s: cannot write: %s", path, strerror(errno));
    if (!rc && (rc = rill_table_each(t, export_row, &e, err)) == RILL_EIO) {
        int en = errno;
        rc = rill_errf(err, en == ENOSPC || en == EDQUOT ? RILL_ENOSPC : RILL_EIO,
                       "%s: cannot write: %s%s", path, strerror(en),
                       en == ENOSPC || en == EDQUOT ? ": the disk is full" : "");
    }
    if (e.vals && fclose(e.vals) != 0 && !rc)
        rc = rill_errf(err, RILL_EIO, "%s: write failed: %s", path, strerror(errno));
    if (e.ids && fclose(e.ids) != 0 && !rc)
        rc = rill_errf(err, RILL_EIO, "%s: write failed: %s", ipath, strerror(errno));
    free(e.buf);
    fprintf(man, "%s\n    {\"name\": ", i ? "," : "");
    json_str(man, name);
    fprintf(man, ", \"id_range\": %lld, \"dim\": %d, \"rows\": %llu, \"values\": ",
            (long long)rill_table_rows(t), e.dim, (unsigned long long)n);
    json_str(man, strrchr(path, '/') + 1);
    fprintf(man, ", \"ids\": ");
    json_str(man, strrchr(ipath, '/') + 1);
    fprintf(man, "}");
    return rc;
}

/* Dense parameter p as NAME.npy and its manifest entry; *written counts the entries. */
static int export_dense(const rill_param *p, const char *dir, FILE *man, int *written,
                        rill_err *err)
{
    char path[4400];
    int rc = RILL_OK;
    file_name(path, sizeof path, dir, p->name, ".npy");
    FILE *f = fopen(path, "wb");
    if (!f || npy_header(f, "<f4", (uint64_t)p->rows, (uint64_t)p->cols, true) ||
        fwrite(p->data, sizeof(float), p->n, f) != p->n)
        rc = rill_errf(err, RILL_EIO, "%s: cannot write: %s", path, strerror(errno));
    if (f && fclose(f) != 0 && !rc)
        rc = rill_errf(err, RILL_EIO, "%s: write failed: %s", path, strerror(errno));
    fprintf(man, "%s\n    {\"name\": ", (*written)++ ? "," : "");
    json_str(man, p->name);
    fprintf(man, ", \"shape\": [%d, %d], \"file\": ", p->rows, p->cols);
    json_str(man, strrchr(path, '/') + 1);
    fprintf(man, "}");
    return rc;
}

int rill_export(rill_graph *g, const char *dir, const char *pipeline, const char *settings,
                rill_err *err)
{
    int rc = rill_mkdir_p(dir, err);
    if (rc)
        return rc;
    char path[4400];
    snprintf(path, sizeof path, "%s/manifest.json", dir);
    FILE *man = fopen(path, "w");
    if (!man)
        return rill_errf(err, RILL_EIO, "%s: cannot write: %s", path, strerror(errno));
    fprintf(man, "{\n  \"format\": \"rill-export 1\",\n  \"tables\": [");
    for (int i = 0; i < g->ntables && !rc; i++)
        rc = export_table(g, i, dir, man, err);
    fprintf(man, "\n  ],\n  \"dense\": [");
    int written = 0;
    for (int i = 0; i < g->nparams && !rc; i++) {
        const rill_param *p = g->params[i];
        bool folded = false; /* an MLET W2 is in its table already */
        for (int t = 0; g->table_proj && t < g->ntables; t++)
            folded |= g->table_proj[t] == p;
        if (!folded)
            rc = export_dense(p, dir, man, &written, err);
    }
    fprintf(man, "\n  ],\n  \"pipeline\": \"pipeline.lua\",\n  \"settings\": \"meta.lua\"\n}\n");
    if (fclose(man) != 0 && !rc)
        rc = rill_errf(err, RILL_EIO, "%s/manifest.json: write failed", dir);
    if (!rc && pipeline)
        rc = write_text(dir, "pipeline.lua", pipeline, err);
    if (!rc && settings)
        rc = write_text(dir, "meta.lua", settings, err);
    return rc;
}

int rill_import(rill_graph *g, const char *dir, rill_err *err)
{
    char path[4400], ipath[4400];
    int rc = RILL_OK;
    for (int i = 0; i < g->nparams && !rc; i++) {
        rill_param *p = g->params[i];
        file_name(path, sizeof path, dir, p->name, ".npy");
        FILE *f = fopen(path, "rb");
        uint64_t r, c;
        if (!f)
            return rill_errf(err, RILL_EIO,
                             "%s: cannot read: %s (the export lacks dense parameter '%s': was it "
                             "made from another pipeline?)",
                             path, strerror(errno), p->name);
        rc = npy_read_header(f, path, "<f4", &r, &c, err);
        if (!rc && (r != (uint64_t)p->rows || c != (uint64_t)p->cols))
            rc = rill_errf(err, RILL_EDATA, "%s: shape (%llu, %llu), the graph's '%s' is (%d, %d)",
                           path, (unsigned long long)r, (unsigned long long)c, p->name, p->rows,
                           p->cols);
        if (!rc && fread(p->data, sizeof(float), p->n, f) != p->n)
            rc = rill_errf(err, RILL_EDATA, "%s: truncated", path);
        fclose(f);
    }
    for (int i = 0; i < g->ntables && !rc; i++) {
        rill_table *t = g->tables[i];
        const char *name = rill_table_name(t);
        rill_table_opts none = {0};
        rill_table_set_opts(t, &none); /* every exported row exists: no admission count */
        file_name(path, sizeof path, dir, name, ".npy");
        file_name(ipath, sizeof ipath, dir, name, ".ids.npy");
        FILE *fv = fopen(path, "rb"), *fi = fopen(ipath, "rb");
        uint64_t n, dim, ni, one;
        if (!fv || !fi)
            rc = rill_errf(err, RILL_EIO, "%s: cannot read: %s (the export lacks table '%s')",
                           fv ? ipath : path, strerror(errno), name);
        if (!rc && !(rc = npy_read_header(fv, path, "<f4", &n, &dim, err)) &&
            !(rc = npy_read_header(fi, ipath, "<u8", &ni, &one, err)) &&
            (ni != n || dim != (uint64_t)rill_table_dim(t)))
            rc = rill_errf(err, RILL_EDATA, "%s: %llu rows of dim %llu with %llu ids; table '%s' "
                                            "has dim %d",
                           path, (unsigned long long)n, (unsigned long long)dim,
                           (unsigned long long)ni, name, rill_table_dim(t));
        float *row;
        for (uint64_t k = 0; !rc && k < n; k++) {
            uint64_t id;
            if (fread(&id, sizeof id, 1, fi) != 1) {
                rc = rill_errf(err, RILL_EDATA, "%s: truncated at row %llu", ipath,
                               (unsigned long long)k);
                break;
            }
            if ((rc = rill_table_lookup(t, &id, 1, &row, err)))
                break;
            if (!row || fread(row, sizeof(float), (size_t)dim, fv) != dim)
                rc = rill_errf(err, RILL_EDATA, "%s: truncated at row %llu", path,
                               (unsigned long long)k);
        }
        if (fv)
            fclose(fv);
        if (fi)
            fclose(fi);
    }
    return rc;
}
