/* The run's LMDB environment: DIR/store.mdb, with named databases
 *   meta      "format", the pipeline and its settings, the graph's signature, per table its
 *             shape ("table:NAME" = "rows dim stride optim")
 *   state     "run": the trainer's state at the last checkpoint; beside it, the values the
 *             checkpoint's caller puts there (rill_ckpt_put: "node:NAME", a node's own state)
 *   dense     the caller's values too: per dense parameter its values, then Adam's m and v
 *             (the store knows neither; core/train/checkpoint.h says what they hold)
 *   t:NAME    a table's rows (key: the row id as a native uint64; value: the floats, then the
 *             last step that used the row and how many training steps did)
 *   s:NAME    rows evicted since the last checkpoint, folded into t:NAME by the next one
 *   g:NAME    a prefilled table's checkpoints since its last fold, one generation each (key:
 *             generation << 56 | id; table_gens.c), with meta "gens:NAME" and "gids:NAME:G"
 * and DIR/lock, held (flock) by the one process that may write the run, and DIR/run.id, the
 * run's identity, which meta "run_id" repeats: a store copied in from another run is refused.
 * From format 3 every value but "format" ends in a seal (seal.c), and every LMDB call runs
 * under a guard (guard.c): damage is an error naming the file, never a wrong number or a
 * crash.
 *
 * This file: transactions, opening and closing, tables, copies. Opening's checks are in
 * open_checks.c, the meta values in meta.c, the checkpoint transaction in checkpoint_txn.c,
 * listing, verify and digest in verify.c. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "store_impl.h"
#include "util.h"

/* 2: rows carry their use count; 3: every value is sealed; 4: tables may have generations */
#define FORMAT "rill-store 4"
#define FORMAT_SEALED "rill-store 3" /* read as it is; made format 4 when opened to write */
#define FORMAT_UNSEALED "rill-store 2" /* read and written as it is, without seals */

/* LMDB reports a short write as EIO, which is what a full disk gives it: an EIO with next to
 * nothing free on the store's file system is taken for a full disk. */
static bool looks_full(const rill_store *s)
{
    struct statvfs fs;
    if (!s || statvfs(s->dir, &fs) != 0)
        return false;
    uint64_t free_bytes = (uint64_t)fs.f_bavail * fs.f_frsize;
    return free_bytes < ((uint64_t)64 << 20);
}

int rill_store_mdb_err(rill_store *s, int rc, const char *what, rill_err *err)
{
    if (rc == EIO && looks_full(s))
        rc = ENOSPC;
    const char *hint = "";
    if (rc == MDB_CORRUPTED || rc == MDB_PAGE_NOTFOUND || rc == MDB_INVALID)
        hint = ": the store is damaged; the run cannot be read";
    else if (rc == ENOSPC || rc == EDQUOT)
        hint = ": the disk is full";
    else if (rc == MDB_VERSION_MISMATCH)
        hint = ": made by another LMDB version";
    else if (rc == MDB_READERS_FULL)
        hint = ": too many readers";
    return rill_errf(err, rc == ENOSPC || rc == EDQUOT ? RILL_ENOSPC : RILL_ESTORE, "%s: %s: %s%s",
                     s ? s->path : "store", what, mdb_strerror(rc), hint);
}

void rill_store_end_all_reads(rill_store *s)
{
    for (int i = 0; i < s->ntables; i++)
        rill_table_end_reads(s->tables[i]);
}

int rill_store_resize_map(rill_store *s, size_t size, rill_err *err)
{
    rill_store_end_all_reads(s); /* the map may only be resized with no transaction open */
    rill_prefetch_pause(s);
    int rc = mdb_env_set_mapsize(s->env, size);
    rill_prefetch_resume(s);
    if (rc)
        return rill_store_mdb_err(s, rc, "growing the map", err);
    s->map_size = size;
    return RILL_OK;
}

