#define _POSIX_C_SOURCE 200809L
#include "core/alloc.h"

#include <stdlib.h>
#include <unistd.h>

/* Bytes of physical memory, SIZE_MAX when unknown. */
static size_t physical_memory(void)
{
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    size_t bytes;
    if (pages <= 0 || page <= 0 || !recur_mul_size((size_t)pages, (size_t)page, &bytes))
        return SIZE_MAX;
    return bytes;
}

float *recur_alloc_floats(size_t count)
{
    size_t bytes;
    if (!recur_mul_size(count ? count : 1, sizeof(float), &bytes))
        return NULL;
    /* With overcommit a block larger than the machine's memory may be
     * granted and then kill the process when touched: refuse it here, so
     * that the caller reports out of memory instead. */
    if (bytes > physical_memory())
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
