/* recur generate MODEL: samples text from a language model made by recur train. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_util.h"
#include "commands.h"

static const char generate_usage[] =
    "usage: recur generate MODEL|CHECKPOINT [options]\n"
    "\n"
    "Samples text from a language model trained by recur train and prints it.\n"
    "\n"
    "options (default):\n"
    "  --prime TEXT        text the sample starts from (a newline)\n"
    "  --length N          bytes to generate (500)\n"
    "  --temperature X     < 1 more conservative, > 1 more varied (0.8)\n"
    "  --top-k K           sample only among the K likeliest bytes, 0 = all (0)\n"
    "  --seed N            seed of the sampler (1)\n"
    "\n"
    "example:\n"
    "  recur generate shakespeare.safetensors --prime 'ROMEO:' --length 300\n";

typedef struct generate_options {
    const char *model, *prime;
    long length, seed, top_k;
    double temperature;
} generate_options;

static int parse_generate_options(int argc, char **argv, generate_options *o)
{
    *o = (generate_options){NULL, "\n", 500, 1, 0, 0.8};
    for (int i = 1; i < argc; i++) {
        const char *flag = argv[i];
        if (!strcmp(flag, "-h") || !strcmp(flag, "--help")) {
            fputs(generate_usage, stdout);
            return CLI_EXIT_OK;
        }
        if (flag[0] != '-') {
            if (o->model)
                return cli_error("generate: unexpected argument '%s'", flag);
            o->model = flag;
            continue;
        }
        if (i + 1 >= argc)
            return cli_error("generate: option %s needs a value", flag);
        const char *v = argv[++i];
        int bad = 0;
        if (!strcmp(flag, "--prime")) o->prime = v;
        else if (!strcmp(flag, "--length")) bad = cli_parse_int(flag, v, 0, 100000000, &o->length);
        else if (!strcmp(flag, "--top-k")) bad = cli_parse_int(flag, v, 0, 256, &o->top_k);
        else if (!strcmp(flag, "--seed")) bad = cli_parse_int(flag, v, 0, 2147483647, &o->seed);
        else if (!strcmp(flag, "--temperature")) bad = cli_parse_float(flag, v, 1e-3, 100.0, &o->temperature);
        else return cli_error("generate: unknown option '%s' (see recur generate --help)", flag);
        if (bad)
            return CLI_EXIT_BAD_INPUT;
    }
    if (!o->model)
        return cli_error("generate: MODEL is missing (see recur generate --help)");
    if (!o->prime[0])
        return cli_error("generate: --prime must not be empty");
    return -1;
}

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

static int generate(const generate_options *o, recur_lm *lm, const recur_byte_vocab *vocab)
{
    size_t prime_len = strlen(o->prime);
    int64_t *ids = malloc(prime_len * sizeof(int64_t));
    if (!ids)
        return cli_error("out of memory");
    if (recur_byte_vocab_encode(vocab, (const unsigned char *)o->prime, prime_len, ids) != RECUR_OK) {
        free(ids);
        return cli_error("--prime: %s", recur_last_error());
    }
    const int V = vocab->size;
    const float *logits;
    recur_status st = recur_lm_forward(lm, (int)prime_len, 1, ids, &logits);
    free(ids);
    if (st != RECUR_OK)
        return cli_status_error(st);
    fputs(o->prime, stdout);
    uint64_t rng = (uint64_t)o->seed;
    const float *last = logits + (prime_len - 1) * (size_t)V;
    for (long i = 0; i < o->length; i++) {
        int64_t id = sample(last, V, o->temperature, o->top_k, &rng);
        putchar(vocab->symbols[id]);
        if ((st = recur_lm_forward(lm, 1, 1, &id, &last)) != RECUR_OK)
            return cli_status_error(st);
    }
    putchar('\n');
    return CLI_EXIT_OK;
}

int cmd_generate(int argc, char **argv)
{
    generate_options o;
    int rc = parse_generate_options(argc, argv, &o);
    if (rc >= 0)
        return rc;
    recur_st_file *file;
    recur_lm *lm;
    recur_byte_vocab vocab;
    if ((rc = cli_load_lm(o.model, &file, &lm, &vocab)) != 0)
        return rc;
    rc = generate(&o, lm, &vocab);
    recur_lm_free(lm);
    recur_st_close(file);
    return rc;
}
