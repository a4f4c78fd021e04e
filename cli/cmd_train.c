/* recur train --text FILE: a byte-level language model (Embedding -> RNN
 * stack -> Linear) trained with truncated BPTT over B parallel streams, with
 * validation, schedules, early stopping, metrics, TensorBoard and
 * checkpoints that resume bit-exactly. Under mpirun (cli/dist.h) the batch's
 * streams are split over the processes and the gradients averaged. */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli_util.h"
#include "commands.h"
#include "dist.h"
#include "dist_gpu.h"
#include "grad_reducer.h"
#include "metrics_csv.h"
#include "trainer.h"

/* This process's share of the work under mpirun (cli/dist.h): streams
 * [first, first + batch) of the global --batch, and the buffers of the
 * gradient all-reduce and of the carried-state gather. Size 1: everything. */
static struct shard {
    int rank, size;
    int batch, first;
    float *local_state;     /* this rank's carried state [.., batch, H] */
    float *gathered_state;  /* rank 0: every rank's local state, rank after rank */
} shard = {0, 1, 0, 0, NULL, NULL};

/* Set by SIGINT/SIGTERM: the loop saves a checkpoint and stops. */
static volatile sig_atomic_t interrupt_requested;

static void on_interrupt(int signal_number)
{
    (void)signal_number;
    interrupt_requested = 1;
}

static double seconds_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* B streams over ids[0..n): stream b starts at b * stream_len. Fills the
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

static void trainer_free(trainer *t)
{
    recur_lm_free(t->lm);
    recur_optimizer_free(t->opt);
    free(t->values), free(t->grads), free(t->sizes), free(t->inputs), free(t->targets);
    free(t->weight_values), free(t->weight_grads), free(t->weight_sizes);
    free(t->grad_logits), free(t->carried_state), free(t->best_params);
    free(t->device_grads), free(t->device_weight_values), free(t->device_weight_grads);
    recur_cuda_free(t->device_inputs), recur_cuda_free(t->device_targets);
    recur_cuda_free(t->device_grad_logits), recur_cuda_free(t->device_scalars);
    grad_reducer_free(t->reducer);
    dist_gpu_free(t->gpu_dist);
    free(shard.local_state), free(shard.gathered_state);
    shard.local_state = shard.gathered_state = NULL;
}

static recur_status make_schedule(trainer *t)
{
    const train_options *o = t->options;
    static const recur_schedule_kind kinds[] = {RECUR_SCHEDULE_CONSTANT, RECUR_SCHEDULE_STEP,
                                                RECUR_SCHEDULE_EXPONENTIAL,
                                                RECUR_SCHEDULE_WARMUP_COSINE,
                                                RECUR_SCHEDULE_PLATEAU};
    recur_schedule_config c =
        recur_schedule_config_default(kinds[cli_options_choice(o, OPT_SCHEDULE)]);
    c.step_size = (int64_t)o->num[OPT_STEP_SIZE];
    c.gamma = o->num[OPT_GAMMA];
    c.factor = o->num[OPT_GAMMA];
    c.warmup_steps = (int64_t)o->num[OPT_WARMUP];
    c.warmup_start_factor = 1.0 / (double)(c.warmup_steps + 1);
    c.total_steps = (int64_t)o->num[OPT_STEPS];
    if (c.total_steps <= c.warmup_steps)
        c.total_steps = c.warmup_steps + 1;
    c.min_lr = o->num[OPT_MIN_LR];
    c.patience = (int64_t)o->num[OPT_PLATEAU_PATIENCE];
    CLI_TRY(recur_schedule_init(&t->schedule, &c, o->num[OPT_LR]));
    return recur_early_stopping_init(&t->early_stopping, o->num[OPT_MIN_DELTA],
                                     (int64_t)o->num[OPT_EARLY_STOP]);
}

/* CUDA: the host arrays of the GPU's gradients (and of the 2-D weights, for
 * the penalty), the optimizer's registration of the GPU's parameters, and
 * the step's device buffers. The optimizer is already on the GPU. */
static recur_status device_tensors_init(trainer *t)
{
    size_t n = (size_t)t->param_count;
    size_t rows = (size_t)t->options->num[OPT_BPTT] * (size_t)shard.batch;
    t->device_grads = calloc(n, sizeof *t->device_grads);
    t->device_weight_values = calloc(n, sizeof *t->device_weight_values);
    t->device_weight_grads = calloc(n, sizeof *t->device_weight_grads);
    if (!t->device_grads || !t->device_weight_values || !t->device_weight_grads)
        return cli_out_of_memory("train: the device tensor lists");
    int weights = 0;
    for (int i = 0; i < t->param_count; i++) {
        recur_param p;
        CLI_TRY(recur_lm_device_param(t->lm, i, &p));
        t->device_grads[i] = p.grad;
        if (p.ndim == 2) {
            t->device_weight_values[weights] = p.value;
            t->device_weight_grads[weights++] = p.grad;
        }
        CLI_TRY(recur_optimizer_add(t->opt, p.value, p.grad, p.numel));
    }
    void *inputs, *targets, *grad_logits, *scalars;
    CLI_TRY(recur_cuda_malloc(&inputs, rows * sizeof(int64_t)));
    t->device_inputs = inputs;
    CLI_TRY(recur_cuda_malloc(&targets, rows * sizeof(int64_t)));
    t->device_targets = targets;
    CLI_TRY(recur_cuda_malloc(&grad_logits, rows * (size_t)t->vocab.size * sizeof(float)));
    t->device_grad_logits = grad_logits;
    CLI_TRY(recur_cuda_malloc(&scalars, 2 * sizeof(float)));
    t->device_scalars = scalars;
    return RECUR_OK;
}

