/* A recurrent stack stored as a PyTorch state_dict in a safetensors file,
 * with its configuration in the metadata (see recur.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/status.h"

#define META_MODULE "recur.module"

/* Parses a non-negative decimal integer metadata value. */
static recur_status meta_int(const recur_st_file *file, const char *key, int fallback, int *out)
{
    const char *text = recur_st_metadata(file, key);
    if (!text) {
        *out = fallback;
        return RECUR_OK;
    }
    long value = 0;
    int digits = 0;
    for (const char *p = text; *p; p++, digits++) {
        if (*p < '0' || *p > '9' || value > 100000000)
            return recur_fail(RECUR_E_FORMAT,
                              "%s: metadata %s = '%.40s' is not a non-negative integer",
                              recur_st_label(file), key, text);
        value = value * 10 + (*p - '0');
    }
    if (digits == 0)
        return recur_fail(RECUR_E_FORMAT, "%s: metadata %s is empty", recur_st_label(file), key);
    *out = (int)value;
    return RECUR_OK;
}

/* Parses true/false (also True/False/1/0, as Python's str() writes them). */
static recur_status meta_bool(const recur_st_file *file, const char *key, int fallback, int *out)
{
    const char *text = recur_st_metadata(file, key);
    if (!text) {
        *out = fallback;
        return RECUR_OK;
    }
    if (!strcmp(text, "true") || !strcmp(text, "True") || !strcmp(text, "1"))
        *out = 1;
    else if (!strcmp(text, "false") || !strcmp(text, "False") || !strcmp(text, "0"))
        *out = 0;
    else
        return recur_fail(RECUR_E_FORMAT, "%s: metadata %s = '%.40s' is not true or false",
                          recur_st_label(file), key, text);
    return RECUR_OK;
}

/* Parses a finite decimal metadata value (range checks: recur_rnn_create). */
static recur_status meta_float(const recur_st_file *file, const char *key, float *out)
{
    const char *text = recur_st_metadata(file, key);
    if (!text) {
        *out = 0.0f;
        return RECUR_OK;
    }
    char *end = NULL;
    errno = 0;
    double value = strtod(text, &end);
    if (end == text || *end != '\0' || errno != 0 || !(value == value))
        return recur_fail(RECUR_E_FORMAT, "%s: metadata %s = '%.40s' is not a number",
                          recur_st_label(file), key, text);
    *out = (float)value;
    return RECUR_OK;
}

static recur_status read_cell(const recur_st_file *file, recur_cell *cell)
{
    const char *module = recur_st_metadata(file, META_MODULE);
    if (!module)
        return recur_fail(RECUR_E_FORMAT, "%s: metadata key '%s' (lstm, gru or rnn) is missing",
                          recur_st_label(file), META_MODULE);
    const char *nonlinearity = recur_st_metadata(file, "nonlinearity");
    if (nonlinearity && strcmp(module, "rnn") != 0)
        return recur_fail(RECUR_E_FORMAT, "%s: metadata nonlinearity is only valid for rnn",
                          recur_st_label(file));
    if (!strcmp(module, "lstm"))
        *cell = RECUR_LSTM;
    else if (!strcmp(module, "gru"))
        *cell = RECUR_GRU;
    else if (!strcmp(module, "rnn")) {
        if (!nonlinearity || !strcmp(nonlinearity, "tanh"))
            *cell = RECUR_RNN_TANH;
        else if (!strcmp(nonlinearity, "relu"))
            *cell = RECUR_RNN_RELU;
        else
            return recur_fail(RECUR_E_FORMAT,
                              "%s: metadata nonlinearity = '%.40s' is not tanh or relu",
                              recur_st_label(file), nonlinearity);
    } else
        return recur_fail(RECUR_E_FORMAT,
                          "%s: unknown module '%.40s' in metadata %s (expected lstm, gru or rnn)",
                          recur_st_label(file), module, META_MODULE);
    return RECUR_OK;
}

