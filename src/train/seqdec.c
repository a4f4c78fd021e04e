/* A sequence-to-sequence forecaster: an encoder stack reads the window, its
 * final states start a decoder stack that runs `horizon` steps on the
 * previous step's target values, and a Linear head turns each decoder output
 * into that step's K values. Teacher-forced training runs the decoder over
 * all steps at once (with a hand-written backward through head, decoder,
 * the state bridge and the encoder); inference feeds the predictions back
 * one step at a time. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/status.h"
#include "io/param_io.h"

#define MAX_SEQDEC_PARAMS 512

struct recur_seqdec {
    recur_seqdec_config config;
    recur_rnn *encoder, *decoder;
    recur_linear *head;
    int hout, is_lstm;
    /* the last forward */
    int seq_len, batch, forced; /* forced: teacher-forced, so backward may follow */
    recur_buffer enc_out;       /* [W, B, Hout] (unused, the stack writes it) */
    recur_buffer h_n, c_n;      /* the encoder's final states [L, B, Hout], [L, B, H] */
    recur_buffer dec_in;        /* [horizon, B, K] */
    recur_buffer dec_out;       /* [horizon, B, Hout] */
    recur_buffer head_out;      /* [horizon * B, K] rows h * B + b */
    recur_buffer result;        /* [B, horizon * K] */
    recur_buffer step_h, step_c; /* free running: two states each, ping-pong */
    recur_buffer grad_head_out, grad_dec_out, grad_h0, grad_c0;
    char names[MAX_SEQDEC_PARAMS][64];
};

recur_seqdec_config recur_seqdec_config_default(recur_cell cell, int input_size, int hidden_size,
                                                int targets, int horizon)
{
    recur_seqdec_config c = {0};
    c.rnn = recur_rnn_config_default(cell, input_size, hidden_size);
    c.targets = targets;
    c.horizon = horizon;
    return c;
}

void recur_seqdec_free(recur_seqdec *net)
{
    if (!net)
        return;
    recur_rnn_free(net->encoder);
    recur_rnn_free(net->decoder);
    recur_linear_free(net->head);
    recur_buffer *buffers[] = {&net->enc_out,       &net->h_n,          &net->c_n,
                               &net->dec_in,        &net->dec_out,      &net->head_out,
                               &net->result,        &net->step_h,       &net->step_c,
                               &net->grad_head_out, &net->grad_dec_out, &net->grad_h0,
                               &net->grad_c0};
    for (size_t i = 0; i < sizeof buffers / sizeof buffers[0]; i++)
        recur_buffer_release(buffers[i]);
    free(net);
}

recur_status recur_seqdec_create(const recur_seqdec_config *config, uint64_t seed,
                                 recur_seqdec **out)
{
    if (!config || !out)
        return recur_fail(RECUR_E_INVALID, "seqdec: NULL argument");
    *out = NULL;
    const recur_rnn_config *rc = &config->rnn;
    if (rc->batch_first || rc->bidirectional)
        return recur_fail(RECUR_E_INVALID, "seqdec: the encoder is time-major and unidirectional "
                                           "(batch_first and bidirectional must be 0)");
    if (config->targets < 1 || config->targets > (1 << 20) || config->horizon < 1 ||
        config->horizon > (1 << 20))
        return recur_fail(RECUR_E_INVALID, "seqdec: targets %d and horizon %d must be >= 1",
                          config->targets, config->horizon);
    recur_seqdec *net = calloc(1, sizeof *net);
    if (!net)
        return recur_fail(RECUR_E_NOMEM, "seqdec: out of memory");
    net->config = *config;
    net->hout = rc->proj_size ? rc->proj_size : rc->hidden_size;
    net->is_lstm = rc->cell == RECUR_LSTM;
    recur_status st = recur_rnn_create(rc, seed, &net->encoder);
    if (st == RECUR_OK) {
        recur_rnn_config dc = *rc;
        dc.input_size = config->targets;
        st = recur_rnn_create(&dc, seed + 1, &net->decoder);
    }
    if (st == RECUR_OK)
        st = recur_linear_create(net->hout, config->targets, 1, seed + 2, &net->head);
    if (st == RECUR_OK && recur_seqdec_param_count(net) > MAX_SEQDEC_PARAMS)
        st = recur_fail(RECUR_E_INVALID, "seqdec: too many layers");
    if (st != RECUR_OK) {
        recur_seqdec_free(net);
        return st;
    }
    *out = net;
    return RECUR_OK;
}

