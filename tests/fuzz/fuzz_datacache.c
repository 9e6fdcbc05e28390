/* The data cache's reader (core/data/reader_cache.c): a small Criteo file is written once and
 * its cache made; each input then replaces the cache file, is stamped with the data file's
 * identity and has its checksums recomputed (rill_cache_reseal: a fuzzer cannot find CRCs, and
 * the structural checks behind them are what is fuzzed), and a reader with the cache reads
 * every batch twice: the whole file in order, then a hashed training part shuffled.
 * Besides the sanitizers it checks the reader's contract with a cache: opening never fails on
 * a bad cache (it is written again, or the text read), and a pass ends at the end of the data
 * or with an error that has a message.
 *
 * FUZZ_MAKE_SEEDS=DIR in the environment writes the good cache into DIR as a seed and exits. */
#include <dirent.h>

#include "fuzz_common.h"
#include "reader.h"

static char data_path[300], cache_dir[300], cache_path[600];
static rill_schema schema;

static void write_data(void)
{
    FILE *f = fopen(data_path, "wb");
    if (!f)
        abort();
    for (int i = 1; i <= 120; i++) {
        fprintf(f, "%d", i % 3 == 0);
        for (int k = 0; k < 13; k++)
            fprintf(f, i % 7 == k ? "\t" : "\t%d", (i * (k + 3)) % 50);
        for (int k = 0; k < 26; k++)
            fprintf(f, i % 5 == k ? "\t" : "\t%x", (unsigned)(i * 2654435761u + k) & 0xfff);
        fputc('\n', f);
    }
    fputs("0\tbad line\n", f);
    if (fclose(f) != 0)
        abort();
}

static int one_pass(int part, int split, int shuffle)
{
    rill_reader_cfg cfg = {.path = data_path, .format = RILL_FMT_CRITEO, .schema = &schema,
                           .batch = 16, .part = part, .valid_fraction = 0.2, .split = split,
                           .shuffle = shuffle, .seed = 5, .on_bad_line = RILL_BAD_SKIP,
                           .max_bad = 1.0, .max_line = 4096, .cache_dir = cache_dir};
    rill_reader *r;
    rill_err err = {0};
    if (rill_reader_open(&r, &cfg, &err))
        fz_broken("a reader with a cache did not open: %s", err.msg);
    const rill_batch *b;
    int rc, batches = 0;
    while ((rc = rill_reader_next(r, &b, &err)) > 0)
        batches++;
    if (rc < 0 && !err.msg[0])
        fz_broken("a pass ended with %d and no message", rc);
    rill_reader_close(r);
    return batches;
}

/* The cache's file name in cache_dir. */
static void find_cache(void)
{
    DIR *d = opendir(cache_dir);
    struct dirent *e;
    if (!d)
        abort();
    while ((e = readdir(d)))
        if (strstr(e->d_name, ".rillcache") && !strstr(e->d_name, ".tmp"))
            snprintf(cache_path, sizeof cache_path, "%s/%s", cache_dir, e->d_name);
    closedir(d);
    if (!cache_path[0])
        abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    rill_err err = {0};
    if (rill_schema_criteo(&schema, &err))
        abort();
    const char *dir = fz_tmpdir("datacache");
    snprintf(data_path, sizeof data_path, "%s/d.tsv", dir);
    snprintf(cache_dir, sizeof cache_dir, "%s/cache", dir);
    write_data();
    one_pass(RILL_PART_ALL, RILL_SPLIT_TAIL, 0); /* writes the cache */
    find_cache();
    const char *seeds = getenv("FUZZ_MAKE_SEEDS");
    if (seeds && *seeds) {
        FILE *f = fopen(cache_path, "rb");
        char out[700];
        snprintf(out, sizeof out, "%s/good.rillcache", seeds);
        FILE *o = fopen(out, "wb");
        int c;
        if (!f || !o)
            abort();
        while ((c = fgetc(f)) != EOF)
            fputc(c, o);
        fclose(f);
        if (fclose(o) != 0)
            abort();
        exit(0);
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct stat src;
    if (stat(data_path, &src) != 0)
        abort();
    fz_write(cache_path, data, size);
    rill_cache_reseal(cache_path, &src);
    one_pass(RILL_PART_ALL, RILL_SPLIT_TAIL, 0);
    one_pass(RILL_PART_TRAIN, RILL_SPLIT_HASH, 40);
    return 0;
}
