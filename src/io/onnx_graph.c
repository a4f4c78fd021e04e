/* ONNX graphs as protobuf-c messages (onnx.proto): an arena for every
 * message, string and array; growable lists for the graph's nodes,
 * initializers, inputs and outputs; a sticky status; atomic saving. */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/status.h"
#include "io/atomic_file.h"
#include "io/onnx_graph.h"
#include "onnx.pb-c.h"

#define MAX_NODE_ATTRS 8
#define MAX_PROTO_BYTES 2000000000u /* protobuf's 2 GiB limit, with room */

/* One arena allocation: a header and the bytes after it. */
typedef struct arena_block {
    struct arena_block *next;
    max_align_t align[]; /* the payload */
} arena_block;

/* A growable array of message pointers. */
typedef struct ptr_list {
    void **items;
    size_t count, capacity;
} ptr_list;

struct onnx_graph {
    recur_status status;
    arena_block *arena;
    unsigned next_id;
    ptr_list nodes, initializers, inputs, outputs;
};

recur_status onnx_graph_create(onnx_graph **out)
{
    *out = calloc(1, sizeof **out);
    return *out ? RECUR_OK : recur_fail(RECUR_E_NOMEM, "ONNX export: out of memory");
}

void onnx_graph_free(onnx_graph *g)
{
    if (!g)
        return;
    for (arena_block *b = g->arena; b;) {
        arena_block *next = b->next;
        free(b);
        b = next;
    }
    ptr_list *lists[] = {&g->nodes, &g->initializers, &g->inputs, &g->outputs};
    for (size_t i = 0; i < 4; i++)
        free(lists[i]->items);
    free(g);
}

recur_status onnx_graph_status(const onnx_graph *g) { return g->status; }

recur_status onnx_graph_fail(onnx_graph *g, recur_status status)
{
    if (g->status == RECUR_OK)
        g->status = status;
    return g->status;
}

static void fail_nomem(onnx_graph *g)
{
    if (g->status == RECUR_OK)
        g->status = recur_fail(RECUR_E_NOMEM, "ONNX export: out of memory");
}

/* Zeroed bytes that live as long as the graph; NULL after a failure. */
static void *arena_alloc(onnx_graph *g, size_t size)
{
    if (g->status != RECUR_OK)
        return NULL;
    if (size > SIZE_MAX - sizeof(arena_block)) {
        fail_nomem(g);
        return NULL;
    }
    arena_block *b = calloc(1, sizeof *b + size);
    if (!b) {
        fail_nomem(g);
        return NULL;
    }
    b->next = g->arena;
    g->arena = b;
    return b->align;
}

static void *arena_array(onnx_graph *g, size_t count, size_t size)
{
    if (count && size > SIZE_MAX / count) {
        fail_nomem(g);
        return NULL;
    }
    return arena_alloc(g, count * size);
}

static char *arena_strdup(onnx_graph *g, const char *s)
{
    size_t n = strlen(s) + 1;
    char *copy = arena_alloc(g, n);
    if (copy)
        memcpy(copy, s, n);
    return copy;
}

static void list_push(onnx_graph *g, ptr_list *list, void *item)
{
    if (g->status != RECUR_OK || !item)
        return;
    if (list->count == list->capacity) {
        size_t capacity = list->capacity ? 2 * list->capacity : 16;
        void **grown = realloc(list->items, capacity * sizeof *grown);
        if (!grown) {
            fail_nomem(g);
            return;
        }
        list->items = grown, list->capacity = capacity;
    }
    list->items[list->count++] = item;
}

const char *onnx_name(onnx_graph *g, const char *stem)
{
    char name[128];
    snprintf(name, sizeof name, "%s_%u", stem, g->next_id++);
    const char *copy = arena_strdup(g, name);
    return copy ? copy : "";
}

/* ---- inputs and outputs ---- */

