/* The state of a recur train run: everything a checkpoint must hold for the
 * run to continue bit-exactly, and the buffers of one training step. */
#ifndef RECUR_CLI_TRAINER_H
#define RECUR_CLI_TRAINER_H

#include <stddef.h>
#include <stdint.h>

#include "recur.h"
#include "train_options.h"

typedef struct trainer {
    train_options *options;
    recur_byte_vocab vocab;
    uint64_t text_hash;          /* FNV-1a of the training text */
    /* data: B streams over the training part, validation after it */
    const int64_t *ids;
    size_t train_n, val_n, stream_len;
    /* model and optimization */
    recur_device device;         /* CUDA: the whole training step runs on the GPU */
    recur_lm *lm;
    recur_optimizer *opt;
    recur_schedule schedule;
    recur_early_stopping early_stopping;
    int param_count;
    float **values, **grads;
    size_t *sizes;
    int weight_count;            /* the 2-D tensors, which L1/L2 penalties apply to */
    const float **weight_values;
    float **weight_grads;
    size_t *weight_sizes;
    /* progress (saved in checkpoints) */
    long step;                   /* steps done */
    size_t pos;                  /* next chunk's position within each stream */
    double elapsed;              /* training seconds, all invocations (updated at saves) */
    double loss_sum;             /* train losses since the last report */
    long loss_count;
    long skipped_in_a_row;       /* --on-nan skip: steps skipped since the last good one */
    double best_val;             /* best validation loss so far (INFINITY if none) */
    long best_step;
    float *best_params;          /* parameters at best_step, in parameter order */
    /* buffers */
    int64_t *inputs, *targets;   /* [T, B] */
    float *grad_logits;          /* [T*B, V] */
    float *carried_state;        /* LM state kept aside during validation */
    struct grad_reducer *reducer; /* under mpirun: averages gradients during the backward
                                     (CUDA: the host copies, unless NCCL is used) */
    struct dist_gpu *gpu_dist;   /* under mpirun with CUDA: this process's GPU, the transport */
    /* CUDA only: the GPU's copies of the parameters are the ones trained;
     * values/grads above are the host copies, refreshed from the GPU before
     * anything reads them (checkpoints, best weights, the final model). */
    float **device_grads;        /* device pointers, in parameter order (sizes) */
    const float **device_weight_values; /* device pointers of the 2-D tensors */
    float **device_weight_grads; /* (weight_sizes) */
    int host_params_stale;       /* the GPU's parameters changed since the last copy */
    int64_t *device_inputs, *device_targets; /* [T, B] */
    float *device_grad_logits;   /* [T*B, V] */
    float *device_scalars;       /* the step's loss and gradient norm (validation: [0]) */
} trainer;

/* Checkpoint file: the model (as recur_lm_write, with the vocabulary and the
 * options) plus optimizer, schedule, early stopping, RNG, carried state and
 * progress. Written atomically. On CUDA the host parameters must be fresh
 * (recur_lm_params_to_host). */
recur_status trainer_save_checkpoint(const trainer *t, const char *path);
/* --text, --output, --checkpoint-dir and --metrics that --resume does not
 * give again: the interrupted run's, from the checkpoint (strings that live
 * as long as the open file), so that the run goes on reading what it read
 * and writing where it wrote. */
void trainer_restore_run_paths(train_options *o, const recur_st_file *checkpoint);
/* Restores what trainer_save_checkpoint wrote into a trainer built from the
 * same options (the caller checked them with cli_options_restore); on CUDA
 * the GPU's copies too. Returns 0, or an exit status after printing the
 * error. */
int trainer_load_checkpoint(trainer *t, const recur_st_file *checkpoint);
/* Writes the model file: parameters, vocabulary and options. */
recur_status trainer_write_model(const trainer *t, recur_st_writer *writer);

#endif
