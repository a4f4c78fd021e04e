/* Sequence to sequence: Embedding -> encoder stack -> (bridge) -> decoder
 * stack, optional attention over the encoder's outputs, Linear to the target
 * vocabulary. Teacher-forced training with a hand-written backward; greedy,
 * sampled and beam-search decoding. */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/rng.h"
#include "core/status.h"
#include "io/param_io.h"
#include "train/log_sum_exp.h"

#define MAX_S2S_PARAMS 256

typedef struct ids_buffer {
    int64_t *data;
    size_t capacity;
} ids_buffer;

static recur_status ids_reserve(ids_buffer *b, size_t count)
{
    if (count <= b->capacity && b->data)
        return RECUR_OK;
    int64_t *grown = realloc(b->data, (count ? count : 1) * sizeof(int64_t));
    if (!grown)
        return recur_fail(RECUR_E_NOMEM, "seq2seq: out of memory");
    b->data = grown, b->capacity = count;
    return RECUR_OK;
}

struct recur_seq2seq {
    recur_seq2seq_config config;
    recur_embedding *source_embedding, *target_embedding;
    recur_rnn *encoder, *decoder;
    recur_attention *attention; /* NULL without attention */
    recur_linear *output;
    int dirs, keys;    /* D, D * H */
    int context;       /* attention output size, 0 without attention */
    int features;      /* H + context */
    int is_lstm;
    /* the last teacher-forced forward */
    int S, T, B;
    ids_buffer source_lengths, target_lengths, decoder_ids, targets;
    recur_buffer source_embedded, encoder_out, encoder_h, encoder_c;
    recur_buffer h0, c0, target_embedded, decoder_out, queries, context_out, feat, logits;
    recur_buffer grad_logits, grad_feat, grad_decoder_out, grad_queries, grad_context;
    recur_buffer grad_keys, grad_values, grad_h0, grad_c0, grad_encoder_h, grad_encoder_c;
    recur_buffer grad_target_embedded, grad_source_embedded;
    /* decoding scratch */
    recur_buffer step_embedded, step_out, step_h, step_c, step_feat, step_context, step_logits;
    recur_buffer beam_keys;
    ids_buffer beam_lengths;
    char names[MAX_S2S_PARAMS][64];
};

recur_seq2seq_config recur_seq2seq_config_default(recur_cell cell, int source_vocab,
                                                  int target_vocab, int embed_size,
                                                  int hidden_size)
{
    recur_seq2seq_config c = {0};
    c.cell = cell;
    c.source_vocab = source_vocab, c.target_vocab = target_vocab;
    c.embed_size = embed_size, c.hidden_size = hidden_size, c.num_layers = 1;
    c.attention = 1;
    c.attention_kind = RECUR_ATTN_ADDITIVE;
    return c;
}


void recur_seq2seq_free(recur_seq2seq *m)
{
    if (!m)
        return;
    recur_embedding_free(m->source_embedding);
    recur_embedding_free(m->target_embedding);
    recur_rnn_free(m->encoder);
    recur_rnn_free(m->decoder);
    recur_attention_free(m->attention);
    recur_linear_free(m->output);
    recur_buffer *buffers[] = {
        &m->source_embedded, &m->encoder_out, &m->encoder_h, &m->encoder_c, &m->h0, &m->c0,
        &m->target_embedded, &m->decoder_out, &m->queries, &m->context_out, &m->feat, &m->logits,
        &m->grad_logits, &m->grad_feat, &m->grad_decoder_out, &m->grad_queries, &m->grad_context,
        &m->grad_keys, &m->grad_values, &m->grad_h0, &m->grad_c0, &m->grad_encoder_h,
        &m->grad_encoder_c, &m->grad_target_embedded, &m->grad_source_embedded,
        &m->step_embedded, &m->step_out, &m->step_h, &m->step_c, &m->step_feat,
        &m->step_context, &m->step_logits, &m->beam_keys};
    for (size_t i = 0; i < sizeof buffers / sizeof buffers[0]; i++)
        recur_buffer_release(buffers[i]);
    ids_buffer *ids[] = {&m->source_lengths, &m->target_lengths, &m->decoder_ids, &m->targets,
                         &m->beam_lengths};
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++)
        free(ids[i]->data);
    free(m);
}

recur_status recur_seq2seq_create(const recur_seq2seq_config *config, uint64_t seed,
                                  recur_seq2seq **out)
{
    if (!config || !out)
        return recur_fail(RECUR_E_INVALID, "seq2seq: NULL argument");
    *out = NULL;
    const recur_seq2seq_config *c = config;
    if (c->source_vocab < 3 || c->target_vocab < 3)
        return recur_fail(RECUR_E_INVALID, "seq2seq: vocabularies need at least 3 ids (pad, bos, "
                                           "eos), got %d and %d", c->source_vocab, c->target_vocab);
    if (c->embed_size < 1 || c->hidden_size < 1 || c->num_layers < 1 || c->attention_size < 0 ||
        (c->bidirectional != 0 && c->bidirectional != 1) ||
        (c->attention != 0 && c->attention != 1))
        return recur_fail(RECUR_E_INVALID, "seq2seq: bad sizes in the configuration");
    if (c->cell < RECUR_RNN_TANH || c->cell > RECUR_GRU)
        return recur_fail(RECUR_E_INVALID, "seq2seq: unknown cell %d", (int)c->cell);
    int dirs = c->bidirectional ? 2 : 1;
    if (c->attention && c->attention_kind == RECUR_ATTN_DOT && dirs != 1)
        return recur_fail(RECUR_E_INVALID, "seq2seq: dot attention needs a unidirectional encoder "
                                           "(query size %d, key size %d); use general",
                          c->hidden_size, dirs * c->hidden_size);
    recur_seq2seq *m = calloc(1, sizeof *m);
    if (!m)
        return recur_fail(RECUR_E_NOMEM, "seq2seq: out of memory");
    m->config = *c;
    m->dirs = dirs, m->keys = dirs * c->hidden_size, m->is_lstm = c->cell == RECUR_LSTM;
    recur_status st = recur_embedding_create(c->source_vocab, c->embed_size, RECUR_S2S_PAD, seed + 1,
                                             &m->source_embedding);
    if (st == RECUR_OK)
        st = recur_embedding_create(c->target_vocab, c->embed_size, RECUR_S2S_PAD, seed + 2,
                                    &m->target_embedding);
    if (st == RECUR_OK) {
        recur_rnn_config rc = recur_rnn_config_default(c->cell, c->embed_size, c->hidden_size);
        rc.num_layers = c->num_layers;
        rc.bidirectional = c->bidirectional;
        st = recur_rnn_create(&rc, seed + 3, &m->encoder);
        rc.bidirectional = 0;
        if (st == RECUR_OK)
            st = recur_rnn_create(&rc, seed + 4, &m->decoder);
    }
    if (st == RECUR_OK && c->attention) {
        recur_attention_config ac = {c->attention_kind, c->hidden_size, m->keys, m->keys, 0, 0};
        if (c->attention_kind == RECUR_ATTN_ADDITIVE || c->attention_kind == RECUR_ATTN_SCALED_DOT)
            ac.hidden_size = c->attention_size ? c->attention_size : c->hidden_size, ac.bias = 1;
        st = recur_attention_create(&ac, seed + 5, &m->attention);
        if (st == RECUR_OK)
            m->context = recur_attention_output_size(m->attention);
    }
    m->features = c->hidden_size + m->context;
    if (st == RECUR_OK)
        st = recur_linear_create(m->features, c->target_vocab, 1, seed + 6, &m->output);
    if (st == RECUR_OK && recur_seq2seq_param_count(m) > MAX_S2S_PARAMS)
        st = recur_fail(RECUR_E_INVALID, "seq2seq: too many layers");
    if (st != RECUR_OK) {
        recur_seq2seq_free(m);
        return st;
    }
    *out = m;
    return RECUR_OK;
}

