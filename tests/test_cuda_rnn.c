/* The CUDA backend against the CPU backend (itself checked against PyTorch
 * by test_rnn_reference): random configurations of every core option, run
 * forward and backward on both with the same parameters and inputs; the
 * device-pointer calls against the host-pointer ones; dropout masks shared
 * with the CPU; TF32 and BF16 within their error; errors. Without a GPU only the
 * error paths run and the test reports itself skipped (exit 77).
 * Every check runs ten times: with the per-step kernels
 * (RECUR_CUDA_PERSISTENT=0), with the persistent kernels wherever they fit
 * (=1), with the cluster forward and backward wherever they fit
 * (RECUR_CUDA_CLUSTER=1: LSTM and GRU, H <= 512, sm_90) on one cluster with
 * the plain exchange (RECUR_CUDA_CLUSTER_ROWS=0, RECUR_CUDA_CLUSTER_VECTOR=0,
 * RECUR_CUDA_CLUSTER_ASYNC=0), with the default choice (all unset: the
 * one-block forward for small steps, clusters of 4 rows, both exchanges on,
 * where they are the fastest), which mixes the kernels, and with the
 * cluster kernels forced and the batch split over clusters of 3 rows
 * (RECUR_CUDA_CLUSTER_ROWS=3); modes 5 and 6 are 2 and 4 with the exchange
 * between a cluster's blocks in 16-byte slices (RECUR_CUDA_CLUSTER_VECTOR=1),
 * 7 and 8 with the exchange through st.async and mbarriers
 * (RECUR_CUDA_CLUSTER_ASYNC=1), 8 in slices too; mode 9 runs the one-block
 * forward wherever it fits (RECUR_CUDA_BLOCK=1: LSTM and GRU, B <= 4), the
 * per-step kernels elsewhere; mode a is mode 1 with h passed between the
 * persistent forward's blocks with stamps in place of the grid barrier
 * (RECUR_CUDA_PERSISTENT_FLAGS=1).
 * usage: test_cuda_rnn [CONFIGS [SEED [MODES]]] */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "test_util.h"
#ifdef RECUR_HAVE_CUDA
#include "backend/cuda/blas.h"
#endif

#define STATE_TOLERANCE 1e-4 /* the core's targets against PyTorch */
#define GRAD_TOLERANCE 1e-3
#define REDUCED_TOLERANCE 2e-2 /* TF32 and BF16 modes */

static double worst_state, worst_grad;

/* Everything one forward + backward takes and gives. */
typedef struct run_io {
    int T, B;
    float *input, *h0, *c0;
    int64_t *lengths;
    float *grad_output, *grad_h_n, *grad_c_n;
    /* results */
    float *output, *h_n, *c_n, *grad_input, *grad_h0, *grad_c0, *grads;
    size_t in_n, out_n, state_n, cell_n, param_n;
} run_io;

static float *random_floats(recur_rng *rng, size_t n)
{
    float *x = malloc((n ? n : 1) * sizeof(float));
    for (size_t i = 0; i < n; i++)
        x[i] = recur_rng_uniform(rng, -1.0f, 1.0f);
    return x;
}

static int pick(recur_rng *rng, int lo, int hi)
{
    return lo + (int)(recur_rng_next(rng) % (uint64_t)(hi - lo + 1));
}

static void io_init(run_io *io, const recur_rnn *rnn, recur_rng *rng, int T, int B, int lengths,
                    int with_h0, int with_c0)
{
    const recur_rnn_config *c = recur_rnn_get_config(rnn);
    memset(io, 0, sizeof *io);
    io->T = T, io->B = B;
    io->in_n = (size_t)T * B * c->input_size;
    io->out_n = recur_rnn_output_numel(rnn, T, B);
    io->state_n = recur_rnn_state_numel(rnn, B);
    io->cell_n = recur_rnn_cell_state_numel(rnn, B);
    io->param_n = recur_rnn_param_total(rnn);
    io->input = random_floats(rng, io->in_n);
    io->h0 = with_h0 ? random_floats(rng, io->state_n) : NULL;
    io->c0 = with_c0 && io->cell_n ? random_floats(rng, io->cell_n) : NULL;
    if (lengths) {
        io->lengths = malloc(sizeof(int64_t) * (size_t)B);
        for (int b = 0; b < B; b++)
            io->lengths[b] = pick(rng, 1, T);
    }
    io->grad_output = random_floats(rng, io->out_n);
    io->grad_h_n = random_floats(rng, io->state_n);
    io->grad_c_n = io->cell_n ? random_floats(rng, io->cell_n) : NULL;
}

