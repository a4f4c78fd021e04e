/* recur generate MODEL: samples text from a language model made by recur train. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_util.h"
#include "commands.h"
#include "options.h"

enum { GEN_PRIME, GEN_LENGTH, GEN_TEMPERATURE, GEN_TOP_K, GEN_SEED, GEN_DEVICE };

static const cli_option generate_specs[] = {
    {GEN_PRIME, "prime", OPTION_PATH, SCOPE_RUN, "\n", 0, 0, NULL,
     "text the sample starts from (a newline)"},
    {GEN_LENGTH, "length", OPTION_INT, SCOPE_RUN, "500", 0, 1e8, NULL, "bytes to generate"},
    {GEN_TEMPERATURE, "temperature", OPTION_FLOAT, SCOPE_RUN, "0.8", 1e-3, 100, NULL,
     "< 1 more conservative, > 1 more varied"},
    {GEN_TOP_K, "top-k", OPTION_INT, SCOPE_RUN, "0", 0, 256, NULL,
     "sample only among the K likeliest bytes, 0 = all"},
    {GEN_SEED, "seed", OPTION_INT, SCOPE_RUN, "1", 0, 2147483647, NULL, "seed of the sampler"},
    {GEN_DEVICE, "device", OPTION_CHOICE, SCOPE_RUN, "cpu", 0, 0, "cpu|cuda",
     "where the recurrent stack runs (cuda: a build with CUDA and a GPU)"},
};

static const char generate_usage[] =
    "usage: recur generate MODEL|CHECKPOINT [options]\n"
    "\n"
    "Samples text from a language model trained by recur train and prints it.\n";

/* splitmix64: the sampler's own generator. */
static double next_uniform(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return (double)((z ^ (z >> 31)) >> 11) * (1.0 / 9007199254740992.0);
}

/* Draws an id from softmax(logits / temperature), restricted to the top_k
 * largest logits when top_k > 0 (ties at the k-th value are all kept). */
static int64_t sample(const float *logits, int vocab, double temperature, long top_k,
                      uint64_t *rng)
{
    double max = logits[0], total = 0, floor_value = -INFINITY;
    for (int i = 1; i < vocab; i++)
        max = fmax(max, logits[i]);
    if (top_k > 0 && top_k < vocab) {
        /* the k-th largest value: the smallest with fewer than k values above it */
        floor_value = INFINITY;
        for (int i = 0; i < vocab; i++) {
            int above = 0;
            for (int j = 0; j < vocab; j++)
                above += logits[j] > logits[i];
            if (above < top_k)
                floor_value = fmin(floor_value, logits[i]);
        }
    }
    for (int i = 0; i < vocab; i++)
        if (logits[i] >= floor_value)
            total += exp((logits[i] - max) / temperature);
    double r = next_uniform(rng) * total;
    int last = 0;
    for (int i = 0; i < vocab; i++) {
        if (logits[i] < floor_value)
            continue;
        last = i;
        r -= exp((logits[i] - max) / temperature);
        if (r <= 0)
            return i;
    }
    return last;
}

static int generate(const cli_options *o, recur_lm *lm, const recur_byte_vocab *vocab)
{
    size_t prime_len = strlen(o->str[GEN_PRIME]);
    int64_t *ids = malloc(prime_len * sizeof(int64_t));
    if (!ids)
        return cli_error("out of memory");
    if (recur_byte_vocab_encode(vocab, (const unsigned char *)o->str[GEN_PRIME], prime_len, ids) != RECUR_OK) {
        free(ids);
        return cli_error("--prime: %s", recur_last_error());
    }
    const int V = vocab->size;
    const float *logits;
    recur_status st = recur_lm_forward(lm, (int)prime_len, 1, ids, &logits);
    free(ids);
    if (st != RECUR_OK)
        return cli_status_error(st);
    fputs(o->str[GEN_PRIME], stdout);
    uint64_t rng = (uint64_t)o->num[GEN_SEED];
    const float *last = logits + (prime_len - 1) * (size_t)V;
    for (long i = 0; i < (long)o->num[GEN_LENGTH]; i++) {
        int64_t id = sample(last, V, o->num[GEN_TEMPERATURE], (long)o->num[GEN_TOP_K], &rng);
        putchar(vocab->symbols[id]);
        if ((st = recur_lm_forward(lm, 1, 1, &id, &last)) != RECUR_OK)
            return cli_status_error(st);
    }
    putchar('\n');
    return CLI_EXIT_OK;
}

int cmd_generate(int argc, char **argv)
{
    cli_options o;
    cli_options_init(&o, generate_specs, 6, "generate", generate_usage,
                     "  recur generate shakespeare.safetensors --prime 'ROMEO:' --length 300\n");
    int rc = cli_options_parse(&o, argc, argv, 1);
    if (rc >= 0)
        return rc;
    if (!o.positional_count)
        return cli_error("generate: MODEL is missing (see recur generate --help)");
    if (!o.str[GEN_PRIME][0])
        return cli_error("generate: --prime must not be empty");
    recur_st_file *file;
    recur_lm *lm;
    recur_byte_vocab vocab;
    recur_device device;
    if (cli_parse_device("generate: --device", o.str[GEN_DEVICE], &device))
        return CLI_EXIT_BAD_INPUT;
    if ((rc = cli_load_lm(o.positional[0], &file, &lm, &vocab)) != 0)
        return rc;
    recur_status st = recur_lm_set_device(lm, device);
    rc = st == RECUR_OK ? generate(&o, lm, &vocab) : cli_status_error(st);
    recur_lm_free(lm);
    recur_st_close(file);
    return rc;
}
