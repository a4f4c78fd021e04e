/* Helpers of the CUDA backend: error conversion and growable device
 * buffers. Internal; compiled only with RECUR_CUDA. */
#ifndef RECUR_BACKEND_CUDA_CUDA_UTIL_H
#define RECUR_BACKEND_CUDA_CUDA_UTIL_H

#include <stddef.h>

#include "recur.h"

/* RECUR_OK for cudaSuccess (0); else RECUR_E_NOMEM (out of memory) or
 * RECUR_E_DEVICE with "CUDA <what> failed: <error string>". */
recur_status cuda_check(int error, const char *what);
/* RECUR_E_INVALID with a message unless a GPU is usable. */
recur_status cuda_require_device(void);

/* Device memory that grows on demand (contents are not kept when it grows). */
typedef struct cuda_buffer {
    void *ptr;
    size_t size; /* bytes */
} cuda_buffer;

recur_status cuda_buffer_reserve(cuda_buffer *buffer, size_t bytes);
void cuda_buffer_release(cuda_buffer *buffer);

#endif