static int grow(rill_store *s, rill_err *err)
{
    return rill_store_resize_map(s, s->map_size * 2, err);
}

static int write_txn(rill_store *s, rill_guard *g, rill_store_write_fn fn, void *ctx,
                     rill_err *err)
{
    MDB_txn *txn = NULL;
    int rc = mdb_txn_begin(s->env, NULL, 0, &txn);
    if (rc)
        return rc;
    g->txn = txn;
    rc = fn(s, txn, ctx, err);
    if (rc == RILL_OK) {
        rc = mdb_txn_commit(txn); /* frees txn, also on failure */
        g->txn = NULL;
        return rc;
    }
    g->txn = NULL;
    mdb_txn_abort(txn);
    return rc;
}

int rill_store_write(rill_store *s, rill_store_write_fn fn, void *ctx, const char *what,
                     rill_err *err)
{
    if (s->mode == RILL_STORE_READ)
        return rill_errf(err, RILL_ESTORE, "%s: %s: the store is open read-only", s->path, what);
    int wrc = rill_store_checkpoint_wait(s, err); /* LMDB has one writer at a time */
    if (wrc)
        return wrc;
    if (rill_store_refuse_damaged(s, err))
        return RILL_ESTORE;
    for (int attempt = 0; attempt < 40; attempt++) {
        int rc = rill_store_write_once(s, fn, ctx, what, err);
        if (rc == MDB_MAP_RESIZED) {
            rill_prefetch_pause(s);
            rc = mdb_env_set_mapsize(s->env, 0);
            rill_prefetch_resume(s);
            if (rc)
                return rill_store_mdb_err(s, rc, what, err);
            continue;
        }
        if (rc == MDB_MAP_FULL) {
            int grc = grow(s, err);
            if (grc)
                return grc;
            continue;
        }
        if (rill_is_mdb_code(rc))
            return rill_store_mdb_err(s, rc, what, err);
        return rc; /* RILL_OK, or a Rill error fn (or a guard) already described */
    }
    return rill_errf(err, RILL_ESTORE, "%s: %s: the map kept filling up", s->path, what);
}

int rill_store_write_once(rill_store *s, rill_store_write_fn fn, void *ctx, const char *what,
                          rill_err *err)
{
    int rc;
    RILL_GUARDED(rc, g, s, what, err, (void)0, write_txn(s, &g, fn, ctx, err));
    return rc;
}

static int read_txn(rill_store *s, rill_guard *g, rill_store_write_fn fn, void *ctx,
                    rill_err *err)
{
    MDB_txn *txn;
    int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
    if (rc)
        return rc;
    g->txn = txn;
    rc = fn(s, txn, ctx, err);
    if (rc)
        mdb_txn_abort(txn);
    else
        rc = mdb_txn_commit(txn);
    g->txn = NULL;
    return rc;
}

int rill_store_read(rill_store *s, rill_store_write_fn fn, void *ctx, const char *what,
                    rill_err *err)
{
    /* reads of the store as a whole see the checkpoint just taken */
    int wrc = rill_store_checkpoint_wait(s, err);
    if (wrc)
        return wrc;
    if (rill_store_refuse_damaged(s, err))
        return RILL_ESTORE;
    int rc;
    RILL_GUARDED(rc, g, s, what, err, (void)0, read_txn(s, &g, fn, ctx, err));
    if (rill_is_mdb_code(rc))
        return rill_store_mdb_err(s, rc, what, err);
    return rc;
}

/* ---- opening ---- */

