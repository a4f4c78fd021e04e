/* recur run MODEL --input IN --output OUT [--grad-output GO]
 * Runs a bare RNN/LSTM/GRU stack stored with PyTorch parameter names, and
 * optionally its backward. The contract is in docs/CLI.md; keep it stable. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_util.h"
#include "commands.h"

static const char run_usage[] =
    "usage: recur run MODEL.safetensors --input IN.safetensors --output OUT.safetensors\n"
    "                 [--grad-output GO.safetensors] [--device cpu|cuda]\n"
    "\n"
    "Runs the RNN/LSTM/GRU stack in MODEL (a torch.nn.RNN/LSTM/GRU state_dict with\n"
    "recur.module and the constructor arguments in its metadata) on IN and writes OUT.\n"
    "\n"
    "  IN   input [T, B, I] ([B, T, I] if batch_first), optional h0 [L*D, B, Hout],\n"
    "       c0 [L*D, B, H] (LSTM), lengths [B] (I64 or I32, each in 1..T)\n"
    "  OUT  output, h_n, and c_n for LSTM, in PyTorch's shapes\n"
    "  GO   optional grad_output, grad_h_n, grad_c_n (zeros when absent); OUT then\n"
    "       also holds grad_input, grad_h0, grad_c0 (when h0/c0 were given) and\n"
    "       grad.<parameter> for every parameter\n"
    "  --device cuda runs it on the GPU (a build with CUDA and a GPU; default cpu)\n"
    "\n"
    "example:\n"
    "  recur run lstm.safetensors --input x.safetensors --output y.safetensors\n"
    "\n"
    "Bad input prints one line on stderr and exits with status 2; OUT is written\n"
    "to a temporary file and renamed, so it is never left half-written.\n";

typedef struct run_options {
    const char *model, *input, *output, *grad_output;
    recur_device device;
} run_options;

/* Returns -1 to continue, else an exit status. */
static int parse_run_options(int argc, char **argv, run_options *opt)
{
    memset(opt, 0, sizeof *opt);
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        const char **target = NULL;
        if (!strcmp(arg, "-h") || !strcmp(arg, "--help")) {
            fputs(run_usage, stdout);
            return CLI_EXIT_OK;
        }
        if (!strcmp(arg, "--device")) {
            if (i + 1 >= argc)
                return cli_error("run: option --device needs cpu or cuda");
            if (cli_parse_device("run: --device", argv[++i], &opt->device))
                return CLI_EXIT_BAD_INPUT;
            continue;
        }
        if (!strcmp(arg, "--input") || !strcmp(arg, "-i"))
            target = &opt->input;
        else if (!strcmp(arg, "--output") || !strcmp(arg, "-o"))
            target = &opt->output;
        else if (!strcmp(arg, "--grad-output"))
            target = &opt->grad_output;
        else if (arg[0] == '-' && arg[1] != '\0')
            return cli_error("run: unknown option '%s' (see recur run --help)", arg);
        else if (!opt->model) {
            opt->model = arg;
            continue;
        } else
            return cli_error("run: unexpected argument '%s' (see recur run --help)", arg);
        if (i + 1 >= argc)
            return cli_error("run: option %s needs a file name", arg);
        *target = argv[++i];
    }
    if (!opt->model)
        return cli_error("run: MODEL.safetensors is missing (see recur run --help)");
    if (!opt->input)
        return cli_error("run: --input IN.safetensors is missing");
    if (!opt->output)
        return cli_error("run: --output OUT.safetensors is missing");
    if (cli_check_output_not_input(opt->output, opt->model) ||
        cli_check_output_not_input(opt->output, opt->input) ||
        cli_check_output_not_input(opt->output, opt->grad_output))
        return CLI_EXIT_BAD_INPUT;
    return -1;
}

/* Everything a run holds, freed in one place. */
typedef struct run_state {
    recur_st_file *model_file, *input_file, *grad_file;
    recur_rnn *rnn;
    float *input, *h0, *c0, *output, *h_n, *c_n;
    int64_t *lengths;
    float *grad_output, *grad_h_n, *grad_c_n, *grad_input, *grad_h0, *grad_c0;
    recur_st_writer *writer;
} run_state;

static void run_state_free(run_state *s)
{
    recur_st_close(s->model_file);
    recur_st_close(s->input_file);
    recur_st_close(s->grad_file);
    recur_rnn_free(s->rnn);
    float *floats[] = {s->input,       s->h0,       s->c0,       s->output,
                       s->h_n,         s->c_n,      s->grad_output, s->grad_h_n,
                       s->grad_c_n,    s->grad_input, s->grad_h0, s->grad_c0};
    for (size_t i = 0; i < sizeof floats / sizeof floats[0]; i++)
        free(floats[i]);
    free(s->lengths);
    recur_st_writer_free(s->writer);
}

