/* The run's LMDB environment: DIR/store.mdb, with named databases
 *   meta      "format", the pipeline and its settings, the graph's signature, per table its
 *             shape ("table:NAME" = "rows dim stride optim")
 *   state     "run": the trainer's state at the last checkpoint; "node:NAME": a node's own
 *             state (CEL's gradient window and cluster sizes)
 *   dense     per dense parameter: its values, then Adam's m and v for trainable ones
 *   t:NAME    a table's rows (key: the row id as a native uint64; value: the floats, then the
 *             last step that used the row and how many training steps did)
 *   s:NAME    rows evicted since the last checkpoint, folded into t:NAME by the next one
 * and DIR/lock, held (flock) by the one process that may write the run. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "graph.h"
#include "store_impl.h"
#include "util.h"

#define FORMAT "rill-store 2" /* 2: rows carry their use count */

int rill_store_mdb_err(rill_store *s, int rc, const char *what, rill_err *err)
{
    const char *hint = "";
    if (rc == MDB_CORRUPTED || rc == MDB_PAGE_NOTFOUND || rc == MDB_INVALID)
        hint = ": the store is damaged; the run cannot be read";
    else if (rc == ENOSPC)
        hint = ": the disk is full; the last checkpoint is intact, free space and resume";
    else if (rc == MDB_VERSION_MISMATCH)
        hint = ": made by another LMDB version";
    else if (rc == MDB_READERS_FULL)
        hint = ": too many readers";
    return rill_errf(err, RILL_ESTORE, "%s: %s: %s%s", s ? s->path : "store", what,
                     mdb_strerror(rc), hint);
}

static void end_all_reads(rill_store *s)
{
    for (int i = 0; i < s->ntables; i++)
        rill_table_end_reads(s->tables[i]);
}

static int grow(rill_store *s, rill_err *err)
{
    end_all_reads(s); /* the map may only be resized with no transaction open */
    size_t size = s->map_size * 2;
    int rc = mdb_env_set_mapsize(s->env, size);
    if (rc)
        return rill_store_mdb_err(s, rc, "growing the map", err);
    s->map_size = size;
    return RILL_OK;
}

int rill_store_write(rill_store *s, rill_store_write_fn fn, void *ctx, const char *what,
                     rill_err *err)
{
    if (s->mode == RILL_STORE_READ)
        return rill_errf(err, RILL_ESTORE, "%s: %s: the store is open read-only", s->path, what);
    for (int attempt = 0; attempt < 40; attempt++) {
        MDB_txn *txn = NULL;
        int rc = mdb_txn_begin(s->env, NULL, 0, &txn);
        if (rc == MDB_MAP_RESIZED) {
            if ((rc = mdb_env_set_mapsize(s->env, 0)))
                return rill_store_mdb_err(s, rc, what, err);
            continue;
        }
        if (rc)
            return rill_store_mdb_err(s, rc, what, err);
        rc = fn(s, txn, ctx, err);
        if (rc == RILL_OK) {
            rc = mdb_txn_commit(txn); /* frees txn, also on failure */
            txn = NULL;
            if (rc == RILL_OK)
                return RILL_OK;
        }
        if (txn)
            mdb_txn_abort(txn);
        if (rc == MDB_MAP_FULL) {
            int grc = grow(s, err);
            if (grc)
                return grc;
            continue;
        }
        if (rc > 0 || (rc <= MDB_KEYEXIST && rc >= MDB_LAST_ERRCODE))
            return rill_store_mdb_err(s, rc, what, err);
        return rc; /* a Rill error fn already described */
    }
    return rill_errf(err, RILL_ESTORE, "%s: %s: the map kept filling up", s->path, what);
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
        MDB_val k = {6, (void *)"format"}, v = {strlen(FORMAT), (void *)FORMAT};
        return mdb_put(txn, s->meta, &k, &v, 0);
    }
    MDB_val k = {6, (void *)"format"}, v;
    rc = mdb_get(txn, s->meta, &k, &v);
    if (rc == MDB_NOTFOUND || (rc == 0 && (v.mv_size != strlen(FORMAT) ||
                                          memcmp(v.mv_data, FORMAT, v.mv_size) != 0)))
        return rill_errf(err, RILL_ESTORE,
                         "%s: not a store this Rill can read (format '%.*s', expected '%s')",
                         s->path, rc ? 0 : (int)v.mv_size, rc ? "" : (const char *)v.mv_data,
                         FORMAT);
    if (rc)
        return rc;
    MDB_val sk = {3, (void *)"run"}, sv;
    s->has_checkpoint = mdb_get(txn, s->state, &sk, &sv) == 0;
    return RILL_OK;
}

