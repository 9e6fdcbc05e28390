#include "err.h"

#include <stdarg.h>
#include <string.h>

int rill_errf(rill_err *e, int code, const char *fmt, ...)
{
    if (e) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(e->msg, sizeof e->msg, fmt, ap);
        va_end(ap);
        e->code = code;
    }
    return code;
}

int rill_err_prefix(rill_err *e, const char *fmt, ...)
{
    char head[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(head, sizeof head, fmt, ap);
    va_end(ap);
    size_t h = strlen(head), m = strlen(e->msg);
    if (h >= sizeof e->msg)
        h = sizeof e->msg - 1;
    if (h + m >= sizeof e->msg)
        m = sizeof e->msg - 1 - h; /* keep the head, cut the old message's tail */
    memmove(e->msg + h, e->msg, m);
    memcpy(e->msg, head, h);
    e->msg[h + m] = 0;
    return e->code;
}

const char *rill_strerror(int code)
{
    switch (code) {
    case RILL_OK: return "success";
    case RILL_EINVAL: return "invalid argument";
    case RILL_ENOMEM: return "out of memory";
    case RILL_EIO: return "input/output error";
    case RILL_EDATA: return "malformed data";
    case RILL_ESHAPE: return "shape mismatch";
    case RILL_ESCRIPT: return "script error";
    case RILL_ESTORE: return "store error";
    case RILL_EINTR: return "interrupted";
    case RILL_EOF: return "end of data";
    case RILL_ENOSPC: return "the disk is full";
    default: return "unknown error";
    }
}
