/* The generators as the commands run them: see gen_run.h. */
#include "gen_run.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fs.h"
#include "gen.h"
#include "metrics.h"

int rill_gen_write(const char *out, rill_generator_fn gen, const void *cfg, rill_err *err)
{
    char tmp[4096];
    struct stat st;
    bool to_stdout = strcmp(out, "-") == 0;
    bool direct = to_stdout || (stat(out, &st) == 0 && !S_ISREG(st.st_mode));
    if (snprintf(tmp, sizeof tmp, "%s.tmp", out) >= (int)sizeof tmp)
        return rill_errf(err, RILL_EINVAL, "%.100s...: the name is too long", out);
    FILE *f = to_stdout ? stdout : fopen(direct ? out : tmp, "w");
    if (!f)
        return rill_errf(err, RILL_EIO, "%s: cannot write: %s", out, strerror(errno));
    int rc = gen(cfg, f, err);
    if (rc && !to_stdout && ferror(f))
        rill_err_prefix(err, "%.200s: ", out); /* the core says a write failed, not where */
    if (!to_stdout) {
        int e = rill_fs_close_checked(f);
        if (e && !rc)
            rc = rill_errf(err, RILL_EIO, "%s: write failed: %s%s", out, strerror(e),
                           rill_fs_disk_full(e));
        if (!rc && !direct && rename(tmp, out) != 0)
            rc = rill_errf(err, RILL_EIO, "%s: cannot rename to %s: %s", tmp, out, strerror(errno));
        if (rc && !direct)
            remove(tmp);
    }
    return rc;
}

static int gen_criteo(const void *cfg, FILE *out, rill_err *err)
{
    return rill_gen_criteo(cfg, out, err);
}

static int gen_multitask(const void *cfg, FILE *out, rill_err *err)
{
    return rill_gen_multitask(cfg, out, err);
}

/* The settings rill_gen_criteo and its truth share. */
static int read_criteo_cfg(rill_args *a, long min_rows, rill_gen_cfg *cfg, rill_err *err)
{
    long rows, seed, ecl;
    double maxc, inter;
    int rc;
    if ((rc = rill_args_int(a, "rows", 0, min_rows, 1L << 40, &rows, err)) ||
        (rc = rill_args_int(a, "seed", 1, 0, 1L << 53, &seed, err)) ||
        (rc = rill_args_num(a, "max_cardinality", 0, 0, 4294967296.0, &maxc, err)) ||
        (rc = rill_args_num(a, "interaction", -1, -1, 100, &inter, err)) ||
        (rc = rill_args_int(a, "entity_clusters", 0, 0, 1L << 32, &ecl, err)))
        return rc;
    *cfg = (rill_gen_cfg){.rows = (uint64_t)rows, .seed = (uint64_t)seed,
                          .max_cardinality = maxc, .interaction = inter,
                          .entity_clusters = (uint64_t)ecl};
    return RILL_OK;
}

int rill_gen_criteo_run(rill_args *a, rill_err *err)
{
    rill_gen_cfg cfg;
    const char *out;
    int rc;
    if ((rc = read_criteo_cfg(a, 0, &cfg, err)) ||
        (rc = rill_args_str(a, "out", NULL, &out, err)) ||
        (rc = rill_args_check_unused(a, err)))
        return rc;
    if (cfg.rows < 1)
        return rill_errf(err, RILL_EINVAL, "rill.gen_criteo: rows must be at least 1");
    if (!out)
        return rill_errf(err, RILL_EINVAL, "rill.gen_criteo: out (the file to write) is required");
    return rill_gen_write(out, gen_criteo, &cfg, err);
}

int rill_gen_multitask_run(rill_args *a, rill_err *err)
{
    rill_gen_multitask_cfg cfg;
    rill_gen_multitask_defaults(&cfg);
    long rows, seed, sample;
    const char *out;
    int rc;
    if ((rc = rill_args_int(a, "rows", 0, 0, 1L << 40, &rows, err)) ||
        (rc = rill_args_int(a, "seed", (long)cfg.seed, 0, 1L << 53, &seed, err)) ||
        (rc = rill_args_int(a, "sample", (long)cfg.sample, 0, 1L << 53, &sample, err)) ||
        (rc = rill_args_num(a, "correlation", cfg.correlation, -HUGE_VAL, HUGE_VAL,
                            &cfg.correlation, err)) ||
        (rc = rill_args_num(a, "rate1", cfg.rate1, -HUGE_VAL, HUGE_VAL, &cfg.rate1, err)) ||
        (rc = rill_args_num(a, "rate2", cfg.rate2, -HUGE_VAL, HUGE_VAL, &cfg.rate2, err)) ||
        (rc = rill_args_num(a, "repeat_rate", cfg.repeat_rate, -HUGE_VAL, HUGE_VAL,
                            &cfg.repeat_rate, err)) ||
        (rc = rill_args_num(a, "repeat_lift", cfg.repeat_lift, -HUGE_VAL, HUGE_VAL,
                            &cfg.repeat_lift, err)) ||
        (rc = rill_args_str(a, "out", NULL, &out, err)) ||
        (rc = rill_args_check_unused(a, err)))
        return rc;
    if (rows < 1)
        return rill_errf(err, RILL_EINVAL, "rill.gen_multitask: rows must be at least 1");
    if (!out)
        return rill_errf(err, RILL_EINVAL,
                         "rill.gen_multitask: out (the file to write) is required");
    cfg.rows = (uint64_t)rows;
    cfg.seed = (uint64_t)seed;
    cfg.sample = (uint64_t)sample;
    return rill_gen_write(out, gen_multitask, &cfg, err);
}