static void io_alloc_results(run_io *io)
{
    io->output = calloc(io->out_n, sizeof(float));
    io->h_n = calloc(io->state_n, sizeof(float));
    io->c_n = calloc(io->cell_n + 1, sizeof(float));
    io->grad_input = calloc(io->in_n, sizeof(float));
    io->grad_h0 = calloc(io->state_n, sizeof(float));
    io->grad_c0 = calloc(io->cell_n + 1, sizeof(float));
    io->grads = calloc(io->param_n, sizeof(float));
}

static void io_free_results(run_io *io)
{
    free(io->output), free(io->h_n), free(io->c_n), free(io->grad_input), free(io->grad_h0);
    free(io->grad_c0), free(io->grads);
}

static void io_free(run_io *io)
{
    io_free_results(io);
    free(io->input), free(io->h0), free(io->c0), free(io->lengths), free(io->grad_output);
    free(io->grad_h_n), free(io->grad_c_n);
}

/* Forward and backward through the host-pointer calls; results into io. */
static void run_host(recur_rnn *rnn, run_io *io)
{
    io_alloc_results(io);
    recur_rnn_forward_args fwd = {io->T,  io->B,      io->input, io->lengths,
                                  io->h0, io->c0,     io->output, io->h_n,
                                  io->cell_n ? io->c_n : NULL};
    CHECK_OK(recur_rnn_forward(rnn, &fwd));
    recur_rnn_backward_args bwd = {io->grad_output, io->grad_h_n, io->grad_c_n, io->grad_input,
                                   io->h0 ? io->grad_h0 : NULL, io->c0 ? io->grad_c0 : NULL};
    recur_rnn_zero_grad(rnn);
    CHECK_OK(recur_rnn_backward(rnn, &bwd));
    memcpy(io->grads, recur_rnn_grad_data(rnn), sizeof(float) * io->param_n);
}

static double compare(const char *label, int config, const float *gpu, const float *cpu,
                      size_t n, double tolerance)
{
    if (n == 0)
        return 0.0;
    double err = test_rel_error(gpu, cpu, n, 1e-6);
    test_checks++;
    if (!(err <= tolerance)) {
        test_failures++;
        fprintf(stderr, "config %d: %s relative error %.3g > %.0e\n", config, label, err,
                tolerance);
    }
    return err;
}

static void compare_runs(int config, const run_io *gpu, const run_io *cpu, double state_tol,
                         double grad_tol)
{
    double s = 0.0, g = 0.0, e;
    s = fmax(s, compare("output", config, gpu->output, cpu->output, gpu->out_n, state_tol));
    s = fmax(s, compare("h_n", config, gpu->h_n, cpu->h_n, gpu->state_n, state_tol));
    s = fmax(s, compare("c_n", config, gpu->c_n, cpu->c_n, gpu->cell_n, state_tol));
    g = fmax(g, compare("grad_input", config, gpu->grad_input, cpu->grad_input, gpu->in_n,
                        grad_tol));
    if (cpu->h0)
        g = fmax(g, compare("grad_h0", config, gpu->grad_h0, cpu->grad_h0, gpu->state_n,
                            grad_tol));
    if (cpu->c0)
        g = fmax(g, compare("grad_c0", config, gpu->grad_c0, cpu->grad_c0, gpu->cell_n,
                            grad_tol));
    e = compare("parameter gradients", config, gpu->grads, cpu->grads, gpu->param_n, grad_tol);
    g = fmax(g, e);
    if (state_tol == STATE_TOLERANCE) {
        worst_state = fmax(worst_state, s);
        worst_grad = fmax(worst_grad, g);
    }
}

static recur_rnn_config random_config(recur_rng *rng)
{
    recur_cell cell = (recur_cell)pick(rng, 0, 3);
    int big = pick(rng, 0, 5) == 0;
    recur_rnn_config c = recur_rnn_config_default(cell, pick(rng, 1, big ? 96 : 24),
                                                  pick(rng, 1, big ? 160 : 24));
    c.num_layers = pick(rng, 1, 3);
    c.bias = pick(rng, 0, 4) != 0;
    c.batch_first = pick(rng, 0, 1);
    c.bidirectional = pick(rng, 0, 1);
    if (cell == RECUR_LSTM && c.hidden_size > 1 && pick(rng, 0, 2) == 0)
        c.proj_size = pick(rng, 1, c.hidden_size - 1);
    return c;
}

/* A forward with gradients off (eval mode: the same masks) after run_host:
 * the same output, h_n and c_n to the bit, and a backward refused; then
 * gradients on again. */
