/* recur bench [--cases NAME,...] [--cell C --hidden N ...] [--seconds X] [--threads N]
 *             [--json [FILE]]
 * Times the forward and the training step (forward + backward of a sum loss)
 * of recurrent stacks on random data, against the sgemm peak of the same
 * machine measured in the same run. The contract is in docs/CLI.md. */
#define _POSIX_C_SOURCE 200809L
#include <cJSON.h>
#if RECUR_BLAS_DNNL
#include <oneapi/dnnl/dnnl.h>
#else
#include <cblas.h>
#endif
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>


#include "cli_util.h"
#include "commands.h"
#include "io/atomic_file.h"

#if RECUR_BLAS_BLIS
char *bli_info_get_version_str(void);
#endif
/* OpenBLAS's descriptions, absent from other CBLAS libraries: weak, so that
 * the tool still links (and reports "unknown") without them. */
#if defined(__GNUC__)
char *openblas_get_config(void) __attribute__((weak));
char *openblas_get_corename(void) __attribute__((weak));
static char *(*const blas_config)(void) = openblas_get_config;
static char *(*const blas_corename)(void) = openblas_get_corename;
#else
static char *(*const blas_config)(void) = NULL;
static char *(*const blas_corename)(void) = NULL;
#endif

static const char bench_usage[] =
    "usage: recur bench [--cases NAME,...] [--seconds X] [--threads N] [--json [FILE]]\n"
    "                   [--device cpu|cuda] [--math fp32|tf32|bf16]\n"
    "       recur bench --cell lstm|gru|rnn-tanh|rnn-relu [--hidden N] [--input N]\n"
    "                   [--batch N] [--seq N] [--layers N] [--bidirectional]\n"
    "                   [options]\n"
    "\n"
    "Times the forward for inference (gradients off, as torch.no_grad) and the\n"
    "training step (zero_grad, forward, backward of the sum of the output, i.e.\n"
    "grad_output all ones, with input and parameter gradients) of float32\n"
    "time-major stacks on random data, and the sgemm peak of this machine\n"
    "(M=N=K=2048, best of 5) in the same run.\n"
    "\n"
    "The suite (input size = hidden size):\n"
    "  lstm-h128-b1-t100 lstm-h256-b16-t50 lstm-h512-b64-t50 lstm-h512-b32-t64-l2\n"
    "  gru-h512-b32-t100 rnn-tanh-h1024-b32-t50 lstm-h1024-b64-t100\n"
    "\n"
    "options:\n"
    "  --cases NAME,...  run only these cases of the suite\n"
    "  --cell C          run one case of your own instead of the suite: lstm, gru,\n"
    "                    rnn-tanh or rnn-relu; with --hidden N (default 256),\n"
    "                    --input N (default: the hidden size), --batch N (16),\n"
    "                    --seq N (50), --layers N (1), --bidirectional (two\n"
    "                    directions, names end in -bi); any of these flags alone\n"
    "                    means --cell lstm\n"
    "  --seconds X       time spent measuring each pass of each case (default 1);\n"
    "                    at least 5 timed calls after at least 3 warm-up calls\n"
    "  --threads N       threads of recur's team (RECUR_NUM_THREADS; OpenBLAS runs\n"
    "                    one per team thread); default: RECUR_NUM_THREADS, else as\n"
    "                    OpenBLAS starts (OPENBLAS_NUM_THREADS or all cores); the\n"
    "                    sgemm peak is measured with OpenBLAS on as many threads\n"
    "                    (other BLAS libraries keep their own thread settings)\n"
    "  --device cuda     time the CUDA backend with device-resident data (each call\n"
    "                    followed by a synchronization); the suite then also has\n"
    "                    lstm-h2048-b128-t100, lstm-h512-b4-t256 and the\n"
    "                    bidirectional lstm-h256-b16-t100-bi; the peak column\n"
    "                    shows - (no sgemm peak is measured on the GPU)\n"
    "  --math MODE       with --device cuda: fp32 (default), tf32 or bf16 tensor-core\n"
    "                    matrix products (fp32 storage and accumulation)\n"
    "  --json [FILE]     also write the results as JSON to FILE; without FILE (or\n"
    "                    with -) the JSON goes to stdout and the table to stderr\n"
    "\n"
    "Columns: ms per call (median over the timed calls), spread = (p90 - p10) /\n"
    "median, tokens/s = T*B / time, GFLOP/s of the GEMMs (forward 2*T*B*G*H*(I+H)\n"
    "per layer with G gates: LSTM 4, GRU 3, RNN 1; training 3x forward) and that\n"
    "as a percentage of the sgemm peak. Bad flags print one line and exit 2.\n"
    "\n"
    "example:\n"
    "  recur bench --cases lstm-h128-b1-t100,lstm-h512-b64-t50 --seconds 0.5\n"
    "  recur bench --cell gru --hidden 1024 --batch 8 --seq 200 --json gru.json\n"
    "  recur bench --device cuda --math tf32\n";

