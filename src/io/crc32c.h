/* CRC-32C (Castagnoli) as used by TFRecord framing (internal). */
#ifndef RECUR_IO_CRC32C_H
#define RECUR_IO_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* CRC-32C of `size` bytes: reflected polynomial 0x82F63B78, initial value and
 * final xor 0xFFFFFFFF. crc32c("123456789") = 0xE3069283. */
uint32_t recur_crc32c(const void *data, size_t size);

/* Continues a CRC: recur_crc32c_extend(recur_crc32c(a), b) = crc32c(a || b). */
uint32_t recur_crc32c_extend(uint32_t crc, const void *data, size_t size);

/* TFRecord's masked CRC: ((crc >> 15) | (crc << 17)) + 0xa282ead8. */
static inline uint32_t recur_crc32c_mask(uint32_t crc)
{
    return ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
}

#endif