const recur_seqdec_config *recur_seqdec_get_config(const recur_seqdec *net)
{
    return &net->config;
}

int recur_seqdec_param_count(const recur_seqdec *net)
{
    return recur_rnn_param_count(net->encoder) + recur_rnn_param_count(net->decoder) +
           recur_linear_param_count(net->head);
}

recur_status recur_seqdec_param(const recur_seqdec *net, int index, recur_param *out)
{
    if (!net || !out || index < 0 || index >= recur_seqdec_param_count(net))
        return recur_fail(RECUR_E_INVALID, "seqdec: parameter index %d out of range", index);
    const int name_index = index;
    int enc = recur_rnn_param_count(net->encoder), dec = recur_rnn_param_count(net->decoder);
    const char *prefix;
    if (index < enc) {
        RECUR_TRY(recur_rnn_param(net->encoder, index, out));
        prefix = "encoder.";
    } else if ((index -= enc) < dec) {
        RECUR_TRY(recur_rnn_param(net->decoder, index, out));
        prefix = "decoder.";
    } else {
        RECUR_TRY(recur_linear_param(net->head, index - dec, out));
        prefix = "head.";
    }
    char *name = ((recur_seqdec *)net)->names[name_index];
    snprintf(name, sizeof net->names[0], "%s%s", prefix, out->name);
    out->name = name;
    return RECUR_OK;
}

void recur_seqdec_zero_grad(recur_seqdec *net)
{
    recur_rnn_zero_grad(net->encoder);
    recur_rnn_zero_grad(net->decoder);
    recur_linear_zero_grad(net->head);
}

void recur_seqdec_set_training(recur_seqdec *net, int training)
{
    recur_rnn_set_training(net->encoder, training);
    recur_rnn_set_training(net->decoder, training);
}

/* head_out rows h * B + b -> result [B, horizon * K]. */
static void gather_result(recur_seqdec *net, int step_begin, int step_end)
{
    const int B = net->batch, K = net->config.targets, HK = net->config.horizon * K;
    for (int h = step_begin; h < step_end; h++)
        for (int b = 0; b < B; b++)
            memcpy(net->result.data + (size_t)b * HK + (size_t)h * K,
                   net->head_out.data + ((size_t)h * B + b) * K, (size_t)K * sizeof(float));
}

