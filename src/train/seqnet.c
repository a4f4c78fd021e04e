/* A sequence-to-vector network: recurrent stack -> pooling over time ->
 * Linear head. The model behind forecasting (one window -> H future values)
 * and sequence classification (one sequence -> class logits). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/rng.h"
#include "core/status.h"
#include "io/param_io.h"
#include "train/grad_hook.h"
#include "train/seqnet_pool.h"

#define MAX_SEQNET_PARAMS 512

struct recur_seqnet {
    recur_seqnet_config config;
    recur_embedding *embedding; /* when config.vocab_size > 0 */
    recur_buffer embedded;      /* [T, B, I] */
    recur_buffer grad_embedded;
    recur_rnn *rnn;
    recur_linear *head;
    recur_attention *attention; /* RECUR_POOL_ATTENTION */
    recur_buffer ones, attn_weights, grad_keys, grad_values;
    int features;            /* D * Hout: width of the stack's output */
    /* the last forward */
    int seq_len, batch;
    int64_t *lengths;        /* [B] copy, NULL when all are T */
    recur_buffer output;     /* [T, B, F] */
    recur_buffer h_n, c_n;   /* [L*D, B, Hout], [L*D, B, H] */
    recur_buffer pooled;     /* [B, F] */
    recur_buffer result;     /* [B, O] */
    int *argmax;             /* [B, F] time index chosen by max pooling */
    int from_ids;            /* the last forward went through the embedding */
    int training;
    recur_rng rng;           /* input dropout masks */
    recur_buffer dropped;    /* [T, B, I] the input after dropout */
    recur_buffer input_mask; /* [T, B, I] 0 or 1/(1-p) */
    int masked;              /* the last forward applied input_mask */
    size_t argmax_capacity;
    recur_buffer grad_pooled, grad_output, grad_h_n;
    grad_hook grad_ready;    /* recur_seqnet_set_grad_ready */
    char names[MAX_SEQNET_PARAMS][48];
};

recur_seqnet_config recur_seqnet_config_default(recur_cell cell, int input_size, int hidden_size,
                                                int output_size)
{
    recur_seqnet_config c = {0};
    c.rnn = recur_rnn_config_default(cell, input_size, hidden_size);
    c.pool = RECUR_POOL_LAST;
    c.output_size = output_size;
    c.padding_idx = -1;
    return c;
}

static recur_status seqnet_build(const recur_seqnet_config *config, uint64_t seed,
                                 recur_seqnet **out)
{
    if (!config || !out)
        return recur_fail(RECUR_E_INVALID, "seqnet: NULL argument");
    *out = NULL;
    if (config->rnn.batch_first)
        return recur_fail(RECUR_E_INVALID, "seqnet: inputs are time-major (batch_first must be 0)");
    if (!(config->input_dropout >= 0.0f && config->input_dropout < 1.0f))
        return recur_fail(RECUR_E_INVALID, "seqnet: input_dropout %g outside [0, 1)",
                          (double)config->input_dropout);
    if (config->pool < RECUR_POOL_LAST || config->pool > RECUR_POOL_ATTENTION)
        return recur_fail(RECUR_E_INVALID, "seqnet: unknown pooling %d", (int)config->pool);
    recur_seqnet *net = calloc(1, sizeof *net);
    if (!net)
        return recur_fail(RECUR_E_NOMEM, "seqnet: out of memory");
    net->config = *config;
    recur_rng_seed(&net->rng, seed + 3);
    const recur_rnn_config *rc = &config->rnn;
    int hout = rc->proj_size ? rc->proj_size : rc->hidden_size;
    net->features = (rc->bidirectional ? 2 : 1) * hout;
    recur_status st = RECUR_OK;
    if (config->vocab_size > 0)
        st = recur_embedding_create(config->vocab_size, rc->input_size, config->padding_idx, seed + 2,
                                    &net->embedding);
    if (st == RECUR_OK)
        st = recur_rnn_create(rc, seed, &net->rnn);
    if (st == RECUR_OK)
        st = recur_linear_create(net->features, config->output_size, 1, seed + 1, &net->head);
    if (st == RECUR_OK && config->pool == RECUR_POOL_ATTENTION) {
        /* score_t = v . tanh(W_k h_t + W_q 1 + b): a learned context vector
         * (Yang et al. 2016) as additive attention with the constant query 1 */
        recur_attention_config ac = {RECUR_ATTN_ADDITIVE, 1, net->features, net->features,
                                     net->features, 1};
        st = recur_attention_create(&ac, seed + 4, &net->attention);
    }
    if (st == RECUR_OK && recur_seqnet_param_count(net) > MAX_SEQNET_PARAMS)
        st = recur_fail(RECUR_E_INVALID, "seqnet: too many layers");
    if (st != RECUR_OK) {
        recur_seqnet_free(net);
        return st;
    }
    *out = net;
    return RECUR_OK;
}

