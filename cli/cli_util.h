/* Helpers shared by the subcommands: error lines, exit codes, tensor reading. */
#ifndef RECUR_CLI_UTIL_H
#define RECUR_CLI_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "recur.h"

/* Returns a failing recur_status from the enclosing function. */
#define CLI_TRY(expr)                      \
    do {                                   \
        recur_status cli_try_ = (expr);    \
        if (cli_try_ != RECUR_OK)          \
            return cli_try_;               \
    } while (0)

enum { CLI_EXIT_OK = 0, CLI_EXIT_FAILURE = 1, CLI_EXIT_BAD_INPUT = 2 };

/* Prints "recur: error: MESSAGE" on stderr and returns CLI_EXIT_BAD_INPUT. */
int cli_error(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;

/* Prints the library's message for a failed call; returns the exit status
 * (CLI_EXIT_FAILURE for out-of-memory, CLI_EXIT_BAD_INPUT otherwise). */
int cli_status_error(recur_status status);

/* RECUR_E_NOMEM with the message "WHAT: out of memory" recorded (as the
 * library's failing calls record theirs), for cli_status_error to print. */
recur_status cli_out_of_memory(const char *what);

/* The tool's threads (cli/threads.c): OpenBLAS set to one thread, recur's
 * team (RECUR_NUM_THREADS, set here) to `threads`, or when threads < 1 to
 * what the user set in RECUR_NUM_THREADS, else to OpenBLAS's thread count at
 * start (OPENBLAS_NUM_THREADS or all cores) divided among the processes that
 * mpirun started on this machine (OMPI_COMM_WORLD_LOCAL_SIZE), at least 1.
 * Returns the team's size. */
int cli_threads_init(int threads);
/* OpenBLAS's thread count (nothing without OpenBLAS). */
void cli_blas_threads(int threads);

/* Formats a shape as "[2, 3, 4]". */
void cli_format_shape(const int64_t *shape, int ndim, char *buf, size_t size);

/* Checks that every tensor of `file` is one of `allowed` (NULL-terminated). */
int cli_check_tensor_names(const recur_st_file *file, const char *const *allowed);

/* Reads tensor `name` as float32 if it has exactly `expected` shape; returns
 * 0 and sets *out (malloc'd) or NULL when absent and optional. */
int cli_read_f32(const recur_st_file *file, const char *name, int ndim, const int64_t *expected,
                 int required, float **out);

/* Parses a flag's value; on failure prints the error and returns nonzero. */
/* "cpu" or "cuda" (exit status 2 with a message otherwise, and for cuda
 * when no GPU is usable: the message says why). */
int cli_parse_device(const char *flag, const char *text, recur_device *out);
int cli_parse_int(const char *flag, const char *text, long min, long max, long *out);
int cli_parse_float(const char *flag, const char *text, double min, double max, double *out);

/* Refuses (one line, exit status 2) an empty output path, and one that names
 * the same file as an input (the same device and inode: other spellings and
 * hard links too), so that writing the output cannot replace what it was
 * made from. An output that does not exist yet, or an input that cannot be
 * stat'ed, passes. */
int cli_check_output_not_input(const char *output, const char *input);

/* Reads a whole file (malloc'd, *size bytes). Prints the error on failure. */
int cli_read_file(const char *path, unsigned char **data, size_t *size);

/* Opens a language model made by recur train (a model file or a checkpoint)
 * with its byte vocabulary. Returns 0, or an exit status after printing the
 * error; on success the caller frees *lm and closes *file. */
int cli_load_lm(const char *path, recur_st_file **file, recur_lm **lm, recur_byte_vocab *vocab);

/* Writes text as a JSON string (quotes, escapes; bytes >= 0x80 as they are). */
void cli_json_string(FILE *f, const char *text);
/* Writes text as a CSV field, quoted when it holds a comma, quote or line break. */
void cli_csv_field(FILE *f, const char *text);

#endif
