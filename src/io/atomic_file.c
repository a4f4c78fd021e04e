/* Atomic file writes: a temporary file beside the target, renamed over it. */
#define _POSIX_C_SOURCE 200809L
#include "io/atomic_file.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/status.h"

/* Writes the temporary file tmp_path (an mkstemp template) and renames it
 * over path; removes it on any failure. Returns 0 or errno; *step names the
 * step that failed. */
static int write_and_rename(char *tmp_path, const char *path, recur_file_contents contents,
                            void *context, const char **step)
{
    *step = "cannot create a temporary file beside it";
    int fd = mkstemp(tmp_path);
    if (fd < 0)
        return errno;
    fchmod(fd, 0644); /* mkstemp creates 0600; model files are usually shared */
    FILE *file = fdopen(fd, "wb");
    if (!file) {
        int error = errno;
        close(fd);
        unlink(tmp_path);
        return error;
    }
    errno = 0;
    *step = "write error";
    int error = contents(file, context);
    if (!error && fflush(file) != 0)
        error = errno ? errno : EIO;
    if (!error && fsync(fd) != 0)
        error = errno;
    if (fclose(file) != 0 && !error)
        error = errno ? errno : EIO;
    if (!error && rename(tmp_path, path) != 0) {
        *step = "cannot rename the temporary file over it";
        error = errno;
    }
    if (error)
        unlink(tmp_path);
    return error;
}

recur_status recur_write_file_atomic(const char *path, recur_file_contents contents,
                                     void *context)
{
    size_t tmp_size = strlen(path) + sizeof ".tmp.XXXXXX";
    char *tmp_path = malloc(tmp_size);
    if (!tmp_path)
        return recur_fail(RECUR_E_NOMEM, "%s: out of memory", path);
    snprintf(tmp_path, tmp_size, "%s.tmp.XXXXXX", path);
    const char *step = "";
    int error = write_and_rename(tmp_path, path, contents, context, &step);
    free(tmp_path);
    if (error)
        return recur_fail(RECUR_E_IO, "%s: %s: %s", path, step, strerror(error));
    return RECUR_OK;
}
