/* A language model: Embedding -> recurrent stack -> Linear head, with the
 * hidden state carried between calls for truncated BPTT. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cuda/lm_cuda.h"
#include "core/alloc.h"
#include "core/rng.h"
#include "core/status.h"
#include "io/param_io.h"
#include "train/grad_hook.h"

#define MAX_LM_PARAMS 512

struct recur_lm {
    recur_lm_config config;
    recur_embedding *embedding;
    recur_rnn *rnn;
    recur_linear *head;
    /* carried state [L, B, H] (and c for LSTM) for the batch size state_batch */
    recur_buffer h, c;
    int state_batch, have_state;
    /* activations of the last forward */
    int seq_len, batch;
    recur_buffer embedded;  /* [T*B, E] */
    recur_buffer rnn_out;   /* [T*B, H] */
    recur_buffer logits;    /* [T*B, V] */
    recur_buffer h_n, c_n;  /* [L, B, H] */
    recur_buffer grad_rnn_out, grad_embedded;
    /* dropout on the last layer's output, training mode only */
    int training;
    recur_rng rng;
    recur_buffer output_mask; /* [T*B, H]: 0 or 1/(1-p) */
    int masked;               /* the last forward applied output_mask */
    /* CUDA: the GPU's embedding, head and carried state (lm_cuda.h); the
     * carried state is on the GPU after a device forward until set_state */
    lm_cuda *cuda;
    int state_on_device;
    grad_hook grad_ready; /* recur_lm_set_grad_ready */
    char names[MAX_LM_PARAMS][48];
};

recur_status recur_lm_create(const recur_lm_config *config, uint64_t seed, recur_lm **out)
{
    if (!config || !out)
        return recur_fail(RECUR_E_INVALID, "recur_lm_create: NULL argument");
    *out = NULL;
    recur_lm *lm = calloc(1, sizeof *lm);
    if (!lm)
        return recur_fail(RECUR_E_NOMEM, "out of memory");
    lm->config = *config;
    recur_rnn_config rc = recur_rnn_config_default(config->cell, config->embed_size,
                                                   config->hidden_size);
    rc.num_layers = config->num_layers;
    rc.dropout = config->dropout;
    rc.recurrent_dropout = config->recurrent_dropout;
    rc.zoneout = config->zoneout;
    rc.layer_norm = config->layer_norm;
    recur_rng_seed(&lm->rng, seed + 3);
    recur_status st = recur_embedding_create(config->vocab_size, config->embed_size, -1, seed,
                                             &lm->embedding);
    if (st == RECUR_OK)
        st = recur_rnn_create(&rc, seed + 1, &lm->rnn);
    if (st == RECUR_OK)
        st = recur_linear_create(config->hidden_size, config->vocab_size, 1, seed + 2, &lm->head);
    if (st == RECUR_OK && recur_lm_param_count(lm) > MAX_LM_PARAMS)
        st = recur_fail(RECUR_E_INVALID, "language model: too many layers");
    if (st != RECUR_OK) {
        recur_lm_free(lm);
        return st;
    }
    *out = lm;
    return RECUR_OK;
}

void recur_lm_free(recur_lm *lm)
{
    if (!lm)
        return;
    recur_embedding_free(lm->embedding);
    recur_rnn_free(lm->rnn);
    recur_linear_free(lm->head);
    lm_cuda_free(lm->cuda);
    recur_buffer *buffers[] = {&lm->h, &lm->c, &lm->embedded, &lm->rnn_out, &lm->logits,
                               &lm->h_n, &lm->c_n, &lm->grad_rnn_out, &lm->grad_embedded,
                               &lm->output_mask};
    for (size_t i = 0; i < sizeof buffers / sizeof buffers[0]; i++)
        recur_buffer_release(buffers[i]);
    free(lm);
}

const recur_lm_config *recur_lm_get_config(const recur_lm *lm) { return &lm->config; }

int recur_lm_param_count(const recur_lm *lm)
{
    return 1 + recur_rnn_param_count(lm->rnn) + recur_linear_param_count(lm->head);
}

