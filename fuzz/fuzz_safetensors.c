/* libFuzzer target: the safetensors reader and every model reader on top of
 * it (stack, language model, classifier/forecaster, seq2seq, forecast
 * decoder, vocabulary, scaler, optimizer state), plus a short forward of a
 * stack that loads. Checkpoints are safetensors files read by these same
 * functions. Build and run: scripts/fuzz.sh. */
#include <stdint.h>
#include <stdlib.h>

#include "fuzz_common.h"
#include "recur.h"

/* Every tensor, converted as the readers would. */
static void convert_all(const recur_st_file *file)
{
    for (size_t i = 0; i < recur_st_count(file); i++)
        fuzz_convert(recur_st_tensor(file, i));
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
        fuzz_run_stack(rnn, 1);
    recur_rnn_free(rnn);
    rnn = NULL;
    if (recur_rnn_read(file, "rnn.", &rnn) == RECUR_OK)
        fuzz_run_stack(rnn, 1);
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
