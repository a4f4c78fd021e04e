/* libFuzzer target: what `recur import` reads, Keras weights as a NumPy .npz
 * (the zip reader with zip64 records, inflate, CRC-32 and the .npy headers)
 * or a safetensors file, into an LSTM or GRU stack (both GRU bias layouts),
 * plus a short forward of a stack that imports. Build and run:
 * scripts/fuzz.sh 60 import. */
#include <stdint.h>
#include <stdlib.h>

#include "fuzz_common.h"
#include "io/npz.h"
#include "recur.h"

/* Every array, converted as the importer does. */
static void convert_arrays(const uint8_t *data, size_t size)
{
    recur_npz *npz = NULL;
    if (recur_npz_open_memory(data, size, "fuzz", &npz) != RECUR_OK)
        return;
    for (size_t i = 0; i < recur_npz_count(npz); i++)
        fuzz_convert(recur_npz_tensor(npz, i));
    recur_npz_close(npz);
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
            fuzz_run_stack(rnn, 0);
        recur_rnn_free(rnn);
    }
    return 0;
}
