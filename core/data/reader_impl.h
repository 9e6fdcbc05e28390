/* Between the generic reader (core/data/reader.c: buffering, splits, chunks, the loader thread)
 * and the per-format line parsers (core/data/reader_criteo.c). Not a public header: only the
 * reader's own files include it. */
#ifndef RILL_READER_IMPL_H
#define RILL_READER_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "batch.h"
#include "err.h"

/* Why a line was rejected: the 1-based byte column and the message without the
 * "file:line:col: " prefix, which the generic part adds. */
typedef struct rill_line_fail {
    size_t col;
    char what[768];
} rill_line_fail;

/* A field as it appears in the file, for messages: at most 40 bytes, control and non-ASCII
 * bytes escaped (\xNN), so a binary file or a stray CR shows up legibly. */
void rill_quote_field(char *out, size_t cap, const char *s, size_t n);

/* Whether a line (len bytes, without its newline) ends with CR, i.e. has a CRLF ending. With
 * fail, the CR is refused: fail says so (the column of the CR) and how to convert the file.
 * The header check and the libsvm parser strip a CR (fail NULL); CSV and Criteo refuse it. */
bool rill_line_crlf(const char *line, size_t len, rill_line_fail *fail);

typedef struct rill_format {
    const char *name;
    /* RILL_OK if the schema is the one this format fills, else RILL_EINVAL in err. */
    int (*check_schema)(const rill_schema *s, rill_err *err);
    /* Parses one line (len bytes, without its newline) into row b->B of b and increments
     * b->B; the row's source line is lineno. line[len] must be '\n': the parser stops on it
     * instead of checking bounds. b has room for the row and one value per categorical
     * field. Returns 0, or -1 with fail filled and b->B unchanged. */
    int (*parse)(rill_batch *b, const char *line, size_t len, uint64_t lineno,
                 rill_line_fail *fail);
} rill_format;

extern const rill_format rill_format_criteo;
extern const rill_format rill_format_csv;
extern const rill_format rill_format_libsvm;

#endif