int rill_store_open(rill_store **out, const char *dir, const rill_store_cfg *cfg, rill_err *err)
{
    *out = NULL;
    rill_store *s = calloc(1, sizeof *s);
    if (!s)
        return rill_errf(err, RILL_ENOMEM, "out of memory opening a store");
    s->lock_fd = -1;
    s->mode = cfg->mode;
    s->cache_bytes = cfg->cache_bytes;
    snprintf(s->dir, sizeof s->dir, "%s", dir);
    snprintf(s->path, sizeof s->path, "%s/store.mdb", dir);
    int rc = RILL_OK, mrc;
    struct stat sb;
    bool exists = stat(s->path, &sb) == 0;
    if (s->mode == RILL_STORE_CREATE) {
        if ((rc = rill_mkdir_p(dir, err)) || (rc = take_lock(s, err)))
            goto fail;
        char lk[4300];
        snprintf(lk, sizeof lk, "%s-lock", s->path);
        if ((exists && unlink(s->path) != 0) || (unlink(lk) != 0 && errno != ENOENT)) {
            rc = rill_errf(err, RILL_EIO, "%s: cannot replace the old store: %s", s->path,
                           strerror(errno));
            goto fail;
        }
        exists = false;
        /* an old run's copy of its best model must not outlive it */
        char best[4300];
        snprintf(best, sizeof best, "%s/best/store.mdb", dir);
        unlink(best);
        snprintf(best, sizeof best, "%s/best/store.mdb-lock", dir);
        unlink(best);
        snprintf(best, sizeof best, "%s/best", dir);
        rmdir(best);
    } else {
        if (!exists) {
            rc = rill_errf(err, RILL_ESTORE,
                           "%s has no store (store.mdb): is it a run directory made by rill train?",
                           dir);
            goto fail;
        }
        if (sb.st_size < 8192) {
            rc = rill_errf(err, RILL_ESTORE,
                           "%s: %lld bytes is too short for a store: the file is truncated or not "
                           "a store",
                           s->path, (long long)sb.st_size);
            goto fail;
        }
        if (s->mode == RILL_STORE_WRITE && (rc = take_lock(s, err)))
            goto fail;
    }
    size_t want = cfg->map_bytes ? cfg->map_bytes : ((size_t)1 << 30);
    if (exists && (size_t)sb.st_size * 2 > want)
        want = (size_t)sb.st_size * 2;
    s->map_size = want;
    if ((mrc = mdb_env_create(&s->env)) || (mrc = mdb_env_set_maxdbs(s->env, 4096)) ||
        (mrc = mdb_env_set_maxreaders(s->env, 1024)) ||
        (mrc = mdb_env_set_mapsize(s->env, want)) ||
        (mrc = mdb_env_open(s->env, s->path,
                            MDB_NOSUBDIR | MDB_NOTLS |
                                (s->mode == RILL_STORE_READ ? MDB_RDONLY : 0),
                            0644))) {
        rc = mrc == MDB_INVALID || mrc == EINVAL
                 ? rill_errf(err, RILL_ESTORE,
                             "%s is not an LMDB store (or is damaged): %s", s->path,
                             mdb_strerror(mrc))
                 : rill_store_mdb_err(s, mrc, "opening", err);
        goto fail;
    }
    MDB_envinfo info;
    if (mdb_env_info(s->env, &info) == 0 && info.me_mapsize > s->map_size)
        s->map_size = info.me_mapsize;
    open_ctx oc = {s->mode == RILL_STORE_CREATE};
    if (s->mode == RILL_STORE_READ) {
        MDB_txn *txn;
        if ((mrc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn))) {
            rc = rill_store_mdb_err(s, mrc, "opening", err);
            goto fail;
        }
        mrc = open_dbs(s, txn, &oc, err);
        if (mrc)
            mdb_txn_abort(txn);
        else
            mrc = mdb_txn_commit(txn); /* keeps the database handles open */
        if (mrc) {
            rc = mrc < 0 && mrc > -100 ? mrc : rill_store_mdb_err(s, mrc, "opening", err);
            goto fail;
        }
    } else if ((rc = rill_store_write(s, open_dbs, &oc, "opening", err))) {
        goto fail;
    }
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
    end_all_reads(s);
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
    return s->has_checkpoint;
}

