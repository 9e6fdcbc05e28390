/* bin/rill: a Lua 5.4 host with the rill module built in. The command line is handled by
 * lua/rill/main.lua; this file finds the Lua sources, installs the Ctrl-C handler and runs
 * it under a protected call. */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "rill_lua.h"

/* "@HOME/lua/rill/": the source of the module's own Lua files, whose lines mean nothing to
 * the author of a script (see script_frame) */
static char own_source[PATH_MAX + 16];

static void on_sigint(int sig)
{
    (void)sig;
    rill_interrupted = 1;
    signal(SIGINT, SIG_DFL); /* a second Ctrl-C ends the process at once */
}

/* The directory holding lua/rill: $RILL_HOME, else the binary's ../ */
static void find_home(char *out, size_t cap)
{
    const char *env = getenv("RILL_HOME");
    if (env && *env) {
        snprintf(out, cap, "%s", env);
        return;
    }
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) {
        snprintf(out, cap, ".");
        return;
    }
    exe[n] = 0;
    char *slash = strrchr(exe, '/');
    if (slash)
        *slash = 0; /* .../bin */
    slash = strrchr(exe, '/');
    if (slash)
        *slash = 0; /* the project */
    snprintf(out, cap, "%s", exe);
}

static int run(lua_State *L)
{
    int argc = (int)lua_tointeger(L, 1);
    char **argv = lua_touserdata(L, 2);
    char home[PATH_MAX], path[2 * PATH_MAX + 64];
    luaL_openlibs(L);
    find_home(home, sizeof home);
    snprintf(own_source, sizeof own_source, "@%s/lua/rill/", home);
    lua_getglobal(L, "package");
    snprintf(path, sizeof path, "%s/lua/?.lua;%s/lua/?/init.lua;", home, home);
    lua_getfield(L, -1, "path");
    lua_pushfstring(L, "%s%s", path, lua_tostring(L, -1));
    lua_setfield(L, -3, "path");
    lua_pop(L, 1);
    lua_getfield(L, -1, "preload");
    lua_pushcfunction(L, luaopen_rill_core);
    lua_setfield(L, -2, "rill.core");
    lua_pop(L, 2);
    lua_getglobal(L, "require");
    lua_pushstring(L, "rill.main");
    lua_call(L, 1, 1);
    lua_createtable(L, argc, 0);
    for (int i = 1; i < argc; i++) {
        lua_pushstring(L, argv[i]);
        lua_rawseti(L, -2, i);
    }
    lua_call(L, 1, 1);
    return 1;
}

/* The innermost frame of Lua code outside lua/rill/ (the script, or a module of its own):
 * where an error "happened" for the script's author. */
static bool script_frame(lua_State *L, lua_Debug *ar)
{
    size_t n = strlen(own_source);
    for (int level = 1; lua_getstack(L, level, ar); level++)
        if (lua_getinfo(L, "Sl", ar) && ar->currentline > 0 && strncmp(ar->source, own_source, n) != 0)
            return true;
    return false;
}

/* Under lua_pcall, with the stack of the error still there. Gives every error a message with
 * the script's file:line: error({}) or error() carry none of their own, and a stack overflow
 * in a pipeline is raised wherever the stack ran out, often in main.lua's line hook. */
static int msghandler(lua_State *L)
{
    lua_Debug ar;
    const char *msg = lua_type(L, 1) == LUA_TSTRING ? lua_tostring(L, 1) : NULL;
    if (!msg) {
        const char *what;
        if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING)
            what = lua_tostring(L, -1);
        else if (lua_isnil(L, 1))
            what = "error object is nil (error() without a message)";
        else if (lua_type(L, 1) == LUA_TNUMBER)
            what = lua_pushfstring(L, "error object is the number %s (no message)",
                                   luaL_tolstring(L, 1, NULL));
        else
            what = lua_pushfstring(L, "error object is a %s (no message)", luaL_typename(L, 1));
        if (script_frame(L, &ar))
            msg = lua_pushfstring(L, "%s:%d: %s", ar.short_src, ar.currentline, what);
        else
            msg = what;
    } else {
        size_t len = strlen(msg), tail = strlen("stack overflow");
        /* Lua's own message: "stack overflow" or "C stack overflow", after a position or not */
        if (len >= tail && strcmp(msg + len - tail, "stack overflow") == 0 &&
            (len == tail || msg[len - tail - 1] == ' ') && len < 512 && !strchr(msg, '\n') &&
            script_frame(L, &ar))
            msg = lua_pushfstring(L, "%s:%d: stack overflow (a function that calls itself "
                                     "without end?)", ar.short_src, ar.currentline);
    }
    if (getenv("RILL_TRACEBACK"))
        luaL_traceback(L, L, msg, 1);
    else
        lua_pushstring(L, msg);
    return 1;
}

/* The exit status after everything written to stdout reached it: a full disk or a closed
 * pipe under `rill predict >FILE` must not end in exit status 0. */
static int close_stdout(int code)
{
    int bad = ferror(stdout);
    errno = 0;
    if (fclose(stdout) != 0 || bad) {
        int e = errno;
        fprintf(stderr, "rill: cannot write to standard output: %s%s\n",
                e ? strerror(e) : "a write failed",
                e == ENOSPC || e == EDQUOT ? " (the disk is full)" : "");
        return code ? code : 1;
    }
    return code;
}

int main(int argc, char **argv)
{
    lua_State *L = luaL_newstate();
    if (!L) {
        fprintf(stderr, "rill: cannot create a Lua state (out of memory)\n");
        return 1;
    }
    signal(SIGINT, on_sigint);
    lua_pushcfunction(L, msghandler);
    lua_pushcfunction(L, run);
    lua_pushinteger(L, argc);
    lua_pushlightuserdata(L, argv);
    int status = lua_pcall(L, 2, 1, 1);
    int code = 0;
    if (status != LUA_OK) {
        fprintf(stderr, "rill: %s\n", lua_tostring(L, -1));
        code = 1;
    } else {
        code = (int)luaL_optinteger(L, -1, 0);
    }
    lua_close(L);
    return close_stdout(code);
}
