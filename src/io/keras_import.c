/* Keras / TensorFlow LSTM and GRU weights (kernel [I, G*H], recurrent_kernel
 * [H, G*H], bias) from a .npz archive or a safetensors file, converted into a
 * stack with PyTorch's layout. The naming convention is in recur.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/status.h"
#include "io/npz.h"

#define KERAS_MAX_LAYERS 64
#define KERAS_MAX_KEY 200
#define KERAS_MAX_SIZE (1 << 24)

enum { LEAF_KERNEL = 0, LEAF_RECURRENT, LEAF_BIAS, LEAF_COUNT };
static const char *const leaf_names[LEAF_COUNT] = {"kernel", "recurrent_kernel", "bias"};

/* One tensor of the input, parsed from its name. */
typedef struct keras_entry {
    const recur_tensor_view *view;
    char key[KERAS_MAX_KEY]; /* the layer's name: the name's parts, minus leaf,
                                direction and cell scopes, joined by '/' */
    int leaf, reverse;
    int layer;               /* index after sorting the keys */
} keras_entry;

recur_keras_options recur_keras_options_default(recur_cell cell)
{
    recur_keras_options o = {cell, 1};
    return o;
}

static int starts_with(const char *s, size_t n, const char *prefix)
{
    size_t p = strlen(prefix);
    return n >= p && memcmp(s, prefix, p) == 0;
}

/* "lstm_cell", "gru_cell_3", "cell": Keras' cell scopes, not part of a layer's name. */
static int is_cell_scope(const char *s, size_t n)
{
    size_t end = n;
    while (end > 0 && s[end - 1] >= '0' && s[end - 1] <= '9')
        end--;
    if (end < n && end > 0 && s[end - 1] == '_')
        end--;
    else if (end < n)
        return 0;
    return end >= 4 && memcmp(s + end - 4, "cell", 4) == 0;
}

/* Splits a name into the entry's leaf, direction and key. */
static recur_status parse_name(const char *label, const char *name, keras_entry *e)
{
    size_t length = strlen(name);
    /* TensorFlow's variable names end in ":0" */
    size_t colon = length;
    while (colon > 0 && name[colon - 1] >= '0' && name[colon - 1] <= '9')
        colon--;
    if (colon > 0 && colon < length && name[colon - 1] == ':')
        length = colon - 1;
    size_t leaf_start = length;
    while (leaf_start > 0 && name[leaf_start - 1] != '/' && name[leaf_start - 1] != '.')
        leaf_start--;
    e->leaf = -1;
    for (int k = 0; k < LEAF_COUNT; k++)
        if (length - leaf_start == strlen(leaf_names[k]) &&
            !memcmp(name + leaf_start, leaf_names[k], length - leaf_start))
            e->leaf = k;
    if (e->leaf < 0)
        return recur_fail(RECUR_E_FORMAT,
                          "%s: tensor '%.100s' is not a kernel, recurrent_kernel or bias", label,
                          name);
    e->reverse = 0;
    e->key[0] = '\0';
    size_t used = 0;
    for (size_t at = 0; at < leaf_start;) {
        size_t end = at;
        while (end < leaf_start && name[end] != '/' && name[end] != '.')
            end++;
        const char *part = name + at;
        size_t n = end - at;
        at = end + 1;
        if (n == 0 || is_cell_scope(part, n))
            continue;
        if (starts_with(part, n, "backward")) {
            e->reverse = 1;
            continue;
        }
        if (starts_with(part, n, "forward"))
            continue;
        if (used + n + 2 > sizeof e->key)
            return recur_fail(RECUR_E_FORMAT, "%s: tensor name '%.100s...' is too long", label,
                              name);
        if (used)
            e->key[used++] = '/';
        memcpy(e->key + used, part, n);
        used += n;
        e->key[used] = '\0';
    }
    return RECUR_OK;
}

/* strcmp with runs of digits compared as numbers: lstm < lstm_1 < lstm_2 < lstm_10. */
static int natural_compare(const char *a, const char *b)
{
    while (*a && *b) {
        if (*a >= '0' && *a <= '9' && *b >= '0' && *b <= '9') {
            while (*a == '0')
                a++;
            while (*b == '0')
                b++;
            size_t na = 0, nb = 0;
            while (a[na] >= '0' && a[na] <= '9')
                na++;
            while (b[nb] >= '0' && b[nb] <= '9')
                nb++;
            if (na != nb)
                return na < nb ? -1 : 1;
            int c = memcmp(a, b, na);
            if (c)
                return c;
            a += na, b += nb;
            continue;
        }
        if (*a != *b)
            return (unsigned char)*a < (unsigned char)*b ? -1 : 1;
        a++, b++;
    }
    return *a ? 1 : *b ? -1 : 0;
}

