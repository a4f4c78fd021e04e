/*
 * recur — recurrent neural networks (Elman RNN, LSTM, GRU) in C.
 *
 * One public header. Conventions:
 *  - Every fallible call returns a recur_status; RECUR_OK is 0. On failure,
 *    recur_last_error() returns a one-line message for the calling thread.
 *    The library never prints and never exits.
 *  - Objects are created with *_create / *_open and released with *_free /
 *    *_close; the caller owns what it created. Passing NULL to a free
 *    function is a no-op.
 *  - Tensors are dense, row-major, float32 unless stated otherwise. Shapes
 *    are written in comments as [T, B, I] (T = time steps, B = batch).
 *  - A handle may be used by one thread at a time; distinct handles are
 *    independent.
 */
#ifndef RECUR_H
#define RECUR_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The version of this header (librecur.so.MAJOR is its ABI); recur_version()
 * returns the library's, which may differ when linking against another copy. */
#define RECUR_VERSION_MAJOR 0
#define RECUR_VERSION_MINOR 1
#define RECUR_VERSION_PATCH 0
#define RECUR_VERSION_STRING "0.1.0"
const char *recur_version(void);

/* The threads the CPU layers use for their products: RECUR_NUM_THREADS when
 * set (read when a handle first needs them), else OpenBLAS's thread count,
 * else 1. With OpenBLAS set to one thread the layers also split their large
 * products between these threads (the recur tool always runs that way). */
int recur_num_threads(void);

/* ------------------------------------------------------------------ */
/* Status                                                              */
/* ------------------------------------------------------------------ */

typedef enum recur_status {
    RECUR_OK = 0,
    RECUR_E_INVALID = 1, /* bad argument or configuration */
    RECUR_E_NOMEM = 2,   /* allocation failed or size overflow */
    RECUR_E_IO = 3,      /* file could not be read or written */
    RECUR_E_FORMAT = 4,  /* malformed, truncated or hostile file */
    RECUR_E_SHAPE = 5,   /* tensor missing, or wrong shape or dtype */
    RECUR_E_STATE = 6,   /* call out of order (backward before forward) */
    RECUR_E_DEVICE = 7   /* the GPU or its libraries failed (CUDA error) */
} recur_status;

/* Short constant name of a status ("RECUR_E_FORMAT"). */
const char *recur_status_name(recur_status status);
/* Message of the last failed call on this thread ("" if none). */
const char *recur_last_error(void);

/* ------------------------------------------------------------------ */
/* safetensors files                                                   */
/* ------------------------------------------------------------------ */

#define RECUR_MAX_DIMS 8

typedef enum recur_dtype {
    RECUR_F32 = 0,
    RECUR_F64,
    RECUR_F16,
    RECUR_BF16,
    RECUR_I64,
    RECUR_I32,
    RECUR_I16,
    RECUR_I8,
    RECUR_U8,
    RECUR_BOOL,
    RECUR_DTYPE_COUNT
} recur_dtype;

/* "F32", "BF16", ... as written in safetensors headers. */
const char *recur_dtype_name(recur_dtype dtype);
/* Bytes per element. */
size_t recur_dtype_size(recur_dtype dtype);

/* A tensor inside an open file. `data` points into the file's buffer and
 * may be unaligned: read it with recur_tensor_to_f32 / recur_tensor_to_i64. */
typedef struct recur_tensor_view {
    const char *name;
    recur_dtype dtype;
    int ndim;
    int64_t shape[RECUR_MAX_DIMS];
    size_t numel;
    size_t nbytes;
    const void *data;
} recur_tensor_view;

typedef struct recur_st_file recur_st_file;

/* Reads and validates a whole file: header length, JSON, dtypes, shapes,
 * offsets (in range, contiguous, non-overlapping), names (UTF-8, unique). */
recur_status recur_st_open(const char *path, recur_st_file **out);
/* Same checks on a buffer in memory (copied). `label` names it in errors. */
recur_status recur_st_open_memory(const void *bytes, size_t size, const char *label,
                                  recur_st_file **out);
void recur_st_close(recur_st_file *file);
/* The path or label the file was opened with (used in messages). */
const char *recur_st_label(const recur_st_file *file);

size_t recur_st_count(const recur_st_file *file);
const recur_tensor_view *recur_st_tensor(const recur_st_file *file, size_t index);
/* NULL when absent. */
const recur_tensor_view *recur_st_find(const recur_st_file *file, const char *name);
/* Value of a __metadata__ key, NULL when absent. */
const char *recur_st_metadata(const recur_st_file *file, const char *key);
size_t recur_st_metadata_count(const recur_st_file *file);
void recur_st_metadata_at(const recur_st_file *file, size_t index, const char **key,
                          const char **value);

/* Converts F32, F64, F16 or BF16 data to float32; `count` must equal numel. */
recur_status recur_tensor_to_f32(const recur_tensor_view *tensor, float *dst, size_t count);
/* Converts I64, I32, I16, I8 or U8 data to int64; `count` must equal numel. */
recur_status recur_tensor_to_i64(const recur_tensor_view *tensor, int64_t *dst, size_t count);

typedef struct recur_st_writer recur_st_writer;

recur_status recur_st_writer_create(recur_st_writer **out);
void recur_st_writer_free(recur_st_writer *writer);
/* Copies the data; names must be unique. */
recur_status recur_st_writer_add(recur_st_writer *writer, const char *name, recur_dtype dtype,
                                 int ndim, const int64_t *shape, const void *data);
recur_status recur_st_writer_set_metadata(recur_st_writer *writer, const char *key,
                                          const char *value);
/* Writes PATH.tmp.XXXXXX beside PATH, flushes it and renames it over PATH:
 * PATH is never left half-written. */
recur_status recur_st_writer_save(const recur_st_writer *writer, const char *path);

/* ------------------------------------------------------------------ */
/* Recurrent layers: torch.nn.RNN / LSTM / GRU                         */
/* ------------------------------------------------------------------ */

typedef enum recur_cell {
    RECUR_RNN_TANH = 0, /* h' = tanh(W_ih x + b_ih + W_hh h + b_hh) */
    RECUR_RNN_RELU,     /* h' = relu(...) */
    RECUR_LSTM,         /* gates i, f, g, o; optional projection */
    RECUR_GRU           /* gates r, z, n; n = tanh(W_in x + b_in + r * (W_hn h + b_hn)) */
} recur_cell;

typedef struct recur_rnn_config {
    recur_cell cell;
    int input_size;
    int hidden_size;
    int num_layers;    /* >= 1 */
    int bias;          /* 0 or 1 */
    int batch_first;   /* input/output [B, T, F] instead of [T, B, F] */
    int bidirectional; /* 0 or 1 */
    int proj_size;     /* LSTM only: 0 = none, else 0 < proj_size < hidden_size */
    /* Regularization (all 0 = off; see recur_rnn_set_training). */
    float dropout;           /* 0 <= p < 1: inverted dropout on every layer's output but
                                the last (torch's dropout=), training mode only */
    float recurrent_dropout; /* 0 <= p < 1: variational dropout of h_{t-1} where it enters
                                W_hh h (one mask per layer, direction, sequence and unit) */
    float zoneout;           /* 0 <= z < 1: training: each unit keeps its previous h (and,
                                independently, c) with prob z; eval: h = z h_{t-1} + (1-z) h~ */
    int layer_norm;          /* 0 or 1, LSTM (without proj_size) and GRU only: layer
                                normalization of W_ih x, W_hh h (and c for LSTM), see below */
} recur_rnn_config;

/* PyTorch's defaults: one layer, bias, time-major, one direction, no projection,
 * no regularization. */
recur_rnn_config recur_rnn_config_default(recur_cell cell, int input_size, int hidden_size);

typedef struct recur_rnn recur_rnn;

/* Parameters are initialized as PyTorch does, uniform in
 * [-1/sqrt(hidden_size), 1/sqrt(hidden_size)], from a generator seeded by `seed`
 * (layer-norm gains are 1 and shifts 0). The layer also owns a second generator
 * for dropout/zoneout masks, seeded from `seed` on a distinct stream. */
recur_status recur_rnn_create(const recur_rnn_config *config, uint64_t seed, recur_rnn **out);
void recur_rnn_free(recur_rnn *rnn);
const recur_rnn_config *recur_rnn_get_config(const recur_rnn *rnn);

/* Training mode (1) draws fresh dropout / recurrent-dropout / zoneout masks at
 * every forward and keeps them for backward; eval mode (0, the default) makes
 * dropout and recurrent dropout the identity and zoneout its expectation. */
void recur_rnn_set_training(recur_rnn *rnn, int training);
int recur_rnn_is_training(const recur_rnn *rnn);
/* Gradients on (1, the default) or off (0), as torch.set_grad_enabled: a
 * forward with them off is for inference and keeps nothing for a backward
 * (on the GPU it skips the stores of what one would read); the backward
 * that follows it fails with RECUR_E_STATE. Independent of the training
 * mode. */
void recur_rnn_set_grad_enabled(recur_rnn *rnn, int enabled);
int recur_rnn_is_grad_enabled(const recur_rnn *rnn);
/* State of the mask generator (xoshiro256**), for bit-exact resumption.
 * set: RECUR_E_INVALID for the all-zero state. */
void recur_rnn_get_rng_state(const recur_rnn *rnn, uint64_t state[4]);
recur_status recur_rnn_set_rng_state(recur_rnn *rnn, const uint64_t state[4]);

/* Layer normalization (config.layer_norm, as Haste's LayerNormLSTM/GRU), LN
 * over the whole gate vector of one sample, eps 1e-5:
 *   LSTM: gates = LN_ih(W_ih x) + LN_hh(W_hh h) + b_ih + b_hh,
 *         c' = f*c + i*g, h' = o * tanh(LN_c(c'))
 *   GRU:  gx = LN_ih(W_ih x) + b_ih, gh = LN_hh(W_hh h) + b_hh, then as usual
 *         (r multiplies the n block of gh, b_hn included)
 * Extra parameters, after each direction's usual ones: layer_norm_ih_weight_l0,
 * layer_norm_ih_bias_l0, layer_norm_hh_weight_l0, layer_norm_hh_bias_l0 [G*H],
 * LSTM also layer_norm_c_weight_l0, layer_norm_c_bias_l0 [H] (..._reverse). */

/* A parameter, named as in PyTorch's state_dict(): weight_ih_l0,
 * weight_hh_l0, bias_ih_l0, bias_hh_l0, weight_hr_l0, ..._reverse. */
typedef struct recur_param {
    const char *name;
    int ndim;         /* 1 (bias) or 2 (weight) */
    int64_t shape[2];
    size_t numel;
    float *value;     /* owned by the layer */
    float *grad;      /* owned by the layer, accumulated by backward */
} recur_param;

/* Parameters in state_dict() order. */
int recur_rnn_param_count(const recur_rnn *rnn);
recur_status recur_rnn_param(const recur_rnn *rnn, int index, recur_param *out);
/* RECUR_E_SHAPE when the layer has no parameter of that name. */
recur_status recur_rnn_find_param(const recur_rnn *rnn, const char *name, recur_param *out);
/* All parameters (and gradients) lie in one contiguous buffer in that order. */
size_t recur_rnn_param_total(const recur_rnn *rnn);
float *recur_rnn_param_data(recur_rnn *rnn);
float *recur_rnn_grad_data(recur_rnn *rnn);
void recur_rnn_zero_grad(recur_rnn *rnn);

/* Sizes of the forward's tensors, in PyTorch's shapes:
 *   output  [T, B, D*Hout]  ([B, T, D*Hout] when batch_first)
 *   h_n     [L*D, B, Hout]  (never batch-first, as in PyTorch)
 *   c_n     [L*D, B, H]     (LSTM only)
 * with D = 2 if bidirectional, Hout = proj_size if set else hidden_size. */
size_t recur_rnn_output_numel(const recur_rnn *rnn, int seq_len, int batch);
size_t recur_rnn_state_numel(const recur_rnn *rnn, int batch);      /* h0 / h_n */
size_t recur_rnn_cell_state_numel(const recur_rnn *rnn, int batch); /* c0 / c_n, 0 unless LSTM */

