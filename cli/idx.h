/* IDX files (MNIST's format) of unsigned bytes. */
#ifndef RECUR_CLI_IDX_H
#define RECUR_CLI_IDX_H

#include <stddef.h>
#include <stdint.h>

/* Checks the header of an IDX file of unsigned bytes with `dims` dimensions
 * (magic 0 0 0x08 dims, then dims big-endian sizes, each 1..2^24) and that
 * exactly the product of the sizes follows: fills shape[dims]. Returns 0, or
 * exit status 2 after printing the error naming `path`. */
int idx_check_header(const char *path, const unsigned char *data, size_t size, int dims,
                     uint32_t *shape);

#endif