recur_status recur_seqnet_create(const recur_seqnet_config *config, uint64_t seed,
                                 recur_seqnet **out)
{
    return seqnet_build(config, seed, out);
}

void recur_seqnet_free(recur_seqnet *net)
{
    if (!net)
        return;
    recur_embedding_free(net->embedding);
    recur_rnn_free(net->rnn);
    recur_linear_free(net->head);
    recur_attention_free(net->attention);
    recur_buffer *attn_buffers[] = {&net->ones, &net->attn_weights, &net->grad_keys,
                                    &net->grad_values};
    for (size_t i = 0; i < 4; i++)
        recur_buffer_release(attn_buffers[i]);
    recur_buffer *buffers[] = {&net->output,      &net->h_n,           &net->c_n,
                               &net->pooled,      &net->result,        &net->grad_pooled,
                               &net->grad_output, &net->grad_h_n,      &net->embedded,
                               &net->grad_embedded, &net->dropped,     &net->input_mask};
    for (size_t i = 0; i < sizeof buffers / sizeof buffers[0]; i++)
        recur_buffer_release(buffers[i]);
    free(net->lengths);
    free(net->argmax);
    free(net);
}

const recur_seqnet_config *recur_seqnet_get_config(const recur_seqnet *net)
{
    return &net->config;
}

int recur_seqnet_param_count(const recur_seqnet *net)
{
    return (net->embedding ? 1 : 0) + recur_rnn_param_count(net->rnn) +
           (net->attention ? recur_attention_param_count(net->attention) : 0) +
           recur_linear_param_count(net->head);
}

recur_status recur_seqnet_param(const recur_seqnet *net, int index, recur_param *out)
{
    if (!net || !out || index < 0 || index >= recur_seqnet_param_count(net))
        return recur_fail(RECUR_E_INVALID, "seqnet: parameter index %d out of range", index);
    int rnn_count = recur_rnn_param_count(net->rnn);
    const char *prefix;
    const int name_index = index;
    if (net->embedding) {
        if (index == 0) {
            RECUR_TRY(recur_embedding_param(net->embedding, out));
            prefix = "embedding.";
            goto named;
        }
        index--;
    }
    int attention_count = net->attention ? recur_attention_param_count(net->attention) : 0;
    if (index < rnn_count) {
        RECUR_TRY(recur_rnn_param(net->rnn, index, out));
        prefix = "rnn.";
    } else if (index < rnn_count + attention_count) {
        RECUR_TRY(recur_attention_param(net->attention, index - rnn_count, out));
        prefix = "pool.";
    } else {
        RECUR_TRY(recur_linear_param(net->head, index - rnn_count - attention_count, out));
        prefix = "head.";
    }
named:;
    char *name = ((recur_seqnet *)net)->names[name_index];
    snprintf(name, sizeof net->names[0], "%s%s", prefix, out->name);
    out->name = name;
    return RECUR_OK;
}

void recur_seqnet_zero_grad(recur_seqnet *net)
{
    if (net->embedding)
        recur_embedding_zero_grad(net->embedding);
    recur_rnn_zero_grad(net->rnn);
    recur_linear_zero_grad(net->head);
    if (net->attention)
        recur_attention_zero_grad(net->attention);
}