typedef struct recur_rnn_forward_args {
    int seq_len;             /* T >= 1 */
    int batch;               /* B >= 1 */
    const float *input;      /* [T, B, I] or [B, T, I] */
    const int64_t *lengths;  /* [B] in 1..T, any order; NULL = every sequence has T steps */
    const float *h0;         /* [L*D, B, Hout] or NULL (zeros) */
    const float *c0;         /* [L*D, B, H] or NULL (zeros); LSTM only */
    float *output;           /* out, see recur_rnn_output_numel; zero past each length */
    float *h_n;              /* out, may be NULL */
    float *c_n;              /* out, may be NULL; LSTM only */
} recur_rnn_forward_args;

/* Runs the stack and keeps what backward needs inside the handle. With
 * lengths, the semantics are those of pack_padded_sequence(...,
 * enforce_sorted=False) followed by pad_packed_sequence(total_length=T). */
recur_status recur_rnn_forward(recur_rnn *rnn, const recur_rnn_forward_args *args);

typedef struct recur_rnn_backward_args {
    const float *grad_output; /* same shape as output, or NULL (zeros) */
    const float *grad_h_n;    /* same shape as h_n, or NULL (zeros) */
    const float *grad_c_n;    /* same shape as c_n, or NULL (zeros) */
    float *grad_input;        /* out, same shape as input, or NULL */
    float *grad_h0;           /* out, same shape as h0, or NULL */
    float *grad_c0;           /* out, same shape as c0, or NULL */
} recur_rnn_backward_args;

/* Backpropagation through time for the last forward. Parameter gradients
 * are added to the layer's gradient buffer (call recur_rnn_zero_grad first
 * for fresh gradients). RECUR_E_STATE when no forward preceded it. */
recur_status recur_rnn_backward(recur_rnn *rnn, const recur_rnn_backward_args *args);

/* Gradient-ready notification, for overlapping communication with the
 * backward pass (data-parallel training): during recur_rnn_backward,
 * fn(context, first, count) is called as soon as the gradients of parameters
 * [first, first + count) (recur_rnn_param's indexes) are final for this
 * backward: layer by layer, from the top layer down (on CUDA with host
 * pointers, once for all at the end). In recur_rnn_backward_device "final"
 * means queued on the GPU: work fn queues on the default stream (or on a
 * stream that waits for an event recorded there) runs after it. fn runs on
 * the calling thread and must not use the layer. NULL removes it. */
typedef void (*recur_grad_ready_fn)(void *context, int first, int count);
void recur_rnn_set_grad_ready(recur_rnn *rnn, recur_grad_ready_fn fn, void *context);

/* ------------------------------------------------------------------ */
/* Devices: the CUDA backend                                            */
/* ------------------------------------------------------------------ */

/* Built with RECUR_CUDA=ON (the default when CMake finds nvcc), a stack can
 * run on a CUDA GPU (the first, or the one recur_cuda_set_device selects).
 * Everything above works unchanged with host pointers (each forward copies
 * the host parameters and inputs to the GPU and the outputs back; each
 * backward adds the GPU's parameter gradients to the host gradient buffer),
 * and the *_device calls below keep everything
 * on the GPU. The CUDA backend has every option of the core (cells, layers,
 * bidirectional, projection, lengths, h0/c0) and dropout between layers
 * (the masks are drawn on the host by the same generator as on the CPU);
 * recurrent dropout, zoneout and layer norm are CPU-only (RECUR_E_INVALID). */

typedef enum recur_device { RECUR_DEVICE_CPU = 0, RECUR_DEVICE_CUDA } recur_device;

/* Arithmetic of the GPU's cuBLAS matrix products: FP32 (the default) is
 * IEEE single precision throughout, for parity with the CPU and PyTorch; TF32
 * lets cuBLAS use the tensor cores' 10-bit-mantissa inputs (about 3e-4
 * relative error; PyTorch's cuDNN default for RNNs); BF16 rounds the inputs
 * to bfloat16 (8-bit mantissa, about 4e-3) for the tensor cores, with FP32
 * storage and accumulation. The persistent small-batch kernels compute in
 * FP32 in every mode. */
typedef enum recur_math { RECUR_MATH_FP32 = 0, RECUR_MATH_TF32, RECUR_MATH_BF16 } recur_math;

/* Number of usable CUDA devices: 0 when built without CUDA, without a
 * driver or without a GPU. */
int recur_cuda_device_count(void);
/* One line naming the selected GPU and the CUDA runtime ("NVIDIA H100 80GB
 * HBM3 (GPU 0 of 1), sm_90, 132 SMs, 79 GiB, CUDA runtime 13.0"), or saying
 * why there is none. */
void recur_cuda_describe(char *buf, size_t size);
/* Selects the GPU (0 .. recur_cuda_device_count() - 1) that the calling
 * thread's CUDA work uses from now on: models moved to CUDA afterwards live
 * there, and every later call on them must come from a thread with the same
 * GPU selected (CUDA's current device is per thread). The default is GPU 0.
 * Processes sharing a machine under mpirun pick one each this way.
 * RECUR_E_INVALID for an ordinal out of range or without CUDA. */
recur_status recur_cuda_set_device(int ordinal);

/* Device memory for the *_device calls (on the selected GPU). kind: */
typedef enum recur_copy_kind {
    RECUR_HOST_TO_DEVICE = 0, RECUR_DEVICE_TO_HOST, RECUR_DEVICE_TO_DEVICE
} recur_copy_kind;
recur_status recur_cuda_malloc(void **ptr, size_t bytes);
void recur_cuda_free(void *ptr);
recur_status recur_cuda_memcpy(void *dst, const void *src, size_t bytes, recur_copy_kind kind);
/* Waits until every queued GPU operation has finished. */
recur_status recur_cuda_synchronize(void);

/* Moves the stack to a device: CUDA copies the parameters (and gradients)
 * to the GPU; CPU copies them back and releases the GPU's memory.
 * RECUR_E_INVALID without a GPU or for a CPU-only option. */
recur_status recur_rnn_set_device(recur_rnn *rnn, recur_device device);
recur_device recur_rnn_get_device(const recur_rnn *rnn);
/* CUDA only (RECUR_E_INVALID on the CPU). */
recur_status recur_rnn_set_math(recur_rnn *rnn, recur_math math);

/* Device-resident use (CUDA): every pointer in args is a device pointer
 * except lengths, which stay on the host as in PyTorch's
 * pack_padded_sequence. These calls use the GPU's copy of the parameters,
 * recur_rnn_device_params (param_total floats, state_dict order, as
 * recur_rnn_param_data), and add to recur_rnn_device_grads; they are
 * asynchronous (recur_cuda_synchronize waits). recur_rnn_zero_grad zeroes
 * both gradient buffers. Change the parameters between a backward and the
 * next forward, not between a forward and its backward (as in PyTorch's
 * autograd): in RECUR_MATH_BF16 the backward reads the bfloat16 copies of
 * the weights that its forward made. Likewise keep the forward's input
 * unchanged until its backward: where the batch needs no reordering (equal
 * lengths, time-major) both read it in place, and the backward reads
 * grad_output and writes grad_input in place too. */
recur_status recur_rnn_forward_device(recur_rnn *rnn, const recur_rnn_forward_args *args);
recur_status recur_rnn_backward_device(recur_rnn *rnn, const recur_rnn_backward_args *args);
float *recur_rnn_device_params(recur_rnn *rnn); /* NULL on the CPU */
float *recur_rnn_device_grads(recur_rnn *rnn);  /* NULL on the CPU */
/* Host parameters -> GPU, and GPU parameters and gradients -> host. */
recur_status recur_rnn_params_to_device(recur_rnn *rnn);
recur_status recur_rnn_params_to_host(recur_rnn *rnn);
/* recur_cuda_memcpy queued on the GPU's default stream, after everything
 * queued before it: returns at once for host-to-device copies (the host
 * buffer may be reused on return) and waits for device-to-host ones. */
recur_status recur_cuda_memcpy_async(void *dst, const void *src, size_t bytes,
                                     recur_copy_kind kind);

/* ------------------------------------------------------------------ */
/* Recurrent layers in safetensors files                               */
/* ------------------------------------------------------------------ */

/* Builds a layer from a file holding the state_dict() of a bare
 * torch.nn.RNN/LSTM/GRU (F32, F64, F16 or BF16) with string metadata:
 *   recur.module   lstm | gru | rnn                   (required)
 *   input_size, hidden_size                           (default: read off weight_ih_l0)
 *   num_layers 1, bias true, batch_first false, bidirectional false,
 *   proj_size 0 (LSTM), nonlinearity tanh | relu (RNN)  (PyTorch's defaults)
 *   dropout 0, recurrent_dropout 0, zoneout 0, layer_norm false  (recur's options;
 *   with layer_norm the file also holds the layer_norm_* parameters)
 * Every parameter must be present with its exact shape and no other tensor
 * may be: RECUR_E_SHAPE or RECUR_E_FORMAT otherwise, naming the file. */
recur_status recur_rnn_from_safetensors(const recur_st_file *file, recur_rnn **out);
/* The layer inside a larger file: metadata as above, parameters named
 * "<prefix><PyTorch name>", other tensors allowed (the rest of a model). */
recur_status recur_rnn_read(const recur_st_file *file, const char *prefix, recur_rnn **out);
/* Adds the parameters (F32, names prefixed by `prefix`, "" for none) and
 * the metadata above to a writer. */
recur_status recur_rnn_write(const recur_rnn *rnn, recur_st_writer *writer, const char *prefix);
/* Saves the layer alone in the format above (atomically, as recur_st_writer_save). */
recur_status recur_rnn_save(const recur_rnn *rnn, const char *path);

/* ------------------------------------------------------------------ */
/* Linear and Embedding (torch.nn.Linear, torch.nn.Embedding)          */
/* ------------------------------------------------------------------ */

typedef struct recur_linear recur_linear;

/* y[n, out] = x[n, in] W^T + b, W [out, in], b [out]; PyTorch's
 * initialization: W and b ~ U(-1/sqrt(in), 1/sqrt(in)). */
recur_status recur_linear_create(int in_features, int out_features, int bias, uint64_t seed,
                                 recur_linear **out);
void recur_linear_free(recur_linear *linear);
/* Parameters "weight" and, with bias, "bias". */
int recur_linear_param_count(const recur_linear *linear);
recur_status recur_linear_param(const recur_linear *linear, int index, recur_param *out);
void recur_linear_zero_grad(recur_linear *linear);
/* Keeps a copy of x for backward. */
recur_status recur_linear_forward(recur_linear *linear, int rows, const float *x, float *y);
/* Adds the parameter gradients; writes grad_x [n, in] unless NULL. */
recur_status recur_linear_backward(recur_linear *linear, const float *grad_y, float *grad_x);

typedef struct recur_embedding recur_embedding;

/* A table [num_embeddings, dim] ~ N(0, 1) as PyTorch; padding_idx (-1 for
 * none) has a zero row that receives no gradient. */
recur_status recur_embedding_create(int num_embeddings, int dim, int padding_idx, uint64_t seed,
                                    recur_embedding **out);
void recur_embedding_free(recur_embedding *embedding);
/* The parameter "weight". */
recur_status recur_embedding_param(const recur_embedding *embedding, recur_param *out);
void recur_embedding_zero_grad(recur_embedding *embedding);
/* out[n, dim] = rows of the table; RECUR_E_SHAPE for an index out of range. */
recur_status recur_embedding_forward(recur_embedding *embedding, int n, const int64_t *ids,
                                     float *out);
/* Adds grad_out [n, dim] into the rows of the last forward's ids. */
recur_status recur_embedding_backward(recur_embedding *embedding, const float *grad_out);

/* ------------------------------------------------------------------ */
/* Losses                                                              */
/* ------------------------------------------------------------------ */

typedef enum recur_reduction { RECUR_REDUCE_MEAN = 0, RECUR_REDUCE_SUM } recur_reduction;

typedef struct recur_cross_entropy_options {
    int64_t ignore_index;       /* targets equal to it count for nothing (default -100) */
    float label_smoothing;      /* in [0, 1] */
    const float *class_weights; /* [C] or NULL */
    recur_reduction reduction;
} recur_cross_entropy_options;

recur_cross_entropy_options recur_cross_entropy_defaults(void);

