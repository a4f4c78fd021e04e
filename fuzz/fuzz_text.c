/* libFuzzer target: the word/char tokenizer and vocabularies (text
 * classification), the byte vocabulary of the language model, and the small
 * text parsers (times, frequencies, fill and aggregation names). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "recur.h"

static recur_status add_token(const char *token, size_t length, void *context)
{
    return recur_vocab_add((recur_vocab *)context, token, length);
}

static recur_status look_up(const char *token, size_t length, void *context)
{
    (void)recur_vocab_id((const recur_vocab *)context, token, length);
    return RECUR_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    recur_token_options options = recur_token_options_default();
    options.kind = (recur_token_kind)(data[0] & 1);
    options.lowercase = (data[0] >> 1) & 1;
    options.split_punctuation = (data[0] >> 2) & 1;
    const char *text = (const char *)data + 1;
    const size_t length = size - 1;
    recur_vocab *vocab = NULL;
    if (recur_vocab_create(&vocab) == RECUR_OK &&
        recur_tokenize(text, length, &options, add_token, vocab) == RECUR_OK &&
        recur_vocab_finish(vocab, 1000, 1) == RECUR_OK) {
        recur_tokenize(text, length, &options, look_up, vocab);
        for (int64_t id = 0; id < recur_vocab_size(vocab); id++) {
            size_t n;
            (void)recur_vocab_token(vocab, id, &n);
        }
    }
    recur_vocab_free(vocab);

    recur_byte_vocab bytes;
    if (recur_byte_vocab_build((const unsigned char *)text, length, &bytes) == RECUR_OK) {
        char hex[2 * 256 + 1];
        recur_byte_vocab_to_hex(&bytes, hex);
        recur_byte_vocab back;
        recur_byte_vocab_from_hex(hex, &back);
    }

    /* The parsers of short texts take NUL-terminated strings. */
    char *s = malloc(length + 1);
    if (s) {
        memcpy(s, text, length);
        s[length] = '\0';
        int64_t t;
        recur_freq freq;
        recur_fill fill;
        recur_agg agg;
        recur_byte_vocab v;
        recur_time_parse(s, &t);
        recur_freq_parse(s, &freq);
        recur_fill_parse(s, &fill);
        recur_agg_parse(s, &agg);
        recur_byte_vocab_from_hex(s, &v);
        free(s);
    }
    return 0;
}
