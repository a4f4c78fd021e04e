/* Element types of safetensors files (internal). */
#ifndef RECUR_IO_DTYPE_H
#define RECUR_IO_DTYPE_H

#include "recur.h"

/* Parses "F32", "BF16", ...; returns 1 and sets *out if known. */
int recur_dtype_parse(const char *name, recur_dtype *out);

#endif