static void check_no_grad(int index, recur_rnn *rnn, const run_io *io)
{
    run_io again = *io;
    io_alloc_results(&again);
    recur_rnn_set_grad_enabled(rnn, 0);
    CHECK(!recur_rnn_is_grad_enabled(rnn));
    recur_rnn_forward_args fwd = {io->T,  io->B,      io->input,   io->lengths,
                                  io->h0, io->c0,     again.output, again.h_n,
                                  io->cell_n ? again.c_n : NULL};
    CHECK_OK(recur_rnn_forward(rnn, &fwd));
    const int same = !memcmp(again.output, io->output, sizeof(float) * io->out_n) &&
                     !memcmp(again.h_n, io->h_n, sizeof(float) * io->state_n) &&
                     !memcmp(again.c_n, io->c_n, sizeof(float) * io->cell_n);
    CHECK(same);
    if (!same)
        fprintf(stderr, "config %d: the forward without gradients differs\n", index);
    recur_rnn_backward_args bwd = {io->grad_output, NULL, NULL, NULL, NULL, NULL};
    CHECK_STATUS(recur_rnn_backward(rnn, &bwd), RECUR_E_STATE);
    recur_rnn_set_grad_enabled(rnn, 1);
    CHECK(recur_rnn_is_grad_enabled(rnn));
    io_free_results(&again);
}

/* The same configuration and seed on the CPU and the GPU. */
static void check_config(int index, const recur_rnn_config *c, recur_rng *rng, int T, int B,
                         int lengths, int h0, int c0, int training)
{
    recur_rnn *cpu = NULL, *gpu = NULL;
    CHECK_OK(recur_rnn_create(c, 1000 + (uint64_t)index, &cpu));
    CHECK_OK(recur_rnn_create(c, 1000 + (uint64_t)index, &gpu));
    if (!cpu || !gpu)
        goto done;
    CHECK_OK(recur_rnn_set_device(gpu, RECUR_DEVICE_CUDA));
    CHECK(recur_rnn_get_device(gpu) == RECUR_DEVICE_CUDA);
    recur_rnn_set_training(cpu, training);
    recur_rnn_set_training(gpu, training);
    run_io io_cpu, io_gpu;
    io_init(&io_cpu, cpu, rng, T, B, lengths, h0, c0);
    io_gpu = io_cpu; /* same inputs; results allocated separately */
    run_host(cpu, &io_cpu);
    run_host(gpu, &io_gpu);
    const int failures_before = test_failures;
    compare_runs(index, &io_gpu, &io_cpu, STATE_TOLERANCE, GRAD_TOLERANCE);
    if (!training) {
        check_no_grad(index, cpu, &io_cpu);
        check_no_grad(index, gpu, &io_gpu);
    }
    if (test_failures > failures_before)
        fprintf(stderr,
                "config %d: cell %d input %d hidden %d layers %d bidirectional %d proj %d "
                "bias %d layer_norm %d T %d B %d lengths %d h0 %d c0 %d training %d\n",
                index, (int)c->cell, c->input_size, c->hidden_size, c->num_layers,
                c->bidirectional, c->proj_size, c->bias, c->layer_norm, T, B, lengths, h0, c0,
                training);
    io_free_results(&io_gpu);
    io_free(&io_cpu);
done:
    recur_rnn_free(cpu);
    recur_rnn_free(gpu);
}

/* One pair of objects through runs of changing shapes, lengths and
 * states: what a GPU object keeps between calls (the packing plan on the
 * device, buffers that grow, the step loops' CUDA graphs and their keys)
 * must follow. An LSTM with projection, which the one-launch kernels do not
 * take, so that every run goes through the step loops. */
static void check_reuse(recur_rng *rng)
{
    recur_rnn_config c = recur_rnn_config_default(RECUR_LSTM, 6, 20);
    c.proj_size = 9, c.num_layers = 2, c.bidirectional = 1;
    recur_rnn *cpu = NULL, *gpu = NULL;
    CHECK_OK(recur_rnn_create(&c, 77, &cpu));
    CHECK_OK(recur_rnn_create(&c, 77, &gpu));
    CHECK_OK(recur_rnn_set_device(gpu, RECUR_DEVICE_CUDA));
    static const int runs[][4] = {/* T, B, lengths, h0 and c0 */
                                  {5, 3, 1, 1}, {9, 4, 0, 0}, {5, 3, 1, 0},
                                  {2, 6, 1, 1}, {9, 4, 0, 1}, {5, 3, 1, 1}};
    for (size_t i = 0; i < sizeof runs / sizeof runs[0]; i++) {
        run_io io_cpu, io_gpu;
        io_init(&io_cpu, cpu, rng, runs[i][0], runs[i][1], runs[i][2], runs[i][3], runs[i][3]);
        io_gpu = io_cpu;
        run_host(cpu, &io_cpu);
        run_host(gpu, &io_gpu);
        compare_runs(-3, &io_gpu, &io_cpu, STATE_TOLERANCE, GRAD_TOLERANCE);
        io_free_results(&io_gpu);
        io_free(&io_cpu);
    }
    recur_rnn_free(cpu);
    recur_rnn_free(gpu);
}

