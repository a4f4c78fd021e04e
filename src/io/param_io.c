/* Parameters in safetensors files. */
#include "io/param_io.h"

#include "core/status.h"

recur_status recur_param_read(const recur_st_file *file, const recur_param *p)
{
    const char *label = recur_st_label(file);
    const recur_tensor_view *t = recur_st_find(file, p->name);
    if (!t || t->ndim != p->ndim || t->shape[0] != p->shape[0] ||
        (p->ndim == 2 && t->shape[1] != p->shape[1]))
        return recur_fail(RECUR_E_SHAPE, "%s: tensor '%s' is missing or has the wrong shape",
                          label, p->name);
    recur_status st = recur_tensor_to_f32(t, p->value, p->numel);
    return st == RECUR_OK ? RECUR_OK : recur_fail_prefixed(st, label);
}

recur_status recur_param_write(recur_st_writer *writer, const recur_param *p)
{
    return recur_st_writer_add(writer, p->name, RECUR_F32, p->ndim, p->shape, p->value);
}
