/* recur classify train's losses (cli/classify_loss.c): two classes with
 * class weights are PyTorch's weighted mean, sum_i w[y_i] l_i / sum_i w[y_i]
 * (the value of CrossEntropyLoss(weight=w) on the logits [0, z]). */
#include <math.h>
#include <stdlib.h>

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

int main(void)
{
    check_two_class_weights();
    return test_finish("test_classify_loss");
}