/* Keras gate k of PyTorch gate g: LSTM i f c o = i f g o; GRU z r h -> r z n. */
static int keras_gate(recur_cell cell, int g)
{
    if (cell == RECUR_GRU && g < 2)
        return 1 - g;
    return g;
}

/* dst [G*H, cols] = the transpose of src [cols, G*H] with gates reordered. */
static void transpose_gates(recur_cell cell, int gates, int hidden, int cols, const float *src,
                            float *dst)
{
    for (int g = 0; g < gates; g++) {
        int k = keras_gate(cell, g);
        for (int j = 0; j < hidden; j++)
            for (int c = 0; c < cols; c++)
                dst[((size_t)g * hidden + j) * cols + c] =
                    src[(size_t)c * gates * hidden + (size_t)k * hidden + j];
    }
}

static void reorder_bias(recur_cell cell, int gates, int hidden, const float *src, float *dst)
{
    for (int g = 0; g < gates; g++)
        memcpy(dst + (size_t)g * hidden, src + (size_t)keras_gate(cell, g) * hidden,
               (size_t)hidden * sizeof(float));
}

/* The tensors of one direction of one layer. */
typedef struct keras_slot {
    const recur_tensor_view *t[LEAF_COUNT];
    const char *key;
} keras_slot;

static void format_dims(const recur_tensor_view *t, char *buf, size_t size)
{
    size_t used = (size_t)snprintf(buf, size, "[");
    for (int d = 0; d < t->ndim && used < size; d++)
        used += (size_t)snprintf(buf + used, size - used, "%s%lld", d ? ", " : "",
                                 (long long)t->shape[d]);
    if (used < size)
        snprintf(buf + used, size - used, "]");
}

static recur_status shape_error(const char *label, const keras_slot *s, int leaf,
                                const char *expected)
{
    char got[128];
    format_dims(s->t[leaf], got, sizeof got);
    return recur_fail(RECUR_E_SHAPE, "%s: %s%s%s is %s, expected %s", label, s->key,
                      s->key[0] ? "/" : "", leaf_names[leaf], got, expected);
}

/* Checks one slot's shapes against the hidden size, input size and bias layout. */
static recur_status check_slot(const char *label, const recur_keras_options *o, int gates,
                               int hidden, int input, const keras_slot *s)
{
    char expected[128];
    const recur_tensor_view *k = s->t[LEAF_KERNEL], *r = s->t[LEAF_RECURRENT], *b = s->t[LEAF_BIAS];
    const int64_t gh = (int64_t)gates * hidden;
    snprintf(expected, sizeof expected, "[%d, %lld]", input, (long long)gh);
    if (k->ndim != 2 || k->shape[0] != input || k->shape[1] != gh)
        return shape_error(label, s, LEAF_KERNEL, expected);
    snprintf(expected, sizeof expected, "[%d, %lld]", hidden, (long long)gh);
    if (r->ndim != 2 || r->shape[0] != hidden || r->shape[1] != gh)
        return shape_error(label, s, LEAF_RECURRENT, expected);
    if (!b)
        return RECUR_OK;
    int two_rows = o->cell == RECUR_GRU && o->reset_after;
    if (two_rows ? (b->ndim == 2 && b->shape[0] == 2 && b->shape[1] == gh)
                 : (b->ndim == 1 && b->shape[0] == gh))
        return RECUR_OK;
    if (o->cell == RECUR_GRU && two_rows && b->ndim == 1 && b->shape[0] == gh)
        return recur_fail(RECUR_E_SHAPE, "%s: bias [%lld] is the layout of a GRU with "
                          "reset_after=False (import it with reset_after 0: --reset-after 0)",
                          label, (long long)gh);
    if (o->cell == RECUR_GRU && !two_rows && b->ndim == 2 && b->shape[0] == 2)
        return recur_fail(RECUR_E_SHAPE, "%s: bias [2, %lld] is the layout of a GRU with "
                          "reset_after=True (import it with reset_after 1: --reset-after 1)",
                          label, (long long)b->shape[1]);
    if (two_rows)
        snprintf(expected, sizeof expected, "[2, %lld]", (long long)gh);
    else
        snprintf(expected, sizeof expected, "[%lld]", (long long)gh);
    return shape_error(label, s, LEAF_BIAS, expected);
}

