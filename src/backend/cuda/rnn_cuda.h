/* The recurrent stack on a CUDA GPU: the algorithm of src/nn/rnn_layer.c
 * (one GEMM for the input projection of all steps, per step one cuBLAS GEMM
 * for the recurrent term and one fused gate kernel, the weight gradients as
 * large GEMMs after the backward loop) with device buffers. The stack
 * (src/nn/rnn.c) owns the configuration, the packing plan (built on the
 * host) and the host parameters; this object owns their device copies and
 * everything the forward saves for the backward. Without CUDA
 * (RECUR_CUDA=OFF) every function fails with a message. Internal. */
#ifndef RECUR_BACKEND_CUDA_RNN_CUDA_H
#define RECUR_BACKEND_CUDA_RNN_CUDA_H

#include <stddef.h>

#include "nn/rnn_layer.h"
#include "nn/rnn_pack.h"
#include "recur.h"

typedef struct rnn_cuda rnn_cuda;

/* Where each direction's parameters lie in the flat parameter buffer. */
enum { RNN_CUDA_WEIGHT_IH, RNN_CUDA_WEIGHT_HH, RNN_CUDA_BIAS_IH, RNN_CUDA_BIAS_HH,
       RNN_CUDA_WEIGHT_HR, RNN_CUDA_PARAM_KINDS };
#define RNN_CUDA_ABSENT ((size_t)-1)

typedef struct rnn_cuda_layout {
    recur_rnn_config config;
    rnn_dims dims;
    int directions;
    size_t param_total;
    /* [num_layers * directions], layer-major: offsets (RNN_CUDA_ABSENT when
     * the parameter does not exist) and input sizes. */
    const size_t (*offsets)[RNN_CUDA_PARAM_KINDS];
    const int *input_sizes;
} rnn_cuda_layout;

/* Device copies of the parameters (from `values`) and zeroed gradients. */
recur_status rnn_cuda_create(const rnn_cuda_layout *layout, const float *values, rnn_cuda **out);
void rnn_cuda_free(rnn_cuda *cuda);
recur_status rnn_cuda_set_math(rnn_cuda *cuda, recur_math math);
float *rnn_cuda_params(rnn_cuda *cuda); /* device [param_total] */
float *rnn_cuda_grads(rnn_cuda *cuda);  /* device [param_total] */
/* values (host) -> device parameters. */
recur_status rnn_cuda_upload_params(rnn_cuda *cuda, const float *values);
/* device parameters and gradients -> host (either may be NULL). */
recur_status rnn_cuda_download(rnn_cuda *cuda, float *values, float *grads);
recur_status rnn_cuda_zero_grad(rnn_cuda *cuda);

/* Forward with device pointers in args (lengths: host, already in plan).
 * drop_masks: NULL, or for each layer l < L-1 a host mask [N, D*Hout]
 * (packed rows) of inverted dropout drawn by the stack. keep: whether it
 * keeps what a backward reads (0: gradients off; no backward may follow). */
recur_status rnn_cuda_forward(rnn_cuda *cuda, const recur_pack_plan *plan,
                              const recur_rnn_forward_args *args, const float *const *drop_masks,
                              int keep);
/* Backward of the last forward, device pointers; gradients added on the device.
 * layer_done (may be NULL) is called with `context` once each layer's
 * gradient work is queued (from the top layer down), outside any graph
 * capture, so that it may queue work that waits for it. */
recur_status rnn_cuda_backward(rnn_cuda *cuda, const recur_rnn_backward_args *args,
                               void (*layer_done)(void *context, int layer), void *context);

/* The same with host pointers: parameters uploaded from `values` first;
 * the backward adds the parameter gradients to the host `grads`. */
recur_status rnn_cuda_forward_host(rnn_cuda *cuda, const float *values,
                                   const recur_pack_plan *plan, const recur_rnn_forward_args *args,
                                   const float *const *drop_masks, int keep);
recur_status rnn_cuda_backward_host(rnn_cuda *cuda, const recur_rnn_backward_args *args,
                                    float *grads);

#endif
