/* Status names and the per-thread message of the last failure. */
#include "core/status.h"

#include <stdarg.h>
#include <stdio.h>

/* One message per thread: the only thread-local state of the library. */
static _Thread_local char last_error_message[512];

const char *recur_version(void) { return RECUR_VERSION_STRING; }

const char *recur_status_name(recur_status status)
{
    switch (status) {
    case RECUR_OK: return "RECUR_OK";
    case RECUR_E_INVALID: return "RECUR_E_INVALID";
    case RECUR_E_NOMEM: return "RECUR_E_NOMEM";
    case RECUR_E_IO: return "RECUR_E_IO";
    case RECUR_E_FORMAT: return "RECUR_E_FORMAT";
    case RECUR_E_SHAPE: return "RECUR_E_SHAPE";
    case RECUR_E_STATE: return "RECUR_E_STATE";
    case RECUR_E_DEVICE: return "RECUR_E_DEVICE";
    }
    return "RECUR_E_UNKNOWN";
}

const char *recur_last_error(void) { return last_error_message; }

void recur_set_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error_message, sizeof last_error_message, fmt, ap);
    va_end(ap);
}

recur_status recur_fail_prefixed(recur_status status, const char *prefix)
{
    char message[sizeof last_error_message];
    snprintf(message, sizeof message, "%s", last_error_message);
    /* Longer messages are cut at the buffer's end. */
    if (snprintf(last_error_message, sizeof last_error_message, "%s: %s", prefix, message) < 0)
        last_error_message[0] = '\0';
    return status;
}
