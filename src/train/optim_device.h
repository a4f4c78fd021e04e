/* One optimizer update of one tensor, its coefficients formed on the host by
 * src/train/optim.c, for the GPU (src/backend/cuda/train_cuda.c; without
 * CUDA every call fails). Internal. */
#ifndef RECUR_TRAIN_OPTIM_DEVICE_H
#define RECUR_TRAIN_OPTIM_DEVICE_H

#include <stddef.h>

#include "recur.h"

typedef struct optim_update {
    recur_optimizer_kind kind;
    size_t numel;
    float *value;
    const float *grad;
    /* state arrays of numel floats, NULL where the configuration has none */
    float *momentum_buffer, *exp_avg, *exp_avg_sq, *max_exp_avg_sq, *square_avg, *grad_avg,
        *state_sum;
    int first;     /* SGD: the momentum buffer starts as the gradient */
    int nesterov;  /* SGD */
    int decoupled; /* AdamW */
    float step;    /* -lr (SGD, RMSprop), -lr / bias_correction1 (Adam), -clr (Adagrad) */
    float weight_decay, momentum, keep_grad;
    float beta1, beta2, one_minus_beta1, one_minus_beta2, bias_correction2_sqrt;
    float param_scale, l2;       /* AdamW's 1 - lr * wd; Adam's wd on the gradient */
    float alpha, one_minus_alpha; /* RMSprop */
    float eps;
    const float *check; /* skip the update when one of these is not finite */
    int check_count;
} optim_update;

/* The update on the GPU (value, grad, state and check are device pointers). */
recur_status optim_device_update(const optim_update *u);
/* Device memory of `floats` floats, every one set to `fill`. */
recur_status optim_device_alloc(size_t floats, float fill, float **out);
void optim_device_free(float *block);
/* Waits for the queued work, then copies floats between host and device. */
recur_status optim_device_copy(float *dst, const float *src, size_t floats, int to_device);

#endif
