/* The language model's parts around the stack on a CUDA GPU: the embedding
 * table and the head with their gradients, the activations of the last
 * forward, and the carried state, all in device memory. src/train/lm.c drives
 * it (the stack runs through recur_rnn_*_device in between). Work is queued
 * on the default stream. Without CUDA every call fails. Internal. */
#ifndef RECUR_BACKEND_CUDA_LM_CUDA_H
#define RECUR_BACKEND_CUDA_LM_CUDA_H

#include <stddef.h>
#include <stdint.h>

#include "recur.h"

typedef struct lm_cuda lm_cuda;

/* Which tensor: the embedding [V, E], the head's weight [V, H] and bias [V]. */
enum { LM_CUDA_EMBEDDING, LM_CUDA_HEAD_WEIGHT, LM_CUDA_HEAD_BIAS, LM_CUDA_TENSORS };

/* values[i]: the host tensors to copy (see the enum), gradients zeroed. */
recur_status lm_cuda_create(int vocab, int embed, int hidden, const float *const *values,
                            lm_cuda **out);
void lm_cuda_free(lm_cuda *cu);
float *lm_cuda_value(lm_cuda *cu, int tensor);
float *lm_cuda_grad(lm_cuda *cu, int tensor);
/* Host values -> device; device values and gradients -> host (waits). */
recur_status lm_cuda_upload(lm_cuda *cu, const float *const *values);
recur_status lm_cuda_download(lm_cuda *cu, float *const *values, float *const *grads);
recur_status lm_cuda_zero_grad(lm_cuda *cu);

/* The device buffers of one forward of `rows` = T*B rows and state_n floats
 * of h (cell_n of c) state. */
typedef struct lm_cuda_buffers {
    float *embedded;   /* [rows, E] */
    float *rnn_out;    /* [rows, H] */
    float *h, *c;      /* carried state in, [state_n], [cell_n] */
    float *h_n, *c_n;  /* final state out */
} lm_cuda_buffers;

/* Reserves the buffers and looks up ids [rows] (device) into embedded. */
recur_status lm_cuda_embed(lm_cuda *cu, int rows, size_t state_n, size_t cell_n,
                           const int64_t *ids, lm_cuda_buffers *out);
/* After the stack: rnn_out *= mask (host [rows, H], NULL for none), logits
 * = head(rnn_out), and h_n, c_n become the carried h, c. */
recur_status lm_cuda_head(lm_cuda *cu, const float *mask, const float **logits);
/* Head backward from grad_logits (device [rows, V]); *grad_rnn_out [rows, H]
 * (times the forward's mask) and *grad_embedded [rows, E] for the stack. */
recur_status lm_cuda_head_backward(lm_cuda *cu, const float *grad_logits, float **grad_rnn_out,
                                   float **grad_embedded);
/* Embedding backward from the stack's grad_embedded. */
recur_status lm_cuda_embed_backward(lm_cuda *cu);
/* Carried state <-> host (waits): h [state_n] then c [cell_n]. */
recur_status lm_cuda_get_state(lm_cuda *cu, float *h, float *c);
recur_status lm_cuda_set_state(lm_cuda *cu, size_t state_n, size_t cell_n, const float *h,
                               const float *c);

#endif
