/* The options of recur train: one table drives parsing, --help defaults,
 * saving them in checkpoints and checking them when a run resumes. */
#ifndef RECUR_CLI_TRAIN_OPTIONS_H
#define RECUR_CLI_TRAIN_OPTIONS_H

#include "options.h"
#include "recur.h"

typedef enum train_option_id {
    /* files of this run (not part of the training's identity) */
    OPT_TEXT, OPT_OUTPUT, OPT_CHECKPOINT_DIR, OPT_METRICS, OPT_TENSORBOARD, OPT_RESUME,
    OPT_STOP_AT, OPT_TIME_LIMIT,
    /* the model */
    OPT_CELL, OPT_HIDDEN, OPT_LAYERS, OPT_EMBED, OPT_DROPOUT, OPT_RECURRENT_DROPOUT, OPT_ZONEOUT,
    OPT_LAYER_NORM,
    /* optimization */
    OPT_OPTIMIZER, OPT_LR, OPT_WEIGHT_DECAY, OPT_MOMENTUM, OPT_SCHEDULE, OPT_WARMUP,
    OPT_STEP_SIZE, OPT_GAMMA, OPT_MIN_LR, OPT_PLATEAU_PATIENCE, OPT_CLIP, OPT_CLIP_VALUE, OPT_L1,
    OPT_L2,
    /* data and schedule of the run */
    OPT_BATCH, OPT_BPTT, OPT_STEPS, OPT_VAL_FRACTION, OPT_EVAL_INTERVAL, OPT_EARLY_STOP,
    OPT_MIN_DELTA, OPT_SEED,
    OPT_DEVICE, OPT_ON_NAN,
    OPT_COUNT
} train_option_id;

typedef cli_options train_options;

/* Parses argv (argv[0] is "train"). Returns -1 to go on, else an exit status
 * (0 after --help, 2 after printing an error). */
int train_options_parse(int argc, char **argv, train_options *options);

/* Choice options as enums. */
recur_cell train_options_cell(const train_options *options);
recur_optimizer_kind train_options_optimizer(const train_options *options);

#endif
