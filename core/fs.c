/* Files and processes without a shell: see fs.h. */
#include "fs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define TREE_MAX_DEPTH 256

const char *rill_fs_disk_full(int e)
{
    return e == ENOSPC || e == EDQUOT ? " (the disk is full)" : "";
}

int rill_fs_close_checked(FILE *f)
{
    int bad = ferror(f);
    errno = 0;
    if (fclose(f) != 0)
        return errno ? errno : EIO;
    return bad ? EIO : 0;
}

int rill_fs_errno(rill_err *err, int e, const char *fmt, ...)
{
    char what[sizeof err->msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    int code = *rill_fs_disk_full(e) ? RILL_ENOSPC : RILL_EIO;
    return rill_errf(err, code, "%s: %s%s", what, strerror(e), rill_fs_disk_full(e));
}

int rill_fs_write_file(const char *path, const void *data, size_t len, rill_err *err)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return rill_fs_errno(err, errno, "cannot write %s", path);
    errno = 0;
    int e = len && fwrite(data, 1, len, f) != len ? (errno ? errno : EIO) : 0;
    int ec = rill_fs_close_checked(f);
    if (!e)
        e = ec;
    return e ? rill_fs_errno(err, e, "cannot write %s", path) : RILL_OK;
}

/* Removes name (relative to the directory at) and, for a directory, everything in it.
 * Symbolic links are removed, never followed: fstatat and openat with
 * AT_SYMLINK_NOFOLLOW/O_NOFOLLOW, so a link put in place between the two cannot lead out of
 * the tree either. path (len bytes used, room for cap) is the entry's name for messages; on
 * failure it names the entry that failed and errno says why. */