const recur_seq2seq_config *recur_seq2seq_get_config(const recur_seq2seq *m)
{
    return &m->config;
}

int recur_seq2seq_param_count(const recur_seq2seq *m)
{
    return 2 + recur_rnn_param_count(m->encoder) + recur_rnn_param_count(m->decoder) +
           (m->attention ? recur_attention_param_count(m->attention) : 0) +
           recur_linear_param_count(m->output);
}

recur_status recur_seq2seq_param(const recur_seq2seq *m, int index, recur_param *out)
{
    if (!m || !out || index < 0 || index >= recur_seq2seq_param_count(m))
        return recur_fail(RECUR_E_INVALID, "seq2seq: parameter index %d out of range", index);
    const int name_index = index;
    const char *prefix;
    int enc = recur_rnn_param_count(m->encoder), dec = recur_rnn_param_count(m->decoder);
    int att = m->attention ? recur_attention_param_count(m->attention) : 0;
    if (index == 0) {
        RECUR_TRY(recur_embedding_param(m->source_embedding, out));
        prefix = "encoder.embedding.";
    } else if ((index -= 1) < enc) {
        RECUR_TRY(recur_rnn_param(m->encoder, index, out));
        prefix = "encoder.rnn.";
    } else if ((index -= enc) == 0) {
        RECUR_TRY(recur_embedding_param(m->target_embedding, out));
        prefix = "decoder.embedding.";
    } else if ((index -= 1) < dec) {
        RECUR_TRY(recur_rnn_param(m->decoder, index, out));
        prefix = "decoder.rnn.";
    } else if ((index -= dec) < att) {
        RECUR_TRY(recur_attention_param(m->attention, index, out));
        prefix = "attention.";
    } else {
        RECUR_TRY(recur_linear_param(m->output, index - att, out));
        prefix = "output.";
    }
    char *name = ((recur_seq2seq *)m)->names[name_index];
    snprintf(name, sizeof m->names[0], "%s%s", prefix, out->name);
    out->name = name;
    return RECUR_OK;
}

void recur_seq2seq_zero_grad(recur_seq2seq *m)
{
    recur_embedding_zero_grad(m->source_embedding);
    recur_embedding_zero_grad(m->target_embedding);
    recur_rnn_zero_grad(m->encoder);
    recur_rnn_zero_grad(m->decoder);
    if (m->attention)
        recur_attention_zero_grad(m->attention);
    recur_linear_zero_grad(m->output);
}

/* The decoder's initial state from the encoder's final one: layer l gets the
 * sum of the encoder's directions of layer l. h [L*D, B, H] -> h0 [L, B, H]. */
static void bridge(const recur_seq2seq *m, int B, const float *h, float *h0)
{
    const int L = m->config.num_layers, H = m->config.hidden_size, D = m->dirs;
    size_t layer = (size_t)B * (size_t)H;
    for (int l = 0; l < L; l++) {
        float *dst = h0 + (size_t)l * layer;
        memcpy(dst, h + (size_t)(l * D) * layer, layer * sizeof(float));
        for (int d = 1; d < D; d++) {
            const float *src = h + (size_t)(l * D + d) * layer;
            for (size_t k = 0; k < layer; k++)
                dst[k] += src[k];
        }
    }
}

/* Runs the encoder over source [S, B]; fills encoder_out, encoder_h/c, h0/c0. */
static recur_status encode(recur_seq2seq *m, int S, int B, const int64_t *source,
                           const int64_t *lengths)
{
    const recur_seq2seq_config *c = &m->config;
    size_t rows = (size_t)S * (size_t)B;
    size_t state = recur_rnn_state_numel(m->encoder, B);
    size_t dec_state = recur_rnn_state_numel(m->decoder, B);
    RECUR_TRY(recur_buffer_reserve(&m->source_embedded, rows * (size_t)c->embed_size));
    RECUR_TRY(recur_buffer_reserve(&m->encoder_out, rows * (size_t)m->keys));
    RECUR_TRY(recur_buffer_reserve(&m->encoder_h, state));
    RECUR_TRY(recur_buffer_reserve(&m->encoder_c, state));
    RECUR_TRY(recur_buffer_reserve(&m->h0, dec_state));
    RECUR_TRY(recur_buffer_reserve(&m->c0, dec_state));
    for (size_t k = 0; k < rows; k++)
        if (source[k] < 0 || source[k] >= c->source_vocab)
            return recur_fail(RECUR_E_INVALID, "seq2seq: source id %lld outside 0..%d",
                              (long long)source[k], c->source_vocab - 1);
    RECUR_TRY(recur_embedding_forward(m->source_embedding, (int)rows, source,
                                      m->source_embedded.data));
    recur_rnn_forward_args fwd = {S, B, m->source_embedded.data, lengths, NULL, NULL,
                                  m->encoder_out.data, m->encoder_h.data,
                                  m->is_lstm ? m->encoder_c.data : NULL};
    RECUR_TRY(recur_rnn_forward(m->encoder, &fwd));
    bridge(m, B, m->encoder_h.data, m->h0.data);
    if (m->is_lstm)
        bridge(m, B, m->encoder_c.data, m->c0.data);
    return RECUR_OK;
}

