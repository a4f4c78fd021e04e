/* recur eval MODEL --text FILE: the loss of a language model on a text, in
 * nats and bits per byte and as perplexity. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_util.h"
#include "commands.h"
#include "options.h"

enum { EVAL_TEXT, EVAL_BATCH, EVAL_BPTT };

static const cli_option eval_specs[] = {
    {EVAL_TEXT, "text", OPTION_PATH, SCOPE_RUN, NULL, 0, 0, NULL, "text to score (required)"},
    {EVAL_BATCH, "batch", OPTION_INT, SCOPE_RUN, "32", 1, 65536, NULL, "parallel streams"},
    {EVAL_BPTT, "bptt", OPTION_INT, SCOPE_RUN, "64", 1, 65536, NULL, "steps per forward call"},
};

static const char eval_usage[] =
    "usage: recur eval MODEL|CHECKPOINT --text FILE [options]\n"
    "\n"
    "Prints the cross-entropy of the model on FILE in nats/char and bits/char, and\n"
    "the perplexity. The text is read as --batch parallel streams, each starting\n"
    "from a zero state; --batch 1 scores the file as one sequence (slower).\n";

/* Summed cross-entropy over B streams of ids (each predicting its next byte).
 * Returns 0, or an exit status after printing the error. */
static int score(recur_lm *lm, const int64_t *ids, size_t n, int B, int T, int V,
                 double *total, size_t *count)
{
    size_t stream_len = n / (size_t)B; /* >= 2 */
    *total = 0, *count = 0;
    if ((size_t)T > stream_len - 1) /* no call reads more than a stream holds */
        T = (int)(stream_len - 1);
    int64_t *inputs = malloc((size_t)T * (size_t)B * sizeof(int64_t));
    int64_t *targets = malloc((size_t)T * (size_t)B * sizeof(int64_t));
    if (!inputs || !targets) {
        free(inputs), free(targets);
        cli_error("out of memory for --batch %d x --bptt %d ids", B, T);
        return CLI_EXIT_FAILURE;
    }
    recur_cross_entropy_options ce = recur_cross_entropy_defaults();
    ce.reduction = RECUR_REDUCE_SUM;
    recur_status st = RECUR_OK;
    recur_lm_reset_state(lm);
    for (size_t pos = 0; st == RECUR_OK && pos + 1 < stream_len; pos += (size_t)T) {
        int steps = (int)((stream_len - 1 - pos) < (size_t)T ? stream_len - 1 - pos : (size_t)T);
        for (int t = 0; t < steps; t++)
            for (int b = 0; b < B; b++) {
                size_t at = (size_t)b * stream_len + pos + (size_t)t;
                inputs[t * B + b] = ids[at];
                targets[t * B + b] = ids[at + 1];
            }
        const float *logits;
        float loss;
        st = recur_lm_forward(lm, steps, B, inputs, &logits);
        if (st == RECUR_OK)
            st = recur_cross_entropy(steps * B, V, logits, targets, &ce, &loss, NULL);
        if (st == RECUR_OK) {
            *total += loss;
            *count += (size_t)steps * (size_t)B;
        }
    }
    free(inputs), free(targets);
    return st == RECUR_OK ? 0 : cli_status_error(st);
}

int cmd_eval(int argc, char **argv)
{
    cli_options o;
    cli_options_init(&o, eval_specs, 3, "eval", eval_usage,
                     "  recur eval shakespeare.safetensors --text test.txt\n");
    int rc = cli_options_parse(&o, argc, argv, 1);
    if (rc >= 0)
        return rc;
    if (!o.positional_count)
        return cli_error("eval: MODEL is missing (see recur eval --help)");
    if (!o.str[EVAL_TEXT])
        return cli_error("eval: --text FILE is missing (see recur eval --help)");
    const char *model = o.positional[0], *text_path = o.str[EVAL_TEXT];
    const int batch = (int)o.num[EVAL_BATCH], bptt = (int)o.num[EVAL_BPTT];
    recur_st_file *file;
    recur_lm *lm;
    recur_byte_vocab vocab;
    if ((rc = cli_load_lm(model, &file, &lm, &vocab)) != 0)
        return rc;
    unsigned char *text = NULL;
    int64_t *ids = NULL;
    size_t n = 0;
    if (cli_read_file(text_path, &text, &n))
        rc = CLI_EXIT_BAD_INPUT;
    else if (n / (size_t)batch < 2)
        rc = cli_error("%s: %zu bytes are too few for --batch %d", text_path, n, batch);
    else if (!(ids = malloc(n * sizeof(int64_t))))
        rc = cli_error("out of memory");
    else if (recur_byte_vocab_encode(&vocab, text, n, ids) != RECUR_OK)
        rc = cli_error("%s: %s", text_path, recur_last_error());
    else {
        double total;
        size_t count;
        rc = score(lm, ids, n, batch, bptt, vocab.size, &total, &count);
        if (!rc) {
            double nats = total / (double)count;
            printf("%s: %zu predictions, loss %.4f nats/char, %.4f bits/char, perplexity %.3f\n",
                   text_path, count, nats, nats / log(2.0), exp(nats));
        }
    }
    free(ids);
    free(text);
    recur_lm_free(lm);
    recur_st_close(file);
    return rc;
}
