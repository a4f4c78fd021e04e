/* TensorBoard event files: a sequence of TFRecords, each
 *   uint64 LE length, uint32 LE masked crc32c(length bytes),
 *   data (a serialized Event), uint32 LE masked crc32c(data),
 * where masked(c) = ((c >> 15) | (c << 17)) + 0xa282ead8. The first Event
 * holds file_version "brain.Event:2"; each scalar is an Event with a Summary
 * of one simple_value. The messages come from tb_event.proto, compiled by
 * protoc-c at build time. Records go through stdio's buffer; flush or close
 * writes them out. */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/status.h"
#include "io/crc32c.h"
#include "tb_event.pb-c.h"

#define TB_FILE_VERSION "brain.Event:2"
#define TB_MAX_NAME_TRIES 100 /* events.out.tfevents...recur, then ....1.recur, ... */

struct recur_tb_writer {
    FILE *file;
    char *path;
    uint8_t *buffer; /* reused for packing */
    size_t capacity;
};

static double wall_time_now(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_REALTIME, &ts) != 0)
        return (double)time(NULL);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void put_le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put_le64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* mkdir -p: creates dir and its missing parents. */
static recur_status make_dirs(const char *dir)
{
    size_t n = strlen(dir);
    char *p = malloc(n + 1);
    if (!p)
        return recur_fail(RECUR_E_NOMEM, "%s: out of memory", dir);
    memcpy(p, dir, n + 1);
    while (n > 1 && p[n - 1] == '/') /* "runs/a/" -> "runs/a" */
        p[--n] = '\0';
    recur_status status = RECUR_OK;
    for (char *s = p + 1; status == RECUR_OK; s++) {
        int last = *s == '\0';
        if (*s != '/' && !last)
            continue;
        *s = '\0';
        struct stat st;
        if (mkdir(p, 0777) != 0 && errno != EEXIST)
            status = recur_fail(RECUR_E_IO, "%s: cannot create directory %s: %s", dir, p,
                                strerror(errno));
        else if (stat(p, &st) != 0)
            status = recur_fail(RECUR_E_IO, "%s: cannot stat %s: %s", dir, p, strerror(errno));
        else if (!S_ISDIR(st.st_mode))
            status = recur_fail(RECUR_E_IO, "%s: %s is not a directory", dir, p);
        if (last)
            break;
        *s = '/';
    }
    free(p);
    return status;
}

/* Frames `size` bytes of the writer's buffer as one TFRecord. */
static recur_status write_record(recur_tb_writer *w, size_t size)
{
    uint8_t header[12], footer[4];
    put_le64(header, (uint64_t)size);
    put_le32(header + 8, recur_crc32c_mask(recur_crc32c(header, 8)));
    put_le32(footer, recur_crc32c_mask(recur_crc32c(w->buffer, size)));
    errno = 0;
    if (fwrite(header, 1, sizeof header, w->file) != sizeof header ||
        (size && fwrite(w->buffer, 1, size, w->file) != size) ||
        fwrite(footer, 1, sizeof footer, w->file) != sizeof footer)
        return recur_fail(RECUR_E_IO, "%s: write error: %s", w->path,
                          errno ? strerror(errno) : "short write");
    return RECUR_OK;
}

static recur_status write_event(recur_tb_writer *w, const Recur__Tb__Event *event)
{
    size_t size = recur__tb__event__get_packed_size(event);
    if (size > w->capacity) {
        size_t capacity = size < 256 ? 256 : size;
        uint8_t *grown = realloc(w->buffer, capacity);
        if (!grown)
            return recur_fail(RECUR_E_NOMEM, "%s: out of memory for an event of %zu bytes",
                              w->path, size);
        w->buffer = grown;
        w->capacity = capacity;
    }
    size_t packed = recur__tb__event__pack(event, w->buffer);
    if (packed != size)
        return recur_fail(RECUR_E_FORMAT, "%s: event packed to %zu bytes, expected %zu",
                          w->path, packed, size);
    return write_record(w, size);
}

/* Opens a new file in dir exclusively: the TensorBoard name, with a counter
 * before ".recur" if a writer of this process opened one this second. */