static recur_status check_lengths(const int64_t *lengths, int B, int max, const char *what)
{
    for (int b = 0; lengths && b < B; b++)
        if (lengths[b] < 1 || lengths[b] > max)
            return recur_fail(RECUR_E_INVALID, "seq2seq: %s length %lld of sequence %d outside 1..%d",
                              what, (long long)lengths[b], b, max);
    return RECUR_OK;
}

recur_status recur_seq2seq_forward(recur_seq2seq *m, const recur_seq2seq_batch *batch, float *loss,
                                   const float **logits)
{
    if (!m || !batch || !loss || !batch->source || !batch->target || batch->batch < 1 ||
        batch->source_len < 1 || batch->target_len < 1)
        return recur_fail(RECUR_E_INVALID, "seq2seq_forward: bad arguments");
    const recur_seq2seq_config *c = &m->config;
    const int S = batch->source_len, T = batch->target_len, B = batch->batch;
    const int H = c->hidden_size, V = c->target_vocab, F = m->features, C = m->context;
    m->S = 0;
    RECUR_TRY(check_lengths(batch->source_lengths, B, S, "source"));
    RECUR_TRY(check_lengths(batch->target_lengths, B, T, "target"));
    RECUR_TRY(ids_reserve(&m->source_lengths, (size_t)B));
    RECUR_TRY(ids_reserve(&m->target_lengths, (size_t)B));
    for (int b = 0; b < B; b++) {
        m->source_lengths.data[b] = batch->source_lengths ? batch->source_lengths[b] : S;
        m->target_lengths.data[b] = batch->target_lengths ? batch->target_lengths[b] : T;
    }
    const int64_t *slen = m->source_lengths.data, *tlen = m->target_lengths.data;
    /* padding past the lengths becomes pad: read as zeros, ignored by the loss */
    size_t trows = (size_t)T * (size_t)B;
    RECUR_TRY(ids_reserve(&m->decoder_ids, trows));
    RECUR_TRY(ids_reserve(&m->targets, trows));
    ids_buffer source_ids = {0};
    RECUR_TRY(ids_reserve(&source_ids, (size_t)S * (size_t)B));
    for (int t = 0; t < S; t++)
        for (int b = 0; b < B; b++)
            source_ids.data[(size_t)t * B + b] =
                t < slen[b] ? batch->source[(size_t)t * B + b] : RECUR_S2S_PAD;
    for (int t = 0; t < T; t++)
        for (int b = 0; b < B; b++) {
            size_t k = (size_t)t * B + b;
            int64_t y = t < tlen[b] ? batch->target[k] : RECUR_S2S_PAD;
            if (y < 0 || y >= V) {
                free(source_ids.data);
                return recur_fail(RECUR_E_INVALID, "seq2seq: target id %lld outside 0..%d",
                                  (long long)y, V - 1);
            }
            m->targets.data[k] = y;
            m->decoder_ids.data[k] = t == 0         ? RECUR_S2S_BOS
                                     : t < tlen[b] ? batch->target[k - (size_t)B]
                                                   : RECUR_S2S_PAD;
        }
    recur_status st = encode(m, S, B, source_ids.data, slen);
    free(source_ids.data);
    RECUR_TRY(st);
    /* decoder over [bos, y_1, ..., y_{n-1}] from the bridged state */
    RECUR_TRY(recur_buffer_reserve(&m->target_embedded, trows * (size_t)c->embed_size));
    RECUR_TRY(recur_buffer_reserve(&m->decoder_out, trows * (size_t)H));
    RECUR_TRY(recur_embedding_forward(m->target_embedding, (int)trows, m->decoder_ids.data,
                                      m->target_embedded.data));
    recur_rnn_forward_args fwd = {T,    B,    m->target_embedded.data, tlen, m->h0.data,
                                  m->is_lstm ? m->c0.data : NULL, m->decoder_out.data, NULL,
                                  NULL};
    RECUR_TRY(recur_rnn_forward(m->decoder, &fwd));
    RECUR_TRY(recur_buffer_reserve(&m->feat, trows * (size_t)F));
    float *feat = m->feat.data;
    for (size_t k = 0; k < trows; k++)
        memcpy(feat + k * F, m->decoder_out.data + k * H, (size_t)H * sizeof(float));
    if (m->attention) {
        RECUR_TRY(recur_buffer_reserve(&m->queries, trows * (size_t)H));
        RECUR_TRY(recur_buffer_reserve(&m->context_out, trows * (size_t)C));
        for (int t = 0; t < T; t++) /* [T, B, H] -> [B, T, H] */
            for (int b = 0; b < B; b++)
                memcpy(m->queries.data + ((size_t)b * T + t) * H,
                       m->decoder_out.data + ((size_t)t * B + b) * H, (size_t)H * sizeof(float));
        recur_attention_forward_args af = {B, T, S, m->queries.data, m->encoder_out.data,
                                           m->encoder_out.data, slen, m->context_out.data, NULL};
        RECUR_TRY(recur_attention_forward(m->attention, &af));
        for (int t = 0; t < T; t++)
            for (int b = 0; b < B; b++)
                memcpy(feat + ((size_t)t * B + b) * F + H,
                       m->context_out.data + ((size_t)b * T + t) * C, (size_t)C * sizeof(float));
    }
    RECUR_TRY(recur_buffer_reserve(&m->logits, trows * (size_t)V));
    RECUR_TRY(recur_buffer_reserve(&m->grad_logits, trows * (size_t)V));
    RECUR_TRY(recur_linear_forward(m->output, (int)trows, feat, m->logits.data));
    recur_cross_entropy_options ce = recur_cross_entropy_defaults();
    ce.ignore_index = RECUR_S2S_PAD;
    RECUR_TRY(recur_cross_entropy((int)trows, V, m->logits.data, m->targets.data, &ce, loss,
                                  m->grad_logits.data));
    if (logits)
        *logits = m->logits.data;
    m->S = S, m->T = T, m->B = B;
    return RECUR_OK;
}