recur_status recur_lm_param(const recur_lm *lm, int index, recur_param *out)
{
    int rnn_count = recur_rnn_param_count(lm->rnn);
    const char *prefix;
    if (index == 0) {
        RECUR_TRY(recur_embedding_param(lm->embedding, out));
        prefix = "embedding.";
    } else if (index <= rnn_count) {
        RECUR_TRY(recur_rnn_param(lm->rnn, index - 1, out));
        prefix = "rnn.";
    } else {
        RECUR_TRY(recur_linear_param(lm->head, index - 1 - rnn_count, out));
        prefix = "head.";
    }
    /* The name buffer is per model; names are stable for its lifetime. */
    char *name = ((recur_lm *)lm)->names[index];
    snprintf(name, sizeof lm->names[0], "%s%s", prefix, out->name);
    out->name = name;
    return RECUR_OK;
}

void recur_lm_zero_grad(recur_lm *lm)
{
    recur_embedding_zero_grad(lm->embedding);
    recur_rnn_zero_grad(lm->rnn);
    recur_linear_zero_grad(lm->head);
    if (lm->cuda)
        lm_cuda_zero_grad(lm->cuda); /* queued; cannot fail but for a lost device */
}

/* The host tensors of the embedding and the head, in lm_cuda.h's order. */
static void host_tensors(const recur_lm *lm, float *values[LM_CUDA_TENSORS],
                         float *grads[LM_CUDA_TENSORS])
{
    recur_param p;
    for (int i = 0; i < LM_CUDA_TENSORS; i++) {
        if (i == LM_CUDA_EMBEDDING)
            recur_embedding_param(lm->embedding, &p);
        else
            recur_linear_param(lm->head, i - LM_CUDA_HEAD_WEIGHT, &p);
        values[i] = p.value;
        grads[i] = p.grad;
    }
}

recur_status recur_lm_set_device(recur_lm *lm, recur_device device)
{
    if (!lm)
        return recur_fail(RECUR_E_INVALID, "recur_lm_set_device: NULL model");
    RECUR_TRY(recur_rnn_set_device(lm->rnn, device));
    if (device != RECUR_DEVICE_CUDA) {
        lm_cuda_free(lm->cuda);
        lm->cuda = NULL;
        lm->state_on_device = 0;
        return RECUR_OK;
    }
    if (lm->cuda)
        return RECUR_OK;
    float *values[LM_CUDA_TENSORS], *grads[LM_CUDA_TENSORS];
    host_tensors(lm, values, grads);
    const recur_lm_config *c = &lm->config;
    return lm_cuda_create(c->vocab_size, c->embed_size, c->hidden_size,
                          (const float *const *)values, &lm->cuda);
}

static recur_status require_cuda(const recur_lm *lm, const char *who)
{
    if (!lm || !lm->cuda)
        return recur_fail(RECUR_E_INVALID, "%s: the model is not on a CUDA device", who);
    return RECUR_OK;
}

recur_status recur_lm_params_to_device(recur_lm *lm)
{
    RECUR_TRY(require_cuda(lm, "recur_lm_params_to_device"));
    float *values[LM_CUDA_TENSORS], *grads[LM_CUDA_TENSORS];
    host_tensors(lm, values, grads);
    RECUR_TRY(recur_rnn_params_to_device(lm->rnn));
    return lm_cuda_upload(lm->cuda, (const float *const *)values);
}

recur_status recur_lm_params_to_host(recur_lm *lm)
{
    RECUR_TRY(require_cuda(lm, "recur_lm_params_to_host"));
    float *values[LM_CUDA_TENSORS], *grads[LM_CUDA_TENSORS];
    host_tensors(lm, values, grads);
    RECUR_TRY(recur_rnn_params_to_host(lm->rnn));
    return lm_cuda_download(lm->cuda, values, grads);
}

