/* The recurrent stack (torch.nn.RNN / LSTM / GRU): configuration,
 * parameters with PyTorch's names, and forward/backward over layers and
 * directions. The per-direction math is in rnn_layer.c. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/rng.h"
#include "core/status.h"
#include "nn/rnn_layer.h"
#include "nn/rnn_pack.h"

#define RNN_MAX_LAYERS 64
#define RNN_MAX_SIZE (1 << 24) /* per dimension: keeps every product in range */
#define PARAM_NAME_MAX 32

/* Index of each parameter kind inside one direction's group. */
enum { P_WEIGHT_IH, P_WEIGHT_HH, P_BIAS_IH, P_BIAS_HH, P_WEIGHT_HR, P_KINDS };

typedef struct rnn_direction {
    int param_index[P_KINDS]; /* index into params, -1 when absent */
    int input_size;
    rnn_saved saved;
} rnn_direction;

struct recur_rnn {
    recur_rnn_config config;
    rnn_dims dims;
    int directions; /* D */
    rnn_direction *dirs; /* [L * D], layer-major */

    int param_count;
    recur_param *params;
    char (*param_names)[PARAM_NAME_MAX];
    size_t param_total;
    float *values; /* all parameters, state_dict order */
    float *grads;

    /* Saved by forward. */
    int have_forward;
    recur_pack_plan plan;
    recur_buffer input_packed;  /* [N, I] */
    recur_buffer *layer_output; /* [L] each [N, D*Hout] */

    /* Backward scratch. */
    recur_buffer grad_a, grad_b; /* [N, max(I, D*Hout)] ping-pong */
    rnn_workspace ws;
};

recur_rnn_config recur_rnn_config_default(recur_cell cell, int input_size, int hidden_size)
{
    recur_rnn_config config = {0};
    config.cell = cell;
    config.input_size = input_size;
    config.hidden_size = hidden_size;
    config.num_layers = 1;
    config.bias = 1;
    return config;
}

static recur_status validate_config(const recur_rnn_config *c)
{
    if (c->cell < RECUR_RNN_TANH || c->cell > RECUR_GRU)
        return recur_fail(RECUR_E_INVALID, "unknown cell type %d", (int)c->cell);
    if (c->input_size < 1 || c->input_size > RNN_MAX_SIZE)
        return recur_fail(RECUR_E_INVALID, "input_size %d must be in 1..%d", c->input_size,
                          RNN_MAX_SIZE);
    if (c->hidden_size < 1 || c->hidden_size > RNN_MAX_SIZE)
        return recur_fail(RECUR_E_INVALID, "hidden_size %d must be in 1..%d", c->hidden_size,
                          RNN_MAX_SIZE);
    if (c->num_layers < 1 || c->num_layers > RNN_MAX_LAYERS)
        return recur_fail(RECUR_E_INVALID, "num_layers %d must be in 1..%d", c->num_layers,
                          RNN_MAX_LAYERS);
    if ((c->bias != 0 && c->bias != 1) || (c->batch_first != 0 && c->batch_first != 1) ||
        (c->bidirectional != 0 && c->bidirectional != 1))
        return recur_fail(RECUR_E_INVALID, "bias, batch_first and bidirectional must be 0 or 1");
    if (c->proj_size < 0)
        return recur_fail(RECUR_E_INVALID, "proj_size %d must be >= 0", c->proj_size);
    if (c->proj_size > 0 && c->cell != RECUR_LSTM)
        return recur_fail(RECUR_E_INVALID, "proj_size is supported only for LSTM");
    if (c->proj_size >= c->hidden_size && c->proj_size > 0)
        return recur_fail(RECUR_E_INVALID, "proj_size %d must be smaller than hidden_size %d",
                          c->proj_size, c->hidden_size);
    return RECUR_OK;
}

static int gate_count(recur_cell cell)
{
    return cell == RECUR_LSTM ? 4 : cell == RECUR_GRU ? 3 : 1;
}

/* Lays out the parameters in state_dict() order: per layer, per direction,
 * weight_ih, weight_hh, bias_ih, bias_hh, weight_hr. */
