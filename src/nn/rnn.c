/* The recurrent stack (torch.nn.RNN / LSTM / GRU): configuration,
 * parameters with PyTorch's names, and forward/backward over layers and
 * directions. The per-direction math is in rnn_layer.c. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cuda/rnn_cuda.h"
#include "core/alloc.h"
#include "core/rng.h"
#include "core/status.h"
#include "nn/rnn_internal.h"
#include "nn/rnn_layer.h"
#include "nn/rnn_pack.h"

#define RNN_MAX_LAYERS 64
#define RNN_MAX_SIZE (1 << 24) /* per dimension: keeps every product in range */
#define PARAM_NAME_MAX 32

/* Index of each parameter kind inside one direction's group. */
enum {
    P_WEIGHT_IH, P_WEIGHT_HH, P_BIAS_IH, P_BIAS_HH, P_WEIGHT_HR,
    P_LN_IH_W, P_LN_IH_B, P_LN_HH_W, P_LN_HH_B, P_LN_C_W, P_LN_C_B, P_KINDS
};

_Static_assert((int)P_WEIGHT_IH == (int)RNN_CUDA_WEIGHT_IH &&
                   (int)P_WEIGHT_HH == (int)RNN_CUDA_WEIGHT_HH &&
                   (int)P_BIAS_IH == (int)RNN_CUDA_BIAS_IH &&
                   (int)P_BIAS_HH == (int)RNN_CUDA_BIAS_HH &&
                   (int)P_WEIGHT_HR == (int)RNN_CUDA_WEIGHT_HR,
               "the CUDA layout lists the parameter kinds in the same order");

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

    /* Saved by forward (unless no_grad: then nothing for a backward). */
    int have_forward;
    int no_grad, forward_no_grad; /* gradients off now, and in the last forward */
    recur_pack_plan plan;
    recur_buffer input_packed;  /* [N, I] */
    recur_buffer *layer_output; /* [L] each [N, D*Hout] */
    /* Dropout between layers (training only): for layer l < L-1, the mask
     * (0 or 1/(1-p)) and the masked output that is layer l+1's input. */
    int dropout_active;
    recur_buffer *drop_mask;    /* [L] each [N, D*Hout] */
    recur_buffer *drop_output;  /* [L] each [N, D*Hout] */

    int training;
    recur_rng mask_rng; /* dropout / zoneout masks */

    /* Backward scratch. */
    recur_buffer grad_a, grad_b; /* [N, max(I, D*Hout)] ping-pong */
    rnn_workspace ws;

    recur_device device;
    rnn_cuda *cuda;      /* the GPU's copy and state (device CUDA) */
    int host_grads_used; /* a host-pointer backward ran on CUDA */

    recur_grad_ready_fn grad_ready; /* recur_rnn_set_grad_ready */
    void *grad_ready_context;
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
    const struct {
        const char *name;
        float value;
    } probs[] = {{"dropout", c->dropout},
                 {"recurrent_dropout", c->recurrent_dropout},
                 {"zoneout", c->zoneout}};
    for (size_t i = 0; i < sizeof probs / sizeof probs[0]; i++)
        if (!(probs[i].value >= 0.0f && probs[i].value < 1.0f))
            return recur_fail(RECUR_E_INVALID, "%s %g must be in [0, 1)", probs[i].name,
                              (double)probs[i].value);
    if (c->layer_norm != 0 && c->layer_norm != 1)
        return recur_fail(RECUR_E_INVALID, "layer_norm must be 0 or 1");
    if (c->layer_norm && c->cell != RECUR_LSTM && c->cell != RECUR_GRU)
        return recur_fail(RECUR_E_INVALID, "layer_norm is supported only for LSTM and GRU");
    if (c->layer_norm && c->proj_size)
        return recur_fail(RECUR_E_INVALID, "layer_norm is not supported with proj_size");
    return RECUR_OK;
}

static int gate_count(recur_cell cell)
{
    return cell == RECUR_LSTM ? 4 : cell == RECUR_GRU ? 3 : 1;
}