/* Device pointers: the same results as the host-pointer calls, gradients
 * accumulating on the device, parameters moving both ways. With lengths
 * (the input, output and their gradients gathered into packed order), or
 * with equal lengths (read and written in place), there also with
 * grad_input in the input's buffer (alias: one backward, which must finish
 * reading the input before it writes the gradient there). */
static void check_device_calls(recur_rng *rng, int lengths, int alias)
{
    recur_rnn_config c = recur_rnn_config_default(RECUR_LSTM, 7, 12);
    c.num_layers = 2, c.bidirectional = 1, c.proj_size = 5;
    recur_rnn *rnn = NULL;
    CHECK_OK(recur_rnn_create(&c, 7, &rnn));
    CHECK_OK(recur_rnn_set_device(rnn, RECUR_DEVICE_CUDA));
    if (!rnn || recur_rnn_get_device(rnn) != RECUR_DEVICE_CUDA)
        return;
    run_io host, dev;
    io_init(&host, rnn, rng, 9, 4, lengths, 1, 1);
    run_host(rnn, &host);

    dev = host;
    io_alloc_results(&dev);
    float *d[12] = {0};
    const float *src[6] = {host.input, host.h0, host.c0, host.grad_output, host.grad_h_n,
                           host.grad_c_n};
    size_t sizes[12] = {host.in_n,    host.state_n, host.cell_n, host.out_n,
                        host.state_n, host.cell_n,  host.out_n,  host.state_n,
                        host.cell_n,  host.in_n,    host.state_n, host.cell_n};
    for (int i = 0; i < 12; i++) {
        CHECK_OK(recur_cuda_malloc((void **)&d[i], sizeof(float) * sizes[i]));
        if (i < 6)
            CHECK_OK(recur_cuda_memcpy(d[i], src[i], sizeof(float) * sizes[i],
                                       RECUR_HOST_TO_DEVICE));
    }
    recur_rnn_forward_args fwd = {dev.T, dev.B, d[0], host.lengths, d[1], d[2], d[6], d[7], d[8]};
    recur_rnn_backward_args bwd = {d[3], d[4], d[5], alias ? d[0] : d[9], d[10], d[11]};
    recur_rnn_zero_grad(rnn);
    CHECK_OK(recur_rnn_forward_device(rnn, &fwd));
    CHECK_OK(recur_rnn_backward_device(rnn, &bwd));
    if (alias)
        CHECK_OK(recur_cuda_memcpy(d[9], d[0], sizeof(float) * sizes[9],
                                   RECUR_DEVICE_TO_DEVICE));
    else
        CHECK_OK(recur_rnn_backward_device(rnn, &bwd)); /* gradients add up: twice */
    CHECK_OK(recur_cuda_synchronize());
    float *outs[6] = {dev.output, dev.h_n, dev.c_n, dev.grad_input, dev.grad_h0, dev.grad_c0};
    for (int i = 0; i < 6; i++)
        CHECK_OK(recur_cuda_memcpy(outs[i], d[6 + i], sizeof(float) * sizes[6 + i],
                                   RECUR_DEVICE_TO_HOST));
    CHECK_OK(recur_cuda_memcpy(dev.grads, recur_rnn_device_grads(rnn),
                               sizeof(float) * dev.param_n, RECUR_DEVICE_TO_HOST));
    for (size_t i = 0; i < dev.param_n && !alias; i++)
        dev.grads[i] *= 0.5f;
    compare_runs(-10 - 2 * lengths - alias, &dev, &host, 1e-6, 1e-6);

    /* Parameters: host -> device -> host, and back to the CPU. */
    float *values = recur_rnn_param_data(rnn);
    values[0] += 1.0f;
    CHECK_OK(recur_rnn_params_to_device(rnn));
    values[0] -= 1.0f;
    CHECK_OK(recur_rnn_params_to_host(rnn));
    float moved = values[0];
    CHECK_OK(recur_rnn_set_device(rnn, RECUR_DEVICE_CPU));
    CHECK(recur_rnn_get_device(rnn) == RECUR_DEVICE_CPU);
    CHECK(recur_rnn_param_data(rnn)[0] == moved);
    CHECK(recur_rnn_device_params(rnn) == NULL);

    for (int i = 0; i < 12; i++)
        recur_cuda_free(d[i]);
    free(dev.output), free(dev.h_n), free(dev.c_n), free(dev.grad_input), free(dev.grad_h0);
    free(dev.grad_c0), free(dev.grads);
    io_free(&host);
    recur_rnn_free(rnn);
}

