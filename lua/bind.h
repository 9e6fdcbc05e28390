/* What the parts of the Lua binding share (lua/rill.c opens the module; lua/bind_*.c each add
 * one area's functions). The binding converts Lua values, calls one C function of core/ or
 * store/ and pushes its result; it holds no logic of its own. Every C resource a function
 * holds while it may raise (a converted table, a result being pushed) is owned by a Lua
 * userdata, so a raise (luaL_error, a memory error) frees it when the userdata is collected. */
#ifndef RILL_BIND_H
#define RILL_BIND_H

#include <stdbool.h>
#include <stddef.h>

#include <lauxlib.h>
#include <lua.h>

#include "args.h"
#include "err.h"
#include "graph.h"
#include "reader.h"
#include "train.h"

#define SCHEMA_MT "rill.Schema"
#define GRAPH_MT "rill.Graph"
#define NODE_MT "rill.Node"

typedef struct {
    rill_schema s;
    bool live;
} schema_box;

typedef struct {
    rill_graph *g;
} graph_box;

typedef struct {
    rill_node *n;
} node_box;

rill_graph *rill_lua_check_graph(lua_State *L, int i);
const rill_schema *rill_lua_check_schema(lua_State *L, int i);
/* The settings table at idx (nil: none) as rill_args whose owner text is who; the values are
 * owned by a userdata pushed on the stack (collected whatever is raised later). Raises a
 * message naming the bad value ("who.key: a function cannot be an argument"). */
rill_args *rill_lua_args(lua_State *L, int idx, const char *who);
/* Takes the converted map out of a (for a callee that takes it over: rill_graph_add). */
rill_value *rill_lua_args_take(rill_args *a);
/* size bytes, zeroed, in a userdata pushed on the stack that calls release(p) when collected
 * or closed: for a C result whose arrays must outlive the pushes that may raise. */
void *rill_lua_owned(lua_State *L, size_t size, void (*release)(void *p));
/* Raises err's message (with the Lua position, as luaL_error: the core's messages name the
 * script line themselves). */
int rill_lua_raise(lua_State *L, const rill_err *err);
void rill_lua_push_eval(lua_State *L, const rill_eval_result *e);
void rill_lua_set_int(lua_State *L, const char *key, lua_Integer v);
void rill_lua_set_num(lua_State *L, const char *key, double v);

/* Each adds its area's functions to the module table at the top of the stack (metatables too:
 * bind_graph.c's). */
void rill_lua_open_graph(lua_State *L);
void rill_lua_open_run(lua_State *L);
void rill_lua_open_analysis(lua_State *L);
void rill_lua_open_fs(lua_State *L);
void rill_lua_open_gen(lua_State *L);
/* Makes metatable name with methods as __index, gc as __gc and __close (may be NULL), and
 * tostring as __tostring (may be NULL). */
void rill_lua_create_meta(lua_State *L, const char *name, const luaL_Reg *methods,
                          lua_CFunction gc, lua_CFunction tostring);

#endif