static void nccl_grads_ready(void *context, int first, int n);

static recur_status trainer_init(trainer *t)
{
    const train_options *o = t->options;
    recur_lm_config lc = {train_options_cell(o),
                          t->vocab.size,
                          (int)o->num[OPT_EMBED],
                          (int)o->num[OPT_HIDDEN],
                          (int)o->num[OPT_LAYERS],
                          (float)o->num[OPT_DROPOUT],
                          (float)o->num[OPT_RECURRENT_DROPOUT],
                          (float)o->num[OPT_ZONEOUT],
                          (int)o->num[OPT_LAYER_NORM]};
    CLI_TRY(recur_lm_create(&lc, (uint64_t)o->num[OPT_SEED], &t->lm));
    const int on_gpu = t->device == RECUR_DEVICE_CUDA;
    if (on_gpu) /* before the optimizer takes the GPU's tensors */
        CLI_TRY(recur_lm_set_device(t->lm, RECUR_DEVICE_CUDA));
    recur_optimizer_config oc = recur_optimizer_config_default(train_options_optimizer(o));
    oc.lr = (float)o->num[OPT_LR];
    oc.weight_decay = (float)o->num[OPT_WEIGHT_DECAY];
    oc.momentum = (float)o->num[OPT_MOMENTUM];
    CLI_TRY(recur_optimizer_create(&oc, &t->opt));
    if (on_gpu)
        CLI_TRY(recur_optimizer_set_device(t->opt, RECUR_DEVICE_CUDA));
    CLI_TRY(make_schedule(t));
    t->param_count = recur_lm_param_count(t->lm);
    size_t n = (size_t)t->param_count, rows = (size_t)o->num[OPT_BPTT] * (size_t)o->num[OPT_BATCH];
    size_t total = 0;
    t->values = calloc(n, sizeof *t->values);
    t->grads = calloc(n, sizeof *t->grads);
    t->sizes = calloc(n, sizeof *t->sizes);
    t->weight_values = calloc(n, sizeof *t->weight_values);
    t->weight_grads = calloc(n, sizeof *t->weight_grads);
    t->weight_sizes = calloc(n, sizeof *t->weight_sizes);
    t->inputs = malloc(rows * sizeof(int64_t));
    t->targets = malloc(rows * sizeof(int64_t));
    t->grad_logits = malloc(rows * (size_t)t->vocab.size * sizeof(float));
    t->carried_state = malloc(recur_lm_state_numel(t->lm, (int)o->num[OPT_BATCH]) * sizeof(float));
    if (!t->values || !t->grads || !t->sizes || !t->weight_values || !t->weight_grads ||
        !t->weight_sizes || !t->inputs || !t->targets || !t->grad_logits ||
        !t->carried_state)
        return cli_out_of_memory("train: the training buffers");
    for (int i = 0; i < t->param_count; i++) {
        recur_param p;
        CLI_TRY(recur_lm_param(t->lm, i, &p));
        t->values[i] = p.value;
        t->grads[i] = p.grad;
        t->sizes[i] = p.numel;
        total += p.numel;
        if (p.ndim == 2) {
            t->weight_values[t->weight_count] = p.value;
            t->weight_grads[t->weight_count] = p.grad;
            t->weight_sizes[t->weight_count++] = p.numel;
        }
        if (!on_gpu)
            CLI_TRY(recur_optimizer_add(t->opt, p.value, p.grad, p.numel));
    }
    if (on_gpu)
        CLI_TRY(device_tensors_init(t));
    if (t->gpu_dist && dist_gpu_uses_nccl(t->gpu_dist) && !dist_overlap_off())
        recur_lm_set_grad_ready(t->lm, nccl_grads_ready, t); /* NCCL during the backward */
    if (!(t->best_params = malloc(total * sizeof(float))))
        return cli_out_of_memory("train: the best weights");
    if (shard.size > 1) {
        size_t state_n = recur_lm_state_numel(t->lm, shard.batch);
        /* the gradients are averaged layer by layer during the backward (on
         * the GPU: after it, through the host copies, unless NCCL does it) */
        if (!(t->gpu_dist && dist_gpu_uses_nccl(t->gpu_dist)) &&
            !(t->reducer = grad_reducer_create(t->param_count, t->grads, t->sizes, 1)))
            return cli_out_of_memory("train: the gradient reducer");
        if (!on_gpu)
            recur_lm_set_grad_ready(t->lm, grad_reducer_ready, t->reducer);
        shard.local_state = malloc(state_n * sizeof(float));
        shard.gathered_state = malloc(state_n * (size_t)shard.size * sizeof(float));
        if (!shard.local_state || !shard.gathered_state)
            return cli_out_of_memory("train: the carried states of the processes");
    }
    t->best_val = INFINITY;
    t->best_step = 0;
    return RECUR_OK;
}

static void copy_params(const trainer *t, int to_best)
{
    size_t at = 0;
    for (int i = 0; i < t->param_count; i++) {
        float *best = t->best_params + at;
        if (to_best)
            memcpy(best, t->values[i], t->sizes[i] * sizeof(float));
        else
            memcpy(t->values[i], best, t->sizes[i] * sizeof(float));
        at += t->sizes[i];
    }
}

/* CUDA: the GPU's parameters -> the host arrays, when training changed them
 * since the last copy. Call before reading t->values. */
static recur_status refresh_host_params(trainer *t)
{
    if (!t->host_params_stale)
        return RECUR_OK;
    CLI_TRY(recur_lm_params_to_host(t->lm));
    t->host_params_stale = 0;
    return RECUR_OK;
}