typedef struct bench_case {
    char name[96];
    recur_cell cell;
    int input, hidden, batch, seq, layers, bidirectional;
} bench_case;

static const struct {
    recur_cell cell;
    int hidden, batch, seq, layers;
    int gpu_only; /* in the suite of --device cuda only */
    int bidirectional;
} bench_suite[] = {
    {RECUR_LSTM, 128, 1, 100, 1, 0, 0},    {RECUR_LSTM, 256, 16, 50, 1, 0, 0},
    {RECUR_LSTM, 512, 64, 50, 1, 0, 0},    {RECUR_LSTM, 512, 32, 64, 2, 0, 0},
    {RECUR_GRU, 512, 32, 100, 1, 0, 0},    {RECUR_RNN_TANH, 1024, 32, 50, 1, 0, 0},
    {RECUR_LSTM, 1024, 64, 100, 1, 0, 0},  {RECUR_LSTM, 2048, 128, 100, 1, 1, 0},
    {RECUR_LSTM, 512, 4, 256, 1, 1, 0},    {RECUR_LSTM, 256, 16, 100, 1, 1, 1},
};
enum { BENCH_SUITE_SIZE = sizeof bench_suite / sizeof bench_suite[0] };

static const char *cell_name(recur_cell cell)
{
    switch (cell) {
    case RECUR_LSTM: return "lstm";
    case RECUR_GRU: return "gru";
    case RECUR_RNN_TANH: return "rnn-tanh";
    case RECUR_RNN_RELU: return "rnn-relu";
    }
    return "?";
}

static const char *math_name(recur_math math)
{
    return math == RECUR_MATH_TF32 ? "tf32" : math == RECUR_MATH_BF16 ? "bf16" : "fp32";
}

static int cell_gates(recur_cell cell)
{
    return cell == RECUR_LSTM ? 4 : cell == RECUR_GRU ? 3 : 1;
}

static void name_case(bench_case *c)
{
    int n = snprintf(c->name, sizeof c->name, "%s-h%d-b%d-t%d", cell_name(c->cell), c->hidden,
                     c->batch, c->seq);
    if (c->layers > 1 && n > 0 && (size_t)n < sizeof c->name)
        n += snprintf(c->name + n, sizeof c->name - (size_t)n, "-l%d", c->layers);
    if (c->input != c->hidden && n > 0 && (size_t)n < sizeof c->name)
        n += snprintf(c->name + n, sizeof c->name - (size_t)n, "-i%d", c->input);
    if (c->bidirectional && n > 0 && (size_t)n < sizeof c->name)
        snprintf(c->name + n, sizeof c->name - (size_t)n, "-bi");
}

static bench_case suite_case(int index)
{
    bench_case c;
    memset(&c, 0, sizeof c);
    c.cell = bench_suite[index].cell;
    c.hidden = c.input = bench_suite[index].hidden;
    c.batch = bench_suite[index].batch;
    c.seq = bench_suite[index].seq;
    c.layers = bench_suite[index].layers;
    c.bidirectional = bench_suite[index].bidirectional;
    name_case(&c);
    return c;
}

typedef struct bench_options {
    double seconds;
    long threads;      /* 0 = leave OpenBLAS's default */
    const char *cases; /* comma-separated names, or NULL */
    int custom;        /* a shape was given by flags */
    bench_case shape;
    int json;          /* 0 none, 1 stdout, 2 file */
    const char *json_path;
    recur_device device;
    recur_math math;
} bench_options;