void recur_seqnet_set_training(recur_seqnet *net, int training)
{
    net->training = training != 0;
    recur_rnn_set_training(net->rnn, training);
}

void recur_seqnet_get_rng_state(const recur_seqnet *net, uint64_t state[8])
{
    recur_rnn_get_rng_state(net->rnn, state);
    memcpy(state + 4, net->rng.state, sizeof net->rng.state);
}

recur_status recur_seqnet_set_rng_state(recur_seqnet *net, const uint64_t state[8])
{
    RECUR_TRY(recur_rnn_set_rng_state(net->rnn, state));
    if (!(state[4] | state[5] | state[6] | state[7]))
        return recur_fail(RECUR_E_INVALID, "seqnet_set_rng_state: all-zero generator state");
    memcpy(net->rng.state, state + 4, sizeof net->rng.state);
    return RECUR_OK;
}

/* Inverted dropout on the input in training mode; returns what the stack reads. */
static recur_status input_dropout(recur_seqnet *net, size_t count, const float **input)
{
    float p = net->config.input_dropout;
    net->masked = net->training && p > 0.0f;
    if (!net->masked)
        return RECUR_OK;
    RECUR_TRY(recur_buffer_reserve(&net->dropped, count));
    RECUR_TRY(recur_buffer_reserve(&net->input_mask, count));
    recur_rng_dropout_mask(&net->rng, net->input_mask.data, count, p);
    for (size_t k = 0; k < count; k++)
        net->dropped.data[k] = (*input)[k] * net->input_mask.data[k];
    *input = net->dropped.data;
    return RECUR_OK;
}

recur_rnn *recur_seqnet_rnn(recur_seqnet *net) { return net->rnn; }

recur_status recur_seqnet_set_device(recur_seqnet *net, recur_device device)
{
    if (!net)
        return recur_fail(RECUR_E_INVALID, "recur_seqnet_set_device: NULL model");
    return recur_rnn_set_device(net->rnn, device);
}

const float *recur_seqnet_attention_weights(const recur_seqnet *net)
{
    return net->attention && net->seq_len ? net->attn_weights.data : NULL;
}

/* Number of valid steps of sequence b. */
static int valid_steps(const recur_seqnet *net, int b)
{
    return net->lengths ? (int)net->lengths[b] : net->seq_len;
}

int seqnet_max_step(const float *column, size_t stride, int steps)
{
    int best = 0;
    for (int t = 1; t < steps && !isnan(column[(size_t)best * stride]); t++) {
        float value = column[(size_t)t * stride];
        if (isnan(value) || value > column[(size_t)best * stride])
            best = t;
    }
    return best;
}

