/* Checked allocation helpers and growable buffers (internal). */
#ifndef RECUR_CORE_ALLOC_H
#define RECUR_CORE_ALLOC_H

#include <stddef.h>
#include <stdint.h>

#include "recur.h"

/* *out = a * b; returns 0 on overflow. */
static inline int recur_mul_size(size_t a, size_t b, size_t *out)
{
    if (a != 0 && b > SIZE_MAX / a)
        return 0;
    *out = a * b;
    return 1;
}

/* Zeroed array of count floats, NULL on overflow or failure. */
float *recur_alloc_floats(size_t count);

/* A float array that grows on demand and is reused across calls. */
typedef struct recur_buffer {
    float *data;
    size_t capacity; /* in floats */
} recur_buffer;

/* Makes room for `count` floats (contents are not preserved when it grows). */
recur_status recur_buffer_reserve(recur_buffer *buffer, size_t count);
void recur_buffer_release(recur_buffer *buffer);

#endif