static Onnx__ValueInfoProto *value_info(onnx_graph *g, const char *name, int elem_type,
                                        const char *dims)
{
    Onnx__ValueInfoProto *v = arena_alloc(g, sizeof *v);
    Onnx__TypeProto *type = arena_alloc(g, sizeof *type);
    Onnx__TypeProto__Tensor *tensor = arena_alloc(g, sizeof *tensor);
    Onnx__TensorShapeProto *shape = arena_alloc(g, sizeof *shape);
    size_t ndim = 1;
    for (const char *p = dims; *p; p++)
        ndim += *p == ',';
    Onnx__TensorShapeProto__Dimension **dim =
        arena_array(g, ndim, sizeof(Onnx__TensorShapeProto__Dimension *));
    if (!v || !type || !tensor || !shape || !dim)
        return NULL;
    onnx__value_info_proto__init(v);
    onnx__type_proto__init(type);
    onnx__type_proto__tensor__init(tensor);
    onnx__tensor_shape_proto__init(shape);
    const char *p = dims;
    for (size_t d = 0; d < ndim; d++) {
        size_t n = strcspn(p, ",");
        char part[64];
        snprintf(part, sizeof part, "%.*s", (int)n, p);
        p += n + (p[n] == ',');
        Onnx__TensorShapeProto__Dimension *x = arena_alloc(g, sizeof *x);
        if (!x)
            return NULL;
        onnx__tensor_shape_proto__dimension__init(x);
        char *end;
        long long value = strtoll(part, &end, 10);
        if (*part && !*end) {
            x->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
            x->dim_value = value;
        } else {
            x->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
            if (!(x->dim_param = arena_strdup(g, part)))
                return NULL;
        }
        dim[d] = x;
    }
    shape->n_dim = ndim, shape->dim = dim;
    tensor->has_elem_type = 1, tensor->elem_type = elem_type, tensor->shape = shape;
    type->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE, type->tensor_type = tensor;
    v->name = arena_strdup(g, name);
    v->type = type;
    return v->name ? v : NULL;
}

void onnx_input(onnx_graph *g, const char *name, int elem_type, const char *dims)
{
    list_push(g, &g->inputs, value_info(g, name, elem_type, dims));
}

void onnx_output(onnx_graph *g, const char *name, int elem_type, const char *dims)
{
    list_push(g, &g->outputs, value_info(g, name, elem_type, dims));
}

/* ---- initializers ---- */

/* A tensor of `ndim` dims holding count elements of `width` bytes as raw
 * little-endian data (each element's bytes reversed on big-endian hosts). */
static const char *add_initializer(onnx_graph *g, const char *stem, int elem_type, int ndim,
                                   const int64_t *dims, const void *data, size_t width)
{
    size_t count = 1;
    for (int d = 0; d < ndim; d++)
        count *= (size_t)dims[d];
    Onnx__TensorProto *t = arena_alloc(g, sizeof *t);
    int64_t *dims_copy = arena_array(g, ndim ? (size_t)ndim : 1, sizeof *dims_copy);
    uint8_t *raw = arena_array(g, count ? count : 1, width);
    const char *name = onnx_name(g, stem);
    if (!t || !dims_copy || !raw)
        return "";
    onnx__tensor_proto__init(t);
    if (ndim > 0)
        memcpy(dims_copy, dims, (size_t)ndim * sizeof *dims);
    memcpy(raw, data, count * width);
    const uint16_t probe = 1;
    if (*(const uint8_t *)&probe == 0) /* big-endian host */
        for (size_t i = 0; i < count; i++)
            for (size_t a = 0, b = width - 1; a < b; a++, b--) {
                uint8_t tmp = raw[i * width + a];
                raw[i * width + a] = raw[i * width + b];
                raw[i * width + b] = tmp;
            }
    t->n_dims = (size_t)ndim, t->dims = dims_copy;
    t->has_data_type = 1, t->data_type = elem_type;
    t->name = (char *)name;
    t->has_raw_data = 1, t->raw_data.len = count * width, t->raw_data.data = raw;
    list_push(g, &g->initializers, t);
    return name;
}

const char *onnx_const_f32(onnx_graph *g, const char *stem, int ndim, const int64_t *dims,
                           const float *data)
{
    return add_initializer(g, stem, ONNX_FLOAT, ndim, dims, data, sizeof(float));
}

const char *onnx_const_i64(onnx_graph *g, const char *stem, int ndim, const int64_t *dims,
                           const int64_t *data)
{
    return add_initializer(g, stem, ONNX_INT64, ndim, dims, data, sizeof(int64_t));
}

