/* Between bin/rill (lua/main.c) and the module's C side (lua/rill.c). */
#ifndef RILL_LUA_H
#define RILL_LUA_H

#include <signal.h>

#include <lua.h>

#define RILL_VERSION "0.1.0"

/* Set by bin/rill's SIGINT handler; training stops after the current step and saves. */
extern volatile sig_atomic_t rill_interrupted;

int luaopen_rill_core(lua_State *L);

#endif