static int take_lock(rill_store *s, rill_err *err)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/lock", s->dir);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return rill_errf(err, RILL_EIO, "%s: cannot open: %s", path, strerror(errno));
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        char pid[32] = "";
        ssize_t n = pread(fd, pid, sizeof pid - 1, 0);
        pid[n > 0 ? n : 0] = 0;
        close(fd);
        return rill_errf(err, RILL_ESTORE,
                         "%s is being written by another process%s%s%s; wait for it to finish (or "
                         "stop it) before training or resuming this run",
                         s->dir, pid[0] ? " (pid " : "", pid[0] ? strtok(pid, "\n") : "",
                         pid[0] ? ")" : "");
    }
    char buf[32];
    int len = snprintf(buf, sizeof buf, "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, buf, (size_t)len, 0) != len) {
        /* the pid is only a courtesy for the message above; the lock is what matters */
    }
    s->lock_fd = fd;
    return RILL_OK;
}

typedef struct {
    bool create;
} open_ctx;

static int open_dbs(rill_store *s, MDB_txn *txn, void *ctx, rill_err *err)
{
    open_ctx *c = ctx;
    unsigned flags = c->create ? MDB_CREATE : 0;
    int rc;
    if ((rc = mdb_dbi_open(txn, "meta", flags, &s->meta)) ||
        (rc = mdb_dbi_open(txn, "state", flags, &s->state)) ||
        (rc = mdb_dbi_open(txn, "dense", flags, &s->dense))) {
        if (rc == MDB_NOTFOUND)
            return rill_errf(err, RILL_ESTORE,
                             "%s is an LMDB file but not a Rill store (it lacks the meta, state "
                             "and dense databases)",
                             s->path);
        return rc;
    }
    if (c->create) {
        /* "format" is the one value without a seal: it says whether the others have one */
        MDB_val k = {6, (void *)"format"}, v = {strlen(FORMAT), (void *)FORMAT};
        s->sealed = true;
        if ((rc = mdb_put(txn, s->meta, &k, &v, 0)))
            return rc;
        MDB_val ik = {6, (void *)"run_id"};
        return rill_put_sealed(s, txn, s->meta, &ik, s->run_id, strlen(s->run_id));
    }
    MDB_val k = {6, (void *)"format"}, v;
    rc = mdb_get(txn, s->meta, &k, &v);
    bool is4 = rc == 0 && v.mv_size == strlen(FORMAT) && !memcmp(v.mv_data, FORMAT, v.mv_size);
    bool is3 = rc == 0 && v.mv_size == strlen(FORMAT_SEALED) &&
               !memcmp(v.mv_data, FORMAT_SEALED, v.mv_size);
    bool known = is4 || is3 ||
                 (rc == 0 && v.mv_size == strlen(FORMAT_UNSEALED) &&
                  !memcmp(v.mv_data, FORMAT_UNSEALED, v.mv_size));
    if (rc == MDB_NOTFOUND || (rc == 0 && !known))
        return rill_errf(err, RILL_ESTORE,
                         "%s: not a store this Rill can read (format '%.*s', expected '%s')",
                         s->path, rc ? 0 : (int)(v.mv_size > 40 ? 40 : v.mv_size),
                         rc ? "" : (const char *)v.mv_data, FORMAT);
    if (rc)
        return rc;
    s->sealed = is4 || is3;
    if (is3 && s->mode != RILL_STORE_READ) {
        /* this build may give its tables generations, which a format-3 reader would not see */
        MDB_val nv = {strlen(FORMAT), (void *)FORMAT};
        if ((rc = mdb_put(txn, s->meta, &k, &nv, 0)))
            return rc;
    }
    MDB_val ik = {6, (void *)"run_id"}, iv;
    rc = rill_get_sealed(s, txn, s->meta, &ik, &iv, "the run's identity", err);
    if (rc && rc != MDB_NOTFOUND)
        return rc;
    if (rc == 0)
        snprintf(s->stored_id, sizeof s->stored_id, "%.*s",
                 (int)(iv.mv_size < sizeof s->stored_id ? iv.mv_size : sizeof s->stored_id - 1),
                 (const char *)iv.mv_data);
    MDB_val sk = {3, (void *)"run"}, sv;
    rc = mdb_get(txn, s->state, &sk, &sv);
    if (rc && rc != MDB_NOTFOUND)
        return rc;
    s->has_checkpoint = rc == 0;
    return RILL_OK;
}

