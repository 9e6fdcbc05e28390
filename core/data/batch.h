/* Schemas and columnar batches. A schema names a data set's columns by role; a batch holds B
 * rows of it column by column: labels (one column per task), an optional weight, numeric
 * values (NaN = missing) and categorical fields as offsets + 64-bit values (a single-valued
 * field has 0 or 1 value per row; no value means missing). The reader fills large batches
 * (its shuffle chunks) and gathers rows from them into training batches. */
#ifndef RILL_BATCH_H
#define RILL_BATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

/* A column of a delimited text file (CSV, TSV) and what it feeds. */
enum {
    RILL_COL_SKIP = 0, /* read past */
    RILL_COL_LABEL,    /* a task's label: 0/1, a number in [0, 1], or compared with threshold */
    RILL_COL_WEIGHT,   /* the example's weight, a number >= 0 */
    RILL_COL_CAT,      /* a categorical value (its text, hashed to 64 bits) */
    RILL_COL_MULTI,    /* several categorical values split on `sep` */
    RILL_COL_NUM,      /* a number (empty = missing) */
    RILL_COL_VECTOR,   /* dim numbers split on `sep` (a pre-trained vector; empty = missing) */
    RILL_COL_SEQUENCE, /* a behaviour sequence: ids split on `sep`, newest last, the newest
                        * max_length kept; optionally a parallel TIMES column */
    RILL_COL_TIMES,    /* the timestamps or positions of a sequence's ids, split on `sep` */
};

typedef struct rill_column {
    char *name;
    int role;         /* RILL_COL_* */
    int index;        /* its label, numeric or categorical field index (VECTOR: the first
                       * of its dim numeric fields, NAME[1] .. NAME[dim]) */
    char sep;         /* MULTI, VECTOR: the values' separator */
    int dim;          /* VECTOR: how many numbers */
    int max_length;   /* SEQUENCE: the newest this many ids are kept (0: all) */
    char *times;      /* SEQUENCE: the name of its TIMES column, or NULL */
    int times_col;    /* SEQUENCE: that column's index; TIMES: its sequence's column */
    int line, col;    /* where a schema file declares it (0: not from a file), for messages */
    bool has_threshold;
    double threshold; /* LABEL: the label is value >= threshold */
    bool group;       /* CAT: its value groups examples for grouped AUC (GAUC) */
    char *positive;   /* LABEL: the label is value == positive (text), else NULL */
} rill_column;

/* The layout of a delimited text file; ncols = 0 for the fixed formats (Criteo). */
typedef struct rill_text_layout {
    char sep;         /* between columns */
    char quote;       /* around a column that holds sep or quote (doubled inside); 0: none */
    bool header;      /* the first line names the columns */
    bool trim;        /* spaces around unquoted values are not part of them */
    int ncols;
    rill_column *cols;
} rill_text_layout;

typedef struct rill_schema {
    char *name;             /* "criteo", or the schema file */
    rill_text_layout text;
    int nlabels;
    char **label_names;
    bool has_weight;
    int nnum;
    char **num_names;
    int ncat;
    char **cat_names;
    bool *cat_multi;        /* multi-valued categorical field */
    bool *cat_timed;        /* a sequence whose values carry times (NULL: none has) */
    bool has_group;         /* grouped AUC: examples grouped by categorical field group_field */
    int group_field;
    struct {
        bool is_svm, ffm;   /* a libsvm/libfm file, or libffm (field:feature:value) */
        int fields;         /* 0: one multi-valued field "features"; N: fields f1..fN */
    } svm;
} rill_schema;

/* The built-in Criteo layout: label, I1..I13, C1..C26. */
int rill_schema_criteo(rill_schema *s, rill_err *err);
/* The built-in Avazu layout (CSV with a header): id skipped, click the label, the other 22
 * columns categorical. */
int rill_schema_avazu(rill_schema *s, rill_err *err);
/* The libsvm/libfm layout (one label; features into one multi-valued field "features" when
 * fields = 0, else the i-th feature into field fi) or, with ffm, libffm's (field f's
 * features into field f(f+1), multi-valued, fields required). */
int rill_schema_libsvm(rill_schema *s, int fields, bool ffm, rill_err *err);
/* A schema from a YAML file (core/data/schema_yaml.c; the format is in the README). Errors name
 * the file, line and column. */
int rill_schema_load_yaml(rill_schema *s, const char *path, rill_err *err);
/* Fills the per-role name lists of a schema whose text.cols are set, and checks the columns
 * (unique names, at least one label); where names the source for messages. */
int rill_schema_from_columns(rill_schema *s, const char *where, rill_err *err);
void rill_schema_free(rill_schema *s);
/* A vector column's first numeric field and its dim; -1 when there is no such vector. */
int rill_schema_vector(const rill_schema *s, const char *name, int *dim);
/* Column lookup by name; -1 when absent. */
int rill_schema_label(const rill_schema *s, const char *name);
int rill_schema_num(const rill_schema *s, const char *name);
int rill_schema_cat(const rill_schema *s, const char *name);

typedef struct rill_catcol {
    uint32_t *off;   /* cap+1 offsets into val */
    uint64_t *val;
    double *time;    /* per value, its time or position (a sequence with times), else NULL */
    size_t val_cap;
} rill_catcol;

/* Where a batch came from, so training can resume exactly after it. */
typedef struct rill_data_pos {
    uint64_t epoch;
    uint64_t chunk;        /* shuffle chunk index within the epoch */
    uint64_t batch;        /* batches of this chunk already handed out, this one included */
    uint64_t offset;       /* byte offset where reading for the chunk began (the line after */
    uint64_t line;         /* the previous chunk's last), and its 1-based line number */
    uint64_t bad_lines;    /* skipped so far in this epoch, before the chunk */
} rill_data_pos;

typedef struct rill_batch {
    const rill_schema *schema;
    int B, cap;
    float *labels;       /* cap x nlabels */
    float *weights;      /* cap, when schema->has_weight */
    float *num;          /* cap x nnum */
    rill_catcol *cat;    /* ncat */
    uint64_t *line;      /* cap: source line of each row, for messages and predictions */
    rill_data_pos pos;
} rill_batch;

int rill_batch_init(rill_batch *b, const rill_schema *s, int cap, rill_err *err);
void rill_batch_free(rill_batch *b);
void rill_batch_clear(rill_batch *b);
/* Makes room for `more` values after the first `used` of categorical field f (the values
 * before the row being filled plus what that row has added so far: a parser passes where
 * its next value goes); RILL_ENOMEM on failure. */
int rill_batch_reserve_cat(rill_batch *b, int f, size_t used, size_t more);
/* dst gets src's rows perm[from .. from+count-1], in that order. */
int rill_batch_gather(rill_batch *dst, const rill_batch *src, const uint32_t *perm, int from,
                      int count, rill_err *err);

#endif