/* Reads a view as floats into a new array. */
static recur_status view_floats(const recur_tensor_view *t, float **out)
{
    *out = recur_alloc_floats(t->numel ? t->numel : 1);
    if (!*out)
        return recur_fail(RECUR_E_NOMEM, "keras import: out of memory");
    return recur_tensor_to_f32(t, *out, t->numel);
}

static recur_status find_param(recur_rnn *rnn, const char *base, int layer, int reverse,
                               recur_param *p)
{
    char name[64];
    snprintf(name, sizeof name, "%s_l%d%s", base, layer, reverse ? "_reverse" : "");
    return recur_rnn_find_param(rnn, name, p);
}

/* Fills the parameters of one direction of one layer. */
static recur_status fill_slot(const char *label, const recur_keras_options *o, int gates,
                              int hidden, int input, const keras_slot *s, int layer, int reverse,
                              recur_rnn *rnn)
{
    recur_param w_ih, w_hh;
    RECUR_TRY(find_param(rnn, "weight_ih", layer, reverse, &w_ih));
    RECUR_TRY(find_param(rnn, "weight_hh", layer, reverse, &w_hh));
    float *kernel = NULL, *recurrent = NULL, *bias = NULL;
    recur_status st = view_floats(s->t[LEAF_KERNEL], &kernel);
    if (st == RECUR_OK)
        st = view_floats(s->t[LEAF_RECURRENT], &recurrent);
    if (st == RECUR_OK && s->t[LEAF_BIAS])
        st = view_floats(s->t[LEAF_BIAS], &bias);
    if (st == RECUR_OK && o->cell == RECUR_GRU && !o->reset_after) {
        /* Keras computes the candidate as tanh(W x + b + (r * h) U_h); PyTorch as
         * tanh(W x + b + r * (U_h h + b_hn)). Equal only when U_h = 0. */
        for (int i = 0; i < hidden && st == RECUR_OK; i++)
            for (int j = 0; j < hidden; j++)
                if (recurrent[(size_t)i * gates * hidden + 2 * (size_t)hidden + j] != 0.0f) {
                    st = recur_fail(RECUR_E_INVALID,
                                    "%s: a GRU with reset_after=False applies the recurrent "
                                    "kernel to r*h, PyTorch's GRU multiplies r into it: the "
                                    "weights cannot be converted exactly (retrain with "
                                    "reset_after=True, the Keras 2 default)", label);
                    break;
                }
    }
    if (st == RECUR_OK) {
        transpose_gates(o->cell, gates, hidden, input, kernel, w_ih.value);
        transpose_gates(o->cell, gates, hidden, hidden, recurrent, w_hh.value);
    }
    if (st == RECUR_OK && bias) {
        recur_param b_ih, b_hh;
        st = find_param(rnn, "bias_ih", layer, reverse, &b_ih);
        if (st == RECUR_OK)
            st = find_param(rnn, "bias_hh", layer, reverse, &b_hh);
        if (st == RECUR_OK) {
            size_t gh = (size_t)gates * hidden;
            reorder_bias(o->cell, gates, hidden, bias, b_ih.value);
            if (o->cell == RECUR_GRU && o->reset_after)
                reorder_bias(o->cell, gates, hidden, bias + gh, b_hh.value);
            else /* one bias vector: all of it goes to b_ih */
                memset(b_hh.value, 0, gh * sizeof(float));
        }
    }
    free(kernel), free(recurrent), free(bias);
    return st;
}

static int compare_entry_keys(const void *a, const void *b)
{
    const keras_entry *x = *(const keras_entry *const *)a, *y = *(const keras_entry *const *)b;
    return natural_compare(x->key, y->key);
}

/* Sorts the entries' keys and numbers the layers; returns the count. */
static recur_status number_layers(const char *label, keras_entry *entries, size_t count,
                                  int *layers)
{
    keras_entry **order = malloc((count ? count : 1) * sizeof(keras_entry *));
    if (!order)
        return recur_fail(RECUR_E_NOMEM, "keras import: out of memory");
    for (size_t i = 0; i < count; i++)
        order[i] = &entries[i];
    qsort(order, count, sizeof(keras_entry *), compare_entry_keys);
    int n = 0;
    for (size_t i = 0; i < count; i++) {
        if (i == 0 || strcmp(order[i]->key, order[i - 1]->key) != 0)
            n++;
        order[i]->layer = n - 1;
    }
    free(order);
    for (size_t i = 0; n > 1 && i < count; i++)
        if (!entries[i].key[0])
            return recur_fail(RECUR_E_FORMAT, "%s: '%s' has no layer name beside named layers",
                              label, entries[i].view->name);
    if (n > KERAS_MAX_LAYERS)
        return recur_fail(RECUR_E_FORMAT, "%s: %d layers (at most %d)", label, n,
                          KERAS_MAX_LAYERS);
    *layers = n;
    return RECUR_OK;
}