/* Lays out the parameters in state_dict() order: per layer, per direction,
 * weight_ih, weight_hh, bias_ih, bias_hh, weight_hr, then with layer norm
 * layer_norm_{ih,hh,c}_{weight,bias}. */
static recur_status plan_parameters(recur_rnn *rnn)
{
    const recur_rnn_config *c = &rnn->config;
    const int GH = rnn->dims.gates * c->hidden_size;
    const int per_direction = 2 + (c->bias ? 2 : 0) + (c->proj_size ? 1 : 0) +
                              (c->layer_norm ? (c->cell == RECUR_LSTM ? 6 : 4) : 0);
    const int groups = c->num_layers * rnn->directions;
    rnn->param_count = groups * per_direction;
    rnn->params = calloc((size_t)rnn->param_count, sizeof *rnn->params);
    rnn->param_names = calloc((size_t)rnn->param_count, sizeof *rnn->param_names);
    rnn->dirs = calloc((size_t)groups, sizeof *rnn->dirs);
    rnn->layer_output = calloc((size_t)c->num_layers, sizeof *rnn->layer_output);
    rnn->drop_mask = calloc((size_t)c->num_layers, sizeof *rnn->drop_mask);
    rnn->drop_output = calloc((size_t)c->num_layers, sizeof *rnn->drop_output);
    if (!rnn->params || !rnn->param_names || !rnn->dirs || !rnn->layer_output ||
        !rnn->drop_mask || !rnn->drop_output)
        return recur_fail(RECUR_E_NOMEM, "out of memory creating a recurrent layer");

    static const char *kind_names[P_KINDS] = {
        "weight_ih",           "weight_hh",          "bias_ih",
        "bias_hh",             "weight_hr",          "layer_norm_ih_weight",
        "layer_norm_ih_bias",  "layer_norm_hh_weight", "layer_norm_hh_bias",
        "layer_norm_c_weight", "layer_norm_c_bias"};
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
                case P_WEIGHT_HR:
                    if (!c->proj_size)
                        continue;
                    rows = c->proj_size, cols = c->hidden_size;
                    break;
                case P_LN_C_W:
                case P_LN_C_B:
                    if (!c->layer_norm || c->cell != RECUR_LSTM)
                        continue;
                    rows = c->hidden_size, cols = 0;
                    break;
                default: /* layer norm of the ih / hh products */
                    if (!c->layer_norm)
                        continue;
                    rows = GH, cols = 0;
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
    for (int i = 0; i < rnn->param_count; i++) {
        recur_param *p = &rnn->params[i];
        if (strncmp(p->name, "layer_norm_", 11) == 0) {
            /* Gains 1, shifts 0; they draw nothing, so the other parameters
             * are those of the same seed without layer norm. */
            float v = strstr(p->name, "_weight_") ? 1.0f : 0.0f;
            for (size_t j = 0; j < p->numel; j++)
                p->value[j] = v;
        } else {
            for (size_t j = 0; j < p->numel; j++)
                p->value[j] = recur_rng_uniform(&rng, -k, k);
        }
    }
    /* The mask generator: the same seed, jumped 2^128 steps ahead. */
    recur_rng_seed(&rnn->mask_rng, seed);
    recur_rng_jump(&rnn->mask_rng);
    *out = rnn;
    return RECUR_OK;
}