static int remove_at(int at, const char *name, char *path, size_t len, size_t cap, int depth)
{
    struct stat st;
    if (fstatat(at, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
        return errno == ENOENT ? 0 : -1;
    if (!S_ISDIR(st.st_mode))
        return unlinkat(at, name, 0) == 0 || errno == ENOENT ? 0 : -1;
    if (depth >= TREE_MAX_DEPTH) {
        errno = ELOOP;
        return -1;
    }
    int fd = openat(at, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return -1;
    DIR *d = fdopendir(fd);
    if (!d) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    int rc = 0, e = 0;
    for (;;) {
        errno = 0;
        struct dirent *de = readdir(d);
        if (!de) {
            if (errno) {
                rc = -1;
                e = errno;
            }
            break;
        }
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        size_t n = strlen(de->d_name);
        if (len + 1 + n >= cap) {
            rc = -1;
            e = ENAMETOOLONG;
            break;
        }
        path[len] = '/';
        memcpy(path + len + 1, de->d_name, n + 1);
        if (remove_at(dirfd(d), de->d_name, path, len + 1 + n, cap, depth + 1)) {
            rc = -1;
            e = errno;
            break; /* path names the entry that failed */
        }
        path[len] = 0;
    }
    closedir(d);
    if (rc) {
        errno = e;
        return -1;
    }
    return unlinkat(at, name, AT_REMOVEDIR) == 0 || errno == ENOENT ? 0 : -1;
}

int rill_fs_remove_tree(const char *given, bool *removed, rill_err *err)
{
    char path[8192], name[8192];
    size_t n = strlen(given);
    *removed = false;
    if (n == 0 || n >= sizeof path)
        return rill_errf(err, RILL_EINVAL, "cannot remove '%s': %s", given,
                         n ? "the name is too long" : "an empty name");
    memcpy(path, given, n + 1);
    while (n > 1 && path[n - 1] == '/') /* "dir/" would follow a link named dir */
        path[--n] = 0;
    const char *last = strrchr(path, '/');
    last = last ? last + 1 : path;
    if (strcmp(path, "/") == 0 || strcmp(last, ".") == 0 || strcmp(last, "..") == 0)
        return rill_errf(err, RILL_EINVAL, "refusing to remove '%s'", given);
    struct stat st;
    if (lstat(path, &st) != 0)
        return errno == ENOENT ? RILL_OK : rill_fs_errno(err, errno, "cannot remove %s", path);
    memcpy(name, path, n + 1);
    if (remove_at(AT_FDCWD, name, path, n, sizeof path, 0))
        return rill_fs_errno(err, errno, "cannot remove %s", path);
    *removed = true;
    return RILL_OK;
}

void rill_fs_names_free(char **names, int n)
{
    for (int i = 0; names && i < n; i++)
        free(names[i]);
    free(names);
}

int rill_fs_dir_entries(const char *path, char ***names, int *n, rill_err *err)
{
    *names = NULL;
    *n = 0;
    DIR *d = opendir(path);
    if (!d)
        return errno == ENOENT ? RILL_EOF
                               : rill_fs_errno(err, errno, "cannot read directory %s", path);
    int cap = 0, e = 0;
    for (;;) {
        errno = 0;
        struct dirent *de = readdir(d);
        if (!de) {
            e = errno;
            break;
        }
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (*n == cap) {
            char **more = realloc(*names, (size_t)(cap = cap ? cap * 2 : 16) * sizeof *more);
            if (!more) {
                e = ENOMEM;
                break;
            }
            *names = more;
        }
        if (!((*names)[*n] = strdup(de->d_name))) {
            e = ENOMEM;
            break;
        }
        ++*n;
    }
    closedir(d);
    if (!e)
        return RILL_OK;
    rill_fs_names_free(*names, *n);
    *names = NULL;
    *n = 0;
    return rill_fs_errno(err, e, "cannot read directory %s", path);
}

int rill_fs_file_type(const char *path, rill_fs_type *type, rill_err *err)
{
    struct stat st;
    *type = RILL_FS_NONE;
    if (lstat(path, &st) != 0)
        return errno == ENOENT || errno == ENOTDIR
                   ? RILL_OK
                   : rill_fs_errno(err, errno, "cannot look at %s", path);
    *type = S_ISREG(st.st_mode)   ? RILL_FS_FILE
            : S_ISDIR(st.st_mode) ? RILL_FS_DIRECTORY
            : S_ISLNK(st.st_mode) ? RILL_FS_LINK
                                  : RILL_FS_OTHER;
    return RILL_OK;
}

int rill_fs_mkdtemp(const char *prefix, char *out, size_t cap, rill_err *err)
{
    int n = snprintf(out, cap, "%sXXXXXX", prefix);
    if (n < 0 || (size_t)n >= cap)
        return rill_errf(err, RILL_EINVAL, "core.mkdtemp: the prefix is too long");
    if (!mkdtemp(out))
        return rill_fs_errno(err, errno, "cannot create a directory %sXXXXXX", prefix);
    return RILL_OK;
}

int rill_fs_spawn(const char *const *argv, const char *out, const char *errpath, bool append,
                  pid_t *pid, rill_err *err)
{
    int flags = O_WRONLY | O_CREAT | (append ? O_APPEND : O_TRUNC);
    posix_spawn_file_actions_t fa;
    int rc = posix_spawn_file_actions_init(&fa);
    if (rc)
        return rill_fs_errno(err, rc, "cannot start %s", argv[0]);
    if (out)
        rc = posix_spawn_file_actions_addopen(&fa, 1, out, flags, 0666);
    if (!rc && errpath && out && strcmp(errpath, out) == 0)
        rc = posix_spawn_file_actions_adddup2(&fa, 1, 2);
    else if (!rc && errpath)
        rc = posix_spawn_file_actions_addopen(&fa, 2, errpath, flags, 0666);
    *pid = 0;
    if (!rc)
        rc = posix_spawn(pid, argv[0], &fa, NULL, (char *const *)argv, environ); /* not changed */
    posix_spawn_file_actions_destroy(&fa);
    if (rc && (out || errpath))
        return rill_fs_errno(err, rc, "cannot start %s (output to %s)", argv[0],
                             out ? out : errpath);
    return rc ? rill_fs_errno(err, rc, "cannot start %s", argv[0]) : RILL_OK;
}

int rill_fs_wait(pid_t pid, pid_t *got, bool *signaled, int *code, rill_err *err)
{
    int status;
    while ((*got = waitpid(pid, &status, 0)) < 0 && errno == EINTR)
        ;
    if (*got < 0)
        return errno == ECHILD ? RILL_EOF
                               : rill_fs_errno(err, errno, "waiting for process %d", (int)pid);
    *signaled = WIFSIGNALED(status);
    *code = *signaled ? WTERMSIG(status) : WEXITSTATUS(status);
    return RILL_OK;
}
