/* Kernels of the training step (see train_kernels.h). Built with
 * --fmad=false so that a * b + c rounds twice, as the host code does. */
#include "backend/cuda/train_kernels.h"
#include "backend/cuda/launch.cuh"

#include <math.h>

namespace {

/* Sum of v over the block (kThreads threads), in a fixed tree order; every
 * thread gets it. shared: kThreads doubles. */
__device__ double block_sum(double v, double *shared)
{
    shared[threadIdx.x] = v;
    __syncthreads();
    for (int half = kThreads / 2; half > 0; half /= 2) {
        if ((int)threadIdx.x < half)
            shared[threadIdx.x] += shared[threadIdx.x + half];
        __syncthreads();
    }
    double total = shared[0];
    __syncthreads();
    return total;
}

__device__ float block_max(float v, float *shared)
{
    shared[threadIdx.x] = v;
    __syncthreads();
    for (int half = kThreads / 2; half > 0; half /= 2) {
        if ((int)threadIdx.x < half && shared[threadIdx.x + half] > shared[threadIdx.x])
            shared[threadIdx.x] = shared[threadIdx.x + half];
        __syncthreads();
    }
    float m = shared[0];
    __syncthreads();
    return m;
}

__device__ bool checks_pass(tk_check check)
{
    for (int i = 0; i < check.count; i++)
        if (!isfinite(check.values[i]))
            return false;
    return true;
}

/* ---- embedding ---- */

__global__ void embedding_forward(size_t total, int dim, int count, const int64_t *ids,
                                  const float *weight, float *out)
{
    GRID_FOR(i, total) {
        size_t r = i / dim, k = i % dim;
        int64_t id = ids[r];
        out[i] = id >= 0 && id < count ? weight[(size_t)id * dim + k] : 0.0f;
    }
}

/* Block (id, column tile): scans the ids in tiles of kThreads rows, lists the
 * rows of `id` in order in shared memory, and adds their gradient rows to the
 * block's columns in that order (the host's order of additions). */
__global__ void embedding_backward(int rows, int dim, int padding_idx, const int64_t *ids,
                                   const float *grad_out, float *grad_weight)
{
    __shared__ int matched[kThreads];
    __shared__ int warp_counts[kThreads / 32];
    const int id = blockIdx.x;
    const int k = blockIdx.y * kThreads + threadIdx.x;
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    if (id == padding_idx)
        return;
    float acc = k < dim ? grad_weight[(size_t)id * dim + k] : 0.0f;
    bool any = false;
    for (int base = 0; base < rows; base += kThreads) {
        const int r = base + threadIdx.x;
        const bool mine = r < rows && ids[r] == id;
        const unsigned ballot = __ballot_sync(0xffffffffu, mine);
        if (lane == 0)
            warp_counts[warp] = __popc(ballot);
        __syncthreads();
        int before = 0, total = 0;
        for (int w = 0; w < kThreads / 32; w++) {
            before += w < warp ? warp_counts[w] : 0;
            total += warp_counts[w];
        }
        if (mine)
            matched[before + __popc(ballot & ((1u << lane) - 1u))] = r;
        __syncthreads();
        if (k < dim)
            for (int j = 0; j < total; j++)
                acc += grad_out[(size_t)matched[j] * dim + k];
        any = any || total > 0;
        __syncthreads();
    }
    if (k < dim && any)
        grad_weight[(size_t)id * dim + k] = acc;
}

/* ---- cross-entropy ---- */

__global__ void count_targets(int n, int classes, const int64_t *targets, double *count)
{
    __shared__ double shared[kThreads];
    double c = 0.0;
    for (int i = threadIdx.x; i < n; i += kThreads)
        c += targets[i] >= 0 && targets[i] < classes ? 1.0 : 0.0;
    c = block_sum(c, shared);
    if (threadIdx.x == 0)
        *count = c;
}

/* One block per row: loss_row[i] = -log p[y] and the gradient
 * (p - onehot(y)) / count, with log-sum-exp in double as the host. */
__global__ void cross_entropy_rows(int classes, const float *logits, const int64_t *targets,
                                   const double *count, double *loss_row, float *grad_logits)
{
    __shared__ double shared[kThreads];
    __shared__ float shared_max[kThreads];
    const int i = blockIdx.x;
    const float *row = logits + (size_t)i * classes;
    float *grad_row = grad_logits + (size_t)i * classes;
    const int64_t y = targets[i];
    if (y < 0 || y >= classes) {
        for (int c = threadIdx.x; c < classes; c += kThreads)
            grad_row[c] = 0.0f;
        if (threadIdx.x == 0)
            loss_row[i] = 0.0;
        return;
    }
    float m = row[0];
    for (int c = threadIdx.x; c < classes; c += kThreads)
        m = row[c] > m ? row[c] : m;
    const double max = block_max(m, shared_max);
    double sum = 0.0;
    for (int c = threadIdx.x; c < classes; c += kThreads)
        sum += exp((double)row[c] - max);
    const double log_sum = max + log(block_sum(sum, shared));
    const double scale = *count != 0.0 ? 1.0 / *count : 0.0;
    for (int c = threadIdx.x; c < classes; c += kThreads) {
        const double log_p = (double)row[c] - log_sum;
        grad_row[c] = (float)(scale * (1.0 * exp(log_p) - (c == y ? 1.0 : 0.0)));
    }
    if (threadIdx.x == 0)
        loss_row[i] = -((double)row[y] - log_sum);
}

__global__ void cross_entropy_total(int n, const double *loss_row, const double *count,
                                    float *loss)
{
    __shared__ double shared[kThreads];
    double total = 0.0;
    for (int i = threadIdx.x; i < n; i += kThreads)
        total += loss_row[i];
    total = block_sum(total, shared);
    if (threadIdx.x == 0)
        *loss = (float)(total * (*count != 0.0 ? 1.0 / *count : 0.0));
}

/* ---- tensor lists ---- */

/* Block b of TK_PARTIALS takes elements b*kThreads + t, strided by
 * TK_PARTIALS*kThreads, of every tensor in list order. */
#define TK_LIST_FOR(list, i, k) \
    for (int i = 0; i < (list).count; i++) \
        for (size_t k = blockIdx.x * (size_t)kThreads + threadIdx.x; k < (list).size[i]; \
             k += (size_t)TK_PARTIALS * kThreads)

__global__ void sum_squares(tk_list list, double *partials)
{
    __shared__ double shared[kThreads];
    double sum = 0.0;
    TK_LIST_FOR(list, i, k) {
        const double g = list.grad[i][k];
        sum += g * g;
    }
    sum = block_sum(sum, shared);
    if (threadIdx.x == 0)
        partials[blockIdx.x] = sum;
}

__global__ void penalty(tk_list list, float l1, float l2, double *abs_partials,
                        double *sq_partials)
{
    __shared__ double shared[kThreads];
    double abs_sum = 0.0, sq_sum = 0.0;
    TK_LIST_FOR(list, i, k) {
        const double w = list.value[i][k];
        abs_sum += fabs(w);
        sq_sum += w * w;
        const double sign = w > 0.0 ? 1.0 : (w < 0.0 ? -1.0 : 0.0); /* tf.sign(0) = 0 */
        if (list.grad[i])
            list.grad[i][k] = (float)((double)list.grad[i][k] + (double)l1 * sign + 2.0 * l2 * w);
    }
    abs_sum = block_sum(abs_sum, shared);
    sq_sum = block_sum(sq_sum, shared);
    if (threadIdx.x == 0) {
        abs_partials[blockIdx.x] = abs_sum;
        sq_partials[blockIdx.x] = sq_sum;
    }
}

__device__ double sum_of(int n, const double *values, double *shared)
{
    double s = 0.0;
    for (int i = threadIdx.x; i < n; i += kThreads)
        s += values[i];
    return block_sum(s, shared);
}

__global__ void finish_penalty(int n, const double *partials, float l1, float l2, float *loss)
{
    __shared__ double shared[kThreads];
    const double abs_sum = sum_of(n, partials, shared);
    const double sq_sum = sum_of(n, partials + n, shared);
    if (threadIdx.x == 0)
        *loss = (float)((double)*loss + (double)l1 * abs_sum + (double)l2 * sq_sum);
}

__global__ void finish_norm(int n, const double *partials, float *norm)
{
    __shared__ double shared[kThreads];
    const double sum = sum_of(n, partials, shared);
    if (threadIdx.x == 0)
        *norm = (float)sqrt(sum);
}

__global__ void scale_by_norm(tk_list list, float max_norm, const float *norm)
{
    const float coef = max_norm / (*norm + 1e-6f);
    if (coef >= 1.0f) /* a NaN norm makes every gradient NaN, as on the host */
        return;
    for (int i = 0; i < list.count; i++)
        GRID_FOR(k, list.size[i])
            list.grad[i][k] *= coef;
}

__global__ void clamp_grads(tk_list list, float c)
{
    for (int i = 0; i < list.count; i++)
        GRID_FOR(k, list.size[i]) {
            const float g = list.grad[i][k];
            list.grad[i][k] = g > c ? c : (g < -c ? -c : g);
        }
}

/* ---- optimizers ---- */

__device__ __forceinline__ float decayed_grad(float grad, float param, float weight_decay)
{
    return weight_decay != 0.0f ? grad + weight_decay * param : grad;
}

__global__ void sgd(size_t n, float *value, const float *grad, float *momentum_buffer, int first,
                    float weight_decay, float momentum, float keep_grad, int nesterov,
                    float neg_lr, tk_check check)
{
    if (!checks_pass(check))
        return;
    GRID_FOR(k, n) {
        float d_p = decayed_grad(grad[k], value[k], weight_decay);
        if (momentum_buffer) {
            const float buf = first ? d_p : momentum_buffer[k] * momentum + keep_grad * d_p;
            momentum_buffer[k] = buf;
            d_p = nesterov ? d_p + momentum * buf : buf;
        }
        value[k] += neg_lr * d_p;
    }
}

__global__ void adam(size_t n, float *value, const float *grad, float *exp_avg, float *exp_avg_sq,
                     float *max_exp_avg_sq, tk_adam_coefficients c, tk_check check)
{
    if (!checks_pass(check))
        return;
    GRID_FOR(k, n) {
        if (c.decoupled)
            value[k] *= c.param_scale;
        const float g = decayed_grad(grad[k], value[k], c.l2);
        const float m = exp_avg[k] * c.beta1 + c.one_minus_beta1 * g;
        float v = exp_avg_sq[k] * c.beta2 + c.one_minus_beta2 * g * g;
        exp_avg[k] = m;
        exp_avg_sq[k] = v;
        if (max_exp_avg_sq) {
            if (v > max_exp_avg_sq[k])
                max_exp_avg_sq[k] = v;
            v = max_exp_avg_sq[k];
        }
        const float denom = sqrtf(v) / c.bias_correction2_sqrt + c.eps;
        value[k] += c.neg_step_size * m / denom;
    }
}

__global__ void rmsprop(size_t n, float *value, const float *grad, float *square_avg,
                        float *grad_avg, float *momentum_buffer, float alpha,
                        float one_minus_alpha, float eps, float weight_decay, float momentum,
                        float neg_lr, tk_check check)
{
    if (!checks_pass(check))
        return;
    GRID_FOR(k, n) {
        const float g = decayed_grad(grad[k], value[k], weight_decay);
        const float sq = square_avg[k] * alpha + one_minus_alpha * g * g;
        square_avg[k] = sq;
        float avg;
        if (grad_avg) {
            const float ga = grad_avg[k] * alpha + one_minus_alpha * g;
            grad_avg[k] = ga;
            avg = sqrtf(sq - ga * ga);
        } else {
            avg = sqrtf(sq);
        }
        avg += eps;
        if (momentum_buffer) {
            const float buf = momentum_buffer[k] * momentum + g / avg;
            momentum_buffer[k] = buf;
            value[k] += neg_lr * buf;
        } else {
            value[k] += neg_lr * g / avg;
        }
    }
}

__global__ void adagrad(size_t n, float *value, const float *grad, float *state_sum,
                        float weight_decay, float eps, float neg_clr, tk_check check)
{
    if (!checks_pass(check))
        return;
    GRID_FOR(k, n) {
        const float g = decayed_grad(grad[k], value[k], weight_decay);
        const float sum = state_sum[k] + g * g;
        state_sum[k] = sum;
        const float std = sqrtf(sum) + eps;
        value[k] += neg_clr * g / std;
    }
}

} // namespace