/* torch.nn.functional.cross_entropy from logits [n, C] and class indices [n].
 * Mean reduction divides by the summed weights of the counted targets, as
 * PyTorch does; when that sum is 0 (every target ignored, or only targets of
 * classes weighted 0) the loss and gradient are 0 (PyTorch: NaN).
 * grad_logits [n, C] (NULL to skip) receives d loss / d logits. */
recur_status recur_cross_entropy(int n, int classes, const float *logits, const int64_t *targets,
                                 const recur_cross_entropy_options *options, float *loss,
                                 float *grad_logits);

/* Element-wise losses over n values (any shape, flattened), PyTorch's formulas:
 *   RECUR_LOSS_BCE_LOGITS  binary_cross_entropy_with_logits: targets in [0, 1]
 *                          (soft labels allowed); pos_weight [P] multiplies the
 *                          positive term, broadcast over the last dimension:
 *                          element i uses pos_weight[i % P] (P must divide n);
 *                          weight [n] multiplies each element's loss (torch's
 *                          weight=, of the input's shape); mean still divides by
 *                          the number of elements, as torch's does
 *   RECUR_LOSS_MSE         mse_loss, (x - y)^2
 *   RECUR_LOSS_L1          l1_loss, |x - y|; gradient sign(x - y), 0 at a tie
 *   RECUR_LOSS_HUBER       huber_loss: 0.5 d^2 if |d| < delta, else
 *                          delta (|d| - 0.5 delta); gradient clamp(d, -delta, delta)
 * mask [n] (NULL for none) holds 0 or 1 (RECUR_E_INVALID otherwise): elements
 * with mask 0 count for nothing (their values are not even read, so padding
 * may hold anything, NaN included) and get a zero gradient. Mean reduction
 * divides by the number of counted elements; when there are none (all masked,
 * or n = 0) the loss and gradient are 0 (PyTorch: NaN). Sums are in double. */
typedef enum recur_loss_kind {
    RECUR_LOSS_BCE_LOGITS = 0,
    RECUR_LOSS_MSE,
    RECUR_LOSS_L1,
    RECUR_LOSS_HUBER
} recur_loss_kind;

typedef struct recur_loss_options {
    recur_reduction reduction; /* default mean */
    float huber_delta;         /* Huber only, > 0 (default 1) */
    const float *pos_weight;   /* BCE only: [pos_weight_size] or NULL */
    int pos_weight_size;
    const float *mask;         /* [n] of 0/1, or NULL */
    const float *weight;       /* BCE only: [n] per-element weights, or NULL */
} recur_loss_options;

recur_loss_options recur_loss_defaults(void);

/* Writes the reduced loss to *loss and, unless grad_input is NULL,
 * d loss / d input [n]. options NULL = defaults. RECUR_E_INVALID for NULL
 * input/target/loss, an unknown kind or reduction, a bad delta, pos_weight
 * with another kind or a size that does not divide n, weight with another
 * kind, or a bad mask value. */
recur_status recur_elementwise_loss(recur_loss_kind kind, size_t n, const float *input,
                                    const float *target, const recur_loss_options *options,
                                    float *loss, float *grad_input);

/* ------------------------------------------------------------------ */
/* Optimizers with torch.optim's update rules                          */
/* ------------------------------------------------------------------ */

typedef enum recur_optimizer_kind {
    RECUR_SGD = 0, /* momentum, dampening, nesterov, weight_decay */
    RECUR_ADAM,    /* betas, eps, weight_decay (L2 added to the gradient), amsgrad */
    RECUR_ADAMW,   /* as Adam with decoupled weight decay */
    RECUR_RMSPROP, /* alpha, eps, weight_decay, momentum, centered */
    RECUR_ADAGRAD  /* lr_decay, weight_decay, initial_accumulator_value, eps */
} recur_optimizer_kind;

/* Hyper-parameters; recur_optimizer_config_default gives torch.optim's defaults
 * for the kind (SGD lr 1e-3 as no default exists there; Adam lr 1e-3,
 * betas (0.9, 0.999), eps 1e-8; AdamW weight_decay 1e-2; RMSprop lr 1e-2,
 * alpha 0.99, eps 1e-8; Adagrad lr 1e-2, eps 1e-10). Each float stands for
 * the shortest decimal that rounds to it (0.999f for 0.999, the Python float
 * torch is given): torch's scalar arithmetic in double (1 - beta2, beta2^step,
 * lr / bias_correction1, 1 - dampening, 1 - alpha) is done on that decimal, so
 * the results are torch's and not those of 0.999f = 0.99900001287... */
typedef struct recur_optimizer_config {
    recur_optimizer_kind kind;
    float lr;
    float momentum;     /* SGD, RMSprop */
    float dampening;    /* SGD */
    int nesterov;       /* SGD */
    float weight_decay; /* all */
    float beta1, beta2; /* Adam, AdamW */
    float eps;          /* Adam, AdamW, RMSprop, Adagrad */
    int amsgrad;        /* Adam, AdamW */
    float alpha;        /* RMSprop smoothing constant */
    int centered;       /* RMSprop */
    float lr_decay;     /* Adagrad */
    float initial_accumulator_value; /* Adagrad */
} recur_optimizer_config;

recur_optimizer_config recur_optimizer_config_default(recur_optimizer_kind kind);

typedef struct recur_optimizer recur_optimizer;

recur_status recur_optimizer_create(const recur_optimizer_config *config, recur_optimizer **out);
void recur_optimizer_free(recur_optimizer *opt);
/* Registers a parameter tensor (value and gradient arrays of numel floats,
 * owned by the caller and alive while the optimizer is used); state is
 * allocated here, zeroed as torch.optim does. */
recur_status recur_optimizer_add(recur_optimizer *opt, float *value, const float *grad,
                                 size_t numel);
/* One update of every registered tensor from its current gradient. */
recur_status recur_optimizer_step(recur_optimizer *opt);
/* The optimizer on the GPU (CUDA): call before the first recur_optimizer_add,
 * which then takes device pointers; the state lives on the GPU (write and
 * read copy it) and steps are queued on the default stream. */
recur_status recur_optimizer_set_device(recur_optimizer *opt, recur_device device);
/* recur_optimizer_step that leaves every tensor unchanged when any of the
 * check_count floats at `check` (e.g. the loss and the gradient norm; device
 * floats on the GPU) is not finite: decided where the data lives, so the GPU
 * needs no round trip to the host. The step is counted either way (SGD's
 * momentum buffer then exists, zeros if this was the first step); once the
 * caller has seen the non-finite value, recur_optimizer_forget_step uncounts
 * it (step counts as if recur_optimizer_step had not been called). */
recur_status recur_optimizer_step_checked(recur_optimizer *opt, const float *check,
                                          int check_count);
void recur_optimizer_forget_step(recur_optimizer *opt);
/* The learning rate used by the next step (for schedules). */
void recur_optimizer_set_lr(recur_optimizer *opt, float lr);
float recur_optimizer_get_lr(const recur_optimizer *opt);
/* Steps taken so far. */
int64_t recur_optimizer_step_count(const recur_optimizer *opt);
/* The whole state (per-tensor buffers and step counts, learning rate) as
 * tensors named "<prefix>..." in a writer, and back into an optimizer made
 * with the same configuration and the same registered tensors, for
 * checkpoints that resume exactly. RECUR_E_SHAPE when the file's state does
 * not fit this optimizer. */
recur_status recur_optimizer_write(const recur_optimizer *opt, recur_st_writer *writer,
                                   const char *prefix);
recur_status recur_optimizer_read(recur_optimizer *opt, const recur_st_file *file,
                                  const char *prefix);

/* Gradient clipping as torch.nn.utils.clip_grad_norm_ (max_norm, L2): scales
 * every gradient by min(max_norm / (norm + 1e-6), 1), with torch's non-finite
 * cases: a NaN norm makes every gradient NaN, an infinite one sets the finite
 * gradients to 0 (and the infinite ones to NaN). The norm is summed in double
 * (torch: float, so torch's overflows to inf beyond about 1.8e19). max_norm
 * must be > 0 (RECUR_E_INVALID otherwise; torch also takes 0, which zeroes
 * the gradients). *total_norm (may be NULL) receives the norm before clipping. */
recur_status recur_clip_grad_norm(int count, float *const *grads, const size_t *sizes,
                                  float max_norm, float *total_norm);

/* Clamps every gradient value to [-clip_value, clip_value] as
 * torch.nn.utils.clip_grad_value_ (NaN stays NaN). clip_value >= 0. */
recur_status recur_clip_grad_value(int count, float *const *grads, const size_t *sizes,
                                   float clip_value);

/* Weight penalty as Keras's L1L2 regularizer, over `count` tensors of sizes[i]
 * values: adds l1 * sum|w| + l2 * sum w^2 to *loss (loss may be NULL) and
 * l1 * sign(w) + 2 * l2 * w to grads[i] (grads may be NULL; sign(0) = 0).
 * l1, l2 finite and >= 0. Apply it to weight matrices (usually not biases). */
recur_status recur_weight_penalty(int count, const float *const *values, float *const *grads,
                                  const size_t *sizes, float l1, float l2, float *loss);

/* The same on the GPU (CUDA): the arrays of pointers are host arrays of
 * device pointers, scalars (loss, total_norm) are device floats, and the work
 * is queued on the default stream without waiting. Sums run in double in a
 * fixed order, so results are deterministic. recur_cross_entropy_device is
 * recur_cross_entropy with the default options for n >= 1 rows: *loss is
 * overwritten with the mean over the rows whose target is in
 * 0..classes-1 (others count as ignored: zero gradient rows), grad_logits is
 * required. The penalty adds to *loss (grads may be NULL, loss too);
 * clip_grad_norm needs total_norm, where the scaling reads the norm; a NaN
 * norm makes every gradient NaN, as recur_clip_grad_norm and torch do. */
recur_status recur_cross_entropy_device(int n, int classes, const float *logits,
                                        const int64_t *targets, float *loss, float *grad_logits);
recur_status recur_weight_penalty_device(int count, const float *const *values,
                                         float *const *grads, const size_t *sizes, float l1,
                                         float l2, float *loss);
recur_status recur_clip_grad_norm_device(int count, float *const *grads, const size_t *sizes,
                                         float max_norm, float *total_norm);
recur_status recur_clip_grad_value_device(int count, float *const *grads, const size_t *sizes,
                                          float clip_value);

/* ------------------------------------------------------------------ */
/* Learning-rate schedules and early stopping                          */
/* ------------------------------------------------------------------ */

/* Schedules follow torch.optim.lr_scheduler with one parameter group; the
 * state is a plain struct (no allocation), so a checkpoint can store its
 * fields and restore it exactly. A training loop calls recur_schedule_step
 * after every optimizer step and recur_schedule_plateau after every
 * validation (each is a no-op for the kinds it does not drive), then gives
 * recur_schedule_lr to recur_optimizer_set_lr. Arithmetic is in double. */
typedef enum recur_schedule_kind {
    RECUR_SCHEDULE_CONSTANT = 0, /* lr = base_lr */
    RECUR_SCHEDULE_STEP,         /* StepLR: base_lr * gamma^floor(t / step_size) */
    RECUR_SCHEDULE_EXPONENTIAL,  /* ExponentialLR: base_lr * gamma^t */
    /* SequentialLR([LinearLR(start_factor=warmup_start_factor, end_factor=1,
     * total_iters=warmup_steps), CosineAnnealingLR(T_max=total_steps -
     * warmup_steps, eta_min=min_lr)], milestones=[warmup_steps]), in closed
     * form: for t < W, base_lr * (f + (1 - f) t / W); then min_lr + (base_lr -
     * min_lr) (1 + cos(pi (t - W) / (total_steps - W))) / 2. Past total_steps
     * the cosine rises again, as torch's does. warmup_steps 0: plain
     * CosineAnnealingLR(T_max=total_steps). */
    RECUR_SCHEDULE_WARMUP_COSINE,
    RECUR_SCHEDULE_PLATEAU /* ReduceLROnPlateau, mode 'min' */
} recur_schedule_kind;

typedef enum recur_threshold_mode {
    RECUR_THRESHOLD_REL = 0, /* better: loss < best * (1 - threshold) */
    RECUR_THRESHOLD_ABS      /* better: loss < best - threshold */
} recur_threshold_mode;

