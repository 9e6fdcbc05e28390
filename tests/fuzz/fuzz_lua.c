/* Node constructors as scripts call them, g:kind{ ... }, with arguments from the fuzz input:
 * the Lua binding (lua/rill.c: Lua tables to rill_value), the module's Lua side
 * (lua/rill/init.lua: split_args, embedding sets) and every kind's argument checks and shape
 * inference (core/node_*.c, core/args.c). One lua_State with the rill module lives for the
 * whole run; each input gets a fresh graph, and a full garbage collection afterwards frees
 * it, so a leak is one LeakSanitizer sees. tests/fuzz/fuzz_lua.lua turns the bytes into
 * calls; a call's error is fine, the driver failing is not.
 *
 * The module's Lua files are found from the program's place (build-fuzz/fuzz-lua: the
 * project root is one up), or from $RILL_ROOT. */
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <limits.h>

#include "rill_lua.h"

#include "fuzz_common.h"

static lua_State *L;
static int fuzz_ref = LUA_NOREF;

static const char csv_schema[] =
    "columns:\n"
    "  - { name: id, role: skip }\n"
    "  - { name: click, role: label }\n"
    "  - { name: rating, role: label, threshold: 4 }\n"
    "  - { name: w, role: weight }\n"
    "  - { name: user, role: categorical, group: true }\n"
    "  - { name: city, role: categorical }\n"
    "  - { name: genres, role: multi, separator: \"|\" }\n"
    "  - { name: age, role: numeric }\n"
    "  - { name: vec, role: vector, dim: 3 }\n"
    "  - { name: hist, role: sequence, max_length: 4, times: hist_t, separator: \"|\" }\n"
    "  - { name: hist_t, role: times, separator: \"|\" }\n"
    "  - { name: tags, role: sequence, separator: \";\" }\n";

static void root_dir(char *out, size_t cap)
{
    const char *env = getenv("RILL_ROOT");
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
    for (int up = 0; up < 2; up++) { /* .../build-fuzz/fuzz-lua -> ... */
        char *slash = strrchr(exe, '/');
        if (slash)
            *slash = 0;
    }
    snprintf(out, cap, "%s", exe);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    char root[PATH_MAX], path[PATH_MAX + 64], yaml[300];
    root_dir(root, sizeof root);
    snprintf(yaml, sizeof yaml, "%s/schema.yaml", fz_tmpdir("lua"));
    fz_write(yaml, csv_schema, sizeof csv_schema - 1);
    L = luaL_newstate();
    luaL_openlibs(L);
    lua_getglobal(L, "package");
    lua_getfield(L, -1, "preload");
    lua_pushcfunction(L, luaopen_rill_core);
    lua_setfield(L, -2, "rill.core");
    lua_pop(L, 1);
    snprintf(path, sizeof path, "%s/lua/?.lua;%s/lua/?/init.lua", root, root);
    lua_pushstring(L, path);
    lua_setfield(L, -2, "path");
    lua_pop(L, 1);
    snprintf(path, sizeof path, "%s/tests/fuzz/fuzz_lua.lua", root);
    if (luaL_loadfile(L, path) != LUA_OK) {
        fprintf(stderr, "fuzz-lua: %s (set RILL_ROOT to the project's root)\n",
                lua_tostring(L, -1));
        exit(1);
    }
    lua_pushstring(L, yaml);
    if (lua_pcall(L, 1, 1, 0) != LUA_OK || !lua_isfunction(L, -1)) {
        fprintf(stderr, "fuzz-lua: %s\n", lua_tostring(L, -1));
        exit(1);
    }
    fuzz_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096) /* longer inputs only make more calls of the same kinds */
        return -1;
    lua_rawgeti(L, LUA_REGISTRYINDEX, fuzz_ref);
    lua_pushlstring(L, (const char *)data, size);
    if (lua_pcall(L, 1, 0, 0) != LUA_OK)
        fz_broken("the driver failed: %s", lua_tostring(L, -1) ? lua_tostring(L, -1) : "?");
    lua_gc(L, LUA_GCCOLLECT);
    lua_gc(L, LUA_GCCOLLECT); /* a second pass runs the finalizers' garbage */
    return 0;
}