/* The mean cross-entropy of the chunk in t->inputs/t->targets. */
static recur_status chunk_loss_cpu(trainer *t, int T, int B, float *loss)
{
    const float *logits;
    CLI_TRY(recur_lm_forward(t->lm, T, B, t->inputs, &logits));
    return recur_cross_entropy(T * B, t->vocab.size, logits, t->targets, NULL, loss, NULL);
}

/* The same on the GPU; waits for the loss. */
static recur_status chunk_loss_cuda(trainer *t, int T, int B, float *loss)
{
    const size_t bytes = (size_t)T * (size_t)B * sizeof(int64_t);
    const float *logits;
    CLI_TRY(recur_cuda_memcpy_async(t->device_inputs, t->inputs, bytes, RECUR_HOST_TO_DEVICE));
    CLI_TRY(recur_cuda_memcpy_async(t->device_targets, t->targets, bytes,
                                    RECUR_HOST_TO_DEVICE));
    CLI_TRY(recur_lm_forward_device(t->lm, T, B, t->device_inputs, &logits));
    CLI_TRY(recur_cross_entropy_device(T * B, t->vocab.size, logits, t->device_targets,
                                       t->device_scalars, t->device_grad_logits)); /* unused */
    return recur_cuda_memcpy(loss, t->device_scalars, sizeof *loss, RECUR_DEVICE_TO_HOST);
}

/* Mean cross-entropy over every prediction of the validation streams (as
 * recur eval scores them: --bptt chunks, the last one shorter), from a fresh
 * state, in eval mode; the training's carried state is kept aside and
 * restored. Chunk means are weighted by their length in --bptt units, so
 * full chunks count 1 each (the mean of their means). */
static recur_status validate(trainer *t, double *mean_loss)
{
    const int T = (int)t->options->num[OPT_BPTT], B = shard.batch;
    size_t stream_len = t->val_n / (size_t)t->options->num[OPT_BATCH];
    const int64_t *streams = t->ids + t->train_n + (size_t)shard.first * stream_len;
    int carried_batch = recur_lm_get_state(t->lm, t->carried_state);
    recur_lm_set_training(t->lm, 0);
    CLI_TRY(recur_lm_set_state(t->lm, 0, NULL));
    double total = 0, weight = 0;
    for (size_t pos = 0; pos + 1 < stream_len; pos += (size_t)T) {
        const int steps = stream_len - 1 - pos < (size_t)T ? (int)(stream_len - 1 - pos) : T;
        float loss;
        fill_chunk(streams, stream_len, steps, B, pos, t->inputs, t->targets);
        CLI_TRY(t->device == RECUR_DEVICE_CUDA ? chunk_loss_cuda(t, steps, B, &loss)
                                               : chunk_loss_cpu(t, steps, B, &loss));
        const double chunk_weight = (double)steps / (double)T; /* exactly 1 for full chunks */
        total += chunk_weight * loss, weight += chunk_weight;
    }
    dist_allreduce_sum_double(&total, 1); /* every rank: the same chunks */
    dist_broadcast(&total, sizeof total);  /* rank 0's sum: the same decisions everywhere */
    *mean_loss = weight > 0 ? total / weight / (double)shard.size : NAN;
    return recur_lm_set_state(t->lm, carried_batch, t->carried_state);
}

typedef enum step_result { STEP_OK, STEP_DIVERGED } step_result;

/* --clip's max_norm, or infinity without it: the norm is always computed. */
static float clip_max_norm(const train_options *o)
{
    return o->num[OPT_CLIP] > 0 ? (float)o->num[OPT_CLIP] : INFINITY;
}

/* Forward, loss, backward, penalty, clipping and the optimizer step on the
 * host, for the chunk in t->inputs/t->targets. The weights stay untouched
 * when the loss or the gradient norm is not finite. */
static recur_status train_step_cpu(trainer *t, float *loss, step_result *result)
{
    const train_options *o = t->options;
    const int T = (int)o->num[OPT_BPTT], B = shard.batch, V = t->vocab.size;
    const float *logits;
    CLI_TRY(recur_lm_forward(t->lm, T, B, t->inputs, &logits));
    CLI_TRY(recur_cross_entropy(T * B, V, logits, t->targets, NULL, loss, t->grad_logits));
    CLI_TRY(recur_lm_backward(t->lm, t->grad_logits));
    if (shard.size > 1) { /* each rank's mean over its own tokens, equal counts */
        grad_reducer_finish(t->reducer);
        dist_allreduce_mean(loss, 1);
    }
    float l1 = (float)o->num[OPT_L1], l2 = (float)o->num[OPT_L2], penalty = 0, norm = 0;
    if (l1 > 0 || l2 > 0)
        CLI_TRY(recur_weight_penalty(t->weight_count, t->weight_values, t->weight_grads,
                                     t->weight_sizes, l1, l2, &penalty));
    *loss += penalty;
    if (o->num[OPT_CLIP_VALUE] > 0)
        CLI_TRY(recur_clip_grad_value(t->param_count, t->grads, t->sizes,
                                      (float)o->num[OPT_CLIP_VALUE]));
    /* The norm also without --clip (an infinite max_norm scales nothing), so
     * that a NaN or infinite gradient with a finite loss stops the step too. */
    CLI_TRY(recur_clip_grad_norm(t->param_count, t->grads, t->sizes, clip_max_norm(o), &norm));
    if (!isfinite(*loss) || !isfinite(norm)) {
        *result = STEP_DIVERGED;
        return RECUR_OK;
    }
    recur_optimizer_set_lr(t->opt, (float)recur_schedule_lr(&t->schedule));
    CLI_TRY(recur_optimizer_step(t->opt));
    *result = STEP_OK;
    return RECUR_OK;
}