/* t counts recur_schedule_step calls. recur_schedule_config_default gives
 * torch's defaults where torch has them (StepLR gamma 0.1, LinearLR
 * start_factor 1/3, ReduceLROnPlateau factor 0.1, patience 10, threshold 1e-4
 * rel, cooldown 0, min_lr 0, eps 1e-8); step_size, ExponentialLR's gamma and
 * total_steps have none there and must be set (init fails otherwise). */
typedef struct recur_schedule_config {
    recur_schedule_kind kind;
    int64_t step_size;          /* STEP: >= 1 */
    double gamma;               /* STEP, EXPONENTIAL: > 0 */
    int64_t warmup_steps;       /* WARMUP_COSINE: 0 <= warmup_steps < total_steps */
    int64_t total_steps;        /* WARMUP_COSINE */
    double warmup_start_factor; /* WARMUP_COSINE: in (0, 1] */
    double min_lr;              /* WARMUP_COSINE (eta_min), PLATEAU: >= 0 */
    double factor;              /* PLATEAU: in (0, 1) */
    int64_t patience;           /* PLATEAU: >= 0 */
    double threshold;           /* PLATEAU: >= 0, and < 1 when relative */
    recur_threshold_mode threshold_mode; /* PLATEAU */
    int64_t cooldown;           /* PLATEAU: >= 0 */
    double eps;                 /* PLATEAU: a reduction smaller than eps is skipped */
} recur_schedule_config;

recur_schedule_config recur_schedule_config_default(recur_schedule_kind kind);

typedef struct recur_schedule {
    recur_schedule_config config;
    double base_lr;
    double lr;                /* current learning rate */
    int64_t steps;            /* recur_schedule_step calls so far (t) */
    /* PLATEAU state, named as ReduceLROnPlateau's attributes */
    double best;              /* +inf before the first value */
    int64_t num_bad_epochs;
    int64_t cooldown_counter;
    int64_t plateau_updates;  /* recur_schedule_plateau calls (torch's last_epoch) */
} recur_schedule;

/* RECUR_E_INVALID, with a message naming the field, for a bad configuration
 * or a negative or non-finite base_lr. */
recur_status recur_schedule_init(recur_schedule *s, const recur_schedule_config *config,
                                 float base_lr);
/* The current learning rate (for recur_optimizer_set_lr). */
float recur_schedule_lr(const recur_schedule *s);
/* One optimizer step done: t += 1 and, for the per-step kinds, lr = f(t). */
recur_status recur_schedule_step(recur_schedule *s);
/* ReduceLROnPlateau.step(val_loss) for PLATEAU: a value below best by more
 * than the threshold resets the bad count, otherwise it grows (NaN never
 * improves); during cooldown bad values are not counted; when the count
 * exceeds patience, lr = max(lr * factor, min_lr) (unless that changes lr
 * by eps or less) and the cooldown starts. Does nothing for other kinds. */
recur_status recur_schedule_plateau(recur_schedule *s, float val_loss);

/* Early stopping as keras.callbacks.EarlyStopping on a minimized metric
 * (mode 'min', no baseline): a value is a new best when value + min_delta <
 * best. `wait` counts values since the last best; update returns 1 (stop)
 * when the value is not a new best and wait >= patience, except for the very
 * first value. So patience p stops after p values in a row without
 * improvement (p = 0: at the first one). Keep a checkpoint whenever
 * `improved` is 1: it is the best model. Plain struct, for checkpoints. */
typedef struct recur_early_stopping {
    double min_delta;      /* >= 0 (Keras takes |min_delta|; here < 0 is rejected) */
    int64_t patience;      /* >= 0 */
    double best;           /* best value so far, +inf before the first */
    int64_t wait;
    int64_t epochs;        /* values seen so far */
    int64_t best_epoch;    /* 0-based index of the best value, -1 before one */
    int64_t stopped_epoch; /* index of the last value that returned 1, -1 if none */
    int improved;          /* 1 when the last value was a new best */
} recur_early_stopping;

recur_status recur_early_stopping_init(recur_early_stopping *e, double min_delta,
                                       int64_t patience);
/* Feeds one value (say a validation loss); returns 1 when training should
 * stop. NaN is never an improvement. */
int recur_early_stopping_update(recur_early_stopping *e, float value);

/* ------------------------------------------------------------------ */
/* TensorBoard event files                                             */
/* ------------------------------------------------------------------ */

/* Writes scalars in TensorBoard's event-file format (TFRecord-framed Event
 * protocol buffers with masked CRC-32C), readable by `tensorboard --logdir`. */
typedef struct recur_tb_writer recur_tb_writer;

/* Creates dir (and missing parents) if needed and a new file
 * dir/events.out.tfevents.<unix seconds>.<hostname>.<pid>.recur (a counter is
 * added before ".recur" if that name exists), whose first record is
 * Event{wall_time, file_version "brain.Event:2"}. RECUR_E_IO names the path. */
recur_status recur_tb_open(const char *dir, recur_tb_writer **out);
/* Appends Event{wall_time, step, summary{value{tag, simple_value}}}. Records
 * are buffered: call recur_tb_flush to make them visible to TensorBoard. */
recur_status recur_tb_add_scalar(recur_tb_writer *writer, const char *tag, int64_t step,
                                 float value);
/* Writes buffered records to the file; RECUR_E_IO on a write error. */
recur_status recur_tb_flush(recur_tb_writer *writer);
/* Flushes and closes (errors are not reported: flush first to check). */
void recur_tb_close(recur_tb_writer *writer);
/* The path of the file being written (NULL for a NULL writer). */
const char *recur_tb_path(const recur_tb_writer *writer);

/* ------------------------------------------------------------------ */
/* Tables and time series                                              */
/* ------------------------------------------------------------------ */

/* CSV tables (RFC 4180, parsed by libcsv): fields may be quoted with ",
 * quoted fields may hold the delimiter, line breaks and doubled quotes ("");
 * rows end with LF, CRLF or CR; the last row needs no line break. Decisions:
 *  - blank lines are skipped wherever they are (libcsv's behaviour), so a
 *    trailing empty line is no row; a UTF-8 byte order mark is dropped;
 *  - spaces (and tabs, unless tab is the delimiter) around an unquoted field
 *    are trimmed; inside quotes everything is kept;
 *  - a quote inside an unquoted field, text after a closing quote or an
 *    unterminated quote is RECUR_E_FORMAT naming the line (strict mode);
 *  - every row must have as many fields as the first one: otherwise
 *    RECUR_E_FORMAT "PATH: line N: K fields, expected M" (N = 1-based line
 *    of the file where that row starts);
 *  - delimiter 0 detects one among , ; TAB | : the candidate found outside
 *    quotes the same number of times (>= 1) on each of the first 20
 *    non-blank lines, the most frequent such one; failing that the most
 *    frequent on the first line; comma when none occurs (one column);
 *  - has_header 1: the first row names the columns; 0: no header, columns are
 *    named "0", "1", ... (their 0-based indexes); -1: detect: a header when
 *    some field of the first row is not a number while the same field of the
 *    second row is one (a one-row table has none). Duplicate names are kept
 *    (lookups find the first). */
typedef struct recur_table recur_table;

recur_status recur_table_read(const char *path, char delimiter, int has_header,
                              recur_table **out);
/* Same from bytes in memory; `label` names the data in messages. */
recur_status recur_table_parse(const char *bytes, size_t size, const char *label,
                               char delimiter, int has_header, recur_table **out);
void recur_table_free(recur_table *table);
int recur_table_columns(const recur_table *table);
int64_t recur_table_rows(const recur_table *table); /* data rows, header excluded */
const char *recur_table_label(const recur_table *table); /* path or label */
char recur_table_delimiter(const recur_table *table);   /* the one used */
/* Column name ("" beyond the range). */
const char *recur_table_column_name(const recur_table *table, int column);
/* Index of the first column named `name` (exact, case-sensitive); when no
 * column has that name, "#3" or "3" (decimal digits) is taken as a 0-based
 * index. -1 when neither finds a column. */
int recur_table_find_column(const recur_table *table, const char *name);
/* Text of a cell, NUL-terminated, quotes removed and surrounding blanks
 * trimmed (NULL out of range). Valid while the table lives. */
const char *recur_table_cell(const recur_table *table, int64_t row, int column);
/* 1-based line of the file where a data row starts (for messages). */
int64_t recur_table_row_line(const recur_table *table, int64_t row);

/* Missing value: an empty cell or one of NA, NaN, nan, NAN, N/A, ?, NULL,
 * null, None (after trimming). Numbers: a whole cell read by strtod, finite. */
int recur_cell_is_missing(const char *text);
int recur_cell_number(const char *text, double *out); /* 1 when a number */

/* Times are int64 Unix seconds, UTC. recur_time_parse reads
 *   YYYY | YYYY-MM | YYYY-MM-DD | YYYY-MM-DD[T ]HH:MM[:SS[.fff]] [Z|+HH:MM|-HH:MM|+HHMM]
 * ('/' may replace '-' in dates; fractions of a second are truncated; a time
 * without an offset is taken as UTC; years 1..9999). RECUR_E_FORMAT if not. */
recur_status recur_time_parse(const char *text, int64_t *out);
/* Seconds of a civil UTC time (month 1..12, day 1..31 checked against the
 * month). */
recur_status recur_time_from_civil(int64_t year, int month, int day, int hour, int minute,
                                   int second, int64_t *out);

/* A sampling frequency: either `seconds` > 0 (months 0) or `months` > 0
 * (seconds 0; a year is 12 months). */
typedef struct recur_freq {
    int64_t seconds;
    int32_t months;
} recur_freq;

/* "30s", "15min", "1h", "6h", "1d", "1w", "1mo", "3mo", "1q", "1y" and plain
 * digits (seconds): a positive integer (1 if omitted) and a unit, case-
 * insensitive: s sec, min, h hr, d day, w wk, mo mon month, q (3 months),
 * y yr year (12 months), an optional plural s. A bare "m" is refused as
 * ambiguous. RECUR_E_INVALID otherwise. */
recur_status recur_freq_parse(const char *text, recur_freq *out);
/* Writes the shortest text that parses back ("1h", "1mo", "1y", "90s"). */
void recur_freq_format(recur_freq freq, char *buf, size_t size);
/* t + k steps of freq (months keep the day of month, clamped to its length). */
int64_t recur_freq_add(int64_t t, recur_freq freq, int64_t k);
/* A time as text precise enough for freq: "YYYY" (whole years on Jan 1),
 * "YYYY-MM" (months), "YYYY-MM-DD" (whole days at midnight), else
 * "YYYY-MM-DD HH:MM" or "YYYY-MM-DD HH:MM:SS"; recur_time_parse reads it
 * back. A freq of {0, 0} picks by the time alone. size >= 24 suffices. */
void recur_time_format(int64_t t, recur_freq freq, char *buf, size_t size);

typedef enum recur_fill {
    RECUR_FILL_FORWARD = 0, /* last observed value; leading gaps back-filled with the first */
    RECUR_FILL_LINEAR,      /* linear in time between the observed neighbours; ends held
                               constant (first value before, last value after) */
    RECUR_FILL_MEAN,        /* mean of the observed slots among the first fit_steps
                               steps (the training part; all steps when 0) */
    RECUR_FILL_ZERO,        /* 0 */
    RECUR_FILL_NONE         /* left NaN */
} recur_fill;

typedef enum recur_agg {
    RECUR_AGG_MEAN = 0, RECUR_AGG_SUM, RECUR_AGG_LAST, RECUR_AGG_FIRST, RECUR_AGG_MAX,
    RECUR_AGG_MIN
} recur_agg;

/* Names for the CLI: "ffill"/"forward", "linear", "mean", "zero", "none";
 * "mean", "sum", "last", "first", "max", "min". RECUR_E_INVALID otherwise. */
recur_status recur_fill_parse(const char *text, recur_fill *out);
recur_status recur_agg_parse(const char *text, recur_agg *out);
const char *recur_fill_name(recur_fill fill);
const char *recur_agg_name(recur_agg agg);