/* ---- tables ---- */

typedef struct {
    const char *name;
    char shape[160];
    MDB_dbi main, spill;
    bool create;
} table_ctx;

static int open_table_dbs(rill_store *s, MDB_txn *txn, void *ctx, rill_err *err)
{
    table_ctx *c = ctx;
    char key[200];
    unsigned flags = MDB_INTEGERKEY | (c->create ? MDB_CREATE : 0);
    int rc;
    snprintf(key, sizeof key, "table:%s", c->name);
    MDB_val k = {strlen(key), key}, v;
    rc = mdb_get(txn, s->meta, &k, &v);
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
    if (rc == MDB_NOTFOUND) {
        MDB_val sv = {strlen(c->shape), c->shape};
        if ((rc = mdb_put(txn, s->meta, &k, &sv, 0)))
            return rc;
    }
    snprintf(key, sizeof key, "t:%s", c->name);
    if ((rc = mdb_dbi_open(txn, key, flags, &c->main)))
        return rc;
    snprintf(key, sizeof key, "s:%s", c->name);
    if ((rc = mdb_dbi_open(txn, key, flags, &c->spill)))
        return rc;
    /* rows spilled after the last checkpoint belong to no checkpoint: a resumed run redoes
     * those steps, so they are dropped */
    if (s->mode != RILL_STORE_READ)
        rc = mdb_drop(txn, c->spill, 0);
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
    table_ctx c = {.name = name, .create = s->mode != RILL_STORE_READ};
    snprintf(c.shape, sizeof c.shape, "%lld %d %d %s", (long long)rows, dim, rill_table_stride(t),
             rill_optim_name(opt->kind));
    if (s->mode == RILL_STORE_READ) {
        MDB_txn *txn;
        if ((rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn)) == 0) {
            rc = open_table_dbs(s, txn, &c, err);
            if (rc)
                mdb_txn_abort(txn);
            else
                rc = mdb_txn_commit(txn); /* keeps the database handles open */
        }
        if (rc > 0 || (rc <= MDB_KEYEXIST && rc >= MDB_LAST_ERRCODE))
            rc = rill_store_mdb_err(s, rc, "opening a table", err);
    } else {
        rc = rill_store_write(s, open_table_dbs, &c, "opening a table", err);
    }
    rill_table **ts = rc ? NULL : realloc(s->tables, (size_t)(s->ntables + 1) * sizeof *ts);
    if (!rc && !ts)
        rc = rill_errf(err, RILL_ENOMEM, "out of memory opening table '%s'", name);
    if (rc) {
        rill_table_free(t);
        return rc;
    }
    s->tables = ts;
    s->tables[s->ntables++] = t;
    rill_table_attach(t, s, c.main, c.spill);
    /* how many rows exist already: the stored ones */
    MDB_txn *txn;
    MDB_stat st;
    if (mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn) == 0) {
        if (mdb_stat(txn, c.main, &st) == 0)
            rill_table_set_stored_rows(t, st.ms_entries);
        mdb_txn_abort(txn);
    }
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
    for (int i = 0; i < s->ntables; i++) {
        int rc = rill_table_end_step(s->tables[i], step, err);
        if (rc)
            return rc;
    }
    return RILL_OK;
}