recur_status recur_lm_device_param(const recur_lm *lm, int index, recur_param *out)
{
    RECUR_TRY(require_cuda(lm, "recur_lm_device_param"));
    RECUR_TRY(recur_lm_param(lm, index, out));
    const int rnn_count = recur_rnn_param_count(lm->rnn);
    if (index == 0) {
        out->value = lm_cuda_value(lm->cuda, LM_CUDA_EMBEDDING);
        out->grad = lm_cuda_grad(lm->cuda, LM_CUDA_EMBEDDING);
    } else if (index <= rnn_count) {
        const size_t offset = (size_t)(out->value - recur_rnn_param_data(lm->rnn));
        out->value = recur_rnn_device_params(lm->rnn) + offset;
        out->grad = recur_rnn_device_grads(lm->rnn) + offset;
    } else {
        const int tensor = LM_CUDA_HEAD_WEIGHT + index - 1 - rnn_count;
        out->value = lm_cuda_value(lm->cuda, tensor);
        out->grad = lm_cuda_grad(lm->cuda, tensor);
    }
    return RECUR_OK;
}

void recur_lm_reset_state(recur_lm *lm) { lm->have_state = 0; }

void recur_lm_set_training(recur_lm *lm, int training)
{
    lm->training = training != 0;
    recur_rnn_set_training(lm->rnn, training);
}

size_t recur_lm_param_total(const recur_lm *lm)
{
    size_t total = 0;
    for (int i = 0; i < recur_lm_param_count(lm); i++) {
        recur_param p;
        if (recur_lm_param(lm, i, &p) == RECUR_OK)
            total += p.numel;
    }
    return total;
}

void recur_lm_get_rng_state(const recur_lm *lm, uint64_t state[8])
{
    recur_rnn_get_rng_state(lm->rnn, state);
    memcpy(state + 4, lm->rng.state, sizeof lm->rng.state);
}

recur_status recur_lm_set_rng_state(recur_lm *lm, const uint64_t state[8])
{
    RECUR_TRY(recur_rnn_set_rng_state(lm->rnn, state));
    if (!(state[4] | state[5] | state[6] | state[7]))
        return recur_fail(RECUR_E_INVALID, "recur_lm_set_rng_state: all-zero generator state");
    memcpy(lm->rng.state, state + 4, sizeof lm->rng.state);
    return RECUR_OK;
}

/* Draws the inverted-dropout mask of the last layer's output [count] into
 * output_mask (training mode, p > 0); lm->masked says whether it did. */
static recur_status draw_output_mask(recur_lm *lm, size_t count)
{
    float p = lm->config.dropout;
    lm->masked = lm->training && p > 0.0f;
    if (!lm->masked)
        return RECUR_OK;
    RECUR_TRY(recur_buffer_reserve(&lm->output_mask, count));
    recur_rng_dropout_mask(&lm->rng, lm->output_mask.data, count, p);
    return RECUR_OK;
}

/* Brings a carried state that a device forward left on the GPU to the host. */
static recur_status state_to_host(recur_lm *lm)
{
    if (!lm->state_on_device)
        return RECUR_OK;
    lm->state_on_device = 0;
    if (!lm->have_state)
        return RECUR_OK;
    return lm_cuda_get_state(lm->cuda, lm->h.data, lm->c.data);
}

