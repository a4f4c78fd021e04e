/* Files written atomically: nothing a user wrote is ever half-overwritten.
 * Internal; also used by the CLI (recur plot). */
#ifndef RECUR_IO_ATOMIC_FILE_H
#define RECUR_IO_ATOMIC_FILE_H

#include <stdio.h>

#include "recur.h"

/* Writes the contents of a file to `file`; returns 0 or an errno value
 * (EIO when the stream gives none). */
typedef int (*recur_file_contents)(FILE *file, void *context);

/* Writes PATH.tmp.XXXXXX beside PATH (mode 0644) with `contents`, flushes
 * and fsyncs it and renames it over PATH; on any failure the temporary file
 * is removed and PATH is left as it was. RECUR_E_IO "PATH: <step>: <error>"
 * or RECUR_E_NOMEM. */
recur_status recur_write_file_atomic(const char *path, recur_file_contents contents,
                                     void *context);

#endif