recur_status rnn_config_read(const recur_st_file *file, const char *prefix,
                             recur_rnn_config *config)
{
    recur_cell cell = RECUR_LSTM; /* set by read_cell */
    RECUR_TRY(read_cell(file, &cell));
    /* Sizes default to what weight_ih_l0 [G*H, I] says. */
    int gates = cell == RECUR_LSTM ? 4 : cell == RECUR_GRU ? 3 : 1;
    int input_guess = 0, hidden_guess = 0;
    char name[256];
    snprintf(name, sizeof name, "%sweight_ih_l0", prefix);
    const recur_tensor_view *w = recur_st_find(file, name);
    if (w && w->ndim == 2 && w->shape[1] <= 100000000 && w->shape[0] <= 100000000) {
        input_guess = (int)w->shape[1];
        hidden_guess = (int)(w->shape[0] / gates);
    }
    *config = recur_rnn_config_default(cell, 0, 0);
    RECUR_TRY(meta_int(file, "input_size", input_guess, &config->input_size));
    RECUR_TRY(meta_int(file, "hidden_size", hidden_guess, &config->hidden_size));
    RECUR_TRY(meta_int(file, "num_layers", 1, &config->num_layers));
    RECUR_TRY(meta_bool(file, "bias", 1, &config->bias));
    RECUR_TRY(meta_bool(file, "batch_first", 0, &config->batch_first));
    RECUR_TRY(meta_bool(file, "bidirectional", 0, &config->bidirectional));
    RECUR_TRY(meta_int(file, "proj_size", 0, &config->proj_size));
    if (config->proj_size && cell != RECUR_LSTM)
        return recur_fail(RECUR_E_FORMAT, "%s: proj_size is only valid for lstm",
                          recur_st_label(file));
    RECUR_TRY(meta_float(file, "dropout", &config->dropout));
    RECUR_TRY(meta_float(file, "recurrent_dropout", &config->recurrent_dropout));
    RECUR_TRY(meta_float(file, "zoneout", &config->zoneout));
    RECUR_TRY(meta_bool(file, "layer_norm", 0, &config->layer_norm));
    return RECUR_OK;
}

/* Loads every parameter from "<prefix><name>"; strict: no other tensor may exist. */
static recur_status load_parameters(const recur_st_file *file, const char *prefix, int strict,
                                    recur_rnn *rnn)
{
    const char *label = recur_st_label(file);
    int count = recur_rnn_param_count(rnn);
    for (int i = 0; i < count; i++) {
        recur_param p;
        RECUR_TRY(recur_rnn_param(rnn, i, &p));
        char name[256];
        snprintf(name, sizeof name, "%s%s", prefix, p.name);
        const recur_tensor_view *t = recur_st_find(file, name);
        if (!t)
            return recur_fail(RECUR_E_SHAPE, "%s: tensor '%s' is missing", label, name);
        int same = t->ndim == p.ndim && t->shape[0] == p.shape[0] &&
                   (p.ndim == 1 || t->shape[1] == p.shape[1]);
        if (!same) {
            char expected[64], got[96] = "";
            if (p.ndim == 1)
                snprintf(expected, sizeof expected, "[%lld]", (long long)p.shape[0]);
            else
                snprintf(expected, sizeof expected, "[%lld, %lld]", (long long)p.shape[0],
                         (long long)p.shape[1]);
            size_t used = 0;
            for (int d = 0; d < t->ndim && used < sizeof got - 24; d++)
                used += (size_t)snprintf(got + used, sizeof got - used, "%s%lld", d ? ", " : "",
                                         (long long)t->shape[d]);
            return recur_fail(RECUR_E_SHAPE,
                              "%s: tensor '%s' has shape [%s] but the metadata implies %s", label,
                              name, got, expected);
        }
        recur_status status = recur_tensor_to_f32(t, p.value, p.numel);
        if (status != RECUR_OK)
            return recur_fail_prefixed(status, label);
    }
    /* Anything else means the metadata and the tensors disagree. */
    for (size_t i = 0; strict && i < recur_st_count(file); i++) {
        const recur_tensor_view *t = recur_st_tensor(file, i);
        recur_param p;
        if (recur_rnn_find_param(rnn, t->name, &p) != RECUR_OK)
            return recur_fail(RECUR_E_SHAPE,
                              "%s: unexpected tensor '%.80s' (not a parameter of the module "
                              "the metadata describes)",
                              label, t->name);
    }
    return RECUR_OK;
}