/* ---- meta ---- */

int rill_store_set_meta(rill_store *s, const char *key, const void *val, size_t len,
                        rill_err *err)
{
    for (int i = 0; i < s->npending; i++)
        if (strcmp(s->pending[i].key, key) == 0) {
            void *v = malloc(len ? len : 1);
            if (!v)
                return rill_errf(err, RILL_ENOMEM, "out of memory");
            memcpy(v, val, len);
            free(s->pending[i].val);
            s->pending[i].val = v;
            s->pending[i].len = len;
            return RILL_OK;
        }
    struct pending_meta *p = realloc(s->pending, (size_t)(s->npending + 1) * sizeof *p);
    if (!p)
        return rill_errf(err, RILL_ENOMEM, "out of memory");
    s->pending = p;
    char *k = strdup(key);
    void *v = malloc(len ? len : 1);
    if (!k || !v) {
        free(k);
        free(v);
        return rill_errf(err, RILL_ENOMEM, "out of memory");
    }
    memcpy(v, val, len);
    s->pending[s->npending++] = (struct pending_meta){k, v, len};
    return RILL_OK;
}

static int meta_fn(rill_store *s, MDB_txn *txn, void *ctx, rill_err *err)
{
    (void)ctx;
    (void)err;
    for (int i = 0; i < s->npending; i++) {
        MDB_val k = {strlen(s->pending[i].key), s->pending[i].key},
                v = {s->pending[i].len, s->pending[i].val};
        int rc = mdb_put(txn, s->meta, &k, &v, 0);
        if (rc)
            return rc;
    }
    return RILL_OK;
}

static void drop_pending(rill_store *s)
{
    for (int i = 0; i < s->npending; i++) {
        free(s->pending[i].key);
        free(s->pending[i].val);
    }
    s->npending = 0;
}

int rill_store_commit_meta(rill_store *s, rill_err *err)
{
    int rc = rill_store_write(s, meta_fn, NULL, "writing the run's description", err);
    if (!rc)
        drop_pending(s);
    return rc;
}

int rill_store_get_meta(rill_store *s, const char *key, void **val, size_t *len, rill_err *err)
{
    *val = NULL;
    *len = 0;
    for (int i = s->npending - 1; i >= 0; i--)
        if (strcmp(s->pending[i].key, key) == 0) {
            *val = malloc(s->pending[i].len + 1);
            if (!*val)
                return rill_errf(err, RILL_ENOMEM, "out of memory");
            memcpy(*val, s->pending[i].val, s->pending[i].len);
            ((char *)*val)[s->pending[i].len] = 0;
            *len = s->pending[i].len;
            return RILL_OK;
        }
    MDB_txn *txn;
    int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
    if (rc)
        return rill_store_mdb_err(s, rc, "reading", err);
    MDB_val k = {strlen(key), (void *)key}, v;
    rc = mdb_get(txn, s->meta, &k, &v);
    if (rc == 0) {
        *val = malloc(v.mv_size + 1); /* with a terminating 0 for text values */
        if (*val) {
            memcpy(*val, v.mv_data, v.mv_size);
            ((char *)*val)[v.mv_size] = 0;
            *len = v.mv_size;
        }
    }
    mdb_txn_abort(txn);
    if (rc == MDB_NOTFOUND)
        return RILL_EOF;
    if (rc)
        return rill_store_mdb_err(s, rc, "reading", err);
    return *val ? RILL_OK : rill_errf(err, RILL_ENOMEM, "out of memory");
}

/* ---- checkpoints ---- */

typedef struct {
    rill_graph *g;
    const void *state;
    size_t state_len;
    uint64_t bytes, rows;
} ckpt_ctx;

static size_t param_floats(const rill_param *p)
{
    return p->n * (p->trainable ? 3 : 1);
}

