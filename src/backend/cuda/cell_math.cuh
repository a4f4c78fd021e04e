/* What the recurrent kernels of kernels.cu, persistent_rnn.cu and
 * cluster_rnn.cu share: the cell codes of recur_cell, the accurate sigmoid
 * (no fast math) and the input biases of the one-launch kernels.
 * Internal; included by .cu files only. */
#ifndef RECUR_BACKEND_CUDA_CELL_MATH_CUH
#define RECUR_BACKEND_CUDA_CELL_MATH_CUH

namespace {

enum { kCellTanh = 0, kCellRelu = 1, kCellLstm = 2, kCellGru = 3 }; /* recur_cell */

__device__ __forceinline__ float sigmoid(float x) { return 1.0f / (1.0f + expf(-x)); }

/* The input bias of gate row at (g * H + u, b_ih not NULL): b_ih + b_hh (a
 * GRU's b_ih alone: its b_hh goes with the recurrent part). */
__device__ __forceinline__ float input_bias(const float *b_ih, const float *b_hh, int cell, int at)
{
    return cell == kCellGru ? b_ih[at] : b_ih[at] + b_hh[at];
}

/* Unit u's input pre-activation x of gate g (H units a gate) plus its
 * input_bias, x itself without biases (b_ih NULL). */
__device__ __forceinline__ float plus_input_bias(float x, const float *b_ih, const float *b_hh,
                                                 int cell, int g, int H, int u)
{
    return b_ih ? x + input_bias(b_ih, b_hh, cell, g * H + u) : x;
}

} // namespace

#endif