/* The LM's grad-ready hook under NCCL: tensors [first, first + n) are
 * queued (the head, each layer of the stack from the top, the embedding), so
 * their average goes on NCCL's stream while the backward of the rest runs. */
static void nccl_grads_ready(void *context, int first, int n)
{
    trainer *t = context;
    dist_gpu_mean(t->gpu_dist, n, t->device_grads + first, t->sizes + first);
}

/* Under mpirun: the GPUs' gradients and the loss (a device float) averaged
 * over the processes, before the penalty and the clipping as on the CPU. By
 * NCCL: the gradients were queued during the backward (nccl_grads_ready;
 * here with RECUR_DIST_OVERLAP=0), the loss now, and the rest of the step
 * waits for them. Through the host: copied to the host copies, averaged there
 * by the CPU path's reducer (the same arithmetic as the CPU's training) and
 * copied back. */
static recur_status average_device_grads(trainer *t, float *d_loss)
{
    static const size_t one = 1;
    if (dist_gpu_uses_nccl(t->gpu_dist)) {
        if (dist_overlap_off())
            dist_gpu_mean(t->gpu_dist, t->param_count, t->device_grads, t->sizes);
        dist_gpu_mean(t->gpu_dist, 1, &d_loss, &one);
        dist_gpu_join(t->gpu_dist);
        return RECUR_OK;
    }
    float loss;
    for (int i = 0; i < t->param_count; i++)
        CLI_TRY(recur_cuda_memcpy(t->grads[i], t->device_grads[i], t->sizes[i] * sizeof(float),
                                  RECUR_DEVICE_TO_HOST));
    CLI_TRY(recur_cuda_memcpy(&loss, d_loss, sizeof loss, RECUR_DEVICE_TO_HOST));
    if (t->reducer) /* NULL in a single process */
        grad_reducer_finish(t->reducer);
    dist_allreduce_mean(&loss, 1);
    for (int i = 0; i < t->param_count; i++)
        CLI_TRY(recur_cuda_memcpy_async(t->device_grads[i], t->grads[i],
                                        t->sizes[i] * sizeof(float), RECUR_HOST_TO_DEVICE));
    return recur_cuda_memcpy_async(d_loss, &loss, sizeof loss, RECUR_HOST_TO_DEVICE);
}

/* The same step on the GPU, queued without a round trip: the optimizer
 * itself skips the update when the loss or the norm is not finite. The one
 * wait is the read-back of those two scalars at the end. */
static recur_status train_step_cuda(trainer *t, float *loss, step_result *result)
{
    const train_options *o = t->options;
    const int T = (int)o->num[OPT_BPTT], B = shard.batch, V = t->vocab.size;
    const size_t bytes = (size_t)T * (size_t)B * sizeof(int64_t);
    float *d_loss = t->device_scalars, *d_norm = t->device_scalars + 1;
    const float *logits;
    CLI_TRY(recur_cuda_memcpy_async(t->device_inputs, t->inputs, bytes, RECUR_HOST_TO_DEVICE));
    CLI_TRY(recur_cuda_memcpy_async(t->device_targets, t->targets, bytes,
                                    RECUR_HOST_TO_DEVICE));
    CLI_TRY(recur_lm_forward_device(t->lm, T, B, t->device_inputs, &logits));
    CLI_TRY(recur_cross_entropy_device(T * B, V, logits, t->device_targets, d_loss,
                                       t->device_grad_logits));
    CLI_TRY(recur_lm_backward_device(t->lm, t->device_grad_logits));
    if (t->gpu_dist)
        CLI_TRY(average_device_grads(t, d_loss));
    float l1 = (float)o->num[OPT_L1], l2 = (float)o->num[OPT_L2];
    if (l1 > 0 || l2 > 0) /* adds the penalty to the loss */
        CLI_TRY(recur_weight_penalty_device(t->weight_count, t->device_weight_values,
                                            t->device_weight_grads, t->weight_sizes, l1, l2,
                                            d_loss));
    if (o->num[OPT_CLIP_VALUE] > 0)
        CLI_TRY(recur_clip_grad_value_device(t->param_count, t->device_grads, t->sizes,
                                             (float)o->num[OPT_CLIP_VALUE]));
    CLI_TRY(recur_clip_grad_norm_device(t->param_count, t->device_grads, t->sizes,
                                        clip_max_norm(o), d_norm));
    float previous_lr = recur_optimizer_get_lr(t->opt);
    recur_optimizer_set_lr(t->opt, (float)recur_schedule_lr(&t->schedule));
    CLI_TRY(recur_optimizer_step_checked(t->opt, t->device_scalars, 2));
    float scalars[2];
    CLI_TRY(recur_cuda_memcpy(scalars, t->device_scalars, sizeof scalars, RECUR_DEVICE_TO_HOST));
    *loss = scalars[0];
    if (!isfinite(scalars[0]) || !isfinite(scalars[1])) {
        /* the GPU skipped the update: the optimizer as if it had not stepped */
        recur_optimizer_forget_step(t->opt);
        recur_optimizer_set_lr(t->opt, previous_lr);
        *result = STEP_DIVERGED;
        return RECUR_OK;
    }
    t->host_params_stale = 1;
    *result = STEP_OK;
    return RECUR_OK;
}