static void set_or_unset(const char *name, const char *value)
{
    if (value)
        setenv(name, value, 1);
    else
        unsetenv(name);
}

/* A reduced-precision mode (TF32, or BF16 with W_hh and the rows it
 * multiplies converted to bfloat16 when bf16_weights is "1", by cuBLAS when
 * "0"; bf16_operands: RECUR_CUDA_BF16_OPERANDS, NULL unset) against the CPU
 * in float32, within REDUCED_TOLERANCE: a bidirectional two-layer stack of
 * cell with h0 (c0) and lengths (or without: equal lengths, where dW_hh
 * reads y in place); an LSTM with proj_size > 0 projects. */
static void check_reduced_math(recur_rng *rng, recur_math math, const char *bf16_weights,
                               const char *bf16_operands, int lengths, recur_cell cell,
                               int proj_size)
{
    setenv("RECUR_CUDA_BF16_WEIGHTS", bf16_weights, 1);
    set_or_unset("RECUR_CUDA_BF16_OPERANDS", bf16_operands);
    recur_rnn_config c = recur_rnn_config_default(cell, 160, 160);
    c.proj_size = proj_size;
    c.bidirectional = 1; /* and lengths, h0, c0: the reverse walk's rows join as it goes */
    c.num_layers = 2;    /* each layer's input and weights of their own */
    recur_rnn *cpu = NULL, *gpu = NULL;
    CHECK_OK(recur_rnn_create(&c, 5, &cpu));
    CHECK_OK(recur_rnn_create(&c, 5, &gpu));
    CHECK_OK(recur_rnn_set_device(gpu, RECUR_DEVICE_CUDA));
    CHECK_OK(recur_rnn_set_math(gpu, math));
    run_io a, b;
    io_init(&a, cpu, rng, 12, 12, lengths, 1, 1);
    b = a;
    /* Twice, the weights changed in between: the second backward must not
     * read the bfloat16 copies the first pass made. */
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1) {
            float *pc = recur_rnn_param_data(cpu), *pg = recur_rnn_param_data(gpu);
            for (size_t i = 0; i < a.param_n; i++)
                pc[i] = pg[i] = 0.7f * pc[i];
            io_free_results(&a);
            io_free_results(&b);
        }
        run_host(cpu, &a);
        run_host(gpu, &b);
        if (pass == 0 && bf16_weights[0] == '1' && !bf16_operands) /* once: the time */
            check_no_grad(-2, gpu, &b);
        double e = test_rel_error(b.output, a.output, a.out_n, 1e-6);
        double g = test_rel_error(b.grads, a.grads, a.param_n, 1e-6);
        printf("%s %s%s%s%s%s, pass %d: output relative error %.3g, parameter gradients %.3g\n",
               cell == RECUR_GRU ? "GRU" : cell == RECUR_LSTM ? "LSTM" : "RNN",
               math == RECUR_MATH_TF32 ? "TF32" : "BF16",
               math == RECUR_MATH_TF32 ? ""
               : bf16_weights[0] == '1' ? " (bf16 W_hh)"
                                        : " (cuBLAS)",
               bf16_operands ? " (bf16 operands)" : "", lengths ? "" : " (equal lengths)",
               proj_size ? " (projection)" : "", pass + 1, e, g);
        compare_runs(-2, &b, &a, REDUCED_TOLERANCE, REDUCED_TOLERANCE);
    }
    io_free_results(&b);
    io_free(&a);
    recur_rnn_free(cpu);
    recur_rnn_free(gpu);
    unsetenv("RECUR_CUDA_BF16_WEIGHTS");
    unsetenv("RECUR_CUDA_BF16_OPERANDS");
}

#ifdef RECUR_HAVE_CUDA
/* cuBLAS, loaded on first use (backend/cuda/blas.c), loads and every
 * function recur calls resolves, GPU or not: without one only the handle's
 * creation may fail. */
static void check_blas_loads(int have_gpu)
{
    cuda_blas blas;
    recur_status st = cuda_blas_open(&blas, NULL);
    if (st != RECUR_OK)
        printf("cuda_blas_open: %s\n", recur_last_error());
    CHECK(st == RECUR_OK || (!have_gpu && strstr(recur_last_error(), "cuBLAS create failed")));
    if (st == RECUR_OK) {
        CHECK(blas.handle && blas.destroy && blas.set_stream && blas.set_workspace &&
              blas.set_math_mode && blas.sgemm && blas.gemm_ex && blas.sgemv);
        cuda_blas_close(&blas);
        CHECK(blas.handle == NULL);
    }
}
#endif