/* Returns -1 to continue, else an exit status. */
static int parse_bench_options(int argc, char **argv, bench_options *opt)
{
    memset(opt, 0, sizeof *opt);
    opt->seconds = 1.0;
    opt->shape.cell = RECUR_LSTM;
    opt->shape.hidden = 256;
    opt->shape.batch = 16;
    opt->shape.seq = 50;
    opt->shape.layers = 1;
    long input = 0;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (!strcmp(arg, "-h") || !strcmp(arg, "--help")) {
            fputs(bench_usage, stdout);
            return CLI_EXIT_OK;
        }
        if (!strcmp(arg, "--json")) {
            opt->json = 1;
            if (i + 1 < argc && (argv[i + 1][0] != '-' || !strcmp(argv[i + 1], "-"))) {
                if (strcmp(argv[i + 1], "-")) {
                    opt->json = 2;
                    opt->json_path = argv[i + 1];
                }
                i++;
            }
            continue;
        }
        if (arg[0] != '-' || arg[1] == '\0')
            return cli_error("bench: unexpected argument '%s' (see recur bench --help)", arg);
        if (!strcmp(arg, "--bidirectional")) {
            opt->custom = 1;
            opt->shape.bidirectional = 1;
            continue;
        }
        if (strcmp(arg, "--cases") && strcmp(arg, "--cell") && strcmp(arg, "--hidden") &&
            strcmp(arg, "--input") && strcmp(arg, "--batch") && strcmp(arg, "--seq") &&
            strcmp(arg, "--layers") && strcmp(arg, "--seconds") && strcmp(arg, "--threads") &&
            strcmp(arg, "--device") && strcmp(arg, "--math"))
            return cli_error("bench: unknown option '%s' (see recur bench --help)", arg);
        if (i + 1 >= argc)
            return cli_error("bench: option %s needs a value", arg);
        const char *value = argv[++i];
        long v = 0;
        if (!strcmp(arg, "--cases")) {
            if (!value[0])
                return cli_error("bench: --cases needs at least one case name");
            opt->cases = value;
        } else if (!strcmp(arg, "--device")) {
            if (cli_parse_device("bench: --device", value, &opt->device))
                return CLI_EXIT_BAD_INPUT;
        } else if (!strcmp(arg, "--math")) {
            if (!strcmp(value, "fp32"))
                opt->math = RECUR_MATH_FP32;
            else if (!strcmp(value, "tf32"))
                opt->math = RECUR_MATH_TF32;
            else if (!strcmp(value, "bf16"))
                opt->math = RECUR_MATH_BF16;
            else
                return cli_error("bench: --math: '%s' is not fp32, tf32 or bf16", value);
        } else if (!strcmp(arg, "--seconds")) {
            if (cli_parse_float(arg, value, 1e-6, 3600.0, &opt->seconds))
                return CLI_EXIT_BAD_INPUT;
        } else if (!strcmp(arg, "--threads")) {
            if (cli_parse_int(arg, value, 1, 1024, &opt->threads))
                return CLI_EXIT_BAD_INPUT;
        } else if (!strcmp(arg, "--cell")) {
            opt->custom = 1;
            if (!strcmp(value, "lstm"))
                opt->shape.cell = RECUR_LSTM;
            else if (!strcmp(value, "gru"))
                opt->shape.cell = RECUR_GRU;
            else if (!strcmp(value, "rnn-tanh") || !strcmp(value, "rnn"))
                opt->shape.cell = RECUR_RNN_TANH;
            else if (!strcmp(value, "rnn-relu"))
                opt->shape.cell = RECUR_RNN_RELU;
            else
                return cli_error("bench: --cell: '%s' is not lstm, gru, rnn-tanh or rnn-relu",
                                 value);
        } else {
            opt->custom = 1;
            long max = !strcmp(arg, "--layers") ? 64 : 1L << 20;
            if (cli_parse_int(arg, value, 1, max, &v))
                return CLI_EXIT_BAD_INPUT;
            if (!strcmp(arg, "--hidden"))
                opt->shape.hidden = (int)v;
            else if (!strcmp(arg, "--input"))
                input = v;
            else if (!strcmp(arg, "--batch"))
                opt->shape.batch = (int)v;
            else if (!strcmp(arg, "--seq"))
                opt->shape.seq = (int)v;
            else
                opt->shape.layers = (int)v;
        }
    }
    if (opt->custom && opt->cases)
        return cli_error("bench: --cases selects from the suite; it cannot be combined with "
                         "--cell/--hidden/--input/--batch/--seq/--layers/--bidirectional");
    opt->shape.input = input ? (int)input : opt->shape.hidden;
    name_case(&opt->shape);
    if (opt->math != RECUR_MATH_FP32 && opt->device != RECUR_DEVICE_CUDA)
        return cli_error("bench: --math %s needs --device cuda", math_name(opt->math));
    return -1;
}