static recur_status read_rnn(const recur_st_file *file, const char *prefix, int strict,
                              recur_rnn **out)
{
    if (!file || !prefix || !out)
        return recur_fail(RECUR_E_INVALID, "reading a recurrent layer: NULL argument");
    *out = NULL;
    recur_rnn_config config;
    RECUR_TRY(rnn_config_read(file, prefix, &config));
    recur_rnn *rnn;
    recur_status status = recur_rnn_create(&config, 0, &rnn);
    if (status != RECUR_OK)
        return recur_fail_prefixed(status == RECUR_E_INVALID ? RECUR_E_FORMAT : status,
                                   recur_st_label(file));
    status = load_parameters(file, prefix, strict, rnn);
    if (status != RECUR_OK) {
        recur_rnn_free(rnn);
        return status;
    }
    *out = rnn;
    return RECUR_OK;
}

recur_status recur_rnn_from_safetensors(const recur_st_file *file, recur_rnn **out)
{
    return read_rnn(file, "", 1, out);
}

recur_status recur_rnn_read(const recur_st_file *file, const char *prefix, recur_rnn **out)
{
    return read_rnn(file, prefix, 0, out);
}

recur_status recur_rnn_write(const recur_rnn *rnn, recur_st_writer *writer, const char *prefix)
{
    const recur_rnn_config *c = recur_rnn_get_config(rnn);
    static const char *modules[] = {"rnn", "rnn", "lstm", "gru"};
    char number[32];
    RECUR_TRY(recur_st_writer_set_metadata(writer, META_MODULE, modules[c->cell]));
    if (c->cell == RECUR_RNN_TANH || c->cell == RECUR_RNN_RELU)
        RECUR_TRY(recur_st_writer_set_metadata(writer, "nonlinearity",
                                               c->cell == RECUR_RNN_RELU ? "relu" : "tanh"));
    const struct {
        const char *key;
        int value;
        int is_bool;
    } fields[] = {
        {"input_size", c->input_size, 0},   {"hidden_size", c->hidden_size, 0},
        {"num_layers", c->num_layers, 0},   {"bias", c->bias, 1},
        {"batch_first", c->batch_first, 1}, {"bidirectional", c->bidirectional, 1},
        {"proj_size", c->proj_size, 0},     {"layer_norm", c->layer_norm, 1},
    };
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        if (fields[i].is_bool)
            snprintf(number, sizeof number, "%s", fields[i].value ? "true" : "false");
        else
            snprintf(number, sizeof number, "%d", fields[i].value);
        RECUR_TRY(recur_st_writer_set_metadata(writer, fields[i].key, number));
    }
    const struct {
        const char *key;
        float value;
    } probs[] = {{"dropout", c->dropout},
                 {"recurrent_dropout", c->recurrent_dropout},
                 {"zoneout", c->zoneout}};
    for (size_t i = 0; i < sizeof probs / sizeof probs[0]; i++) {
        snprintf(number, sizeof number, "%.9g", (double)probs[i].value);
        RECUR_TRY(recur_st_writer_set_metadata(writer, probs[i].key, number));
    }
    for (int i = 0; i < recur_rnn_param_count(rnn); i++) {
        recur_param p;
        char name[160];
        RECUR_TRY(recur_rnn_param(rnn, i, &p));
        snprintf(name, sizeof name, "%s%s", prefix ? prefix : "", p.name);
        RECUR_TRY(recur_st_writer_add(writer, name, RECUR_F32, p.ndim, p.shape, p.value));
    }
    return RECUR_OK;
}

recur_status recur_rnn_save(const recur_rnn *rnn, const char *path)
{
    recur_st_writer *writer;
    RECUR_TRY(recur_st_writer_create(&writer));
    recur_status status = recur_rnn_write(rnn, writer, "");
    if (status == RECUR_OK)
        status = recur_st_writer_save(writer, path);
    recur_st_writer_free(writer);
    return status;
}