/* Groups the tensors into slots [layer][direction]. */
static recur_status group_slots(const char *label, const keras_entry *entries, size_t count,
                                int layers, int dirs, keras_slot *slots)
{
    memset(slots, 0, (size_t)layers * 2 * sizeof *slots);
    for (size_t i = 0; i < count; i++) {
        const keras_entry *e = &entries[i];
        keras_slot *s = &slots[e->layer * 2 + e->reverse];
        s->key = e->key;
        if (s->t[e->leaf])
            return recur_fail(RECUR_E_FORMAT, "%s: two %s tensors for layer '%s'%s", label,
                              leaf_names[e->leaf], e->key, e->reverse ? " (backward)" : "");
        s->t[e->leaf] = e->view;
    }
    int with_bias = -1;
    for (int l = 0; l < layers; l++)
        for (int d = 0; d < dirs; d++) {
            keras_slot *s = &slots[l * 2 + d];
            const char *key = slots[l * 2].key ? slots[l * 2].key : slots[l * 2 + 1].key;
            const char *which = dirs == 2 ? (d ? " (backward)" : " (forward)") : "";
            if (!s->t[LEAF_KERNEL] || !s->t[LEAF_RECURRENT])
                return recur_fail(RECUR_E_SHAPE, "%s: layer '%s'%s lacks its %s", label, key,
                                  which, s->t[LEAF_KERNEL] ? "recurrent_kernel" : "kernel");
            if (with_bias >= 0 && with_bias != (s->t[LEAF_BIAS] != NULL))
                return recur_fail(RECUR_E_SHAPE, "%s: some layers have a bias and others none",
                                  label);
            with_bias = s->t[LEAF_BIAS] != NULL;
        }
    return RECUR_OK;
}

/* Imports from any list of views. */
static recur_status import_views(const char *label, const recur_tensor_view *const *views,
                                 size_t count, const recur_keras_options *o, recur_rnn **out)
{
    if (o->cell != RECUR_LSTM && o->cell != RECUR_GRU)
        return recur_fail(RECUR_E_INVALID, "keras import: the cell must be LSTM or GRU");
    if (o->reset_after != 0 && o->reset_after != 1)
        return recur_fail(RECUR_E_INVALID, "keras import: reset_after must be 0 or 1");
    if (count == 0)
        return recur_fail(RECUR_E_FORMAT, "%s: no tensors", label);
    keras_entry *entries = calloc(count, sizeof *entries);
    keras_slot *slots = NULL;
    recur_rnn *rnn = NULL;
    if (!entries)
        return recur_fail(RECUR_E_NOMEM, "keras import: out of memory");
    recur_status st = RECUR_OK;
    int layers = 0, dirs = 1;
    for (size_t i = 0; i < count && st == RECUR_OK; i++) {
        entries[i].view = views[i];
        st = parse_name(label, views[i]->name, &entries[i]);
        dirs = entries[i].reverse ? 2 : dirs;
    }
    if (st == RECUR_OK)
        st = number_layers(label, entries, count, &layers);
    if (st == RECUR_OK && !(slots = calloc((size_t)layers * 2, sizeof *slots)))
        st = recur_fail(RECUR_E_NOMEM, "keras import: out of memory");
    if (st == RECUR_OK)
        st = group_slots(label, entries, count, layers, dirs, slots);
    const int gates = o->cell == RECUR_LSTM ? 4 : 3;
    int hidden = 0, input = 0;
    if (st == RECUR_OK) {
        const recur_tensor_view *r = slots[0].t[LEAF_RECURRENT], *k = slots[0].t[LEAF_KERNEL];
        if (r->ndim != 2 || r->shape[0] < 1 || r->shape[0] > KERAS_MAX_SIZE ||
            r->shape[1] != gates * r->shape[0])
            st = recur_fail(RECUR_E_SHAPE, "%s: recurrent_kernel of the first layer is not "
                            "[H, %d*H] (%s weights?)", label, gates,
                            o->cell == RECUR_LSTM ? "not LSTM" : "not GRU");
        else if (k->ndim != 2 || k->shape[0] < 1 || k->shape[0] > KERAS_MAX_SIZE)
            st = shape_error(label, &slots[0], LEAF_KERNEL, "[I, G*H]");
        else
            hidden = (int)r->shape[0], input = (int)k->shape[0];
    }
    for (int l = 0; l < layers && st == RECUR_OK; l++)
        for (int d = 0; d < dirs && st == RECUR_OK; d++)
            st = check_slot(label, o, gates, hidden, l ? dirs * hidden : input, &slots[l * 2 + d]);
    if (st == RECUR_OK) {
        recur_rnn_config c = recur_rnn_config_default(o->cell, input, hidden);
        c.num_layers = layers;
        c.bidirectional = dirs == 2;
        c.bias = slots[0].t[LEAF_BIAS] != NULL;
        st = recur_rnn_create(&c, 0, &rnn);
    }
    for (int l = 0; l < layers && st == RECUR_OK; l++)
        for (int d = 0; d < dirs && st == RECUR_OK; d++)
            st = fill_slot(label, o, gates, hidden, l ? dirs * hidden : input, &slots[l * 2 + d],
                           l, d, rnn);
    free(entries);
    free(slots);
    if (st != RECUR_OK) {
        recur_rnn_free(rnn);
        return st;
    }
    *out = rnn;
    return RECUR_OK;
}