#define TK_LAUNCH(kernel, n, ...)                                \
    do {                                                         \
        GRID_LAUNCH(kernel, blocks_for(n), 1, (n), __VA_ARGS__); \
        return launched();                                       \
    } while (0)

extern "C" {

int tk_embedding_forward(cudaStream_t stream, int rows, int dim, int count, const int64_t *ids,
                         const float *weight, float *out)
{
    TK_LAUNCH(embedding_forward, (size_t)rows * dim, dim, count, ids, weight, out);
}

int tk_embedding_backward(cudaStream_t stream, int rows, int dim, int count, int padding_idx,
                          const int64_t *ids, const float *grad_out, float *grad_weight)
{
    if (rows < 1 || dim < 1 || count < 1)
        return 0;
    GRID_LAUNCH(embedding_backward, count, (dim + kThreads - 1) / kThreads, rows, dim,
                padding_idx, ids, grad_out, grad_weight);
    return launched();
}

int tk_cross_entropy(cudaStream_t stream, int n, int classes, const float *logits,
                     const int64_t *targets, double *scratch, float *loss, float *grad_logits)
{
    double *count = scratch + n;
    GRID_LAUNCH(count_targets, 1, 1, n, classes, targets, count);
    if (n > 0)
        GRID_LAUNCH(cross_entropy_rows, n, 1, classes, logits, targets, count, scratch,
                    grad_logits);
    GRID_LAUNCH(cross_entropy_total, 1, 1, n, scratch, count, loss);
    return launched();
}

int tk_sum_squares(cudaStream_t stream, const tk_list *list, double *partials)
{
    GRID_LAUNCH(sum_squares, TK_PARTIALS, 1, *list, partials);
    return launched();
}

int tk_penalty(cudaStream_t stream, const tk_list *list, float l1, float l2,
               double *abs_partials, double *sq_partials)
{
    GRID_LAUNCH(penalty, TK_PARTIALS, 1, *list, l1, l2, abs_partials, sq_partials);
    return launched();
}

int tk_finish_penalty(cudaStream_t stream, int n, const double *partials, float l1, float l2,
                      float *loss)
{
    GRID_LAUNCH(finish_penalty, 1, 1, n, partials, l1, l2, loss);
    return launched();
}

int tk_finish_norm(cudaStream_t stream, int n, const double *partials, float *norm)
{
    GRID_LAUNCH(finish_norm, 1, 1, n, partials, norm);
    return launched();
}

int tk_scale_by_norm(cudaStream_t stream, const tk_list *list, float max_norm, const float *norm)
{
    size_t largest = 1;
    for (int i = 0; i < list->count; i++)
        largest = list->size[i] > largest ? list->size[i] : largest;
    GRID_LAUNCH(scale_by_norm, blocks_for(largest), 1, *list, max_norm, norm);
    return launched();
}

int tk_clip_value(cudaStream_t stream, const tk_list *list, float clip_value)
{
    size_t largest = 1;
    for (int i = 0; i < list->count; i++)
        largest = list->size[i] > largest ? list->size[i] : largest;
    GRID_LAUNCH(clamp_grads, blocks_for(largest), 1, *list, clip_value);
    return launched();
}

int tk_sgd(cudaStream_t stream, size_t n, float *value, const float *grad, float *momentum_buffer,
           int first, float weight_decay, float momentum, float keep_grad, int nesterov,
           float neg_lr, tk_check check)
{
    TK_LAUNCH(sgd, n, value, grad, momentum_buffer, first, weight_decay, momentum, keep_grad,
              nesterov, neg_lr, check);
}

int tk_adam(cudaStream_t stream, size_t n, float *value, const float *grad, float *exp_avg,
            float *exp_avg_sq, float *max_exp_avg_sq, tk_adam_coefficients k, tk_check check)
{
    TK_LAUNCH(adam, n, value, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, k, check);
}

int tk_rmsprop(cudaStream_t stream, size_t n, float *value, const float *grad, float *square_avg,
               float *grad_avg, float *momentum_buffer, float alpha, float one_minus_alpha,
               float eps, float weight_decay, float momentum, float neg_lr, tk_check check)
{
    TK_LAUNCH(rmsprop, n, value, grad, square_avg, grad_avg, momentum_buffer, alpha,
              one_minus_alpha, eps, weight_decay, momentum, neg_lr, check);
}

int tk_adagrad(cudaStream_t stream, size_t n, float *value, const float *grad, float *state_sum,
               float weight_decay, float eps, float neg_clr, tk_check check)
{
    TK_LAUNCH(adagrad, n, value, grad, state_sum, weight_decay, eps, neg_clr, check);
}

} // extern "C"
