/* recur train --text FILE: a byte-level language model (Embedding -> RNN
 * stack -> Linear) trained with truncated BPTT over B parallel streams. */
#define _POSIX_C_SOURCE 200809L

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli_util.h"
#include "commands.h"

static const char train_usage[] =
    "usage: recur train --text FILE [options]\n"
    "\n"
    "Trains a byte-level language model on FILE and saves it (see recur generate).\n"
    "The last --val-fraction of the file is held out for validation.\n"
    "\n"
    "options (default):\n"
    "  -o, --output MODEL      model file (model.safetensors)\n"
    "  --cell lstm|gru|rnn     recurrent cell (lstm)\n"
    "  --hidden N              hidden size (256)\n"
    "  --layers N              stacked layers (2)\n"
    "  --embed N               embedding size (64)\n"
    "  --optimizer NAME        adam, adamw, sgd, rmsprop, adagrad (adam)\n"
    "  --lr X                  learning rate (0.002)\n"
    "  --clip X                clip the gradient norm to X, 0 = off (1.0)\n"
    "  --batch N               parallel streams (32)\n"
    "  --bptt N                steps per truncated-BPTT chunk (64)\n"
    "  --steps N               training steps (2000)\n"
    "  --val-fraction X        share of the file held out (0.1)\n"
    "  --eval-interval N       steps between validations (200)\n"
    "  --seed N                seed of initialization (1)\n"
    "\n"
    "example:\n"
    "  recur train --text input.txt --hidden 128 --steps 500 -o shakespeare.safetensors\n";

typedef struct train_options {
    const char *text, *output;
    recur_cell cell;
    long hidden, layers, embed, batch, bptt, steps, eval_interval, seed;
    recur_optimizer_kind optimizer;
    double lr, clip, val_fraction;
} train_options;

static int parse_cell(const char *text, recur_cell *cell)
{
    if (!strcmp(text, "lstm"))
        *cell = RECUR_LSTM;
    else if (!strcmp(text, "gru"))
        *cell = RECUR_GRU;
    else if (!strcmp(text, "rnn") || !strcmp(text, "rnn-tanh"))
        *cell = RECUR_RNN_TANH;
    else if (!strcmp(text, "rnn-relu"))
        *cell = RECUR_RNN_RELU;
    else
        return cli_error("--cell: '%s' is not lstm, gru, rnn or rnn-relu", text);
    return 0;
}

static int parse_optimizer(const char *text, recur_optimizer_kind *kind)
{
    static const char *names[] = {"sgd", "adam", "adamw", "rmsprop", "adagrad"};
    for (int i = 0; i < 5; i++)
        if (!strcmp(text, names[i])) {
            *kind = (recur_optimizer_kind)i;
            return 0;
        }
    return cli_error("--optimizer: '%s' is not sgd, adam, adamw, rmsprop or adagrad", text);
}

/* Returns -1 to continue, else an exit status. */
static int parse_train_options(int argc, char **argv, train_options *o)
{
    *o = (train_options){NULL, "model.safetensors", RECUR_LSTM, 256, 2, 64, 32, 64, 2000, 200, 1,
                         RECUR_ADAM, 2e-3, 1.0, 0.1};
    for (int i = 1; i < argc; i++) {
        const char *flag = argv[i];
        if (!strcmp(flag, "-h") || !strcmp(flag, "--help")) {
            fputs(train_usage, stdout);
            return CLI_EXIT_OK;
        }
        if (flag[0] != '-')
            return cli_error("train: unexpected argument '%s' (see recur train --help)", flag);
        if (i + 1 >= argc)
            return cli_error("train: option %s needs a value", flag);
        const char *v = argv[++i];
        int bad = 0;
        if (!strcmp(flag, "--text")) o->text = v;
        else if (!strcmp(flag, "-o") || !strcmp(flag, "--output")) o->output = v;
        else if (!strcmp(flag, "--cell")) bad = parse_cell(v, &o->cell);
        else if (!strcmp(flag, "--optimizer")) bad = parse_optimizer(v, &o->optimizer);
        else if (!strcmp(flag, "--hidden")) bad = cli_parse_int(flag, v, 1, 65536, &o->hidden);
        else if (!strcmp(flag, "--layers")) bad = cli_parse_int(flag, v, 1, 64, &o->layers);
        else if (!strcmp(flag, "--embed")) bad = cli_parse_int(flag, v, 1, 65536, &o->embed);
        else if (!strcmp(flag, "--batch")) bad = cli_parse_int(flag, v, 1, 65536, &o->batch);
        else if (!strcmp(flag, "--bptt")) bad = cli_parse_int(flag, v, 1, 65536, &o->bptt);
        else if (!strcmp(flag, "--steps")) bad = cli_parse_int(flag, v, 0, 1000000000, &o->steps);
        else if (!strcmp(flag, "--eval-interval")) bad = cli_parse_int(flag, v, 1, 1000000000, &o->eval_interval);
        else if (!strcmp(flag, "--seed")) bad = cli_parse_int(flag, v, 0, 2147483647, &o->seed);
        else if (!strcmp(flag, "--lr")) bad = cli_parse_float(flag, v, 0.0, 100.0, &o->lr);
        else if (!strcmp(flag, "--clip")) bad = cli_parse_float(flag, v, 0.0, 1e9, &o->clip);
        else if (!strcmp(flag, "--val-fraction")) bad = cli_parse_float(flag, v, 0.0, 0.5, &o->val_fraction);
        else return cli_error("train: unknown option '%s' (see recur train --help)", flag);
        if (bad)
            return CLI_EXIT_BAD_INPUT;
    }
    if (!o->text)
        return cli_error("train: --text FILE is missing (see recur train --help)");
    return -1;
}

