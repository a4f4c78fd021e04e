/* libFuzzer target: what `recur import` reads, Keras weights as a NumPy .npz
 * (the zip reader with zip64 records, inflate, CRC-32 and the .npy headers)
 * or a safetensors file, into an LSTM or GRU stack (both GRU bias layouts),
 * plus a short forward of a stack that imports. Build and run:
 * scripts/fuzz.sh 60 import. */
#include <stdint.h>
#include <stdlib.h>

#include "io/npz.h"
#include "recur.h"

/* Every array that is not huge, converted as the importer does. */
static void convert_arrays(const uint8_t *data, size_t size)
{
    recur_npz *npz = NULL;
    if (recur_npz_open_memory(data, size, "fuzz", &npz) != RECUR_OK)
        return;
    for (size_t i = 0; i < recur_npz_count(npz); i++) {
        const recur_tensor_view *t = recur_npz_tensor(npz, i);
        if (t->numel > (1u << 16))
            continue;
        float *f = malloc(sizeof(float) * (t->numel ? t->numel : 1));
        if (f)
            recur_tensor_to_f32(t, f, t->numel);
        free(f);
    }
    recur_npz_close(npz);
}

/* A stack that imports runs two steps of one sequence when it is small. */
static void run_stack(recur_rnn *rnn)
{
    const recur_rnn_config *c = recur_rnn_get_config(rnn);
    if ((size_t)c->input_size * (size_t)c->hidden_size * (size_t)c->num_layers > (1u << 16))
        return;
    size_t in_n = 2 * (size_t)c->input_size, out_n = recur_rnn_output_numel(rnn, 2, 1);
    float *x = calloc(in_n, sizeof(float)), *y = calloc(out_n, sizeof(float));
    if (x && y) {
        recur_rnn_forward_args fwd = {2, 1, x, NULL, NULL, NULL, y, NULL, NULL};
        recur_rnn_forward(rnn, &fwd);
    }
    free(x), free(y);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    convert_arrays(data, size);
    recur_keras_options options[3] = {recur_keras_options_default(RECUR_LSTM),
                                      recur_keras_options_default(RECUR_GRU),
                                      recur_keras_options_default(RECUR_GRU)};
    options[2].reset_after = 0;
    for (int i = 0; i < 3; i++) {
        recur_rnn *rnn = NULL;
        if (recur_keras_import_memory(data, size, "fuzz", &options[i], &rnn) == RECUR_OK)
            run_stack(rnn);
        recur_rnn_free(rnn);
    }
    return 0;
}