void recur_rnn_free(recur_rnn *rnn)
{
    if (!rnn)
        return;
    rnn_cuda_free(rnn->cuda);
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
            recur_buffer *extra[] = {&s->rec_mask, &s->zone_h,  &s->zone_c, &s->h_tilde,
                                     &s->cell_carry, &s->ln_ih, &s->ln_hh,  &s->ln_c,
                                     &s->ln_rstd};
            for (size_t k = 0; k < sizeof extra / sizeof extra[0]; k++)
                recur_buffer_release(extra[k]);
        }
    }
    for (int l = 0; l < rnn->config.num_layers; l++) {
        if (rnn->layer_output)
            recur_buffer_release(&rnn->layer_output[l]);
        if (rnn->drop_mask)
            recur_buffer_release(&rnn->drop_mask[l]);
        if (rnn->drop_output)
            recur_buffer_release(&rnn->drop_output[l]);
    }
    rnn_workspace *ws = &rnn->ws;
    recur_buffer *scratch[] = {&ws->h_state, &ws->c_state,  &ws->bias,   &ws->step,
                               &ws->ones,    &ws->grad_gates, &ws->grad_gh, &ws->h_prev,
                               &ws->c_prev,  &ws->grad_h,   &rnn->grad_a, &rnn->grad_b,
                               &rnn->input_packed, &ws->h_masked, &ws->zone_prev,
                               &ws->rec_tmp, &ws->grad_raw, &ws->grad_xraw};
    for (size_t i = 0; i < sizeof scratch / sizeof scratch[0]; i++)
        recur_buffer_release(scratch[i]);
    recur_gemm_team_destroy(ws->team);
    recur_pack_plan_free(&rnn->plan);
    free(rnn->layer_output);
    free(rnn->drop_mask);
    free(rnn->drop_output);
    free(rnn->dirs);
    free(rnn->params);
    free(rnn->param_names);
    free(rnn->values);
    free(rnn->grads);
    free(rnn);
}

const recur_rnn_config *recur_rnn_get_config(const recur_rnn *rnn) { return &rnn->config; }

void recur_rnn_set_training(recur_rnn *rnn, int training) { rnn->training = training != 0; }
int recur_rnn_is_training(const recur_rnn *rnn) { return rnn->training; }
void recur_rnn_set_grad_enabled(recur_rnn *rnn, int enabled) { rnn->no_grad = !enabled; }
int recur_rnn_is_grad_enabled(const recur_rnn *rnn) { return !rnn->no_grad; }

void recur_rnn_get_rng_state(const recur_rnn *rnn, uint64_t state[4])
{
    memcpy(state, rnn->mask_rng.state, sizeof rnn->mask_rng.state);
}

recur_status recur_rnn_set_rng_state(recur_rnn *rnn, const uint64_t state[4])
{
    if (!rnn || !state)
        return recur_fail(RECUR_E_INVALID, "recur_rnn_set_rng_state: NULL argument");
    if (!(state[0] | state[1] | state[2] | state[3]))
        return recur_fail(RECUR_E_INVALID, "the generator state must not be all zero");
    memcpy(rnn->mask_rng.state, state, sizeof rnn->mask_rng.state);
    return RECUR_OK;
}
int recur_rnn_param_count(const recur_rnn *rnn) { return rnn->param_count; }
size_t recur_rnn_param_total(const recur_rnn *rnn) { return rnn->param_total; }
float *recur_rnn_param_data(recur_rnn *rnn) { return rnn->values; }
float *recur_rnn_grad_data(recur_rnn *rnn) { return rnn->grads; }

void recur_rnn_zero_grad(recur_rnn *rnn)
{
    /* On CUDA the host buffer is touched only once host-pointer backwards
     * use it, so that device-resident training pays for no host memset. */
    if (!rnn->cuda || rnn->host_grads_used)
        memset(rnn->grads, 0, sizeof(float) * rnn->param_total);
    if (rnn->cuda)
        rnn_cuda_zero_grad(rnn->cuda); /* queued; cannot fail but for a lost device */
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
        value_or_null(rnn, dir->param_index[P_LN_IH_W]),
        value_or_null(rnn, dir->param_index[P_LN_IH_B]),
        value_or_null(rnn, dir->param_index[P_LN_HH_W]),
        value_or_null(rnn, dir->param_index[P_LN_HH_B]),
        value_or_null(rnn, dir->param_index[P_LN_C_W]),
        value_or_null(rnn, dir->param_index[P_LN_C_B]),
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
        grad_or_null(rnn, dir->param_index[P_LN_IH_W]),
        grad_or_null(rnn, dir->param_index[P_LN_IH_B]),
        grad_or_null(rnn, dir->param_index[P_LN_HH_W]),
        grad_or_null(rnn, dir->param_index[P_LN_HH_B]),
        grad_or_null(rnn, dir->param_index[P_LN_C_W]),
        grad_or_null(rnn, dir->param_index[P_LN_C_B]),
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
    if (2 * (size_t)rnn->dims.out > widest)
        widest = 2 * (size_t)rnn->dims.out;
    if (!recur_mul_size((size_t)seq_len, (size_t)batch, &rows) ||
        !recur_mul_size(rows, widest, &total) || total > (SIZE_MAX / 64) || rows > INT32_MAX)
        return recur_fail(RECUR_E_NOMEM, "batch of %d x %d steps is too large", seq_len, batch);
    return RECUR_OK;
}