static int ckpt_fn(rill_store *s, MDB_txn *txn, void *ctx, rill_err *err)
{
    ckpt_ctx *c = ctx;
    int rc;
    c->bytes = 0;
    c->rows = 0;
    for (int i = 0; i < s->ntables; i++) {
        uint64_t rows0 = c->rows;
        if ((rc = rill_table_flush(s->tables[i], txn, &c->rows, &c->bytes, err)))
            return rc;
        /* a sweep visits a few times what this checkpoint writes of the table */
        size_t budget = (size_t)(4 * (c->rows - rows0)) + 4096;
        if ((rc = rill_table_sweep(s->tables[i], txn, s->meta, s->step, budget, err)) ||
            (rc = rill_table_write_pending(s->tables[i], txn, s->meta, err)))
            return rc;
    }
    for (int i = 0; c->g && i < c->g->nparams; i++) {
        const rill_param *p = c->g->params[i];
        MDB_val k = {strlen(p->name), (void *)p->name}, v = {param_floats(p) * sizeof(float), NULL};
        if ((rc = mdb_put(txn, s->dense, &k, &v, MDB_RESERVE)))
            return rc;
        float *dst = v.mv_data;
        memcpy(dst, p->data, p->n * sizeof(float));
        if (p->trainable) {
            memcpy(dst + p->n, p->m, p->n * sizeof(float));
            memcpy(dst + 2 * p->n, p->v, p->n * sizeof(float));
        }
        c->bytes += v.mv_size;
    }
    for (int i = 0; c->g && i < c->g->nnodes; i++) {
        rill_node *n = c->g->nodes[i];
        if (!n->ops->save)
            continue;
        void *buf = NULL;
        size_t len = 0;
        char key[96];
        if ((rc = n->ops->save(n, &buf, &len, err)))
            return rc;
        if (len == 0) { /* nothing to keep (a loss without IPW) */
            free(buf);
            continue;
        }
        snprintf(key, sizeof key, "node:%s", n->name);
        MDB_val nk = {strlen(key), key}, nv = {len, buf};
        rc = mdb_put(txn, s->state, &nk, &nv, 0);
        free(buf);
        if (rc)
            return rc;
        c->bytes += len;
    }
    if ((rc = meta_fn(s, txn, NULL, err)))
        return rc;
    MDB_val k = {3, (void *)"run"}, v = {c->state_len, (void *)c->state};
    if ((rc = mdb_put(txn, s->state, &k, &v, 0)))
        return rc;
    c->bytes += c->state_len;
    return RILL_OK;
}

int rill_store_checkpoint(rill_store *s, rill_graph *g, const void *state, size_t state_len,
                          rill_err *err)
{
    double t0 = rill_now();
    end_all_reads(s);
    ckpt_ctx c = {g, state, state_len, 0, 0};
    int rc = rill_store_write(s, ckpt_fn, &c, "writing a checkpoint", err);
    if (rc)
        return rc;
    for (int i = 0; i < s->ntables; i++)
        rill_table_flushed(s->tables[i]);
    drop_pending(s);
    s->has_checkpoint = true;
    s->checkpoints++;
    s->last_ckpt_bytes = c.bytes;
    s->last_ckpt_seconds = rill_now() - t0;
    s->total_ckpt_bytes += c.bytes;
    s->total_ckpt_rows += c.rows;
    s->total_ckpt_seconds += s->last_ckpt_seconds;
    return RILL_OK;
}