typedef struct recur_series_options {
    /* NULL or "": no time column, the row index is the time (times 0, 1, 2,
     * ..., freq 1 s, no resampling). One name: a column of ISO 8601 texts
     * (recur_time_parse). Several comma-separated names: split integer
     * columns year,month[,day[,hour[,minute[,second]]]] in that order (a
     * missing part is 1 for month/day, 0 below). Names as
     * recur_table_find_column. */
    const char *time;
    const char *targets;  /* comma-separated, at least one; numeric (names trimmed) */
    /* Comma-separated feature columns; NULL: every other column (numeric,
     * or categorical with at most max_categories values; others and columns
     * with no value are skipped); "": none. */
    const char *features;
    recur_freq freq;      /* {0, 0}: detected (see recur_series_from_table) */
    recur_agg agg;        /* several rows in one slot (default mean) */
    recur_fill fill;      /* default forward */
    int64_t fit_steps;    /* RECUR_FILL_MEAN takes means over steps [0, fit_steps); 0 = all */
    int64_t max_gap;      /* runs of missing slots longer than this are long gaps (default 24) */
    int max_categories;   /* a categorical feature may have this many values (0 or default: 64) */
    /* Mask channels "col.missing" (1 = the slot had no value before filling):
     * 0 none, 1 for each column with a missing slot (default), 2 for every column. */
    int missing_mask;
    /* RECUR_FILL_MEAN with the means an earlier series used (its fill_means,
     * fill_means_count = its channels) instead of fitting them: new data
     * filled as the training data was. NULL: fitted over [0, fit_steps). A
     * count other than this series' channels is RECUR_E_SHAPE. */
    const double *fill_means;
    int fill_means_count;
    /* What errors call the time, target and feature columns (a NULL entry:
     * "time", "target", "feature"): a caller that exposes them under other
     * names passes those, as recur classify's "--time", "--inputs" and
     * "--label". */
    const char *role_names[3];
} recur_series_options;

/* agg mean, fill forward, fit_steps 0, max_gap 24, max_categories 64,
 * missing_mask 1, freq detected, time/targets/features NULL (targets must
 * be set). A zeroed struct means the same except max_gap 0 and
 * missing_mask 0. */
recur_series_options recur_series_options_default(void);

typedef enum recur_channel_kind {
    RECUR_CHANNEL_NUMERIC = 0, /* a numeric column's value */
    RECUR_CHANNEL_ONEHOT,      /* 1 when a categorical column has this value */
    RECUR_CHANNEL_MASK         /* 1 when the column's value was missing */
} recur_channel_kind;

typedef struct recur_series_column_report {
    const char *name;         /* the table column */
    int categorical;          /* one-hot encoded */
    int categories;           /* distinct values when categorical */
    int64_t observed;         /* table cells holding a value */
    int64_t missing_cells;    /* table cells holding a missing token */
    int64_t missing;          /* grid slots without a value, before filling */
    int64_t filled;           /* of those, given a value by the fill rule */
    int64_t longest_gap;      /* longest run of missing slots */
    int64_t long_gaps;        /* runs of missing slots longer than max_gap */
} recur_series_column_report;

typedef struct recur_series_report {
    int64_t rows;           /* table rows read */
    int64_t out_of_order;   /* rows whose time is before the previous row's */
    int64_t duplicates;     /* rows sharing a slot with an earlier row (aggregated) */
    int64_t empty_slots;    /* slots no row fell in */
    int64_t gaps;           /* runs of empty slots */
    int64_t long_gaps;      /* runs of empty slots longer than max_gap */
    int64_t longest_gap;    /* longest run of empty slots */
    int skipped_columns;    /* columns left out of an automatic feature list */
    int columns;            /* entries in column[]: targets then features */
    recur_series_column_report *column;
} recur_series_report;

/* A regular series, read-only for the caller; free with recur_series_free. */
typedef struct recur_series {
    int64_t steps;
    int channels;
    recur_freq freq;
    int64_t *times;             /* [steps] slot starts, Unix seconds UTC */
    float *values;              /* [steps, channels], original units */
    char **names;               /* [channels] */
    recur_channel_kind *kinds;  /* [channels] */
    int *source;                /* [channels] table column of each channel */
    int targets;                /* number of target channels */
    int *target_index;          /* [targets] channel of each target (in the order asked) */
    double *fill_means;         /* [channels] RECUR_FILL_MEAN: the value of each channel's
                                   missing slots (0 for mask channels and other fills) */
    recur_series_report report;
} recur_series;

/* Builds a regular series from a table. Steps:
 *  1. times: parsed per row (error naming the label, line and column); rows
 *     are sorted by time (stable; out-of-order rows counted).
 *  2. columns: targets must be numeric (a text that is neither a number nor
 *     missing is an error naming line and column; a target with no number
 *     is an error); a feature is categorical when some non-missing cell is
 *     not a number, and becomes one-hot channels "col=value", values sorted
 *     by strcmp (an error past max_categories when the column was named).
 *  3. grid: freq {0,0} is detected: when every time is the 1st of a month
 *     at 00:00:00, the most common positive month difference; otherwise the
 *     most common positive difference in seconds (ties: the smaller); fewer
 *     than 2 distinct times is an error. The grid starts at the first time
 *     floored: to a multiple of freq since the epoch when freq divides a day
 *     (hours start at :00, days at 00:00 UTC), to its day's midnight when
 *     freq is a whole number of days (weeks start on the first day), else to
 *     a multiple of freq since the epoch; for months, to the first of the
 *     month, and to a multiple of freq within the year when freq divides 12
 *     (quarters in Jan/Apr/Jul/Oct, years on Jan 1). Slot k holds the times
 *     [start + k freq, start + (k+1) freq) and is labelled by its start; it
 *     runs to the slot of the last time.
 *  4. aggregation over the observed values of each channel in a slot (one-hot
 *     channels too: mean gives the share of each category, max "any"); a
 *     slot without an observed value is missing (a sum over none too).
 *  5. fill per channel (a categorical column's one-hot channels are missing
 *     together); the mask channels record the missing slots.
 * Channels: targets (in the order asked), then features (in the order asked,
 * or table order), a categorical column's one-hot channels in place, then
 * the mask channels in the same column order. */
recur_status recur_series_from_table(const recur_table *table,
                                     const recur_series_options *options, recur_series **out);
void recur_series_free(recur_series *series);
/* Channel index of a name, -1 when absent. */
int recur_series_find_channel(const recur_series *series, const char *name);

/* Per-channel scaling fit on training rows only: y = (x - offset) / scale.
 * ZSCORE: offset = mean, scale = population standard deviation (ddof 0, as
 * scikit-learn's StandardScaler); MINMAX: offset = min, scale = max - min
 * (values to [0, 1]); NONE: offset 0, scale 1. Statistics in double over the
 * finite values of rows [0, fit_rows); a channel with scale 0 (constant), no
 * finite value, or left out by `mask` gets scale 1 (and offset 0 when it has
 * no value or is masked out), so nothing divides by zero. NaN stays NaN. */
typedef enum recur_scaler_kind {
    RECUR_SCALER_NONE = 0, RECUR_SCALER_ZSCORE, RECUR_SCALER_MINMAX
} recur_scaler_kind;

typedef struct recur_scaler {
    recur_scaler_kind kind;
    int channels;
    float *offset; /* [channels] */
    float *scale;  /* [channels], never 0 */
} recur_scaler;

/* values [rows, channels]; 1 <= fit_rows <= rows; mask [channels] or NULL:
 * channels with mask 0 are not scaled. */
recur_status recur_scaler_fit(const float *values, int64_t rows, int channels, int64_t fit_rows,
                              recur_scaler_kind kind, const unsigned char *mask,
                              recur_scaler **out);
/* From saved arrays (copied); every scale must be finite and nonzero. */
recur_status recur_scaler_from_arrays(recur_scaler_kind kind, int channels, const float *offset,
                                      const float *scale, recur_scaler **out);
void recur_scaler_free(recur_scaler *scaler);
/* In place on [rows, channels] data. */
void recur_scaler_apply(const recur_scaler *scaler, float *values, int64_t rows);
void recur_scaler_inverse(const recur_scaler *scaler, float *values, int64_t rows);
/* In place on [rows, count] data whose column j is channel index[j] (for
 * model outputs of the target channels). RECUR_E_INVALID for a bad index. */
recur_status recur_scaler_apply_channels(const recur_scaler *scaler, float *values, int64_t rows,
                                         int count, const int *index);
recur_status recur_scaler_inverse_channels(const recur_scaler *scaler, float *values,
                                           int64_t rows, int count, const int *index);
/* "none", "zscore" (also "standard"), "minmax"; names back. */
recur_status recur_scaler_kind_parse(const char *text, recur_scaler_kind *out);
const char *recur_scaler_kind_name(recur_scaler_kind kind);
/* Tensors <prefix>offset and <prefix>scale (F32 [channels]) and metadata
 * <prefix>kind; read builds a scaler back from them. */
recur_status recur_scaler_write(const recur_scaler *scaler, recur_st_writer *writer,
                                const char *prefix);
recur_status recur_scaler_read(const recur_st_file *file, const char *prefix,
                               recur_scaler **out);

/* ---- forecast evaluation ---- */

/* Seasonal period of x[i * stride], i < n. Rule: remove the least-squares
 * line, take the autocorrelation r(k) = sum (x_t - m)(x_{t+k} - m) / sum
 * (x_t - m)^2 (the biased estimator) for k = 1..max_period + 1, with
 * max_period = min(n/2, the largest candidate) when candidates are given,
 * else min(n/2, 1000). Each lag k gets the score r(k) - r(floor(k/2)): a true
 * period has a trough at its half, while its multiples (r(2P) - r(P)) and a
 * slowly decaying r (trend, persistence) score low. Lags considered: the
 * candidates in [2, max_period] (near-peaks allowed: the peak of a daily
 * series' year may fall a day off 365), or with candidates NULL every lag
 * 2..max_period that is a local peak (r(k) > r(k-1), r(k) >= r(k+1)); each
 * needs r(k) > 0. The period is the lag with the highest score when that
 * score is >= max(0.3, 4 / sqrt(n)), else 0 (no season). *strength (may be
 * NULL) receives r(period) (0 when none). n >= 4; NaN or infinite values are
 * RECUR_E_INVALID (fill first). */
recur_status recur_detect_season(const float *x, int64_t n, int64_t stride, const int *candidates,
                                 int candidate_count, int *period, double *strength);
/* Periods worth trying for a frequency: the steps per hour, day and week
 * when whole and >= 2, and for a freq of a day or more the steps per year
 * (365 days, or 365.25 days rounded): 1h -> 24, 168; 15min -> 4, 96, 672;
 * 1d -> 7, 365; 1w -> 52; months dividing a year -> 12 / months (1mo -> 12,
 * 3mo -> 4). Writes at most 4 into out; returns the count. */
int recur_season_candidates(recur_freq freq, int *out);

/* Rolling origins: for each origin o in [start, end) by `stride` (>= 1),
 * inputs are rows [o - window, o) and targets rows [o, o + horizon). The range is
 * clamped to [window, steps - horizon + 1), so every window is whole; window,
 * horizon >= 1. out may be NULL (count only); *count = the number of
 * windows, of which min(count, capacity) are written. */
typedef struct recur_window {
    int64_t origin, input_start, input_end, target_start, target_end;
} recur_window;

recur_status recur_rolling_windows(int64_t steps, int64_t window, int64_t horizon, int64_t start,
                                   int64_t end, int64_t stride, recur_window *out,
                                   int64_t capacity, int64_t *count);
/* Copies windows out of values [steps, channels]: inputs [n, window,
 * channels] (may be NULL) and targets [n, horizon, target_count] from the
 * channels target_index (may be NULL). */
recur_status recur_gather_windows(const float *values, int64_t steps, int channels,
                                  const recur_window *windows, int64_t n, float *inputs,
                                  int target_count, const int *target_index, float *targets);

/* Baselines for rolling origins on x[i * stride]: forecast [n, horizon] for
 * origins[n]; period 1 (or 0): naive, every step = x[o - 1]; period P > 1:
 * seasonal naive, step h (0-based) = x[o - P + (h mod P)]. RECUR_E_INVALID
 * when an origin leaves no history (o < max(P, 1)) or exceeds steps. */
