/* A run as the commands start it: see run.h. */
#include "run.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "checkpoint.h"
#include "fs.h"
#include "graph_io.h"
#include "pool.h"
#include "util.h"

int rill_data_spec_read(rill_args *a, const rill_schema *schema, int batch, uint64_t seed,
                        rill_data_spec *d, rill_err *err)
{
    static const char *const splits[] = {"tail", "hash", NULL};
    static const char *const bad[] = {"error", "skip", NULL};
    static const char *const formats[] = {"criteo", "csv", "libsvm", NULL};
    const char *path, *cache;
    long shuffle, max_line;
    double max_bad;
    int split, on_bad, format;
    bool threaded;
    int rc;
    memset(d, 0, sizeof *d);
    if ((rc = rill_args_str(a, "path", NULL, &path, err)) ||
        (rc = rill_args_enum(a, "format", formats, 0, &format, err)) ||
        (rc = rill_args_num(a, "valid", 0.0, 0.0, 0.99, &d->valid, err)) ||
        (rc = rill_args_str(a, "valid_path", NULL, &d->valid_path, err)) ||
        (rc = rill_args_enum(a, "split", splits, 0, &split, err)) ||
        (rc = rill_args_int(a, "shuffle", 100000, 0, 1L << 26, &shuffle, err)) ||
        (rc = rill_args_enum(a, "on_bad_line", bad, 0, &on_bad, err)) ||
        (rc = rill_args_num(a, "max_bad", 0.1, 1e-9, 1.0, &max_bad, err)) ||
        (rc = rill_args_int(a, "max_line", 1 << 20, 64, 1L << 30, &max_line, err)) ||
        (rc = rill_args_bool(a, "threaded", true, &threaded, err)) ||
        (rc = rill_args_str(a, "cache", "auto", &cache, err)))
        return rc;
    if (!path)
        return rill_errf(err, RILL_EINVAL, "%s: 'path' is required (the data file)", a->who);
    if (d->valid > 0 && d->valid_path)
        return rill_errf(err, RILL_EINVAL, "%s: give 'valid' (a fraction) or 'valid_path' (a file), "
                                           "not both", a->who);
    d->cfg = (rill_reader_cfg){.path = path, .format = format == 1   ? RILL_FMT_CSV
                                         : format == 2 ? RILL_FMT_LIBSVM
                                                       : RILL_FMT_CRITEO,
                               .schema = schema,
                               .part = d->valid > 0 ? RILL_PART_TRAIN : RILL_PART_ALL,
                               .valid_fraction = d->valid, .split = split, .split_seed = seed,
                               .batch = batch, .shuffle = (int)shuffle, .seed = seed,
                               .on_bad_line = on_bad, .max_bad = max_bad,
                               .max_line = (size_t)max_line,
                               .threaded = threaded,
                               .cache_dir = strcmp(cache, "off") == 0    ? NULL
                                            : strcmp(cache, "auto") == 0 ? rill_data_cache_dir()
                                                                         : cache};
    return rill_args_check_unused(a, err);
}

const char *rill_data_cache_dir(void)
{
    static char dir[4096];
    static bool made;
    if (!made) {
        made = true;
        const char *e = getenv("RILL_CACHE_DIR"), *x = getenv("XDG_CACHE_HOME"),
                   *h = getenv("HOME");
        int n = 0;
        if (e && *e)
            n = snprintf(dir, sizeof dir, "%s", e);
        else if (x && *x == '/')
            n = snprintf(dir, sizeof dir, "%s/rill", x);
        else if (h && *h == '/')
            n = snprintf(dir, sizeof dir, "%s/.cache/rill", h);
        if (n <= 0 || (size_t)n >= sizeof dir || strcmp(dir, "off") == 0)
            dir[0] = 0;
    }
    return dir[0] ? dir : NULL;
}

static double cpu_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int rill_run_read_all(const rill_schema *schema, rill_args *data, int batch,
                      rill_read_result *res, rill_err *err)
{
    rill_data_spec d;
    rill_reader *r;
    const rill_batch *b;
    int rc;
    memset(res, 0, sizeof *res);
    if ((rc = rill_data_spec_read(data, schema, batch, 1, &d, err)))
        return rc;
    d.cfg.threaded = false;
    double t0 = rill_now();
    if ((rc = rill_reader_open(&r, &d.cfg, err)))
        return rc;
    double t1 = rill_now(), c1 = cpu_now();
    while ((rc = rill_reader_next(r, &b, err)) > 0) {
        res->rows += (uint64_t)b->B;
        res->batches++;
    }
    res->seconds = rill_now() - t1;
    res->cpu_seconds = cpu_now() - c1;
    res->open_seconds = t1 - t0;
    res->bad_lines = rill_reader_bad_lines(r);
    res->cached = rill_reader_cached(r);
    rill_reader_close(r);
    return rc < 0 ? rc : RILL_OK;
}

