/* Byte-level vocabularies for character language models. */
#include <string.h>

#include "core/status.h"

static void vocab_index(recur_byte_vocab *vocab)
{
    for (int b = 0; b < 256; b++)
        vocab->ids[b] = -1;
    for (int i = 0; i < vocab->size; i++)
        vocab->ids[vocab->symbols[i]] = (int16_t)i;
}

recur_status recur_byte_vocab_build(const unsigned char *text, size_t length,
                                    recur_byte_vocab *vocab)
{
    if (!vocab || (!text && length))
        return recur_fail(RECUR_E_INVALID, "byte vocabulary: NULL argument");
    int seen[256] = {0};
    for (size_t i = 0; i < length; i++)
        seen[text[i]] = 1;
    vocab->size = 0;
    for (int b = 0; b < 256; b++)
        if (seen[b])
            vocab->symbols[vocab->size++] = (unsigned char)b;
    if (vocab->size == 0)
        return recur_fail(RECUR_E_SHAPE, "byte vocabulary: the text is empty");
    vocab_index(vocab);
    return RECUR_OK;
}

void recur_byte_vocab_to_hex(const recur_byte_vocab *vocab, char *hex)
{
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < vocab->size; i++) {
        hex[2 * i] = digits[vocab->symbols[i] >> 4];
        hex[2 * i + 1] = digits[vocab->symbols[i] & 15];
    }
    hex[2 * vocab->size] = '\0';
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

recur_status recur_byte_vocab_from_hex(const char *hex, recur_byte_vocab *vocab)
{
    size_t n = hex ? strlen(hex) : 0;
    if (n == 0 || n % 2 || n > 512)
        return recur_fail(RECUR_E_FORMAT, "byte vocabulary: bad hex string");
    vocab->size = (int)(n / 2);
    for (int i = 0; i < vocab->size; i++) {
        int hi = hex_digit(hex[2 * i]), lo = hex_digit(hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return recur_fail(RECUR_E_FORMAT, "byte vocabulary: bad hex string");
        vocab->symbols[i] = (unsigned char)(hi * 16 + lo);
        if (i > 0 && vocab->symbols[i] <= vocab->symbols[i - 1])
            return recur_fail(RECUR_E_FORMAT, "byte vocabulary: symbols not increasing");
    }
    vocab_index(vocab);
    return RECUR_OK;
}

recur_status recur_byte_vocab_encode(const recur_byte_vocab *vocab, const unsigned char *text,
                                     size_t length, int64_t *ids)
{
    for (size_t i = 0; i < length; i++) {
        int id = vocab->ids[text[i]];
        if (id < 0)
            return recur_fail(RECUR_E_SHAPE, "byte 0x%02x at offset %zu is not in the vocabulary",
                              text[i], i);
        ids[i] = id;
    }
    return RECUR_OK;
}