recur_status recur_seq2seq_backward(recur_seq2seq *m)
{
    if (!m)
        return recur_fail(RECUR_E_INVALID, "seq2seq_backward: NULL argument");
    if (!m->S)
        return recur_fail(RECUR_E_STATE, "seq2seq_backward called without a forward pass");
    const recur_seq2seq_config *c = &m->config;
    const int S = m->S, T = m->T, B = m->B, H = c->hidden_size, F = m->features, C = m->context;
    size_t trows = (size_t)T * (size_t)B, srows = (size_t)S * (size_t)B;
    RECUR_TRY(recur_buffer_reserve(&m->grad_feat, trows * (size_t)F));
    RECUR_TRY(recur_buffer_reserve(&m->grad_decoder_out, trows * (size_t)H));
    RECUR_TRY(recur_linear_backward(m->output, m->grad_logits.data, m->grad_feat.data));
    float *gd = m->grad_decoder_out.data;
    for (size_t k = 0; k < trows; k++)
        memcpy(gd + k * H, m->grad_feat.data + k * F, (size_t)H * sizeof(float));
    RECUR_TRY(recur_buffer_reserve(&m->grad_keys, srows * (size_t)m->keys));
    float *grad_encoder_out = NULL;
    if (m->attention) {
        RECUR_TRY(recur_buffer_reserve(&m->grad_context, trows * (size_t)C));
        RECUR_TRY(recur_buffer_reserve(&m->grad_queries, trows * (size_t)H));
        RECUR_TRY(recur_buffer_reserve(&m->grad_values, srows * (size_t)m->keys));
        for (int t = 0; t < T; t++)
            for (int b = 0; b < B; b++)
                memcpy(m->grad_context.data + ((size_t)b * T + t) * C,
                       m->grad_feat.data + ((size_t)t * B + b) * F + H, (size_t)C * sizeof(float));
        recur_attention_backward_args ab = {m->grad_context.data, NULL, m->grad_queries.data,
                                            m->grad_keys.data, m->grad_values.data};
        RECUR_TRY(recur_attention_backward(m->attention, &ab));
        for (int t = 0; t < T; t++)
            for (int b = 0; b < B; b++) {
                float *dst = gd + ((size_t)t * B + b) * H;
                const float *src = m->grad_queries.data + ((size_t)b * T + t) * H;
                for (int h = 0; h < H; h++)
                    dst[h] += src[h];
            }
        for (size_t k = 0; k < srows * (size_t)m->keys; k++)
            m->grad_keys.data[k] += m->grad_values.data[k];
        grad_encoder_out = m->grad_keys.data;
    }
    /* decoder -> target embedding, grad of its initial state */
    size_t dec_state = recur_rnn_state_numel(m->decoder, B);
    size_t enc_state = recur_rnn_state_numel(m->encoder, B);
    RECUR_TRY(recur_buffer_reserve(&m->grad_h0, dec_state));
    RECUR_TRY(recur_buffer_reserve(&m->grad_c0, dec_state));
    RECUR_TRY(recur_buffer_reserve(&m->grad_target_embedded, trows * (size_t)c->embed_size));
    recur_rnn_backward_args db = {gd,
                                  NULL,
                                  NULL,
                                  m->grad_target_embedded.data,
                                  m->grad_h0.data,
                                  m->is_lstm ? m->grad_c0.data : NULL};
    RECUR_TRY(recur_rnn_backward(m->decoder, &db));
    RECUR_TRY(recur_embedding_backward(m->target_embedding, m->grad_target_embedded.data));
    /* bridge: each direction of layer l receives the gradient of layer l */
    RECUR_TRY(recur_buffer_reserve(&m->grad_encoder_h, enc_state));
    RECUR_TRY(recur_buffer_reserve(&m->grad_encoder_c, enc_state));
    size_t layer = (size_t)B * (size_t)H;
    for (int l = 0; l < c->num_layers; l++)
        for (int d = 0; d < m->dirs; d++) {
            memcpy(m->grad_encoder_h.data + (size_t)(l * m->dirs + d) * layer,
                   m->grad_h0.data + (size_t)l * layer, layer * sizeof(float));
            if (m->is_lstm)
                memcpy(m->grad_encoder_c.data + (size_t)(l * m->dirs + d) * layer,
                       m->grad_c0.data + (size_t)l * layer, layer * sizeof(float));
        }
    RECUR_TRY(recur_buffer_reserve(&m->grad_source_embedded, srows * (size_t)c->embed_size));
    recur_rnn_backward_args eb = {grad_encoder_out,
                                  m->grad_encoder_h.data,
                                  m->is_lstm ? m->grad_encoder_c.data : NULL,
                                  m->grad_source_embedded.data,
                                  NULL,
                                  NULL};
    RECUR_TRY(recur_rnn_backward(m->encoder, &eb));
    RECUR_TRY(recur_embedding_backward(m->source_embedding, m->grad_source_embedded.data));
    return RECUR_OK;
}

/* ---------------------------------------------------------------- */
/* Decoding                                                          */
/* ---------------------------------------------------------------- */

recur_decode_options recur_decode_options_default(void)
{
    recur_decode_options o = {0};
    o.method = RECUR_DECODE_GREEDY;
    o.max_length = 100;
    o.temperature = 1.0f;
    o.beam_width = 4;
    o.length_alpha = 1.0f;
    return o;
}

/* Encodes one source (B = 1) and copies its outputs for n hypotheses:
 * beam_keys [S, n, K]; the initial state [L, n, H] into step_h / step_c. */