/* mdb_env_open under a guard: it reads the meta pages through the map (the checks above catch
 * what is known to fault; the guard, what is not). */
static int open_env(rill_store *s, unsigned flags, rill_err *err)
{
    int mrc;
    RILL_GUARDED(mrc, g, s, "opening", err, (void)0, mdb_env_open(s->env, s->path, flags, 0644));
    if (mrc == RILL_ESTORE)
        return mrc; /* a fault, described */
    if (mrc == MDB_INVALID || mrc == EINVAL)
        return rill_errf(err, RILL_ESTORE, "%s is not an LMDB store (or is damaged): %s",
                         s->path, mdb_strerror(mrc));
    return mrc ? rill_store_mdb_err(s, mrc, "opening", err) : RILL_OK;
}

/* A new store in dir: the lock taken, an old store and an old run's copy of its best model
 * removed (that copy must not outlive its run). */
static int prepare_new(rill_store *s, const char *dir, bool exists, rill_err *err)
{
    int rc;
    if ((rc = rill_mkdir_p(dir, err)) || (rc = take_lock(s, err)))
        return rc;
    char lk[4300];
    snprintf(lk, sizeof lk, "%s-lock", s->path);
    if ((exists && unlink(s->path) != 0) || (unlink(lk) != 0 && errno != ENOENT))
        return rill_errf(err, RILL_EIO, "%s: cannot replace the old store: %s", s->path,
                         strerror(errno));
    char best[4300];
    snprintf(best, sizeof best, "%s/best/store.mdb", dir);
    unlink(best);
    snprintf(best, sizeof best, "%s/best/store.mdb-lock", dir);
    unlink(best);
    snprintf(best, sizeof best, "%s/best", dir);
    rmdir(best);
    return RILL_OK;
}

/* An existing store: there, long enough to be one, and locked when it will be written. */
static int prepare_existing(rill_store *s, const char *dir, bool exists, const struct stat *sb,
                            rill_err *err)
{
    if (!exists)
        return rill_errf(err, RILL_ESTORE,
                         "%s has no store (store.mdb): is it a run directory made by rill train?",
                         dir);
    if (sb->st_size < 8192)
        return rill_errf(err, RILL_ESTORE,
                         "%s: %lld bytes is too short for a store: the file is truncated or not "
                         "a store",
                         s->path, (long long)sb->st_size);
    return s->mode == RILL_STORE_WRITE ? take_lock(s, err) : RILL_OK;
}

/* The LMDB environment over the checked file, its pages walked, its databases opened. */
static int open_lmdb(rill_store *s, bool exists, rill_err *err)
{
    int rc, mrc;
    if ((mrc = mdb_env_create(&s->env)) || (mrc = mdb_env_set_maxdbs(s->env, 4096)) ||
        (mrc = mdb_env_set_maxreaders(s->env, 1024)) ||
        (mrc = mdb_env_set_mapsize(s->env, s->map_size)))
        return rill_store_mdb_err(s, mrc, "opening", err);
    rill_guard_setup(s->env);
    /* MDB_NORDAHEAD: rows are read at random; with the kernel's readahead every fault on the
     * map pulls in the pages around it, and once the table is larger than the memory the
     * process may hold (a cgroup limit, a small machine) that readahead evicts the pages it
     * needs before they are used: measured 120 times slower (issue 13). Scans (inspect
     * --check, export) lose little, the pages of a prefilled table being mostly in order. */
    if ((rc = open_env(s, MDB_NOSUBDIR | MDB_NOTLS | MDB_NORDAHEAD |
                              (s->mode == RILL_STORE_READ ? MDB_RDONLY : 0),
                       err)))
        return rc;
    MDB_envinfo info;
    if (mdb_env_info(s->env, &info) == 0 && info.me_mapsize > s->map_size)
        s->map_size = info.me_mapsize;
    if (exists && (rc = rill_store_walk_pages(s, false, err)))
        return rc;
    open_ctx oc = {s->mode == RILL_STORE_CREATE};
    if (s->mode == RILL_STORE_READ)
        return rill_store_read(s, open_dbs, &oc, "opening", err);
    return rill_store_write(s, open_dbs, &oc, "opening", err);
}

