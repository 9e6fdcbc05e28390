/* Memory cgroups for the larger-than-memory benchmarks and tests (see memlimit.h). v1: the
 * memory hierarchy's limit_in_bytes; v2: memory.max (and memory.swap.max 0, so a limited
 * process cannot swap its way past the limit). The group is made beside the process's own
 * group when that one is writable (a container's), else under the hierarchy's root. */
#include "memlimit.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#define V1_ROOT "/sys/fs/cgroup/memory"
#define V2_ROOT "/sys/fs/cgroup"

/* path := text; 0 or errno */
static int put_text(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return errno;
    size_t n = strlen(text);
    ssize_t w = write(fd, text, n);
    int e = w == (ssize_t)n ? 0 : (w < 0 ? errno : EIO);
    if (close(fd) != 0 && !e)
        e = errno;
    return e;
}

static bool get_u64(const char *path, uint64_t *v)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    unsigned long long x;
    bool ok = fscanf(f, "%llu", &x) == 1;
    fclose(f);
    *v = ok ? x : 0;
    return ok;
}

/* This process's group in a hierarchy, from /proc/self/cgroup: v1 the line whose controllers
 * include "memory", v2 the "0::" line. */
static bool own_group(int version, char *out, size_t cap)
{
    FILE *f = fopen("/proc/self/cgroup", "r");
    if (!f)
        return false;
    char line[1200];
    bool found = false;
    while (!found && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (!c2)
            continue;
        *c2 = 0;
        const char *ctrl = c1 + 1;
        if (version == 2 ? !strcmp(line, "0") && !*ctrl
                         : (strstr(ctrl, "memory") != NULL)) {
            snprintf(out, cap, "%s", c2 + 1);
            found = true;
        }
    }
    fclose(f);
    return found;
}

static bool has_v2_memory(void)
{
    FILE *f = fopen(V2_ROOT "/cgroup.controllers", "r");
    if (!f)
        return false;
    char buf[512] = "";
    bool ok = fgets(buf, sizeof buf, f) && strstr(buf, "memory");
    fclose(f);
    return ok;
}

/* Groups of earlier processes that died in them (an out-of-memory kill leaves its group):
 * removed when empty (rmdir refuses a group with processes in it). */
static void remove_stale(const char *parent)
{
    DIR *d = opendir(parent);
    if (!d)
        return;
    struct dirent *e;
    char path[1400];
    while ((e = readdir(d)))
        if (!strncmp(e->d_name, "rill-limit-", 11)) {
            snprintf(path, sizeof path, "%s/%s", parent, e->d_name);
            rmdir(path);
        }
    closedir(d);
}

/* mkdir of the group under parent (a directory of the hierarchy); 0 or errno */
static int make_group(rill_memlimit *m, const char *parent)
{
    remove_stale(parent);
    snprintf(m->dir, sizeof m->dir, "%s/rill-limit-%ld", parent, (long)getpid());
    if (mkdir(m->dir, 0755) != 0 && errno != EEXIST)
        return errno;
    return 0;
}

/* The made group's limit (limit_file := bytes), no swapping (swap_file := 0: with swap, a
 * limited process would swap rather than be limited), and this process moved in. */
static int limit_and_enter(rill_memlimit *m, uint64_t bytes, const char *limit_file,
                           const char *swap_file, rill_err *err)
{
    char path[1200], num[32];
    int e;
    snprintf(num, sizeof num, "%llu", (unsigned long long)bytes);
    snprintf(path, sizeof path, "%s/%s", m->dir, limit_file);
    if ((e = put_text(path, num)))
        return rill_errf(err, RILL_EINVAL, "%s: cannot set the limit: %s", path, strerror(e));
    snprintf(path, sizeof path, "%s/%s", m->dir, swap_file);
    put_text(path, "0");
    snprintf(num, sizeof num, "%ld", (long)getpid());
    snprintf(path, sizeof path, "%s/cgroup.procs", m->dir);
    if ((e = put_text(path, num)))
        return rill_errf(err, RILL_EINVAL, "%s: cannot move the process in: %s", path,
                         strerror(e));
    return RILL_OK;
}