const char *onnx_ints(onnx_graph *g, const char *stem, int n, const int64_t *values)
{
    int64_t dims[1] = {n};
    return onnx_const_i64(g, stem, 1, dims, values);
}

const char *onnx_scalar_f32(onnx_graph *g, const char *stem, float value)
{
    return onnx_const_f32(g, stem, 0, NULL, &value);
}

/* ---- nodes and attributes ---- */

static char **string_array(onnx_graph *g, int n, const char *const *strings)
{
    char **copy = arena_array(g, n ? (size_t)n : 1, sizeof *copy);
    for (int i = 0; copy && i < n; i++)
        if (!(copy[i] = arena_strdup(g, strings[i])))
            return NULL;
    return copy;
}

onnx_node *onnx_node_add(onnx_graph *g, const char *op, int n_in, const char *const *in,
                         int n_out, const char *const *out)
{
    onnx_node *node = arena_alloc(g, sizeof *node);
    char **inputs = string_array(g, n_in, in), **outputs = string_array(g, n_out, out);
    Onnx__AttributeProto **attrs = arena_array(g, MAX_NODE_ATTRS, sizeof(Onnx__AttributeProto *));
    char *op_copy = arena_strdup(g, op);
    if (!node || !inputs || !outputs || !attrs || !op_copy)
        return NULL;
    onnx__node_proto__init(node);
    node->n_input = (size_t)n_in, node->input = inputs;
    node->n_output = (size_t)n_out, node->output = outputs;
    node->op_type = op_copy;
    node->name = (char *)onnx_name(g, op);
    node->attribute = attrs; /* n_attribute counts the ones set */
    list_push(g, &g->nodes, node);
    return g->status == RECUR_OK ? node : NULL;
}

const char *onnx_op(onnx_graph *g, const char *op, int n_in, const char *const *in,
                    onnx_node **node)
{
    const char *out = onnx_name(g, op);
    onnx_node *n = onnx_node_add(g, op, n_in, in, 1, &out);
    if (node)
        *node = n;
    return out;
}

static Onnx__AttributeProto *new_attr(onnx_graph *g, onnx_node *node, const char *name,
                                      Onnx__AttributeProto__AttributeType type)
{
    if (!node || g->status != RECUR_OK)
        return NULL;
    if (node->n_attribute >= MAX_NODE_ATTRS) {
        onnx_graph_fail(g, recur_fail(RECUR_E_INVALID, "ONNX export: too many attributes"));
        return NULL;
    }
    Onnx__AttributeProto *a = arena_alloc(g, sizeof *a);
    char *name_copy = arena_strdup(g, name);
    if (!a || !name_copy)
        return NULL;
    onnx__attribute_proto__init(a);
    a->name = name_copy;
    a->has_type = 1, a->type = type;
    node->attribute[node->n_attribute++] = a;
    return a;
}

void onnx_attr_int(onnx_graph *g, onnx_node *node, const char *name, int64_t value)
{
    Onnx__AttributeProto *a = new_attr(g, node, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT);
    if (a)
        a->has_i = 1, a->i = value;
}

void onnx_attr_ints(onnx_graph *g, onnx_node *node, const char *name, int n,
                    const int64_t *values)
{
    Onnx__AttributeProto *a = new_attr(g, node, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS);
    int64_t *copy = arena_array(g, n ? (size_t)n : 1, sizeof *copy);
    if (!a || !copy)
        return;
    memcpy(copy, values, (size_t)n * sizeof *copy);
    a->n_ints = (size_t)n, a->ints = copy;
}

void onnx_attr_float(onnx_graph *g, onnx_node *node, const char *name, float value)
{
    Onnx__AttributeProto *a = new_attr(g, node, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT);
    if (a)
        a->has_f = 1, a->f = value;
}

static ProtobufCBinaryData bytes_of(onnx_graph *g, const char *s)
{
    ProtobufCBinaryData b = {0, NULL};
    char *copy = arena_strdup(g, s);
    if (copy)
        b.len = strlen(copy), b.data = (uint8_t *)copy;
    return b;
}

