/* The store's readers on damaged contents in a sound LMDB file: the input is a list of
 * records written with LMDB's own API into a fresh store (so the pages are valid and only what
 * Rill put in them is wrong), then rill_store_open (READ), verify, digest, list, get_meta,
 * restore into the small graph, and a stored table's rows read through rill_store_table and
 * rill_table_lookup / rill_table_peek, as rill eval does.
 *
 * Records, until the input ends: one byte db (0 meta, 1 state, 2 dense, 3 t:emb.C1,
 * 4 s:emb.C1, 5 t:emb.C2, 6 delete a meta key; plus 0x80: the value is written as it is,
 * else sealed with its CRC32C as format 3 does, so damage gets past the seal check to the
 * code that trusts what it read; meta "format" is never sealed), one byte key length (for tables: bit 0
 * picks a 4- or 8-byte key, the key's bytes follow either way), the key, two bytes value
 * length (little-endian, capped by the input), the value. The fresh store already holds
 * what fz_make_store writes (meta "table:emb.C1" = "100 3 4 rowwise_adagrad", rows 0..9, the
 * dense parameters, a checkpoint), so a record changes one thing of a real store. */
#include <errno.h>
#include <lmdb.h>

#include "store_impl.h" /* rill_seal: a record is written sealed, as format 3 has it */

#include "fuzz_graph.h"

static char tmpl[400], dir[300], path[400];
static uint8_t *tmpl_data;
static size_t tmpl_size;
static rill_schema schema;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    rill_err err = {0};
    snprintf(tmpl, sizeof tmpl, "%s/template", fz_tmpdir("store_kv"));
    snprintf(dir, sizeof dir, "%s/run", fz_tmpdir("store_kv"));
    snprintf(path, sizeof path, "%s/store.mdb", dir);
    fz_make_store(tmpl);
    char tp[500];
    snprintf(tp, sizeof tp, "%s/store.mdb", tmpl);
    FILE *f = fopen(tp, "rb");
    if (!f || fseek(f, 0, SEEK_END) != 0)
        abort();
    tmpl_size = (size_t)ftell(f);
    rewind(f);
    tmpl_data = malloc(tmpl_size);
    if (!tmpl_data || fread(tmpl_data, 1, tmpl_size, f) != tmpl_size)
        abort();
    fclose(f);
    if (mkdir(dir, 0755) != 0 || rill_schema_criteo(&schema, &err))
        abort();
    return 0;
}

#define E(expr)                                                                            \
    do {                                                                                   \
        int rc_ = (expr);                                                                  \
        if (rc_) {                                                                         \
            fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #expr, mdb_strerror(rc_)); \
            abort();                                                                       \
        }                                                                                  \
    } while (0)

/* Applies the records; returns 0, or -1 when LMDB refuses one (a key or value it does not
 * take: nothing for Rill to read then). */
static int apply(const uint8_t *data, size_t size)
{
    static const char *const dbs[] = {"meta", "state", "dense", "t:emb.C1", "s:emb.C1",
                                      "t:emb.C2"};
    MDB_env *env;
    MDB_txn *txn;
    E(mdb_env_create(&env));
    E(mdb_env_set_maxdbs(env, 16));
    E(mdb_env_set_mapsize(env, 1 << 24));
    E(mdb_env_open(env, path, MDB_NOSUBDIR | MDB_NOSYNC, 0644));
    E(mdb_txn_begin(env, NULL, 0, &txn));
    int bad = 0;
    size_t at = 0;
    while (at + 2 <= size && !bad) {
        int db = (data[at] & 0x7f) % 7;
        bool raw = data[at] & 0x80;
        size_t klen = data[at + 1];
        at += 2;
        bool table = db >= 3 && db <= 5;
        if (table)
            klen = klen & 1 ? 4 : 8;
        else
            klen %= 64;
        uint8_t key[64] = {0};
        size_t kn = klen < size - at ? klen : size - at;
        memcpy(key, data + at, kn);
        at += kn;
        size_t vlen = 0;
        if (at + 2 <= size) {
            vlen = (size_t)data[at] | (size_t)data[at + 1] << 8;
            at += 2;
        }
        if (vlen > size - at)
            vlen = size - at;
        MDB_dbi dbi;
        E(mdb_dbi_open(txn, dbs[db == 6 ? 0 : db], table ? MDB_INTEGERKEY | MDB_CREATE : 0,
                       &dbi));
        MDB_val k = {klen ? klen : 1, key}, v = {vlen, (void *)(data + at)};
        static uint8_t sealed[65536 + RILL_SEAL_BYTES];
        if (!raw && !(db == 0 && k.mv_size == 6 && memcmp(key, "format", 6) == 0)) {
            static rill_store seal_as = {.sealed = true};
            memcpy(sealed, data + at, vlen);
            rill_seal(&seal_as, &k, sealed, vlen);
            v = (MDB_val){vlen + RILL_SEAL_BYTES, sealed};
        }
        int rc = db == 6 ? mdb_del(txn, dbi, &k, NULL) : mdb_put(txn, dbi, &k, &v, 0);
        at += vlen;
        if (rc == MDB_NOTFOUND)
            continue;
        if (rc == MDB_BAD_VALSIZE || rc == EINVAL)
            bad = 1;
        else
            E(rc);
    }
    if (bad) {
        mdb_txn_abort(txn);
    } else {
        E(mdb_txn_commit(txn));
    }
    mdb_env_close(env);
    return bad ? -1 : 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char lock[500];
    snprintf(lock, sizeof lock, "%s-lock", path);
    fz_write(path, tmpl_data, tmpl_size);
    unlink(lock);
    if (apply(data, size))
        return 0;
    unlink(lock);
    rill_store *s = fz_open_and_read(dir);
    if (!s)
        return 0;
    rill_err err = {0};
    /* the graph of the run, on it: tables, dense parameters and the run state read back */
    rill_graph *g = fz_small_graph_on(&schema, s);
    if (g) {
        void *state = NULL;
        size_t slen = 0;
        if (rill_checkpoint_read(g->store, g, &state, &slen, &err) == RILL_OK)
            free(state);
        for (int t = 0; t < g->ntables; t++) {
            for (uint64_t id = 0; id < 12; id++) {
                float *row;
                (void)rill_table_peek(g->tables[t], id);
                if (rill_table_lookup(g->tables[t], &id, 1, &row, &err))
                    break;
            }
        }
        rill_graph_free(g);
    }
    return 0;
}