/* What must fail cleanly, with or without a GPU. */
static void check_errors(int have_gpu)
{
#ifdef RECUR_HAVE_CUDA
    check_blas_loads(have_gpu);
#endif
    recur_rnn_config c = recur_rnn_config_default(RECUR_GRU, 3, 4);
    recur_rnn *rnn = NULL;
    CHECK_OK(recur_rnn_create(&c, 1, &rnn));
    float x[3] = {0};
    recur_rnn_forward_args fwd = {1, 1, x, NULL, NULL, NULL, x, NULL, NULL};
    CHECK_STATUS(recur_rnn_forward_device(rnn, &fwd), RECUR_E_INVALID); /* on the CPU */
    CHECK_STATUS(recur_rnn_set_math(rnn, RECUR_MATH_TF32), RECUR_E_INVALID);
    CHECK(recur_rnn_device_params(rnn) == NULL);
    if (!have_gpu) {
        CHECK_STATUS(recur_rnn_set_device(rnn, RECUR_DEVICE_CUDA), RECUR_E_INVALID);
        CHECK(strlen(recur_last_error()) > 0);
        CHECK(recur_rnn_get_device(rnn) == RECUR_DEVICE_CPU);
        void *p = (void *)1;
        CHECK_STATUS(recur_cuda_malloc(&p, 16), RECUR_E_INVALID);
        CHECK(p == NULL);
    } else {
        CHECK_OK(recur_rnn_set_device(rnn, RECUR_DEVICE_CUDA));
        recur_rnn_backward_args bwd = {0};
        CHECK_STATUS(recur_rnn_backward_device(rnn, &bwd), RECUR_E_STATE);
        CHECK_STATUS(recur_rnn_set_math(rnn, (recur_math)9), RECUR_E_INVALID);
    }
    CHECK_STATUS(recur_rnn_set_device(rnn, (recur_device)5), RECUR_E_INVALID);
    recur_rnn_free(rnn);
    /* GPU selection: an ordinal past the last GPU (any, without one) is refused */
    CHECK_STATUS(recur_cuda_set_device(recur_cuda_device_count()), RECUR_E_INVALID);
    CHECK_STATUS(recur_cuda_set_device(-1), RECUR_E_INVALID);
    if (have_gpu) { /* the last GPU, then back to the first for the rest */
        CHECK_OK(recur_cuda_set_device(recur_cuda_device_count() - 1));
        CHECK_OK(recur_cuda_set_device(0));
    }
    recur_rnn_config z = recur_rnn_config_default(RECUR_LSTM, 3, 4);
    z.zoneout = 0.1f;
    CHECK_OK(recur_rnn_create(&z, 1, &rnn));
    CHECK_STATUS(recur_rnn_set_device(rnn, RECUR_DEVICE_CUDA), RECUR_E_INVALID);
    recur_rnn_free(rnn);
}

/* An environment value as the report shows it. */
static const char *or_unset(const char *value) { return value ? value : "(unset)"; }