/* What layer `layer` reads: the packed input, the previous layer's output,
 * or that output after dropout. */
static const float *layer_input(const recur_rnn *rnn, int layer)
{
    if (layer == 0)
        return rnn->input_packed.data;
    return rnn->dropout_active ? rnn->drop_output[layer - 1].data
                               : rnn->layer_output[layer - 1].data;
}


/* Recurrent-dropout and zoneout masks of one direction for this forward.
 * The recurrent mask is drawn per sequence in the caller's batch order and
 * then sorted like the batch; zoneout weights are per packed row. */
static recur_status fill_masks(recur_rnn *rnn, rnn_saved *saved, int batch)
{
    const recur_rnn_config *c = &rnn->config;
    const recur_pack_plan *plan = &rnn->plan;
    const size_t N = plan->rows, Hout = (size_t)rnn->dims.out, H = (size_t)rnn->dims.hidden;
    if (rnn->dims.rec_dropout) {
        const size_t n = (size_t)batch * Hout;
        /* Drawn into the second half, then gathered into the first. */
        RECUR_TRY(recur_buffer_reserve(&saved->rec_mask, 2 * n));
        float *drawn = saved->rec_mask.data + n;
        recur_rng_dropout_mask(&rnn->mask_rng, drawn, n, c->recurrent_dropout);
        recur_gather_state(plan, drawn, (int)Hout, saved->rec_mask.data);
    }
    if (rnn->dims.zoneout) {
        RECUR_TRY(recur_buffer_reserve(&saved->zone_h, N * Hout));
        const size_t nc = c->cell == RECUR_LSTM ? N * H : 0;
        if (nc)
            RECUR_TRY(recur_buffer_reserve(&saved->zone_c, nc));
        const double z = c->zoneout;
        float *masks[2] = {saved->zone_h.data, saved->zone_c.data};
        size_t counts[2] = {N * Hout, nc};
        for (int m = 0; m < 2; m++)
            for (size_t i = 0; i < counts[m]; i++)
                masks[m][i] = rnn->training ? (float)recur_rng_bernoulli(&rnn->mask_rng, z)
                                            : c->zoneout;
    }
    return RECUR_OK;
}

/* ---- the CUDA backend (backend/cuda/rnn_cuda.h) ---- */

/* The forward on the GPU, host (on_device 0) or device pointers; the plan is
 * built and the dropout masks drawn here, as on the CPU. */
static recur_status forward_cuda(recur_rnn *rnn, const recur_rnn_forward_args *args,
                                 int on_device)
{
    const recur_rnn_config *c = &rnn->config;
    const recur_pack_plan *plan = &rnn->plan;
    const size_t n = plan->rows * (size_t)(rnn->directions * rnn->dims.out);
    rnn->dropout_active = rnn->training && c->dropout > 0.0f && c->num_layers > 1;
    for (int layer = 0; rnn->dropout_active && layer < c->num_layers - 1; layer++) {
        RECUR_TRY(recur_buffer_reserve(&rnn->drop_mask[layer], n));
        recur_rng_dropout_mask(&rnn->mask_rng, rnn->drop_mask[layer].data, n, c->dropout);
    }
    const float **masks = NULL;
    if (rnn->dropout_active) {
        masks = calloc((size_t)c->num_layers, sizeof *masks);
        if (!masks)
            return recur_fail(RECUR_E_NOMEM, "out of memory");
        for (int layer = 0; layer < c->num_layers - 1; layer++)
            masks[layer] = rnn->drop_mask[layer].data;
    }
    const int keep = !rnn->no_grad;
    recur_status st =
        on_device ? rnn_cuda_forward(rnn->cuda, plan, args, masks, keep)
                  : rnn_cuda_forward_host(rnn->cuda, rnn->values, plan, args, masks, keep);
    free(masks);
    rnn->have_forward = st == RECUR_OK;
    return st;
}

