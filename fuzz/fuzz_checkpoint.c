/* libFuzzer target: what `recur train --resume` reads from a checkpoint
 * beyond the tensors (which fuzz_safetensors covers): the training options
 * saved as metadata and restored through the option table, and the language
 * model and its generator state. Errors go to stderr (-close_fd_mask=2). */
#include <stdint.h>
#include <stdlib.h>

#include "cli_util.h"
#include "train_options.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    recur_st_file *file = NULL;
    if (recur_st_open_memory(data, size, "fuzz", &file) != RECUR_OK)
        return 0;
    char *argv[] = {"train", "--text", "x.txt", NULL};
    train_options o;
    if (train_options_parse(3, argv, &o) < 0)
        cli_options_restore(&o, file, "recur.train.", 1);
    recur_lm *lm = NULL;
    if (recur_lm_load(file, &lm) == RECUR_OK) {
        uint64_t rng[8] = {1, 2, 3, 4, 5, 6, 7, 8};
        recur_lm_set_rng_state(lm, rng);
        recur_lm_free(lm);
    }
    recur_st_close(file);
    return 0;
}