/* One truncated-BPTT step on the chunk at t->pos. */
static recur_status train_step(trainer *t, float *loss, step_result *result)
{
    const int T = (int)t->options->num[OPT_BPTT], B = shard.batch;
    if (t->pos + (size_t)T >= t->stream_len) { /* a new epoch: the streams restart */
        t->pos = 0;
        CLI_TRY(recur_lm_set_state(t->lm, 0, NULL));
    }
    fill_chunk(t->ids + (size_t)shard.first * t->stream_len, t->stream_len, T, B, t->pos,
               t->inputs, t->targets);
    recur_lm_set_training(t->lm, 1);
    recur_lm_zero_grad(t->lm);
    CLI_TRY(t->device == RECUR_DEVICE_CUDA ? train_step_cuda(t, loss, result)
                                           : train_step_cpu(t, loss, result));
    if (*result == STEP_DIVERGED)
        return RECUR_OK; /* the weights are untouched */
    recur_schedule_step(&t->schedule);
    t->pos += (size_t)T;
    t->step++;
    return RECUR_OK;
}

/* Paths of this run's files, derived from -o unless given. */
typedef struct run_paths {
    char checkpoint_dir[4096], last[4200], best[4200], metrics[4200];
} run_paths;

static int make_paths(const train_options *o, run_paths *p)
{
    const char *dir = o->str[OPT_CHECKPOINT_DIR];
    if (dir)
        snprintf(p->checkpoint_dir, sizeof p->checkpoint_dir, "%s", dir);
    else {
        const char *out = o->str[OPT_OUTPUT];
        size_t n = strlen(out), ext = strlen(".safetensors");
        if (n > ext && !strcmp(out + n - ext, ".safetensors"))
            n -= ext;
        if (n + 6 >= sizeof p->checkpoint_dir)
            return cli_error("--output: path too long");
        snprintf(p->checkpoint_dir, sizeof p->checkpoint_dir, "%.*s.ckpt", (int)n, out);
    }
    if (mkdir(p->checkpoint_dir, 0755) != 0 && errno != EEXIST)
        return cli_error("%s: cannot create the checkpoint folder: %s", p->checkpoint_dir,
                         strerror(errno));
    snprintf(p->last, sizeof p->last, "%s/last.safetensors", p->checkpoint_dir);
    snprintf(p->best, sizeof p->best, "%s/best.safetensors", p->checkpoint_dir);
    if (o->str[OPT_METRICS])
        snprintf(p->metrics, sizeof p->metrics, "%s", o->str[OPT_METRICS]);
    else
        snprintf(p->metrics, sizeof p->metrics, "%s/metrics.csv", p->checkpoint_dir);
    return 0;
}

typedef struct run_logs {
    metrics_csv *metrics;
    recur_tb_writer *tb;
    int tty;
    double start;          /* wall clock at the start of this invocation */
    long start_step;
    double elapsed_before; /* training seconds of earlier invocations */
    long saved_step;       /* step of the newest checkpoint, -1 if none */
} run_logs;

/* The carried state is blocks of [B, H] (per layer h, then c for LSTMs); a
 * rank's streams are the same run of rows in every block. Copies rank
 * `rank`'s rows between the state of all B streams and a rank's own. */
static void state_slice(const trainer *t, int rank, float *all, float *own, int to_own)
{
    size_t H = (size_t)t->options->num[OPT_HIDDEN], B = (size_t)t->options->num[OPT_BATCH];
    size_t blocks = recur_lm_state_numel(t->lm, 1) / H, rows = (size_t)shard.batch * H;
    for (size_t k = 0; k < blocks; k++) {
        float *in_all = all + k * B * H + (size_t)rank * rows, *in_own = own + k * rows;
        memcpy(to_own ? in_own : in_all, to_own ? in_all : in_own, rows * sizeof(float));
    }
}

/* Under mpirun every rank calls this (the carried state is gathered from all
 * of them) and rank 0 writes the file, with the state of all B streams. */
static recur_status save_checkpoint(trainer *t, const run_logs *logs, const char *path)
{
    t->elapsed = logs->elapsed_before + (seconds_now() - logs->start);
    CLI_TRY(refresh_host_params(t));
    if (shard.size == 1)
        return trainer_save_checkpoint(t, path);
    int carried = recur_lm_get_state(t->lm, shard.local_state);
    size_t own_n = recur_lm_state_numel(t->lm, shard.batch);
    if (carried)
        dist_gather_float(shard.local_state, own_n, shard.gathered_state);
    if (shard.rank != 0)
        return RECUR_OK;
    if (carried) {
        for (int r = 0; r < shard.size; r++)
            state_slice(t, r, t->carried_state, shard.gathered_state + (size_t)r * own_n, 0);
        CLI_TRY(recur_lm_set_state(t->lm, (int)t->options->num[OPT_BATCH], t->carried_state));
    }
    recur_status st = trainer_save_checkpoint(t, path);
    if (carried) { /* back to this rank's own streams */
        recur_status restored = recur_lm_set_state(t->lm, shard.batch, shard.local_state);
        if (st == RECUR_OK)
            st = restored;
    }
    return st;
}

/* A checkpoint holds the state of all B streams: each rank keeps its own. */
static recur_status take_own_state(trainer *t)
{
    if (shard.size == 1 || !recur_lm_get_state(t->lm, t->carried_state))
        return RECUR_OK;
    state_slice(t, shard.rank, t->carried_state, shard.local_state, 1);
    return recur_lm_set_state(t->lm, shard.batch, shard.local_state);
}

/* Under mpirun: 0 when every rank holds rank 0's parameters bit for bit, else
 * an error. Ranks that differ would be a bug (or a non-deterministic MPI). */
