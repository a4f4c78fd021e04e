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
} recur_rnn_config;

/* PyTorch's defaults: one layer, bias, time-major, one direction, no projection. */
recur_rnn_config recur_rnn_config_default(recur_cell cell, int input_size, int hidden_size);

typedef struct recur_rnn recur_rnn;

/* Parameters are initialized as PyTorch does, uniform in
 * [-1/sqrt(hidden_size), 1/sqrt(hidden_size)], from a generator seeded by `seed`. */
recur_status recur_rnn_create(const recur_rnn_config *config, uint64_t seed, recur_rnn **out);
void recur_rnn_free(recur_rnn *rnn);
const recur_rnn_config *recur_rnn_get_config(const recur_rnn *rnn);

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
 * Every parameter must be present with its exact shape and no other tensor
 * may be: RECUR_E_SHAPE or RECUR_E_FORMAT otherwise, naming the file. */
recur_status recur_rnn_from_safetensors(const recur_st_file *file, recur_rnn **out);
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

/* Gradient clipping as torch.nn.utils.clip_grad_norm_ (max_norm, L2): scales
 * every gradient by max_norm / (norm + 1e-6) when that is < 1. *total_norm
 * (may be NULL) receives the norm before clipping. */
recur_status recur_clip_grad_norm(int count, float *const *grads, const size_t *sizes,
                                  float max_norm, float *total_norm);

/* ------------------------------------------------------------------ */
/* Language model: Embedding -> RNN/LSTM/GRU stack -> Linear head      */
/* ------------------------------------------------------------------ */

typedef struct recur_lm_config {
    recur_cell cell;
    int vocab_size, embed_size, hidden_size, num_layers;
} recur_lm_config;

typedef struct recur_lm recur_lm;

recur_status recur_lm_create(const recur_lm_config *config, uint64_t seed, recur_lm **out);
void recur_lm_free(recur_lm *lm);
const recur_lm_config *recur_lm_get_config(const recur_lm *lm);
/* Parameters: embedding.weight, rnn.<PyTorch names>, head.weight, head.bias. */
int recur_lm_param_count(const recur_lm *lm);
recur_status recur_lm_param(const recur_lm *lm, int index, recur_param *out);
void recur_lm_zero_grad(recur_lm *lm);
/* Forgets the hidden state carried between calls (stateful, truncated BPTT). */
void recur_lm_reset_state(recur_lm *lm);
/* ids [T, B] time-major. Runs from the carried state and carries the final
 * state to the next call (detached: gradients stop at the chunk border).
 * *logits points at [T*B, vocab] inside the model, valid until the next call. */
recur_status recur_lm_forward(recur_lm *lm, int seq_len, int batch, const int64_t *ids,
                              const float **logits);
/* Adds parameter gradients for d loss / d logits [T*B, vocab]. */
recur_status recur_lm_backward(recur_lm *lm, const float *grad_logits);
/* Saves parameters (PyTorch-style names) and config, plus extra metadata pairs. */
recur_status recur_lm_save(const recur_lm *lm, const char *path, int extra_count,
                           const char *const *extra_keys, const char *const *extra_values);
/* Loads a model saved by recur_lm_save. */
recur_status recur_lm_load(const recur_st_file *file, recur_lm **out);

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
