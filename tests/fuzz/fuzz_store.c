/* The store's open and check path on a damaged file: the input is written as DIR/store.mdb,
 * then rill_store_open (READ), rill_store_has_checkpoint, rill_store_verify,
 * rill_store_digest (whatever verify said: rill inspect --digest runs it alone),
 * rill_store_list and rill_store_get_meta. The seeds are real stores (fz_make_store) with
 * bytes changed; LMDB itself trusts its pages, so a crash inside liblmdb is reported as what
 * it is, a damaged file the store cannot refuse.
 *
 * FUZZ_MAKE_SEED=FILE in the environment writes the undamaged seed store to FILE and exits. */
#include "fuzz_graph.h"

static char dir[300], path[400], lock[400];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    snprintf(dir, sizeof dir, "%s/run", fz_tmpdir("store"));
    snprintf(path, sizeof path, "%s/store.mdb", dir);
    snprintf(lock, sizeof lock, "%s/store.mdb-lock", dir);
    const char *seed = getenv("FUZZ_MAKE_SEED");
    if (seed && *seed) {
        fz_make_store(dir);
        if (rename(path, seed) != 0) { /* both in the same file system, or copy */
            FILE *in = fopen(path, "rb"), *out = fopen(seed, "wb");
            int ch;
            while (in && out && (ch = fgetc(in)) != EOF)
                fputc(ch, out);
            if (!in || !out || fclose(out) != 0)
                abort();
            fclose(in);
        }
        exit(0);
    }
    if (mkdir(dir, 0755) != 0)
        abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_write(path, data, size);
    unlink(lock); /* LMDB's reader table, from the last input's open */
    rill_store *s = fz_open_and_read(dir);
    if (!s)
        return 0;
    rill_store_close(s);
    return 0;
}
