/* The binding's files and processes (core/fs.h does the work, without a shell). Failures raise
 * the core's message, naming the path and the OS error, instead of returning nil, msg: a
 * result the caller forgets to look at is how a full disk went unnoticed. The messages carry
 * no Lua position (lua_error, not luaL_error): a line of lua/rill/ says nothing to a user. */
#include <stdlib.h>
#include <string.h>

#include "bind.h"
#include "fs.h"
#include "util.h"

static int raise_plain(lua_State *L, const rill_err *err)
{
    lua_pushstring(L, err->msg);
    return lua_error(L);
}

/* core.write_file(path, text): the file holds text, or an error names path and the OS error
 * (a write or the close that flushes it: on a full disk it is usually the close) */
static int l_write_file(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    size_t len;
    const char *text = luaL_checklstring(L, 2, &len);
    rill_err err = {0};
    if (rill_fs_write_file(path, text, len, &err))
        return raise_plain(L, &err);
    return 0;
}

/* core.mkdir(path): mkdir -p (rill_mkdir_p) */
static int l_mkdir(lua_State *L)
{
    const char *dir = luaL_checkstring(L, 1);
    if (!dir[0]) /* misuse, so with the position */
        return luaL_error(L, "cannot create a directory with an empty name");
    rill_err err = {0};
    if (rill_mkdir_p(dir, &err))
        return raise_plain(L, &err);
    lua_pushboolean(L, 1);
    return 1;
}

/* core.remove_tree(path): rm -rf path without a shell; true if something was removed, false
 * if nothing was there (see rill_fs_remove_tree) */
static int l_remove_tree(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    rill_err err = {0};
    bool removed;
    if (rill_fs_remove_tree(path, &removed, &err))
        return raise_plain(L, &err);
    lua_pushboolean(L, removed);
    return 1;
}

typedef struct {
    char **names;
    int n;
} name_list;

static void names_release(void *p)
{
    name_list *l = p;
    rill_fs_names_free(l->names, l->n);
}

/* core.dir_entries(path) -> the names in directory path (no "." and ".."), unsorted, or nil
 * when nothing is there; other failures (not a directory, no permission) raise */
static int l_dir_entries(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    name_list *l = rill_lua_owned(L, sizeof *l, names_release);
    rill_err err = {0};
    int rc = rill_fs_dir_entries(path, &l->names, &l->n, &err);
    if (rc == RILL_EOF)
        return 0;
    if (rc)
        return raise_plain(L, &err);
    lua_createtable(L, l->n, 0);
    for (int i = 0; i < l->n; i++) {
        lua_pushstring(L, l->names[i]);
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

/* core.file_type(path) -> "file", "directory", "link", "other", or nil when nothing is there
 * (lstat: a symbolic link is "link", whatever it points to) */
static int l_file_type(lua_State *L)
{
    static const char *const names[] = {
        [RILL_FS_FILE] = "file", [RILL_FS_DIRECTORY] = "directory", [RILL_FS_LINK] = "link",
        [RILL_FS_OTHER] = "other"};
    const char *path = luaL_checkstring(L, 1);
    rill_err err = {0};
    rill_fs_type t;
    if (rill_fs_file_type(path, &t, &err))
        return raise_plain(L, &err);
    if (t == RILL_FS_NONE)
        return 0;
    lua_pushstring(L, names[t]);
    return 1;
}

/* core.mkdtemp(prefix) -> a new directory prefix .. "XXXXXX" with the X's replaced */
static int l_mkdtemp(lua_State *L)
{
    const char *prefix = luaL_checkstring(L, 1);
    char buf[4096];
    rill_err err = {0};
    int rc = rill_fs_mkdtemp(prefix, buf, sizeof buf, &err);
    if (rc == RILL_EINVAL)
        return rill_lua_raise(L, &err); /* misuse: with the position */
    if (rc)
        return raise_plain(L, &err);
    lua_pushstring(L, buf);
    return 1;
}

/* core.spawn({ program, arg, ... } [, { stdout = FILE, stderr = FILE, append = false }]) -> pid
 * (rill_fs_spawn); core.wait collects it. */
static int l_spawn(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 2); /* the options at 2 (maybe nil), whatever is pushed after */
    int argc = (int)lua_rawlen(L, 1);
    if (argc < 1 || argc > 4096)
        return luaL_error(L, "core.spawn: argv must be a list of 1 to 4096 strings, got %d", argc);
    luaL_checkstack(L, argc + 8, "core.spawn: too many arguments");
    /* userdata: collected by the GC whatever error is raised below */
    const char **argv = lua_newuserdatauv(L, (size_t)(argc + 1) * sizeof *argv, 0);
    for (int i = 0; i < argc; i++) {
        lua_rawgeti(L, 1, i + 1); /* stays on the stack: keeps a converted number's string */
        if (!lua_isstring(L, -1))
            return luaL_error(L, "core.spawn: argv[%d] is a %s, expected a string", i + 1,
                              luaL_typename(L, -1));
        argv[i] = lua_tostring(L, -1);
    }
    argv[argc] = NULL;
    const char *out = NULL, *errpath = NULL;
    bool append = false;
    if (!lua_isnoneornil(L, 2)) {
        luaL_checktype(L, 2, LUA_TTABLE);
        lua_getfield(L, 2, "stdout");
        out = lua_tostring(L, -1);
        lua_getfield(L, 2, "stderr");
        errpath = lua_tostring(L, -1);
        lua_getfield(L, 2, "append");
        append = lua_toboolean(L, -1);
    }
    rill_err err = {0};
    pid_t pid;
    if (rill_fs_spawn(argv, out, errpath, append, &pid, &err))
        return raise_plain(L, &err);
    lua_pushinteger(L, pid);
    return 1;
}

/* core.wait([pid]) -> pid, "exit", status | pid, "signal", number: waits for that child, or
 * for any when pid is absent; nil when there is no child to wait for */
static int l_wait(lua_State *L)
{
    pid_t pid = (pid_t)luaL_optinteger(L, 1, -1), got;
    rill_err err = {0};
    bool signaled;
    int code;
    int rc = rill_fs_wait(pid, &got, &signaled, &code, &err);
    if (rc == RILL_EOF)
        return 0;
    if (rc)
        return raise_plain(L, &err);
    lua_pushinteger(L, got);
    lua_pushstring(L, signaled ? "signal" : "exit");
    lua_pushinteger(L, code);
    return 3;
}

void rill_lua_open_fs(lua_State *L)
{
    static const luaL_Reg fns[] = {{"mkdir", l_mkdir},
                                   {"remove_tree", l_remove_tree},
                                   {"write_file", l_write_file},
                                   {"dir_entries", l_dir_entries},
                                   {"file_type", l_file_type},
                                   {"mkdtemp", l_mkdtemp},
                                   {"spawn", l_spawn},
                                   {"wait", l_wait},
                                   {NULL, NULL}};
    luaL_setfuncs(L, fns, 0);
}
