/* Element-wise CUDA kernels of the recurrent stack, callable from C: each
 * rk_* function launches one kernel on `stream` and returns cudaGetLastError()
 * as an int (0 = cudaSuccess). Matrices are row-major with the stated row
 * strides (ld); the math of each cell is that of src/backend/cpu/cell_*.c.
 * Internal. */
#ifndef RECUR_BACKEND_CUDA_KERNELS_H
#define RECUR_BACKEND_CUDA_KERNELS_H

#include <cuda_runtime_api.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- moving rows ---- */

/* dst[r, :n] = src[map[r], :n] for r < rows. */
int rk_gather_rows(cudaStream_t stream, int rows, int n, const int *map, const float *src,
                   int ld_src, float *dst, int ld_dst);
/* dst[map[r], :n] = src[r, :n] for r < rows. */
int rk_scatter_rows(cudaStream_t stream, int rows, int n, const int *map, const float *src,
                    int ld_src, float *dst, int ld_dst);
/* dst[r, :n] = vec (zeros when vec is NULL) for r < rows. */
int rk_fill_rows(cudaStream_t stream, int rows, int n, const float *vec, float *dst, int ld_dst);
/* dst[r, :n] += src[r, :n]. */
int rk_add_rows(cudaStream_t stream, int rows, int n, const float *src, int ld_src, float *dst,
                int ld_dst);
/* dst[r, :n] = prev[r] >= 0 ? states[prev[r], :n] (row stride ld_states)
 *                           : init[-prev[r] - 1, :n] (dense). */
int rk_gather_previous(cudaStream_t stream, int rows, int n, const int *prev, const float *states,
                       int ld_states, const float *init, float *dst);
/* out[i] = a[i] + b[i], i < n. */
int rk_add_vectors(cudaStream_t stream, int n, const float *a, const float *b, float *out);
/* dst[i] = value, i < n. */
int rk_fill(cudaStream_t stream, size_t n, float value, float *dst);
/* dst[i] += src[i], i < n. */
int rk_accumulate(cudaStream_t stream, size_t n, const float *src, float *dst);
/* dst[i] *= src[i], i < n. */
int rk_multiply(cudaStream_t stream, size_t n, const float *src, float *dst);

/* ---- cells: one time step of `rows` rows (see src/backend/cpu/cells.h) ---- */

/* h = act(pre) into h_state [rows, H] and out [rows, ld_out]. */
int rk_elman_forward(cudaStream_t stream, int rows, int H, int relu, const float *pre,
                     float *h_state, float *out, int ld_out);
int rk_elman_backward(cudaStream_t stream, int rows, int H, int relu, const float *h, int ld_h,
                      const float *dh, float *grad_pre);
/* As recur_lstm_forward; also copies m into h_state [rows, H] when not NULL. */
int rk_lstm_forward(cudaStream_t stream, int rows, int H, float *gates, float *c_state,
                    float *c_saved, float *m, int ld_m, float *h_state);
int rk_lstm_backward(cudaStream_t stream, int rows, int H, const float *gates, const float *c,
                     const float *c_prev, const float *dm, float *dc, float *grad_gates);
int rk_gru_forward(cudaStream_t stream, int rows, int H, float *gx, const float *gh,
                   float *h_state, float *hn_saved, float *out, int ld_out);
int rk_gru_backward(cudaStream_t stream, int rows, int H, const float *act, const float *hn,
                    const float *h_prev, float *dh, float *grad_gx, float *grad_gh);

#ifdef __cplusplus
}
#endif

#endif
