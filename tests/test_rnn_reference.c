/* Compares forward and backward with PyTorch fixtures (tests/fixtures/).
 * usage: test_rnn_reference [--cuda] FIXTURE_DIR [RECUR_BINARY SCRATCH_DIR]
 * --cuda runs everything on the GPU (exit 77, skipped, without one).
 * For every case in FIXTURE_DIR/cases.txt: runs the library on the case's
 * model, inputs and output gradients and checks every tensor of
 * NAME.expected.safetensors; with RECUR_BINARY also runs `recur run` and
 * checks its output file the same way. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_util.h"

#define STATE_TOLERANCE 1e-4 /* output, h_n, c_n */
#define GRAD_TOLERANCE 1e-3  /* every gradient */

static double worst_state_error, worst_grad_error;
static int use_cuda;
static char worst_state_case[128], worst_grad_case[128];

static recur_st_file *open_case_file(const char *dir, const char *name, const char *kind)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s.%s.safetensors", dir, name, kind);
    recur_st_file *file = NULL;
    if (recur_st_open(path, &file) != RECUR_OK)
        return NULL;
    return file;
}

/* Reads a tensor as float32 (NULL if absent); *numel receives its size. */
static float *read_f32(const recur_st_file *file, const char *name, size_t *numel)
{
    const recur_tensor_view *t = file ? recur_st_find(file, name) : NULL;
    if (!t)
        return NULL;
    float *data = malloc((t->numel ? t->numel : 1) * sizeof(float));
    if (recur_tensor_to_f32(t, data, t->numel) != RECUR_OK) {
        free(data);
        return NULL;
    }
    if (numel)
        *numel = t->numel;
    return data;
}

/* Checks `actual` against expected tensor `name`; records the worst error. */
static void compare(const char *case_name, const char *origin, const recur_st_file *expected,
                    const char *name, const float *actual, size_t numel)
{
    size_t expected_numel = 0;
    float *want = read_f32(expected, name, &expected_numel);
    test_checks++;
    if (!want || expected_numel != numel || !actual) {
        test_failures++;
        fprintf(stderr, "%s (%s): tensor %s missing or of the wrong size\n", case_name, origin,
                name);
        free(want);
        return;
    }
    int is_grad = strncmp(name, "grad", 4) == 0;
    double err = test_rel_error(actual, want, numel, 1e-6);
    double tolerance = is_grad ? GRAD_TOLERANCE : STATE_TOLERANCE;
    double *worst = is_grad ? &worst_grad_error : &worst_state_error;
    if (err > *worst) {
        *worst = err;
        snprintf(is_grad ? worst_grad_case : worst_state_case, 128, "%s %s", case_name, name);
    }
    if (!(err <= tolerance)) {
        test_failures++;
        fprintf(stderr, "%s (%s): %s relative error %.3g > %.0e\n", case_name, origin, name, err,
                tolerance);
    }
    free(want);
}

