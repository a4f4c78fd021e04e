/* Trains a sequence classifier from arrays in memory and reports its accuracy.
 * The task (synthetic): a noisy sine wave of random phase and length 8..24
 * steps; its class is its frequency band (slow, medium, fast).
 * The model: recur_seqnet = GRU -> last state -> Linear to 3 logits, trained
 * with cross-entropy and Adam on variable-length, time-major batches.
 * usage: train_classifier [STEPS]   (default 200; prints the test accuracy) */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include <recur.h>

#define CLASSES 3
#define MAX_LEN 24
#define MIN_LEN 8
#define BATCH 32
#define HIDDEN 24

static const float class_frequency[CLASSES] = {0.25f, 0.7f, 1.4f}; /* radians per step */

/* A small generator for the data (xorshift64*), uniform in [0, 1). */
static uint64_t rng_state = 0x9e3779b97f4a7c15u;
static float uniform(void)
{
    rng_state ^= rng_state >> 12, rng_state ^= rng_state << 25, rng_state ^= rng_state >> 27;
    return (float)((rng_state * 0x2545f4914f6cdd1du) >> 40) / (float)(1 << 24);
}

/* A batch of `batch` random examples: inputs [MAX_LEN, batch, 1] time-major,
 * zero past each length; lengths [batch]; labels [batch]. */
static void make_batch(int batch, float *inputs, int64_t *lengths, int64_t *labels)
{
    for (int b = 0; b < batch; b++) {
        int label = (int)(uniform() * CLASSES) % CLASSES;
        int length = MIN_LEN + (int)(uniform() * (MAX_LEN - MIN_LEN + 1)) % (MAX_LEN - MIN_LEN + 1);
        float phase = 6.2831853f * uniform();
        float frequency = class_frequency[label] * (0.85f + 0.3f * uniform());
        for (int t = 0; t < MAX_LEN; t++)
            inputs[t * batch + b] =
                t < length ? sinf(frequency * (float)t + phase) + 0.2f * (uniform() - 0.5f) : 0.0f;
        lengths[b] = length;
        labels[b] = label;
    }
}

static int fail(const char *what)
{
    fprintf(stderr, "train_classifier: %s: %s\n", what, recur_last_error());
    return 1;
}

int main(int argc, char **argv)
{
    int steps = argc > 1 ? atoi(argv[1]) : 200;
    if (steps < 0) {
        fprintf(stderr, "usage: train_classifier [STEPS]\n");
        return 2;
    }

    recur_seqnet_config config = recur_seqnet_config_default(RECUR_GRU, 1, HIDDEN, CLASSES);
    recur_seqnet *net;
    if (recur_seqnet_create(&config, 7, &net) != RECUR_OK)
        return fail("create");

    /* Adam over every parameter of the network (embedding none, rnn.*, head.*). */
    recur_optimizer_config adam = recur_optimizer_config_default(RECUR_ADAM);
    adam.lr = 0.01f;
    recur_optimizer *optimizer;
    if (recur_optimizer_create(&adam, &optimizer) != RECUR_OK)
        return fail("optimizer");
    for (int i = 0; i < recur_seqnet_param_count(net); i++) {
        recur_param p;
        if (recur_seqnet_param(net, i, &p) != RECUR_OK ||
            recur_optimizer_add(optimizer, p.value, p.grad, p.numel) != RECUR_OK)
            return fail("register parameters");
    }

    static float inputs[MAX_LEN * BATCH], grad_logits[BATCH * CLASSES];
    int64_t lengths[BATCH], labels[BATCH];
    recur_seqnet_set_training(net, 1);
    for (int step = 1; step <= steps; step++) {
        make_batch(BATCH, inputs, lengths, labels);
        const float *logits;
        float loss;
        recur_seqnet_zero_grad(net);
        if (recur_seqnet_forward(net, MAX_LEN, BATCH, inputs, lengths, &logits) != RECUR_OK ||
            recur_cross_entropy(BATCH, CLASSES, logits, labels, NULL, &loss, grad_logits) !=
                RECUR_OK ||
            recur_seqnet_backward(net, grad_logits, NULL) != RECUR_OK ||
            recur_optimizer_step(optimizer) != RECUR_OK)
            return fail("training step");
        if (step % 50 == 0 || step == 1)
            printf("step %4d  loss %.4f\n", step, loss);
    }

    /* Accuracy on fresh examples, in eval mode. */
    recur_seqnet_set_training(net, 0);
    int correct = 0, total = 0;
    for (int round = 0; round < 10; round++) {
        make_batch(BATCH, inputs, lengths, labels);
        const float *logits;
        if (recur_seqnet_forward(net, MAX_LEN, BATCH, inputs, lengths, &logits) != RECUR_OK)
            return fail("evaluation");
        for (int b = 0; b < BATCH; b++, total++) {
            int best = 0;
            for (int c = 1; c < CLASSES; c++)
                if (logits[b * CLASSES + c] > logits[b * CLASSES + best])
                    best = c;
            correct += best == labels[b];
        }
    }
    printf("test accuracy %.3f (%d of %d; chance %.3f)\n", (double)correct / total, correct, total,
           1.0 / CLASSES);
    recur_optimizer_free(optimizer);
    recur_seqnet_free(net);
    return 0;
}
