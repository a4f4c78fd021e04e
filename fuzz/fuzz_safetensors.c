/* libFuzzer target: the safetensors reader and every model reader on top of
 * it (stack, language model, classifier/forecaster, seq2seq, forecast
 * decoder, vocabulary, scaler, optimizer state), plus a short forward of a
 * stack that loads. Checkpoints are safetensors files read by these same
 * functions. Build and run: scripts/fuzz.sh. */
#include <stdint.h>
#include <stdlib.h>

#include "recur.h"

/* Converts every tensor that is not huge, as the readers would. */
static void convert_all(const recur_st_file *file)
{
    for (size_t i = 0; i < recur_st_count(file); i++) {
        const recur_tensor_view *t = recur_st_tensor(file, i);
        if (t->numel > (1u << 16))
            continue;
        float *f = malloc(sizeof(float) * (t->numel ? t->numel : 1));
        int64_t *n = malloc(sizeof(int64_t) * (t->numel ? t->numel : 1));
        if (f && n) {
            recur_tensor_to_f32(t, f, t->numel);
            recur_tensor_to_i64(t, n, t->numel);
        }
        free(f);
        free(n);
    }
}

/* A stack that loads runs two steps of one sequence when it is small. */
static void run_stack(recur_rnn *rnn)
{
    const recur_rnn_config *c = recur_rnn_get_config(rnn);
    if ((size_t)c->input_size * (size_t)c->hidden_size * (size_t)c->num_layers > (1u << 16))
        return;
    size_t in_n = 2 * (size_t)c->input_size, out_n = recur_rnn_output_numel(rnn, 2, 1);
    float *x = calloc(in_n, sizeof(float)), *y = calloc(out_n, sizeof(float));
    float *dy = calloc(out_n, sizeof(float)), *dx = calloc(in_n, sizeof(float));
    if (x && y && dy && dx) {
        recur_rnn_forward_args fwd = {2, 1, x, NULL, NULL, NULL, y, NULL, NULL};
        if (recur_rnn_forward(rnn, &fwd) == RECUR_OK) {
            recur_rnn_backward_args bwd = {dy, NULL, NULL, dx, NULL, NULL};
            recur_rnn_backward(rnn, &bwd);
        }
    }
    free(x), free(y), free(dy), free(dx);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    recur_st_file *file = NULL;
    if (recur_st_open_memory(data, size, "fuzz", &file) != RECUR_OK)
        return 0;
    convert_all(file);
    recur_rnn *rnn = NULL;
    if (recur_rnn_from_safetensors(file, &rnn) == RECUR_OK)
        run_stack(rnn);
    recur_rnn_free(rnn);
    rnn = NULL;
    if (recur_rnn_read(file, "rnn.", &rnn) == RECUR_OK)
        run_stack(rnn);
    recur_rnn_free(rnn);
    recur_lm *lm = NULL;
    if (recur_lm_load(file, &lm) == RECUR_OK)
        recur_lm_free(lm);
    recur_seqnet *net = NULL;
    if (recur_seqnet_read(file, &net) == RECUR_OK)
        recur_seqnet_free(net);
    recur_seqdec *dec = NULL;
    if (recur_seqdec_read(file, &dec) == RECUR_OK)
        recur_seqdec_free(dec);
    recur_seq2seq *s2s = NULL;
    if (recur_seq2seq_read(file, &s2s) == RECUR_OK)
        recur_seq2seq_free(s2s);
    recur_vocab *vocab = NULL;
    if (recur_vocab_read(file, "vocab.tokens", &vocab) == RECUR_OK)
        recur_vocab_free(vocab);
    recur_scaler *scaler = NULL;
    if (recur_scaler_read(file, "scaler.", &scaler) == RECUR_OK)
        recur_scaler_free(scaler);
    /* Optimizer state of a checkpoint, for one registered tensor of 4 floats. */
    recur_optimizer_config oc = recur_optimizer_config_default(RECUR_ADAM);
    recur_optimizer *opt = NULL;
    float value[4] = {0}, grad[4] = {0};
    if (recur_optimizer_create(&oc, &opt) == RECUR_OK &&
        recur_optimizer_add(opt, value, grad, 4) == RECUR_OK)
        recur_optimizer_read(opt, file, "optimizer.");
    recur_optimizer_free(opt);
    recur_st_close(file);
    return 0;
}