int rill_store_restore(rill_store *s, rill_graph *g, void **state, size_t *state_len,
                       rill_err *err)
{
    *state = NULL;
    *state_len = 0;
    MDB_txn *txn;
    int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
    if (rc)
        return rill_store_mdb_err(s, rc, "reading the checkpoint", err);
    MDB_val k = {3, (void *)"run"}, v;
    rc = mdb_get(txn, s->state, &k, &v);
    if (rc == MDB_NOTFOUND) {
        mdb_txn_abort(txn);
        return RILL_EOF;
    }
    if (rc) {
        mdb_txn_abort(txn);
        return rill_store_mdb_err(s, rc, "reading the run state", err);
    }
    *state = malloc(v.mv_size ? v.mv_size : 1);
    if (!*state) {
        mdb_txn_abort(txn);
        return rill_errf(err, RILL_ENOMEM, "out of memory");
    }
    memcpy(*state, v.mv_data, v.mv_size);
    *state_len = v.mv_size;
    for (int i = 0; g && i < g->nparams && !rc; i++) {
        rill_param *p = g->params[i];
        MDB_val pk = {strlen(p->name), p->name}, pv;
        rc = mdb_get(txn, s->dense, &pk, &pv);
        if (rc == MDB_NOTFOUND) {
            rc = rill_errf(err, RILL_ESTORE,
                           "%s has no dense parameter '%s': the store belongs to another graph",
                           s->path, p->name);
            break;
        }
        if (rc) {
            rc = rill_store_mdb_err(s, rc, "reading dense parameters", err);
            break;
        }
        if (pv.mv_size != param_floats(p) * sizeof(float)) {
            rc = rill_errf(err, RILL_ESTORE,
                           "%s: dense parameter '%s' holds %zu bytes, the graph's needs %zu: the "
                           "store belongs to another graph",
                           s->path, p->name, pv.mv_size, param_floats(p) * sizeof(float));
            break;
        }
        const float *src = pv.mv_data;
        memcpy(p->data, src, p->n * sizeof(float));
        if (p->trainable) {
            memcpy(p->m, src + p->n, p->n * sizeof(float));
            memcpy(p->v, src + 2 * p->n, p->n * sizeof(float));
        }
    }
    for (int i = 0; g && i < g->nnodes && !rc; i++) {
        rill_node *n = g->nodes[i];
        if (!n->ops->load)
            continue;
        char key[96];
        snprintf(key, sizeof key, "node:%s", n->name);
        MDB_val nk = {strlen(key), key}, nv;
        rc = mdb_get(txn, s->state, &nk, &nv);
        /* no state: a node that keeps none in this configuration (or kept none in the build
         * that wrote the store) accepts an empty one */
        static const char none[1];
        rill_err quiet = {0};
        if (rc == MDB_NOTFOUND && n->ops->load(n, none, 0, &quiet) == RILL_OK) {
            rc = 0;
            continue;
        }
        if (rc == MDB_NOTFOUND) {
            rc = rill_errf(err, RILL_ESTORE,
                           "%s has no state for node '%s': the store belongs to another graph",
                           s->path, n->name);
            break;
        }
        if (rc) {
            rc = rill_store_mdb_err(s, rc, "reading node state", err);
            break;
        }
        rc = n->ops->load(n, nv.mv_data, nv.mv_size, err);
    }
    mdb_txn_abort(txn);
    if (rc) {
        free(*state);
        *state = NULL;
    }
    return rc;
}

void rill_store_get_info(rill_store *s, rill_store_info *info)
{
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
}

/* ---- listing and checking ---- */

/* The listing within the caller's read transaction: LMDB lets one transaction at a time open
 * database handles, so the callbacks that read tables must share this one. */