/* Fills `cases` (room for BENCH_SUITE_SIZE) from the options; returns the
 * count, or -1 after printing an error for an unknown name. */
static int select_cases(const bench_options *opt, bench_case *cases)
{
    if (opt->custom) {
        cases[0] = opt->shape;
        return 1;
    }
    const int gpu = opt->device == RECUR_DEVICE_CUDA;
    if (!opt->cases) {
        int n = 0;
        for (int i = 0; i < BENCH_SUITE_SIZE; i++)
            if (gpu || !bench_suite[i].gpu_only)
                cases[n++] = suite_case(i);
        return n;
    }
    int picked[BENCH_SUITE_SIZE] = {0};
    const char *p = opt->cases;
    while (*p) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        int found = -1;
        for (int i = 0; i < BENCH_SUITE_SIZE && found < 0; i++) {
            if (bench_suite[i].gpu_only && !gpu)
                continue;
            bench_case c = suite_case(i);
            if (strlen(c.name) == len && !strncmp(c.name, p, len))
                found = i;
        }
        if (found < 0) {
            cli_error("bench: --cases: unknown case '%.*s' (see recur bench --help)", (int)len,
                      p);
            return -1;
        }
        picked[found] = 1;
        p += len;
        if (*p == ',')
            p++;
    }
    int n = 0;
    for (int i = 0; i < BENCH_SUITE_SIZE; i++)
        if (picked[i])
            cases[n++] = suite_case(i);
    return n;
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Percentile q in [0, 1] of sorted values, linearly interpolated (numpy's default). */
static double percentile(const double *sorted, int n, double q)
{
    double pos = q * (n - 1);
    int lo = (int)floor(pos);
    int hi = lo + 1 < n ? lo + 1 : lo;
    return sorted[lo] + (pos - lo) * (sorted[hi] - sorted[lo]);
}

typedef struct bench_timing {
    double median_ms, p10_ms, p90_ms, spread;
    int reps, warmup;
    double flops, gflops, tokens_per_s, peak_fraction;
} bench_timing;

typedef struct bench_run {
    recur_rnn *rnn;
    int seq, batch;
    float *input, *output, *grad_output, *grad_input; /* device memory with CUDA */
    int cuda;
} bench_run;

/* A forward for inference: gradients off, as PyTorch's is timed (under
 * torch.no_grad; on the GPU nothing is stored for a backward). */
static recur_status run_forward(bench_run *r)
{
    recur_rnn_set_grad_enabled(r->rnn, 0);
    recur_rnn_forward_args f = {.seq_len = r->seq,
                                .batch = r->batch,
                                .input = r->input,
                                .output = r->output};
    if (r->cuda) {
        CLI_TRY(recur_rnn_forward_device(r->rnn, &f));
        return recur_cuda_synchronize();
    }
    return recur_rnn_forward(r->rnn, &f);
}

static recur_status run_train_step(bench_run *r)
{
    recur_rnn_set_grad_enabled(r->rnn, 1);
    recur_rnn_zero_grad(r->rnn);
    recur_rnn_forward_args f = {.seq_len = r->seq,
                                .batch = r->batch,
                                .input = r->input,
                                .output = r->output};
    recur_rnn_backward_args b = {.grad_output = r->grad_output, .grad_input = r->grad_input};
    if (r->cuda) {
        CLI_TRY(recur_rnn_forward_device(r->rnn, &f));
        CLI_TRY(recur_rnn_backward_device(r->rnn, &b));
        return recur_cuda_synchronize();
    }
    CLI_TRY(recur_rnn_forward(r->rnn, &f));
    return recur_rnn_backward(r->rnn, &b);
}

/* Warms up (>= 3 calls and >= a quarter of the budget, at most 1 s), then
 * times >= 5 calls filling about `seconds`. Returns 0 or an exit status
 * after printing the error. */
static int time_pass(bench_run *r, int train, double seconds, bench_timing *t)
{
    recur_status (*call)(bench_run *) = train ? run_train_step : run_forward;
    memset(t, 0, sizeof *t);
    double warm_budget = seconds / 4 < 1.0 ? seconds / 4 : 1.0;
    double start = now_seconds(), elapsed = 0;
    do {
        recur_status st = call(r);
        if (st != RECUR_OK)
            return cli_status_error(st);
        t->warmup++;
        elapsed = now_seconds() - start;
    } while (t->warmup < 3 || elapsed < warm_budget);
    double per_call = elapsed / t->warmup;
    double want = seconds / (per_call > 1e-9 ? per_call : 1e-9);
    int reps = want < 5 ? 5 : want > 1e6 ? 1000000 : (int)want;
    double *ms = malloc((size_t)reps * sizeof *ms);
    if (!ms) {
        fputs("recur: error: bench: out of memory\n", stderr);
        return CLI_EXIT_FAILURE;
    }
    for (int i = 0; i < reps; i++) {
        double t0 = now_seconds();
        recur_status st = call(r);
        ms[i] = 1e3 * (now_seconds() - t0);
        if (st != RECUR_OK) {
            free(ms);
            return cli_status_error(st);
        }
    }
    qsort(ms, (size_t)reps, sizeof *ms, compare_doubles);
    t->reps = reps;
    t->median_ms = percentile(ms, reps, 0.5);
    t->p10_ms = percentile(ms, reps, 0.1);
    t->p90_ms = percentile(ms, reps, 0.9);
    t->spread = t->median_ms > 0 ? (t->p90_ms - t->p10_ms) / t->median_ms : 0;
    free(ms);
    return 0;
}

/* GEMM flops of one forward: 2*T*B*G*H*(I+H) per layer and direction
 * (input size D*H above the first layer). */
static double forward_flops(const bench_case *c)
{
    double g = cell_gates(c->cell), tb = (double)c->seq * c->batch, h = c->hidden;
    double d = c->bidirectional ? 2.0 : 1.0, flops = 0;
    for (int l = 0; l < c->layers; l++)
        flops += d * 2.0 * tb * g * h * ((l ? d * h : (double)c->input) + h);
    return flops;
}

static void fill_random(float *x, size_t n, uint64_t *state)
{
    for (size_t i = 0; i < n; i++) {
        *state = *state * 6364136223846793005ULL + 1442695040888963407ULL;
        x[i] = (float)((double)(*state >> 40) / (double)(1ULL << 24)) * 2.0f - 1.0f;
    }
}

/* The sgemm peak: C = A B with M = N = K = 2048, best of 5 after one warm-up. */
enum { PEAK_SIZE = 2048, PEAK_REPEATS = 5 };

static int measure_peak(double *gflops, double *best_ms)
{
    size_t n = (size_t)PEAK_SIZE * PEAK_SIZE;
    float *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b), *c = malloc(n * sizeof *c);
    if (!a || !b || !c) {
        free(a);
        free(b);
        free(c);
        fputs("recur: error: bench: out of memory\n", stderr);
        return CLI_EXIT_FAILURE;
    }
    uint64_t state = 7;
    fill_random(a, n, &state);
    fill_random(b, n, &state);
    double best = 1e30;
    for (int i = 0; i <= PEAK_REPEATS; i++) {
        double t0 = now_seconds();
#if RECUR_BLAS_DNNL
        (void)dnnl_sgemm('N', 'N', PEAK_SIZE, PEAK_SIZE, PEAK_SIZE, 1.0f, a, PEAK_SIZE, b,
                         PEAK_SIZE, 0.0f, c, PEAK_SIZE);
#else
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, PEAK_SIZE, PEAK_SIZE, PEAK_SIZE,
                    1.0f, a, PEAK_SIZE, b, PEAK_SIZE, 0.0f, c, PEAK_SIZE);
#endif
        double dt = now_seconds() - t0;
        if (i > 0 && dt < best)
            best = dt;
    }
    free(a);
    free(b);
    free(c);
    *best_ms = 1e3 * best;
    *gflops = 2.0 * PEAK_SIZE * PEAK_SIZE * (double)PEAK_SIZE / best * 1e-9;
    return 0;
}