recur_status recur_naive_forecast(const float *x, int64_t steps, int64_t stride,
                                  const int64_t *origins, int64_t n, int horizon, int period,
                                  float *forecast);

/* MASE's scale: mean |x_t - x_{t-P}| over t in [P, fit_rows) (P = period,
 * 1 when 0: the one-step naive forecast's in-sample error; the usual choice
 * is the seasonal period when there is one). NaN values are skipped;
 * *scale = NaN when no pair is left. */
recur_status recur_mase_scale(const float *x, int64_t fit_rows, int64_t stride, int period,
                              double *scale);

typedef struct recur_forecast_metric {
    int64_t count; /* pairs counted (those with a NaN on either side are not) */
    double mae, rmse;
    double smape;  /* 200/n sum |f - a| / (|a| + |f|) in percent (0..200); 0/0 counts 0 */
    double mase;   /* mae / scale; NaN when scale is not > 0 and finite */
} recur_forecast_metric;

/* actual, forecast [n_origins, horizon]; per_step [horizon] (may be NULL)
 * for each horizon step over the origins, overall (may be NULL) pooled over
 * all pairs (so its rmse is not the mean of the steps'). A metric over no
 * pair is NaN. */
recur_status recur_forecast_metrics(const float *actual, const float *forecast, int64_t n_origins,
                                    int horizon, double scale, recur_forecast_metric *per_step,
                                    recur_forecast_metric *overall);

/* ------------------------------------------------------------------ */
/* Language model: Embedding -> RNN/LSTM/GRU stack -> Linear head      */
/* ------------------------------------------------------------------ */

typedef struct recur_lm_config {
    recur_cell cell;
    int vocab_size, embed_size, hidden_size, num_layers;
    /* Regularization, training mode only (see recur_rnn_config): dropout
     * between the recurrent layers and on the last layer's output before
     * the head (as char-rnn), recurrent dropout, zoneout; layer_norm
     * inside the cells. */
    float dropout, recurrent_dropout, zoneout;
    int layer_norm;
} recur_lm_config;

typedef struct recur_lm recur_lm;

recur_status recur_lm_create(const recur_lm_config *config, uint64_t seed, recur_lm **out);
void recur_lm_free(recur_lm *lm);
const recur_lm_config *recur_lm_get_config(const recur_lm *lm);
/* Parameters: embedding.weight, rnn.<PyTorch names>, head.weight, head.bias. */
int recur_lm_param_count(const recur_lm *lm);
recur_status recur_lm_param(const recur_lm *lm, int index, recur_param *out);
void recur_lm_zero_grad(recur_lm *lm);
/* Training mode draws dropout/zoneout masks; eval mode (the default) does not. */
void recur_lm_set_training(recur_lm *lm, int training);
/* Number of parameter floats over all tensors. */
size_t recur_lm_param_total(const recur_lm *lm);
/* State of the generators of the masks (two xoshiro256** states), for
 * checkpoints that resume exactly. */
void recur_lm_get_rng_state(const recur_lm *lm, uint64_t state[8]);
recur_status recur_lm_set_rng_state(recur_lm *lm, const uint64_t state[8]);
/* Forgets the hidden state carried between calls (stateful, truncated BPTT). */
void recur_lm_reset_state(recur_lm *lm);
/* Moves the model to a device. With the host-pointer calls below only the
 * recurrent stack runs on the GPU (recur_rnn_set_device: parameters and
 * activations cross at every call) and the embedding and the head stay on
 * the CPU; the *_device calls further down run everything on the GPU.
 * Back to the CPU, the embedding and the head keep their host values (after
 * device-resident training call recur_lm_params_to_host first). */
recur_status recur_lm_set_device(recur_lm *lm, recur_device device);
/* As recur_rnn_set_grad_ready, for recur_lm_backward (and
 * recur_lm_backward_device, where the tensors are recur_lm_device_param's)
 * and recur_lm_param's indexes: the head, then the stack's layers from the
 * top, then the embedding. */
void recur_lm_set_grad_ready(recur_lm *lm, recur_grad_ready_fn fn, void *context);
/* ids [T, B] time-major. Runs from the carried state and carries the final
 * state to the next call (detached: gradients stop at the chunk border).
 * *logits points at [T*B, vocab] inside the model, valid until the next call. */
recur_status recur_lm_forward(recur_lm *lm, int seq_len, int batch, const int64_t *ids,
                              const float **logits);
/* Adds parameter gradients for d loss / d logits [T*B, vocab]. */
recur_status recur_lm_backward(recur_lm *lm, const float *grad_logits);
/* The state carried between calls: h then c (LSTM), [L, B, H] each, as
 * recur_lm_state_numel(lm, B) floats. get returns the batch size B of the
 * carried state (0 when there is none, and then writes nothing); set with
 * batch 0 forgets it. For evaluating in the middle of stateful training, and
 * for checkpoints. */
size_t recur_lm_state_numel(const recur_lm *lm, int batch);
int recur_lm_get_state(const recur_lm *lm, float *state);
recur_status recur_lm_set_state(recur_lm *lm, int batch, const float *state);
/* Adds the parameters (embedding.weight, rnn.*, head.*: the recurrent part is
 * the state_dict of a bare torch.nn module) and the configuration metadata
 * to a writer. */
recur_status recur_lm_write(const recur_lm *lm, recur_st_writer *writer);
/* Saves parameters (PyTorch-style names) and config, plus extra metadata pairs. */
recur_status recur_lm_save(const recur_lm *lm, const char *path, int extra_count,
                           const char *const *extra_keys, const char *const *extra_values);
/* Loads a model saved by recur_lm_save. */
recur_status recur_lm_load(const recur_st_file *file, recur_lm **out);

/* Device-resident training (CUDA). After recur_lm_set_device(lm, CUDA) the
 * embedding and the head have GPU copies too, and these calls take device
 * pointers and use the GPU's parameters and gradients only, without a round
 * trip to the host: ids [T, B] (each in 0..vocab-1; others give zero rows),
 * *logits [T*B, vocab] on the GPU. The carried state stays on the GPU
 * (recur_lm_get_state / set_state copy it). recur_lm_zero_grad zeroes both
 * copies of the gradients. */
recur_status recur_lm_forward_device(recur_lm *lm, int seq_len, int batch, const int64_t *ids,
                                     const float **logits);
recur_status recur_lm_backward_device(recur_lm *lm, const float *grad_logits);
/* recur_lm_param with value and grad pointing at the GPU's copies. */
recur_status recur_lm_device_param(const recur_lm *lm, int index, recur_param *out);
/* Host parameters -> GPU; GPU parameters and gradients -> host (waits). */
recur_status recur_lm_params_to_device(recur_lm *lm);
recur_status recur_lm_params_to_host(recur_lm *lm);

/* ------------------------------------------------------------------ */
/* Attention over a sequence (encoder outputs)                         */
/* ------------------------------------------------------------------ */

/* Scores of a query q against the keys k_t, t < T, turned into weights by a
 * softmax over t, and the context sum_t w_t v_t:
 *   ADDITIVE    (Bahdanau) s_t = v^T tanh(W_q q + b + W_k k_t)
 *   DOT         (Luong)    s_t = q . k_t                      (Dq == Dk)
 *   GENERAL     (Luong)    s_t = q^T W k_t = q . (W k_t), W [Dq, Dk]
 *   SCALED_DOT  softmax((q W_q^T + b_q)(K W_k^T + b_k)^T / sqrt(d)) (V W_v^T + b_v),
 *               one head: torch.nn.MultiheadAttention(num_heads=1) without
 *               its output projection. */
typedef enum recur_attention_kind {
    RECUR_ATTN_ADDITIVE = 0,
    RECUR_ATTN_DOT,
    RECUR_ATTN_GENERAL,
    RECUR_ATTN_SCALED_DOT
} recur_attention_kind;

typedef struct recur_attention_config {
    recur_attention_kind kind;
    int query_size;  /* Dq */
    int key_size;    /* Dk */
    int value_size;  /* Dv */
    int hidden_size; /* ADDITIVE: H, the size of the tanh layer; SCALED_DOT: d, the
                        size of the three projections; DOT and GENERAL: 0 */
    int bias;        /* 0 or 1. ADDITIVE: the b above (query.bias); SCALED_DOT:
                        b_q, b_k, b_v; DOT and GENERAL: 0 (a bias there could only
                        add the same amount to every score) */
} recur_attention_config;

typedef struct recur_attention recur_attention;

/* Parameters, as torch.nn.Linear weights [out, in] and biases [out], in this
 * order, each drawn from U(-1/sqrt(in), 1/sqrt(in)) like torch.nn.Linear:
 *   ADDITIVE    query.weight [H, Dq], query.bias [H] (bias), key.weight [H, Dk],
 *               v.weight [1, H]
 *   DOT         none
 *   GENERAL     key.weight [Dq, Dk]
 *   SCALED_DOT  query.weight [d, Dq], query.bias [d], key.weight [d, Dk],
 *               key.bias [d], value.weight [d, Dv], value.bias [d] (biases
 *               with bias) */
recur_status recur_attention_create(const recur_attention_config *config, uint64_t seed,
                                    recur_attention **out);
void recur_attention_free(recur_attention *attention);
const recur_attention_config *recur_attention_get_config(const recur_attention *attention);
/* Dout, the context's feature size: d for SCALED_DOT, else Dv. */
int recur_attention_output_size(const recur_attention *attention);
int recur_attention_param_count(const recur_attention *attention);
recur_status recur_attention_param(const recur_attention *attention, int index,
                                   recur_param *out);
/* RECUR_E_SHAPE when there is no parameter of that name. */
recur_status recur_attention_find_param(const recur_attention *attention, const char *name,
                                        recur_param *out);
void recur_attention_zero_grad(recur_attention *attention);

/* Queries are batch-major, Q per sequence: [B, Q, Dq], which for a single
 * query (a decoder's state, Q = 1) is the same array as [B, Dq]. Keys and
 * values are time-major like the recurrent layers' outputs; values may be the
 * same array as keys (then add grad_keys and grad_values). Positions t >=
 * lengths[b] are padding: their weight is exactly 0 and they are never read
 * (any values, NaN included, change nothing); lengths[b] must be in 1..T. */
typedef struct recur_attention_forward_args {
    int batch;              /* B >= 1 */
    int num_queries;        /* Q >= 1 */
    int seq_len;            /* T >= 1 */
    const float *queries;   /* [B, Q, Dq] */
    const float *keys;      /* [T, B, Dk] */
    const float *values;    /* [T, B, Dv] */
    const int64_t *lengths; /* [B] in 1..T, or NULL: every sequence has T steps */
    float *context;         /* out [B, Q, Dout] */
    float *weights;         /* out [B, Q, T] (attention maps), or NULL; 0 past each length */
} recur_attention_forward_args;

/* Keeps copies of the inputs and what backward needs inside the handle
 * (ADDITIVE also its B*Q*T*H tanh energies). */
recur_status recur_attention_forward(recur_attention *attention,
                                     const recur_attention_forward_args *args);

typedef struct recur_attention_backward_args {
    const float *grad_context; /* [B, Q, Dout], or NULL (zeros) */
    const float *grad_weights; /* [B, Q, T], or NULL (zeros); ignored past each length */
    float *grad_queries;       /* out [B, Q, Dq], or NULL */
    float *grad_keys;          /* out [T, B, Dk], or NULL; 0 past each length */
    float *grad_values;        /* out [T, B, Dv], or NULL; 0 past each length */
} recur_attention_backward_args;

/* Gradients for the last forward; parameter gradients are added to the
 * handle's (recur_attention_zero_grad first for fresh ones). RECUR_E_STATE
 * when no forward preceded it. */
recur_status recur_attention_backward(recur_attention *attention,
                                      const recur_attention_backward_args *args);

/* ------------------------------------------------------------------ */
/* Sequence-to-vector network: stack -> pooling -> Linear head         */
/* ------------------------------------------------------------------ */

