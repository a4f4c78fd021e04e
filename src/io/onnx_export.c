/* ONNX export of recur's models (recur_rnn_export_onnx, recur_lm_export_onnx,
 * recur_seqnet_export_onnx): standard opset-17 operators, one ONNX
 * LSTM/GRU/RNN node per layer. PyTorch's gate blocks are reordered to ONNX's
 * (LSTM i,f,g,o -> i,o,f,c; GRU r,z,n -> z,r,h with linear_before_reset=1),
 * W [D, G*H, in], R [D, G*H, H], B [D, 2*G*H] = [b_ih, b_hh]; each layer's Y
 * [T, D, B, H] becomes the next layer's input [T, B, D*H] by Transpose and
 * Reshape. */
#include <float.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "io/onnx_graph.h"

/* ---- parameters ---- */

/* A model's parameter list; the stack's are named "<prefix><PyTorch name>". */
typedef struct param_source {
    const void *owner;
    int count;
    recur_status (*get)(const void *owner, int index, recur_param *out);
    const char *prefix;
} param_source;

static recur_status get_rnn_param(const void *owner, int index, recur_param *out)
{
    return recur_rnn_param(owner, index, out);
}

static recur_status get_lm_param(const void *owner, int index, recur_param *out)
{
    return recur_lm_param(owner, index, out);
}

static recur_status get_seqnet_param(const void *owner, int index, recur_param *out)
{
    return recur_seqnet_param(owner, index, out);
}

/* The values of parameter <prefix><name>, which must hold numel floats;
 * NULL (and a failed graph) otherwise. */
static const float *find_param(onnx_graph *g, const param_source *src, const char *name,
                               size_t numel)
{
    char full[192];
    snprintf(full, sizeof full, "%s%s", src->prefix, name);
    for (int i = 0; onnx_graph_status(g) == RECUR_OK && i < src->count; i++) {
        recur_param p;
        recur_status status = src->get(src->owner, i, &p);
        if (status != RECUR_OK) {
            onnx_graph_fail(g, status);
            return NULL;
        }
        if (strcmp(p.name, full) != 0)
            continue;
        if (p.numel != numel) {
            onnx_graph_fail(g, recur_fail(RECUR_E_SHAPE,
                                          "ONNX export: parameter %s has %zu values, not %zu",
                                          full, p.numel, numel));
            return NULL;
        }
        return p.value;
    }
    onnx_graph_fail(g, recur_fail(RECUR_E_SHAPE, "ONNX export: parameter %s is missing", full));
    return NULL;
}

/* A zeroed float array for building initializers; NULL (and a failed graph). */
static float *scratch_floats(onnx_graph *g, size_t count)
{
    float *p = calloc(count ? count : 1, sizeof *p);
    if (!p)
        onnx_graph_fail(g, recur_fail(RECUR_E_NOMEM, "ONNX export: out of memory"));
    return p;
}

/* A Linear weight [out, in] as the right operand of MatMul: [in, out]. */
static const char *transposed_weight(onnx_graph *g, const float *w, int out, int in)
{
    float *wt = w ? scratch_floats(g, (size_t)out * (size_t)in) : NULL;
    if (!wt)
        return "";
    for (int o = 0; o < out; o++)
        for (int i = 0; i < in; i++)
            wt[(size_t)i * out + o] = w[(size_t)o * in + i];
    int64_t dims[2] = {in, out};
    const char *name = onnx_const_f32(g, "weight_t", 2, dims, wt);
    free(wt);
    return name;
}

/* ---- small graph pieces ---- */

static const char *transpose(onnx_graph *g, const char *x, int n, const int64_t *perm)
{
    onnx_node *node;
    const char *y = onnx_op(g, "Transpose", ONNX_ARGS(x), &node);
    onnx_attr_ints(g, node, "perm", n, perm);
    return y;
}