static void check_case_library(const char *dir, const char *name)
{
    recur_st_file *model_file = open_case_file(dir, name, "model");
    recur_st_file *in = open_case_file(dir, name, "in");
    recur_st_file *go = open_case_file(dir, name, "grad");
    recur_st_file *expected = open_case_file(dir, name, "expected");
    CHECK(model_file && in && go && expected);
    recur_rnn *rnn = NULL;
    if (model_file)
        CHECK_OK(recur_rnn_from_safetensors(model_file, &rnn));
    if (rnn && use_cuda)
        CHECK_OK(recur_rnn_set_device(rnn, RECUR_DEVICE_CUDA));
    if (!rnn || !in || !go || !expected)
        goto done;
    const recur_rnn_config *c = recur_rnn_get_config(rnn);
    const recur_tensor_view *x = recur_st_find(in, "input");
    int T = (int)x->shape[c->batch_first ? 1 : 0], B = (int)x->shape[c->batch_first ? 0 : 1];
    float *input = read_f32(in, "input", NULL), *h0 = read_f32(in, "h0", NULL);
    float *c0 = read_f32(in, "c0", NULL);
    int64_t *lengths = NULL;
    const recur_tensor_view *len = recur_st_find(in, "lengths");
    if (len) {
        lengths = malloc(sizeof(int64_t) * len->numel);
        CHECK_OK(recur_tensor_to_i64(len, lengths, len->numel));
    }
    size_t out_n = recur_rnn_output_numel(rnn, T, B), state_n = recur_rnn_state_numel(rnn, B);
    size_t cell_n = recur_rnn_cell_state_numel(rnn, B);
    float *output = calloc(out_n, sizeof(float)), *h_n = calloc(state_n, sizeof(float));
    float *c_n = calloc(cell_n + 1, sizeof(float));
    recur_rnn_forward_args fwd = {T, B, input, lengths, h0, c0, output, h_n, cell_n ? c_n : NULL};
    CHECK_OK(recur_rnn_forward(rnn, &fwd));
    compare(name, "library", expected, "output", output, out_n);
    compare(name, "library", expected, "h_n", h_n, state_n);
    if (cell_n)
        compare(name, "library", expected, "c_n", c_n, cell_n);

    float *grad_output = read_f32(go, "grad_output", NULL);
    float *grad_h_n = read_f32(go, "grad_h_n", NULL), *grad_c_n = read_f32(go, "grad_c_n", NULL);
    float *grad_input = calloc(x->numel, sizeof(float));
    float *grad_h0 = calloc(state_n, sizeof(float)), *grad_c0 = calloc(cell_n + 1, sizeof(float));
    recur_rnn_backward_args bwd = {grad_output, grad_h_n, grad_c_n, grad_input, grad_h0,
                                   cell_n ? grad_c0 : NULL};
    recur_rnn_zero_grad(rnn);
    CHECK_OK(recur_rnn_backward(rnn, &bwd));
    compare(name, "library", expected, "grad_input", grad_input, x->numel);
    if (h0)
        compare(name, "library", expected, "grad_h0", grad_h0, state_n);
    if (c0)
        compare(name, "library", expected, "grad_c0", grad_c0, cell_n);
    for (int i = 0; i < recur_rnn_param_count(rnn); i++) {
        recur_param p;
        char grad_name[160];
        CHECK_OK(recur_rnn_param(rnn, i, &p));
        snprintf(grad_name, sizeof grad_name, "grad.%s", p.name);
        compare(name, "library", expected, grad_name, p.grad, p.numel);
    }
    free(input), free(h0), free(c0), free(lengths), free(output), free(h_n), free(c_n);
    free(grad_output), free(grad_h_n), free(grad_c_n), free(grad_input), free(grad_h0);
    free(grad_c0);
done:
    recur_rnn_free(rnn);
    recur_st_close(model_file);
    recur_st_close(in);
    recur_st_close(go);
    recur_st_close(expected);
}

/* Runs `recur run` and checks every tensor it wrote against the expected file. */
static void check_case_cli(const char *dir, const char *name, const char *recur_binary,
                           const char *scratch)
{
    char command[4096], out_path[1024];
    snprintf(out_path, sizeof out_path, "%s/%s.out.safetensors", scratch, name);
    snprintf(command, sizeof command,
             "'%s' run '%s/%s.model.safetensors' --input '%s/%s.in.safetensors' "
             "--output '%s' --grad-output '%s/%s.grad.safetensors'%s",
             recur_binary, dir, name, dir, name, out_path, dir, name,
             use_cuda ? " --device cuda" : "");
    int rc = system(command);
    CHECK(rc == 0);
    recur_st_file *out = NULL, *expected = open_case_file(dir, name, "expected");
    CHECK_OK(recur_st_open(out_path, &out));
    if (out && expected) {
        CHECK(recur_st_count(out) == recur_st_count(expected));
        for (size_t i = 0; i < recur_st_count(expected); i++) {
            const char *tensor = recur_st_tensor(expected, i)->name;
            size_t numel = 0;
            float *actual = read_f32(out, tensor, &numel);
            compare(name, "recur run", expected, tensor, actual, numel);
            free(actual);
        }
    }
    recur_st_close(out);
    recur_st_close(expected);
    remove(out_path);
}

int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "--cuda")) {
        use_cuda = 1;
        argv++, argc--;
        if (recur_cuda_device_count() < 1) {
            char why[256];
            recur_cuda_describe(why, sizeof why);
            printf("skipped: %s\n", why);
            return 77;
        }
    }
    if (argc < 2) {
        fprintf(stderr, "usage: %s FIXTURE_DIR [RECUR_BINARY SCRATCH_DIR]\n", argv[0]);
        return 2;
    }
    char list_path[1024], name[128];
    snprintf(list_path, sizeof list_path, "%s/cases.txt", argv[1]);
    FILE *list = fopen(list_path, "r");
    CHECK(list != NULL);
    int cases = 0;
    while (list && fscanf(list, "%127s", name) == 1) {
        check_case_library(argv[1], name);
        if (argc >= 4)
            check_case_cli(argv[1], name, argv[2], argv[3]);
        cases++;
    }
    if (list)
        fclose(list);
    CHECK(cases > 0);
    printf("%d cases; worst state error %.3g (%s), worst gradient error %.3g (%s)\n", cases,
           worst_state_error, worst_state_case, worst_grad_error, worst_grad_case);
    return test_finish("test_rnn_reference");
}
