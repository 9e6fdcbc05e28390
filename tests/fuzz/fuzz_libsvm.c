/* The libsvm / libfm / libffm line parser (rill_format_libsvm.parse, core/data/reader_libsvm.c):
 * the input's first byte picks the schema (0: libsvm, every feature into one multi-valued
 * field; 1: libfm with 3 positional fields; 2: libffm with 4 numbered fields), the rest is
 * lines, each parsed into a batch of 2 rows cleared when full, so that rows cross a field's
 * value capacity often (the parser must grow it). Besides the sanitizers it checks the
 * contract: a row is added or not, offsets never go back or pass the capacity, a positional
 * field gets exactly one value, a label is 0 or 1, a rejected line has a message and a column
 * in it. */
#include "reader_impl.h"

#include "fuzz_common.h"

enum { CAP = 2, NSCHEMA = 3 };

static void one_line(void *ud, const char *line, size_t len, uint64_t lineno)
{
    rill_batch *b = ud;
    const rill_schema *s = b->schema;
    int row = fz_parse(&rill_format_libsvm, b, line, len, lineno);
    if (row < 0)
        return;
    if (b->labels[row] != 0 && b->labels[row] != 1)
        fz_broken("label %g", (double)b->labels[row]);
    for (int f = 0; f < s->ncat; f++) {
        const rill_catcol *cc = &b->cat[f];
        uint32_t a = cc->off[row], e = cc->off[row + 1];
        if (e < a || e > cc->val_cap)
            fz_broken("field %d: offsets %u..%u, capacity %zu", f, a, e, cc->val_cap);
        if (s->svm.fields > 0 && !s->svm.ffm && e - a != 1)
            fz_broken("positional field %d got %u values", f, e - a);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static rill_schema schemas[NSCHEMA];
    static int ready;
    rill_err err = {0};
    if (!ready) {
        if (rill_schema_libsvm(&schemas[0], 0, false, &err) ||
            rill_schema_libsvm(&schemas[1], 3, false, &err) ||
            rill_schema_libsvm(&schemas[2], 4, true, &err)) {
            fprintf(stderr, "fuzz-libsvm: %s\n", err.msg);
            abort();
        }
        ready = 1;
    }
    if (size == 0)
        return 0;
    rill_batch b;
    if (rill_batch_init(&b, &schemas[data[0] % NSCHEMA], CAP, &err))
        abort();
    fz_lines(data + 1, size - 1, &b, one_line);
    rill_batch_free(&b);
    return 0;
}