/* pooled [B, F] from output [T, B, F] (or h_n for LAST). */
static recur_status pool_forward(recur_seqnet *net)
{
    const int T = net->seq_len, B = net->batch, F = net->features;
    const recur_rnn_config *rc = &net->config.rnn;
    float *pooled = net->pooled.data;
    const float *out = net->output.data;
    if (net->config.pool == RECUR_POOL_LAST) {
        /* the top layer's final states: forward direction's, then reverse's */
        int hout = rc->proj_size ? rc->proj_size : rc->hidden_size;
        int dirs = rc->bidirectional ? 2 : 1, top = (rc->num_layers - 1) * dirs;
        for (int b = 0; b < B; b++)
            for (int d = 0; d < dirs; d++)
                memcpy(pooled + (size_t)b * F + (size_t)d * hout,
                       net->h_n.data + ((size_t)(top + d) * B + b) * hout, hout * sizeof(float));
        return RECUR_OK;
    }
    if (net->config.pool == RECUR_POOL_ATTENTION) {
        RECUR_TRY(recur_buffer_reserve(&net->ones, (size_t)B));
        RECUR_TRY(recur_buffer_reserve(&net->attn_weights, (size_t)B * (size_t)T));
        for (int b = 0; b < B; b++)
            net->ones.data[b] = 1.0f;
        recur_attention_forward_args a = {B,         1,       T, net->ones.data, out, out,
                                          net->lengths, pooled, net->attn_weights.data};
        return recur_attention_forward(net->attention, &a);
    }
    if (net->config.pool == RECUR_POOL_MAX) {
        size_t need = (size_t)B * (size_t)F;
        if (need > net->argmax_capacity) {
            int *grown = realloc(net->argmax, need * sizeof(int));
            if (!grown)
                return recur_fail(RECUR_E_NOMEM, "seqnet: out of memory");
            net->argmax = grown, net->argmax_capacity = need;
        }
    }
    for (int b = 0; b < B; b++) {
        int steps = valid_steps(net, b);
        float *p = pooled + (size_t)b * F;
        for (int f = 0; f < F; f++) {
            if (net->config.pool == RECUR_POOL_MEAN) {
                double sum = 0;
                for (int t = 0; t < steps; t++)
                    sum += out[((size_t)t * B + b) * F + f];
                p[f] = (float)(sum / steps);
            } else {
                int best = seqnet_max_step(out + (size_t)b * F + f, (size_t)B * F, steps);
                net->argmax[(size_t)b * F + f] = best;
                p[f] = out[((size_t)best * B + b) * F + f];
            }
        }
    }
    (void)T;
    return RECUR_OK;
}

recur_status recur_seqnet_forward_ids(recur_seqnet *net, int seq_len, int batch,
                                      const int64_t *ids, const int64_t *lengths,
                                      const float **result)
{
    if (net)
        net->seq_len = 0; /* no forward to go back through until this one succeeds */
    if (!net || !ids || !result || seq_len < 1 || batch < 1)
        return recur_fail(RECUR_E_INVALID, "seqnet_forward_ids: bad arguments");
    if (!net->embedding)
        return recur_fail(RECUR_E_INVALID, "seqnet_forward_ids: the network has no embedding "
                                           "(vocab_size 0)");
    size_t rows = (size_t)seq_len * (size_t)batch;
    RECUR_TRY(recur_buffer_reserve(&net->embedded, rows * (size_t)net->config.rnn.input_size));
    RECUR_TRY(recur_embedding_forward(net->embedding, (int)rows, ids, net->embedded.data));
    RECUR_TRY(recur_seqnet_forward(net, seq_len, batch, net->embedded.data, lengths, result));
    net->from_ids = 1;
    return RECUR_OK;
}

recur_status recur_seqnet_forward(recur_seqnet *net, int seq_len, int batch, const float *input,
                                  const int64_t *lengths, const float **result)
{
    if (net)
        net->seq_len = 0; /* no forward to go back through until this one succeeds */
    if (!net || !input || !result || seq_len < 1 || batch < 1)
        return recur_fail(RECUR_E_INVALID, "seqnet_forward: bad arguments");
    net->from_ids = 0;
    const int F = net->features, O = net->config.output_size;
    size_t rows = (size_t)seq_len * (size_t)batch;
    RECUR_TRY(recur_buffer_reserve(&net->output, rows * (size_t)F));
    RECUR_TRY(recur_buffer_reserve(&net->h_n, recur_rnn_state_numel(net->rnn, batch)));
    RECUR_TRY(recur_buffer_reserve(&net->c_n, recur_rnn_cell_state_numel(net->rnn, batch) + 1));
    RECUR_TRY(recur_buffer_reserve(&net->pooled, (size_t)batch * (size_t)F));
    RECUR_TRY(recur_buffer_reserve(&net->result, (size_t)batch * (size_t)O));
    free(net->lengths);
    net->lengths = NULL;
    if (lengths) {
        if (!(net->lengths = malloc((size_t)batch * sizeof(int64_t))))
            return recur_fail(RECUR_E_NOMEM, "seqnet: out of memory");
        memcpy(net->lengths, lengths, (size_t)batch * sizeof(int64_t));
    }
    RECUR_TRY(input_dropout(net, rows * (size_t)net->config.rnn.input_size, &input));
    int is_lstm = net->config.rnn.cell == RECUR_LSTM;
    recur_rnn_forward_args fwd = {seq_len,           batch, input, lengths, NULL, NULL,
                                  net->output.data, net->h_n.data, is_lstm ? net->c_n.data : NULL};
    RECUR_TRY(recur_rnn_forward(net->rnn, &fwd));
    net->seq_len = seq_len, net->batch = batch; /* pool_forward reads them */
    recur_status st = pool_forward(net);
    if (st == RECUR_OK)
        st = recur_linear_forward(net->head, batch, net->pooled.data, net->result.data);
    if (st != RECUR_OK) {
        net->seq_len = 0;
        return st;
    }
    *result = net->result.data;
    return RECUR_OK;
}

