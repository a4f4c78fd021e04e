/* Element types of safetensors files (internal). */
#ifndef RECUR_IO_DTYPE_H
#define RECUR_IO_DTYPE_H

#include "recur.h"

/* safetensors data is little-endian. The reader and the writer copy
 * elements in host byte order (memcpy), so they need a little-endian host. */
#if defined(__BYTE_ORDER__) && defined(__ORDER_LITTLE_ENDIAN__) && \
    __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "recur reads and writes safetensors data in host byte order: little-endian hosts only"
#endif

/* Parses "F32", "BF16", ... (exact, case-sensitive); returns 1 and sets
 * *out if the name is known, 0 otherwise. */
int recur_dtype_parse(const char *s, recur_dtype *out);

#endif
