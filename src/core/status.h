/* Status codes and the per-thread error message (internal). */
#ifndef RECUR_CORE_STATUS_H
#define RECUR_CORE_STATUS_H

#include "recur.h"

#if defined(__GNUC__)
#define RECUR_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define RECUR_PRINTF(a, b)
#endif

/* Records a one-line message for this thread and returns `status`. */
recur_status recur_fail(recur_status status, const char *fmt, ...) RECUR_PRINTF(2, 3);

/* Prepends "prefix: " to this thread's message and returns `status`. */
recur_status recur_fail_prefixed(recur_status status, const char *prefix);

/* Propagates a failing status from a call. */
#define RECUR_TRY(expr)                        \
    do {                                       \
        recur_status recur_try_ = (expr);      \
        if (recur_try_ != RECUR_OK)            \
            return recur_try_;                 \
    } while (0)

#endif