recur_status recur_seqdec_forward(recur_seqdec *net, int seq_len, int batch, const float *input,
                                  const float *start, const float *teacher, const float **result)
{
    if (!net || !input || !start || !result || seq_len < 1 || batch < 1)
        return recur_fail(RECUR_E_INVALID, "seqdec_forward: bad arguments");
    const int B = batch, K = net->config.targets, Hz = net->config.horizon, Ho = net->hout;
    const size_t rows = (size_t)Hz * (size_t)B;
    net->seq_len = 0, net->forced = 0;
    RECUR_TRY(recur_buffer_reserve(&net->enc_out, (size_t)seq_len * B * Ho));
    RECUR_TRY(recur_buffer_reserve(&net->h_n, recur_rnn_state_numel(net->encoder, B)));
    RECUR_TRY(recur_buffer_reserve(&net->c_n, recur_rnn_cell_state_numel(net->encoder, B) + 1));
    RECUR_TRY(recur_buffer_reserve(&net->dec_in, rows * K));
    RECUR_TRY(recur_buffer_reserve(&net->dec_out, rows * Ho));
    RECUR_TRY(recur_buffer_reserve(&net->head_out, rows * K));
    RECUR_TRY(recur_buffer_reserve(&net->result, rows * K));
    recur_rnn_forward_args enc = {seq_len, B, input, NULL, NULL, NULL, net->enc_out.data,
                                  net->h_n.data, net->is_lstm ? net->c_n.data : NULL};
    RECUR_TRY(recur_rnn_forward(net->encoder, &enc));
    net->batch = B;
    memcpy(net->dec_in.data, start, (size_t)B * K * sizeof(float));
    if (teacher) {
        /* step h > 0 reads the true values of step h - 1 */
        for (int h = 1; h < Hz; h++)
            for (int b = 0; b < B; b++)
                memcpy(net->dec_in.data + ((size_t)h * B + b) * K,
                       teacher + (size_t)b * Hz * K + (size_t)(h - 1) * K,
                       (size_t)K * sizeof(float));
        recur_rnn_forward_args dec = {Hz, B, net->dec_in.data, NULL, net->h_n.data,
                                      net->is_lstm ? net->c_n.data : NULL, net->dec_out.data,
                                      NULL, NULL};
        RECUR_TRY(recur_rnn_forward(net->decoder, &dec));
        RECUR_TRY(recur_linear_forward(net->head, (int)rows, net->dec_out.data,
                                       net->head_out.data));
        gather_result(net, 0, Hz);
        net->seq_len = seq_len, net->forced = 1;
        *result = net->result.data;
        return RECUR_OK;
    }
    /* free running: one step at a time, the prediction becomes the next input */
    size_t hs = recur_rnn_state_numel(net->decoder, B);
    size_t cs = recur_rnn_cell_state_numel(net->decoder, B);
    RECUR_TRY(recur_buffer_reserve(&net->step_h, 2 * hs));
    RECUR_TRY(recur_buffer_reserve(&net->step_c, 2 * cs + 1));
    memcpy(net->step_h.data, net->h_n.data, hs * sizeof(float));
    if (net->is_lstm)
        memcpy(net->step_c.data, net->c_n.data, cs * sizeof(float));
    int cur = 0;
    for (int h = 0; h < Hz; h++) {
        float *in = net->dec_in.data + (size_t)h * B * K;
        float *out = net->dec_out.data + (size_t)h * B * Ho;
        float *y = net->head_out.data + (size_t)h * B * K;
        recur_rnn_forward_args dec = {1,
                                      B,
                                      in,
                                      NULL,
                                      net->step_h.data + (size_t)cur * hs,
                                      net->is_lstm ? net->step_c.data + (size_t)cur * cs : NULL,
                                      out,
                                      net->step_h.data + (size_t)(1 - cur) * hs,
                                      net->is_lstm ? net->step_c.data + (size_t)(1 - cur) * cs
                                                   : NULL};
        RECUR_TRY(recur_rnn_forward(net->decoder, &dec));
        RECUR_TRY(recur_linear_forward(net->head, B, out, y));
        if (h + 1 < Hz)
            memcpy(in + (size_t)B * K, y, (size_t)B * K * sizeof(float));
        cur = 1 - cur;
    }
    gather_result(net, 0, Hz);
    net->seq_len = seq_len;
    *result = net->result.data;
    return RECUR_OK;
}

recur_status recur_seqdec_backward(recur_seqdec *net, const float *grad_result, float *grad_input)
{
    if (!net || !grad_result)
        return recur_fail(RECUR_E_INVALID, "seqdec_backward: NULL argument");
    if (!net->seq_len || !net->forced)
        return recur_fail(RECUR_E_STATE, "seqdec_backward needs a teacher-forced forward pass "
                                         "before it");
    const int B = net->batch, K = net->config.targets, Hz = net->config.horizon, Ho = net->hout;
    const size_t rows = (size_t)Hz * (size_t)B;
    RECUR_TRY(recur_buffer_reserve(&net->grad_head_out, rows * K));
    RECUR_TRY(recur_buffer_reserve(&net->grad_dec_out, rows * Ho));
    RECUR_TRY(recur_buffer_reserve(&net->grad_h0, recur_rnn_state_numel(net->decoder, B)));
    RECUR_TRY(
        recur_buffer_reserve(&net->grad_c0, recur_rnn_cell_state_numel(net->decoder, B) + 1));
    for (int h = 0; h < Hz; h++)
        for (int b = 0; b < B; b++)
            memcpy(net->grad_head_out.data + ((size_t)h * B + b) * K,
                   grad_result + (size_t)b * Hz * K + (size_t)h * K, (size_t)K * sizeof(float));
    RECUR_TRY(recur_linear_backward(net->head, net->grad_head_out.data, net->grad_dec_out.data));
    /* decoder: its inputs are data; the gradient of its initial state goes
     * to the encoder's final state (the bridge is the identity) */
    recur_rnn_backward_args db = {net->grad_dec_out.data, NULL, NULL, NULL, net->grad_h0.data,
                                  net->is_lstm ? net->grad_c0.data : NULL};
    RECUR_TRY(recur_rnn_backward(net->decoder, &db));
    recur_rnn_backward_args eb = {NULL,       net->grad_h0.data,
                                  net->is_lstm ? net->grad_c0.data : NULL,
                                  grad_input, NULL,
                                  NULL};
    return recur_rnn_backward(net->encoder, &eb);
}

