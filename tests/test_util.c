#include "test_util.h"

#include <math.h>

int test_checks;
int test_failures;

double test_rel_error(const float *a, const float *b, size_t n, double floor)
{
    double max_diff = 0.0, max_ref = floor;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (!(d <= max_diff)) /* also catches NaN */
            max_diff = isnan(d) ? INFINITY : d;
        if (fabs((double)b[i]) > max_ref)
            max_ref = fabs((double)b[i]);
    }
    return max_diff / max_ref;
}

int test_finish(const char *name)
{
    printf("%s: %d passed, %d failed\n", name, test_checks - test_failures, test_failures);
    return test_failures ? 1 : 0;
}

void test_log_ready(void *context, int first, int count)
{
    test_ready_log *log = context;
    if (log->calls < 64)
        log->first[log->calls] = first, log->count[log->calls] = count;
    log->calls++;
}

/* OpenBLAS's thread controls (weak: other CBLAS libraries lack them). */
int openblas_get_num_threads(void) __attribute__((weak));
void openblas_set_num_threads(int num_threads) __attribute__((weak));

int test_blas_one_thread(const char *what)
{
    if (!openblas_set_num_threads || !openblas_get_num_threads) {
        printf("%s: skipped (the BLAS is not OpenBLAS: products are never split)\n", what);
        return -1;
    }
    const int before = openblas_get_num_threads();
    openblas_set_num_threads(1);
    return before;
}

void test_blas_threads_restore(int before)
{
    if (before >= 1 && openblas_set_num_threads)
        openblas_set_num_threads(before);
}