static int enter_v1(rill_memlimit *m, uint64_t bytes, rill_err *err)
{
    char own[800] = "", parent[1024];
    if (access(V1_ROOT "/memory.limit_in_bytes", F_OK) != 0)
        return rill_errf(err, RILL_EINVAL, "no cgroup-v1 memory hierarchy at " V1_ROOT);
    own_group(1, own, sizeof own);
    snprintf(m->home, sizeof m->home, V1_ROOT "%s/cgroup.procs", own);
    snprintf(parent, sizeof parent, V1_ROOT "%s", own);
    int e = make_group(m, parent);
    if (e)
        e = make_group(m, V1_ROOT);
    if (e)
        return rill_errf(err, RILL_EINVAL, "cannot make a memory cgroup under " V1_ROOT ": %s",
                         strerror(e));
    m->version = 1;
    return limit_and_enter(m, bytes, "memory.limit_in_bytes", "memory.swappiness", err);
}

static int enter_v2(rill_memlimit *m, uint64_t bytes, rill_err *err)
{
    char own[800] = "", parent[1024], path[1200];
    own_group(2, own, sizeof own);
    snprintf(m->home, sizeof m->home, V2_ROOT "%s/cgroup.procs", own);
    /* a v2 group with processes in it cannot have children with controllers: the new group
     * goes beside the process's own, under its parent */
    snprintf(parent, sizeof parent, V2_ROOT "%s", own);
    char *slash = strrchr(parent, '/');
    if (slash && slash > parent + strlen(V2_ROOT))
        *slash = 0;
    else
        snprintf(parent, sizeof parent, "%s", V2_ROOT);
    snprintf(path, sizeof path, "%s/cgroup.subtree_control", parent);
    put_text(path, "+memory");
    int e = make_group(m, parent);
    if (e)
        return rill_errf(err, RILL_EINVAL, "cannot make a memory cgroup under %s: %s", parent,
                         strerror(e));
    m->version = 2;
    return limit_and_enter(m, bytes, "memory.max", "memory.swap.max", err);
}

int rill_memlimit_enter(rill_memlimit *m, uint64_t bytes, rill_err *err)
{
    memset(m, 0, sizeof *m);
    m->bytes = bytes;
    int rc = has_v2_memory() ? enter_v2(m, bytes, err) : enter_v1(m, bytes, err);
    if (rc && m->version) {
        rmdir(m->dir); /* made but not usable */
        m->version = 0;
    }
    return rc;
}

uint64_t rill_memlimit_peak(const rill_memlimit *m)
{
    char path[1200];
    uint64_t v = 0;
    if (!m->version)
        return 0;
    snprintf(path, sizeof path, "%s/%s", m->dir,
             m->version == 1 ? "memory.max_usage_in_bytes" : "memory.peak");
    return get_u64(path, &v) ? v : 0;
}

int rill_memlimit_leave(rill_memlimit *m, rill_err *err)
{
    if (!m->version)
        return RILL_OK;
    char num[32];
    snprintf(num, sizeof num, "%ld", (long)getpid());
    int e = put_text(m->home, num);
    if (e)
        return rill_errf(err, RILL_EIO, "%s: cannot move the process back: %s", m->home,
                         strerror(e));
    /* the page cache charged to the group moves to its parent when the group goes */
    if (rmdir(m->dir) != 0)
        return rill_errf(err, RILL_EIO, "%s: cannot remove the group: %s", m->dir,
                         strerror(errno));
    m->version = 0;
    return RILL_OK;
}

void rill_proc_io_get(rill_proc_io *io)
{
    memset(io, 0, sizeof *io);
    FILE *f = fopen("/proc/self/io", "r");
    if (f) {
        char key[64];
        unsigned long long v;
        while (fscanf(f, "%63[^:]: %llu\n", key, &v) == 2) {
            if (!strcmp(key, "read_bytes"))
                io->read_bytes = v;
            else if (!strcmp(key, "write_bytes"))
                io->write_bytes = v;
        }
        fclose(f);
    }
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) == 0) {
        io->major_faults = (uint64_t)ru.ru_majflt;
        io->minor_faults = (uint64_t)ru.ru_minflt;
        io->max_rss = (uint64_t)ru.ru_maxrss * 1024;
    }
}

void rill_major_faults(uint64_t *thread, uint64_t *process)
{
    struct rusage ru;
    *thread = getrusage(RUSAGE_THREAD, &ru) == 0 ? (uint64_t)ru.ru_majflt : 0;
    *process = getrusage(RUSAGE_SELF, &ru) == 0 ? (uint64_t)ru.ru_majflt : 0;
}

int rill_drop_file_cache(const char *path, rill_err *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return rill_errf(err, RILL_EIO, "%s: cannot open: %s", path, strerror(errno));
    int e = fdatasync(fd) != 0 ? errno : posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    close(fd);
    if (e)
        return rill_errf(err, RILL_EIO, "%s: cannot drop it from the page cache: %s", path,
                         strerror(e));
    return RILL_OK;
}