static int check_same_params(const trainer *t)
{
    if (shard.size == 1)
        return 0;
    uint64_t hash = 1469598103934665603ULL, rank0_hash;
    for (int i = 0; i < t->param_count; i++) {
        const uint32_t *words = (const uint32_t *)(const void *)t->values[i];
        for (size_t k = 0; k < t->sizes[i]; k++)
            hash = (hash ^ words[k]) * 1099511628211ULL;
    }
    rank0_hash = hash;
    dist_broadcast(&rank0_hash, sizeof rank0_hash);
    if (rank0_hash != hash)
        return cli_error("train: rank %d: the parameters differ from rank 0's at step %ld",
                         shard.rank, t->step);
    return 0;
}

static recur_status save_last_checkpoint(trainer *t, run_logs *logs, const char *path)
{
    CLI_TRY(save_checkpoint(t, logs, path));
    logs->saved_step = t->step;
    return RECUR_OK;
}

/* val_loss: NULL before the first evaluation and without a validation
 * part, printed as "-" (a NaN printed is a validation loss that diverged) */
static void print_progress(const trainer *t, const run_logs *logs, float loss,
                           const double *val_loss, int final_line)
{
    const train_options *o = t->options;
    double T = o->num[OPT_BPTT], B = o->num[OPT_BATCH], steps = o->num[OPT_STEPS];
    double now = seconds_now() - logs->start;
    double done = (double)(t->step - logs->start_step);
    double tokens_per_s = now > 0 ? done * T * B / now : 0;
    double eta = done > 0 ? now / done * (steps - (double)t->step) : 0;
    if (o->num[OPT_TIME_LIMIT] > 0)
        eta = fmin(eta, fmax(0.0, o->num[OPT_TIME_LIMIT] - now));
    char val[32] = "-";
    if (val_loss)
        snprintf(val, sizeof val, "%.4f", *val_loss);
    printf("%sstep %ld/%.0f  epoch %.2f  train loss %.4f  val loss %s  lr %.3g  %.0f tok/s  "
           "ETA %.0fs%s",
           logs->tty ? "\r\033[K" : "", t->step, steps,
           (double)t->step * T * B / (double)t->train_n, (double)loss, val,
           recur_schedule_lr(&t->schedule), tokens_per_s, eta,
           logs->tty && !final_line ? "" : "\n");
    fflush(stdout);
}

/* After an evaluation: metrics, TensorBoard, schedule, best weights and
 * checkpoints. Sets *stop when early stopping says so. */
static int after_validation(trainer *t, run_logs *logs, const run_paths *paths, double val_loss,
                            int *stop)
{
    const train_options *o = t->options;
    double train_loss = t->loss_count ? t->loss_sum / (double)t->loss_count : NAN;
    double elapsed = logs->elapsed_before + (seconds_now() - logs->start);
    double tokens = (double)(t->step - logs->start_step) * o->num[OPT_BPTT] * o->num[OPT_BATCH];
    double lr = recur_schedule_lr(&t->schedule);
    t->loss_sum = 0, t->loss_count = 0;
    recur_status fresh = refresh_host_params(t); /* for the checks, best weights and saves */
    if (fresh != RECUR_OK)
        return cli_status_error(fresh);
    if (check_same_params(t))
        return CLI_EXIT_FAILURE;
    double row[] = {(double)t->step, (double)t->step * o->num[OPT_BPTT] * o->num[OPT_BATCH] /
                                         (double)t->train_n,
                    train_loss, val_loss, lr, tokens / (seconds_now() - logs->start), elapsed};
    if (logs->metrics && metrics_csv_append(logs->metrics, row)) /* rank 0 only */
        return CLI_EXIT_BAD_INPUT;
    if (logs->tb) {
        recur_status st = recur_tb_add_scalar(logs->tb, "loss/train", t->step, (float)train_loss);
        if (st == RECUR_OK && isfinite(val_loss))
            st = recur_tb_add_scalar(logs->tb, "loss/val", t->step, (float)val_loss);
        if (st == RECUR_OK)
            st = recur_tb_add_scalar(logs->tb, "lr", t->step, (float)lr);
        if (st == RECUR_OK)
            st = recur_tb_flush(logs->tb);
        if (st != RECUR_OK)
            return cli_status_error(st);
    }
    int improved = 0;
    if (isfinite(val_loss)) {
        recur_schedule_plateau(&t->schedule, val_loss);
        if (o->num[OPT_EARLY_STOP] > 0)
            *stop = recur_early_stopping_update(&t->early_stopping, (float)val_loss);
        if (val_loss < t->best_val) {
            t->best_val = val_loss, t->best_step = t->step;
            copy_params(t, 1);
            improved = 1;
        }
    }
    recur_status st = save_last_checkpoint(t, logs, paths->last);
    if (st == RECUR_OK && improved)
        st = save_checkpoint(t, logs, paths->best);
    return st == RECUR_OK ? 0 : cli_status_error(st);
}

static int save_final_model(trainer *t)
{
    recur_status st = refresh_host_params(t);
    if (st != RECUR_OK)
        return cli_status_error(st);
    if (isfinite(t->best_val))
        copy_params(t, 0); /* the model with the best validation loss */
    recur_st_writer *w;
    st = recur_st_writer_create(&w);
    if (st == RECUR_OK)
        st = trainer_write_model(t, w);
    if (st == RECUR_OK)
        st = recur_st_writer_save(w, t->options->str[OPT_OUTPUT]);
    recur_st_writer_free(w);
    return st == RECUR_OK ? 0 : cli_status_error(st);
}

/* 1 when the last validation made early stopping stop: a run that was
 * interrupted at that step (--stop-at, SIGINT) ends on resume as the
 * uninterrupted run ended there. */