/* x[begin:end] along axis 0. */
static const char *slice_axis0(onnx_graph *g, const char *x, int64_t begin, int64_t end)
{
    int64_t zero = 0;
    const char *starts = onnx_ints(g, "starts", 1, &begin);
    const char *ends = onnx_ints(g, "ends", 1, &end);
    const char *axes = onnx_ints(g, "axes", 1, &zero);
    return onnx_op(g, "Slice", ONNX_ARGS(x, starts, ends, axes), NULL);
}

static const char *unsqueeze(onnx_graph *g, const char *x, int64_t axis)
{
    return onnx_op(g, "Unsqueeze", ONNX_ARGS(x, onnx_ints(g, "axes", 1, &axis)), NULL);
}

static const char *cast(onnx_graph *g, const char *x, int to)
{
    onnx_node *node;
    const char *y = onnx_op(g, "Cast", ONNX_ARGS(x), &node);
    onnx_attr_int(g, node, "to", to);
    return y;
}

/* Gives value x the graph-output name `name`. */
static void rename_to(onnx_graph *g, const char *x, const char *name)
{
    onnx_node_add(g, "Identity", 1, &x, 1, &name);
}

/* y = x W^T + b for a Linear with weight [out, in] and bias [out]. */
static const char *linear(onnx_graph *g, const char *x, const float *w, const float *b, int out,
                          int in)
{
    const char *wt = transposed_weight(g, w, out, in);
    const char *xw = onnx_op(g, "MatMul", ONNX_ARGS(x, wt), NULL);
    if (!b)
        return xw;
    int64_t dims[1] = {out};
    const char *bias = onnx_const_f32(g, "bias", 1, dims, b);
    return onnx_op(g, "Add", ONNX_ARGS(xw, bias), NULL);
}

/* ---- the recurrent stack ---- */

static recur_status check_exportable(const recur_rnn_config *c)
{
    if (c->proj_size)
        return recur_fail(RECUR_E_INVALID,
                          "ONNX export: an LSTM with proj_size %d cannot be exported (the ONNX "
                          "LSTM operator has no projection)",
                          c->proj_size);
    if (c->layer_norm)
        return recur_fail(RECUR_E_INVALID, "ONNX export: layer_norm cannot be exported (the "
                                           "ONNX LSTM/GRU operators have no layer normalization)");
    if (c->zoneout > 0.0f)
        return recur_fail(RECUR_E_INVALID,
                          "ONNX export: zoneout %g cannot be exported (the ONNX recurrent "
                          "operators have no zoneout)",
                          (double)c->zoneout);
    return RECUR_OK;
}

/* What a stack reads and writes inside the graph. */
typedef struct stack_values {
    const char *input;    /* [T, B, I], time-major */
    const char *seq_lens; /* int32 [B], or NULL */
    const char *h0, *c0;  /* [L*D, B, H], or NULL (zeros) */
    const char *output;   /* out: [T, B, D*H] */
    const char *h_n;      /* out: [L*D, B, H] */
    const char *c_n;      /* out: [L*D, B, H], LSTM only */
} stack_values;

/* A cell's gate blocks: ONNX's block k is PyTorch's block order[k], k < count. */
typedef struct gate_order {
    int count;
    int order[4];
} gate_order;

static const gate_order lstm_gates = {4, {0, 3, 1, 2}}; /* i, o, f, c <- i, f, g, o */
static const gate_order gru_gates = {3, {1, 0, 2}};     /* z, r, h <- r, z, n */
static const gate_order rnn_gates = {1, {0}};

static const gate_order *gates_of(recur_cell cell)
{
    return cell == RECUR_LSTM ? &lstm_gates : cell == RECUR_GRU ? &gru_gates : &rnn_gates;
}

static int gate_count(recur_cell cell) { return gates_of(cell)->count; }

/* dst = the gate blocks of `block` floats of src in ONNX's order. */
static void reorder_gates(float *dst, const float *src, recur_cell cell, size_t block)
{
    const gate_order *gates = gates_of(cell);
    for (int k = 0; k < gates->count; k++)
        memcpy(dst + (size_t)k * block, src + (size_t)gates->order[k] * block,
               block * sizeof *dst);
}

