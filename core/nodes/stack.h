/* Shared by the dense node kinds: joining several inputs into one (B, cols) matrix and
 * sending its gradient back, and the stack of linear layers (with optional norm, ReLU and
 * dropout) that mlp and tower are made of. */
#ifndef RILL_STACK_H
#define RILL_STACK_H

#include "graph.h"

/* Total flattened width of n's dense inputs; an error names the non-dense input. */
int rill_inputs_width(rill_node *n, size_t *cols, rill_err *err);
/* x = the inputs side by side (the input's own buffer when there is one). */
int rill_inputs_join(rill_node *n, rill_step *s, float **x, rill_err *err);
/* Adds dx (B, cols) into the inputs' gradients that are wanted. */
void rill_inputs_split_grad(rill_node *n, rill_step *s, const float *dx);
/* A (B, cols) gradient buffer for the joined input, or NULL when no input wants one. When
 * there is a single input, its own dout. */
float *rill_inputs_grad_buffer(rill_node *n, rill_step *s, rill_err *err, int *rc);

enum { RILL_NORM_NONE, RILL_NORM_BATCH, RILL_NORM_LAYER };

typedef struct rill_stack {
    int nlayers;
    int sizes[17];           /* sizes[0] = input width, sizes[i+1] = layer i's width */
    int norm;
    float dropout;
    bool last_act;           /* ReLU (and norm, dropout) after the last layer too */
    rill_param *W[16], *b[16], *gamma[16], *beta[16], *run_mean[16], *run_var[16];
    /* this step */
    float *pre[16], *xhat[16], *rstd[16], *act[16];
    uint8_t *mask[16];
    /* precision bf16: the bf16 copies the products read (NULL where every product reading
     * the matrix runs in fp32): the input, each layer's weights and output */
    uint16_t *x16, *W16[16], *act16[16];
} rill_stack;

/* Declares the layers' parameters on node n. prefix names them ("W1", "b1", ...). */
int rill_stack_create(rill_node *n, rill_stack *m, int in_cols, const long *sizes, int nsizes,
                      int norm, double dropout, bool last_act, rill_err *err);
/* out (B, last size) from x (B, in_cols); out may be the node's output buffer. */
int rill_stack_forward(rill_node *n, rill_stack *m, rill_step *s, const float *x, float *out,
                       rill_err *err);
/* dx may be NULL (input needs no gradient). */
int rill_stack_backward(rill_node *n, rill_stack *m, rill_step *s, const float *x,
                        const float *out, const float *dout, float *dx, rill_err *err);
/* mlp and tower: a layer stack over their joined inputs; n->st points at one of these. */
typedef struct rill_stack_node {
    rill_stack m;
    float *x; /* this step's joined input */
} rill_stack_node;

int rill_stack_node_forward(rill_node *n, rill_step *s, rill_err *err);
int rill_stack_node_backward(rill_node *n, rill_step *s, rill_err *err);
void rill_stack_node_destroy(rill_node *n);

/* Reads the mlp/tower arguments shared by both: dropout, norm. */
int rill_stack_args(rill_node *n, int *norm, double *dropout, rill_err *err);

#endif