int rill_store_open(rill_store **out, const char *dir, const rill_store_cfg *cfg, rill_err *err)
{
    *out = NULL;
    rill_store *s = calloc(1, sizeof *s);
    if (!s)
        return rill_errf(err, RILL_ENOMEM, "out of memory opening a store");
    s->lock_fd = -1;
    s->mode = cfg->mode;
    s->sync_checkpoints = cfg->sync_checkpoints;
    s->rows_in_place = cfg->rows_in_place;
    const char *pause = getenv("RILL_CHECKPOINT_PAUSE");
    s->ckpt_pause = pause ? atof(pause) : 0;
    /* RILL_GENS_CHUNK: the rolling fold's ids a transaction, smaller for the tests */
    const char *chunk = getenv("RILL_GENS_CHUNK");
    s->gens_chunk = chunk && atoll(chunk) > 0 ? (uint64_t)atoll(chunk) : RILL_GENS_CHUNK;
    s->cache_bytes = cfg->cache_bytes;
    snprintf(s->dir, sizeof s->dir, "%s", dir);
    snprintf(s->path, sizeof s->path, "%s/store.mdb", dir);
    int rc;
    struct stat sb;
    bool exists = stat(s->path, &sb) == 0;
    if (s->mode == RILL_STORE_CREATE) {
        rc = prepare_new(s, dir, exists, err);
        exists = false;
    } else {
        rc = prepare_existing(s, dir, exists, &sb, err);
    }
    if (rc)
        goto fail;
    size_t want = cfg->map_bytes ? cfg->map_bytes : ((size_t)1 << 30);
    if (exists && (size_t)sb.st_size * 2 > want)
        want = (size_t)sb.st_size * 2;
    s->map_size = want;
    if ((s->mode == RILL_STORE_CREATE && (rc = rill_new_run_id(s->run_id, sizeof s->run_id, err))) ||
        (exists && (rc = rill_store_check_file(s, err))) || (rc = open_lmdb(s, exists, err)))
        goto fail;
    if (s->mode == RILL_STORE_CREATE)
        rc = rill_write_run_id(s->dir, s->run_id, err);
    else
        rc = rill_store_check_run_id(s, err);
    if (rc)
        goto fail;
    *out = s;
    return RILL_OK;
fail:
    rill_store_close(s);
    return rc;
}

void rill_store_close(rill_store *s)
{
    if (!s)
        return;
    rill_err ignored = {0}; /* callers that care wait themselves (rill_store_checkpoint_wait) */
    rill_store_checkpoint_wait(s, &ignored);
    rill_prefetch_free(s);
    rill_store_end_all_reads(s);
    if (s->env)
        mdb_env_close(s->env);
    if (s->lock_fd >= 0)
        close(s->lock_fd); /* releases the flock */
    for (int i = 0; i < s->npending; i++) {
        free(s->pending[i].key);
        free(s->pending[i].val);
    }
    free(s->pending);
    free(s->tables);
    free(s);
}

const char *rill_store_dir(const rill_store *s)
{
    return s->dir;
}

bool rill_store_has_checkpoint(rill_store *s)
{
    rill_err ignored = {0}; /* a failed checkpoint leaves the one before it */
    rill_store_checkpoint_wait(s, &ignored);
    return s->has_checkpoint;
}

/* ---- tables ---- */

typedef struct {
    const char *name;
    char shape[160];
    MDB_dbi main, spill, gens;
    bool create;
    bool gens_open, gens_ok;
    uint64_t rows;
    uint64_t stored;
    rill_gens_state gs; /* the generations (table_gens.c), where[] handed to the table */
} table_ctx;

