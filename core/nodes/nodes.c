#include "nodes.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "graph.h"

/* The only list of node kinds. */
static const rill_node_ops *const kinds[] = {
    &rill_node_encode_hash,      &rill_node_encode_log,    &rill_node_encode_bucket,
    &rill_node_embed,            &rill_node_interact_concat, &rill_node_interact_dot,
    &rill_node_interact_fm,      &rill_node_interact_cross, &rill_node_mlp,
    &rill_node_tower,            &rill_node_add,           &rill_node_loss_bce,
    &rill_node_feed,             &rill_node_embed_mlet,    &rill_node_relu,
    &rill_node_embed_cel,        &rill_node_encode_mnse,   &rill_node_similarity,
    &rill_node_embed_seq,        &rill_node_tim,           &rill_node_din,
    &rill_node_gate,             &rill_node_stop_gradient,
};
static_assert(sizeof kinds / sizeof kinds[0] == RILL_NODE_KIND_COUNT, "register every kind");

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