static void free_run(bench_run *r)
{
    recur_rnn_free(r->rnn);
    float *bufs[4] = {r->input, r->output, r->grad_output, r->grad_input};
    for (int i = 0; i < 4; i++)
        if (r->cuda)
            recur_cuda_free(bufs[i]);
        else
            free(bufs[i]);
    memset(r, 0, sizeof *r);
}

/* The host buffers of setup_run moved to the GPU (and freed on the host). */
static recur_status move_to_device(bench_run *r, size_t in_n, size_t out_n)
{
    float **bufs[4] = {&r->input, &r->output, &r->grad_output, &r->grad_input};
    size_t sizes[4] = {in_n, out_n, out_n, in_n};
    recur_status st = RECUR_OK;
    for (int i = 0; i < 4; i++) {
        void *d = NULL;
        if (st == RECUR_OK)
            st = recur_cuda_malloc(&d, sizeof(float) * sizes[i]);
        if (st == RECUR_OK)
            st = recur_cuda_memcpy(d, *bufs[i], sizeof(float) * sizes[i], RECUR_HOST_TO_DEVICE);
        free(*bufs[i]);
        *bufs[i] = d;
    }
    r->cuda = 1;
    return st;
}

static int setup_run(const bench_case *c, const bench_options *opt, bench_run *r)
{
    memset(r, 0, sizeof *r);
    recur_rnn_config cfg = recur_rnn_config_default(c->cell, c->input, c->hidden);
    cfg.num_layers = c->layers;
    cfg.bidirectional = c->bidirectional;
    recur_status st = recur_rnn_create(&cfg, 1, &r->rnn);
    if (st == RECUR_OK && opt->device == RECUR_DEVICE_CUDA &&
        (st = recur_rnn_set_device(r->rnn, RECUR_DEVICE_CUDA)) == RECUR_OK)
        st = recur_rnn_set_math(r->rnn, opt->math);
    if (st != RECUR_OK) {
        recur_rnn_free(r->rnn);
        r->rnn = NULL;
        return cli_status_error(st);
    }
    r->seq = c->seq;
    r->batch = c->batch;
    size_t in_n = (size_t)c->seq * (size_t)c->batch * (size_t)c->input;
    size_t out_n = recur_rnn_output_numel(r->rnn, c->seq, c->batch);
    r->input = malloc(in_n * sizeof(float));
    r->grad_input = malloc(in_n * sizeof(float));
    r->output = malloc(out_n * sizeof(float));
    r->grad_output = malloc(out_n * sizeof(float));
    if (!r->input || !r->grad_input || !r->output || !r->grad_output) {
        free_run(r);
        fputs("recur: error: bench: out of memory\n", stderr);
        return CLI_EXIT_FAILURE;
    }
    uint64_t state = 1;
    fill_random(r->input, in_n, &state);
    for (size_t i = 0; i < out_n; i++)
        r->grad_output[i] = 1.0f;
    if (opt->device == RECUR_DEVICE_CUDA && (st = move_to_device(r, in_n, out_n)) != RECUR_OK) {
        free_run(r);
        return cli_status_error(st);
    }
    return 0;
}