static int count_rows(rill_store *s, MDB_txn *txn, void *ctx, rill_err *err)
{
    (void)s;
    (void)err;
    table_ctx *c = ctx;
    MDB_stat st;
    int rc = mdb_stat(txn, c->main, &st);
    c->stored = rc ? 0 : st.ms_entries;
    return rc;
}

static int open_table_dbs(rill_store *s, MDB_txn *txn, void *ctx, rill_err *err)
{
    table_ctx *c = ctx;
    char key[200];
    unsigned flags = MDB_INTEGERKEY | (c->create ? MDB_CREATE : 0);
    int rc;
    snprintf(key, sizeof key, "table:%s", c->name);
    MDB_val k = {strlen(key), key}, v;
    rc = rill_get_sealed(s, txn, s->meta, &k, &v, "a table's shape", err);
    if (rc == RILL_ESTORE)
        return rc;
    if (rc == 0 && (v.mv_size != strlen(c->shape) || memcmp(v.mv_data, c->shape, v.mv_size)))
        return rill_errf(err, RILL_ESTORE,
                         "%s: table '%s' was stored as (%.*s), the graph makes it (%s) (rows dim "
                         "stride optimizer): the store belongs to another graph",
                         s->path, c->name, (int)v.mv_size, (const char *)v.mv_data, c->shape);
    if (rc == MDB_NOTFOUND && !c->create)
        return rill_errf(err, RILL_ESTORE,
                         "%s has no table '%s': the store belongs to another graph", s->path,
                         c->name);
    if (rc && rc != MDB_NOTFOUND)
        return rc;
    if (rc == MDB_NOTFOUND && (rc = rill_put_sealed(s, txn, s->meta, &k, c->shape,
                                                    strlen(c->shape))))
        return rc;
    snprintf(key, sizeof key, "t:%s", c->name);
    if ((rc = mdb_dbi_open(txn, key, flags, &c->main)))
        return rc;
    snprintf(key, sizeof key, "s:%s", c->name);
    if ((rc = mdb_dbi_open(txn, key, flags, &c->spill)))
        return rc;
    /* rows spilled after the last checkpoint belong to no checkpoint: a resumed run redoes
     * those steps, so they are dropped */
    if (s->mode != RILL_STORE_READ && (rc = mdb_drop(txn, c->spill, 0)))
        return rc;
    snprintf(key, sizeof key, "g:%s", c->name);
    rc = mdb_dbi_open(txn, key, flags, &c->gens);
    if (rc == MDB_NOTFOUND && s->mode == RILL_STORE_READ)
        return RILL_OK; /* a store from before generations */
    if (rc)
        return rc;
    c->gens_open = true;
    free(c->gs.where); /* a second run of this transaction (the map grew) */
    c->gs.where = NULL;
    if ((rc = rill_gens_load(s, txn, c->name, c->rows, c->gens_ok, &c->gs, err)))
        return rc;
    /* a generation past the last one committed was being written when the run stopped */
    if (s->mode != RILL_STORE_READ)
        rc = rill_gens_drop_orphans(s, txn, c->gens, c->gs.ngens);
    return rc;
}

