/* bin/rill: a Lua 5.4 host with the rill module built in. The command line is handled by
 * lua/rill/main.lua; this file finds the Lua sources, installs the Ctrl-C handler and runs
 * it under a protected call. */
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "rill_lua.h"

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

static int msghandler(lua_State *L)
{
    const char *msg = lua_tostring(L, 1);
    if (!msg)
        msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
    if (getenv("RILL_TRACEBACK"))
        luaL_traceback(L, L, msg, 1);
    return 1;
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
    return code;
}
