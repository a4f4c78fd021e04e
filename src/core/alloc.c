#include "core/alloc.h"

#include <stdlib.h>

float *recur_alloc_floats(size_t count)
{
    size_t bytes;
    if (!recur_mul_size(count ? count : 1, sizeof(float), &bytes))
        return NULL;
    return calloc(1, bytes);
}

#include "core/status.h"

recur_status recur_buffer_reserve(recur_buffer *buffer, size_t count)
{
    if (count <= buffer->capacity)
        return RECUR_OK;
    float *grown = recur_alloc_floats(count);
    if (!grown)
        return recur_fail(RECUR_E_NOMEM, "out of memory allocating %zu floats", count);
    free(buffer->data);
    buffer->data = grown;
    buffer->capacity = count;
    return RECUR_OK;
}

void recur_buffer_release(recur_buffer *buffer)
{
    free(buffer->data);
    buffer->data = NULL;
    buffer->capacity = 0;
}