recur_status recur_seqdec_write(const recur_seqdec *net, recur_st_writer *w)
{
    if (!net || !w)
        return recur_fail(RECUR_E_INVALID, "seqdec_write: NULL argument");
    RECUR_TRY(recur_rnn_write(net->encoder, w, "encoder."));
    RECUR_TRY(recur_st_writer_set_metadata(w, "recur.model", "seqdec"));
    char number[32];
    snprintf(number, sizeof number, "%d", net->config.targets);
    RECUR_TRY(recur_st_writer_set_metadata(w, "seqdec.targets", number));
    snprintf(number, sizeof number, "%d", net->config.horizon);
    RECUR_TRY(recur_st_writer_set_metadata(w, "seqdec.horizon", number));
    /* the decoder and the head under their parameter names */
    for (int i = recur_rnn_param_count(net->encoder); i < recur_seqdec_param_count(net); i++) {
        recur_param p;
        RECUR_TRY(recur_seqdec_param(net, i, &p));
        RECUR_TRY(recur_param_write(w, &p));
    }
    return RECUR_OK;
}

static int metadata_int(const recur_st_file *f, const char *key, int *out)
{
    const char *text = recur_st_metadata(f, key);
    char *end = NULL;
    long v = text ? strtol(text, &end, 10) : 0;
    if (!text || !*text || *end || v < 1 || v > (1 << 20))
        return 0;
    *out = (int)v;
    return 1;
}

recur_status recur_seqdec_read(const recur_st_file *f, recur_seqdec **out)
{
    if (!f || !out)
        return recur_fail(RECUR_E_INVALID, "seqdec_read: NULL argument");
    *out = NULL;
    const char *label = recur_st_label(f);
    const char *model = recur_st_metadata(f, "recur.model");
    if (!model || strcmp(model, "seqdec") != 0)
        return recur_fail(RECUR_E_FORMAT, "%s: not a recur sequence-to-sequence forecaster "
                                          "(recur.model = seqdec)",
                          label);
    recur_seqdec_config c = {0};
    if (!metadata_int(f, "seqdec.targets", &c.targets) ||
        !metadata_int(f, "seqdec.horizon", &c.horizon))
        return recur_fail(RECUR_E_FORMAT, "%s: metadata seqdec.targets or seqdec.horizon missing "
                                          "or invalid",
                          label);
    recur_rnn *rnn;
    RECUR_TRY(recur_rnn_read(f, "encoder.", &rnn));
    c.rnn = *recur_rnn_get_config(rnn);
    recur_rnn_free(rnn);
    recur_seqdec *net;
    RECUR_TRY(recur_seqdec_create(&c, 0, &net));
    recur_status st = RECUR_OK;
    for (int i = 0; st == RECUR_OK && i < recur_seqdec_param_count(net); i++) {
        recur_param p;
        if ((st = recur_seqdec_param(net, i, &p)) != RECUR_OK)
            break;
        st = recur_param_read(f, &p);
    }
    if (st != RECUR_OK) {
        recur_seqdec_free(net);
        return st;
    }
    *out = net;
    return RECUR_OK;
}