static recur_status plan_parameters(recur_rnn *rnn)
{
    const recur_rnn_config *c = &rnn->config;
    const int GH = rnn->dims.gates * c->hidden_size;
    const int per_direction = 2 + (c->bias ? 2 : 0) + (c->proj_size ? 1 : 0);
    const int groups = c->num_layers * rnn->directions;
    rnn->param_count = groups * per_direction;
    rnn->params = calloc((size_t)rnn->param_count, sizeof *rnn->params);
    rnn->param_names = calloc((size_t)rnn->param_count, sizeof *rnn->param_names);
    rnn->dirs = calloc((size_t)groups, sizeof *rnn->dirs);
    rnn->layer_output = calloc((size_t)c->num_layers, sizeof *rnn->layer_output);
    if (!rnn->params || !rnn->param_names || !rnn->dirs || !rnn->layer_output)
        return recur_fail(RECUR_E_NOMEM, "out of memory creating a recurrent layer");

    static const char *kind_names[P_KINDS] = {"weight_ih", "weight_hh", "bias_ih", "bias_hh",
                                               "weight_hr"};
    int index = 0;
    size_t offset = 0;
    for (int layer = 0; layer < c->num_layers; layer++) {
        for (int d = 0; d < rnn->directions; d++) {
            rnn_direction *dir = &rnn->dirs[layer * rnn->directions + d];
            dir->input_size = layer == 0 ? c->input_size : rnn->directions * rnn->dims.out;
            for (int kind = 0; kind < P_KINDS; kind++) {
                dir->param_index[kind] = -1;
                int64_t rows, cols;
                switch (kind) {
                case P_WEIGHT_IH: rows = GH, cols = dir->input_size; break;
                case P_WEIGHT_HH: rows = GH, cols = rnn->dims.out; break;
                case P_BIAS_IH:
                case P_BIAS_HH:
                    if (!c->bias)
                        continue;
                    rows = GH, cols = 0;
                    break;
                default:
                    if (!c->proj_size)
                        continue;
                    rows = c->proj_size, cols = c->hidden_size;
                    break;
                }
                recur_param *p = &rnn->params[index];
                snprintf(rnn->param_names[index], PARAM_NAME_MAX, "%s_l%d%s", kind_names[kind],
                         layer, d ? "_reverse" : "");
                p->name = rnn->param_names[index];
                p->ndim = cols ? 2 : 1;
                p->shape[0] = rows;
                p->shape[1] = cols;
                p->numel = (size_t)rows * (size_t)(cols ? cols : 1);
                dir->param_index[kind] = index;
                offset += p->numel;
                index++;
            }
        }
    }
    rnn->param_total = offset;
    rnn->values = recur_alloc_floats(offset);
    rnn->grads = recur_alloc_floats(offset);
    if (!rnn->values || !rnn->grads)
        return recur_fail(RECUR_E_NOMEM, "out of memory allocating %zu parameters", offset);
    size_t at = 0;
    for (int i = 0; i < rnn->param_count; i++) {
        rnn->params[i].value = rnn->values + at;
        rnn->params[i].grad = rnn->grads + at;
        at += rnn->params[i].numel;
    }
    return RECUR_OK;
}

recur_status recur_rnn_create(const recur_rnn_config *config, uint64_t seed, recur_rnn **out)
{
    if (!config || !out)
        return recur_fail(RECUR_E_INVALID, "recur_rnn_create: NULL argument");
    *out = NULL;
    RECUR_TRY(validate_config(config));
    recur_rnn *rnn = calloc(1, sizeof *rnn);
    if (!rnn)
        return recur_fail(RECUR_E_NOMEM, "out of memory creating a recurrent layer");
    rnn->config = *config;
    rnn->directions = config->bidirectional ? 2 : 1;
    rnn->dims.cell = config->cell;
    rnn->dims.hidden = config->hidden_size;
    rnn->dims.proj = config->proj_size;
    rnn->dims.out = config->proj_size ? config->proj_size : config->hidden_size;
    rnn->dims.gates = gate_count(config->cell);
    recur_status status = plan_parameters(rnn);
    if (status != RECUR_OK) {
        recur_rnn_free(rnn);
        return status;
    }
    /* PyTorch's reset_parameters: every parameter ~ U(-k, k), k = 1/sqrt(H). */
    recur_rng rng;
    recur_rng_seed(&rng, seed);
    const float k = 1.0f / sqrtf((float)config->hidden_size);
    for (size_t i = 0; i < rnn->param_total; i++)
        rnn->values[i] = recur_rng_uniform(&rng, -k, k);
    *out = rnn;
    return RECUR_OK;
}