recur_status recur_rnn_set_device(recur_rnn *rnn, recur_device device)
{
    if (!rnn)
        return recur_fail(RECUR_E_INVALID, "recur_rnn_set_device: NULL layer");
    if (device == RECUR_DEVICE_CPU) {
        if (rnn->cuda) {
            RECUR_TRY(rnn_cuda_download(rnn->cuda, rnn->values, NULL));
            rnn_cuda_free(rnn->cuda);
            rnn->cuda = NULL;
        }
        rnn->device = RECUR_DEVICE_CPU;
        rnn->have_forward = 0;
        return RECUR_OK;
    }
    if (device != RECUR_DEVICE_CUDA)
        return recur_fail(RECUR_E_INVALID, "unknown device %d", (int)device);
    if (rnn->cuda)
        return RECUR_OK;
    const recur_rnn_config *c = &rnn->config;
    if (c->recurrent_dropout > 0.0f || c->zoneout > 0.0f || c->layer_norm)
        return recur_fail(RECUR_E_INVALID, "recurrent dropout, zoneout and layer norm run on "
                                           "the CPU only, not with CUDA");
    const int groups = c->num_layers * rnn->directions;
    size_t (*offsets)[RNN_CUDA_PARAM_KINDS] = calloc((size_t)groups, sizeof *offsets);
    int *input_sizes = calloc((size_t)groups, sizeof *input_sizes);
    if (!offsets || !input_sizes) {
        free(offsets);
        free(input_sizes);
        return recur_fail(RECUR_E_NOMEM, "out of memory");
    }
    for (int g = 0; g < groups; g++) {
        input_sizes[g] = rnn->dirs[g].input_size;
        for (int k = 0; k < RNN_CUDA_PARAM_KINDS; k++) {
            const int index = rnn->dirs[g].param_index[k]; /* P_WEIGHT_IH.. share the order */
            offsets[g][k] = index < 0 ? RNN_CUDA_ABSENT
                                      : (size_t)(rnn->params[index].value - rnn->values);
        }
    }
    rnn_cuda_layout layout = {*c, rnn->dims, rnn->directions, rnn->param_total,
                              (const size_t(*)[RNN_CUDA_PARAM_KINDS])offsets, input_sizes};
    recur_status st = rnn_cuda_create(&layout, rnn->values, &rnn->cuda);
    free(offsets);
    free(input_sizes);
    RECUR_TRY(st);
    rnn->device = RECUR_DEVICE_CUDA;
    rnn->have_forward = 0;
    return RECUR_OK;
}

recur_device recur_rnn_get_device(const recur_rnn *rnn) { return rnn->device; }

static recur_status require_cuda(const recur_rnn *rnn, const char *what)
{
    if (!rnn)
        return recur_fail(RECUR_E_INVALID, "%s: NULL layer", what);
    if (!rnn->cuda)
        return recur_fail(RECUR_E_INVALID, "%s: the layer is not on a CUDA device", what);
    return RECUR_OK;
}

recur_status recur_rnn_set_math(recur_rnn *rnn, recur_math math)
{
    RECUR_TRY(require_cuda(rnn, "recur_rnn_set_math"));
    return rnn_cuda_set_math(rnn->cuda, math);
}

float *recur_rnn_device_params(recur_rnn *rnn) { return rnn->cuda ? rnn_cuda_params(rnn->cuda) : NULL; }
float *recur_rnn_device_grads(recur_rnn *rnn) { return rnn->cuda ? rnn_cuda_grads(rnn->cuda) : NULL; }

recur_status recur_rnn_params_to_device(recur_rnn *rnn)
{
    RECUR_TRY(require_cuda(rnn, "recur_rnn_params_to_device"));
    return rnn_cuda_upload_params(rnn->cuda, rnn->values);
}

recur_status recur_rnn_params_to_host(recur_rnn *rnn)
{
    RECUR_TRY(require_cuda(rnn, "recur_rnn_params_to_host"));
    return rnn_cuda_download(rnn->cuda, rnn->values, rnn->grads);
}