/* W [D, G*H, in], R [D, G*H, H] and B [D, 2*G*H] (NULL without bias) of one
 * layer as initializers; names in names[0..2]. */
static void layer_weights(onnx_graph *g, const param_source *src, const recur_rnn_config *c,
                          int layer, int in, const char *names[3])
{
    const int dirs = c->bidirectional ? 2 : 1, H = c->hidden_size, G = gate_count(c->cell);
    const size_t gh = (size_t)G * (size_t)H;
    float *w = scratch_floats(g, dirs * gh * (size_t)in);
    float *r = scratch_floats(g, dirs * gh * (size_t)H);
    float *b = scratch_floats(g, dirs * 2 * gh);
    for (int d = 0; w && r && b && d < dirs; d++) {
        const char *suffix = d ? "_reverse" : "";
        char name[64];
        snprintf(name, sizeof name, "weight_ih_l%d%s", layer, suffix);
        const float *w_ih = find_param(g, src, name, gh * (size_t)in);
        snprintf(name, sizeof name, "weight_hh_l%d%s", layer, suffix);
        const float *w_hh = find_param(g, src, name, gh * (size_t)H);
        if (!w_ih || !w_hh)
            break;
        reorder_gates(w + d * gh * (size_t)in, w_ih, c->cell, (size_t)H * (size_t)in);
        reorder_gates(r + d * gh * (size_t)H, w_hh, c->cell, (size_t)H * (size_t)H);
        if (!c->bias)
            continue;
        snprintf(name, sizeof name, "bias_ih_l%d%s", layer, suffix);
        const float *b_ih = find_param(g, src, name, gh);
        snprintf(name, sizeof name, "bias_hh_l%d%s", layer, suffix);
        const float *b_hh = find_param(g, src, name, gh);
        if (!b_ih || !b_hh)
            break;
        reorder_gates(b + d * 2 * gh, b_ih, c->cell, (size_t)H);
        reorder_gates(b + d * 2 * gh + gh, b_hh, c->cell, (size_t)H);
    }
    int64_t w_dims[3] = {dirs, (int64_t)gh, in}, r_dims[3] = {dirs, (int64_t)gh, H};
    int64_t b_dims[2] = {dirs, 2 * (int64_t)gh};
    names[0] = w ? onnx_const_f32(g, "W", 3, w_dims, w) : "";
    names[1] = r ? onnx_const_f32(g, "R", 3, r_dims, r) : "";
    names[2] = c->bias && b ? onnx_const_f32(g, "B", 2, b_dims, b) : "";
    free(w), free(r), free(b);
}

