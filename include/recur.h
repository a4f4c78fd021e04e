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

#define RECUR_VERSION_STRING "0.1.0"
const char *recur_version(void);

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
    RECUR_E_STATE = 6    /* call out of order (backward before forward) */
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
 * PyTorch does; when every target is ignored the loss is 0 (PyTorch: NaN).
 * grad_logits [n, C] (NULL to skip) receives d loss / d logits. */
recur_status recur_cross_entropy(int n, int classes, const float *logits, const int64_t *targets,
                                 const recur_cross_entropy_options *options, float *loss,
                                 float *grad_logits);

/* Element-wise losses over n values (any shape, flattened), PyTorch's formulas:
 *   RECUR_LOSS_BCE_LOGITS  binary_cross_entropy_with_logits: targets in [0, 1]
 *                          (soft labels allowed); pos_weight [P] multiplies the
 *                          positive term, broadcast over the last dimension:
 *                          element i uses pos_weight[i % P] (P must divide n)
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
} recur_loss_options;

recur_loss_options recur_loss_defaults(void);

/* Writes the reduced loss to *loss and, unless grad_input is NULL,
 * d loss / d input [n]. options NULL = defaults. RECUR_E_INVALID for NULL
 * input/target/loss, an unknown kind or reduction, a bad delta, pos_weight
 * with another kind or a size that does not divide n, or a bad mask value. */
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
 * alpha 0.99, eps 1e-8; Adagrad lr 1e-2, eps 1e-10). */
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
 * every gradient by max_norm / (norm + 1e-6) when that is < 1. *total_norm
 * (may be NULL) receives the norm before clipping. */
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

/* ------------------------------------------------------------------ */
/* Sequence-to-vector network: stack -> pooling -> Linear head         */
/* ------------------------------------------------------------------ */

/* How the stack's outputs over time become one vector per sequence. */
typedef enum recur_pool {
    RECUR_POOL_LAST = 0, /* the top layer's final state h_n (both directions' when
                            bidirectional: forward's at the last valid step, reverse's
                            at step 0) */
    RECUR_POOL_MEAN,     /* mean of the outputs over each sequence's valid steps */
    RECUR_POOL_MAX       /* element-wise max over the valid steps */
} recur_pool;

typedef struct recur_seqnet_config {
    recur_rnn_config rnn; /* time-major (batch_first 0) */
    recur_pool pool;
    int output_size;      /* head: pooled [B, D*Hout] -> [B, output_size] */
} recur_seqnet_config;

recur_seqnet_config recur_seqnet_config_default(recur_cell cell, int input_size, int hidden_size,
                                                int output_size);

typedef struct recur_seqnet recur_seqnet;

recur_status recur_seqnet_create(const recur_seqnet_config *config, uint64_t seed,
                                 recur_seqnet **out);
void recur_seqnet_free(recur_seqnet *net);
const recur_seqnet_config *recur_seqnet_get_config(const recur_seqnet *net);
/* Parameters "rnn.<PyTorch names>", "head.weight", "head.bias". */
int recur_seqnet_param_count(const recur_seqnet *net);
recur_status recur_seqnet_param(const recur_seqnet *net, int index, recur_param *out);
void recur_seqnet_zero_grad(recur_seqnet *net);
void recur_seqnet_set_training(recur_seqnet *net, int training);
/* The stack inside (for its generator state, say). */
recur_rnn *recur_seqnet_rnn(recur_seqnet *net);
/* input [T, B, I], lengths [B] in 1..T or NULL. *result points at [B, O]
 * inside the network, valid until the next forward. */
recur_status recur_seqnet_forward(recur_seqnet *net, int seq_len, int batch, const float *input,
                                  const int64_t *lengths, const float **result);
/* Adds parameter gradients for d loss / d result [B, O]; grad_input [T, B, I]
 * unless NULL. */
recur_status recur_seqnet_backward(recur_seqnet *net, const float *grad_result, float *grad_input);
/* Parameters and metadata (recur.model = seqnet, pool, output_size, and the
 * stack's keys) into a writer, and back from a file holding them. */
recur_status recur_seqnet_write(const recur_seqnet *net, recur_st_writer *writer);
recur_status recur_seqnet_read(const recur_st_file *file, recur_seqnet **out);

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

#ifdef __cplusplus
}
#endif

#endif /* RECUR_H */
