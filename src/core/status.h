/* Status codes and the per-thread error message (internal). */
#ifndef RECUR_CORE_STATUS_H
#define RECUR_CORE_STATUS_H

#include "recur.h"

#if defined(__GNUC__)
#define RECUR_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define RECUR_PRINTF(a, b)
#endif

/* Records a one-line message for this thread (printf-style). */
void recur_set_error(const char *fmt, ...) RECUR_PRINTF(1, 2);

/* Records a one-line message for this thread and evaluates to `status`:
 * recur_fail(status, fmt, ...). A macro so that the caller, and static
 * analysis, see the status each failing path returns. */
#define recur_fail(status, ...) (recur_set_error(__VA_ARGS__), (recur_status)(status))

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