void recur_rnn_free(recur_rnn *rnn)
{
    if (!rnn)
        return;
    int groups = rnn->config.num_layers * rnn->directions;
    if (rnn->dirs) {
        for (int i = 0; i < groups; i++) {
            rnn_saved *s = &rnn->dirs[i].saved;
            recur_buffer_release(&s->gates);
            recur_buffer_release(&s->cell);
            recur_buffer_release(&s->proj_in);
            recur_buffer_release(&s->hidden_n);
            recur_buffer_release(&s->h0);
            recur_buffer_release(&s->c0);
        }
    }
    if (rnn->layer_output)
        for (int l = 0; l < rnn->config.num_layers; l++)
            recur_buffer_release(&rnn->layer_output[l]);
    rnn_workspace *ws = &rnn->ws;
    recur_buffer *scratch[] = {&ws->h_state, &ws->c_state,  &ws->bias,   &ws->step,
                               &ws->ones,    &ws->grad_gates, &ws->grad_gh, &ws->h_prev,
                               &ws->c_prev,  &ws->grad_h,   &rnn->grad_a, &rnn->grad_b,
                               &rnn->input_packed};
    for (size_t i = 0; i < sizeof scratch / sizeof scratch[0]; i++)
        recur_buffer_release(scratch[i]);
    recur_pack_plan_free(&rnn->plan);
    free(rnn->layer_output);
    free(rnn->dirs);
    free(rnn->params);
    free(rnn->param_names);
    free(rnn->values);
    free(rnn->grads);
    free(rnn);
}

const recur_rnn_config *recur_rnn_get_config(const recur_rnn *rnn) { return &rnn->config; }
int recur_rnn_param_count(const recur_rnn *rnn) { return rnn->param_count; }
size_t recur_rnn_param_total(const recur_rnn *rnn) { return rnn->param_total; }
float *recur_rnn_param_data(recur_rnn *rnn) { return rnn->values; }
float *recur_rnn_grad_data(recur_rnn *rnn) { return rnn->grads; }

void recur_rnn_zero_grad(recur_rnn *rnn)
{
    memset(rnn->grads, 0, sizeof(float) * rnn->param_total);
}

recur_status recur_rnn_param(const recur_rnn *rnn, int index, recur_param *out)
{
    if (index < 0 || index >= rnn->param_count)
        return recur_fail(RECUR_E_INVALID, "parameter index %d outside 0..%d", index,
                          rnn->param_count - 1);
    *out = rnn->params[index];
    return RECUR_OK;
}

recur_status recur_rnn_find_param(const recur_rnn *rnn, const char *name, recur_param *out)
{
    for (int i = 0; i < rnn->param_count; i++)
        if (strcmp(rnn->params[i].name, name) == 0) {
            *out = rnn->params[i];
            return RECUR_OK;
        }
    return recur_fail(RECUR_E_SHAPE, "the layer has no parameter named '%s'", name);
}

size_t recur_rnn_output_numel(const recur_rnn *rnn, int seq_len, int batch)
{
    return (size_t)seq_len * (size_t)batch * (size_t)(rnn->directions * rnn->dims.out);
}

size_t recur_rnn_state_numel(const recur_rnn *rnn, int batch)
{
    return (size_t)(rnn->config.num_layers * rnn->directions) * (size_t)batch *
           (size_t)rnn->dims.out;
}

size_t recur_rnn_cell_state_numel(const recur_rnn *rnn, int batch)
{
    if (rnn->config.cell != RECUR_LSTM)
        return 0;
    return (size_t)(rnn->config.num_layers * rnn->directions) * (size_t)batch *
           (size_t)rnn->dims.hidden;
}

static float *value_or_null(const recur_rnn *rnn, int index)
{
    return index < 0 ? NULL : rnn->params[index].value;
}

static float *grad_or_null(const recur_rnn *rnn, int index)
{
    return index < 0 ? NULL : rnn->params[index].grad;
}