/* How the stack's outputs over time become one vector per sequence. */
typedef enum recur_pool {
    RECUR_POOL_LAST = 0, /* the top layer's final state h_n (both directions' when
                            bidirectional: forward's at the last valid step, reverse's
                            at step 0) */
    RECUR_POOL_MEAN,     /* mean of the outputs over each sequence's valid steps */
    RECUR_POOL_MAX,      /* element-wise max over the valid steps; its gradient goes to
                            the first step holding the max, as torch.max(dim)'s index;
                            a NaN propagates, as in torch: the first NaN step is the
                            max and gets the gradient */
    RECUR_POOL_ATTENTION /* sum_t w_t h_t, w = softmax_t(v . tanh(W_k h_t + W_q 1 + b)):
                            additive attention with a constant query (a learned context
                            vector, Yang et al. 2016); parameters "pool.*" */
} recur_pool;

typedef struct recur_seqnet_config {
    recur_rnn_config rnn; /* time-major (batch_first 0) */
    recur_pool pool;
    int output_size;      /* head: pooled [B, D*Hout] -> [B, output_size] */
    int vocab_size;       /* > 0: an Embedding [vocab_size, rnn.input_size] in front; the
                             input is then token ids (recur_seqnet_forward_ids) */
    int padding_idx;      /* the embedding's padding row, -1 for none */
    float input_dropout;  /* training mode: inverted dropout on every input value (the
                             embedding vectors for ids), 0 <= p < 1 */
} recur_seqnet_config;

recur_seqnet_config recur_seqnet_config_default(recur_cell cell, int input_size, int hidden_size,
                                                int output_size);

typedef struct recur_seqnet recur_seqnet;

recur_status recur_seqnet_create(const recur_seqnet_config *config, uint64_t seed,
                                 recur_seqnet **out);
void recur_seqnet_free(recur_seqnet *net);
const recur_seqnet_config *recur_seqnet_get_config(const recur_seqnet *net);
/* Parameters ["embedding.weight"], "rnn.<PyTorch names>", ["pool.<names>" of the
 * attention pooling], "head.weight", "head.bias". */
int recur_seqnet_param_count(const recur_seqnet *net);
recur_status recur_seqnet_param(const recur_seqnet *net, int index, recur_param *out);
void recur_seqnet_zero_grad(recur_seqnet *net);
void recur_seqnet_set_training(recur_seqnet *net, int training);
/* The stack inside. */
recur_rnn *recur_seqnet_rnn(recur_seqnet *net);
/* Moves the recurrent stack to a device (recur_rnn_set_device). With CUDA the
 * stack runs on the GPU through the host-pointer calls: each forward copies
 * its parameters and inputs there and its outputs back, each backward adds
 * the GPU's gradients to the host's. The embedding, dropout, pooling and head
 * stay on the CPU, and the host parameters remain the ones that optimizers
 * update and files hold. RECUR_E_INVALID without a GPU. */
recur_status recur_seqnet_set_device(recur_seqnet *net, recur_device device);
/* RECUR_POOL_ATTENTION: the weights [B, T] of the last forward (0 past each
 * length), for attention maps; NULL for other poolings. */
const float *recur_seqnet_attention_weights(const recur_seqnet *net);
/* The generators of the masks (the stack's, then the input dropout's). */
void recur_seqnet_get_rng_state(const recur_seqnet *net, uint64_t state[8]);
recur_status recur_seqnet_set_rng_state(recur_seqnet *net, const uint64_t state[8]);
/* input [T, B, I], lengths [B] in 1..T or NULL. *result points at [B, O]
 * inside the network, valid until the next forward. A forward that fails
 * (either call) leaves the network without a forward: the backward calls
 * then return RECUR_E_STATE and recur_seqnet_outputs NULL. */
recur_status recur_seqnet_forward(recur_seqnet *net, int seq_len, int batch, const float *input,
                                  const int64_t *lengths, const float **result);
/* Token ids [T, B] through the embedding (vocab_size > 0), then as above. */
recur_status recur_seqnet_forward_ids(recur_seqnet *net, int seq_len, int batch,
                                      const int64_t *ids, const int64_t *lengths,
                                      const float **result);
/* Adds parameter gradients for d loss / d result [B, O]; grad_input [T, B, I]
 * unless NULL (ignored after forward_ids: the embedding gets its gradient). */
recur_status recur_seqnet_backward(recur_seqnet *net, const float *grad_result, float *grad_input);
/* As recur_rnn_set_grad_ready, for the backward calls below and
 * recur_seqnet_param's indexes: the head, the attention pooling, the stack's
 * layers from the top, then the embedding. */
void recur_seqnet_set_grad_ready(recur_seqnet *net, recur_grad_ready_fn fn, void *context);
/* The stack's outputs [T, B, D*Hout] of the last forward (zero past each
 * length), for extra heads (auxiliary tasks); NULL before a forward. */
const float *recur_seqnet_outputs(const recur_seqnet *net);
/* As recur_seqnet_backward, plus grad_outputs [T, B, D*Hout] (may be NULL):
 * the gradient of an extra loss on recur_seqnet_outputs. */
recur_status recur_seqnet_backward_outputs(recur_seqnet *net, const float *grad_result,
                                           const float *grad_outputs, float *grad_input);
/* Parameters and metadata (recur.model = seqnet, pool, output_size,
 * input_dropout (0 when absent), the stack's keys and, with an embedding,
 * padding_idx: an integer in -1..vocab_size-1, RECUR_E_FORMAT otherwise)
 * into a writer, and back from a file holding them. */
recur_status recur_seqnet_write(const recur_seqnet *net, recur_st_writer *writer);
recur_status recur_seqnet_read(const recur_st_file *file, recur_seqnet **out);

/* ------------------------------------------------------------------ */
/* Sequence-to-sequence forecaster: encoder -> decoder -> Linear head  */
/* ------------------------------------------------------------------ */

/* Multi-step forecasting with a decoder instead of a direct head:
 *   encoder  a unidirectional stack (rnn: cell, C -> H, num_layers) reads the
 *            window [W, B, C];
 *   bridge   the decoder's initial h (and c) = the encoder's final states;
 *   decoder  a stack of the same configuration with input size K runs
 *            horizon steps; its input at step 0 is `start` [B, K] (the last
 *            observed target values), at step h > 0 the target values of step
 *            h - 1: the true ones with teacher forcing (training: all steps in
 *            one pass), else its own predictions fed back step by step;
 *   head     Linear(Hout -> K) on every decoder output gives the K values of
 *            that step. */
typedef struct recur_seqdec_config {
    recur_rnn_config rnn; /* the encoder's: time-major, unidirectional; the decoder's
                             is the same with input_size = targets */
    int targets;          /* K >= 1 values per step */
    int horizon;          /* steps forecast, >= 1 */
} recur_seqdec_config;

recur_seqdec_config recur_seqdec_config_default(recur_cell cell, int input_size, int hidden_size,
                                                int targets, int horizon);

typedef struct recur_seqdec recur_seqdec;

recur_status recur_seqdec_create(const recur_seqdec_config *config, uint64_t seed,
                                 recur_seqdec **out);
void recur_seqdec_free(recur_seqdec *net);
const recur_seqdec_config *recur_seqdec_get_config(const recur_seqdec *net);
/* Parameters "encoder.<PyTorch names>", "decoder.<PyTorch names>", "head.weight",
 * "head.bias". */
int recur_seqdec_param_count(const recur_seqdec *net);
recur_status recur_seqdec_param(const recur_seqdec *net, int index, recur_param *out);
void recur_seqdec_zero_grad(recur_seqdec *net);
void recur_seqdec_set_training(recur_seqdec *net, int training);
/* input [W, B, C]; start [B, K] the decoder's input at step 0; teacher
 * [B, horizon * K] ordered (step, target), or NULL to feed the predictions
 * back. *result points at [B, horizon * K] ordered (step, target) inside the
 * network, valid until the next forward. */
recur_status recur_seqdec_forward(recur_seqdec *net, int seq_len, int batch, const float *input,
                                  const float *start, const float *teacher, const float **result);
/* Adds parameter gradients for d loss / d result of the last forward, which
 * must have been teacher-forced (RECUR_E_STATE otherwise); grad_input
 * [W, B, C] unless NULL (start and teacher are data: no gradient). */
recur_status recur_seqdec_backward(recur_seqdec *net, const float *grad_result, float *grad_input);
/* Parameters and metadata (recur.model = seqdec, seqdec.targets,
 * seqdec.horizon, and the encoder's keys) into a writer, and back. */
recur_status recur_seqdec_write(const recur_seqdec *net, recur_st_writer *writer);
recur_status recur_seqdec_read(const recur_st_file *file, recur_seqdec **out);

/* ------------------------------------------------------------------ */
/* Tokens and vocabularies (text classification)                       */
/* ------------------------------------------------------------------ */

typedef enum recur_token_kind {
    RECUR_TOKENS_CHARS = 0, /* every byte is a token (any bytes: UTF-8 or not) */
    RECUR_TOKENS_WORDS      /* runs of non-space bytes */
} recur_token_kind;

typedef struct recur_token_options {
    recur_token_kind kind;
    int lowercase;         /* ASCII letters to lower case */
    int split_punctuation; /* words: each ASCII punctuation mark is a token of its own,
                              except an apostrophe inside a word ("don't") */
} recur_token_options;

/* Words, lower case, punctuation split. */
recur_token_options recur_token_options_default(void);

/* Receives each token (NUL-terminated, valid during the call); a failing
 * status stops the tokenizer and is returned. */
typedef recur_status (*recur_token_callback)(const char *token, size_t length, void *context);

/* Splits text into tokens. Bytes >= 0x80 count as letters, so UTF-8 and
 * Latin-1 words stay whole; a word longer than 255 bytes is cut into pieces. */
recur_status recur_tokenize(const char *text, size_t length, const recur_token_options *options,
                            recur_token_callback callback, void *context);

/* A vocabulary: id 0 is <pad>, id 1 is <unk>, then the tokens by falling
 * count (ties bytewise). Built by add (counting) then finish. */
#define RECUR_VOCAB_PAD 0
#define RECUR_VOCAB_UNK 1
typedef struct recur_vocab recur_vocab;

recur_status recur_vocab_create(recur_vocab **out);
void recur_vocab_free(recur_vocab *vocab);
recur_status recur_vocab_add(recur_vocab *vocab, const char *token, size_t length);
/* Keeps at most max_size ids in all (0 = no limit; <pad> and <unk> count) of
 * tokens seen at least min_count times. */
recur_status recur_vocab_finish(recur_vocab *vocab, int64_t max_size, int64_t min_count);
int64_t recur_vocab_size(const recur_vocab *vocab); /* 0 before finish */
/* The id of a token; RECUR_VOCAB_UNK when unknown. */
int64_t recur_vocab_id(const recur_vocab *vocab, const char *token, size_t length);
/* The token of an id ("<pad>", "<unk>" for 0 and 1), NULL out of range. */
const char *recur_vocab_token(const recur_vocab *vocab, int64_t id, size_t *length);
/* The tokens (ids 2..) as one U8 tensor of [u32 length][bytes] records, and back. */
recur_status recur_vocab_write(const recur_vocab *vocab, recur_st_writer *writer,
                               const char *name);
recur_status recur_vocab_read(const recur_st_file *file, const char *name, recur_vocab **out);

/* ------------------------------------------------------------------ */
/* Sequence to sequence: encoder-decoder with optional attention       */
/* ------------------------------------------------------------------ */

/* Token ids of both vocabularies: 0 is padding (never predicted, ignored by
 * the loss), 1 begins every decoder input (bos), 2 ends every target (eos);
 * real tokens are 3 and up. */
#define RECUR_S2S_PAD 0
#define RECUR_S2S_BOS 1
#define RECUR_S2S_EOS 2

/* The model:
 *   encoder  Embedding [source_vocab, E] (row 0 zero) -> RNN stack (cell, E -> H,
 *            num_layers, optionally bidirectional) over the source ids;
 *   bridge   the decoder's initial state (h0 and, for LSTM, c0) of layer l is the
 *            encoder's final state of layer l, summed over the two directions when
 *            bidirectional (no parameters);
 *   decoder  Embedding [target_vocab, E] (row 0 zero) -> unidirectional RNN stack
 *            (same cell, E -> H, num_layers); input at step t: bos, then the
 *            previous target token (teacher forcing) or the previous prediction;
 *   attention (optional, Luong style) the decoder's output s_t queries the
 *            encoder's outputs (keys = values, [S, B, D*H], source lengths as
 *            mask): c_t = recur_attention(s_t); the context is not fed back
 *            into the decoder, so teacher-forced training runs all steps at once;
 *   output   logits_t = Linear([s_t ; c_t]) over the target vocabulary (just
 *            Linear(s_t) without attention).
 * DOT attention needs D*H == H, i.e. a unidirectional encoder. */
