/* The delimited-text line parser (rill_format_csv.parse, core/data/reader_csv.c) under two fixed
 * YAML schemas that between them use every column role: the input's first byte picks one
 * (even: the CSV schema with quotes and trimming, odd: the TSV one), the rest is lines, each
 * parsed into a small batch cleared when full, as the reader does. Besides the sanitizers it
 * checks the contract: a row is added or not, offsets never go back, a sequence keeps at most
 * max_length ids, a label is in [0, 1], a rejected line has a message and a column in it. */
#include <math.h>

#include "reader_impl.h"

#include "fuzz_common.h"

enum { CAP = 4 };

static const char *const schema_text[2] = {
    "format: csv\n"
    "quote: '\"'\n"
    "header: true\n"
    "trim: true\n"
    "columns:\n"
    "  - { name: id, role: skip }\n"
    "  - { name: click, role: label }\n"
    "  - { name: rating, role: label, threshold: 4 }\n"
    "  - { name: income, role: label, positive: \"50000+.\" }\n"
    "  - { name: w, role: weight }\n"
    "  - { name: user, role: categorical, group: true }\n"
    "  - { name: city, role: categorical }\n"
    "  - { name: genres, role: multi, separator: \"|\" }\n"
    "  - { name: age, role: numeric }\n"
    "  - { name: vec, role: vector, dim: 3 }\n"
    "  - { name: hist, role: sequence, max_length: 4, times: hist_t, separator: \"|\" }\n"
    "  - { name: hist_t, role: times, separator: \"|\" }\n"
    "  - { name: tags, role: sequence, separator: \";\" }\n",
    "format: tsv\n"
    "columns:\n"
    "  - { name: y, role: label }\n"
    "  - { name: item, role: categorical }\n"
    "  - { name: cats, role: multi, separator: \",\" }\n"
    "  - { name: price, role: numeric }\n"
    "  - { name: emb, role: vector, dim: 2, separator: \",\" }\n"
    "  - { name: seen, role: sequence, max_length: 2, times: seen_at, separator: \" \" }\n"
    "  - { name: seen_at, role: times, separator: \" \" }\n"
    "  - { name: weight, role: weight }\n",
};

static void one_line(void *ud, const char *line, size_t len, uint64_t lineno)
{
    rill_batch *b = ud;
    const rill_schema *s = b->schema;
    int row = fz_parse(&rill_format_csv, b, line, len, lineno);
    if (row < 0)
        return;
    for (int l = 0; l < s->nlabels; l++) {
        float y = b->labels[(size_t)row * s->nlabels + l];
        if (!(y >= 0 && y <= 1))
            fz_broken("label %d is %g", l, (double)y);
    }
    if (s->has_weight && !(b->weights[row] >= 0))
        fz_broken("weight %g", (double)b->weights[row]);
    for (int c = 0; c < s->text.ncols; c++) {
        const rill_column *col = &s->text.cols[c];
        if (col->role != RILL_COL_CAT && col->role != RILL_COL_MULTI &&
            col->role != RILL_COL_SEQUENCE)
            continue;
        const rill_catcol *cc = &b->cat[col->index];
        uint32_t a = cc->off[row], e = cc->off[row + 1];
        if (e < a || e > cc->val_cap)
            fz_broken("column %s: offsets %u..%u, capacity %zu", col->name, a, e, cc->val_cap);
        if (col->role == RILL_COL_CAT && e - a > 1)
            fz_broken("column %s: %u values in a categorical column", col->name, e - a);
        if (col->role == RILL_COL_SEQUENCE && col->max_length > 0 &&
            e - a > (uint32_t)col->max_length)
            fz_broken("column %s: %u ids kept, max_length %d", col->name, e - a, col->max_length);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static rill_schema schemas[2];
    static int ready;
    rill_err err = {0};
    if (!ready) {
        const char *dir = fz_tmpdir("csv");
        for (int i = 0; i < 2; i++) {
            char path[300];
            snprintf(path, sizeof path, "%s/schema%d.yaml", dir, i);
            fz_write(path, schema_text[i], strlen(schema_text[i]));
            if (rill_schema_load_yaml(&schemas[i], path, &err)) {
                fprintf(stderr, "fuzz-csv: %s\n", err.msg);
                abort();
            }
        }
        ready = 1;
    }
    if (size == 0)
        return 0;
    rill_batch b;
    if (rill_batch_init(&b, &schemas[data[0] & 1], CAP, &err))
        abort();
    fz_lines(data + 1, size - 1, &b, one_line);
    rill_batch_free(&b);
    return 0;
}