/* One layer: x [T, B, in] -> *y [T, B, D*H], *y_h [D, B, H], *y_c (LSTM). */
static void add_layer(onnx_graph *g, const param_source *src, const recur_rnn_config *c,
                      int layer, const char *x, const char *seq_lens, const char *h0,
                      const char *c0, const char **y, const char **y_h, const char **y_c)
{
    static const char *const ops[] = {"RNN", "RNN", "LSTM", "GRU"};
    const int dirs = c->bidirectional ? 2 : 1;
    const int in = layer == 0 ? c->input_size : dirs * c->hidden_size;
    const char *weights[3];
    layer_weights(g, src, c, layer, in, weights);
    const int is_lstm = c->cell == RECUR_LSTM;
    /* X, W, R, B, sequence_lens, initial_h[, initial_c]; "" = absent */
    const char *inputs[7] = {x, weights[0], weights[1], weights[2], seq_lens ? seq_lens : "",
                             h0 ? h0 : "", c0 ? c0 : ""};
    int n_in = is_lstm ? 7 : 6;
    while (n_in > 3 && !*inputs[n_in - 1]) /* trailing absent inputs are left out */
        n_in--;
    const char *outputs[3] = {onnx_name(g, "Y"), onnx_name(g, "Y_h"), onnx_name(g, "Y_c")};
    onnx_node *node = onnx_node_add(g, ops[c->cell], n_in, inputs, is_lstm ? 3 : 2, outputs);
    onnx_attr_int(g, node, "hidden_size", c->hidden_size);
    onnx_attr_str(g, node, "direction", dirs == 2 ? "bidirectional" : "forward");
    if (c->cell == RECUR_RNN_TANH || c->cell == RECUR_RNN_RELU) {
        const char *act = c->cell == RECUR_RNN_RELU ? "Relu" : "Tanh";
        const char *const acts[2] = {act, act};
        onnx_attr_strs(g, node, "activations", dirs, acts);
    }
    if (c->cell == RECUR_GRU)
        onnx_attr_int(g, node, "linear_before_reset", 1);
    /* Y [T, D, B, H] -> [T, B, D, H] -> [T, B, D*H] */
    static const int64_t perm[4] = {0, 2, 1, 3}, shape[3] = {0, 0, -1};
    const char *ytb = transpose(g, outputs[0], 4, perm);
    *y = onnx_op(g, "Reshape", ONNX_ARGS(ytb, onnx_ints(g, "shape", 3, shape)), NULL);
    *y_h = outputs[1];
    *y_c = is_lstm ? outputs[2] : NULL;
}

static void concat_axis0(onnx_graph *g, int n, const char *const *parts, const char **out)
{
    onnx_node *node;
    *out = onnx_op(g, "Concat", n, parts, &node);
    onnx_attr_int(g, node, "axis", 0);
}

static void add_stack(onnx_graph *g, const param_source *src, const recur_rnn_config *c,
                      stack_values *v)
{
    const int dirs = c->bidirectional ? 2 : 1, L = c->num_layers;
    const char **states = calloc(2 * (size_t)L, sizeof *states); /* y_h per layer, then y_c */
    if (!states) {
        onnx_graph_fail(g, recur_fail(RECUR_E_NOMEM, "ONNX export: out of memory"));
        return;
    }
    const char *x = v->input;
    for (int l = 0; l < L; l++) {
        const char *h0 = v->h0 && L > 1 ? slice_axis0(g, v->h0, l * dirs, (l + 1) * dirs) : v->h0;
        const char *c0 = v->c0 && L > 1 ? slice_axis0(g, v->c0, l * dirs, (l + 1) * dirs) : v->c0;
        add_layer(g, src, c, l, x, v->seq_lens, h0, c0, &x, &states[l], &states[L + l]);
    }
    v->output = x;
    concat_axis0(g, L, states, &v->h_n);
    v->c_n = NULL;
    if (c->cell == RECUR_LSTM)
        concat_axis0(g, L, states + L, &v->c_n);
    free(states);
}

/* Declares h0/c0 and lengths as the options ask; fills v's inputs. */
static void state_and_lengths_inputs(onnx_graph *g, const recur_rnn_config *c,
                                     const recur_onnx_options *o, stack_values *v)
{
    char dims[64];
    snprintf(dims, sizeof dims, "%d,B,%d", c->num_layers * (c->bidirectional ? 2 : 1),
             c->hidden_size);
    if (o && o->state_inputs) {
        onnx_input(g, "h0", ONNX_FLOAT, dims);
        v->h0 = "h0";
        if (c->cell == RECUR_LSTM) {
            onnx_input(g, "c0", ONNX_FLOAT, dims);
            v->c0 = "c0";
        }
    }
    if (o && o->lengths_input) {
        onnx_input(g, "lengths", ONNX_INT64, "B");
        v->seq_lens = cast(g, "lengths", ONNX_INT32);
    }
}

