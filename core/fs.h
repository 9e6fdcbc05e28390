/* Files and processes without a shell, for the commands (the Lua side calls these through the
 * binding). Paths come from the user and may hold any byte (spaces, quotes, ';', '$(...)',
 * newlines, a leading '-'), so they go to system calls as they are, never through sh. Every
 * failure is a rill_err naming the path and the OS error ("cannot write out.csv: No space
 * left on device (the disk is full)"): a result a caller forgets to look at is how a full
 * disk went unnoticed. */
#ifndef RILL_FS_H
#define RILL_FS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

#include "err.h"

/* " (the disk is full)" after the OS error of a write that found no space, else "" */
const char *rill_fs_disk_full(int e);
/* Closes f: 0, or the errno of the failed close (which flushes the buffer: on a full disk
 * usually where the error shows), or EIO when only the stream's error flag tells of an
 * earlier failed write. */
int rill_fs_close_checked(FILE *f);
/* Fills err with "<what>: <strerror(e)><disk full>" (what formatted), code RILL_EIO, or
 * RILL_ENOSPC for a full disk; returns the code. */
int rill_fs_errno(rill_err *err, int e, const char *fmt, ...) RILL_PRINTF(3, 4);

/* path holds exactly len bytes of data (a write, or the close that flushes it, fails: EIO). */
int rill_fs_write_file(const char *path, const void *data, size_t len, rill_err *err);
/* rm -rf path: *removed says whether anything was there. A symbolic link is removed, never
 * followed (also one put in place while the tree is walked). Refuses "", "/", "." and ".."
 * and names ending in them (RILL_EINVAL). */
int rill_fs_remove_tree(const char *path, bool *removed, rill_err *err);
/* The names in directory path (no "." and ".."), unsorted, as a malloc'd array of *n
 * malloc'd strings (rill_fs_names_free). RILL_EOF when nothing is at path. */
int rill_fs_dir_entries(const char *path, char ***names, int *n, rill_err *err);
void rill_fs_names_free(char **names, int n);

typedef enum {
    RILL_FS_NONE,      /* nothing there (or a path through a non-directory) */
    RILL_FS_FILE,
    RILL_FS_DIRECTORY,
    RILL_FS_LINK,      /* lstat: a symbolic link, whatever it points to */
    RILL_FS_OTHER,
} rill_fs_type;
int rill_fs_file_type(const char *path, rill_fs_type *type, rill_err *err);
/* A new directory prefix followed by six random characters, into out (cap bytes). */
int rill_fs_mkdtemp(const char *prefix, char *out, size_t cap, rill_err *err);

/* Starts argv[0] (a path: no PATH search, no shell) with exactly argv (NULL-terminated);
 * stdout and stderr go to the files out and errpath when given (truncated, or appended to
 * with append; the same name for both makes one file, as 2>&1 does). The child inherits the
 * environment and the process group, so a Ctrl-C reaches it too. */
int rill_fs_spawn(const char *const *argv, const char *out, const char *errpath, bool append,
                  pid_t *pid, rill_err *err);
/* Waits for child pid (-1: any): *got its pid, *signaled whether a signal ended it, *code
 * the exit status or the signal's number. RILL_EOF when there is no child to wait for. */
int rill_fs_wait(pid_t pid, pid_t *got, bool *signaled, int *code, rill_err *err);

#endif