/* B streams over ids[0..n): stream b starts at b * (n / B). Fills the
 * chunk's inputs and targets [T, B] from position `pos` within each stream. */
static void fill_chunk(const int64_t *ids, size_t stream_len, int T, int B, size_t pos,
                       int64_t *inputs, int64_t *targets)
{
    for (int t = 0; t < T; t++)
        for (int b = 0; b < B; b++) {
            size_t at = (size_t)b * stream_len + pos + (size_t)t;
            inputs[t * B + b] = ids[at];
            targets[t * B + b] = ids[at + 1];
        }
}

typedef struct trainer {
    recur_lm *lm;
    recur_optimizer *opt;
    int param_count;
    float **grads;
    size_t *sizes;
    int64_t *inputs, *targets;
    float *grad_logits;
} trainer;

static void trainer_free(trainer *t)
{
    recur_lm_free(t->lm);
    recur_optimizer_free(t->opt);
    free(t->grads), free(t->sizes), free(t->inputs), free(t->targets), free(t->grad_logits);
}

/* Mean cross-entropy over all chunks of a stream set, from a fresh state. */
static recur_status evaluate(trainer *tr, const int64_t *ids, size_t n, int T, int B,
                             double *mean_loss)
{
    size_t stream_len = n / (size_t)B;
    double total = 0;
    long chunks = 0;
    recur_lm_reset_state(tr->lm);
    const int V = recur_lm_get_config(tr->lm)->vocab_size;
    for (size_t pos = 0; pos + (size_t)T < stream_len; pos += (size_t)T, chunks++) {
        const float *logits;
        float loss;
        fill_chunk(ids, stream_len, T, B, pos, tr->inputs, tr->targets);
        CLI_TRY(recur_lm_forward(tr->lm, T, B, tr->inputs, &logits));
        CLI_TRY(recur_cross_entropy(T * B, V, logits, tr->targets, NULL, &loss, NULL));
        total += loss;
    }
    recur_lm_reset_state(tr->lm);
    *mean_loss = chunks ? total / (double)chunks : NAN;
    return RECUR_OK;
}

static recur_status train_step(trainer *tr, const train_options *o, float *loss)
{
    const int T = (int)o->bptt, B = (int)o->batch;
    const int V = recur_lm_get_config(tr->lm)->vocab_size;
    const float *logits;
    recur_lm_zero_grad(tr->lm);
    CLI_TRY(recur_lm_forward(tr->lm, T, B, tr->inputs, &logits));
    CLI_TRY(recur_cross_entropy(T * B, V, logits, tr->targets, NULL, loss, tr->grad_logits));
    CLI_TRY(recur_lm_backward(tr->lm, tr->grad_logits));
    if (o->clip > 0)
        CLI_TRY(recur_clip_grad_norm(tr->param_count, tr->grads, tr->sizes, (float)o->clip, NULL));
    return recur_optimizer_step(tr->opt);
}

static recur_status trainer_init(trainer *tr, const train_options *o, int vocab_size)
{
    recur_lm_config lc = {o->cell, vocab_size, (int)o->embed, (int)o->hidden, (int)o->layers};
    CLI_TRY(recur_lm_create(&lc, (uint64_t)o->seed, &tr->lm));
    recur_optimizer_config oc = recur_optimizer_config_default(o->optimizer);
    oc.lr = (float)o->lr;
    CLI_TRY(recur_optimizer_create(&oc, &tr->opt));
    tr->param_count = recur_lm_param_count(tr->lm);
    tr->grads = calloc((size_t)tr->param_count, sizeof *tr->grads);
    tr->sizes = calloc((size_t)tr->param_count, sizeof *tr->sizes);
    size_t rows = (size_t)o->bptt * (size_t)o->batch;
    tr->inputs = malloc(rows * sizeof(int64_t));
    tr->targets = malloc(rows * sizeof(int64_t));
    tr->grad_logits = malloc(rows * (size_t)vocab_size * sizeof(float));
    if (!tr->grads || !tr->sizes || !tr->inputs || !tr->targets || !tr->grad_logits)
        return RECUR_E_NOMEM;
    for (int i = 0; i < tr->param_count; i++) {
        recur_param p;
        CLI_TRY(recur_lm_param(tr->lm, i, &p));
        tr->grads[i] = p.grad;
        tr->sizes[i] = p.numel;
        CLI_TRY(recur_optimizer_add(tr->opt, p.value, p.grad, p.numel));
    }
    return RECUR_OK;
}

