/* recur train's options, table-driven. */
#include "train_options.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_util.h"

typedef enum option_kind { KIND_PATH, KIND_CHOICE, KIND_INT, KIND_FLOAT } option_kind;

/* RUN options belong to one invocation; FIXED ones define the training and
 * must not change on resume; EXTENDABLE ones are saved but may change. */
typedef enum option_scope { RUN, FIXED, EXTENDABLE } option_scope;

typedef struct option_spec {
    train_option_id id;
    const char *flag;    /* without the leading "--" */
    option_kind kind;
    option_scope scope;
    const char *fallback; /* default as text; NULL = none */
    double min, max;
    const char *choices;  /* "a|b|c" for KIND_CHOICE */
    const char *help;
} option_spec;

static const option_spec specs[] = {
    {OPT_TEXT, "text", KIND_PATH, RUN, NULL, 0, 0, NULL, "training text (required)"},
    {OPT_OUTPUT, "output", KIND_PATH, RUN, "model.safetensors", 0, 0, NULL,
     "final model, also -o"},
    {OPT_CHECKPOINT_DIR, "checkpoint-dir", KIND_PATH, RUN, NULL, 0, 0, NULL,
     "last.safetensors and best.safetensors (OUTPUT without .safetensors, + .ckpt)"},
    {OPT_METRICS, "metrics", KIND_PATH, RUN, NULL, 0, 0, NULL,
     "CSV of losses per evaluation (CHECKPOINT_DIR/metrics.csv)"},
    {OPT_TENSORBOARD, "tensorboard", KIND_PATH, RUN, NULL, 0, 0, NULL,
     "also write TensorBoard event files into this folder"},
    {OPT_RESUME, "resume", KIND_PATH, RUN, NULL, 0, 0, NULL,
     "continue from a checkpoint exactly where it stopped"},
    {OPT_STOP_AT, "stop-at", KIND_INT, RUN, "0", 0, 1e9, NULL,
     "stop after this step with a checkpoint, as if interrupted (0 = off)"},
    {OPT_TIME_LIMIT, "time-limit", KIND_FLOAT, RUN, "0", 0, 1e9, NULL,
     "stop after this many seconds with a checkpoint (0 = off)"},
    {OPT_CELL, "cell", KIND_CHOICE, FIXED, "lstm", 0, 0, "lstm|gru|rnn|rnn-relu", "recurrent cell"},
    {OPT_HIDDEN, "hidden", KIND_INT, FIXED, "256", 1, 65536, NULL, "hidden size"},
    {OPT_LAYERS, "layers", KIND_INT, FIXED, "2", 1, 64, NULL, "stacked layers"},
    {OPT_EMBED, "embed", KIND_INT, FIXED, "64", 1, 65536, NULL, "embedding size"},
    {OPT_DROPOUT, "dropout", KIND_FLOAT, FIXED, "0", 0, 0.99, NULL,
     "dropout between layers and before the head"},
    {OPT_RECURRENT_DROPOUT, "recurrent-dropout", KIND_FLOAT, FIXED, "0", 0, 0.99, NULL,
     "variational dropout on the recurrent state"},
    {OPT_ZONEOUT, "zoneout", KIND_FLOAT, FIXED, "0", 0, 0.99, NULL, "zoneout probability"},
    {OPT_LAYER_NORM, "layer-norm", KIND_INT, FIXED, "0", 0, 1, NULL,
     "layer normalization inside LSTM/GRU cells (1 = on)"},
    {OPT_OPTIMIZER, "optimizer", KIND_CHOICE, FIXED, "adam", 0, 0, "sgd|adam|adamw|rmsprop|adagrad",
     "optimizer"},
    {OPT_LR, "lr", KIND_FLOAT, FIXED, "0.002", 0, 100, NULL, "learning rate"},
    {OPT_WEIGHT_DECAY, "weight-decay", KIND_FLOAT, FIXED, "0", 0, 10, NULL,
     "the optimizer's weight decay"},
    {OPT_MOMENTUM, "momentum", KIND_FLOAT, FIXED, "0", 0, 0.999, NULL, "SGD/RMSprop momentum"},
    {OPT_SCHEDULE, "schedule", KIND_CHOICE, FIXED, "cosine", 0, 0,
     "constant|step|exponential|cosine|plateau", "learning-rate schedule"},
    {OPT_WARMUP, "warmup", KIND_INT, FIXED, "0", 0, 1e9, NULL, "cosine: linear warm-up steps"},
    {OPT_STEP_SIZE, "step-size", KIND_INT, FIXED, "1000", 1, 1e9, NULL,
     "step: steps between decays"},
    {OPT_GAMMA, "gamma", KIND_FLOAT, FIXED, "0.5", 1e-6, 1, NULL,
     "step, exponential: decay factor; plateau: reduction factor"},
    {OPT_MIN_LR, "min-lr", KIND_FLOAT, FIXED, "0", 0, 100, NULL,
     "cosine, plateau: lowest learning rate"},
    {OPT_PLATEAU_PATIENCE, "plateau-patience", KIND_INT, FIXED, "2", 0, 1e9, NULL,
     "plateau: evaluations without improvement before a reduction"},
    {OPT_CLIP, "clip", KIND_FLOAT, FIXED, "1", 0, 1e9, NULL, "clip the gradient norm (0 = off)"},
    {OPT_CLIP_VALUE, "clip-value", KIND_FLOAT, FIXED, "0", 0, 1e9, NULL,
     "clip each gradient value to [-X, X] (0 = off)"},
    {OPT_L1, "l1", KIND_FLOAT, FIXED, "0", 0, 10, NULL, "L1 penalty on the weights"},
    {OPT_L2, "l2", KIND_FLOAT, FIXED, "0", 0, 10, NULL, "L2 penalty on the weights"},
    {OPT_BATCH, "batch", KIND_INT, FIXED, "32", 1, 65536, NULL, "parallel streams"},
    {OPT_BPTT, "bptt", KIND_INT, FIXED, "64", 1, 65536, NULL, "steps per truncated-BPTT chunk"},
    {OPT_STEPS, "steps", KIND_INT, EXTENDABLE, "2000", 0, 1e9, NULL, "training steps"},
    {OPT_VAL_FRACTION, "val-fraction", KIND_FLOAT, FIXED, "0.1", 0, 0.5, NULL,
     "share of the file held out, from its end"},
    {OPT_EVAL_INTERVAL, "eval-interval", KIND_INT, FIXED, "200", 1, 1e9, NULL,
     "steps between validations and checkpoints"},
    {OPT_EARLY_STOP, "early-stop", KIND_INT, FIXED, "0", 0, 1e9, NULL,
     "stop after N validations without improvement (0 = off)"},
    {OPT_MIN_DELTA, "min-delta", KIND_FLOAT, FIXED, "0", 0, 1e9, NULL,
     "smallest validation improvement that counts"},
    {OPT_SEED, "seed", KIND_INT, FIXED, "1", 0, 2147483647, NULL, "seed of initialization"},
};
enum { SPEC_COUNT = sizeof specs / sizeof specs[0] };