static void finish_timing(bench_timing *t, const bench_case *c, int train, double peak)
{
    t->flops = forward_flops(c) * (train ? 3.0 : 1.0);
    double s = t->median_ms * 1e-3;
    t->gflops = s > 0 ? t->flops / s * 1e-9 : 0;
    t->tokens_per_s = s > 0 ? (double)c->seq * c->batch / s : 0;
    t->peak_fraction = peak > 0 ? t->gflops / peak : 0;
}

static void print_row(FILE *out, const char *name, const char *pass, const bench_timing *t)
{
    char peak[16] = "      -";
    if (t->peak_fraction > 0)
        snprintf(peak, sizeof peak, "%6.1f%%", 100.0 * t->peak_fraction);
    fprintf(out, "%-24s %-8s %10.3f %7.1f%% %6d %12.0f %9.1f %s\n", name, pass, t->median_ms,
            100.0 * t->spread, t->reps, t->tokens_per_s, t->gflops, peak);
    fflush(out);
}

static cJSON *timing_json(const bench_timing *t)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "ms_median", t->median_ms);
    cJSON_AddNumberToObject(o, "ms_p10", t->p10_ms);
    cJSON_AddNumberToObject(o, "ms_p90", t->p90_ms);
    cJSON_AddNumberToObject(o, "spread", t->spread);
    cJSON_AddNumberToObject(o, "reps", t->reps);
    cJSON_AddNumberToObject(o, "warmup", t->warmup);
    cJSON_AddNumberToObject(o, "tokens_per_s", t->tokens_per_s);
    cJSON_AddNumberToObject(o, "flops", t->flops);
    cJSON_AddNumberToObject(o, "gflops", t->gflops);
    cJSON_AddNumberToObject(o, "peak_fraction", t->peak_fraction);
    return o;
}