static recur_status import_npz(const recur_npz *z, const char *label,
                               const recur_keras_options *o, recur_rnn **out)
{
    size_t n = recur_npz_count(z);
    const recur_tensor_view **views = malloc((n ? n : 1) * sizeof(recur_tensor_view *));
    if (!views)
        return recur_fail(RECUR_E_NOMEM, "keras import: out of memory");
    for (size_t i = 0; i < n; i++)
        views[i] = recur_npz_tensor(z, i);
    recur_status st = import_views(label, views, n, o, out);
    free(views);
    return st;
}

static recur_status import_st(const recur_st_file *f, const recur_keras_options *o,
                              recur_rnn **out)
{
    size_t n = recur_st_count(f);
    const recur_tensor_view **views = malloc((n ? n : 1) * sizeof(recur_tensor_view *));
    if (!views)
        return recur_fail(RECUR_E_NOMEM, "keras import: out of memory");
    for (size_t i = 0; i < n; i++)
        views[i] = recur_st_tensor(f, i);
    recur_status st = import_views(recur_st_label(f), views, n, o, out);
    free(views);
    return st;
}

static recur_status check_args(const recur_keras_options *o, recur_rnn **out)
{
    if (!o || !out)
        return recur_fail(RECUR_E_INVALID, "keras import: NULL argument");
    *out = NULL;
    return RECUR_OK;
}

recur_status recur_keras_import_memory(const void *bytes, size_t size, const char *label,
                                       const recur_keras_options *o, recur_rnn **out)
{
    RECUR_TRY(check_args(o, out));
    if (!label)
        label = "(memory)";
    recur_status st;
    if (recur_npz_is_zip(bytes, size)) {
        recur_npz *z;
        RECUR_TRY(recur_npz_open_memory(bytes, size, label, &z));
        st = import_npz(z, label, o, out);
        recur_npz_close(z);
    } else {
        recur_st_file *f;
        RECUR_TRY(recur_st_open_memory(bytes, size, label, &f));
        st = import_st(f, o, out);
        recur_st_close(f);
    }
    return st;
}

recur_status recur_keras_import(const char *path, const recur_keras_options *o, recur_rnn **out)
{
    RECUR_TRY(check_args(o, out));
    if (!path)
        return recur_fail(RECUR_E_INVALID, "keras import: NULL path");
    unsigned char head[4] = {0};
    FILE *f = fopen(path, "rb");
    size_t got = f ? fread(head, 1, sizeof head, f) : 0;
    if (f)
        fclose(f);
    recur_status st;
    if (f && recur_npz_is_zip(head, got)) {
        recur_npz *z;
        RECUR_TRY(recur_npz_open(path, &z));
        st = import_npz(z, path, o, out);
        recur_npz_close(z);
    } else {
        recur_st_file *file; /* also reports a file that cannot be opened */
        RECUR_TRY(recur_st_open(path, &file));
        st = import_st(file, o, out);
        recur_st_close(file);
    }
    return st;
}