recur_status recur_lm_forward(recur_lm *lm, int seq_len, int batch, const int64_t *ids,
                              const float **logits)
{
    if (!lm || !ids || !logits || seq_len < 1 || batch < 1)
        return recur_fail(RECUR_E_INVALID, "recur_lm_forward: bad arguments");
    const recur_lm_config *c = &lm->config;
    size_t rows = (size_t)seq_len * (size_t)batch;
    size_t state_n = recur_rnn_state_numel(lm->rnn, batch);
    size_t cell_n = recur_rnn_cell_state_numel(lm->rnn, batch);
    RECUR_TRY(recur_buffer_reserve(&lm->embedded, rows * (size_t)c->embed_size));
    RECUR_TRY(recur_buffer_reserve(&lm->rnn_out, rows * (size_t)c->hidden_size));
    RECUR_TRY(recur_buffer_reserve(&lm->logits, rows * (size_t)c->vocab_size));
    RECUR_TRY(recur_buffer_reserve(&lm->h_n, state_n));
    RECUR_TRY(recur_buffer_reserve(&lm->c_n, cell_n + 1));
    RECUR_TRY(recur_buffer_reserve(&lm->h, state_n));
    RECUR_TRY(recur_buffer_reserve(&lm->c, cell_n + 1));
    if (lm->state_batch != batch)
        lm->have_state = 0;
    RECUR_TRY(state_to_host(lm));
    RECUR_TRY(recur_embedding_forward(lm->embedding, (int)rows, ids, lm->embedded.data));
    recur_rnn_forward_args fwd = {seq_len,
                                  batch,
                                  lm->embedded.data,
                                  NULL,
                                  lm->have_state ? lm->h.data : NULL,
                                  lm->have_state && cell_n ? lm->c.data : NULL,
                                  lm->rnn_out.data,
                                  lm->h_n.data,
                                  cell_n ? lm->c_n.data : NULL};
    RECUR_TRY(recur_rnn_forward(lm->rnn, &fwd));
    RECUR_TRY(draw_output_mask(lm, rows * (size_t)c->hidden_size));
    for (size_t k = 0; lm->masked && k < rows * (size_t)c->hidden_size; k++)
        lm->rnn_out.data[k] *= lm->output_mask.data[k];
    RECUR_TRY(recur_linear_forward(lm->head, (int)rows, lm->rnn_out.data, lm->logits.data));
    /* Carry the final state (detached) to the next chunk. */
    memcpy(lm->h.data, lm->h_n.data, state_n * sizeof(float));
    if (cell_n)
        memcpy(lm->c.data, lm->c_n.data, cell_n * sizeof(float));
    lm->state_batch = batch;
    lm->have_state = 1;
    lm->seq_len = seq_len, lm->batch = batch;
    *logits = lm->logits.data;
    return RECUR_OK;
}

void recur_lm_set_grad_ready(recur_lm *lm, recur_grad_ready_fn fn, void *context)
{
    if (lm)
        grad_hook_set(&lm->grad_ready, lm->rnn, 1, fn, context);
}

recur_status recur_lm_backward(recur_lm *lm, const float *grad_logits)
{
    if (!lm || !grad_logits)
        return recur_fail(RECUR_E_INVALID, "recur_lm_backward: NULL argument");
    if (!lm->seq_len)
        return recur_fail(RECUR_E_STATE, "recur_lm_backward called without a forward pass");
    size_t rows = (size_t)lm->seq_len * (size_t)lm->batch;
    RECUR_TRY(recur_buffer_reserve(&lm->grad_rnn_out, rows * (size_t)lm->config.hidden_size));
    RECUR_TRY(recur_buffer_reserve(&lm->grad_embedded, rows * (size_t)lm->config.embed_size));
    RECUR_TRY(recur_linear_backward(lm->head, grad_logits, lm->grad_rnn_out.data));
    grad_hook_ready(&lm->grad_ready, 1 + recur_rnn_param_count(lm->rnn), recur_lm_param_count(lm));
    if (lm->masked) {
        size_t count = rows * (size_t)lm->config.hidden_size;
        for (size_t k = 0; k < count; k++)
            lm->grad_rnn_out.data[k] *= lm->output_mask.data[k];
    }
    recur_rnn_backward_args bwd = {lm->grad_rnn_out.data, NULL, NULL, lm->grad_embedded.data,
                                   NULL, NULL};
    RECUR_TRY(recur_rnn_backward(lm->rnn, &bwd));
    RECUR_TRY(recur_embedding_backward(lm->embedding, lm->grad_embedded.data));
    grad_hook_ready(&lm->grad_ready, 0, 1);
    return RECUR_OK;
}

