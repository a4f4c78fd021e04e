/* recur eval MODEL --text FILE: the loss of a language model on a text, in
 * nats and bits per byte and as perplexity. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_util.h"
#include "commands.h"

static const char eval_usage[] =
    "usage: recur eval MODEL|CHECKPOINT --text FILE [options]\n"
    "\n"
    "Prints the cross-entropy of the model on FILE in nats/char and bits/char, and\n"
    "the perplexity. The text is read as --batch parallel streams, each starting\n"
    "from a zero state; --batch 1 scores the file as one sequence (slower).\n"
    "\n"
    "options (default):\n"
    "  --text FILE      text to score (required)\n"
    "  --batch N        parallel streams (32)\n"
    "  --bptt N         steps per forward call (64)\n"
    "\n"
    "example:\n"
    "  recur eval shakespeare.safetensors --text test.txt\n";

typedef struct eval_options {
    const char *model, *text;
    long batch, bptt;
} eval_options;

static int parse_eval_options(int argc, char **argv, eval_options *o)
{
    *o = (eval_options){NULL, NULL, 32, 64};
    for (int i = 1; i < argc; i++) {
        const char *flag = argv[i];
        if (!strcmp(flag, "-h") || !strcmp(flag, "--help")) {
            fputs(eval_usage, stdout);
            return CLI_EXIT_OK;
        }
        if (flag[0] != '-') {
            if (o->model)
                return cli_error("eval: unexpected argument '%s'", flag);
            o->model = flag;
            continue;
        }
        if (i + 1 >= argc)
            return cli_error("eval: option %s needs a value", flag);
        const char *v = argv[++i];
        int bad = 0;
        if (!strcmp(flag, "--text")) o->text = v;
        else if (!strcmp(flag, "--batch")) bad = cli_parse_int(flag, v, 1, 65536, &o->batch);
        else if (!strcmp(flag, "--bptt")) bad = cli_parse_int(flag, v, 1, 65536, &o->bptt);
        else return cli_error("eval: unknown option '%s' (see recur eval --help)", flag);
        if (bad)
            return CLI_EXIT_BAD_INPUT;
    }
    if (!o->model)
        return cli_error("eval: MODEL is missing (see recur eval --help)");
    if (!o->text)
        return cli_error("eval: --text FILE is missing (see recur eval --help)");
    return -1;
}

/* Summed cross-entropy over B streams of ids (each predicting its next byte). */
static recur_status score(recur_lm *lm, const int64_t *ids, size_t n, int B, int T, int V,
                          double *total, size_t *count)
{
    size_t stream_len = n / (size_t)B; /* >= 2 */
    int64_t *inputs = malloc((size_t)T * (size_t)B * sizeof(int64_t));
    int64_t *targets = malloc((size_t)T * (size_t)B * sizeof(int64_t));
    if (!inputs || !targets) {
        free(inputs), free(targets);
        return RECUR_E_NOMEM;
    }
    recur_cross_entropy_options ce = recur_cross_entropy_defaults();
    ce.reduction = RECUR_REDUCE_SUM;
    recur_status st = RECUR_OK;
    *total = 0, *count = 0;
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
        *total += loss;
        *count += (size_t)steps * (size_t)B;
    }
    free(inputs), free(targets);
    return st;
}

int cmd_eval(int argc, char **argv)
{
    eval_options o;
    int rc = parse_eval_options(argc, argv, &o);
    if (rc >= 0)
        return rc;
    recur_st_file *file;
    recur_lm *lm;
    recur_byte_vocab vocab;
    if ((rc = cli_load_lm(o.model, &file, &lm, &vocab)) != 0)
        return rc;
    unsigned char *text = NULL;
    int64_t *ids = NULL;
    size_t n = 0;
    if (cli_read_file(o.text, &text, &n))
        rc = CLI_EXIT_BAD_INPUT;
    else if (n / (size_t)o.batch < 2)
        rc = cli_error("%s: %zu bytes are too few for --batch %ld", o.text, n, o.batch);
    else if (!(ids = malloc(n * sizeof(int64_t))))
        rc = cli_error("out of memory");
    else if (recur_byte_vocab_encode(&vocab, text, n, ids) != RECUR_OK)
        rc = cli_error("%s: %s", o.text, recur_last_error());
    else {
        double total;
        size_t count;
        recur_status st = score(lm, ids, n, (int)o.batch, (int)o.bptt, vocab.size, &total, &count);
        if (st != RECUR_OK)
            rc = cli_status_error(st);
        else {
            double nats = total / (double)count;
            printf("%s: %zu predictions, loss %.4f nats/char, %.4f bits/char, perplexity %.3f\n",
                   o.text, count, nats, nats / log(2.0), exp(nats));
        }
    }
    free(ids);
    free(text);
    recur_lm_free(lm);
    recur_st_close(file);
    return rc;
}