static double seconds_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int save_model(const trainer *tr, const train_options *o, const recur_byte_vocab *vocab)
{
    char hex[513];
    recur_byte_vocab_to_hex(vocab, hex);
    const char *keys[] = {"recur.vocab"}, *values[] = {hex};
    recur_status st = recur_lm_save(tr->lm, o->output, 1, keys, values);
    return st == RECUR_OK ? 0 : cli_status_error(st);
}

static int run_training(const train_options *o, const int64_t *ids, size_t n,
                        const recur_byte_vocab *vocab)
{
    const int T = (int)o->bptt, B = (int)o->batch;
    size_t val_n = (size_t)((double)n * o->val_fraction), train_n = n - val_n;
    size_t stream_len = train_n / (size_t)B;
    if (stream_len < (size_t)T + 1)
        return cli_error("%s: %zu training bytes are too few for --batch %d x --bptt %d", o->text,
                         train_n, B, T);
    int val_ok = val_n / (size_t)B > (size_t)T;
    trainer tr = {0};
    recur_status st = trainer_init(&tr, o, vocab->size);
    if (st != RECUR_OK) {
        trainer_free(&tr);
        return cli_status_error(st);
    }
    const int tty = isatty(STDOUT_FILENO);
    printf("training %s: %zu bytes (%zu validation), vocabulary %d, %s %ldx%ld, %d parameter "
           "tensors\n",
           o->text, n, val_n, vocab->size,
           o->cell == RECUR_LSTM ? "lstm" : o->cell == RECUR_GRU ? "gru" : "rnn", o->layers,
           o->hidden, tr.param_count);
    double start = seconds_now(), val_loss = NAN;
    size_t pos = 0;
    int rc = 0;
    float loss = NAN;
    for (long step = 1; step <= o->steps && rc == 0; step++) {
        if (pos + (size_t)T >= stream_len) { /* a new epoch: streams restart */
            pos = 0;
            recur_lm_reset_state(tr.lm);
        }
        fill_chunk(ids, stream_len, T, B, pos, tr.inputs, tr.targets);
        pos += (size_t)T;
        if ((st = train_step(&tr, o, &loss)) != RECUR_OK) {
            rc = cli_status_error(st);
            break;
        }
        int report = step % o->eval_interval == 0 || step == o->steps;
        if (report && val_ok) {
            if ((st = evaluate(&tr, ids + train_n, val_n, T, B, &val_loss)) != RECUR_OK) {
                rc = cli_status_error(st);
                break;
            }
        }
        double elapsed = seconds_now() - start;
        double epoch = (double)step * T * B / (double)train_n;
        if (report || tty) {
            printf("%sstep %ld/%ld  epoch %.2f  train loss %.4f  val loss %.4f  %.0f tok/s  ETA %.0fs%s",
                   tty ? "\r" : "", step, o->steps, epoch, (double)loss, val_loss,
                   (double)step * T * B / elapsed, elapsed / (double)step * (double)(o->steps - step),
                   tty && !report ? "" : "\n");
            fflush(stdout);
        }
    }
    if (rc == 0)
        rc = save_model(&tr, o, vocab);
    if (rc == 0)
        printf("saved %s\n", o->output);
    trainer_free(&tr);
    return rc;
}

int cmd_train(int argc, char **argv)
{
    train_options o;
    int rc = parse_train_options(argc, argv, &o);
    if (rc >= 0)
        return rc;
    unsigned char *text;
    size_t n;
    if (cli_read_file(o.text, &text, &n))
        return CLI_EXIT_BAD_INPUT;
    recur_byte_vocab vocab;
    int64_t *ids = malloc((n ? n : 1) * sizeof(int64_t));
    if (!ids)
        rc = cli_error("out of memory");
    else if (recur_byte_vocab_build(text, n, &vocab) != RECUR_OK)
        rc = cli_error("%s: %s", o.text, recur_last_error());
    else {
        recur_byte_vocab_encode(&vocab, text, n, ids);
        rc = run_training(&o, ids, n, &vocab);
    }
    free(ids);
    free(text);
    return rc;
}