recur_status recur_lm_forward_device(recur_lm *lm, int seq_len, int batch, const int64_t *ids,
                                     const float **logits)
{
    if (!lm || !ids || !logits || seq_len < 1 || batch < 1)
        return recur_fail(RECUR_E_INVALID, "recur_lm_forward_device: bad arguments");
    RECUR_TRY(require_cuda(lm, "recur_lm_forward_device"));
    const size_t rows = (size_t)seq_len * (size_t)batch;
    const size_t state_n = recur_rnn_state_numel(lm->rnn, batch);
    const size_t cell_n = recur_rnn_cell_state_numel(lm->rnn, batch);
    if (lm->state_batch != batch)
        lm->have_state = 0;
    lm_cuda_buffers b;
    RECUR_TRY(lm_cuda_embed(lm->cuda, (int)rows, state_n, cell_n, ids, &b));
    if (lm->have_state && !lm->state_on_device)
        RECUR_TRY(lm_cuda_set_state(lm->cuda, state_n, cell_n, lm->h.data, lm->c.data));
    const int carried = lm->have_state;
    recur_rnn_forward_args fwd = {seq_len,   batch,   b.embedded, NULL,
                                  carried ? b.h : NULL,
                                  carried && cell_n ? b.c : NULL,
                                  b.rnn_out, b.h_n,   cell_n ? b.c_n : NULL};
    RECUR_TRY(recur_rnn_forward_device(lm->rnn, &fwd));
    RECUR_TRY(draw_output_mask(lm, rows * (size_t)lm->config.hidden_size));
    RECUR_TRY(lm_cuda_head(lm->cuda, lm->masked ? lm->output_mask.data : NULL, logits));
    lm->state_batch = batch;
    lm->have_state = 1;
    lm->state_on_device = 1;
    lm->seq_len = seq_len, lm->batch = batch;
    return RECUR_OK;
}

recur_status recur_lm_backward_device(recur_lm *lm, const float *grad_logits)
{
    if (!lm || !grad_logits)
        return recur_fail(RECUR_E_INVALID, "recur_lm_backward_device: NULL argument");
    RECUR_TRY(require_cuda(lm, "recur_lm_backward_device"));
    float *grad_rnn_out, *grad_embedded;
    RECUR_TRY(lm_cuda_head_backward(lm->cuda, grad_logits, &grad_rnn_out, &grad_embedded));
    grad_hook_ready(&lm->grad_ready, 1 + recur_rnn_param_count(lm->rnn), recur_lm_param_count(lm));
    recur_rnn_backward_args bwd = {grad_rnn_out, NULL, NULL, grad_embedded, NULL, NULL};
    RECUR_TRY(recur_rnn_backward_device(lm->rnn, &bwd));
    RECUR_TRY(lm_cuda_embed_backward(lm->cuda));
    grad_hook_ready(&lm->grad_ready, 0, 1);
    return RECUR_OK;
}

recur_status recur_lm_write(const recur_lm *lm, recur_st_writer *w)
{
    if (!lm || !w)
        return recur_fail(RECUR_E_INVALID, "recur_lm_write: NULL argument");
    char number[32];
    RECUR_TRY(recur_rnn_write(lm->rnn, w, "rnn."));
    RECUR_TRY(recur_st_writer_set_metadata(w, "recur.model", "lm"));
    snprintf(number, sizeof number, "%d", lm->config.vocab_size);
    RECUR_TRY(recur_st_writer_set_metadata(w, "vocab_size", number));
    snprintf(number, sizeof number, "%d", lm->config.embed_size);
    RECUR_TRY(recur_st_writer_set_metadata(w, "embed_size", number));
    recur_param p;
    RECUR_TRY(recur_embedding_param(lm->embedding, &p));
    RECUR_TRY(recur_st_writer_add(w, "embedding.weight", RECUR_F32, 2, p.shape, p.value));
    for (int i = 0; i < recur_linear_param_count(lm->head); i++) {
        char name[64];
        RECUR_TRY(recur_linear_param(lm->head, i, &p));
        snprintf(name, sizeof name, "head.%s", p.name);
        RECUR_TRY(recur_st_writer_add(w, name, RECUR_F32, p.ndim, p.shape, p.value));
    }
    return RECUR_OK;
}

recur_status recur_lm_save(const recur_lm *lm, const char *path, int extra_count,
                           const char *const *extra_keys, const char *const *extra_values)
{
    recur_st_writer *w;
    RECUR_TRY(recur_st_writer_create(&w));
    recur_status st = recur_lm_write(lm, w);
    for (int i = 0; st == RECUR_OK && i < extra_count; i++)
        st = recur_st_writer_set_metadata(w, extra_keys[i], extra_values[i]);
    if (st == RECUR_OK)
        st = recur_st_writer_save(w, path);
    recur_st_writer_free(w);
    return st;
}

