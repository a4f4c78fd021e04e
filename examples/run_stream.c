/* Scores a byte stream with a language model written by `recur train`:
 * reads stdin chunk by chunk, runs each chunk through the model from the
 * state the previous chunk left (recur_lm carries it), and prints the loss of
 * every byte, -log p(byte | all bytes before it), in nats.
 * usage: run_stream MODEL.safetensors [CHUNK_BYTES] < text
 * Output: one line per byte "offset<TAB>byte<TAB>loss", then a summary line.
 * The first byte has no context and is not scored; a byte outside the
 * model's vocabulary is printed with loss "-" and skipped (not fed). */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <recur.h>

static int fail(const char *what)
{
    fprintf(stderr, "run_stream: %s: %s\n", what, recur_last_error());
    return 1;
}

static void print_byte(long long offset, unsigned char byte, const char *loss)
{
    if (isprint(byte) && byte != '\\')
        printf("%lld\t%c\t%s\n", offset, byte, loss);
    else
        printf("%lld\t\\x%02x\t%s\n", offset, byte, loss);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: run_stream MODEL.safetensors [CHUNK_BYTES] < text\n");
        return 2;
    }
    int chunk_bytes = argc > 2 ? atoi(argv[2]) : 256;
    if (chunk_bytes < 1 || chunk_bytes > 1 << 20) {
        fprintf(stderr, "run_stream: CHUNK_BYTES must be in 1..1048576\n");
        return 2;
    }

    /* The model and its byte vocabulary (metadata "recur.vocab"). */
    recur_st_file *file;
    recur_lm *lm;
    recur_byte_vocab vocab;
    if (recur_st_open(argv[1], &file) != RECUR_OK)
        return fail("open");
    if (recur_lm_load(file, &lm) != RECUR_OK)
        return fail("load");
    const char *hex = recur_st_metadata(file, "recur.vocab");
    if (!hex || recur_byte_vocab_from_hex(hex, &vocab) != RECUR_OK) {
        fprintf(stderr, "run_stream: %s has no byte vocabulary (not written by recur train)\n",
                argv[1]);
        return 1;
    }
    const int vocab_size = recur_lm_get_config(lm)->vocab_size;
    recur_st_close(file); /* the model holds its own copy of the weights */

    unsigned char *chunk = malloc((size_t)chunk_bytes);
    int64_t *ids = malloc((size_t)chunk_bytes * sizeof *ids);
    long long *offsets = malloc((size_t)chunk_bytes * sizeof *offsets);
    float *previous = malloc((size_t)vocab_size * sizeof *previous); /* last logits row */
    if (!chunk || !ids || !offsets || !previous) {
        fprintf(stderr, "run_stream: out of memory\n");
        return 1;
    }

    int have_previous = 0, status = 0;
    long long offset = 0, scored = 0;
    double total_loss = 0;
    size_t got;
    recur_lm_reset_state(lm);
    while (!status && (got = fread(chunk, 1, (size_t)chunk_bytes, stdin)) > 0) {
        /* Bytes in the vocabulary become ids; the others are reported and skipped. */
        int steps = 0;
        for (size_t i = 0; i < got; i++, offset++) {
            int id = vocab.ids[chunk[i]];
            if (id < 0) {
                print_byte(offset, chunk[i], "-");
                continue;
            }
            ids[steps] = id;
            offsets[steps++] = offset;
        }
        if (!steps)
            continue;
        /* One sequence (batch 1), time-major ids [steps, 1]: the state carries on. */
        const float *logits;
        if (recur_lm_forward(lm, steps, 1, ids, &logits) != RECUR_OK) {
            status = fail("forward");
            break;
        }
        /* Byte t is predicted by the logits after byte t-1 (the previous
         * chunk's last row for t = 0). */
        for (int t = 0; t < steps; t++) {
            const float *row = t ? logits + (size_t)(t - 1) * (size_t)vocab_size : previous;
            unsigned char byte = vocab.symbols[ids[t]];
            if (!t && !have_previous) {
                print_byte(offsets[t], byte, "-");
                continue;
            }
            float loss;
            if (recur_cross_entropy(1, vocab_size, row, &ids[t], NULL, &loss, NULL) != RECUR_OK) {
                status = fail("loss");
                break;
            }
            char text[32];
            snprintf(text, sizeof text, "%.4f", loss);
            print_byte(offsets[t], byte, text);
            total_loss += loss;
            scored++;
        }
        memcpy(previous, logits + (size_t)(steps - 1) * (size_t)vocab_size,
               (size_t)vocab_size * sizeof *previous);
        have_previous = 1;
    }
    if (!status)
        printf("# %lld bytes read, %lld scored: %.4f nats/byte (%.4f bits/byte)\n", offset, scored,
               scored ? total_loss / (double)scored : 0.0,
               scored ? total_loss / (double)scored / log(2.0) : 0.0);
    free(chunk), free(ids), free(offsets), free(previous);
    recur_lm_free(lm);
    return status;
}