/* Names the stack's final states h_n (and c_n) as graph outputs. */
static void state_outputs(onnx_graph *g, const recur_rnn_config *c, const stack_values *v)
{
    char dims[64];
    snprintf(dims, sizeof dims, "%d,B,%d", c->num_layers * (c->bidirectional ? 2 : 1),
             c->hidden_size);
    rename_to(g, v->h_n, "h_n");
    onnx_output(g, "h_n", ONNX_FLOAT, dims);
    if (v->c_n) {
        rename_to(g, v->c_n, "c_n");
        onnx_output(g, "c_n", ONNX_FLOAT, dims);
    }
}

static recur_status finish(onnx_graph *g, const char *kind, const char *path)
{
    const char *keys[1] = {"recur.model"}, *values[1] = {kind};
    recur_status status = onnx_graph_status(g);
    if (status == RECUR_OK)
        status = onnx_graph_save(g, kind, path, 1, keys, values);
    onnx_graph_free(g);
    return status;
}

/* ---- the three models ---- */

recur_status recur_rnn_export_onnx(const recur_rnn *rnn, const recur_onnx_options *options,
                                   const char *path)
{
    if (!rnn || !path)
        return recur_fail(RECUR_E_INVALID, "recur_rnn_export_onnx: NULL argument");
    const recur_rnn_config *c = recur_rnn_get_config(rnn);
    RECUR_TRY(check_exportable(c));
    onnx_graph *g;
    RECUR_TRY(onnx_graph_create(&g));
    param_source src = {rnn, recur_rnn_param_count(rnn), get_rnn_param, ""};
    const int features = (c->bidirectional ? 2 : 1) * c->hidden_size;
    static const int64_t swap01[3] = {1, 0, 2};
    char dims[64];
    snprintf(dims, sizeof dims, c->batch_first ? "B,T,%d" : "T,B,%d", c->input_size);
    onnx_input(g, "input", ONNX_FLOAT, dims);
    stack_values v = {0};
    v.input = c->batch_first ? transpose(g, "input", 3, swap01) : "input";
    state_and_lengths_inputs(g, c, options, &v);
    add_stack(g, &src, c, &v);
    rename_to(g, c->batch_first ? transpose(g, v.output, 3, swap01) : v.output, "output");
    snprintf(dims, sizeof dims, c->batch_first ? "B,T,%d" : "T,B,%d", features);
    onnx_output(g, "output", ONNX_FLOAT, dims);
    state_outputs(g, c, &v);
    return finish(g, "rnn", path);
}

recur_status recur_lm_export_onnx(const recur_lm *lm, const recur_onnx_options *options,
                                  const char *path)
{
    if (!lm || !path)
        return recur_fail(RECUR_E_INVALID, "recur_lm_export_onnx: NULL argument");
    const recur_lm_config *lc = recur_lm_get_config(lm);
    recur_rnn_config c = recur_rnn_config_default(lc->cell, lc->embed_size, lc->hidden_size);
    c.num_layers = lc->num_layers;
    c.zoneout = lc->zoneout;
    c.layer_norm = lc->layer_norm;
    RECUR_TRY(check_exportable(&c));
    onnx_graph *g;
    RECUR_TRY(onnx_graph_create(&g));
    const int V = lc->vocab_size, E = lc->embed_size, H = lc->hidden_size;
    param_source model = {lm, recur_lm_param_count(lm), get_lm_param, ""};
    param_source stack = {lm, recur_lm_param_count(lm), get_lm_param, "rnn."};
    onnx_input(g, "ids", ONNX_INT64, "T,B");
    const float *table = find_param(g, &model, "embedding.weight", (size_t)V * E);
    int64_t table_dims[2] = {V, E};
    const char *embedding = table ? onnx_const_f32(g, "embedding", 2, table_dims, table) : "";
    stack_values v = {0};
    v.input = onnx_op(g, "Gather", ONNX_ARGS(embedding, "ids"), NULL); /* [T, B, E] */
    state_and_lengths_inputs(g, &c, options, &v);
    add_stack(g, &stack, &c, &v);
    const float *w = find_param(g, &model, "head.weight", (size_t)V * H);
    const float *b = find_param(g, &model, "head.bias", (size_t)V);
    rename_to(g, linear(g, v.output, w, b, V, H), "logits");
    char dims[64];
    snprintf(dims, sizeof dims, "T,B,%d", V);
    onnx_output(g, "logits", ONNX_FLOAT, dims);
    state_outputs(g, &c, &v);
    return finish(g, "lm", path);
}