void train_options_usage(void)
{
    printf("usage: recur train --text FILE [options]\n"
           "\n"
           "Trains a byte-level language model on FILE, with validation on the end of the\n"
           "file, checkpoints that resume exactly, metrics.csv and TensorBoard logs.\n"
           "\n"
           "options (default):\n");
    for (int i = 0; i < SPEC_COUNT; i++) {
        const option_spec *s = &specs[i];
        char left[64];
        const char *value = s->kind == KIND_CHOICE ? s->choices
                            : s->kind == KIND_PATH ? "PATH" : s->kind == KIND_INT ? "N" : "X";
        snprintf(left, sizeof left, "--%s %s", s->flag, value);
        printf("  %-32s %s%s%s%s\n", left, s->help, s->fallback ? " (" : "",
               s->fallback ? s->fallback : "", s->fallback ? ")" : "");
    }
    printf("\nexample:\n"
           "  recur train --text input.txt --hidden 512 --dropout 0.2 --steps 5000 -o shakespeare.safetensors\n"
           "  recur train --text input.txt --resume shakespeare.ckpt/last.safetensors\n");
}

static const option_spec *find_spec(const char *flag)
{
    for (int i = 0; i < SPEC_COUNT; i++)
        if (!strcmp(specs[i].flag, flag))
            return &specs[i];
    return NULL;
}

static int choice_index(const char *choices, const char *value)
{
    size_t n = strlen(value);
    int index = 0;
    for (const char *p = choices; *p; index++) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == n && !strncmp(p, value, n))
            return index;
        p += len + (bar != NULL);
    }
    return -1;
}