static int list_in(rill_store *s, MDB_txn *txn, int (*fn)(void *ud, const rill_store_entry *e),
                   void *ud, rill_err *err)
{
    int rc;
    MDB_cursor *c;
    MDB_val k, v;
    int urc = RILL_OK;
    if ((rc = mdb_cursor_open(txn, s->meta, &c)) == 0) {
        for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0 && !urc;
             rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
            if (k.mv_size <= 6 || memcmp(k.mv_data, "table:", 6) != 0)
                continue;
            rill_store_entry e = {.is_table = true};
            snprintf(e.name, sizeof e.name, "%.*s", (int)k.mv_size - 6, (const char *)k.mv_data + 6);
            char shape[160];
            snprintf(shape, sizeof shape, "%.*s", (int)v.mv_size, (const char *)v.mv_data);
            long long rows = 0;
            if (sscanf(shape, "%lld %d %d %31s", &rows, &e.dim, &e.stride, e.optim) != 4)
                continue;
            char dbn[200];
            MDB_dbi dbi;
            MDB_stat st;
            snprintf(dbn, sizeof dbn, "t:%s", e.name);
            if (mdb_dbi_open(txn, dbn, MDB_INTEGERKEY, &dbi) == 0 && mdb_stat(txn, dbi, &st) == 0) {
                e.rows = st.ms_entries;
                e.bytes = (st.ms_branch_pages + st.ms_leaf_pages + st.ms_overflow_pages) *
                          (uint64_t)st.ms_psize;
            }
            urc = fn(ud, &e);
        }
        mdb_cursor_close(c);
    }
    if (!urc && (rc == MDB_NOTFOUND || rc == 0) && (rc = mdb_cursor_open(txn, s->dense, &c)) == 0) {
        for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0 && !urc;
             rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
            rill_store_entry e = {.is_table = false};
            snprintf(e.name, sizeof e.name, "%.*s", (int)k.mv_size, (const char *)k.mv_data);
            e.rows = v.mv_size / sizeof(float);
            e.bytes = v.mv_size;
            urc = fn(ud, &e);
        }
        mdb_cursor_close(c);
    }
    if (urc)
        return urc;
    if (rc && rc != MDB_NOTFOUND)
        return rill_store_mdb_err(s, rc, "listing", err);
    return RILL_OK;
}

int rill_store_list(rill_store *s, int (*fn)(void *ud, const rill_store_entry *e), void *ud,
                    rill_err *err)
{
    MDB_txn *txn;
    int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
    if (rc)
        return rill_store_mdb_err(s, rc, "listing", err);
    rc = list_in(s, txn, fn, ud, err);
    mdb_txn_abort(txn);
    return rc;
}

typedef struct {
    rill_store *s;
    MDB_txn *txn;
    rill_err *err;
    int rc;
} verify_ctx;

static int verify_entry(void *ud, const rill_store_entry *e)
{
    verify_ctx *c = ud;
    if (!e->is_table)
        return RILL_OK;
    char dbn[200];
    MDB_dbi dbi;
    snprintf(dbn, sizeof dbn, "t:%s", e->name);
    int rc = mdb_dbi_open(c->txn, dbn, MDB_INTEGERKEY, &dbi);
    if (rc)
        return rill_store_mdb_err(c->s, rc, "opening a table to check it", c->err);
    MDB_cursor *cur;
    if ((rc = mdb_cursor_open(c->txn, dbi, &cur)))
        return rill_store_mdb_err(c->s, rc, "checking", c->err);
    size_t want = (size_t)e->stride * sizeof(float) + 2 * sizeof(uint64_t);
    MDB_val k, v;
    uint64_t n = 0;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT), n++) {
        if (k.mv_size != sizeof(uint64_t) || v.mv_size != want) {
            mdb_cursor_close(cur);
            return rill_errf(c->err, RILL_ESTORE,
                             "%s: table '%s', entry %llu: %zu-byte key, %zu-byte row (expected 8 "
                             "and %zu)",
                             c->s->path, e->name, (unsigned long long)n, k.mv_size, v.mv_size,
                             want);
        }
        const float *f = v.mv_data;
        for (int d = 0; d < e->stride; d++)
            if (!isfinite(f[d])) {
                mdb_cursor_close(cur);
                return rill_errf(c->err, RILL_ESTORE, "%s: table '%s' holds a non-finite value",
                                 c->s->path, e->name);
            }
    }
    mdb_cursor_close(cur);
    if (rc != MDB_NOTFOUND)
        return rill_store_mdb_err(c->s, rc, "checking", c->err);
    return RILL_OK;
}