const float *recur_seqnet_outputs(const recur_seqnet *net)
{
    return net->seq_len ? net->output.data : NULL;
}

/* Index of the stack's first parameter, and of the attention's. */
static int rnn_first(const recur_seqnet *net) { return net->embedding ? 1 : 0; }

static int attention_first(const recur_seqnet *net)
{
    return rnn_first(net) + recur_rnn_param_count(net->rnn);
}

static int head_first(const recur_seqnet *net)
{
    return attention_first(net) +
           (net->attention ? recur_attention_param_count(net->attention) : 0);
}

void recur_seqnet_set_grad_ready(recur_seqnet *net, recur_grad_ready_fn fn, void *context)
{
    if (net)
        grad_hook_set(&net->grad_ready, net->rnn, rnn_first(net), fn, context);
}

recur_status recur_seqnet_backward(recur_seqnet *net, const float *grad_result, float *grad_input)
{
    return recur_seqnet_backward_outputs(net, grad_result, NULL, grad_input);
}

recur_status recur_seqnet_backward_outputs(recur_seqnet *net, const float *grad_result,
                                           const float *grad_outputs, float *grad_input)
{
    if (!net || !grad_result)
        return recur_fail(RECUR_E_INVALID, "seqnet_backward: NULL argument");
    if (!net->seq_len)
        return recur_fail(RECUR_E_STATE, "seqnet_backward called without a forward pass");
    const int T = net->seq_len, B = net->batch, F = net->features;
    const recur_rnn_config *rc = &net->config.rnn;
    RECUR_TRY(recur_buffer_reserve(&net->grad_pooled, (size_t)B * (size_t)F));
    RECUR_TRY(recur_linear_backward(net->head, grad_result, net->grad_pooled.data));
    grad_hook_ready(&net->grad_ready, head_first(net), recur_seqnet_param_count(net));
    if (net->from_ids) {
        RECUR_TRY(recur_buffer_reserve(&net->grad_embedded, (size_t)T * (size_t)B *
                                                                 (size_t)rc->input_size));
        grad_input = net->grad_embedded.data;
    }
    recur_rnn_backward_args bwd = {NULL, NULL, NULL, grad_input, NULL, NULL};
    const float *gp = net->grad_pooled.data;
    if (net->config.pool == RECUR_POOL_LAST) {
        size_t n = recur_rnn_state_numel(net->rnn, B);
        RECUR_TRY(recur_buffer_reserve(&net->grad_h_n, n));
        memset(net->grad_h_n.data, 0, n * sizeof(float));
        int hout = rc->proj_size ? rc->proj_size : rc->hidden_size;
        int dirs = rc->bidirectional ? 2 : 1, top = (rc->num_layers - 1) * dirs;
        for (int b = 0; b < B; b++)
            for (int d = 0; d < dirs; d++)
                memcpy(net->grad_h_n.data + ((size_t)(top + d) * B + b) * hout,
                       gp + (size_t)b * F + (size_t)d * hout, hout * sizeof(float));
        bwd.grad_h_n = net->grad_h_n.data;
        bwd.grad_output = grad_outputs;
    } else if (net->config.pool == RECUR_POOL_ATTENTION) {
        size_t n = (size_t)T * (size_t)B * (size_t)F;
        RECUR_TRY(recur_buffer_reserve(&net->grad_output, n));
        RECUR_TRY(recur_buffer_reserve(&net->grad_values, n));
        recur_attention_backward_args a = {gp, NULL, NULL, net->grad_output.data,
                                           net->grad_values.data};
        RECUR_TRY(recur_attention_backward(net->attention, &a));
        grad_hook_ready(&net->grad_ready, attention_first(net), head_first(net));
        for (size_t k = 0; k < n; k++) /* keys and values are both the outputs */
            net->grad_output.data[k] += net->grad_values.data[k];
        bwd.grad_output = net->grad_output.data;
    } else {
        size_t n = (size_t)T * (size_t)B * (size_t)F;
        RECUR_TRY(recur_buffer_reserve(&net->grad_output, n));
        float *go = net->grad_output.data;
        memset(go, 0, n * sizeof(float));
        for (int b = 0; b < B; b++) {
            int steps = valid_steps(net, b);
            for (int f = 0; f < F; f++) {
                float g = gp[(size_t)b * F + f];
                if (net->config.pool == RECUR_POOL_MEAN)
                    for (int t = 0; t < steps; t++)
                        go[((size_t)t * B + b) * F + f] = g / (float)steps;
                else
                    go[((size_t)net->argmax[(size_t)b * F + f] * B + b) * F + f] = g;
            }
        }
        bwd.grad_output = go;
    }
    if (grad_outputs && net->config.pool != RECUR_POOL_LAST) {
        size_t n = (size_t)T * (size_t)B * (size_t)F;
        for (size_t k = 0; k < n; k++)
            net->grad_output.data[k] += grad_outputs[k];
    }
    RECUR_TRY(recur_rnn_backward(net->rnn, &bwd));
    if (net->masked && grad_input) {
        size_t count = (size_t)T * (size_t)B * (size_t)rc->input_size;
        for (size_t k = 0; k < count; k++)
            grad_input[k] *= net->input_mask.data[k];
    }
    if (net->from_ids)
        RECUR_TRY(recur_embedding_backward(net->embedding, net->grad_embedded.data));
    grad_hook_ready(&net->grad_ready, 0, rnn_first(net));
    return RECUR_OK;
}