int rill_store_table(rill_store *s, rill_table **out, const char *name, int64_t rows, int dim,
                     const rill_optim *opt, uint64_t seed, double init_scale,
                     const rill_table_opts *o, rill_err *err)
{
    rill_table *t;
    int rc = rill_table_create(&t, name, rows, dim, opt, seed, init_scale, err);
    if (rc)
        return rc;
    if (o)
        rill_table_set_opts(t, o);
    /* generations for every table whose rows never go (evict_after deletes them) */
    table_ctx c = {.name = name, .create = s->mode != RILL_STORE_READ, .rows = (uint64_t)rows,
                   .gens_ok = !(o && o->evict_after > 0) && !s->rows_in_place &&
                              (uint64_t)rows <= RILL_GENS_MAX_ROWS};
    snprintf(c.shape, sizeof c.shape, "%lld %d %d %s", (long long)rows, dim, rill_table_stride(t),
             rill_optim_name(opt->kind));
    if (s->mode == RILL_STORE_READ) {
        rc = rill_store_read(s, open_table_dbs, &c, "opening a table", err);
    } else {
        rc = rill_store_write(s, open_table_dbs, &c, "opening a table", err);
    }
    rill_table **ts = rc ? NULL : realloc(s->tables, (size_t)(s->ntables + 1) * sizeof *ts);
    if (!rc && !ts)
        rc = rill_errf(err, RILL_ENOMEM, "out of memory opening table '%s'", name);
    if (rc) {
        free(c.gs.where);
        rill_table_free(t);
        return rc;
    }
    s->tables = ts;
    s->tables[s->ntables++] = t;
    rill_table_attach(t, s, c.main, c.spill);
    rill_table_attach_gens(t, c.gens_open ? &c.gens : NULL, c.gens_ok, &c.gs);
    /* how many rows exist already: the stored ones */
    if ((rc = rill_store_read(s, count_rows, &c, "counting a table's rows", err)))
        return rc; /* the table is the store's now: freed with the graph */
    rill_table_set_stored_rows(t, c.stored + c.gs.new_rows); /* the base's, the generations' */
    s->budgets_set = false;
    char sk[200];
    snprintf(sk, sizeof sk, "sweep:%s", name);
    void *sv = NULL;
    size_t sl = 0;
    if (rill_store_get_meta(s, sk, &sv, &sl, err) == RILL_OK && sl == sizeof(uint64_t)) {
        uint64_t pos;
        memcpy(&pos, sv, sizeof pos);
        rill_table_set_sweep(t, pos);
    }
    free(sv);
    snprintf(sk, sizeof sk, "admit:%s", name);
    if (rill_store_get_meta(s, sk, &sv, &sl, err) == RILL_OK &&
        rill_table_read_pending(t, sv, sl) != RILL_OK) {
        free(sv);
        return rill_errf(err, RILL_ESTORE, "%s: the admission counts of table '%s' are damaged",
                         s->path, name);
    }
    free(sv);
    if (o && o->prefill && s->mode != RILL_STORE_READ && (rc = rill_table_prefill(t, err)))
        return rc; /* the table is the store's now: freed with the graph */
    *out = t;
    return RILL_OK;
}

/* Splits the cache budget over the tables in proportion to their largest size. */
static void set_budgets(rill_store *s)
{
    s->budgets_set = true;
    if (!s->cache_bytes)
        return;
    double total = 0;
    for (int i = 0; i < s->ntables; i++)
        total += (double)rill_table_rows(s->tables[i]) * (double)rill_table_row_bytes(s->tables[i]);
    for (int i = 0; i < s->ntables; i++) {
        rill_table *t = s->tables[i];
        double share = (double)rill_table_rows(t) * (double)rill_table_row_bytes(t) / total;
        size_t rows = (size_t)((double)s->cache_bytes * share / (double)rill_table_row_bytes(t));
        rill_table_set_budget(t, rows < 1024 ? 1024 : rows);
    }
}

void rill_store_set_step(rill_store *s, uint64_t step)
{
    s->step = step;
    for (int i = 0; i < s->ntables; i++)
        rill_table_set_step(s->tables[i], step);
}

int rill_store_end_step(rill_store *s, uint64_t step, rill_err *err)
{
    if (!s->budgets_set)
        set_budgets(s);
    bool over = false;
    for (int i = 0; i < s->ntables; i++) {
        int rc = rill_table_end_step(s->tables[i], step, err);
        if (rc)
            return rc;
        over |= rill_table_held_over(s->tables[i]);
    }
    if (!over || !s->job)
        return RILL_OK;
    /* rows a background checkpoint holds have taken the cache a quarter over its budget:
     * training waits for the checkpoint rather than let memory grow, then evicts */
    int rc = rill_store_checkpoint_wait(s, err);
    for (int i = 0; !rc && i < s->ntables; i++)
        rc = rill_table_end_step(s->tables[i], step, err);
    return rc;
}