int rill_run_open_validation(rill_data_spec *d, const char *path, rill_reader **r,
                             rill_err *err)
{
    d->cfg.shuffle = 0;
    d->cfg.threaded = false;
    if (path) {
        d->cfg.path = path;
        d->cfg.part = RILL_PART_ALL;
    } else if (d->valid_path) {
        d->cfg.path = d->valid_path;
        d->cfg.part = RILL_PART_ALL;
    } else if (d->valid > 0) {
        d->cfg.part = RILL_PART_VALID;
    }
    return rill_reader_open(r, &d->cfg, err);
}

int rill_run_open_for_reading(rill_graph *g, const char *run, uint64_t seed, rill_err *err)
{
    char dir[4200], probe[4300];
    snprintf(dir, sizeof dir, "%s/best", run);
    snprintf(probe, sizeof probe, "%s/store.mdb", dir);
    if (access(probe, R_OK) != 0)
        snprintf(dir, sizeof dir, "%s", run);
    rill_store_cfg sc = {.mode = RILL_STORE_READ};
    rill_store *store;
    int rc = rill_store_open(&store, dir, &sc, err);
    if (rc)
        return rc;
    char *sig = rill_graph_signature(g);
    void *old = NULL;
    size_t len = 0;
    rc = sig ? rill_store_get_meta(store, "signature", &old, &len, err)
             : rill_errf(err, RILL_ENOMEM, "out of memory");
    if (rc == RILL_OK && (len != strlen(sig) || memcmp(old, sig, len) != 0))
        rc = rill_errf(err, RILL_ESTORE,
                       "%s was trained by another graph than this pipeline builds: evaluate it "
                       "with the pipeline and settings it was made with",
                       run);
    else if (rc == RILL_EOF)
        rc = rill_errf(err, RILL_ESTORE, "%s: the store records no graph", run);
    free(sig);
    free(old);
    if (rc) {
        rill_store_close(store);
        return rc;
    }
    if ((rc = rill_graph_build_on(g, seed, store, err)))
        return rc;
    void *state = NULL;
    size_t slen;
    rc = rill_checkpoint_read(g->store, g, &state, &slen, err);
    free(state);
    if (rc == RILL_EOF)
        return rill_errf(err, RILL_ESTORE, "%s has no checkpoint yet: nothing to evaluate", run);
    return rc;
}

/* ---- rill.train ---- */

typedef struct {
    size_t cache;
    bool resume;
    bool background;        /* checkpoints written in the background */
    bool generations;       /* prefilled tables' checkpoints append generations */
    const rill_value *meta; /* {pipeline =, settings =}: text kept in the store */
    const char *init_from;  /* an export whose parameters start the run */
} store_opts;

/* prefetch = true, false or "auto" (the default: train.h says when it reads ahead) */
static int read_prefetch(rill_args *o, int *out, rill_err *err)
{
    static const char *const modes[] = {"auto", NULL};
    const rill_value *v = rill_args_get(o, "prefetch");
    if (v && v->type == RILL_V_BOOL) {
        bool on;
        int rc = rill_args_bool(o, "prefetch", false, &on, err);
        *out = on ? RILL_PREFETCH_ON : RILL_PREFETCH_OFF;
        return rc;
    }
    int auto_mode;
    *out = RILL_PREFETCH_AUTO;
    return rill_args_enum(o, "prefetch", modes, 0, &auto_mode, err);
}

/* precision = "fp32" (the default) or "bf16": the dense GEMMs' (blas.h); bf16 only where the
 * CPU runs it, else an error naming what it lacks */
static int read_precision(rill_args *o, rill_precision *p, rill_err *err)
{
    static const char *const kinds[] = {"fp32", "bf16", NULL};
    int k, rc = rill_args_enum(o, "precision", kinds, 0, &k, err);
    *p = k == 1 ? RILL_BF16 : RILL_FP32;
    if (!rc && *p == RILL_BF16 && (rc = rill_bf16_check(NULL, err)))
        rill_err_prefix(err, "%s: ", o->who);
    return rc;
}