/* valid [T, B, 1] bool: t < lengths[b], T read off x [T, B, F]. */
static const char *valid_steps_mask(onnx_graph *g, const char *x, const char *lengths)
{
    int64_t zero = 0, one = 1;
    const char *shape = onnx_op(g, "Shape", ONNX_ARGS(x), NULL);
    const char *t = onnx_op(g, "Gather", ONNX_ARGS(shape, onnx_const_i64(g, "i0", 0, NULL, &zero)),
                            NULL);
    const char *steps = onnx_op(g, "Range",
                                ONNX_ARGS(onnx_const_i64(g, "start", 0, NULL, &zero), t,
                                          onnx_const_i64(g, "delta", 0, NULL, &one)),
                                NULL); /* [T] */
    const char *valid = onnx_op(g, "Less", ONNX_ARGS(unsqueeze(g, steps, 1), lengths), NULL);
    return unsqueeze(g, valid, 2);
}

/* sum over axis 0 of x [T, B, F] -> [B, F]. */
static const char *sum_over_time(onnx_graph *g, const char *x)
{
    int64_t zero = 0;
    onnx_node *node;
    const char *y = onnx_op(g, "ReduceSum", ONNX_ARGS(x, onnx_ints(g, "axes", 1, &zero)), &node);
    onnx_attr_int(g, node, "keepdims", 0);
    return y;
}

/* Additive attention with the constant query 1: w = softmax_t(v . tanh(out W_k^T
 * + W_q 1 + b)) over the valid steps, pooled = sum_t w_t out_t. */
static const char *attention_pool(onnx_graph *g, const param_source *model, const char *out,
                                  const char *valid, int F)
{
    const float *qw = find_param(g, model, "pool.query.weight", (size_t)F);
    const float *qb = find_param(g, model, "pool.query.bias", (size_t)F);
    const float *kw = find_param(g, model, "pool.key.weight", (size_t)F * F);
    const float *vw = find_param(g, model, "pool.v.weight", (size_t)F);
    float *query = qw && qb && kw && vw ? scratch_floats(g, (size_t)F) : NULL;
    if (!query)
        return "";
    for (int i = 0; i < F; i++)
        query[i] = qw[i] + qb[i]; /* W_q 1 + b, the same for every step */
    const char *energy = onnx_op(g, "Tanh", ONNX_ARGS(linear(g, out, kw, query, F, F)), NULL);
    free(query);
    const char *scores = linear(g, energy, vw, NULL, 1, F); /* [T, B, 1] */
    const char *masked = onnx_op(
        g, "Where", ONNX_ARGS(valid, scores, onnx_scalar_f32(g, "minus_inf", -FLT_MAX)), NULL);
    onnx_node *node;
    const char *weights = onnx_op(g, "Softmax", ONNX_ARGS(masked), &node);
    onnx_attr_int(g, node, "axis", 0);
    return sum_over_time(g, onnx_op(g, "Mul", ONNX_ARGS(weights, out), NULL));
}