static int stopped_early(const trainer *t)
{
    const recur_early_stopping *e = &t->early_stopping;
    return t->options->num[OPT_EARLY_STOP] > 0 && e->stopped_epoch >= 0 &&
           e->stopped_epoch == e->epochs - 1;
}

/* --on-nan skip: the step that diverged counts as done, with the weights
 * untouched and the carried state (which may hold the NaN) reset. */
static void skip_step(trainer *t, float loss)
{
    fprintf(stderr, "recur: warning: step %ld skipped: the loss or gradient is %s\n",
            t->step + 1, isnan(loss) ? "NaN" : "infinite");
    recur_lm_reset_state(t->lm);
    recur_schedule_step(&t->schedule);
    t->pos += (size_t)t->options->num[OPT_BPTT];
    t->step++;
}

static int report_divergence(const trainer *t, const run_logs *logs, const run_paths *paths,
                             float loss)
{
    char where[4300] = "no checkpoint was written yet";
    if (logs->saved_step >= 0)
        snprintf(where, sizeof where, "the last good checkpoint is %s (step %ld)", paths->last,
                 logs->saved_step);
    fprintf(stderr,
            "recur: error: training diverged at step %ld: the loss or gradient is %s "
            "(try a lower --lr or --clip); %s\n",
            t->step + 1, isnan(loss) ? "NaN" : "infinite", where);
    return CLI_EXIT_FAILURE;
}

static int train_loop(trainer *t, run_logs *logs, const run_paths *paths)
{
    const train_options *o = t->options;
    const long steps = (long)o->num[OPT_STEPS], interval = (long)o->num[OPT_EVAL_INTERVAL];
    const long stop_at = (long)o->num[OPT_STOP_AT];
    const double time_limit = o->num[OPT_TIME_LIMIT];
    const int can_validate = t->val_n / (size_t)o->num[OPT_BATCH] >= 2; /* one prediction */
    double val_loss = NAN;
    int validated = 0;
    float loss = NAN;
    int stop = stopped_early(t);
    const int skip_bad_steps = !strcmp(o->str[OPT_ON_NAN], "skip");
    while (t->step < steps && !stop) {
        step_result result;
        recur_status st = train_step(t, &loss, &result);
        if (st != RECUR_OK)
            return cli_status_error(st);
        /* a skipped step goes on to the evaluation and stop checks below as
         * a good one does; only its loss is left out of the train loss */
        if (result == STEP_OK) {
            t->skipped_in_a_row = 0;
            t->loss_sum += loss, t->loss_count++;
        } else if (skip_bad_steps && ++t->skipped_in_a_row < 100)
            skip_step(t, loss);
        else
            return report_divergence(t, logs, paths, loss);
        /* a time limit ends the run normally: validate and save at that step */
        int out_of_time = time_limit > 0 && seconds_now() - logs->start >= time_limit;
        int interrupted = interrupt_requested;
        if (shard.size > 1) { /* every rank stops at the same step */
            double flags[2] = {out_of_time, interrupted};
            dist_allreduce_sum_double(flags, 2);
            out_of_time = flags[0] > 0, interrupted = flags[1] > 0;
        }
        int report = t->step % interval == 0 || t->step == steps || out_of_time;
        if (report) {
            if (can_validate && (st = validate(t, &val_loss)) != RECUR_OK)
                return cli_status_error(st);
            validated |= can_validate;
            int rc = after_validation(t, logs, paths, val_loss, &stop);
            if (rc)
                return rc;
        }
        if (report || logs->tty)
            print_progress(t, logs, loss, validated ? &val_loss : NULL, report);
        if ((stop_at && t->step >= stop_at) || interrupted || out_of_time) {
            if (!report) {
                recur_status st2 = save_last_checkpoint(t, logs, paths->last);
                if (st2 != RECUR_OK)
                    return cli_status_error(st2);
            }
            if (out_of_time) {
                printf("time limit reached at step %ld\n", t->step);
                break;
            }
            printf("stopped at step %ld; continue with --resume %s\n", t->step, paths->last);
            return interrupted ? 130 : CLI_EXIT_OK;
        }
    }
    if (stop)
        printf("early stopping at step %ld: no validation improvement in %.0f evaluations "
               "(best %.4f at step %ld)\n",
               t->step, o->num[OPT_EARLY_STOP], t->best_val, t->best_step);
    int rc = shard.rank == 0 ? save_final_model(t) : 0;
    if (rc == 0 && isfinite(t->best_val))
        printf("saved %s: the weights of step %ld, best validation loss %.4f\n",
               o->str[OPT_OUTPUT], t->best_step, t->best_val);
    else if (rc == 0)
        printf("saved %s\n", o->str[OPT_OUTPUT]);
    return rc;
}

static uint64_t fnv1a(const unsigned char *data, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ data[i]) * 1099511628211ULL;
    return h;
}

