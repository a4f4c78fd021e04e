/* recur classify train's losses (cli/classify_loss.c): two classes with
 * class weights are PyTorch's weighted mean, sum_i w[y_i] l_i / sum_i w[y_i]
 * (the value of CrossEntropyLoss(weight=w) on the logits [0, z]), and the
 * auxiliary next-token head of a bidirectional stack reads only the forward
 * direction, so its loss sends no gradient to the reverse direction. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "classify_loss.h"
#include "test_util.h"

enum { N = 6 };

/* BCE with logits for two classes by hand, in double, against the library. */
static void check_two_class_weights(void)
{
    const float z[N] = {1.5f, -0.25f, 3.0f, -2.0f, 0.5f, 0.0f};
    const int64_t y[N] = {1, 0, 0, 1, 1, 0};
    const float w[2] = {0.6f, 3.0f}; /* balanced weights of a 5:1 split */
    double total = 0, weight_sum = 0, expected_grad[N];
    for (int i = 0; i < N; i++) {
        double wi = w[y[i]], p = 1.0 / (1.0 + exp(-(double)z[i]));
        double l = log1p(exp(-fabs((double)z[i]))) + fmax((double)z[i], 0.0) - (double)y[i] * z[i];
        total += wi * l, weight_sum += wi;
        expected_grad[i] = wi * (p - (double)y[i]);
    }
    float loss = NAN, grad[N];
    CHECK_OK(cls_labels_loss(N, 2, 1, w, z, y, &loss, grad));
    double expected = total / weight_sum, worst = fabs(loss - expected);
    for (int i = 0; i < N; i++)
        worst = fmax(worst, fabs(grad[i] - expected_grad[i] / weight_sum));
    if (worst > 1e-6)
        fprintf(stderr, "two classes, class weights: loss %.7g, expected %.7g (worst %.3g)\n",
                (double)loss, expected, worst);
    CHECK(worst <= 1e-6);

    /* the same as cross-entropy with the same weights on two outputs [0, z] */
    float pair[N * 2], grad_pair[N * 2], ce_loss = NAN;
    for (int i = 0; i < N; i++)
        pair[2 * i] = 0.0f, pair[2 * i + 1] = z[i];
    CHECK_OK(cls_labels_loss(N, 2, 0, w, pair, y, &ce_loss, grad_pair));
    worst = fabs(ce_loss - loss);
    for (int i = 0; i < N; i++)
        worst = fmax(worst, fabs(grad_pair[2 * i + 1] - grad[i]));
    CHECK(worst <= 1e-6);

    /* without class weights: the plain mean */
    float plain = NAN;
    CHECK_OK(cls_labels_loss(N, 2, 1, NULL, z, y, &plain, grad));
    const float unit[2] = {1.0f, 1.0f};
    CHECK_OK(cls_labels_loss(N, 2, 1, unit, z, y, &loss, NULL));
    CHECK(fabsf(plain - loss) <= 1e-6f);
}

enum { T = 5, B = 3, V = 9, E = 3, H = 4, O = 2 };

/* A bidirectional one-layer GRU over token ids: the auxiliary loss's gradient
 * reaches the forward direction's parameters and the embedding, not the
 * reverse direction's. */
static void check_aux_forward_only(void)
{
    recur_seqnet_config c = recur_seqnet_config_default(RECUR_GRU, E, H, O);
    c.rnn.bidirectional = 1, c.vocab_size = V, c.pool = RECUR_POOL_MEAN;
    recur_seqnet *net = NULL;
    recur_linear *head = NULL;
    CHECK_OK(recur_seqnet_create(&c, 5, &net));
    CHECK_OK(recur_linear_create(H, V, 1, 6, &head));
    if (!net || !head)
        return;
    int64_t ids[T * B];
    const int64_t lengths[B] = {5, 3, 2};
    for (int k = 0; k < T * B; k++)
        ids[k] = 2 + (k * 5) % (V - 2);
    const float *result;
    CHECK_OK(recur_seqnet_forward_ids(net, T, B, ids, lengths, &result));
    static float grad_outputs[T * B * 2 * H];
    const float grad_result[B * O] = {0};
    cls_aux_batch ab = {T, B, H, 2, recur_seqnet_outputs(net), ids, lengths};
    float loss = NAN;
    recur_linear_zero_grad(head);
    CHECK_OK(cls_aux_loss(head, V, &ab, 1.0f, &loss, grad_outputs));
    CHECK(isfinite(loss) && loss > 0);
    double forward_half = 0, reverse_half = 0;
    for (int r = 0; r < T * B; r++)
        for (int f = 0; f < 2 * H; f++)
            *(f < H ? &forward_half : &reverse_half) += fabs(grad_outputs[r * 2 * H + f]);
    CHECK(forward_half > 0 && reverse_half == 0);
    recur_seqnet_zero_grad(net);
    CHECK_OK(recur_seqnet_backward_outputs(net, grad_result, grad_outputs, NULL));
    int reverse_params = 0;
    for (int i = 0; i < recur_seqnet_param_count(net); i++) {
        recur_param p;
        CHECK_OK(recur_seqnet_param(net, i, &p));
        double sum = 0;
        for (size_t k = 0; k < p.numel; k++)
            sum += fabs(p.grad[k]);
        const int reverse = strstr(p.name, "_reverse") != NULL;
        const int head_param = !strncmp(p.name, "head.", 5);
        reverse_params += reverse;
        if (reverse ? sum != 0 : !head_param && sum == 0)
            fprintf(stderr, "aux loss: %s has gradient %.3g\n", p.name, sum);
        CHECK(reverse ? sum == 0 : head_param || sum > 0);
    }
    CHECK(reverse_params == 4);
    recur_linear_free(head);
    recur_seqnet_free(net);
}

int main(void)
{
    check_two_class_weights();
    check_aux_forward_only();
    return test_finish("test_classify_loss");
}