static int read_cache(rill_args *o, size_t *bytes, rill_err *err)
{
    const rill_value *v = rill_args_get(o, "cache");
    *bytes = 0;
    if (!v)
        return RILL_OK;
    if (v->type == RILL_V_NUM && v->u.num >= 0) {
        *bytes = (size_t)v->u.num;
        return RILL_OK;
    }
    if (v->type == RILL_V_STR && rill_parse_bytes(v->u.str, bytes) == 0)
        return RILL_OK;
    return rill_errf(err, RILL_EINVAL,
                     "%s: argument 'cache' must be a size such as \"2GiB\", \"512MiB\" or a "
                     "number of bytes",
                     o->who);
}

/* Every setting of rill.train's options but the data, in one list (so the order of the
 * checks, and which error comes first, is that of the list). */
static int read_train_cfg(rill_args *o, rill_train_cfg *t, long *batch, long *threads,
                          store_opts *so, rill_precision *precision, rill_err *err)
{
    static const char *const decays[] = {"none", "linear", "cosine", "exp", NULL};
    long epochs, seed, patience;
    bool has_optim, progress;
    rill_args sub;
    const char *run;
    int rc;
    memset(t, 0, sizeof *t);
    if ((rc = rill_args_int(o, "epochs", 1, 1, 1000000, &epochs, err)) ||
        (rc = rill_args_int(o, "batch", 2048, 1, 1 << 22, batch, err)) ||
        (rc = rill_args_int(o, "max_steps", 0, 0, 1L << 50, &t->max_steps, err)) ||
        (rc = read_prefetch(o, &t->prefetch, err)) ||
        (rc = read_precision(o, precision, err)) ||
        (rc = rill_args_int(o, "warmup", 0, 0, 1L << 40, &t->schedule.warmup, err)) ||
        (rc = rill_args_enum(o, "decay", decays, 0, &t->schedule.decay, err)) ||
        (rc = rill_args_int(o, "decay_start", 0, 0, 1L << 40, &t->schedule.decay_start, err)) ||
        (rc = rill_args_int(o, "decay_steps", 10000, 1, 1L << 40, &t->schedule.decay_steps, err)) ||
        (rc = rill_args_num(o, "min_lr_scale", 0.0, 0.0, 1.0, &t->schedule.min_scale, err)) ||
        (rc = rill_args_num(o, "clip_norm", 0.0, 0.0, 1e12, &t->clip_norm, err)) ||
        (rc = rill_args_num(o, "diverge", 100.0, 0.0, 1e30, &t->diverge, err)) ||
        (rc = rill_args_int(o, "eval_every", 0, 0, 1L << 40, &t->eval_every, err)) ||
        (rc = rill_args_int(o, "early_stop", 0, 0, 1000000, &patience, err)) ||
        (rc = rill_args_num(o, "min_delta", 0.0, 0.0, 1.0, &t->min_delta, err)) ||
        (rc = rill_args_int(o, "seed", 1, 0, 1L << 53, &seed, err)) ||
        (rc = rill_args_int(o, "threads", 0, 0, 64, threads, err)) ||
        (rc = rill_args_str(o, "run", NULL, &run, err)) ||
        (rc = rill_args_bool(o, "progress", true, &progress, err)) ||
        (rc = rill_args_sub(o, "optim", &sub, &has_optim, err)) ||
        (rc = rill_args_int(o, "checkpoint_every", 1000, 0, 1L << 40, &t->checkpoint_every, err)) ||
        (rc = rill_args_int(o, "entanglement", 100, 0, 1L << 40, &t->entanglement_every, err)) ||
        (rc = rill_args_bool(o, "resume", false, &so->resume, err)) ||
        (rc = rill_args_bool(o, "checkpoint_background", true, &so->background, err)) ||
        (rc = rill_args_bool(o, "generations", true, &so->generations, err)) ||
        (rc = rill_args_bool(o, "fold_at_end", false, &t->fold_at_end, err)) ||
        (rc = read_cache(o, &so->cache, err)))
        return rc;
    so->meta = rill_args_get(o, "meta");
    if ((rc = rill_args_str(o, "init_from", NULL, &so->init_from, err)))
        return rc;
    if (t->diverge == 0)
        t->diverge = -1; /* diverge = 0: never on a finite loss */
    t->patience = (int)patience;
    t->epochs = (int)epochs;
    t->seed = (uint64_t)seed;
    t->run_dir = run;
    t->progress = progress;
    if (has_optim)
        return rill_optim_parse(&sub, false, &t->dense, err);
    t->dense = (rill_optim){.kind = RILL_OPT_ADAM, .lr = 1e-3, .beta1 = 0.9, .beta2 = 0.999,
                            .eps = 1e-8};
    return RILL_OK;
}

