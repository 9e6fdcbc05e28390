/* The .npy reader of exports (npy_read_header and the row loop of rill_import, core/train/export.c,
 * static there): the small graph is built in RAM and exported once (rill_export) to a
 * directory; each input replaces one of the export's files, chosen by its first byte (in the
 * order of the sorted file names: the dense parameters top.*.npy and the table files
 * emb.C1.npy, emb.C1.ids.npy, ...), with the rest of the input, and rill_import reads the
 * export back into the graph; then the file is restored.
 *
 * FUZZ_MAKE_SEEDS=DIR in the environment writes one seed per file (its selector byte and its
 * exported bytes) into DIR and exits. */
#include <dirent.h>

#include "fuzz_graph.h"

enum { MAXF = 32 };

static char dir[300];
static char *names[MAXF];
static uint8_t *orig[MAXF];
static size_t orig_size[MAXF];
static int nfiles;
static rill_schema schema;
static rill_graph *graph;

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void slurp(const char *path, uint8_t **data, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f || fseek(f, 0, SEEK_END) != 0)
        abort();
    *size = (size_t)ftell(f);
    rewind(f);
    *data = malloc(*size ? *size : 1);
    if (!*data || fread(*data, 1, *size, f) != *size)
        abort();
    fclose(f);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    rill_err err = {0};
    snprintf(dir, sizeof dir, "%s/export", fz_tmpdir("npy"));
    if (rill_schema_criteo(&schema, &err))
        abort();
    graph = fz_small_graph(&schema, NULL);
    for (uint64_t id = 0; id < 10; id++) { /* rows that exist, so the tables export some */
        float *row;
        if (rill_table_lookup(graph->tables[0], &id, 1, &row, &err) ||
            rill_table_lookup(graph->tables[1], &id, 1, &row, &err))
            abort();
    }
    if (rill_export(graph, dir, NULL, NULL, &err)) {
        fprintf(stderr, "fuzz-npy: %s\n", err.msg);
        abort();
    }
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d)) && nfiles < MAXF) {
        size_t n = strlen(e->d_name);
        if (n > 4 && strcmp(e->d_name + n - 4, ".npy") == 0)
            names[nfiles++] = strdup(e->d_name);
    }
    if (d)
        closedir(d);
    qsort(names, (size_t)nfiles, sizeof names[0], by_name);
    for (int i = 0; i < nfiles; i++) {
        char p[600];
        snprintf(p, sizeof p, "%s/%s", dir, names[i]);
        slurp(p, &orig[i], &orig_size[i]);
    }
    const char *seeds = getenv("FUZZ_MAKE_SEEDS");
    if (seeds && *seeds) {
        for (int i = 0; i < nfiles; i++) {
            char p[600];
            snprintf(p, sizeof p, "%s/%s", seeds, names[i]);
            uint8_t *buf = malloc(orig_size[i] + 1);
            buf[0] = (uint8_t)i;
            memcpy(buf + 1, orig[i], orig_size[i]);
            fz_write(p, buf, orig_size[i] + 1);
            free(buf);
        }
        exit(0);
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0 || nfiles == 0)
        return 0;
    int i = data[0] % nfiles;
    char p[600];
    snprintf(p, sizeof p, "%s/%s", dir, names[i]);
    fz_write(p, data + 1, size - 1);
    rill_err err = {0};
    if (rill_import(graph, dir, &err) && !err.msg[0])
        fz_broken("import failed without a message");
    fz_write(p, orig[i], orig_size[i]);
    return 0;
}
