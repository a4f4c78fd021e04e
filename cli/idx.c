/* IDX headers: sizes checked against the data, without overflow. */
#include "idx.h"

#include "cli_util.h"

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

int idx_check_header(const char *path, const unsigned char *data, size_t size, int dims,
                     uint32_t *shape)
{
    if (dims < 1 || dims > 4 || size < 4 + 4 * (size_t)dims || data[0] || data[1] ||
        data[2] != 0x08 || data[3] != dims)
        return cli_error("%s: not an IDX file of unsigned bytes with %d dimensions", path, dims);
    const size_t body = size - 4 - 4 * (size_t)dims;
    size_t count = 1;
    for (int k = 0; k < dims; k++) {
        shape[k] = be32(data + 4 + 4 * k);
        if (shape[k] == 0 || shape[k] > (1u << 24))
            return cli_error("%s: dimension %d is %u", path, k, shape[k]);
        if (count > body / shape[k]) /* more than the file holds (and no overflow) */
            return cli_error("%s: the header's sizes need more than the %zu data bytes", path,
                             body);
        count *= shape[k];
    }
    if (body != count)
        return cli_error("%s: %zu data bytes, the header says %zu", path, body, count);
    return 0;
}