/* Shapes of one run, derived from the model and the input tensor. */
typedef struct run_shapes {
    int seq_len, batch, states, hidden_out, hidden;
    int64_t input[3], output[3], state[3], cell[3];
} run_shapes;

static int read_inputs(run_state *s, const run_options *opt, run_shapes *sh)
{
    static const char *const allowed[] = {"input", "h0", "c0", "lengths", NULL};
    const recur_rnn_config *c = recur_rnn_get_config(s->rnn);
    const recur_st_file *f = s->input_file;
    if (cli_check_tensor_names(f, allowed))
        return CLI_EXIT_BAD_INPUT;
    const recur_tensor_view *x = recur_st_find(f, "input");
    if (!x)
        return cli_error("%s: tensor 'input' is missing", opt->input);
    if (x->ndim != 3) {
        char got[128];
        cli_format_shape(x->shape, x->ndim, got, sizeof got);
        return cli_error("%s: tensor 'input' has shape %s, expected 3 dimensions %s", opt->input,
                         got, c->batch_first ? "[B, T, I]" : "[T, B, I]");
    }
    if (x->shape[c->batch_first ? 1 : 0] < 1 || x->shape[c->batch_first ? 0 : 1] < 1 ||
        x->shape[0] > INT32_MAX || x->shape[1] > INT32_MAX)
        return cli_error("%s: tensor 'input' must have at least one step and one sequence",
                         opt->input);
    sh->seq_len = (int)x->shape[c->batch_first ? 1 : 0];
    sh->batch = (int)x->shape[c->batch_first ? 0 : 1];
    const int D = c->bidirectional ? 2 : 1;
    sh->hidden = c->hidden_size;
    sh->hidden_out = c->proj_size ? c->proj_size : c->hidden_size;
    sh->states = c->num_layers * D;
    memcpy(sh->input, x->shape, sizeof sh->input);
    sh->input[2] = c->input_size;
    memcpy(sh->output, sh->input, sizeof sh->output);
    sh->output[2] = (int64_t)D * sh->hidden_out;
    int64_t state[3] = {sh->states, sh->batch, sh->hidden_out};
    int64_t cell[3] = {sh->states, sh->batch, sh->hidden};
    memcpy(sh->state, state, sizeof state);
    memcpy(sh->cell, cell, sizeof cell);

    if (cli_read_f32(f, "input", 3, sh->input, 1, &s->input) ||
        cli_read_f32(f, "h0", 3, sh->state, 0, &s->h0))
        return CLI_EXIT_BAD_INPUT;
    if (recur_st_find(f, "c0") && c->cell != RECUR_LSTM)
        return cli_error("%s: tensor 'c0' is only valid for an LSTM model", opt->input);
    if (cli_read_f32(f, "c0", 3, sh->cell, 0, &s->c0))
        return CLI_EXIT_BAD_INPUT;

    const recur_tensor_view *len = recur_st_find(f, "lengths");
    if (len) {
        if (len->ndim != 1 || len->shape[0] != sh->batch)
            return cli_error("%s: tensor 'lengths' must have shape [%d]", opt->input, sh->batch);
        if (len->dtype != RECUR_I64 && len->dtype != RECUR_I32)
            return cli_error("%s: tensor 'lengths' has dtype %s, expected I64 or I32", opt->input,
                             recur_dtype_name(len->dtype));
        s->lengths = malloc(sizeof(int64_t) * (size_t)sh->batch);
        if (!s->lengths)
            return cli_error("out of memory");
        if (recur_tensor_to_i64(len, s->lengths, (size_t)sh->batch) != RECUR_OK)
            return cli_error("%s: %s", opt->input, recur_last_error());
        for (int b = 0; b < sh->batch; b++)
            if (s->lengths[b] < 1 || s->lengths[b] > sh->seq_len)
                return cli_error("%s: lengths[%d] = %lld is outside 1..%d (the input's steps)",
                                 opt->input, b, (long long)s->lengths[b], sh->seq_len);
    }
    return 0;
}

static int read_grads(run_state *s, const run_options *opt, const run_shapes *sh)
{
    static const char *const allowed[] = {"grad_output", "grad_h_n", "grad_c_n", NULL};
    const recur_st_file *f = s->grad_file;
    if (cli_check_tensor_names(f, allowed))
        return CLI_EXIT_BAD_INPUT;
    if (recur_st_find(f, "grad_c_n") && recur_rnn_get_config(s->rnn)->cell != RECUR_LSTM)
        return cli_error("%s: tensor 'grad_c_n' is only valid for an LSTM model",
                         opt->grad_output);
    if (cli_read_f32(f, "grad_output", 3, sh->output, 0, &s->grad_output) ||
        cli_read_f32(f, "grad_h_n", 3, sh->state, 0, &s->grad_h_n) ||
        cli_read_f32(f, "grad_c_n", 3, sh->cell, 0, &s->grad_c_n))
        return CLI_EXIT_BAD_INPUT;
    return 0;
}

