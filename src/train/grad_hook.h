/* A model's grad-ready hook (recur_lm_set_grad_ready,
 * recur_seqnet_set_grad_ready) and the forwarding of its stack's layer
 * notifications, shifted to the model's parameter indexes. Internal. */
#ifndef RECUR_TRAIN_GRAD_HOOK_H
#define RECUR_TRAIN_GRAD_HOOK_H

#include "recur.h"

typedef struct grad_hook {
    recur_grad_ready_fn fn; /* NULL: none */
    void *context;
    int rnn_first; /* the model's index of the stack's first parameter */
} grad_hook;

static inline void grad_hook_from_rnn(void *hook, int first, int count)
{
    const grad_hook *h = hook;
    h->fn(h->context, h->rnn_first + first, count);
}

/* Sets the hook and routes the stack's notifications through it. */
static inline void grad_hook_set(grad_hook *h, recur_rnn *rnn, int rnn_first,
                                 recur_grad_ready_fn fn, void *context)
{
    h->fn = fn, h->context = context, h->rnn_first = rnn_first;
    recur_rnn_set_grad_ready(rnn, fn ? grad_hook_from_rnn : NULL, h);
}

/* Parameters [first, end) are final: tells the hook, when set (and the range
 * is not empty). */
static inline void grad_hook_ready(const grad_hook *h, int first, int end)
{
    if (h->fn && end > first)
        h->fn(h->context, first, end - first);
}

#endif