static rnn_weights direction_weights(const recur_rnn *rnn, const rnn_direction *dir)
{
    rnn_weights w = {
        value_or_null(rnn, dir->param_index[P_WEIGHT_IH]),
        value_or_null(rnn, dir->param_index[P_WEIGHT_HH]),
        value_or_null(rnn, dir->param_index[P_BIAS_IH]),
        value_or_null(rnn, dir->param_index[P_BIAS_HH]),
        value_or_null(rnn, dir->param_index[P_WEIGHT_HR]),
    };
    return w;
}

static rnn_grads direction_grads(const recur_rnn *rnn, const rnn_direction *dir)
{
    rnn_grads g = {
        grad_or_null(rnn, dir->param_index[P_WEIGHT_IH]),
        grad_or_null(rnn, dir->param_index[P_WEIGHT_HH]),
        grad_or_null(rnn, dir->param_index[P_BIAS_IH]),
        grad_or_null(rnn, dir->param_index[P_BIAS_HH]),
        grad_or_null(rnn, dir->param_index[P_WEIGHT_HR]),
    };
    return g;
}

/* Size checks of a whole batch: every buffer size fits comfortably. */
static recur_status check_batch_size(const recur_rnn *rnn, int seq_len, int batch)
{
    if (seq_len < 1 || batch < 1)
        return recur_fail(RECUR_E_SHAPE, "sequence length %d and batch %d must be >= 1", seq_len,
                          batch);
    size_t rows, widest = (size_t)rnn->dims.gates * (size_t)rnn->dims.hidden, total;
    if ((size_t)rnn->config.input_size > widest)
        widest = (size_t)rnn->config.input_size;
    if ((size_t)(2 * rnn->dims.out) > widest)
        widest = (size_t)(2 * rnn->dims.out);
    if (!recur_mul_size((size_t)seq_len, (size_t)batch, &rows) ||
        !recur_mul_size(rows, widest, &total) || total > (SIZE_MAX / 64) || rows > INT32_MAX)
        return recur_fail(RECUR_E_NOMEM, "batch of %d x %d steps is too large", seq_len, batch);
    return RECUR_OK;
}

recur_status recur_rnn_forward(recur_rnn *rnn, const recur_rnn_forward_args *args)
{
    if (!rnn || !args || !args->input || !args->output)
        return recur_fail(RECUR_E_INVALID, "recur_rnn_forward: NULL layer, input or output");
    const recur_rnn_config *c = &rnn->config;
    if (args->c0 && c->cell != RECUR_LSTM)
        return recur_fail(RECUR_E_INVALID, "c0 is given but the layer is not an LSTM");
    RECUR_TRY(check_batch_size(rnn, args->seq_len, args->batch));
    rnn->have_forward = 0;
    recur_pack_plan *plan = &rnn->plan;
    RECUR_TRY(recur_pack_plan_build(plan, args->seq_len, args->batch, args->lengths));

    const int D = rnn->directions, Hout = rnn->dims.out, H = rnn->dims.hidden;
    const int B = args->batch;
    const size_t N = plan->rows;
    RECUR_TRY(recur_buffer_reserve(&rnn->input_packed, N * (size_t)c->input_size));
    recur_pack_sequence(plan, args->input, c->input_size, c->batch_first, rnn->input_packed.data);

    for (int layer = 0; layer < c->num_layers; layer++) {
        recur_buffer *y = &rnn->layer_output[layer];
        RECUR_TRY(recur_buffer_reserve(y, N * (size_t)(D * Hout)));
        const float *x = layer == 0 ? rnn->input_packed.data : rnn->layer_output[layer - 1].data;
        for (int d = 0; d < D; d++) {
            const int group = layer * D + d;
            rnn_direction *dir = &rnn->dirs[group];
            rnn_saved *saved = &dir->saved;
            RECUR_TRY(recur_buffer_reserve(&saved->h0, (size_t)B * (size_t)Hout));
            recur_gather_state(plan, args->h0 ? args->h0 + (size_t)group * B * Hout : NULL, Hout,
                               saved->h0.data);
            if (c->cell == RECUR_LSTM) {
                RECUR_TRY(recur_buffer_reserve(&saved->c0, (size_t)B * (size_t)H));
                recur_gather_state(plan, args->c0 ? args->c0 + (size_t)group * B * H : NULL, H,
                                   saved->c0.data);
            }
            rnn_weights w = direction_weights(rnn, dir);
            RECUR_TRY(rnn_direction_forward(&rnn->dims, &w, d, plan, x, dir->input_size,
                                            y->data + (size_t)d * Hout, D * Hout, saved,
                                            &rnn->ws));
            if (args->h_n)
                recur_scatter_state(plan, rnn->ws.h_state.data, Hout,
                                    args->h_n + (size_t)group * B * Hout);
            if (args->c_n && c->cell == RECUR_LSTM)
                recur_scatter_state(plan, rnn->ws.c_state.data, H,
                                    args->c_n + (size_t)group * B * H);
        }
    }
    recur_unpack_sequence(plan, rnn->layer_output[c->num_layers - 1].data, D * Hout,
                          c->batch_first, args->output);
    rnn->have_forward = 1;
    return RECUR_OK;
}