typedef struct recur_seq2seq_config {
    recur_cell cell;
    int source_vocab, target_vocab; /* >= 3 each (the special ids included) */
    int embed_size, hidden_size, num_layers;
    int bidirectional;              /* encoder only */
    int attention;                  /* 0 none, 1 attention_kind */
    recur_attention_kind attention_kind;
    int attention_size;             /* ADDITIVE / SCALED_DOT hidden size; 0 = hidden_size */
} recur_seq2seq_config;

/* One layer, unidirectional, additive attention, attention_size 0. */
recur_seq2seq_config recur_seq2seq_config_default(recur_cell cell, int source_vocab,
                                                  int target_vocab, int embed_size,
                                                  int hidden_size);

typedef struct recur_seq2seq recur_seq2seq;

recur_status recur_seq2seq_create(const recur_seq2seq_config *config, uint64_t seed,
                                  recur_seq2seq **out);
void recur_seq2seq_free(recur_seq2seq *model);
const recur_seq2seq_config *recur_seq2seq_get_config(const recur_seq2seq *model);
/* Parameters: encoder.embedding.weight, encoder.rnn.<PyTorch names>,
 * decoder.embedding.weight, decoder.rnn.<PyTorch names>, [attention.<names>],
 * output.weight, output.bias. */
int recur_seq2seq_param_count(const recur_seq2seq *model);
recur_status recur_seq2seq_param(const recur_seq2seq *model, int index, recur_param *out);
void recur_seq2seq_zero_grad(recur_seq2seq *model);

/* A batch, time-major. Targets hold the output tokens followed by eos; values
 * past a length are never read (padding may hold anything). */
typedef struct recur_seq2seq_batch {
    int batch;                     /* B >= 1 */
    int source_len;                /* S >= 1 */
    const int64_t *source;         /* [S, B] ids < source_vocab */
    const int64_t *source_lengths; /* [B] in 1..S, or NULL (all S) */
    int target_len;                /* T >= 1 */
    const int64_t *target;         /* [T, B] ids < target_vocab, eos last */
    const int64_t *target_lengths; /* [B] in 1..T (eos counted), or NULL (all T) */
} recur_seq2seq_batch;

/* Teacher-forced forward: *loss = cross-entropy over the B * lengths target
 * tokens (mean over tokens, ignore_index = pad). *logits (may be NULL) points
 * at [T * B, target_vocab] rows t * B + b inside the model, valid until the
 * next call. Keeps what backward needs. */
recur_status recur_seq2seq_forward(recur_seq2seq *model, const recur_seq2seq_batch *batch,
                                   float *loss, const float **logits);
/* Adds d loss / d parameters of the last forward to the gradients, through
 * the output layer, attention, decoder, bridge and encoder. */
recur_status recur_seq2seq_backward(recur_seq2seq *model);

typedef enum recur_decode_method {
    RECUR_DECODE_GREEDY = 0, /* the most likely token at each step */
    RECUR_DECODE_SAMPLE,     /* drawn from softmax(logits / temperature), top_k best */
    RECUR_DECODE_BEAM        /* beam search */
} recur_decode_method;

typedef struct recur_decode_options {
    recur_decode_method method;
    int max_length;     /* steps at most (eos included), >= 1 */
    float temperature;  /* SAMPLE: > 0 */
    int top_k;          /* SAMPLE: 0 = every token, else the k most likely */
    uint64_t seed;      /* SAMPLE */
    int beam_width;     /* BEAM: >= 1 */
    float length_alpha; /* BEAM: score = log p / length^alpha, length counting eos;
                           0 = raw log-probability, 1 = mean per token */
} recur_decode_options;

/* GREEDY, max_length 100, temperature 1, top_k 0, seed 0, beam_width 4, alpha 1. */
recur_decode_options recur_decode_options_default(void);

typedef struct recur_decode_result {
    int length;      /* tokens written, eos not included */
    int finished;    /* 1 when eos was produced (else max_length stopped it) */
    double log_prob; /* sum of log p of the produced tokens (eos included), temperature 1 */
    double score;    /* log_prob / steps^length_alpha (steps = length + finished) */
} recur_decode_result;

/* Decodes one source sequence (ids [source_len], no padding). output holds
 * max_length ids; weights (may be NULL, zeros without attention) receives
 * [max_length, source_len] attention weights, one row per step (eos
 * included). Pad and bos are never produced.
 * Beam search keeps beam_width hypotheses, ranks candidates by log p (all
 * have the same length at a step), moves those ending in eos among the best
 * beam_width to the finished list, and stops when beam_width are finished or
 * at max_length; it returns the finished hypothesis of best score (an
 * unfinished one only when none finished). The greedy hypothesis is always a
 * candidate too, so when greedy decoding finishes, beam search never returns a
 * lower score than it (plain beam search can prune the greedy path and end
 * lower); a greedy hypothesis cut by max_length loses to any finished one,
 * whatever its score. Width 1 is greedy decoding. */
recur_status recur_seq2seq_decode(recur_seq2seq *model, int source_len, const int64_t *source,
                                  const recur_decode_options *options, int64_t *output,
                                  float *weights, recur_decode_result *result);
/* The model's own log-probability of an output (ids [length], eos not
 * included; eos is scored after them). */
recur_status recur_seq2seq_log_prob(recur_seq2seq *model, int source_len, const int64_t *source,
                                    int length, const int64_t *output, double *log_prob);

/* Parameters and metadata (recur.model = seq2seq, seq2seq.*) into a writer,
 * and back from a file holding them. */
recur_status recur_seq2seq_write(const recur_seq2seq *model, recur_st_writer *writer);
recur_status recur_seq2seq_read(const recur_st_file *file, recur_seq2seq **out);

/* ------------------------------------------------------------------ */
/* Text as bytes                                                       */
/* ------------------------------------------------------------------ */

/* The distinct bytes of a text, in increasing order: the vocabulary of a
 * byte-level language model. */
typedef struct recur_byte_vocab {
    int size;
    unsigned char symbols[256]; /* id -> byte */
    int16_t ids[256];           /* byte -> id, -1 if absent */
} recur_byte_vocab;

recur_status recur_byte_vocab_build(const unsigned char *text, size_t length,
                                    recur_byte_vocab *vocab);
/* Hex string of the symbols (2*size chars + NUL) and back, for metadata. */
void recur_byte_vocab_to_hex(const recur_byte_vocab *vocab, char *hex);
recur_status recur_byte_vocab_from_hex(const char *hex, recur_byte_vocab *vocab);
/* ids[i] = id of text[i]; RECUR_E_SHAPE for a byte outside the vocabulary. */
recur_status recur_byte_vocab_encode(const recur_byte_vocab *vocab, const unsigned char *text,
                                     size_t length, int64_t *ids);

/* ------------------------------------------------------------------ */
/* ONNX export                                                         */
/* ------------------------------------------------------------------ */

/* Writes a model as an ONNX file (IR 8, opset 17, standard operators only:
 * one LSTM/GRU/RNN node per layer, gates reordered to ONNX's i,o,f,c and
 * z,r,h, GRU with linear_before_reset=1) that ONNX Runtime runs with the
 * stack's math. Dynamic sizes are named T and B. Dropout and recurrent
 * dropout are the identity at inference and are left out; LSTM projection
 * (proj_size), layer_norm and zoneout have no ONNX equivalent and are
 * refused (RECUR_E_INVALID). Written atomically, as recur_st_writer_save. */
typedef struct recur_onnx_options {
    int state_inputs;  /* 1: inputs h0 [L*D, B, Hout] (and c0 [L*D, B, H] for LSTM),
                          the initial state; 0: the state starts at zero */
    int lengths_input; /* 1: input lengths [B] (int64, each in 1..T): outputs past a
                          length are 0 and h_n/c_n are each sequence's last valid
                          state, as recur_rnn_forward's lengths */
} recur_onnx_options;

/* A bare stack: input [T, B, I] ([B, T, I] when batch_first) float ->
 * output [T, B, D*H] ([B, T, D*H]), h_n [L*D, B, H], c_n (LSTM); the names
 * of recur run's tensors. options may be NULL (no state, no lengths). */
recur_status recur_rnn_export_onnx(const recur_rnn *rnn, const recur_onnx_options *options,
                                   const char *path);
/* A language model: ids [T, B] int64 -> logits [T, B, V], h_n [L, B, H],
 * c_n (LSTM); with state_inputs, h0/c0 carry a state in. */
recur_status recur_lm_export_onnx(const recur_lm *lm, const recur_onnx_options *options,
                                  const char *path);
/* A sequence network: ids [T, B] int64 (with an embedding) or input [T, B, I]
 * float, and lengths [B] int64 (always an input; state_inputs must be 0) ->
 * logits [B, output_size]; pooling last, mean, max and attention (masked
 * softmax over the valid steps). */
recur_status recur_seqnet_export_onnx(const recur_seqnet *net, const recur_onnx_options *options,
                                      const char *path);

/* ------------------------------------------------------------------ */
/* Importing Keras / TensorFlow LSTM and GRU weights                   */
/* ------------------------------------------------------------------ */

/* Keras stores a layer as kernel [I, G*H] (= W_ih^T), recurrent_kernel
 * [H, G*H] (= W_hh^T) and bias. LSTM gates are i, f, c, o (PyTorch's i, f,
 * g, o) and the bias [4H] goes to bias_ih (bias_hh = 0). GRU gates are z, r,
 * h (reordered to PyTorch's r, z, n); with reset_after=True (Keras 2's
 * default) the bias is [2, 3H] = input and recurrent biases, exactly
 * PyTorch's GRU. reset_after=False (bias [3H]) computes the candidate from
 * (r * h) U_h, which PyTorch's r * (U_h h + b_hn) cannot express: it is
 * converted only when U_h is all zero, else RECUR_E_INVALID.
 * Default activations only (tanh, sigmoid; not Keras 1's hard_sigmoid).
 *
 * Tensor names: an optional ":0" suffix is dropped; the name splits at '/'
 * and '.'; its last part must be kernel, recurrent_kernel or bias (any other
 * tensor is RECUR_E_FORMAT). A part beginning with "backward" marks the
 * reverse direction of a bidirectional layer (Keras' Bidirectional wrapper:
 * backward_lstm), one beginning with "forward" is dropped, and so are cell
 * scopes ("lstm_cell", "gru_cell_3"). The remaining parts name the layer;
 * layers are stacked in the order of their names with digit runs compared
 * as numbers: lstm < lstm_1 < lstm_2 < lstm_10, layers.0 < layers.1.
 * "kernel" alone is a one-layer stack. The stack is bidirectional when any
 * tensor is backward (every layer then needs both directions); every layer
 * has a bias or none has; sizes follow from the shapes (layer l > 0 reads
 * D*H inputs). The result is time-major (batch_first 0). */
typedef struct recur_keras_options {
    recur_cell cell; /* RECUR_LSTM or RECUR_GRU */
    int reset_after; /* GRU: 1 (bias [2, 3H]) or 0 (bias [3H]) */
} recur_keras_options;

/* reset_after 1. */
recur_keras_options recur_keras_options_default(recur_cell cell);

/* Reads a NumPy .npz archive (np.savez or np.savez_compressed: '<f4' or
 * '<f8' arrays, C or Fortran order) or a safetensors file (F32, F64, F16, BF16),
 * told apart by their first bytes, and builds the stack (free it with
 * recur_rnn_free; save it with recur_rnn_save). */
recur_status recur_keras_import(const char *path, const recur_keras_options *options,
                                recur_rnn **out);
/* The same from bytes in memory; `label` names them in messages. */
recur_status recur_keras_import_memory(const void *bytes, size_t size, const char *label,
                                       const recur_keras_options *options, recur_rnn **out);

#ifdef __cplusplus
}
#endif

#endif /* RECUR_H */
