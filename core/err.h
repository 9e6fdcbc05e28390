/* Errors: every fallible call returns an int (0 = RILL_OK, own codes negative) and fills a
 * rill_err with a message that says what went wrong, where, and what to do. Library code never
 * exits; RILL_ASSERT is only for the engine's own bugs, never for user input. */
#ifndef RILL_ERR_H
#define RILL_ERR_H

#include <stdio.h>
#include <stdlib.h>

enum {
    RILL_OK = 0,
    RILL_EINVAL = -1,   /* bad argument or configuration */
    RILL_ENOMEM = -2,   /* allocation failed */
    RILL_EIO = -3,      /* file system */
    RILL_EDATA = -4,    /* malformed input data */
    RILL_ESHAPE = -5,   /* graph shapes do not fit */
    RILL_ESCRIPT = -6,  /* pipeline script error */
    RILL_ESTORE = -7,   /* parameter store */
    RILL_EINTR = -8,    /* interrupted (Ctrl-C) */
    RILL_EOF = -9,      /* end of data, not an error for callers that expect it */
    RILL_ENOSPC = -10,  /* the disk is full (a write failed with ENOSPC or EDQUOT) */
};

typedef struct rill_err {
    int code;
    char msg[1024];
} rill_err;

#if defined(__GNUC__)
#define RILL_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define RILL_PRINTF(a, b)
#endif

/* Fills e (which may be NULL) and returns code, so callers write `return rill_errf(...)`. */
int rill_errf(rill_err *e, int code, const char *fmt, ...) RILL_PRINTF(3, 4);
/* Puts context in front of the message already in e; returns e->code. */
int rill_err_prefix(rill_err *e, const char *fmt, ...) RILL_PRINTF(2, 3);
const char *rill_strerror(int code);

#define RILL_ASSERT(x)                                                                     \
    do {                                                                                   \
        if (!(x)) {                                                                        \
            fprintf(stderr, "%s:%d: internal error: assertion '%s' failed\n", __FILE__,     \
                    __LINE__, #x);                                                         \
            abort();                                                                       \
        }                                                                                  \
    } while (0)

#endif