static recur_status decode_begin(recur_seq2seq *m, int S, const int64_t *source, int n)
{
    for (int t = 0; t < S; t++)
        if (source[t] < 0 || source[t] >= m->config.source_vocab)
            return recur_fail(RECUR_E_INVALID, "seq2seq: source id %lld outside 0..%d",
                              (long long)source[t], m->config.source_vocab - 1);
    RECUR_TRY(encode(m, S, 1, source, NULL));
    const int K = m->keys, H = m->config.hidden_size, L = m->config.num_layers;
    RECUR_TRY(recur_buffer_reserve(&m->beam_keys, (size_t)S * n * K));
    RECUR_TRY(ids_reserve(&m->beam_lengths, (size_t)n));
    for (int t = 0; t < S; t++)
        for (int i = 0; i < n; i++)
            memcpy(m->beam_keys.data + ((size_t)t * n + i) * K,
                   m->encoder_out.data + (size_t)t * K, (size_t)K * sizeof(float));
    for (int i = 0; i < n; i++)
        m->beam_lengths.data[i] = S;
    size_t state = (size_t)L * n * H;
    RECUR_TRY(recur_buffer_reserve(&m->step_h, 2 * state));
    RECUR_TRY(recur_buffer_reserve(&m->step_c, 2 * state));
    for (int l = 0; l < L; l++)
        for (int i = 0; i < n; i++) {
            memcpy(m->step_h.data + ((size_t)l * n + i) * H, m->h0.data + (size_t)l * H,
                   (size_t)H * sizeof(float));
            memcpy(m->step_c.data + ((size_t)l * n + i) * H,
                   m->is_lstm ? m->c0.data + (size_t)l * H : m->h0.data, (size_t)H * sizeof(float));
        }
    return RECUR_OK;
}

/* One decoder step for n hypotheses whose states are the first n of the
 * capacity slots in step_h / step_c (layout [L, cap, H]): tokens [n] in,
 * log-probabilities [n, V] into step_logits, attention weights [n, S] into
 * weights (NULL to skip); the states advance in place. */
static recur_status decode_step(recur_seq2seq *m, int S, int n, int cap, const int64_t *tokens,
                                float *weights)
{
    const recur_seq2seq_config *c = &m->config;
    const int H = c->hidden_size, L = c->num_layers, V = c->target_vocab, F = m->features;
    const int C = m->context;
    RECUR_TRY(recur_buffer_reserve(&m->step_embedded, (size_t)n * c->embed_size));
    RECUR_TRY(recur_buffer_reserve(&m->step_out, (size_t)n * H));
    RECUR_TRY(recur_buffer_reserve(&m->step_feat, (size_t)n * F));
    RECUR_TRY(recur_buffer_reserve(&m->step_context, (size_t)n * (C ? C : 1)));
    RECUR_TRY(recur_buffer_reserve(&m->step_logits, (size_t)n * V));
    RECUR_TRY(recur_embedding_forward(m->target_embedding, n, tokens, m->step_embedded.data));
    /* gather the states [L, n, H] (they sit at stride cap) */
    size_t state = (size_t)L * n * H;
    float *h_in = m->step_h.data + (size_t)L * cap * H, *c_in = m->step_c.data + (size_t)L * cap * H;
    for (int l = 0; l < L; l++) {
        memcpy(h_in + (size_t)l * n * H, m->step_h.data + (size_t)l * cap * H,
               (size_t)n * H * sizeof(float));
        memcpy(c_in + (size_t)l * n * H, m->step_c.data + (size_t)l * cap * H,
               (size_t)n * H * sizeof(float));
    }
    float *h_out = m->step_h.data, *c_out = m->step_c.data;
    /* h_out / c_out hold the old states, already copied: write [L, n, H] then spread */
    recur_rnn_forward_args fwd = {1, n, m->step_embedded.data, NULL, h_in,
                                  m->is_lstm ? c_in : NULL, m->step_out.data, h_out,
                                  m->is_lstm ? c_out : NULL};
    RECUR_TRY(recur_rnn_forward(m->decoder, &fwd));
    if (cap != n)
        for (int l = L - 1; l >= 0; l--) {
            memmove(h_out + (size_t)l * cap * H, h_out + (size_t)l * n * H,
                    (size_t)n * H * sizeof(float));
            if (m->is_lstm)
                memmove(c_out + (size_t)l * cap * H, c_out + (size_t)l * n * H,
                        (size_t)n * H * sizeof(float));
        }
    (void)state;
    for (int i = 0; i < n; i++)
        memcpy(m->step_feat.data + (size_t)i * F, m->step_out.data + (size_t)i * H,
               (size_t)H * sizeof(float));
    if (m->attention) {
        /* keys laid out [S, cap, K]: use the first n columns via a compact copy */
        const float *keys = m->beam_keys.data;
        recur_buffer compact = {0};
        if (cap != n) {
            RECUR_TRY(recur_buffer_reserve(&compact, (size_t)S * n * m->keys));
            for (int t = 0; t < S; t++)
                memcpy(compact.data + (size_t)t * n * m->keys,
                       keys + (size_t)t * cap * m->keys, (size_t)n * m->keys * sizeof(float));
            keys = compact.data;
        }
        recur_attention_forward_args af = {n, 1, S, m->step_out.data, keys, keys,
                                           m->beam_lengths.data, m->step_context.data, weights};
        recur_status st = recur_attention_forward(m->attention, &af);
        recur_buffer_release(&compact);
        RECUR_TRY(st);
        for (int i = 0; i < n; i++)
            memcpy(m->step_feat.data + (size_t)i * F + H, m->step_context.data + (size_t)i * C,
                   (size_t)C * sizeof(float));
    } else if (weights)
        memset(weights, 0, (size_t)n * S * sizeof(float));
    RECUR_TRY(recur_linear_forward(m->output, n, m->step_feat.data, m->step_logits.data));
    /* log-softmax in place */
    for (int i = 0; i < n; i++) {
        float *row = m->step_logits.data + (size_t)i * V;
        const double lse = recur_log_sum_exp(V, row);
        for (int v = 0; v < V; v++)
            row[v] = (float)((double)row[v] - lse);
    }
    return RECUR_OK;
}