void rill_store_sync_next(rill_store *s)
{
    s->sync_next = true;
}

void rill_store_fold_next(rill_store *s)
{
    s->fold_next = true;
}

void rill_store_get_info(rill_store *s, rill_store_info *info)
{
    rill_err ignored = {0}; /* the figures are of the checkpoints committed */
    rill_store_checkpoint_wait(s, &ignored);
    memset(info, 0, sizeof *info);
    MDB_envinfo ei;
    MDB_stat st;
    if (mdb_env_info(s->env, &ei) == 0 && mdb_env_stat(s->env, &st) == 0) {
        info->map_size = ei.me_mapsize;
        info->used_bytes = (ei.me_last_pgno + 1) * (uint64_t)st.ms_psize;
    }
    info->checkpoints = s->checkpoints;
    info->last_checkpoint_bytes = s->last_ckpt_bytes;
    info->last_checkpoint_seconds = s->last_ckpt_seconds;
    info->checkpoint_bytes = s->total_ckpt_bytes;
    info->checkpoint_rows = s->total_ckpt_rows;
    info->checkpoint_seconds = s->total_ckpt_seconds;
    info->checkpoint_wait_seconds = s->total_ckpt_wait_seconds;
    info->checkpoint_disk_bytes = s->total_ckpt_disk_bytes;
    info->last_checkpoint_disk_bytes = s->last_ckpt_disk_bytes;
    info->last_checkpoint_row_bytes = s->last_ckpt_row_bytes;
    info->checkpoint_row_bytes = s->total_ckpt_row_bytes;
}

/* ---- copies ---- */

static int copy_guarded(rill_store *s, int fd, rill_err *err)
{
    int rc;
    RILL_GUARDED(rc, g, s, "copying the store", err, (void)0,
                 mdb_env_copyfd2(s->env, fd, MDB_CP_COMPACT));
    if (rc == RILL_ESTORE)
        return rc; /* a fault, described */
    return rc ? rill_store_mdb_err(s, rc, "copying the store", err) : RILL_OK;
}

int rill_store_copy(rill_store *s, const char *dir, rill_err *err)
{
    char path[4300], tmp[4400];
    int rc = rill_mkdir_p(dir, err);
    if (rc)
        return rc;
    if ((rc = rill_store_checkpoint_wait(s, err)))
        return rc; /* the copy is of the checkpoint just taken */
    if (rill_store_refuse_damaged(s, err))
        return RILL_ESTORE;
    snprintf(path, sizeof path, "%s/store.mdb", dir);
    snprintf(tmp, sizeof tmp, "%s/store.mdb.tmp", dir);
    unlink(tmp);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return rill_errf(err, RILL_EIO, "%s: cannot write: %s", tmp, strerror(errno));
    rill_store_end_all_reads(s);
    rc = copy_guarded(s, fd, err);
    if (rc == RILL_OK && fsync(fd) != 0)
        rc = rill_errf(err, RILL_EIO, "%s: cannot write: %s", tmp, strerror(errno));
    if (close(fd) != 0 && rc == RILL_OK)
        rc = rill_errf(err, RILL_EIO, "%s: cannot write: %s", tmp, strerror(errno));
    if (rc) {
        unlink(tmp);
        return rc;
    }
    if (rename(tmp, path) != 0)
        return rill_errf(err, RILL_EIO, "%s: cannot rename to %s: %s", tmp, path, strerror(errno));
    /* the copy is this run's: it carries the identity in its meta and beside it */
    return s->run_id[0] ? rill_write_run_id(dir, s->run_id, err) : RILL_OK;
}
