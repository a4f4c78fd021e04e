#define _POSIX_C_SOURCE 200809L
#include "cli_util.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/status.h"

int cli_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("recur: error: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return CLI_EXIT_BAD_INPUT;
}

int cli_status_error(recur_status status)
{
    /* CLI code returns RECUR_E_NOMEM from a failed malloc without a message */
    const char *message = recur_last_error();
    if (!message[0])
        message = status == RECUR_E_NOMEM ? "out of memory" : recur_status_name(status);
    cli_error("%s", message);
    return status == RECUR_E_NOMEM || status == RECUR_E_DEVICE ? CLI_EXIT_FAILURE
                                                              : CLI_EXIT_BAD_INPUT;
}

recur_status cli_out_of_memory(const char *what)
{
    return recur_fail(RECUR_E_NOMEM, "%s: out of memory", what);
}

void cli_format_shape(const int64_t *shape, int ndim, char *buf, size_t size)
{
    size_t used = (size_t)snprintf(buf, size, "[");
    for (int d = 0; d < ndim && used < size; d++)
        used += (size_t)snprintf(buf + used, size - used, "%s%lld", d ? ", " : "",
                                 (long long)shape[d]);
    if (used < size)
        snprintf(buf + used, size - used, "]");
}

int cli_check_tensor_names(const recur_st_file *file, const char *const *allowed)
{
    for (size_t i = 0; i < recur_st_count(file); i++) {
        const char *name = recur_st_tensor(file, i)->name;
        int known = 0;
        for (const char *const *a = allowed; *a; a++)
            known |= strcmp(name, *a) == 0;
        if (!known) {
            char list[256] = "";
            for (const char *const *a = allowed; *a; a++) {
                strncat(list, a == allowed ? "" : ", ", sizeof list - strlen(list) - 1);
                strncat(list, *a, sizeof list - strlen(list) - 1);
            }
            return cli_error("%s: unexpected tensor '%.80s' (expected %s)", recur_st_label(file),
                             name, list);
        }
    }
    return 0;
}

int cli_read_f32(const recur_st_file *file, const char *name, int ndim, const int64_t *expected,
                 int required, float **out)
{
    *out = NULL;
    const recur_tensor_view *t = recur_st_find(file, name);
    if (!t) {
        if (required)
            return cli_error("%s: tensor '%s' is missing", recur_st_label(file), name);
        return 0;
    }
    int same = t->ndim == ndim;
    for (int d = 0; same && d < ndim; d++)
        same = t->shape[d] == expected[d];
    if (!same) {
        char want[128], got[128];
        cli_format_shape(expected, ndim, want, sizeof want);
        cli_format_shape(t->shape, t->ndim, got, sizeof got);
        return cli_error("%s: tensor '%s' has shape %s, expected %s", recur_st_label(file), name,
                         got, want);
    }
    float *data = malloc(t->numel ? t->numel * sizeof(float) : 1);
    if (!data)
        return cli_error("out of memory reading tensor '%s'", name);
    recur_status status = recur_tensor_to_f32(t, data, t->numel);
    if (status != RECUR_OK) {
        free(data);
        return cli_error("%s: %s", recur_st_label(file), recur_last_error());
    }
    *out = data;
    return 0;
}

int cli_parse_int(const char *flag, const char *text, long min, long max, long *out)
{
    char *end = NULL;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno || end == text || *end || v < min || v > max)
        return cli_error("%s: '%s' is not an integer in %ld..%ld", flag, text, min, max);
    *out = v;
    return 0;
}

int cli_parse_float(const char *flag, const char *text, double min, double max, double *out)
{
    char *end = NULL;
    errno = 0;
    double v = strtod(text, &end);
    if (errno || end == text || *end || !(v >= min && v <= max))
        return cli_error("%s: '%s' is not a number in [%g, %g]", flag, text, min, max);
    *out = v;
    return 0;
}

int cli_check_output_not_input(const char *output, const char *input)
{
    struct stat out_stat, in_stat;
    if (output && !output[0])
        return cli_error("the output file name is empty");
    if (!output || !input || stat(output, &out_stat) != 0 || stat(input, &in_stat) != 0)
        return 0;
    if (out_stat.st_dev != in_stat.st_dev || out_stat.st_ino != in_stat.st_ino)
        return 0;
    return cli_error("%s: the output is the input %s; choose another output file", output,
                     input);
}

int cli_read_file(const char *path, unsigned char **data, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return cli_error("%s: cannot open: %s", path, strerror(errno));
    size_t capacity = 1 << 16, used = 0;
    unsigned char *buf = malloc(capacity);
    while (buf) {
        used += fread(buf + used, 1, capacity - used, f);
        if (used < capacity)
            break;
        unsigned char *grown = realloc(buf, capacity * 2);
        if (!grown) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = grown;
        capacity *= 2;
    }
    int failed = ferror(f);
    fclose(f);
    if (!buf || failed) {
        free(buf);
        return cli_error("%s: %s", path, buf ? "read error" : "out of memory");
    }
    *data = buf;
    *size = used;
    return 0;
}

int cli_load_lm(const char *path, recur_st_file **file, recur_lm **lm, recur_byte_vocab *vocab)
{
    *file = NULL, *lm = NULL;
    recur_status st = recur_st_open(path, file);
    if (st == RECUR_OK)
        st = recur_lm_load(*file, lm);
    int rc = st == RECUR_OK ? 0 : cli_status_error(st);
    if (!rc && recur_byte_vocab_from_hex(recur_st_metadata(*file, "recur.vocab"), vocab) != RECUR_OK)
        rc = cli_error("%s: %s", path, recur_last_error());
    else if (!rc && vocab->size != recur_lm_get_config(*lm)->vocab_size)
        rc = cli_error("%s: the vocabulary does not match vocab_size", path);
    if (rc) {
        recur_lm_free(*lm);
        recur_st_close(*file);
        *file = NULL, *lm = NULL;
    }
    return rc;
}

void cli_json_string(FILE *f, const char *text)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p < 0x20)
            fprintf(f, "\\u%04x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

void cli_csv_field(FILE *f, const char *text)
{
    if (!strpbrk(text, ",\"\r\n")) {
        fputs(text, f);
        return;
    }
    fputc('"', f);
    for (const char *p = text; *p; p++) {
        if (*p == '"')
            fputc('"', f);
        fputc(*p, f);
    }
    fputc('"', f);
}

int cli_parse_device(const char *flag, const char *text, recur_device *out)
{
    if (!strcmp(text, "cpu")) {
        *out = RECUR_DEVICE_CPU;
        return 0;
    }
    if (strcmp(text, "cuda") != 0)
        return cli_error("%s: '%s' is not a device (cpu or cuda)", flag, text);
    if (recur_cuda_device_count() < 1) {
        char why[256];
        recur_cuda_describe(why, sizeof why);
        return cli_error("%s cuda: %s", flag, why);
    }
    *out = RECUR_DEVICE_CUDA;
    return 0;
}
