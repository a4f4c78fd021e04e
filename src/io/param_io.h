/* Parameters in safetensors files (internal): the loops every model's
 * save and load share. */
#ifndef RECUR_IO_PARAM_IO_H
#define RECUR_IO_PARAM_IO_H

#include "recur.h"

/* Reads tensor p->name of exactly p's shape (F32, F64, F16 or BF16) into
 * p->value; RECUR_E_SHAPE naming the file when missing or of another shape. */
recur_status recur_param_read(const recur_st_file *file, const recur_param *p);

/* Adds p (F32, under its own name) to a writer. */
recur_status recur_param_write(recur_st_writer *writer, const recur_param *p);

#endif