static const char *pool_names[] = {"last", "mean", "max", "attention"};

recur_status recur_seqnet_write(const recur_seqnet *net, recur_st_writer *w)
{
    if (!net || !w)
        return recur_fail(RECUR_E_INVALID, "seqnet_write: NULL argument");
    RECUR_TRY(recur_rnn_write(net->rnn, w, "rnn."));
    RECUR_TRY(recur_st_writer_set_metadata(w, "recur.model", "seqnet"));
    RECUR_TRY(recur_st_writer_set_metadata(w, "pool", pool_names[net->config.pool]));
    char number[32];
    snprintf(number, sizeof number, "%d", net->config.output_size);
    RECUR_TRY(recur_st_writer_set_metadata(w, "output_size", number));
    snprintf(number, sizeof number, "%.9g", (double)net->config.input_dropout);
    RECUR_TRY(recur_st_writer_set_metadata(w, "input_dropout", number));
    if (net->embedding) {
        recur_param p;
        RECUR_TRY(recur_embedding_param(net->embedding, &p));
        RECUR_TRY(recur_st_writer_add(w, "embedding.weight", RECUR_F32, 2, p.shape, p.value));
        snprintf(number, sizeof number, "%d", net->config.padding_idx);
        RECUR_TRY(recur_st_writer_set_metadata(w, "padding_idx", number));
    }
    /* the head and the attention pooling, under their parameter names */
    int first = (net->embedding ? 1 : 0) + recur_rnn_param_count(net->rnn);
    for (int i = first; i < recur_seqnet_param_count(net); i++) {
        recur_param p;
        RECUR_TRY(recur_seqnet_param(net, i, &p));
        RECUR_TRY(recur_param_write(w, &p));
    }
    return RECUR_OK;
}

