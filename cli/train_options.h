/* The options of recur train: one table drives parsing, --help defaults,
 * saving them in checkpoints and checking them when a run resumes. */
#ifndef RECUR_CLI_TRAIN_OPTIONS_H
#define RECUR_CLI_TRAIN_OPTIONS_H

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
    OPT_COUNT
} train_option_id;

typedef struct train_options {
    const char *str[OPT_COUNT]; /* file and choice options */
    double num[OPT_COUNT];      /* numeric options */
    int given[OPT_COUNT];       /* set on the command line */
} train_options;

/* Parses argv (argv[0] is "train"). Returns -1 to go on, else an exit status
 * (0 after --help, 2 after printing an error). */
int train_options_parse(int argc, char **argv, train_options *options);

/* The usage text, with defaults, on stdout. */
void train_options_usage(void);

/* Adds every option that defines the training as "recur.train.<name>" metadata. */
recur_status train_options_write(const train_options *options, recur_st_writer *writer);

/* Takes the training-defining options from a checkpoint; an option also given
 * on the command line must agree with it (--steps may change). Returns 0, or
 * 2 after printing an error. */
int train_options_resume(train_options *options, const recur_st_file *checkpoint);

/* Index of a choice option's value in its list ("lstm|gru|..." -> 0, 1, ...). */
int train_options_choice(const train_options *options, train_option_id id);
/* Choice options as enums. */
recur_cell train_options_cell(const train_options *options);
recur_optimizer_kind train_options_optimizer(const train_options *options);

#endif