/* Stores text as the option's value; prints an error and returns 2 if bad. */
static int set_value(train_options *o, const option_spec *s, const char *text, const char *origin)
{
    char flag[64];
    snprintf(flag, sizeof flag, "%s--%s", origin, s->flag);
    switch (s->kind) {
    case KIND_PATH:
        o->str[s->id] = text;
        return 0;
    case KIND_CHOICE:
        if (choice_index(s->choices, text) < 0)
            return cli_error("%s: '%s' is not one of %s", flag, text, s->choices);
        o->str[s->id] = text;
        return 0;
    case KIND_INT: {
        long v;
        if (cli_parse_int(flag, text, (long)s->min, (long)s->max, &v))
            return CLI_EXIT_BAD_INPUT;
        o->num[s->id] = (double)v;
        return 0;
    }
    case KIND_FLOAT:
        if (cli_parse_float(flag, text, s->min, s->max, &o->num[s->id]))
            return CLI_EXIT_BAD_INPUT;
        return 0;
    }
    return 0;
}

int train_options_parse(int argc, char **argv, train_options *o)
{
    memset(o, 0, sizeof *o);
    for (int i = 0; i < SPEC_COUNT; i++)
        if (specs[i].fallback && set_value(o, &specs[i], specs[i].fallback, ""))
            return CLI_EXIT_BAD_INPUT; /* not reached: the defaults are valid */
    for (int i = 1; i < argc; i++) {
        const char *flag = argv[i];
        if (!strcmp(flag, "-h") || !strcmp(flag, "--help")) {
            train_options_usage();
            return CLI_EXIT_OK;
        }
        if (!strcmp(flag, "-o"))
            flag = "--output";
        const option_spec *s = strncmp(flag, "--", 2) ? NULL : find_spec(flag + 2);
        if (!s)
            return cli_error("train: unknown option '%s' (see recur train --help)", argv[i]);
        if (i + 1 >= argc)
            return cli_error("train: option %s needs a value", argv[i]);
        if (set_value(o, s, argv[++i], ""))
            return CLI_EXIT_BAD_INPUT;
        o->given[s->id] = 1;
    }
    if (!o->str[OPT_TEXT])
        return cli_error("train: --text FILE is missing (see recur train --help)");
    return -1;
}

static void format_value(const train_options *o, const option_spec *s, char *buf, size_t size)
{
    if (s->kind == KIND_PATH || s->kind == KIND_CHOICE)
        snprintf(buf, size, "%s", o->str[s->id] ? o->str[s->id] : "");
    else
        snprintf(buf, size, "%.17g", o->num[s->id]);
}

recur_status train_options_write(const train_options *o, recur_st_writer *writer)
{
    for (int i = 0; i < SPEC_COUNT; i++) {
        const option_spec *s = &specs[i];
        if (s->scope == RUN)
            continue;
        char key[64], value[64];
        snprintf(key, sizeof key, "recur.train.%s", s->flag);
        format_value(o, s, value, sizeof value);
        CLI_TRY(recur_st_writer_set_metadata(writer, key, value));
    }
    return RECUR_OK;
}

int train_options_resume(train_options *o, const recur_st_file *checkpoint)
{
    const char *label = recur_st_label(checkpoint);
    for (int i = 0; i < SPEC_COUNT; i++) {
        const option_spec *s = &specs[i];
        if (s->scope == RUN)
            continue;
        char key[64], given[64];
        snprintf(key, sizeof key, "recur.train.%s", s->flag);
        const char *saved = recur_st_metadata(checkpoint, key);
        if (!saved)
            return cli_error("%s: not a training checkpoint (metadata %s is missing)", label, key);
        if (o->given[s->id] && s->scope == EXTENDABLE)
            continue;
        format_value(o, s, given, sizeof given);
        char origin[600];
        snprintf(origin, sizeof origin, "%s: checkpoint option ", label);
        /* The checkpoint's strings live as long as the open file. */
        if (set_value(o, s, saved, origin))
            return CLI_EXIT_BAD_INPUT;
        char now[64];
        format_value(o, s, now, sizeof now);
        if (o->given[s->id] && strcmp(now, given))
            return cli_error("--%s %s differs from the checkpoint's %s (%s); leave it out to "
                             "resume",
                             s->flag, given, now, label);
    }
    return 0;
}

int train_options_choice(const train_options *o, train_option_id id)
{
    for (int i = 0; i < SPEC_COUNT; i++)
        if (specs[i].id == id)
            return choice_index(specs[i].choices, o->str[id]);
    return -1;
}

recur_cell train_options_cell(const train_options *o)
{
    static const recur_cell cells[] = {RECUR_LSTM, RECUR_GRU, RECUR_RNN_TANH, RECUR_RNN_RELU};
    return cells[train_options_choice(o, OPT_CELL)];
}

recur_optimizer_kind train_options_optimizer(const train_options *o)
{
    return (recur_optimizer_kind)train_options_choice(o, OPT_OPTIMIZER);
}