static int run_training(trainer *t, const recur_st_file *resume_from)
{
    const train_options *o = t->options;
    const int T = (int)o->num[OPT_BPTT], B = (int)o->num[OPT_BATCH];
    if (t->stream_len < (size_t)T + 1)
        return cli_error("%s: %zu training bytes are too few for --batch %d x --bptt %d",
                         o->str[OPT_TEXT], t->train_n, B, T);
    run_paths paths;
    if (make_paths(o, &paths))
        return CLI_EXIT_BAD_INPUT;
    if (cli_parse_device("train: --device", o->str[OPT_DEVICE], &t->device))
        return CLI_EXIT_BAD_INPUT;
    /* this process's GPU, before the model goes there; RECUR_DIST_TRANSPORT
     * makes a single process average too (a check of that path on one GPU) */
    int rc;
    if (t->device == RECUR_DEVICE_CUDA && (shard.size > 1 || getenv("RECUR_DIST_TRANSPORT")) &&
        (rc = dist_gpu_init(&t->gpu_dist)))
        return rc;
    recur_status st = trainer_init(t);
    if (st != RECUR_OK)
        return cli_status_error(st);
    rc = resume_from ? trainer_load_checkpoint(t, resume_from) : 0;
    if (rc)
        return rc;
    if ((st = take_own_state(t)) != RECUR_OK)
        return cli_status_error(st);
    /* under mpirun stdout is a pty even when redirected: whole lines there */
    run_logs logs = {NULL, NULL, isatty(STDOUT_FILENO) && shard.size == 1, seconds_now(),
                     t->step, t->elapsed,
                     resume_from ? t->step : -1};
    static const char *const columns[] = {"step", "epoch", "train_loss", "val_loss",
                                          "lr", "tokens_per_s", "elapsed_s"};
    if (shard.rank == 0 &&
        metrics_csv_open(paths.metrics, columns, 7, resume_from ? t->step : -1, &logs.metrics))
        return CLI_EXIT_BAD_INPUT;
    if (shard.rank == 0 && o->str[OPT_TENSORBOARD] && (st = recur_tb_open(o->str[OPT_TENSORBOARD], &logs.tb)) != RECUR_OK) {
        metrics_csv_close(logs.metrics);
        return cli_status_error(st);
    }
    printf("%s %s: %zu bytes (%zu validation), vocabulary %d, %s %.0fx%.0f, %zu parameters, "
           "checkpoints in %s\n",
           resume_from ? "resuming" : "training", o->str[OPT_TEXT], t->train_n + t->val_n,
           t->val_n, t->vocab.size, o->str[OPT_CELL], o->num[OPT_LAYERS], o->num[OPT_HIDDEN],
           recur_lm_param_total(t->lm), paths.checkpoint_dir);
    if (resume_from)
        printf("continuing from step %ld of %.0f\n", t->step, o->num[OPT_STEPS]);
    if (shard.size > 1)
        printf("data-parallel over %d processes: %d streams each%s%s\n", shard.size, shard.batch,
               t->gpu_dist ? ", gradients by " : "",
               t->gpu_dist ? dist_gpu_describe(t->gpu_dist) : "");
    fflush(stdout);
    rc = train_loop(t, &logs, &paths);
    metrics_csv_close(logs.metrics);
    recur_tb_close(logs.tb);
    return rc;
}

int cmd_train(int argc, char **argv)
{
    struct sigaction action = {0};
    action.sa_handler = on_interrupt;
    sigaction(SIGINT, &action, NULL);
    sigaction(SIGTERM, &action, NULL);
    train_options o;
    int rc = train_options_parse(argc, argv, &o);
    if (rc >= 0)
        return rc;
    recur_st_file *resume_from = NULL;
    if (o.str[OPT_RESUME]) {
        recur_status st = recur_st_open(o.str[OPT_RESUME], &resume_from);
        if (st != RECUR_OK)
            return cli_status_error(st);
        if ((rc = cli_options_restore(&o, resume_from, "recur.train.", 1)) != 0) {
            recur_st_close(resume_from);
            return rc;
        }
        trainer_restore_run_paths(&o, resume_from);
        if (!o.str[OPT_TEXT]) { /* a checkpoint of an older version */
            recur_st_close(resume_from);
            return cli_error("train: --text FILE is missing (%s does not name it)",
                             o.str[OPT_RESUME]);
        }
    }
    shard.rank = dist_rank(), shard.size = dist_size();
    shard.batch = (int)o.num[OPT_BATCH] / shard.size, shard.first = shard.rank * shard.batch;
    if ((int)o.num[OPT_BATCH] % shard.size) {
        recur_st_close(resume_from);
        return cli_error("train: --batch %.0f is not a multiple of the %d processes (mpirun -np)",
                         o.num[OPT_BATCH], shard.size);
    }
    if (dist_quiet_other_ranks() != 0) { /* rank 0 reports */
        recur_st_close(resume_from);
        return cli_error("train: rank %d: cannot silence stdout", shard.rank);
    }
    /* nothing the run writes may replace the text it reads */
    if (cli_check_output_not_input(o.str[OPT_OUTPUT], o.str[OPT_TEXT]) ||
        (o.str[OPT_METRICS] && cli_check_output_not_input(o.str[OPT_METRICS], o.str[OPT_TEXT]))) {
        recur_st_close(resume_from);
        return CLI_EXIT_BAD_INPUT;
    }
    unsigned char *text;
    size_t n;
    if (cli_read_file(o.str[OPT_TEXT], &text, &n)) {
        recur_st_close(resume_from);
        return CLI_EXIT_BAD_INPUT;
    }
    trainer t = {0};
    t.options = &o;
    int64_t *ids = malloc((n ? n : 1) * sizeof(int64_t));
    if (!ids)
        rc = cli_error("out of memory");
    else if (recur_byte_vocab_build(text, n, &t.vocab) != RECUR_OK)
        rc = cli_error("%s: %s", o.str[OPT_TEXT], recur_last_error());
    else {
        recur_byte_vocab_encode(&t.vocab, text, n, ids);
        t.ids = ids;
        t.text_hash = fnv1a(text, n);
        t.val_n = (size_t)((double)n * o.num[OPT_VAL_FRACTION]);
        t.train_n = n - t.val_n;
        t.stream_len = t.train_n / (size_t)o.num[OPT_BATCH];
        rc = run_training(&t, resume_from);
    }
    trainer_free(&t);
    free(ids);
    free(text);
    recur_st_close(resume_from);
    return rc;
}
