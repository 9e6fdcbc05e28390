/* The YAML schema loader (rill_schema_load_yaml, core/data/schema_yaml.c and
 * rill_schema_from_columns in core/data/batch.c) on the input as the schema file, and then the
 * reader (core/data/reader.c, header check included) over data under the schema it loaded.
 *
 * Input: YAML text; optionally a line "#lines" (a YAML comment, so the loader ignores what
 * follows only if the rest is YAML too: the target cuts the file there), then one byte of
 * reader settings (bit 0: skip bad lines, bits 1-2: all / train / valid part, bit 3: hash
 * split, bit 4: shuffle in chunks of 8 rows, bit 5: a loader thread), then the data file.
 * Besides the sanitizers it checks what the loader promises of a schema it accepts: each
 * column's field index inside its role's range, a times column tied to one sequence before
 * it, at least one label, and names for every field. */
#include "reader.h"

#include "fuzz_common.h"

static void check_schema(const rill_schema *s)
{
    if (s->nlabels < 1 || s->text.ncols < 1 || !s->text.cols)
        fz_broken("accepted a schema with %d labels and %d columns", s->nlabels, s->text.ncols);
    for (int i = 0; i < s->text.ncols; i++) {
        const rill_column *c = &s->text.cols[i];
        int lim = -1;
        switch (c->role) {
        case RILL_COL_LABEL: lim = s->nlabels; break;
        case RILL_COL_NUM: lim = s->nnum; break;
        case RILL_COL_VECTOR: lim = s->nnum - c->dim + 1; break;
        case RILL_COL_CAT:
        case RILL_COL_MULTI:
        case RILL_COL_SEQUENCE: lim = s->ncat; break;
        case RILL_COL_WEIGHT: lim = 1; break;
        case RILL_COL_SKIP:
        case RILL_COL_TIMES: break;
        default: fz_broken("column %d has role %d", i, c->role);
        }
        if (lim >= 0 && (c->index < 0 || c->index >= lim))
            fz_broken("column %s (role %d) has index %d of %d", c->name, c->role, c->index, lim);
        if (c->role == RILL_COL_TIMES) {
            int q = c->times_col;
            if (q < 0 || q >= i || s->text.cols[q].role != RILL_COL_SEQUENCE ||
                s->text.cols[q].times_col != i)
                fz_broken("times column %s points at column %d", c->name, q);
        }
        if (c->role == RILL_COL_SEQUENCE && c->times_col >= 0 &&
            (c->times_col <= i || c->times_col >= s->text.ncols ||
             !s->cat_timed[c->index]))
            fz_broken("sequence %s has times column %d", c->name, c->times_col);
        if (c->role == RILL_COL_MULTI || c->role == RILL_COL_SEQUENCE ||
            c->role == RILL_COL_TIMES || c->role == RILL_COL_VECTOR) {
            if (!c->sep || c->sep == s->text.sep)
                fz_broken("column %s has separator %d, the file's is %d", c->name, c->sep,
                          s->text.sep);
        }
    }
    for (int i = 0; i < s->nlabels; i++)
        if (!s->label_names[i])
            fz_broken("label %d has no name", i);
    for (int i = 0; i < s->nnum; i++)
        if (!s->num_names[i])
            fz_broken("numeric field %d has no name", i);
    for (int i = 0; i < s->ncat; i++)
        if (!s->cat_names[i])
            fz_broken("categorical field %d has no name", i);
}

static void read_all(const rill_schema *s, const char *path, uint8_t how)
{
    rill_reader_cfg cfg = {
        .path = path,
        .format = RILL_FMT_CSV,
        .schema = s,
        .part = (how >> 1 & 3) % 3,
        .valid_fraction = 0.3,
        .split = how >> 3 & 1,
        .split_seed = 7,
        .batch = 3,
        .shuffle = how >> 4 & 1 ? 8 : 0,
        .seed = 1,
        .on_bad_line = how & 1,
        .max_line = 512,
        .threaded = how >> 5 & 1,
    };
    rill_err err = {0};
    rill_reader *r;
    if (rill_reader_open(&r, &cfg, &err))
        return;
    const rill_batch *b;
    uint64_t rows = 0;
    for (int epoch = 0; epoch < 2; epoch++) {
        int rc;
        while ((rc = rill_reader_next(r, &b, &err)) > 0) {
            if (b->B < 1 || b->B > cfg.batch)
                fz_broken("a batch of %d rows (batch %d)", b->B, cfg.batch);
            rows += (uint64_t)b->B;
        }
        if (rc < 0 || rill_reader_start_epoch(r, (uint64_t)epoch + 1, &err))
            break;
    }
    if (rows > 2 * rill_reader_rows(r))
        fz_broken("read %llu rows in 2 epochs of a part of %llu lines", (unsigned long long)rows,
                  (unsigned long long)rill_reader_rows(r));
    rill_reader_close(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char mark[] = "\n#lines\n";
    const char *dir = fz_tmpdir("schema");
    char ypath[300], dpath[300];
    snprintf(ypath, sizeof ypath, "%s/schema.yaml", dir);
    snprintf(dpath, sizeof dpath, "%s/data.csv", dir);
    const uint8_t *m = memmem(data, size, mark, sizeof mark - 1);
    size_t ylen = m ? (size_t)(m - data) + 1 : size;
    fz_write(ypath, data, ylen);
    rill_schema s;
    rill_err err = {0};
    if (rill_schema_load_yaml(&s, ypath, &err)) {
        if (!err.msg[0])
            fz_broken("the loader failed (%d) without a message", err.code);
        return 0;
    }
    check_schema(&s);
    size_t at = ylen - 1 + sizeof mark - 1;
    if (m && at < size) {
        fz_write(dpath, data + at + 1, size - at - 1);
        read_all(&s, dpath, data[at]);
    }
    rill_schema_free(&s);
    return 0;
}