/* Writes the JSON to stdout, or to `file` (opened at the start, closed here). */
/* The JSON text and a newline as file contents (io/atomic_file.h). */
static int write_json_text(FILE *file, void *text)
{
    int failed = fputs(text, file) < 0 || fputc('\n', file) == EOF;
    return failed ? (errno ? errno : EIO) : 0;
}

/* --json FILE is written at the end, atomically (a failed or interrupted run
 * leaves an earlier file whole); this checks up front that its folder exists
 * and that FILE is not a folder, so that a typo does not cost the whole run. */
static int check_json_path(const char *path)
{
    if (!path[0])
        return cli_error("bench: --json: the file name is empty");
    char *folder = malloc(strlen(path) + 2);
    if (!folder)
        return cli_error("bench: out of memory");
    strcpy(folder, path);
    char *slash = strrchr(folder, '/');
    if (!slash)
        strcpy(folder, ".");
    else
        slash[slash == folder] = '\0'; /* "/x.json": the root */
    struct stat st;
    int rc = 0;
    if (stat(folder, &st) != 0 || !S_ISDIR(st.st_mode))
        rc = cli_error("bench: %s: cannot write: the folder %s does not exist", path, folder);
    else if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        rc = cli_error("bench: %s: cannot write: it is a folder", path);
    free(folder);
    return rc;
}

static int write_json(const bench_options *opt, cJSON *root)
{
    char *text = cJSON_Print(root);
    if (!text) {
        fputs("recur: error: bench: out of memory\n", stderr);
        return CLI_EXIT_FAILURE;
    }
    int rc = CLI_EXIT_OK;
    if (opt->json == 1) {
        fputs(text, stdout);
        fputc('\n', stdout);
    } else {
        recur_status st = recur_write_file_atomic(opt->json_path, write_json_text, text);
        if (st != RECUR_OK)
            rc = cli_status_error(st);
    }
    cJSON_free(text);
    return rc;
}

