/* recur train's options. */
#include "train_options.h"

#include <stdio.h>

#include "cli_util.h"

static const cli_option specs[] = {
    {OPT_TEXT, "text", OPTION_PATH, SCOPE_RUN, NULL, 0, 0, NULL, "training text (required)"},
    {OPT_OUTPUT, "output", OPTION_PATH, SCOPE_RUN, "model.safetensors", 0, 0, NULL,
     "final model, also -o"},
    {OPT_CHECKPOINT_DIR, "checkpoint-dir", OPTION_PATH, SCOPE_RUN, NULL, 0, 0, NULL,
     "last.safetensors and best.safetensors (OUTPUT without .safetensors, + .ckpt)"},
    {OPT_METRICS, "metrics", OPTION_PATH, SCOPE_RUN, NULL, 0, 0, NULL,
     "CSV of losses per evaluation (CHECKPOINT_DIR/metrics.csv)"},
    {OPT_TENSORBOARD, "tensorboard", OPTION_PATH, SCOPE_RUN, NULL, 0, 0, NULL,
     "also write TensorBoard event files into this folder"},
    {OPT_RESUME, "resume", OPTION_PATH, SCOPE_RUN, NULL, 0, 0, NULL,
     "continue from a checkpoint exactly where it stopped"},
    {OPT_STOP_AT, "stop-at", OPTION_INT, SCOPE_RUN, "0", 0, 1e9, NULL,
     "stop after this step with a checkpoint, as if interrupted (0 = off)"},
    {OPT_TIME_LIMIT, "time-limit", OPTION_FLOAT, SCOPE_RUN, "0", 0, 1e9, NULL,
     "stop after this many seconds with a checkpoint (0 = off)"},
    {OPT_CELL, "cell", OPTION_CHOICE, SCOPE_FIXED, "lstm", 0, 0, "lstm|gru|rnn|rnn-relu", "recurrent cell"},
    {OPT_HIDDEN, "hidden", OPTION_INT, SCOPE_FIXED, "256", 1, 65536, NULL, "hidden size"},
    {OPT_LAYERS, "layers", OPTION_INT, SCOPE_FIXED, "2", 1, 64, NULL, "stacked layers"},
    {OPT_EMBED, "embed", OPTION_INT, SCOPE_FIXED, "64", 1, 65536, NULL, "embedding size"},
    {OPT_DROPOUT, "dropout", OPTION_FLOAT, SCOPE_FIXED, "0", 0, 0.99, NULL,
     "dropout between layers and before the head"},
    {OPT_RECURRENT_DROPOUT, "recurrent-dropout", OPTION_FLOAT, SCOPE_FIXED, "0", 0, 0.99, NULL,
     "variational dropout on the recurrent state"},
    {OPT_ZONEOUT, "zoneout", OPTION_FLOAT, SCOPE_FIXED, "0", 0, 0.99, NULL, "zoneout probability"},
    {OPT_LAYER_NORM, "layer-norm", OPTION_INT, SCOPE_FIXED, "0", 0, 1, NULL,
     "layer normalization inside LSTM/GRU cells (1 = on)"},
    {OPT_OPTIMIZER, "optimizer", OPTION_CHOICE, SCOPE_FIXED, "adam", 0, 0, "sgd|adam|adamw|rmsprop|adagrad",
     "optimizer"},
    {OPT_LR, "lr", OPTION_FLOAT, SCOPE_FIXED, "0.002", 0, 100, NULL, "learning rate"},
    {OPT_WEIGHT_DECAY, "weight-decay", OPTION_FLOAT, SCOPE_FIXED, "0", 0, 10, NULL,
     "the optimizer's weight decay"},
    {OPT_MOMENTUM, "momentum", OPTION_FLOAT, SCOPE_FIXED, "0", 0, 0.999, NULL, "SGD/RMSprop momentum"},
    {OPT_SCHEDULE, "schedule", OPTION_CHOICE, SCOPE_FIXED, "cosine", 0, 0,
     "constant|step|exponential|cosine|plateau", "learning-rate schedule"},
    {OPT_WARMUP, "warmup", OPTION_INT, SCOPE_FIXED, "0", 0, 1e9, NULL, "cosine: linear warm-up steps"},
    {OPT_STEP_SIZE, "step-size", OPTION_INT, SCOPE_FIXED, "1000", 1, 1e9, NULL,
     "step: steps between decays"},
    {OPT_GAMMA, "gamma", OPTION_FLOAT, SCOPE_FIXED, "0.5", 1e-6, 1, NULL,
     "step, exponential: decay factor; plateau: reduction factor"},
    {OPT_MIN_LR, "min-lr", OPTION_FLOAT, SCOPE_FIXED, "0", 0, 100, NULL,
     "cosine, plateau: lowest learning rate"},
    {OPT_PLATEAU_PATIENCE, "plateau-patience", OPTION_INT, SCOPE_FIXED, "2", 0, 1e9, NULL,
     "plateau: evaluations without improvement before a reduction"},
    {OPT_CLIP, "clip", OPTION_FLOAT, SCOPE_FIXED, "1", 0, 1e9, NULL, "clip the gradient norm (0 = off)"},
    {OPT_CLIP_VALUE, "clip-value", OPTION_FLOAT, SCOPE_FIXED, "0", 0, 1e9, NULL,
     "clip each gradient value to [-X, X] (0 = off)"},
    {OPT_L1, "l1", OPTION_FLOAT, SCOPE_FIXED, "0", 0, 10, NULL, "L1 penalty on the weights"},
    {OPT_L2, "l2", OPTION_FLOAT, SCOPE_FIXED, "0", 0, 10, NULL, "L2 penalty on the weights"},
    {OPT_BATCH, "batch", OPTION_INT, SCOPE_FIXED, "32", 1, 65536, NULL, "parallel streams"},
    {OPT_BPTT, "bptt", OPTION_INT, SCOPE_FIXED, "64", 1, 65536, NULL, "steps per truncated-BPTT chunk"},
    {OPT_STEPS, "steps", OPTION_INT, SCOPE_EXTENDABLE, "2000", 0, 1e9, NULL, "training steps"},
    {OPT_VAL_FRACTION, "val-fraction", OPTION_FLOAT, SCOPE_FIXED, "0.1", 0, 0.5, NULL,
     "share of the file held out, from its end"},
    {OPT_EVAL_INTERVAL, "eval-interval", OPTION_INT, SCOPE_FIXED, "200", 1, 1e9, NULL,
     "steps between validations and checkpoints"},
    {OPT_EARLY_STOP, "early-stop", OPTION_INT, SCOPE_FIXED, "0", 0, 1e9, NULL,
     "stop after N validations without improvement (0 = off)"},
    {OPT_MIN_DELTA, "min-delta", OPTION_FLOAT, SCOPE_FIXED, "0", 0, 1e9, NULL,
     "a validation loss counts as better when it improves by more than this"},
    {OPT_SEED, "seed", OPTION_INT, SCOPE_FIXED, "1", 0, 2147483647, NULL, "seed of initialization"},
    {OPT_ON_NAN, "on-nan", OPTION_CHOICE, SCOPE_FIXED, "stop", 0, 0, "stop|skip",
     "a step whose loss or gradient is NaN/infinite: stop (exit 1), or skip it (weights "
     "untouched, state reset; 100 in a row stop)"},
    {OPT_DEVICE, "device", OPTION_CHOICE, SCOPE_RUN, "cpu", 0, 0, "cpu|cuda",
     "where the training step runs (cuda: all of it on the GPU; a build with CUDA and a GPU)"},
};
enum { SPEC_COUNT = sizeof specs / sizeof specs[0] };