void onnx_attr_str(onnx_graph *g, onnx_node *node, const char *name, const char *value)
{
    Onnx__AttributeProto *a =
        new_attr(g, node, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING);
    if (a)
        a->has_s = 1, a->s = bytes_of(g, value);
}

void onnx_attr_strs(onnx_graph *g, onnx_node *node, const char *name, int n,
                    const char *const *values)
{
    Onnx__AttributeProto *a =
        new_attr(g, node, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRINGS);
    ProtobufCBinaryData *list = arena_array(g, n ? (size_t)n : 1, sizeof *list);
    if (!a || !list)
        return;
    for (int i = 0; i < n; i++)
        list[i] = bytes_of(g, values[i]);
    a->n_strings = (size_t)n, a->strings = list;
}

/* ---- saving ---- */

typedef struct byte_span {
    const uint8_t *bytes;
    size_t size;
} byte_span;

static int write_span(FILE *file, void *context)
{
    const byte_span *span = context;
    return fwrite(span->bytes, 1, span->size, file) == span->size ? 0 : (errno ? errno : EIO);
}

static recur_status save_bytes(const uint8_t *bytes, size_t size, const char *path)
{
    byte_span span = {bytes, size};
    return recur_write_file_atomic(path, write_span, &span);
}

recur_status onnx_graph_save(onnx_graph *g, const char *graph_name, const char *path,
                             int meta_count, const char *const *meta_keys,
                             const char *const *meta_values)
{
    Onnx__GraphProto *graph = arena_alloc(g, sizeof *graph);
    Onnx__ModelProto *model = arena_alloc(g, sizeof *model);
    Onnx__OperatorSetIdProto *opset = arena_alloc(g, sizeof *opset);
    Onnx__StringStringEntryProto **meta =
        arena_array(g, meta_count ? (size_t)meta_count : 1, sizeof(Onnx__StringStringEntryProto *));
    if (!graph || !model || !opset || !meta)
        return g->status;
    onnx__graph_proto__init(graph);
    graph->name = arena_strdup(g, graph_name);
    graph->n_node = g->nodes.count, graph->node = (Onnx__NodeProto **)g->nodes.items;
    graph->n_initializer = g->initializers.count;
    graph->initializer = (Onnx__TensorProto **)g->initializers.items;
    graph->n_input = g->inputs.count, graph->input = (Onnx__ValueInfoProto **)g->inputs.items;
    graph->n_output = g->outputs.count;
    graph->output = (Onnx__ValueInfoProto **)g->outputs.items;
    onnx__operator_set_id_proto__init(opset);
    opset->domain = arena_strdup(g, "");
    opset->has_version = 1, opset->version = ONNX_OPSET;
    for (int i = 0; i < meta_count; i++) {
        Onnx__StringStringEntryProto *e = arena_alloc(g, sizeof *e);
        if (!e)
            return g->status;
        onnx__string_string_entry_proto__init(e);
        e->key = arena_strdup(g, meta_keys[i]);
        e->value = arena_strdup(g, meta_values[i]);
        meta[i] = e;
    }
    onnx__model_proto__init(model);
    model->has_ir_version = 1, model->ir_version = ONNX_IR_VERSION;
    model->n_opset_import = 1, model->opset_import = &opset;
    model->producer_name = arena_strdup(g, "recur");
    model->producer_version = arena_strdup(g, RECUR_VERSION_STRING);
    model->graph = graph;
    model->n_metadata_props = (size_t)meta_count, model->metadata_props = meta;
    if (g->status != RECUR_OK)
        return g->status;
    size_t size = onnx__model_proto__get_packed_size(model);
    if (size > MAX_PROTO_BYTES)
        return onnx_graph_fail(g, recur_fail(RECUR_E_INVALID,
                                             "%s: the model needs %zu bytes, more than a "
                                             "protobuf file can hold (2 GiB)",
                                             path, size));
    uint8_t *bytes = malloc(size ? size : 1);
    if (!bytes)
        return onnx_graph_fail(g, recur_fail(RECUR_E_NOMEM, "%s: out of memory", path));
    onnx__model_proto__pack(model, bytes);
    recur_status status = save_bytes(bytes, size, path);
    free(bytes);
    return onnx_graph_fail(g, status);
}