/* Reorders the states: slot i takes the state of slot from[i] (i < n). */
static void reorder_states(recur_seq2seq *m, int n, int cap, const int *from)
{
    const int H = m->config.hidden_size, L = m->config.num_layers;
    float *tmp_h = m->step_h.data + (size_t)L * cap * H, *tmp_c = m->step_c.data + (size_t)L * cap * H;
    for (int l = 0; l < L; l++)
        for (int i = 0; i < n; i++) {
            memcpy(tmp_h + ((size_t)l * cap + i) * H,
                   m->step_h.data + ((size_t)l * cap + from[i]) * H, (size_t)H * sizeof(float));
            memcpy(tmp_c + ((size_t)l * cap + i) * H,
                   m->step_c.data + ((size_t)l * cap + from[i]) * H, (size_t)H * sizeof(float));
        }
    for (int l = 0; l < L; l++) {
        memcpy(m->step_h.data + (size_t)l * cap * H, tmp_h + (size_t)l * cap * H,
               (size_t)n * H * sizeof(float));
        memcpy(m->step_c.data + (size_t)l * cap * H, tmp_c + (size_t)l * cap * H,
               (size_t)n * H * sizeof(float));
    }
}

static double length_score(double log_prob, int steps, float alpha)
{
    return alpha == 0.0f ? log_prob : log_prob / pow((double)(steps > 0 ? steps : 1), (double)alpha);
}

/* Greedy or sampled decoding of one hypothesis. */
static recur_status decode_single(recur_seq2seq *m, int S, const int64_t *source,
                                  const recur_decode_options *o, int sample, int64_t *output,
                                  float *weights, recur_decode_result *r)
{
    const int V = m->config.target_vocab;
    if (V <= RECUR_S2S_EOS) /* impossible: the config has target_vocab >= 3 (pad, bos, eos) */
        return recur_fail(RECUR_E_STATE, "seq2seq: target vocabulary %d has no eos", V);
    RECUR_TRY(decode_begin(m, S, source, 1));
    recur_rng rng;
    recur_rng_seed(&rng, o->seed);
    double *p = NULL;
    int *order = NULL;
    if (sample && (!(p = malloc((size_t)V * sizeof *p)) || !(order = malloc((size_t)V * sizeof *order)))) {
        free(p);
        return recur_fail(RECUR_E_NOMEM, "seq2seq: out of memory");
    }
    int64_t token = RECUR_S2S_BOS;
    memset(r, 0, sizeof *r);
    recur_status st = RECUR_OK;
    for (int step = 0; step < o->max_length; step++) {
        st = decode_step(m, S, 1, 1, &token, weights ? weights + (size_t)step * S : NULL);
        if (st != RECUR_OK)
            break;
        const float *lp = m->step_logits.data;
        int best = RECUR_S2S_EOS;
        if (!sample) {
            for (int v = RECUR_S2S_EOS; v < V; v++)
                if (lp[v] > lp[best])
                    best = v;
        } else {
            /* candidates: ids >= eos, the top_k most likely, softmax(log p / temperature) */
            int n = 0;
            for (int v = RECUR_S2S_EOS; v < V; v++)
                order[n++] = v;
            int keep = o->top_k > 0 && o->top_k < n ? o->top_k : n;
            for (int i = 0; i < keep; i++) /* partial selection sort, stable by id */
                for (int j = i + 1; j < n; j++)
                    if (lp[order[j]] > lp[order[i]]) {
                        int swap = order[i];
                        order[i] = order[j], order[j] = swap;
                    }
            double max = lp[order[0]], total = 0;
            for (int i = 0; i < keep; i++)
                total += p[i] = exp(((double)lp[order[i]] - max) / (double)o->temperature);
            double u = (double)(recur_rng_next(&rng) >> 11) * 0x1.0p-53 * total;
            best = order[keep - 1];
            for (int i = 0; i < keep; i++) {
                if (u < p[i]) {
                    best = order[i];
                    break;
                }
                u -= p[i];
            }
        }
        r->log_prob += lp[best];
        if (best == RECUR_S2S_EOS) {
            r->finished = 1;
            break;
        }
        output[r->length++] = best;
        token = best;
    }
    free(p), free(order);
    RECUR_TRY(st);
    r->score = length_score(r->log_prob, r->length + r->finished, o->length_alpha);
    return RECUR_OK;
}

/* A hypothesis of the beam: its path ends at slot `slot` of trellis row
 * length - 1 (tokens and attention rows 0 .. length - 1); a finished one
 * also has the row of its <eos> prediction. */
typedef struct hypothesis {
    double log_prob;
    int length, finished, slot;
    const float *eos_weights; /* [S], finished ones */
} hypothesis;

/* a better than b: finished first, then the higher score */
static int better(const hypothesis *a, double score_a, const hypothesis *b, double score_b)
{
    if (a->finished != b->finished)
        return a->finished > b->finished;
    return score_a > score_b;
}

typedef struct candidate {
    double log_prob;
    int from, token;
} candidate;

static int candidate_cmp(const void *pa, const void *pb)
{
    const candidate *a = pa, *b = pb;
    if (a->log_prob != b->log_prob)
        return a->log_prob > b->log_prob ? -1 : 1;
    if (a->from != b->from)
        return a->from - b->from;
    return a->token - b->token;
}

/* Beam search. The live hypotheses of step t are a trellis row of k slots
 * (token, parent slot in row t - 1, attention row), so that a step costs no
 * copy of the histories; the best path is walked back at the end. */
