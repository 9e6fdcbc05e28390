/* core/fs.h, the files and processes the commands use without a shell: mkdir -p (util.h's
 * rill_mkdir_p) over empty components and into an existing file, rm -rf that removes a
 * symbolic link and never what it points to and refuses ".." and "/", directory listings,
 * lstat's types, mkdtemp, spawning with output files (one for both streams too), exit
 * statuses and signals, and errors that name the path and a full disk. (tests/t-files.lua
 * tries the same through the Lua binding on hostile names.) */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs.h"
#include "tap.h"
#include "tmpfiles.h"
#include "util.h"

static char path[1024];

static const char *at(const char *name)
{
    snprintf(path, sizeof path, "%s/%s", tmp_dir, name);
    return path;
}

static char *slurp(const char *p)
{
    static char buf[256];
    FILE *f = fopen(p, "rb");
    size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    if (f)
        fclose(f);
    buf[n] = 0;
    return buf;
}

static void test_files(void)
{
    rill_err err = {0};
    ok(rill_fs_write_file(at("f.txt"), "hello", 5, &err) == RILL_OK &&
           strcmp(slurp(at("f.txt")), "hello") == 0,
       "write_file: the file holds the text");
    ok(rill_fs_write_file(at("none/f.txt"), "x", 1, &err) == RILL_EIO &&
           strstr(err.msg, "cannot write ") && strstr(err.msg, "none/f.txt: No such file"),
       "write_file into a missing directory: '%s'", err.msg);
    if (access("/dev/full", W_OK) == 0)
        ok(rill_fs_write_file("/dev/full", "x", 1, &err) == RILL_ENOSPC &&
               strstr(err.msg, "cannot write /dev/full: No space left on device (the disk is full)"),
           "write_file on a full disk: '%s'", err.msg);
    else
        ok(1, "# SKIP no /dev/full");
    ok(rill_fs_errno(&err, EACCES, "cannot look at %s", "x") == RILL_EIO &&
           strcmp(err.msg, "cannot look at x: Permission denied") == 0,
       "an OS error: what, then strerror");

    ok(rill_mkdir_p(at("a/b//c/"), &err) == RILL_OK && rill_mkdir_p(path, &err) == RILL_OK,
       "mkdir -p a/b//c/, and again");
    rill_fs_type t;
    ok(rill_fs_file_type(at("a/b/c"), &t, &err) == RILL_OK && t == RILL_FS_DIRECTORY,
       "file_type: a/b/c is a directory");
    ok(rill_mkdir_p(at("f.txt/sub"), &err) == RILL_EIO &&
           strstr(err.msg, "f.txt: a file of that name is in the way"),
       "mkdir -p through a file: '%s'", err.msg);
    ok(rill_mkdir_p("", &err) == RILL_EINVAL && strstr(err.msg, "empty name"),
       "mkdir -p of '': refused");

    ok(rill_fs_file_type(at("f.txt"), &t, &err) == RILL_OK && t == RILL_FS_FILE,
       "file_type: a file");
    ok(rill_fs_file_type(at("f.txt/x"), &t, &err) == RILL_OK && t == RILL_FS_NONE,
       "file_type: nothing through a file (ENOTDIR)");
    ok(rill_fs_file_type(at("nothing"), &t, &err) == RILL_OK && t == RILL_FS_NONE,
       "file_type: nothing there");
    ok(rill_fs_file_type("/dev/null", &t, &err) == RILL_OK && t == RILL_FS_OTHER,
       "file_type: a device is other");
}

