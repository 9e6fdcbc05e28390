/* Holding this process to less memory than its data, for the benchmarks and tests of tables
 * larger than memory: a memory cgroup of its own (v1 or v2, made beside the one the process
 * is in), which bounds what the process allocates from then on and the page cache it
 * faults in, so the kernel cannot keep a whole table file cached on its behalf. And what the
 * benchmarks report beside it: the process's disk I/O and page faults. */
#ifndef RILL_MEMLIMIT_H
#define RILL_MEMLIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

typedef struct rill_memlimit {
    int version;        /* 1 or 2; 0: not entered */
    char dir[1100];     /* the group made for this process */
    char home[1024];    /* the cgroup.procs file of the group it came from */
    uint64_t bytes;     /* the limit */
} rill_memlimit;

/* Moves this process (all its threads) into a new memory cgroup limited to `bytes`. Memory
 * the process held before stays charged where it was; what it touches from now on counts.
 * RILL_EINVAL with err saying why when no group can be made (no cgroup file system, not
 * root, no memory controller): callers skip or say the run is not limited. */
int rill_memlimit_enter(rill_memlimit *m, uint64_t bytes, rill_err *err);
/* The group's peak usage so far (0 when the kernel does not report it). */
uint64_t rill_memlimit_peak(const rill_memlimit *m);
/* Back into the group the process came from, and the group removed. */
int rill_memlimit_leave(rill_memlimit *m, rill_err *err);

typedef struct rill_proc_io {
    uint64_t read_bytes, write_bytes; /* from and to the disk (/proc/self/io; 0 where absent) */
    uint64_t major_faults, minor_faults;
    uint64_t max_rss;                 /* bytes */
} rill_proc_io;
void rill_proc_io_get(rill_proc_io *io);
/* Major page faults (reads from the disk) so far: the calling thread's, and the process's. */
void rill_major_faults(uint64_t *thread, uint64_t *process);

/* Writes the file's dirty pages and drops it from the page cache, so that what a process
 * reads next comes from the disk (a limited run after an unlimited one on the same file). */
int rill_drop_file_cache(const char *path, rill_err *err);

#endif