static const char usage[] =
    "usage: recur train --text FILE [options]\n"
    "\n"
    "Trains a byte-level language model on FILE, with validation on the end of the\n"
    "file, checkpoints that resume exactly, metrics.csv and TensorBoard logs.\n";

static const char example[] =
    "  recur train --text input.txt --hidden 512 --dropout 0.2 --steps 5000 -o shakespeare.safetensors\n"
    "  recur train --resume shakespeare.ckpt/last.safetensors\n";

int train_options_parse(int argc, char **argv, train_options *o)
{
    cli_options_init(o, specs, SPEC_COUNT, "train", usage, example);
    int rc = cli_options_parse(o, argc, argv, 0);
    /* --resume without --text reads the interrupted run's (cmd_train.c) */
    if (rc < 0 && !o->str[OPT_TEXT] && !o->str[OPT_RESUME])
        return cli_error("train: --text FILE is missing (see recur train --help)");
    return rc;
}

recur_cell train_options_cell(const train_options *o)
{
    static const recur_cell cells[] = {RECUR_LSTM, RECUR_GRU, RECUR_RNN_TANH, RECUR_RNN_RELU};
    return cells[cli_options_choice(o, OPT_CELL)];
}

recur_optimizer_kind train_options_optimizer(const train_options *o)
{
    return (recur_optimizer_kind)cli_options_choice(o, OPT_OPTIMIZER);
}