int cmd_bench(int argc, char **argv)
{
    bench_options opt;
    int rc = parse_bench_options(argc, argv, &opt);
    if (rc >= 0)
        return rc;
    bench_case cases[BENCH_SUITE_SIZE];
    int ncases = select_cases(&opt, cases);
    if (ncases < 0)
        return CLI_EXIT_BAD_INPUT;

    const int threads = cli_threads_init((int)opt.threads);
    const char *blas_text = blas_config ? blas_config() : "unknown BLAS";
    const char *blas_core = blas_corename ? blas_corename() : "unknown";
#if RECUR_BLAS_DNNL
    char dnnl_text[64];
    const dnnl_version_t *dv = dnnl_version();
    snprintf(dnnl_text, sizeof dnnl_text, "oneDNN %d.%d.%d (dnnl_sgemm)", dv->major, dv->minor,
             dv->patch);
    blas_text = dnnl_text;
#elif RECUR_BLAS_BLIS
    char blis_text[64];
    snprintf(blis_text, sizeof blis_text, "BLIS %s (CBLAS)", bli_info_get_version_str());
    blas_text = blis_text;
#endif
    FILE *table = opt.json == 1 ? stderr : stdout;
    if (opt.json == 2 && check_json_path(opt.json_path))
        return CLI_EXIT_BAD_INPUT;

    double peak = 0, peak_ms = 0;
    const int gpu = opt.device == RECUR_DEVICE_CUDA;
    char device_text[256] = "cpu";
    if (gpu)
        recur_cuda_describe(device_text, sizeof device_text);
    cli_blas_threads(threads); /* the machine's peak: the BLAS on every thread */
    rc = gpu ? 0 : measure_peak(&peak, &peak_ms);
    cli_blas_threads(1);
    if (rc != 0)
        return rc;
    if (gpu)
        fprintf(table, "device: %s; math %s\n", device_text, math_name(opt.math));
    else
        fprintf(table,
                "sgemm peak %.1f GFLOP/s (M=N=K=%d, best of %d: %.2f ms); threads %d; %s "
                "(core %s)\n",
                peak, PEAK_SIZE, PEAK_REPEATS, peak_ms, threads, blas_text, blas_core);
    fprintf(table, "%-24s %-8s %10s %8s %6s %12s %9s %7s\n", "case", "pass", "ms", "spread",
            "reps", "tokens/s", "GFLOP/s", "peak");
    fflush(table);

    cJSON *root = cJSON_CreateObject(), *jcases = NULL;
    if (root) {
        cJSON_AddStringToObject(root, "recur_version", recur_version());
        cJSON_AddNumberToObject(root, "threads", threads);
        cJSON_AddStringToObject(root, "blas", blas_text);
        cJSON_AddStringToObject(root, "blas_core", blas_core);
        cJSON_AddNumberToObject(root, "seconds", opt.seconds);
        cJSON_AddStringToObject(root, "device", gpu ? "cuda" : "cpu");
        cJSON_AddStringToObject(root, "device_name", device_text);
        cJSON_AddStringToObject(root, "math", math_name(opt.math));
        cJSON *jpeak = cJSON_AddObjectToObject(root, "sgemm_peak");
        if (jpeak) {
            cJSON_AddNumberToObject(jpeak, "m", PEAK_SIZE);
            cJSON_AddNumberToObject(jpeak, "n", PEAK_SIZE);
            cJSON_AddNumberToObject(jpeak, "k", PEAK_SIZE);
            cJSON_AddNumberToObject(jpeak, "repeats", PEAK_REPEATS);
            cJSON_AddNumberToObject(jpeak, "ms", peak_ms);
            cJSON_AddNumberToObject(jpeak, "gflops", peak);
        }
        jcases = cJSON_AddArrayToObject(root, "cases");
    }
    if (!root || !jcases) {
        cJSON_Delete(root);
        fputs("recur: error: bench: out of memory\n", stderr);
        return CLI_EXIT_FAILURE;
    }

    for (int i = 0; i < ncases && rc == 0; i++) {
        const bench_case *c = &cases[i];
        bench_run run;
        if ((rc = setup_run(c, &opt, &run)) != 0)
            break;
        bench_timing fwd, train;
        rc = time_pass(&run, 0, opt.seconds, &fwd);
        if (rc == 0) {
            finish_timing(&fwd, c, 0, peak);
            print_row(table, c->name, "forward", &fwd);
            rc = time_pass(&run, 1, opt.seconds, &train);
        }
        free_run(&run);
        if (rc != 0)
            break;
        finish_timing(&train, c, 1, peak);
        print_row(table, "", "train", &train);
        cJSON *jc = cJSON_CreateObject();
        if (!jc) {
            fputs("recur: error: bench: out of memory\n", stderr);
            rc = CLI_EXIT_FAILURE;
            break;
        }
        cJSON_AddItemToArray(jcases, jc);
        cJSON_AddStringToObject(jc, "name", c->name);
        cJSON_AddStringToObject(jc, "cell", cell_name(c->cell));
        cJSON_AddNumberToObject(jc, "input_size", c->input);
        cJSON_AddNumberToObject(jc, "hidden_size", c->hidden);
        cJSON_AddNumberToObject(jc, "batch", c->batch);
        cJSON_AddNumberToObject(jc, "seq_len", c->seq);
        cJSON_AddNumberToObject(jc, "layers", c->layers);
        cJSON_AddBoolToObject(jc, "bidirectional", c->bidirectional);
        cJSON_AddItemToObject(jc, "forward", timing_json(&fwd));
        cJSON_AddItemToObject(jc, "train", timing_json(&train));
    }
    if (rc == 0 && opt.json)
        rc = write_json(&opt, root);
    cJSON_Delete(root);
    return rc;
}
