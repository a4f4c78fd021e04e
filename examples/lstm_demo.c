/* A small tour of the library: builds a 2-layer bidirectional LSTM, saves it
 * as a PyTorch-compatible safetensors file, writes a padded batch of
 * sequences with their lengths, runs forward and backward, and reports.
 * usage: lstm_demo OUT_DIR   (writes OUT_DIR/model.safetensors and in.safetensors:
 * recur run OUT_DIR/model.safetensors --input OUT_DIR/in.safetensors --output OUT) */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include <recur.h>

#define T 12
#define B 4
#define I 8
#define H 16

static int fail(const char *what)
{
    fprintf(stderr, "lstm_demo: %s: %s\n", what, recur_last_error());
    return 1;
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : ".";
    char model_path[1024], input_path[1024];
    snprintf(model_path, sizeof model_path, "%s/model.safetensors", dir);
    snprintf(input_path, sizeof input_path, "%s/in.safetensors", dir);

    recur_rnn_config cfg = recur_rnn_config_default(RECUR_LSTM, I, H);
    cfg.num_layers = 2;
    cfg.bidirectional = 1;
    recur_rnn *lstm;
    if (recur_rnn_create(&cfg, 2026, &lstm) != RECUR_OK)
        return fail("create");

    /* A batch of sine waves of different lengths, padded to T steps. */
    static float input[T * B * I], output[T * B * 2 * H], h_n[4 * B * H], c_n[4 * B * H];
    int64_t lengths[B] = {12, 7, 3, 9};
    for (int t = 0; t < T; t++)
        for (int b = 0; b < B; b++)
            for (int k = 0; k < I; k++)
                input[(t * B + b) * I + k] = t < lengths[b] ? sinf(0.3f * t * (k + 1) + b) : 0.0f;

    recur_rnn_forward_args fwd = {T, B, input, lengths, NULL, NULL, output, h_n, c_n};
    if (recur_rnn_forward(lstm, &fwd) != RECUR_OK)
        return fail("forward");
    /* Gradient of the sum of the last layer's final states. */
    static float grad_h_n[4 * B * H], grad_input[T * B * I];
    for (int i = 2 * B * H; i < 4 * B * H; i++)
        grad_h_n[i] = 1.0f;
    recur_rnn_backward_args bwd = {NULL, grad_h_n, NULL, grad_input, NULL, NULL};
    recur_rnn_zero_grad(lstm);
    if (recur_rnn_backward(lstm, &bwd) != RECUR_OK)
        return fail("backward");

    double grad_norm = 0;
    const float *grads = recur_rnn_grad_data(lstm);
    for (size_t i = 0; i < recur_rnn_param_total(lstm); i++)
        grad_norm += (double)grads[i] * grads[i];
    printf("LSTM: %d layers, bidirectional, hidden %d, %zu parameters\n", cfg.num_layers, H,
           recur_rnn_param_total(lstm));
    printf("batch of %d sequences, lengths 12 7 3 9, padded to %d steps\n", B, T);
    printf("h_n[last layer, forward, sequence 0][0..3] = %.5f %.5f %.5f %.5f\n",
           h_n[2 * B * H + 0], h_n[2 * B * H + 1], h_n[2 * B * H + 2], h_n[2 * B * H + 3]);
    printf("gradient norm of all parameters: %.5f\n", sqrt(grad_norm));

    /* Files for `recur run`: the model and the same batch. */
    recur_st_writer *w;
    int64_t shape[3] = {T, B, I}, len_shape[1] = {B};
    if (recur_rnn_save(lstm, model_path) != RECUR_OK)
        return fail("save model");
    if (recur_st_writer_create(&w) != RECUR_OK ||
        recur_st_writer_add(w, "input", RECUR_F32, 3, shape, input) != RECUR_OK ||
        recur_st_writer_add(w, "lengths", RECUR_I64, 1, len_shape, lengths) != RECUR_OK ||
        recur_st_writer_save(w, input_path) != RECUR_OK)
        return fail("save input");
    recur_st_writer_free(w);
    recur_rnn_free(lstm);
    printf("wrote %s and %s\n", model_path, input_path);
    return 0;
}