static recur_status open_event_file(recur_tb_writer *w, const char *dir)
{
    char host[256];
    if (gethostname(host, sizeof host) != 0 || !host[0])
        snprintf(host, sizeof host, "localhost");
    host[sizeof host - 1] = '\0';
    for (char *c = host; *c; c++) /* keep the name one path component */
        if (*c == '/')
            *c = '_';
    long long seconds = (long long)time(NULL);
    long pid = (long)getpid();
    const char *sep = dir[strlen(dir) - 1] == '/' ? "" : "/";
    size_t size = strlen(dir) + strlen(host) + 96;
    w->path = malloc(size);
    if (!w->path)
        return recur_fail(RECUR_E_NOMEM, "%s: out of memory", dir);
    for (int attempt = 0; attempt < TB_MAX_NAME_TRIES; attempt++) {
        if (attempt == 0)
            snprintf(w->path, size, "%s%sevents.out.tfevents.%lld.%s.%ld.recur", dir, sep,
                     seconds, host, pid);
        else
            snprintf(w->path, size, "%s%sevents.out.tfevents.%lld.%s.%ld.%d.recur", dir, sep,
                     seconds, host, pid, attempt);
        errno = 0;
        w->file = fopen(w->path, "wbx");
        if (w->file)
            return RECUR_OK;
        if (errno != EEXIST)
            return recur_fail(RECUR_E_IO, "%s: cannot create: %s", w->path,
                              errno ? strerror(errno) : "unknown error");
    }
    return recur_fail(RECUR_E_IO, "%s: cannot create: too many event files this second",
                      w->path);
}

recur_status recur_tb_open(const char *dir, recur_tb_writer **out)
{
    if (!out)
        return recur_fail(RECUR_E_INVALID, "recur_tb_open: out is NULL");
    *out = NULL;
    if (!dir || !dir[0])
        return recur_fail(RECUR_E_INVALID, "recur_tb_open: the directory name is empty");
    RECUR_TRY(make_dirs(dir));
    recur_tb_writer *w = calloc(1, sizeof *w);
    if (!w)
        return recur_fail(RECUR_E_NOMEM, "%s: out of memory", dir);
    recur_status status = open_event_file(w, dir);
    if (status == RECUR_OK) {
        Recur__Tb__Event event = RECUR__TB__EVENT__INIT;
        event.wall_time = wall_time_now();
        event.what_case = RECUR__TB__EVENT__WHAT_FILE_VERSION;
        event.file_version = (char *)TB_FILE_VERSION;
        status = write_event(w, &event);
    }
    if (status == RECUR_OK)
        status = recur_tb_flush(w); /* the file is valid from the start */
    if (status != RECUR_OK) {
        if (w->file)
            remove(w->path);
        recur_tb_close(w);
        return status;
    }
    *out = w;
    return RECUR_OK;
}

recur_status recur_tb_add_scalar(recur_tb_writer *writer, const char *tag, int64_t step,
                                 float value)
{
    if (!writer)
        return recur_fail(RECUR_E_INVALID, "recur_tb_add_scalar: writer is NULL");
    if (!tag || !tag[0])
        return recur_fail(RECUR_E_INVALID, "%s: a scalar needs a non-empty tag", writer->path);
    Recur__Tb__Summary__Value v = RECUR__TB__SUMMARY__VALUE__INIT;
    v.tag = (char *)tag;
    v.value_case = RECUR__TB__SUMMARY__VALUE__VALUE_SIMPLE_VALUE;
    v.simple_value = value;
    Recur__Tb__Summary__Value *values[1] = {&v};
    Recur__Tb__Summary summary = RECUR__TB__SUMMARY__INIT;
    summary.n_value = 1;
    summary.value = values;
    Recur__Tb__Event event = RECUR__TB__EVENT__INIT;
    event.wall_time = wall_time_now();
    event.step = step;
    event.what_case = RECUR__TB__EVENT__WHAT_SUMMARY;
    event.summary = &summary;
    return write_event(writer, &event);
}

recur_status recur_tb_flush(recur_tb_writer *writer)
{
    if (!writer)
        return recur_fail(RECUR_E_INVALID, "recur_tb_flush: writer is NULL");
    errno = 0;
    if (fflush(writer->file) != 0 || ferror(writer->file))
        return recur_fail(RECUR_E_IO, "%s: write error: %s", writer->path,
                          errno ? strerror(errno) : "stream error");
    return RECUR_OK;
}

void recur_tb_close(recur_tb_writer *writer)
{
    if (!writer)
        return;
    if (writer->file)
        fclose(writer->file);
    free(writer->path);
    free(writer->buffer);
    free(writer);
}

const char *recur_tb_path(const recur_tb_writer *writer)
{
    return writer ? writer->path : NULL;
}