int rill_store_verify(rill_store *s, rill_err *err)
{
    MDB_txn *txn;
    int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
    if (rc)
        return rill_store_mdb_err(s, rc, "checking", err);
    verify_ctx c = {s, txn, err, 0};
    rc = list_in(s, txn, verify_entry, &c, err);
    if (!rc) {
        MDB_val k = {3, (void *)"run"}, v;
        int g = mdb_get(txn, s->state, &k, &v);
        if (g && g != MDB_NOTFOUND)
            rc = rill_store_mdb_err(s, g, "reading the run state", err);
    }
    mdb_txn_abort(txn);
    return rc;
}

/* ---- digest ---- */

typedef struct {
    rill_store *s;
    MDB_txn *txn;
    uint64_t h;
    rill_err *err;
} digest_ctx;

static uint64_t hash_bytes(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, b + i, 8);
        h = rill_hash64(w, h);
    }
    uint64_t tail = 0;
    memcpy(&tail, b + i, n - i);
    return rill_hash64(tail ^ ((uint64_t)(n - i) << 56), h);
}

static int digest_entry(void *ud, const rill_store_entry *e)
{
    digest_ctx *c = ud;
    c->h = hash_bytes(c->h, e->name, strlen(e->name));
    char dbn[200];
    MDB_dbi dbi;
    int rc;
    if (e->is_table)
        snprintf(dbn, sizeof dbn, "t:%s", e->name);
    if (e->is_table && (rc = mdb_dbi_open(c->txn, dbn, MDB_INTEGERKEY, &dbi)))
        return rill_store_mdb_err(c->s, rc, "reading a table", c->err);
    MDB_cursor *cur;
    if ((rc = mdb_cursor_open(c->txn, e->is_table ? dbi : c->s->dense, &cur)))
        return rill_store_mdb_err(c->s, rc, "reading", c->err);
    MDB_val k, v;
    if (e->is_table) {
        for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
             rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
            c->h = hash_bytes(c->h, k.mv_data, k.mv_size);
            /* the floats only: the last-used step is bookkeeping, not a parameter */
            c->h = hash_bytes(c->h, v.mv_data, (size_t)e->stride * sizeof(float));
        }
    } else {
        k.mv_size = strlen(e->name);
        k.mv_data = (void *)e->name;
        rc = mdb_cursor_get(cur, &k, &v, MDB_SET_KEY);
        if (rc == 0)
            c->h = hash_bytes(c->h, v.mv_data, v.mv_size);
        rc = rc ? rc : MDB_NOTFOUND;
    }
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? RILL_OK : rill_store_mdb_err(c->s, rc, "reading", c->err);
}

int rill_store_digest(rill_store *s, uint64_t *digest, rill_err *err)
{
    MDB_txn *txn;
    int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
    if (rc)
        return rill_store_mdb_err(s, rc, "reading", err);
    digest_ctx c = {s, txn, 0x5eed, err};
    rc = list_in(s, txn, digest_entry, &c, err);
    mdb_txn_abort(txn);
    *digest = c.h;
    return rc;
}

/* ---- copies ---- */

int rill_store_copy(rill_store *s, const char *dir, rill_err *err)
{
    char path[4300], tmp[4400];
    int rc = rill_mkdir_p(dir, err);
    if (rc)
        return rc;
    snprintf(path, sizeof path, "%s/store.mdb", dir);
    snprintf(tmp, sizeof tmp, "%s/store.mdb.tmp", dir);
    unlink(tmp);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return rill_errf(err, RILL_EIO, "%s: cannot write: %s", tmp, strerror(errno));
    end_all_reads(s);
    rc = mdb_env_copyfd2(s->env, fd, MDB_CP_COMPACT);
    if (rc == 0 && fsync(fd) != 0)
        rc = errno;
    close(fd);
    if (rc) {
        unlink(tmp);
        return rill_store_mdb_err(s, rc, "copying the store", err);
    }
    if (rename(tmp, path) != 0)
        return rill_errf(err, RILL_EIO, "%s: cannot rename to %s: %s", tmp, path, strerror(errno));
    return RILL_OK;
}
