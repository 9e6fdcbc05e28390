#include "nodes.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "graph.h"

#define ENTRY(k) &rill_node_##k,
static const rill_node_ops *const kinds[] = {RILL_NODE_KINDS(ENTRY)};
#undef ENTRY
static_assert(sizeof kinds / sizeof kinds[0] == RILL_NODE_KIND_COUNT, "one count, one list");

const rill_node_ops *rill_node_kind(const char *name)
{
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (strcmp(kinds[i]->name, name) == 0)
            return kinds[i];
    return NULL;
}

const rill_node_ops *rill_node_kind_at(int i)
{
    return i >= 0 && i < RILL_NODE_KIND_COUNT ? kinds[i] : NULL;
}

const char *rill_node_kind_list(void)
{
    static char list[512];
    if (!list[0]) {
        size_t len = 0;
        for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
            len += (size_t)snprintf(list + len, sizeof list - len, "%s%s", i ? ", " : "",
                                    kinds[i]->name);
    }
    return list;
}