/* A resumed run's store must have been made by this graph. */
static int check_signature(rill_store *store, const char *dir, const char *sig, rill_err *err)
{
    void *old = NULL;
    size_t len = 0;
    int rc = rill_store_get_meta(store, "signature", &old, &len, err);
    if (rc == RILL_OK && (len != strlen(sig) || memcmp(old, sig, len) != 0))
        rc = rill_errf(err, RILL_ESTORE,
                       "%s was trained by another graph than this pipeline builds (the "
                       "nodes, their arguments or the data's columns differ): resume it with "
                       "the pipeline and settings it was made with",
                       dir);
    else if (rc == RILL_EOF)
        rc = rill_errf(err, RILL_ESTORE, "%s: the store records no graph: it was never "
                                         "checkpointed by rill train",
                       dir);
    free(old);
    return rc;
}

/* Opens (resume) or creates the run's store, builds g on it and records or checks what the
 * run is: the graph's signature, the pipeline and its settings. */
static int open_run_store(rill_graph *g, const char *dir, const store_opts *so, uint64_t seed,
                          rill_err *err)
{
    rill_store_cfg sc = {.mode = so->resume ? RILL_STORE_WRITE : RILL_STORE_CREATE,
                         .cache_bytes = so->cache, .sync_checkpoints = !so->background,
                         .rows_in_place = !so->generations};
    rill_store *store;
    int rc = rill_store_open(&store, dir, &sc, err);
    if (rc)
        return rc;
    char *sig = rill_graph_signature(g);
    if (!sig) {
        rill_store_close(store);
        return rill_errf(err, RILL_ENOMEM, "out of memory");
    }
    if (so->resume) {
        rc = check_signature(store, dir, sig, err);
    } else {
        rc = rill_store_set_meta(store, "signature", sig, strlen(sig), err);
        const rill_value *m = so->meta;
        for (int i = 0; !rc && m && m->type == RILL_V_MAP && i < m->u.map.n; i++) {
            const rill_value *v = &m->u.map.vals[i];
            if (v->type == RILL_V_STR)
                rc = rill_store_set_meta(store, m->u.map.keys[i], v->u.str, strlen(v->u.str),
                                         err);
        }
        /* at once, so that a run killed before its first checkpoint can still be resumed */
        if (!rc)
            rc = rill_store_commit_meta(store, err);
    }
    free(sig);
    if (rc) {
        rill_store_close(store);
        return rc;
    }
    return rill_graph_build_on(g, seed, store, err); /* the graph now owns the store */
}

/* The readers of a training call: the training part and, when the data has one, the
 * validation part in file order. */
static int open_train_readers(const rill_data_spec *d, rill_reader **train, rill_reader **valid,
                              rill_err *err)
{
    int rc = rill_reader_open(train, &d->cfg, err);
    if (rc || !(d->valid > 0 || d->valid_path))
        return rc;
    rill_reader_cfg vc = d->cfg;
    vc.shuffle = 0;
    vc.threaded = false;
    if (d->valid_path) {
        vc.path = d->valid_path;
        vc.part = RILL_PART_ALL;
    } else {
        vc.part = RILL_PART_VALID;
    }
    return rill_reader_open(valid, &vc, err);
}