int main(int argc, char **argv)
{
    const int configs = argc > 1 ? atoi(argv[1]) : 200;
    const uint64_t seed = argc > 2 ? strtoull(argv[2], NULL, 10) : 1;
    /* which of the kernel choices below run, in this order: "2" the
     * one-cluster kernels alone, default "012345678" */
    const char *mode_list = argc > 3 ? argv[3] : "0123456789a";
    if (strspn(mode_list, "0123456789a") != strlen(mode_list)) {
        fprintf(stderr, "usage: test_cuda_rnn [CONFIGS [SEED [MODES, e.g. 0123456789a]]]\n");
        return 2;
    }
    char device[256];
    recur_cuda_describe(device, sizeof device);
    const int have_gpu = recur_cuda_device_count() > 0;
    check_errors(have_gpu);
    if (!have_gpu) {
        printf("skipped: %s (only the error paths ran: %d checks, %d failed)\n", device,
               test_checks, test_failures);
        return test_failures ? 1 : 77;
    }
    printf("device: %s\n", device);
    static const struct {
        const char *persistent, *cluster, *cluster_rows, *vector, *async, *block, *flags;
    } modes[11] = {{"0", "0", NULL, NULL, NULL, NULL, NULL},
                   {"1", "0", NULL, NULL, NULL, NULL, NULL},
                   {NULL, "1", "0", "0", "0", NULL, NULL},
                   {NULL, NULL, NULL, NULL, NULL, NULL, NULL},
                   {NULL, "1", "3", "0", "0", NULL, NULL},
                   {NULL, "1", "0", "1", "0", NULL, NULL},
                   {NULL, "1", "3", "1", "0", NULL, NULL},
                   {NULL, "1", "0", "0", "1", NULL, NULL},
                   {NULL, "1", "3", "1", "1", NULL, NULL},
                   {"0", "0", NULL, NULL, NULL, "1", NULL},
                   {"1", "0", NULL, NULL, NULL, NULL, "1"}};
    /* NULL: unset */
    for (const char *mode = mode_list; *mode; mode++) {
        const int m = *mode == 'a' ? 10 : *mode - '0';
        set_or_unset("RECUR_CUDA_PERSISTENT_FLAGS", modes[m].flags);
        set_or_unset("RECUR_CUDA_BLOCK", modes[m].block);
        set_or_unset("RECUR_CUDA_PERSISTENT", modes[m].persistent);
        set_or_unset("RECUR_CUDA_CLUSTER", modes[m].cluster);
        set_or_unset("RECUR_CUDA_CLUSTER_ROWS", modes[m].cluster_rows);
        set_or_unset("RECUR_CUDA_CLUSTER_VECTOR", modes[m].vector);
        set_or_unset("RECUR_CUDA_CLUSTER_ASYNC", modes[m].async);
        worst_state = worst_grad = 0.0;
        recur_rng rng;
        recur_rng_seed(&rng, seed);
        for (int i = 0; i < configs; i++) {
            recur_rnn_config c = random_config(&rng);
            int T = pick(&rng, 1, 12), B = pick(&rng, 1, 7);
            check_config(i, &c, &rng, T, B, pick(&rng, 0, 1), pick(&rng, 0, 1),
                         pick(&rng, 0, 1), 0);
        }
        /* Dropout between layers, training mode: the masks come from the same generator. */
        for (int i = 0; i < 8; i++) {
            recur_rnn_config c = random_config(&rng);
            c.num_layers = 3, c.dropout = 0.3f;
            check_config(configs + i, &c, &rng, pick(&rng, 1, 12), pick(&rng, 1, 7), 1, 1, 1, 1);
        }
        /* Larger layers, where the persistent kernels spread over many
         * blocks; the one-cluster forward takes the first and the last five:
         * 16 blocks of 32 warps with weights in shared memory too (H512), 10
         * such blocks (H300), then blocks of 16 warps, up to 32 rows
         * (by default the forward of the H192 one alone); 40 rows only
         * split over clusters; the last two, in mode 9 alone, on one block
         * (split rows by default: rk_lanes_default). */
        const struct {
            recur_cell cell;
            int hidden, batch, seq, bidir, lengths;
        } large[] = {{RECUR_LSTM, 512, 4, 20, 0, 0},   {RECUR_GRU, 1024, 2, 9, 0, 1},
                     {RECUR_RNN_TANH, 700, 3, 11, 1, 1}, {RECUR_LSTM, 1024, 16, 6, 1, 0},
                     {RECUR_GRU, 300, 3, 8, 0, 1},      {RECUR_LSTM, 256, 16, 13, 0, 1},
                     {RECUR_GRU, 130, 32, 9, 1, 1},     {RECUR_LSTM, 200, 32, 7, 0, 0},
                     {RECUR_LSTM, 192, 8, 10, 1, 1},    {RECUR_LSTM, 128, 40, 6, 0, 1},
                     {RECUR_LSTM, 128, 1, 24, 0, 0},    {RECUR_GRU, 128, 3, 10, 1, 1}};
        const int n_large = (int)(sizeof large / sizeof large[0]) - (m == 9 ? 0 : 2);
        for (int i = 0; i < n_large; i++) {
            recur_rnn_config c = recur_rnn_config_default(large[i].cell, 64, large[i].hidden);
            c.bidirectional = large[i].bidir;
            check_config(configs + 8 + i, &c, &rng, large[i].seq, large[i].batch,
                         large[i].lengths, 1, 1, 0);
        }
        /* The one-block forward's other variants (lengths, h0 and c0): 64
         * columns a thread, 40 of them in shared memory, at H128 (where the
         * default is a whole row a thread); at H96 48 columns (LSTM) and 32
         * (GRU), the defaults there; the variants of split rows
         * (RECUR_CUDA_BLOCK_LANES=1 or 2, a lane ending with 1 or 2 gate
         * rows: H <= 128, both directions, H not a multiple of 8 leaving
         * idle lanes in the last warp; rk_lanes_default picks one by default);
         * at B <= 2 without them (RECUR_CUDA_BLOCK_LANES=0: a whole row a
         * thread at lstm H128, 32 columns at gru H96). */
        if (m == 9) {
            const struct {
                const char *columns, *lanes;
                recur_cell cell;
                int hidden, batch, seq, bidir;
            } block[] = {
                {"64", NULL, RECUR_LSTM, 128, 1, 12, 0}, {"64", NULL, RECUR_GRU, 128, 3, 6, 0},
                {"48", NULL, RECUR_LSTM, 96, 2, 7, 0},   {"32", NULL, RECUR_GRU, 96, 4, 5, 0},
                {NULL, "1", RECUR_LSTM, 128, 1, 12, 0},  {NULL, "1", RECUR_GRU, 128, 3, 6, 1},
                {NULL, "1", RECUR_LSTM, 100, 4, 7, 1},   {NULL, "1", RECUR_GRU, 37, 2, 5, 0},
                {NULL, "2", RECUR_LSTM, 128, 1, 12, 0},  {NULL, "2", RECUR_GRU, 128, 3, 6, 1},
                {NULL, "2", RECUR_LSTM, 100, 4, 7, 1},   {NULL, "2", RECUR_GRU, 37, 2, 5, 0},
                {NULL, "0", RECUR_LSTM, 128, 1, 12, 0},  {NULL, "0", RECUR_GRU, 96, 2, 6, 1}};
            for (int i = 0; i < (int)(sizeof block / sizeof block[0]); i++) {
                set_or_unset("RECUR_CUDA_BLOCK_COLUMNS", block[i].columns);
                set_or_unset("RECUR_CUDA_BLOCK_LANES", block[i].lanes);
                recur_rnn_config c = recur_rnn_config_default(block[i].cell, 16, block[i].hidden);
                c.bidirectional = block[i].bidir;
                check_config(configs + 20 + i, &c, &rng, block[i].seq, block[i].batch, 1, 1, 1,
                             0);
            }
            unsetenv("RECUR_CUDA_BLOCK_COLUMNS");
            unsetenv("RECUR_CUDA_BLOCK_LANES");
        }
        check_device_calls(&rng, 1, 0);
        check_device_calls(&rng, 0, 0);
        check_device_calls(&rng, 0, 1);
        check_reuse(&rng);
        /* TF32 and BF16. Their variants (bfloat16 copies of W_hh and of
         * the operands, equal lengths) change the per-step kernels' loops
         * and cuBLAS's calls alone: every variant in mode 0, one BF16 in
         * the others (the persistent, cluster and block kernels compute in
         * float32 in every math). */
        if (m == 0) {
            check_reduced_math(&rng, RECUR_MATH_TF32, "0", NULL, 1, RECUR_LSTM, 0);
            check_reduced_math(&rng, RECUR_MATH_BF16, "0", NULL, 1, RECUR_LSTM, 0);
            check_reduced_math(&rng, RECUR_MATH_BF16, "1", NULL, 1, RECUR_LSTM, 0);
            check_reduced_math(&rng, RECUR_MATH_BF16, "1", "all", 1, RECUR_LSTM, 0);
            /* the bf16 W_hh products whose rows are converted first (only
             * the LSTM cell kernels write them in bfloat16 themselves) */
            check_reduced_math(&rng, RECUR_MATH_BF16, "1", NULL, 1, RECUR_GRU, 0);
            check_reduced_math(&rng, RECUR_MATH_BF16, "1", NULL, 0, RECUR_RNN_TANH, 0);
            check_reduced_math(&rng, RECUR_MATH_BF16, "1", NULL, 1, RECUR_LSTM, 96);
        }
        check_reduced_math(&rng, RECUR_MATH_BF16, "1", "all", 0, RECUR_LSTM, 0);
        printf("RECUR_CUDA_PERSISTENT=%s RECUR_CUDA_CLUSTER=%s RECUR_CUDA_CLUSTER_ROWS=%s "
               "RECUR_CUDA_CLUSTER_VECTOR=%s RECUR_CUDA_CLUSTER_ASYNC=%s RECUR_CUDA_BLOCK=%s "
               "RECUR_CUDA_PERSISTENT_FLAGS=%s: %d configurations: worst state error %.3g, "
               "worst gradient error %.3g\n",
               or_unset(modes[m].persistent), or_unset(modes[m].cluster),
               or_unset(modes[m].cluster_rows), or_unset(modes[m].vector),
               or_unset(modes[m].async), or_unset(modes[m].block), or_unset(modes[m].flags),
               configs, worst_state, worst_grad);
    }
    return test_finish("test_cuda_rnn");
}