/* input_dropout from the metadata: 0 when absent (files of older versions);
 * the range is checked by seqnet_build. */
static recur_status read_input_dropout(const recur_st_file *f, float *out)
{
    const char *text = recur_st_metadata(f, "input_dropout");
    *out = 0.0f;
    if (!text)
        return RECUR_OK;
    char *end = NULL;
    double value = strtod(text, &end);
    if (end == text || *end)
        return recur_fail(RECUR_E_FORMAT, "%s: metadata input_dropout = '%.40s' is not a number",
                          recur_st_label(f), text);
    *out = (float)value;
    return RECUR_OK;
}

/* The metadata padding_idx: the whole text an integer in -1..vocab_size-1. */
static int parse_padding_idx(const char *text, int vocab_size, int *padding_idx)
{
    char *end = NULL;
    long value = strtol(text, &end, 10);
    const int starts_right = *text == '-' || (*text >= '0' && *text <= '9');
    if (!starts_right || *end || value < -1 || value >= vocab_size)
        return 0;
    *padding_idx = (int)value;
    return 1;
}

recur_status recur_seqnet_read(const recur_st_file *f, recur_seqnet **out)
{
    if (!f || !out)
        return recur_fail(RECUR_E_INVALID, "seqnet_read: NULL argument");
    *out = NULL;
    const char *label = recur_st_label(f);
    const char *model = recur_st_metadata(f, "recur.model");
    if (!model || strcmp(model, "seqnet") != 0)
        return recur_fail(RECUR_E_FORMAT, "%s: not a recur sequence model (recur.model = seqnet)",
                          label);
    recur_rnn *rnn;
    RECUR_TRY(recur_rnn_read(f, "rnn.", &rnn));
    recur_seqnet_config c = {0};
    c.rnn = *recur_rnn_get_config(rnn);
    recur_rnn_free(rnn);
    const char *pool = recur_st_metadata(f, "pool"), *size = recur_st_metadata(f, "output_size");
    c.pool = (recur_pool)-1;
    for (int i = 0; pool && i < 4; i++)
        if (!strcmp(pool, pool_names[i]))
            c.pool = (recur_pool)i;
    char *end = NULL;
    long output_size = size ? strtol(size, &end, 10) : 0;
    if ((int)c.pool < 0 || !size || *end || output_size < 1 || output_size > (1 << 24))
        return recur_fail(RECUR_E_FORMAT, "%s: metadata pool or output_size missing or invalid",
                          label);
    c.output_size = (int)output_size;
    RECUR_TRY(read_input_dropout(f, &c.input_dropout));
    c.padding_idx = -1;
    const recur_tensor_view *table = recur_st_find(f, "embedding.weight");
    if (table) {
        const char *pad = recur_st_metadata(f, "padding_idx");
        if (table->ndim != 2 || table->shape[0] < 1 || table->shape[0] > (1 << 24) ||
            table->shape[1] != c.rnn.input_size)
            return recur_fail(RECUR_E_SHAPE, "%s: embedding.weight does not match input_size",
                              label);
        c.vocab_size = (int)table->shape[0];
        if (pad && !parse_padding_idx(pad, c.vocab_size, &c.padding_idx))
            return recur_fail(RECUR_E_FORMAT,
                              "%s: metadata padding_idx \"%.40s\" is not an integer in -1..%d",
                              label, pad, c.vocab_size - 1);
    }
    recur_seqnet *net;
    RECUR_TRY(seqnet_build(&c, 0, &net));
    recur_status st = RECUR_OK;
    for (int i = 0; st == RECUR_OK && i < recur_seqnet_param_count(net); i++) {
        recur_param p;
        if ((st = recur_seqnet_param(net, i, &p)) != RECUR_OK)
            break;
        st = recur_param_read(f, &p);
    }
    if (st != RECUR_OK) {
        recur_seqnet_free(net);
        return st;
    }
    *out = net;
    return RECUR_OK;
}