int rill_run_train(rill_graph *g, rill_args *data, rill_args *opts,
                   volatile sig_atomic_t *stop, rill_run_result *res, rill_err *err)
{
    rill_train_cfg tc;
    rill_data_spec d;
    rill_reader *train = NULL, *valid = NULL;
    long batch, threads;
    store_opts so = {0};
    rill_precision precision;
    memset(res, 0, sizeof *res);
    rill_args_get(opts, "graph"); /* the Lua side's, read there */
    rill_args_get(opts, "data");
    int rc = read_train_cfg(opts, &tc, &batch, &threads, &so, &precision, err);
    if (!rc)
        rc = rill_args_check_unused(opts, err);
    if (!rc)
        rc = rill_data_spec_read(data, g->schema, (int)batch, tc.seed, &d, err);
    if (!rc)
        rc = rill_pool_start((int)threads, err);
    if (!rc && g->built)
        rc = rill_errf(err, RILL_EINVAL,
                       "%s: this graph has been trained or evaluated already; build a new graph "
                       "for a new run (or continue this one with rill resume)",
                       opts->who);
    if (!rc)
        rc = open_train_readers(&d, &train, &valid, err);
    /* the store last: a start that fails on its settings or data leaves an old run as it was */
    if (!rc && tc.run_dir)
        rc = open_run_store(g, tc.run_dir, &so, tc.seed, err);
    else if (!rc)
        rc = rill_graph_build(g, tc.seed, err);
    tc.store = g->store;
    tc.resume = so.resume;
    /* a fine-tune starts from an export's parameters (not when resuming: the store has them) */
    if (!rc && so.init_from && !so.resume && (rc = rill_import(g, so.init_from, err)))
        rill_err_prefix(err, "%s: init_from: ", opts->who);
    if (!rc) {
        tc.stop = stop;
        g->precision = precision;
        rc = rill_train(g, &tc, train, valid, &res->train, err);
        if (rc == RILL_EINTR)
            rc = RILL_OK; /* reported in the result */
    }
    rill_reader_close(train);
    rill_reader_close(valid);
    if (!rc && g->store) {
        res->has_store = true;
        rill_store_get_info(g->store, &res->store);
    }
    return rc;
}

/* ---- rill.evaluate ---- */

/* The frequency = {field =, bounds =, from =} of rill.evaluate into fc; counting in the data
 * opens the training part (train_cfg) into *train, which the caller closes. */
static int read_frequency(rill_args *fa, const rill_reader_cfg *train_cfg, rill_reader **train,
                          rill_freq_cfg *fc, rill_err *err)
{
    const char *field, *from;
    long *bounds = NULL;
    int nb = 0, rc;
    if ((rc = rill_args_str(fa, "field", "", &field, err)) ||
        (rc = rill_args_int_list(fa, "bounds", 1, 1L << 50, &bounds, &nb, err)) ||
        (rc = rill_args_str(fa, "from", "table", &from, err)) ||
        (rc = rill_args_check_unused(fa, err)))
        goto done;
    if (strcmp(from, "table") != 0 && strcmp(from, "data") != 0) {
        rc = rill_errf(err, RILL_EINVAL,
                       "%s: 'from' must be \"table\" (the rows' use counts) or \"data\" "
                       "(the field's values counted in the training data), got \"%s\"",
                       fa->who, from);
        goto done;
    }
    if (strcmp(from, "data") == 0) {
        if (!field[0]) {
            rc = rill_errf(err, RILL_EINVAL,
                           "%s: counting in the data needs a field, e.g. field = \"C3\"",
                           fa->who);
            goto done;
        }
        if ((rc = rill_reader_open(train, train_cfg, err)))
            goto done;
        fc->count_from = *train;
    }
    if (nb > RILL_MAX_FREQ - 1) {
        rc = rill_errf(err, RILL_EINVAL, "%s: at most %d bounds", fa->who, RILL_MAX_FREQ - 1);
        goto done;
    }
    snprintf(fc->field, sizeof fc->field, "%s", field);
    for (int i = 0; i < nb; i++) {
        fc->bounds[i] = (uint64_t)bounds[i];
        if (i && fc->bounds[i] <= fc->bounds[i - 1])
            rc = rill_errf(err, RILL_EINVAL, "%s: bounds must increase", fa->who);
    }
    fc->nbounds = nb;
done:
    free(bounds);
    return rc;
}

/* Makes g ready to evaluate: the run's parameters, an export's, or (neither) fresh ones. */
static int ready_for_evaluation(rill_graph *g, const char *run, const char *exported,
                                uint64_t seed, rill_err *err)
{
    int rc;
    if (run && !g->built && (rc = rill_run_open_for_reading(g, run, seed, err)))
        return rc;
    if (exported && !g->built &&
        ((rc = rill_graph_build(g, seed, err)) || (rc = rill_import(g, exported, err))))
        return rc;
    if (!g->built)
        return rill_graph_build(g, seed, err);
    return RILL_OK;
}

/* Opens the file predictions go to ("-": stdout; NULL: none). */
static int open_predictions(const char *predict, FILE **pred, rill_err *err)
{
    *pred = NULL;
    if (!predict)
        return RILL_OK;
    *pred = strcmp(predict, "-") == 0 ? stdout : fopen(predict, "w");
    return *pred ? RILL_OK
                 : rill_errf(err, RILL_EIO, "%s: cannot write predictions: %s", predict,
                             strerror(errno));
}