recur_status recur_rnn_forward_device(recur_rnn *rnn, const recur_rnn_forward_args *args)
{
    RECUR_TRY(require_cuda(rnn, "recur_rnn_forward_device"));
    if (!args || !args->input || !args->output)
        return recur_fail(RECUR_E_INVALID, "recur_rnn_forward_device: NULL input or output");
    if (args->c0 && rnn->config.cell != RECUR_LSTM)
        return recur_fail(RECUR_E_INVALID, "c0 is given but the layer is not an LSTM");
    RECUR_TRY(check_batch_size(rnn, args->seq_len, args->batch));
    rnn->have_forward = 0;
    rnn->forward_no_grad = rnn->no_grad;
    RECUR_TRY(recur_pack_plan_build(&rnn->plan, args->seq_len, args->batch, args->lengths));
    return forward_cuda(rnn, args, 1);
}

static void layer_grads_ready(const recur_rnn *rnn, int layer);

/* RECUR_E_STATE unless the last forward kept what a backward reads. */
static recur_status check_backward(const recur_rnn *rnn)
{
    if (!rnn->have_forward)
        return recur_fail(RECUR_E_STATE, "recur_rnn_backward called without a forward pass");
    if (rnn->forward_no_grad)
        return recur_fail(RECUR_E_STATE, "recur_rnn_backward after a forward with gradients "
                                         "off (recur_rnn_set_grad_enabled)");
    return RECUR_OK;
}

/* rnn_cuda_backward's layer_done: the grad_ready hook for that layer. */
static void device_layer_done(void *context, int layer)
{
    layer_grads_ready(context, layer);
}

recur_status recur_rnn_backward_device(recur_rnn *rnn, const recur_rnn_backward_args *args)
{
    RECUR_TRY(require_cuda(rnn, "recur_rnn_backward_device"));
    if (!args)
        return recur_fail(RECUR_E_INVALID, "recur_rnn_backward_device: NULL argument");
    RECUR_TRY(check_backward(rnn));
    return rnn_cuda_backward(rnn->cuda, args, rnn->grad_ready ? device_layer_done : NULL, rnn);
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
    rnn->forward_no_grad = rnn->no_grad;
    recur_pack_plan *plan = &rnn->plan;
    RECUR_TRY(recur_pack_plan_build(plan, args->seq_len, args->batch, args->lengths));

    if (rnn->cuda)
        return forward_cuda(rnn, args, 0);
    const int D = rnn->directions, Hout = rnn->dims.out, H = rnn->dims.hidden;
    const int B = args->batch;
    const size_t N = plan->rows;
    RECUR_TRY(recur_buffer_reserve(&rnn->input_packed, N * (size_t)c->input_size));
    recur_pack_sequence(plan, args->input, c->input_size, c->batch_first, rnn->input_packed.data);
    rnn->dims.rec_dropout = rnn->training && c->recurrent_dropout > 0.0f;
    rnn->dims.zoneout = c->zoneout > 0.0f;
    rnn->dims.layer_norm = c->layer_norm;
    rnn->dropout_active = rnn->training && c->dropout > 0.0f && c->num_layers > 1;

    for (int layer = 0; layer < c->num_layers; layer++) {
        recur_buffer *y = &rnn->layer_output[layer];
        RECUR_TRY(recur_buffer_reserve(y, N * (size_t)(D * Hout)));
        const float *x = layer_input(rnn, layer);
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
            RECUR_TRY(fill_masks(rnn, saved, args->batch));
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
        if (rnn->dropout_active && layer < c->num_layers - 1) {
            /* Inverted dropout of this layer's output (both directions). */
            const size_t n = N * (size_t)(D * Hout);
            RECUR_TRY(recur_buffer_reserve(&rnn->drop_mask[layer], n));
            RECUR_TRY(recur_buffer_reserve(&rnn->drop_output[layer], n));
            float *mask = rnn->drop_mask[layer].data, *out = rnn->drop_output[layer].data;
            recur_rng_dropout_mask(&rnn->mask_rng, mask, n, c->dropout);
            for (size_t i = 0; i < n; i++)
                out[i] = y->data[i] * mask[i];
        }
    }
    recur_unpack_sequence(plan, rnn->layer_output[c->num_layers - 1].data, D * Hout,
                          c->batch_first, args->output);
    rnn->have_forward = 1;
    return RECUR_OK;
}

