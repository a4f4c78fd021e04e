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

/* A recurrent stack's configuration from a file's metadata (the keys
 * recur_rnn_write sets; sizes default to what "<prefix>weight_ih_l0" says):
 * every model that holds a stack reads its cell and regularization so. */
recur_status rnn_config_read(const recur_st_file *file, const char *prefix,
                             recur_rnn_config *config);

#endif
