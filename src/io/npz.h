/* NumPy .npz archives (internal): a zip file of .npy arrays, as np.savez and
 * np.savez_compressed write them. Members may be stored or deflated; every
 * size, offset and count is checked against the archive before use, the
 * CRC-32 of each member is verified, and a member may not inflate beyond
 * what deflate can reach from its compressed size. Arrays must be float32 or
 * float64 ('<f4', '<f8', little-endian), C or Fortran order (converted to C
 * order), at most RECUR_MAX_DIMS dimensions; anything else is RECUR_E_FORMAT
 * naming the archive and member. */
#ifndef RECUR_IO_NPZ_H
#define RECUR_IO_NPZ_H

#include <stddef.h>

#include "recur.h"

typedef struct recur_npz recur_npz;

/* Reads and validates a whole archive; `label` names it in messages. */
recur_status recur_npz_open(const char *path, recur_npz **out);
recur_status recur_npz_open_memory(const void *bytes, size_t size, const char *label,
                                   recur_npz **out);
void recur_npz_close(recur_npz *npz);

/* The arrays, in the archive's order; names without ".npy". A view's data
 * lies inside the archive object (maybe unaligned: read it with
 * recur_tensor_to_f32). */
size_t recur_npz_count(const recur_npz *npz);
const recur_tensor_view *recur_npz_tensor(const recur_npz *npz, size_t index);

/* 1 when the bytes begin as a zip archive ("PK\3\4" or an empty one's "PK\5\6"). */
int recur_npz_is_zip(const void *bytes, size_t size);

#endif
