/* libFuzzer target: the command-line parser (cli/options.c) with the table
 * of `recur train` (the largest), and the device and number parsers. The
 * input is split at NUL bytes into argv. Errors go to stderr (run with
 * -close_fd_mask=2, as scripts/fuzz.sh does). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cli_util.h"
#include "train_options.h"

enum { MAX_ARGS = 32 };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *copy = malloc(size + 1);
    if (!copy)
        return 0;
    memcpy(copy, data, size);
    copy[size] = '\0';
    char *argv[MAX_ARGS + 2];
    int argc = 0;
    argv[argc++] = "train";
    for (size_t i = 0; i < size && argc <= MAX_ARGS; i++) {
        argv[argc++] = copy + i;
        i += strlen(copy + i);
    }
    argv[argc] = NULL;
    train_options o;
    train_options_parse(argc, argv, &o);
    long n;
    double x;
    recur_device device;
    if (argc > 1) {
        cli_parse_int("--n", argv[1], -100, 100, &n);
        cli_parse_float("--x", argv[1], -1e9, 1e9, &x);
        cli_parse_device("--device", argv[1], &device);
    }
    free(copy);
    return 0;
}