/* Closes pred (not stdout, which is flushed): a full disk shows at the close, not in the
 * writes, so that is checked too. rc is the evaluation's result, returned unless the close
 * fails after a good one. */
static int close_predictions(FILE *pred, const char *predict, int rc, rill_err *err)
{
    if (!pred)
        return rc;
    if (pred == stdout) {
        if (!rc)
            fflush(stdout); /* a failure stays in stdout's error flag: bin/rill reports it */
        return rc;
    }
    if (rc && ferror(pred))
        rill_err_prefix(err, "%.200s: ", predict);
    int e = rill_fs_close_checked(pred);
    if (e && !rc)
        rc = rill_errf(err, RILL_EIO, "%s: cannot write predictions: %s%s", predict,
                       strerror(e), rill_fs_disk_full(e));
    return rc;
}

int rill_run_evaluate(rill_graph *g, rill_args *data, rill_args *opts, rill_eval_result *res,
                      rill_err *err)
{
    const char *path, *predict, *run, *exported;
    long batch, threads, seed;
    bool has_freq;
    rill_args fa;
    rill_data_spec d;
    rill_reader *valid = NULL, *train = NULL;
    rill_freq_cfg fc = {0};
    rill_precision precision;
    int rc;
    if ((rc = rill_args_str(opts, "run", NULL, &run, err)) ||
        (rc = rill_args_sub(opts, "frequency", &fa, &has_freq, err)) ||
        (rc = rill_args_str(opts, "export", NULL, &exported, err)) ||
        (rc = rill_args_str(opts, "path", NULL, &path, err)) ||
        (rc = rill_args_str(opts, "predict", NULL, &predict, err)) ||
        (rc = rill_args_int(opts, "batch", 4096, 1, 1 << 22, &batch, err)) ||
        (rc = rill_args_int(opts, "threads", 0, 0, 64, &threads, err)) ||
        (rc = rill_args_int(opts, "seed", 1, 0, 1L << 53, &seed, err)) ||
        (rc = read_precision(opts, &precision, err)) ||
        (rc = rill_args_check_unused(opts, err)) ||
        (rc = rill_data_spec_read(data, g->schema, (int)batch, (uint64_t)seed, &d, err)) ||
        (rc = rill_pool_start((int)threads, err)) ||
        (rc = ready_for_evaluation(g, run, exported, (uint64_t)seed, err)))
        return rc;
    g->precision = precision;
    d.cfg.shuffle = 0;
    d.cfg.threaded = false;
    rill_reader_cfg train_cfg = d.cfg; /* the training part, where frequencies may be counted */
    if (d.valid_path)
        train_cfg.part = RILL_PART_ALL;
    else if (d.valid > 0)
        train_cfg.part = RILL_PART_TRAIN;
    if ((rc = rill_run_open_validation(&d, path, &valid, err)))
        return rc;
    FILE *pred = NULL;
    rc = open_predictions(predict, &pred, err);
    if (!rc && has_freq)
        rc = read_frequency(&fa, &train_cfg, &train, &fc, err);
    if (!rc)
        rc = rill_evaluate(g, valid, pred, has_freq ? &fc : NULL, res, err);
    rc = close_predictions(pred, predict, rc, err);
    rill_reader_close(valid);
    rill_reader_close(train);
    return rc;
}

/* ---- export and parameter files ---- */

int rill_run_export(rill_graph *g, rill_args *a, rill_err *err)
{
    const char *run, *out, *pipeline, *settings;
    int rc;
    if ((rc = rill_args_str(a, "run", NULL, &run, err)) ||
        (rc = rill_args_str(a, "out", NULL, &out, err)) ||
        (rc = rill_args_str(a, "pipeline", NULL, &pipeline, err)) ||
        (rc = rill_args_str(a, "settings", NULL, &settings, err)) ||
        (rc = rill_args_check_unused(a, err)))
        return rc;
    if (!run || !out)
        return rill_errf(err, RILL_EINVAL, "rill export: a run and --out DIR are needed");
    if (g->built)
        return rill_errf(err, RILL_EINVAL, "rill export: the graph must be fresh");
    if ((rc = rill_run_open_for_reading(g, run, 1, err)))
        return rc;
    return rill_export(g, out, pipeline, settings, err);
}

int rill_run_params_file(rill_graph *g, const char *path, bool save, rill_err *err)
{
    int rc;
    if (!g->built && (rc = rill_graph_build(g, 1, err)))
        return rc;
    return save ? rill_params_save(g, path, err) : rill_params_load(g, path, err);
}
