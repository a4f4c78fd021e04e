/* What the recurrent kernels of kernels.cu and cluster_rnn.cu share: the
 * cell codes of recur_cell and the accurate sigmoid (no fast math).
 * Internal; included by .cu files only. */
#ifndef RECUR_BACKEND_CUDA_CELL_MATH_CUH
#define RECUR_BACKEND_CUDA_CELL_MATH_CUH

namespace {

enum { kCellTanh = 0, kCellRelu = 1, kCellLstm = 2, kCellGru = 3 }; /* recur_cell */

__device__ __forceinline__ float sigmoid(float x) { return 1.0f / (1.0f + expf(-x)); }

} // namespace

#endif