static float *alloc_floats(size_t count)
{
    return calloc(count ? count : 1, sizeof(float));
}

/* Adds the forward (and backward) results to the writer. */
static recur_status write_results(run_state *s, const run_shapes *sh, int with_grads)
{
    recur_st_writer *w = s->writer;
    int lstm = recur_rnn_get_config(s->rnn)->cell == RECUR_LSTM;
    CLI_TRY(recur_st_writer_add(w, "output", RECUR_F32, 3, sh->output, s->output));
    CLI_TRY(recur_st_writer_add(w, "h_n", RECUR_F32, 3, sh->state, s->h_n));
    if (lstm)
        CLI_TRY(recur_st_writer_add(w, "c_n", RECUR_F32, 3, sh->cell, s->c_n));
    if (!with_grads)
        return RECUR_OK;
    CLI_TRY(recur_st_writer_add(w, "grad_input", RECUR_F32, 3, sh->input, s->grad_input));
    if (s->h0)
        CLI_TRY(recur_st_writer_add(w, "grad_h0", RECUR_F32, 3, sh->state, s->grad_h0));
    if (s->c0)
        CLI_TRY(recur_st_writer_add(w, "grad_c0", RECUR_F32, 3, sh->cell, s->grad_c0));
    for (int i = 0; i < recur_rnn_param_count(s->rnn); i++) {
        recur_param p;
        char name[160];
        CLI_TRY(recur_rnn_param(s->rnn, i, &p));
        snprintf(name, sizeof name, "grad.%s", p.name);
        CLI_TRY(recur_st_writer_add(w, name, RECUR_F32, p.ndim, p.shape, p.grad));
    }
    return RECUR_OK;
}

static int run(run_state *s, const run_options *opt)
{
    recur_status st;
    if ((st = recur_st_open(opt->model, &s->model_file)) != RECUR_OK ||
        (st = recur_rnn_from_safetensors(s->model_file, &s->rnn)) != RECUR_OK ||
        (st = recur_rnn_set_device(s->rnn, opt->device)) != RECUR_OK ||
        (st = recur_st_open(opt->input, &s->input_file)) != RECUR_OK)
        return cli_status_error(st);
    run_shapes sh;
    int rc = read_inputs(s, opt, &sh);
    if (rc)
        return rc;
    if (opt->grad_output) {
        if ((st = recur_st_open(opt->grad_output, &s->grad_file)) != RECUR_OK)
            return cli_status_error(st);
        if ((rc = read_grads(s, opt, &sh)))
            return rc;
    }
    size_t out_n = recur_rnn_output_numel(s->rnn, sh.seq_len, sh.batch);
    size_t state_n = recur_rnn_state_numel(s->rnn, sh.batch);
    size_t cell_n = recur_rnn_cell_state_numel(s->rnn, sh.batch);
    s->output = alloc_floats(out_n);
    s->h_n = alloc_floats(state_n);
    s->c_n = alloc_floats(cell_n);
    if (!s->output || !s->h_n || !s->c_n)
        return cli_error("out of memory");
    recur_rnn_forward_args fwd = {sh.seq_len, sh.batch, s->input, s->lengths, s->h0, s->c0,
                                  s->output, s->h_n, cell_n ? s->c_n : NULL};
    recur_rnn_set_grad_enabled(s->rnn, opt->grad_output != NULL); /* a backward follows */
    if ((st = recur_rnn_forward(s->rnn, &fwd)) != RECUR_OK)
        return cli_status_error(st);
    if (opt->grad_output) {
        size_t in_n = (size_t)sh.input[0] * (size_t)sh.input[1] * (size_t)sh.input[2];
        s->grad_input = alloc_floats(in_n);
        s->grad_h0 = alloc_floats(state_n);
        s->grad_c0 = alloc_floats(cell_n);
        if (!s->grad_input || !s->grad_h0 || !s->grad_c0)
            return cli_error("out of memory");
        recur_rnn_backward_args bwd = {s->grad_output, s->grad_h_n, s->grad_c_n,
                                       s->grad_input,  s->grad_h0,  cell_n ? s->grad_c0 : NULL};
        recur_rnn_zero_grad(s->rnn);
        if ((st = recur_rnn_backward(s->rnn, &bwd)) != RECUR_OK)
            return cli_status_error(st);
    }
    if ((st = recur_st_writer_create(&s->writer)) != RECUR_OK ||
        (st = write_results(s, &sh, opt->grad_output != NULL)) != RECUR_OK ||
        (st = recur_st_writer_save(s->writer, opt->output)) != RECUR_OK)
        return cli_status_error(st);
    return CLI_EXIT_OK;
}

int cmd_run(int argc, char **argv)
{
    run_options opt;
    int rc = parse_run_options(argc, argv, &opt);
    if (rc >= 0)
        return rc;
    run_state state = {0};
    rc = run(&state, &opt);
    run_state_free(&state);
    return rc;
}