size_t recur_lm_state_numel(const recur_lm *lm, int batch)
{
    return recur_rnn_state_numel(lm->rnn, batch) + recur_rnn_cell_state_numel(lm->rnn, batch);
}

int recur_lm_get_state(const recur_lm *lm, float *state)
{
    if (!lm->have_state)
        return 0;
    size_t state_n = recur_rnn_state_numel(lm->rnn, lm->state_batch);
    if (lm->state_on_device) /* a lost device reads as no state */
        return lm_cuda_get_state(lm->cuda, state, state + state_n) == RECUR_OK ? lm->state_batch
                                                                                : 0;
    memcpy(state, lm->h.data, state_n * sizeof(float));
    memcpy(state + state_n, lm->c.data,
           recur_rnn_cell_state_numel(lm->rnn, lm->state_batch) * sizeof(float));
    return lm->state_batch;
}

recur_status recur_lm_set_state(recur_lm *lm, int batch, const float *state)
{
    if (!lm || batch < 0 || (batch > 0 && !state))
        return recur_fail(RECUR_E_INVALID, "recur_lm_set_state: bad arguments");
    lm->have_state = batch > 0;
    lm->state_on_device = 0;
    if (!batch)
        return RECUR_OK;
    size_t state_n = recur_rnn_state_numel(lm->rnn, batch);
    size_t cell_n = recur_rnn_cell_state_numel(lm->rnn, batch);
    RECUR_TRY(recur_buffer_reserve(&lm->h, state_n));
    RECUR_TRY(recur_buffer_reserve(&lm->c, cell_n + 1));
    memcpy(lm->h.data, state, state_n * sizeof(float));
    memcpy(lm->c.data, state + state_n, cell_n * sizeof(float));
    lm->state_batch = batch;
    return RECUR_OK;
}

/* Reads a metadata integer (required). */
static recur_status lm_meta_int(const recur_st_file *f, const char *key, int *out)
{
    const char *text = recur_st_metadata(f, key);
    char *end = NULL;
    long v = text ? strtol(text, &end, 10) : 0;
    if (!text || *end || v < 1 || v > (1 << 24))
        return recur_fail(RECUR_E_FORMAT, "%s: metadata %s is missing or not a positive integer",
                          recur_st_label(f), key);
    *out = (int)v;
    return RECUR_OK;
}

recur_status recur_lm_load(const recur_st_file *f, recur_lm **out)
{
    *out = NULL;
    const char *model = recur_st_metadata(f, "recur.model");
    if (!model || strcmp(model, "lm") != 0)
        return recur_fail(RECUR_E_FORMAT, "%s: not a recur language model (recur.model = lm)",
                          recur_st_label(f));
    recur_rnn_config rc; /* the cell and the regularization (zoneout changes inference) */
    RECUR_TRY(rnn_config_read(f, "rnn.", &rc));
    recur_lm_config c = {0};
    c.cell = rc.cell;
    c.dropout = rc.dropout, c.recurrent_dropout = rc.recurrent_dropout, c.zoneout = rc.zoneout;
    c.layer_norm = rc.layer_norm;
    RECUR_TRY(lm_meta_int(f, "vocab_size", &c.vocab_size));
    RECUR_TRY(lm_meta_int(f, "embed_size", &c.embed_size));
    RECUR_TRY(lm_meta_int(f, "hidden_size", &c.hidden_size));
    RECUR_TRY(lm_meta_int(f, "num_layers", &c.num_layers));
    recur_lm *lm;
    RECUR_TRY(recur_lm_create(&c, 0, &lm));
    recur_status st = RECUR_OK;
    for (int i = 0; st == RECUR_OK && i < recur_lm_param_count(lm); i++) {
        recur_param p;
        if ((st = recur_lm_param(lm, i, &p)) != RECUR_OK)
            break;
        st = recur_param_read(f, &p);
    }
    if (st != RECUR_OK) {
        recur_lm_free(lm);
        return st;
    }
    *out = lm;
    return RECUR_OK;
}