static recur_status decode_beam(recur_seq2seq *m, int S, const int64_t *source,
                                const recur_decode_options *o, int64_t *output, float *weights,
                                recur_decode_result *r)
{
    const int k = o->beam_width, V = m->config.target_vocab, N = o->max_length;
    const size_t cells = (size_t)N * (size_t)k; /* trellis [N][k] */
    hypothesis *live = malloc(2 * (size_t)k * sizeof *live), *fin = calloc((size_t)k, sizeof *fin);
    candidate *cand = malloc((size_t)k * (size_t)V * sizeof *cand);
    int *from = malloc((size_t)k * sizeof *from), *parent = malloc(cells * sizeof *parent);
    int64_t *tokens = malloc((size_t)k * sizeof *tokens);
    int64_t *token_at = malloc(cells * sizeof *token_at);
    float *step_w = malloc((size_t)k * (size_t)S * sizeof *step_w);
    float *weight_at = malloc(cells * (size_t)S * sizeof *weight_at);   /* [N][k][S] */
    float *fin_w = malloc((size_t)k * (size_t)S * sizeof *fin_w);       /* [k][S] */
    int64_t *greedy_tokens = malloc((size_t)N * sizeof *greedy_tokens); /* [N] */
    float *greedy_w = calloc((size_t)N * (size_t)S, sizeof *greedy_w);  /* [N][S] */
    recur_status st = RECUR_OK;
    if (!live || !fin || !cand || !from || !parent || !tokens || !token_at || !step_w ||
        !weight_at || !fin_w || !greedy_tokens || !greedy_w) {
        st = recur_fail(RECUR_E_NOMEM, "seq2seq: out of memory");
        goto done;
    }
    hypothesis *next = live + k, greedy = {0};
    int n_live = 1, n_fin = 0;
    /* the greedy hypothesis first (it also checks the source) */
    recur_decode_result gr = {0};
    recur_decode_options go = *o;
    go.method = RECUR_DECODE_GREEDY;
    st = decode_single(m, S, source, &go, 0, greedy_tokens, greedy_w, &gr);
    greedy.log_prob = gr.log_prob, greedy.length = gr.length, greedy.finished = gr.finished;
    live[0] = (hypothesis){0};
    if (st == RECUR_OK)
        st = decode_begin(m, S, source, k);
    for (int step = 0; st == RECUR_OK && step < N && n_live > 0 && n_fin < k; step++) {
        for (int i = 0; i < n_live; i++)
            tokens[i] = step ? token_at[(size_t)(step - 1) * k + live[i].slot] : RECUR_S2S_BOS;
        if ((st = decode_step(m, S, n_live, k, tokens, step_w)) != RECUR_OK)
            break;
        int n_cand = 0;
        for (int i = 0; i < n_live; i++)
            for (int v = RECUR_S2S_EOS; v < V; v++)
                cand[n_cand++] = (candidate){live[i].log_prob +
                                                 m->step_logits.data[(size_t)i * V + v],
                                             i, v};
        qsort(cand, (size_t)n_cand, sizeof *cand, candidate_cmp);
        int n_next = 0;
        for (int j = 0; j < n_cand && n_next < k; j++) {
            const candidate *cd = &cand[j];
            const float *row_w = step_w + (size_t)cd->from * S;
            if (cd->token == RECUR_S2S_EOS) {
                if (j >= k || n_fin >= k)
                    continue;
                float *eos_w = fin_w + (size_t)n_fin * S;
                memcpy(eos_w, row_w, (size_t)S * sizeof(float));
                fin[n_fin++] = (hypothesis){cd->log_prob, step, 1, live[cd->from].slot, eos_w};
            } else {
                const size_t cell = (size_t)step * k + n_next;
                token_at[cell] = cd->token;
                parent[cell] = live[cd->from].slot;
                memcpy(weight_at + cell * S, row_w, (size_t)S * sizeof(float));
                next[n_next] = (hypothesis){cd->log_prob, step + 1, 0, n_next, NULL};
                from[n_next++] = cd->from;
            }
        }
        reorder_states(m, n_next, k, from);
        memcpy(live, next, (size_t)n_next * sizeof *live);
        n_live = n_next;
    }
    if (st == RECUR_OK) {
        /* best of: finished, live ones cut by max_length, the greedy one */
        const hypothesis *best = &greedy;
        double best_score =
            length_score(greedy.log_prob, greedy.length + greedy.finished, o->length_alpha);
        for (int i = 0; i < n_fin + n_live; i++) {
            const hypothesis *c = i < n_fin ? &fin[i] : &live[i - n_fin];
            double s = length_score(c->log_prob, c->length + c->finished, o->length_alpha);
            if (better(c, s, best, best_score))
                best = c, best_score = s;
        }
        const int rows = best->length + best->finished;
        if (best == &greedy) {
            memcpy(output, greedy_tokens, (size_t)best->length * sizeof(int64_t));
            if (weights)
                memcpy(weights, greedy_w, (size_t)rows * S * sizeof(float));
        } else {
            for (int t = best->length - 1, slot = best->slot; t >= 0; t--) {
                const size_t cell = (size_t)t * k + slot;
                output[t] = token_at[cell];
                if (weights)
                    memcpy(weights + (size_t)t * S, weight_at + cell * S,
                           (size_t)S * sizeof(float));
                slot = parent[cell];
            }
            if (weights && best->finished)
                memcpy(weights + (size_t)best->length * S, best->eos_weights,
                       (size_t)S * sizeof(float));
        }
        r->length = best->length, r->finished = best->finished;
        r->log_prob = best->log_prob, r->score = best_score;
    }
done:
    free(live), free(fin), free(cand), free(from), free(parent), free(tokens);
    free(token_at), free(step_w), free(weight_at), free(fin_w), free(greedy_tokens);
    free(greedy_w);
    return st;
}

recur_status recur_seq2seq_decode(recur_seq2seq *m, int source_len, const int64_t *source,
                                  const recur_decode_options *o, int64_t *output, float *weights,
                                  recur_decode_result *result)
{
    if (!m || !source || !o || !output || !result || source_len < 1)
        return recur_fail(RECUR_E_INVALID, "seq2seq_decode: bad arguments");
    if (o->max_length < 1)
        return recur_fail(RECUR_E_INVALID, "seq2seq_decode: max_length %d < 1", o->max_length);
    if (!(o->length_alpha >= 0.0f) || !isfinite(o->length_alpha))
        return recur_fail(RECUR_E_INVALID, "seq2seq_decode: length_alpha must be >= 0");
    m->S = 0; /* the teacher-forced caches are overwritten */
    if (weights)
        memset(weights, 0, (size_t)o->max_length * (size_t)source_len * sizeof(float));
    switch (o->method) {
    case RECUR_DECODE_GREEDY:
        return decode_single(m, source_len, source, o, 0, output, weights, result);
    case RECUR_DECODE_SAMPLE:
        if (!(o->temperature > 0.0f) || !isfinite(o->temperature) || o->top_k < 0)
            return recur_fail(RECUR_E_INVALID, "seq2seq_decode: temperature must be > 0 and "
                                               "top_k >= 0");
        return decode_single(m, source_len, source, o, 1, output, weights, result);
    case RECUR_DECODE_BEAM:
        if (o->beam_width < 1 || o->beam_width > 1024)
            return recur_fail(RECUR_E_INVALID, "seq2seq_decode: beam_width %d outside 1..1024",
                              o->beam_width);
        return decode_beam(m, source_len, source, o, output, weights, result);
    }
    return recur_fail(RECUR_E_INVALID, "seq2seq_decode: unknown method %d", (int)o->method);
}