static void test_remove_tree(void)
{
    rill_err err = {0};
    bool removed;
    char outside[1024], tree[1024], link[1100];
    snprintf(outside, sizeof outside, "%s/outside", tmp_dir);
    snprintf(tree, sizeof tree, "%s/tree", tmp_dir);
    snprintf(link, sizeof link, "%s/tree/sub/to-outside", tmp_dir);
    rill_mkdir_p(outside, &err);
    rill_fs_write_file(at("outside/keep"), "k", 1, &err);
    rill_mkdir_p(at("tree/sub"), &err);
    rill_fs_write_file(at("tree/sub/f"), "f", 1, &err);
    ok(symlink(outside, link) == 0, "a link in the tree to a directory outside it");
    rill_fs_type t;
    ok(rill_fs_file_type(link, &t, &err) == RILL_OK && t == RILL_FS_LINK,
       "file_type: the link is a link");

    char **names;
    int n;
    ok(rill_fs_dir_entries(at("tree/sub"), &names, &n, &err) == RILL_OK && n == 2 &&
           (strcmp(names[0], "f") == 0 || strcmp(names[1], "f") == 0),
       "dir_entries: f and the link, no . or ..");
    rill_fs_names_free(names, n);
    ok(rill_fs_dir_entries(at("nothing"), &names, &n, &err) == RILL_EOF && !names && n == 0,
       "dir_entries of nothing: RILL_EOF");
    ok(rill_fs_dir_entries(at("f.txt"), &names, &n, &err) == RILL_EIO &&
           strstr(err.msg, "cannot read directory ") && strstr(err.msg, "Not a directory"),
       "dir_entries of a file: '%s'", err.msg);

    ok(rill_fs_remove_tree(at("tree/.."), &removed, &err) == RILL_EINVAL &&
           strstr(err.msg, "refusing to remove"),
       "remove_tree of a name ending in '..': refused");
    ok(rill_fs_remove_tree("/", &removed, &err) == RILL_EINVAL, "remove_tree of '/': refused");
    ok(rill_fs_remove_tree(".", &removed, &err) == RILL_EINVAL, "remove_tree of '.': refused");
    ok(rill_fs_remove_tree("", &removed, &err) == RILL_EINVAL && strstr(err.msg, "empty name"),
       "remove_tree of '': refused");
    char slash[1100];
    snprintf(slash, sizeof slash, "%s/", tree);
    ok(rill_fs_remove_tree(slash, &removed, &err) == RILL_OK && removed,
       "remove_tree of tree/: removed");
    ok(rill_fs_file_type(tree, &t, &err) == RILL_OK && t == RILL_FS_NONE &&
           strcmp(slurp(at("outside/keep")), "k") == 0,
       "the tree is gone; what the link pointed to is still there");
    ok(rill_fs_remove_tree(tree, &removed, &err) == RILL_OK && !removed,
       "remove_tree of nothing: false, not an error");
    ok(rill_fs_remove_tree(outside, &removed, &err) == RILL_OK && removed,
       "remove_tree of the outside directory");

    char made[4096];
    snprintf(path, sizeof path, "%s/tmp-", tmp_dir);
    ok(rill_fs_mkdtemp(path, made, sizeof made, &err) == RILL_OK &&
           strncmp(made, path, strlen(path)) == 0 && strlen(made) == strlen(path) + 6 &&
           rill_fs_file_type(made, &t, &err) == RILL_OK && t == RILL_FS_DIRECTORY,
       "mkdtemp: a new directory with the prefix (%s)", made);
    rmdir(made);
    ok(rill_fs_mkdtemp(path, made, strlen(path) + 3, &err) == RILL_EINVAL &&
           strstr(err.msg, "too long"),
       "mkdtemp into too small a buffer: refused");
}

static void test_processes(void)
{
    rill_err err = {0};
    pid_t pid, got;
    bool sig;
    int code;
    char out[1100];
    snprintf(out, sizeof out, "%s/out.txt", tmp_dir);
    const char *echo[] = {"/bin/echo", "a;b", "$(x)", NULL};
    int rc = rill_fs_spawn(echo, out, NULL, false, &pid, &err);
    rc = rc ? rc : rill_fs_wait(pid, &got, &sig, &code, &err);
    ok(rc == RILL_OK && got == pid && !sig && code == 0 &&
           strcmp(slurp(out), "a;b $(x)\n") == 0,
       "spawn echo: exactly its arguments, no shell; exit 0");
    const char *both[] = {"/bin/sh", "-c", "echo one; echo two >&2; exit 3", NULL};
    rc = rill_fs_spawn(both, out, out, true, &pid, &err);
    rc = rc ? rc : rill_fs_wait(-1, &got, &sig, &code, &err);
    ok(rc == RILL_OK && got == pid && !sig && code == 3 &&
           strcmp(slurp(out), "a;b $(x)\none\ntwo\n") == 0,
       "spawn with stdout and stderr to one file, appended: both streams, exit 3");
    const char *die[] = {"/bin/sh", "-c", "kill -TERM $$", NULL};
    rc = rill_fs_spawn(die, NULL, NULL, false, &pid, &err);
    rc = rc ? rc : rill_fs_wait(pid, &got, &sig, &code, &err);
    ok(rc == RILL_OK && sig && code == SIGTERM, "a child ended by SIGTERM: signal 15");
    ok(rill_fs_wait(-1, &got, &sig, &code, &err) == RILL_EOF, "wait with no child: RILL_EOF");
    const char *missing[] = {"/nonexistent/program", NULL};
    rc = rill_fs_spawn(missing, NULL, NULL, false, &pid, &err);
    if (rc == RILL_OK) /* a libc that reports exec failure as exit status 127 */
        rc = rill_fs_wait(pid, &got, &sig, &code, &err) == RILL_OK && code == 127 ? -1 : 0;
    ok(rc != RILL_OK, "spawn of a missing program fails ('%s')", err.msg);
    snprintf(out, sizeof out, "%s/no/dir/out.txt", tmp_dir);
    rc = rill_fs_spawn(echo, out, NULL, false, &pid, &err);
    if (rc == RILL_OK)
        rc = rill_fs_wait(pid, &got, &sig, &code, &err) == RILL_OK && code == 127 ? -1 : 0;
    ok(rc != RILL_OK, "spawn with output into a missing directory fails");
}

int main(void)
{
    tmp_start("fs");
    test_files();
    test_remove_tree();
    test_processes();
    bool removed;
    rill_err err = {0};
    rill_fs_remove_tree(at("a"), &removed, &err);
    remove(at("f.txt"));
    remove(at("out.txt"));
    return done_testing();
}
