/* The Criteo TSV line parser (rill_format_criteo.parse, core/data/reader_criteo.c): every line of
 * the input is parsed into a small batch that is cleared when full, as the reader does.
 * Besides the sanitizers it checks the parser's contract: a row is added or not (b->B), a
 * categorical field gets at most one value, a label is 0 or 1, and a rejected line has a
 * message and a column inside the line. */
#include "reader_impl.h"

#include "fuzz_common.h"

enum { CAP = 4 };

static void one_line(void *ud, const char *line, size_t len, uint64_t lineno)
{
    rill_batch *b = ud;
    int row = fz_parse(&rill_format_criteo, b, line, len, lineno);
    if (row < 0)
        return;
    if (b->labels[row] != 0 && b->labels[row] != 1)
        fz_broken("label %g", (double)b->labels[row]);
    for (int f = 0; f < b->schema->ncat; f++)
        if (b->cat[f].off[row + 1] - b->cat[f].off[row] > 1)
            fz_broken("field %d got %u values", f, b->cat[f].off[row + 1] - b->cat[f].off[row]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static rill_schema s;
    static int ready;
    rill_err err = {0};
    if (!ready) {
        if (rill_schema_criteo(&s, &err))
            abort();
        ready = 1;
    }
    rill_batch b;
    if (rill_batch_init(&b, &s, CAP, &err))
        abort();
    fz_lines(data, size, &b, one_line);
    rill_batch_free(&b);
    return 0;
}