recur_status recur_rnn_backward(recur_rnn *rnn, const recur_rnn_backward_args *args)
{
    if (!rnn || !args)
        return recur_fail(RECUR_E_INVALID, "recur_rnn_backward: NULL argument");
    if (!rnn->have_forward)
        return recur_fail(RECUR_E_STATE, "recur_rnn_backward called without a forward pass");
    const recur_rnn_config *c = &rnn->config;
    const recur_pack_plan *plan = &rnn->plan;
    const int D = rnn->directions, Hout = rnn->dims.out, H = rnn->dims.hidden;
    const int B = plan->batch, L = c->num_layers;
    const size_t N = plan->rows;
    size_t widest = (size_t)(c->input_size > D * Hout ? c->input_size : D * Hout);
    RECUR_TRY(recur_buffer_reserve(&rnn->grad_a, N * widest));
    RECUR_TRY(recur_buffer_reserve(&rnn->grad_b, N * widest));

    /* Gradient of the last layer's packed output. */
    float *grad_y = rnn->grad_a.data, *grad_x = rnn->grad_b.data;
    if (args->grad_output)
        recur_pack_sequence(plan, args->grad_output, D * Hout, c->batch_first, grad_y);
    else
        memset(grad_y, 0, sizeof(float) * N * (size_t)(D * Hout));

    for (int layer = L - 1; layer >= 0; layer--) {
        const float *x = layer == 0 ? rnn->input_packed.data : rnn->layer_output[layer - 1].data;
        const float *y = rnn->layer_output[layer].data;
        /* The first layer's input gradient is only needed if asked for. */
        float *dx = layer > 0 || args->grad_input ? grad_x : NULL;
        for (int d = 0; d < D; d++) {
            const int group = layer * D + d;
            const rnn_direction *dir = &rnn->dirs[group];
            recur_gather_state(plan, args->grad_h_n ? args->grad_h_n + (size_t)group * B * Hout : NULL,
                               Hout, rnn->ws.h_state.data);
            if (c->cell == RECUR_LSTM)
                recur_gather_state(plan,
                                   args->grad_c_n ? args->grad_c_n + (size_t)group * B * H : NULL,
                                   H, rnn->ws.c_state.data);
            rnn_weights w = direction_weights(rnn, dir);
            rnn_grads g = direction_grads(rnn, dir);
            RECUR_TRY(rnn_direction_backward(&rnn->dims, &w, &g, d, plan, x, dir->input_size,
                                             y + (size_t)d * Hout, D * Hout,
                                             grad_y + (size_t)d * Hout, D * Hout, dx,
                                             d == 0 ? 0.0f : 1.0f, &dir->saved, &rnn->ws));
            if (args->grad_h0)
                recur_scatter_state(plan, rnn->ws.h_state.data, Hout,
                                    args->grad_h0 + (size_t)group * B * Hout);
            if (args->grad_c0 && c->cell == RECUR_LSTM)
                recur_scatter_state(plan, rnn->ws.c_state.data, H,
                                    args->grad_c0 + (size_t)group * B * H);
        }
        float *swap = grad_y;
        grad_y = grad_x;
        grad_x = swap;
    }
    if (args->grad_input)
        recur_unpack_sequence(plan, grad_y, c->input_size, c->batch_first, args->grad_input);
    return RECUR_OK;
}
