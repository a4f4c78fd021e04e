/* A small builder of ONNX graphs on top of the protobuf-c messages of
 * onnx.proto (internal). Every call after the first failure does nothing;
 * onnx_graph_status / onnx_graph_save report that failure. Names and
 * messages live in an arena owned by the graph. */
#ifndef RECUR_IO_ONNX_GRAPH_H
#define RECUR_IO_ONNX_GRAPH_H

#include <stdint.h>

#include "recur.h"

/* TensorProto.DataType values. */
enum { ONNX_FLOAT = 1, ONNX_INT32 = 6, ONNX_INT64 = 7, ONNX_BOOL = 9 };

#define ONNX_OPSET 17     /* the default domain's operator set */
#define ONNX_IR_VERSION 8 /* the IR version that goes with opset 17 */

typedef struct onnx_graph onnx_graph;
typedef struct Onnx__NodeProto onnx_node;

recur_status onnx_graph_create(onnx_graph **out);
void onnx_graph_free(onnx_graph *g);
/* RECUR_OK, or the first failure (its message is this thread's last error). */
recur_status onnx_graph_status(const onnx_graph *g);

/* A fresh value name "<stem>_<n>", owned by the graph. */
const char *onnx_name(onnx_graph *g, const char *stem);

/* Graph inputs and outputs. dims: comma-separated, each a number or a
 * symbolic name, e.g. "T,B,8". */
void onnx_input(onnx_graph *g, const char *name, int elem_type, const char *dims);
void onnx_output(onnx_graph *g, const char *name, int elem_type, const char *dims);

/* Initializers (data copied, stored little-endian); return their names. */
const char *onnx_const_f32(onnx_graph *g, const char *stem, int ndim, const int64_t *dims,
                           const float *data);
const char *onnx_const_i64(onnx_graph *g, const char *stem, int ndim, const int64_t *dims,
                           const int64_t *data);
/* A 1-D int64 initializer [n]. */
const char *onnx_ints(onnx_graph *g, const char *stem, int n, const int64_t *values);
/* A float scalar initializer []. */
const char *onnx_scalar_f32(onnx_graph *g, const char *stem, float value);

/* A node of the default domain with the given inputs ("" for an absent
 * optional input) and outputs; NULL after a failure. */
onnx_node *onnx_node_add(onnx_graph *g, const char *op, int n_in, const char *const *in,
                         int n_out, const char *const *out);
/* A node with one fresh output; returns the output's name, *node (may be
 * NULL) the node for its attributes. */
const char *onnx_op(onnx_graph *g, const char *op, int n_in, const char *const *in,
                    onnx_node **node);
/* Argument list helper: onnx_op(g, "Add", ONNX_ARGS(a, b), NULL). */
#define ONNX_ARGS(...)                                                        \
    (int)(sizeof((const char *const[]){__VA_ARGS__}) / sizeof(const char *)), \
        (const char *const[]){__VA_ARGS__}

void onnx_attr_int(onnx_graph *g, onnx_node *node, const char *name, int64_t value);
void onnx_attr_ints(onnx_graph *g, onnx_node *node, const char *name, int n,
                    const int64_t *values);
void onnx_attr_float(onnx_graph *g, onnx_node *node, const char *name, float value);
void onnx_attr_str(onnx_graph *g, onnx_node *node, const char *name, const char *value);
void onnx_attr_strs(onnx_graph *g, onnx_node *node, const char *name, int n,
                    const char *const *values);

/* Records a failure from outside the builder (sticky, as the builder's own). */
recur_status onnx_graph_fail(onnx_graph *g, recur_status status);

/* Serializes a ModelProto (IR 8, opset 17, producer recur) with this graph
 * and the metadata pairs, and writes it to PATH.tmp.XXXXXX, flushed and
 * renamed over PATH. */
recur_status onnx_graph_save(onnx_graph *g, const char *graph_name, const char *path,
                             int meta_count, const char *const *meta_keys,
                             const char *const *meta_values);

#endif