void recur_rnn_set_grad_ready(recur_rnn *rnn, recur_grad_ready_fn fn, void *context)
{
    if (!rnn)
        return;
    rnn->grad_ready = fn;
    rnn->grad_ready_context = context;
}

/* Tells the grad_ready hook that layer `layer`'s gradients are final: its
 * parameters' indexes in runs of consecutive ones (one run in state_dict
 * order). */
static void layer_grads_ready(const recur_rnn *rnn, int layer)
{
    if (!rnn->grad_ready)
        return;
    int indexes[2 * P_KINDS], n = 0;
    for (int d = 0; d < rnn->directions; d++)
        for (int k = 0; k < P_KINDS; k++)
            if (rnn->dirs[layer * rnn->directions + d].param_index[k] >= 0)
                indexes[n++] = rnn->dirs[layer * rnn->directions + d].param_index[k];
    for (int i = 1; i < n; i++) /* insertion sort of at most 2 * P_KINDS */
        for (int j = i; j > 0 && indexes[j - 1] > indexes[j]; j--) {
            int swap = indexes[j];
            indexes[j] = indexes[j - 1];
            indexes[j - 1] = swap;
        }
    for (int start = 0, i = 1; i <= n; i++)
        if (i == n || indexes[i] != indexes[i - 1] + 1) {
            rnn->grad_ready(rnn->grad_ready_context, indexes[start], i - start);
            start = i;
        }
}

recur_status recur_rnn_backward(recur_rnn *rnn, const recur_rnn_backward_args *args)
{
    if (!rnn || !args)
        return recur_fail(RECUR_E_INVALID, "recur_rnn_backward: NULL argument");
    RECUR_TRY(check_backward(rnn));
    if (rnn->cuda) {
        rnn->host_grads_used = 1;
        RECUR_TRY(rnn_cuda_backward_host(rnn->cuda, args, rnn->grads));
        if (rnn->grad_ready && rnn->param_count > 0)
            rnn->grad_ready(rnn->grad_ready_context, 0, rnn->param_count);
        return RECUR_OK;
    }
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
        const float *x = layer_input(rnn, layer);
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
        layer_grads_ready(rnn, layer);
        if (layer > 0 && rnn->dropout_active) {
            const float *mask = rnn->drop_mask[layer - 1].data;
            for (size_t i = 0; i < N * (size_t)(D * Hout); i++)
                grad_x[i] *= mask[i];
        }
        float *swap = grad_y;
        grad_y = grad_x;
        grad_x = swap;
    }
    if (args->grad_input)
        recur_unpack_sequence(plan, grad_y, c->input_size, c->batch_first, args->grad_input);
    return RECUR_OK;
}

/* ---- test hooks (nn/rnn_internal.h) ---- */

const recur_pack_plan *rnn_internal_plan(const recur_rnn *rnn) { return &rnn->plan; }

const float *rnn_internal_dropout_mask(const recur_rnn *rnn, int layer)
{
    if (!rnn->have_forward || !rnn->dropout_active || layer < 0 ||
        layer >= rnn->config.num_layers - 1)
        return NULL;
    return rnn->drop_mask[layer].data;
}

const float *rnn_internal_recurrent_mask(const recur_rnn *rnn, int layer, int direction)
{
    if (!rnn->have_forward || !rnn->dims.rec_dropout)
        return NULL;
    return rnn->dirs[layer * rnn->directions + direction].saved.rec_mask.data;
}

const float *rnn_internal_zoneout_mask(const recur_rnn *rnn, int layer, int direction, int cell)
{
    if (!rnn->have_forward || !rnn->dims.zoneout || (cell && rnn->config.cell != RECUR_LSTM))
        return NULL;
    const rnn_saved *s = &rnn->dirs[layer * rnn->directions + direction].saved;
    return cell ? s->zone_c.data : s->zone_h.data;
}
