/* libFuzzer target: IDX headers (MNIST's image and label files), checked
 * against the invariant the reader relies on: an accepted header's sizes
 * multiply, without overflow, to exactly the bytes that follow. The first
 * byte picks the number of dimensions (1 or 3 as `recur classify` reads). */
#include <stdint.h>
#include <stdlib.h>

#include "idx.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const int dims = (data[0] & 1) ? 3 : 1;
    uint32_t shape[3] = {0, 0, 0};
    if (idx_check_header("fuzz", data + 1, size - 1, dims, shape) == 0) {
        unsigned __int128 count = 1;
        for (int k = 0; k < dims; k++)
            count *= shape[k];
        if (count != (unsigned __int128)(size - 1 - 4 - 4 * (size_t)dims))
            abort(); /* the reader would index past the data */
        volatile uint8_t last = data[size - 1]; /* the last pixel the reader reads */
        (void)last;
    }
    return 0;
}