recur_status recur_seq2seq_log_prob(recur_seq2seq *m, int source_len, const int64_t *source,
                                    int length, const int64_t *output, double *log_prob)
{
    if (!m || !source || !log_prob || source_len < 1 || length < 0 || (length && !output))
        return recur_fail(RECUR_E_INVALID, "seq2seq_log_prob: bad arguments");
    const int V = m->config.target_vocab;
    for (int i = 0; i < length; i++)
        if (output[i] < 0 || output[i] >= V)
            return recur_fail(RECUR_E_INVALID, "seq2seq_log_prob: id %lld outside 0..%d",
                              (long long)output[i], V - 1);
    m->S = 0;
    RECUR_TRY(decode_begin(m, source_len, source, 1));
    double sum = 0;
    int64_t token = RECUR_S2S_BOS;
    for (int i = 0; i <= length; i++) {
        RECUR_TRY(decode_step(m, source_len, 1, 1, &token, NULL));
        int64_t y = i < length ? output[i] : RECUR_S2S_EOS;
        sum += m->step_logits.data[y];
        token = y;
    }
    *log_prob = sum;
    return RECUR_OK;
}

/* ---------------------------------------------------------------- */
/* Files                                                             */
/* ---------------------------------------------------------------- */

static const char *cell_names[] = {"rnn_tanh", "rnn_relu", "lstm", "gru"};
static const char *attention_names[] = {"additive", "dot", "general", "scaled_dot"};

recur_status recur_seq2seq_write(const recur_seq2seq *m, recur_st_writer *w)
{
    if (!m || !w)
        return recur_fail(RECUR_E_INVALID, "seq2seq_write: NULL argument");
    const recur_seq2seq_config *c = &m->config;
    RECUR_TRY(recur_st_writer_set_metadata(w, "recur.model", "seq2seq"));
    RECUR_TRY(recur_st_writer_set_metadata(w, "seq2seq.cell", cell_names[c->cell]));
    RECUR_TRY(recur_st_writer_set_metadata(
        w, "seq2seq.attention", c->attention ? attention_names[c->attention_kind] : "none"));
    const char *keys[] = {"seq2seq.source_vocab", "seq2seq.target_vocab",  "seq2seq.embed_size",
                          "seq2seq.hidden_size",  "seq2seq.num_layers",    "seq2seq.bidirectional",
                          "seq2seq.attention_size"};
    const int values[] = {c->source_vocab, c->target_vocab, c->embed_size,    c->hidden_size,
                          c->num_layers,   c->bidirectional, c->attention_size};
    for (int i = 0; i < 7; i++) {
        char number[32];
        snprintf(number, sizeof number, "%d", values[i]);
        RECUR_TRY(recur_st_writer_set_metadata(w, keys[i], number));
    }
    for (int i = 0; i < recur_seq2seq_param_count(m); i++) {
        recur_param p;
        RECUR_TRY(recur_seq2seq_param(m, i, &p));
        RECUR_TRY(recur_st_writer_add(w, p.name, RECUR_F32, p.ndim, p.shape, p.value));
    }
    return RECUR_OK;
}

static int metadata_int(const recur_st_file *f, const char *key, long min, long max, int *out)
{
    const char *text = recur_st_metadata(f, key);
    char *end = NULL;
    long v = text ? strtol(text, &end, 10) : 0;
    if (!text || !*text || *end || v < min || v > max)
        return 0;
    *out = (int)v;
    return 1;
}

recur_status recur_seq2seq_read(const recur_st_file *f, recur_seq2seq **out)
{
    if (!f || !out)
        return recur_fail(RECUR_E_INVALID, "seq2seq_read: NULL argument");
    *out = NULL;
    const char *label = recur_st_label(f);
    const char *model = recur_st_metadata(f, "recur.model");
    if (!model || strcmp(model, "seq2seq") != 0)
        return recur_fail(RECUR_E_FORMAT, "%s: not a recur seq2seq model (recur.model = seq2seq)",
                          label);
    recur_seq2seq_config c = {0};
    const char *cell = recur_st_metadata(f, "seq2seq.cell");
    const char *attention = recur_st_metadata(f, "seq2seq.attention");
    int cell_index = -1, attention_index = -2;
    for (int i = 0; cell && i < 4; i++)
        if (!strcmp(cell, cell_names[i]))
            cell_index = i;
    if (attention && !strcmp(attention, "none"))
        attention_index = -1;
    for (int i = 0; attention && i < 4; i++)
        if (!strcmp(attention, attention_names[i]))
            attention_index = i;
    if (cell_index < 0 || attention_index < -1 ||
        !metadata_int(f, "seq2seq.source_vocab", 3, 1 << 24, &c.source_vocab) ||
        !metadata_int(f, "seq2seq.target_vocab", 3, 1 << 24, &c.target_vocab) ||
        !metadata_int(f, "seq2seq.embed_size", 1, 1 << 20, &c.embed_size) ||
        !metadata_int(f, "seq2seq.hidden_size", 1, 1 << 20, &c.hidden_size) ||
        !metadata_int(f, "seq2seq.num_layers", 1, 64, &c.num_layers) ||
        !metadata_int(f, "seq2seq.bidirectional", 0, 1, &c.bidirectional) ||
        !metadata_int(f, "seq2seq.attention_size", 0, 1 << 20, &c.attention_size))
        return recur_fail(RECUR_E_FORMAT, "%s: seq2seq metadata missing or invalid", label);
    c.cell = (recur_cell)cell_index;
    c.attention = attention_index >= 0;
    c.attention_kind = attention_index >= 0 ? (recur_attention_kind)attention_index
                                            : RECUR_ATTN_ADDITIVE;
    recur_seq2seq *m;
    RECUR_TRY(recur_seq2seq_create(&c, 0, &m));
    recur_status st = RECUR_OK;
    for (int i = 0; st == RECUR_OK && i < recur_seq2seq_param_count(m); i++) {
        recur_param p;
        if ((st = recur_seq2seq_param(m, i, &p)) != RECUR_OK)
            break;
        st = recur_param_read(f, &p);
    }
    if (st != RECUR_OK) {
        recur_seq2seq_free(m);
        return st;
    }
    *out = m;
    return RECUR_OK;
}