/* pooled [B, F] from the stack's values (lengths int64 [B]). */
static const char *pool(onnx_graph *g, const recur_seqnet_config *sc, const param_source *model,
                        const stack_values *v, const char *lengths)
{
    const recur_rnn_config *c = &sc->rnn;
    const int dirs = c->bidirectional ? 2 : 1, F = dirs * c->hidden_size;
    if (sc->pool == RECUR_POOL_LAST) { /* the top layer's h_n: [D, B, H] -> [B, D*H] */
        static const int64_t swap01[3] = {1, 0, 2}, shape[2] = {0, -1};
        const char *top = slice_axis0(g, v->h_n, (c->num_layers - 1) * dirs, c->num_layers * dirs);
        return onnx_op(g, "Reshape",
                       ONNX_ARGS(transpose(g, top, 3, swap01), onnx_ints(g, "shape", 2, shape)),
                       NULL);
    }
    const char *valid = valid_steps_mask(g, v->output, lengths);
    if (sc->pool == RECUR_POOL_MEAN) {
        const char *kept = onnx_op(
            g, "Where", ONNX_ARGS(valid, v->output, onnx_scalar_f32(g, "zero", 0.0f)), NULL);
        const char *count = unsqueeze(g, cast(g, lengths, ONNX_FLOAT), 1); /* [B, 1] */
        return onnx_op(g, "Div", ONNX_ARGS(sum_over_time(g, kept), count), NULL);
    }
    if (sc->pool == RECUR_POOL_MAX) {
        const char *kept = onnx_op(
            g, "Where", ONNX_ARGS(valid, v->output, onnx_scalar_f32(g, "lowest", -FLT_MAX)), NULL);
        static const int64_t axes[1] = {0};
        onnx_node *node;
        const char *max = onnx_op(g, "ReduceMax", ONNX_ARGS(kept), &node);
        onnx_attr_ints(g, node, "axes", 1, axes);
        onnx_attr_int(g, node, "keepdims", 0);
        return max;
    }
    return attention_pool(g, model, v->output, valid, F);
}

recur_status recur_seqnet_export_onnx(const recur_seqnet *net, const recur_onnx_options *options,
                                      const char *path)
{
    if (!net || !path)
        return recur_fail(RECUR_E_INVALID, "recur_seqnet_export_onnx: NULL argument");
    if (options && options->state_inputs)
        return recur_fail(RECUR_E_INVALID, "ONNX export: a sequence network starts from a zero "
                                           "state; it has no h0/c0 inputs");
    const recur_seqnet_config *sc = recur_seqnet_get_config(net);
    const recur_rnn_config *c = &sc->rnn;
    RECUR_TRY(check_exportable(c));
    onnx_graph *g;
    RECUR_TRY(onnx_graph_create(&g));
    int count = recur_seqnet_param_count(net);
    param_source model = {net, count, get_seqnet_param, ""};
    param_source stack = {net, count, get_seqnet_param, "rnn."};
    const int F = (c->bidirectional ? 2 : 1) * c->hidden_size, O = sc->output_size;
    stack_values v = {0};
    if (sc->vocab_size > 0) {
        onnx_input(g, "ids", ONNX_INT64, "T,B");
        int64_t dims[2] = {sc->vocab_size, c->input_size};
        const float *table = find_param(g, &model, "embedding.weight", (size_t)dims[0] * dims[1]);
        const char *embedding = table ? onnx_const_f32(g, "embedding", 2, dims, table) : "";
        v.input = onnx_op(g, "Gather", ONNX_ARGS(embedding, "ids"), NULL); /* [T, B, I] */
    } else {
        char dims[64];
        snprintf(dims, sizeof dims, "T,B,%d", c->input_size);
        onnx_input(g, "input", ONNX_FLOAT, dims);
        v.input = "input";
    }
    recur_onnx_options with_lengths = {0, 1};
    state_and_lengths_inputs(g, c, &with_lengths, &v);
    add_stack(g, &stack, c, &v);
    const char *pooled = pool(g, sc, &model, &v, "lengths");
    const float *w = find_param(g, &model, "head.weight", (size_t)O * F);
    const float *b = find_param(g, &model, "head.bias", (size_t)O);
    rename_to(g, linear(g, pooled, w, b, O, F), "logits");
    char dims[64];
    snprintf(dims, sizeof dims, "B,%d", O);
    onnx_output(g, "logits", ONNX_FLOAT, dims);
    return finish(g, "seqnet", path);
}