int rill_gen_zipf_run(rill_args *a, rill_err *err)
{
    long rows, ids, seed;
    double ex;
    const char *out;
    int rc;
    if ((rc = rill_args_int(a, "rows", 1000, 1, 1L << 40, &rows, err)) ||
        (rc = rill_args_int(a, "ids", 1000, 4, 1L << 40, &ids, err)) ||
        (rc = rill_args_num(a, "exponent", 1.05, 0.5, 3, &ex, err)) ||
        (rc = rill_args_int(a, "seed", 1, 0, 1L << 53, &seed, err)) ||
        (rc = rill_args_str(a, "out", NULL, &out, err)) ||
        (rc = rill_args_check_unused(a, err)))
        return rc;
    FILE *f = out ? fopen(out, "w") : NULL;
    rill_gen_zipf_cfg cfg = {(uint64_t)rows, (uint64_t)ids, (uint64_t)seed, ex};
    rc = f ? rill_gen_zipf_field(&cfg, f, err)
           : rill_errf(err, RILL_EIO, "rill.gen_zipf: cannot write %s", out ? out : "(no out)");
    int e = f ? rill_fs_close_checked(f) : 0;
    if (e && !rc)
        rc = rill_errf(err, RILL_EIO, "%s: write failed: %s%s", out, strerror(e),
                       rill_fs_disk_full(e));
    return rc;
}

/* The labels of the rows cfg generates (column 0 of each line), into y (cfg->rows values),
 * with the truth's logits into z and z1. */
static int truth_rows(const rill_gen_cfg *cfg, float *z, float *z1, float *y, rill_err *err)
{
    char *text = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&text, &len);
    int rc = mem ? rill_gen_criteo_truth(cfg, mem, z, z1, err)
                 : rill_errf(err, RILL_ENOMEM, "rill.gen_criteo_truth: out of memory");
    if (mem && fclose(mem) != 0 && !rc) /* text is complete only after a good close */
        rc = rill_errf(err, RILL_ENOMEM, "rill.gen_criteo_truth: out of memory");
    if (!rc) {
        const char *p = text;
        for (uint64_t i = 0; i < cfg->rows; i++) {
            y[i] = p[0] == '1' ? 1.0f : 0.0f;
            p = strchr(p, '\n') + 1;
        }
    }
    free(text);
    return rc;
}

int rill_gen_criteo_truth_run(rill_args *a, double *auc, double *auc1, rill_err *err)
{
    rill_gen_cfg cfg;
    long from;
    int rc;
    *auc = *auc1 = NAN;
    /* rows first, with its own bounds, so that the messages name them as before */
    long rows;
    if ((rc = rill_args_int(a, "rows", 0, 1, 1L << 32, &rows, err)) ||
        (rc = rill_args_int(a, "from", 0, 0, 1L << 32, &from, err)) ||
        (rc = read_criteo_cfg(a, 1, &cfg, err)) ||
        (rc = rill_args_check_unused(a, err)))
        return rc;
    if (from >= rows)
        return rill_errf(err, RILL_EINVAL, "rill.gen_criteo_truth: from must be below rows");
    float *z = malloc((size_t)rows * sizeof *z);
    float *z1 = malloc((size_t)rows * sizeof *z1);
    float *y = malloc((size_t)rows * sizeof *y);
    if (!z || !z1 || !y)
        rc = rill_errf(err, RILL_ENOMEM, "rill.gen_criteo_truth: out of memory");
    /* the labels come from the rows themselves: generate them into memory and read column 0 */
    if (!rc && !(rc = truth_rows(&cfg, z, z1, y, err))) {
        *auc = rill_auc(z + from, y + from, (size_t)(rows - from));
        *auc1 = rill_auc(z1 + from, y + from, (size_t)(rows - from));
    }
    free(z);
    free(z1);
    free(y);
    return rc;
}
