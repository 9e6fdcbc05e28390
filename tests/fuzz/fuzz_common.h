/* What the fuzz targets share: a private temporary directory (in /dev/shm when there is one:
 * some targets write a file per input) removed at exit; writing a buffer to a file; splitting
 * an input into lines, each copied into an allocation of exactly its length plus the '\n' the
 * line parsers stop on, so AddressSanitizer sees a parser that reads past it; and fz_broken for
 * an engine contract the target checks (it aborts: libFuzzer saves the input as a crash). */
#ifndef RILL_FUZZ_COMMON_H
#define RILL_FUZZ_COMMON_H

#include <ftw.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* libFuzzer's entry points */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static char fz_dir[256];

static inline int fz_rm_one(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
    (void)sb;
    (void)type;
    (void)ftw;
    return remove(path);
}

static inline void fz_cleanup(void)
{
    if (fz_dir[0])
        nftw(fz_dir, fz_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* The target's directory, made on first use: /dev/shm/rill-fuzz-NAME-XXXXXX (or under $TMPDIR,
 * or /tmp). */
static inline const char *fz_tmpdir(const char *name)
{
    if (fz_dir[0])
        return fz_dir;
    struct stat sb;
    const char *base = getenv("TMPDIR");
    if (!base || !*base)
        base = stat("/dev/shm", &sb) == 0 && S_ISDIR(sb.st_mode) ? "/dev/shm" : "/tmp";
    snprintf(fz_dir, sizeof fz_dir, "%s/rill-fuzz-%s-XXXXXX", base, name);
    if (!mkdtemp(fz_dir)) {
        perror(fz_dir);
        abort();
    }
    atexit(fz_cleanup);
    return fz_dir;
}

static inline void fz_write(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f || (n && fwrite(data, 1, n, f) != n) || fclose(f) != 0) {
        perror(path);
        abort();
    }
}

__attribute__((format(printf, 1, 2), noreturn)) static inline void fz_broken(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "fuzz: engine contract broken: ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    abort();
}

/* Calls fn for every line of data (split on '\n'; a last line without one counts too); the
 * line is in its own malloc'd buffer of len + 1 bytes whose last byte is '\n'. */
#ifdef RILL_READER_IMPL_H
/* One line through a format's parser, with the contract every parser states: a rejected line
 * leaves B as it was, with a message and a column inside the line; an accepted one adds one
 * row that carries its line number. Returns the new row, or -1 for a rejected line. */
static inline int fz_parse(const rill_format *fmt, rill_batch *b, const char *line, size_t len,
                           uint64_t lineno)
{
    if (b->B == b->cap)
        rill_batch_clear(b);
    int row = b->B;
    rill_line_fail fail = {0};
    int rc = fmt->parse(b, line, len, lineno, &fail);
    if (rc != 0) {
        if (rc != -1 || b->B != row)
            fz_broken("a rejected line returned %d and moved B from %d to %d", rc, row, b->B);
        if (!fail.what[0] || !memchr(fail.what, 0, sizeof fail.what) || fail.col > len + 1)
            fz_broken("a rejected line of %zu bytes has column %zu and message '%.100s'", len,
                      fail.col, fail.what);
        return -1;
    }
    if (b->B != row + 1)
        fz_broken("line %llu accepted but B went from %d to %d", (unsigned long long)lineno, row,
                  b->B);
    if (b->line[row] != lineno)
        fz_broken("row %d has line %llu, expected %llu", row, (unsigned long long)b->line[row],
                  (unsigned long long)lineno);
    return row;
}
#endif

static inline void fz_lines(const uint8_t *data, size_t size, void *ud,
                     void (*fn)(void *ud, const char *line, size_t len, uint64_t lineno))
{
    uint64_t lineno = 0;
    size_t at = 0;
    while (at < size) {
        const uint8_t *nl = memchr(data + at, '\n', size - at);
        size_t len = nl ? (size_t)(nl - (data + at)) : size - at;
        char *line = malloc(len + 1);
        if (!line)
            abort();
        memcpy(line, data + at, len);
        line[len] = '\n';
        fn(ud, line, len, ++lineno);
        free(line);
        at += len + 1;
    }
}

#endif
