/* A tiny test harness: CHECK records failures and keeps going; main returns
 * test_finish(), which prints a summary and the exit status. */
#ifndef RECUR_TEST_UTIL_H
#define RECUR_TEST_UTIL_H

#include <stddef.h>
#include <stdio.h>

#include "recur.h"

extern int test_checks;
extern int test_failures;

#define CHECK(cond)                                                              \
    do {                                                                         \
        test_checks++;                                                           \
        if (!(cond)) {                                                           \
            test_failures++;                                                     \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
        }                                                                        \
    } while (0)

/* Checks that a call returned `expected`, printing the library's message if not. */
#define CHECK_STATUS(call, expected)                                             \
    do {                                                                         \
        recur_status check_st_ = (call);                                         \
        test_checks++;                                                           \
        if (check_st_ != (expected)) {                                           \
            test_failures++;                                                     \
            fprintf(stderr, "%s:%d: %s returned %s (expected %s): %s\n", __FILE__, \
                    __LINE__, #call, recur_status_name(check_st_),               \
                    recur_status_name(expected), recur_last_error());            \
        }                                                                        \
    } while (0)

#define CHECK_OK(call) CHECK_STATUS(call, RECUR_OK)

/* max |a - b| / max(max |b|, floor) over n values. */
double test_rel_error(const float *a, const float *b, size_t n, double floor);
/* Prints "name: N checks, N failed" and returns the exit status. */
int test_finish(const char *name);

/* The grad-ready reports of backward passes (a recur_grad_ready_fn with
 * the log as its context), in order; calls counts past the 64 kept. */
typedef struct test_ready_log {
    int first[64], count[64], calls;
} test_ready_log;
void test_log_ready(void *context, int first, int count);

/* OpenBLAS set to one thread, as recur's teams need to split products (the
 * tool sets it so): returns its thread count before, for
 * test_blas_threads_restore, or -1, printing that `what` is skipped, when
 * the BLAS is not OpenBLAS. */
int test_blas_one_thread(const char *what);
void test_blas_threads_restore(int before);

#endif
