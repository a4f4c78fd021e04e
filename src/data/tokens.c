/* Tokenizing text into characters (bytes) or words, and vocabularies of
 * tokens built on training texts with <pad> and <unk>. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"

/* ---------------------------------------------------------------- */
/* Tokenizer                                                         */
/* ---------------------------------------------------------------- */

recur_token_options recur_token_options_default(void)
{
    recur_token_options o = {RECUR_TOKENS_WORDS, 1, 1};
    return o;
}

static int is_space(unsigned char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

/* ASCII punctuation; bytes >= 0x80 (UTF-8 sequences, Latin-1) are letters. */
static int is_punct(unsigned char c) { return c < 0x80 && ispunct(c); }

recur_status recur_tokenize(const char *text, size_t length, const recur_token_options *options,
                            recur_token_callback callback, void *context)
{
    if ((!text && length) || !options || !callback)
        return recur_fail(RECUR_E_INVALID, "tokenize: NULL argument");
    char small[256];
    const unsigned char *p = (const unsigned char *)text;
    if (options->kind == RECUR_TOKENS_CHARS) {
        for (size_t i = 0; i < length; i++) {
            small[0] = (char)(options->lowercase ? tolower(p[i]) : p[i]);
            RECUR_TRY(callback(small, 1, context));
        }
        return RECUR_OK;
    }
    size_t i = 0;
    while (i < length) {
        if (is_space(p[i])) {
            i++;
            continue;
        }
        size_t start = i;
        if (options->split_punctuation && is_punct(p[i]))
            i++; /* a punctuation mark is a token of its own */
        else
            while (i < length && !is_space(p[i]) && !(options->split_punctuation && is_punct(p[i]) &&
                                                      !(p[i] == '\'' && i > start)))
                i++;
        size_t n = i - start;
        /* very long words are cut into pieces of the buffer's size */
        for (size_t at = 0; at < n; at += sizeof small - 1) {
            size_t piece = n - at < sizeof small - 1 ? n - at : sizeof small - 1;
            for (size_t k = 0; k < piece; k++)
                small[k] = (char)(options->lowercase ? tolower(p[start + at + k])
                                                     : p[start + at + k]);
            small[piece] = '\0';
            RECUR_TRY(callback(small, piece, context));
        }
    }
    return RECUR_OK;
}

/* ---------------------------------------------------------------- */
/* Vocabulary: an open-addressing hash table of token strings        */
/* ---------------------------------------------------------------- */

typedef struct vocab_entry {
    char *token;
    size_t length;
    int64_t count;
    int64_t id; /* -1 until finished */
} vocab_entry;

struct recur_vocab {
    vocab_entry *entries; /* in insertion order */
    size_t count, capacity;
    int64_t *slots;       /* hash table of entry indexes, -1 empty */
    size_t slot_count;
    int64_t *by_id;       /* id -> entry index, after finish */
    int64_t size;         /* ids in use, after finish (>= 2: <pad>, <unk>) */
    int finished;
};

static uint64_t hash_bytes(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
    return h;
}

static recur_status grow_slots(recur_vocab *v)
{
    size_t slot_count = v->slot_count ? 2 * v->slot_count : 1024;
    int64_t *slots = malloc(slot_count * sizeof *slots);
    if (!slots)
        return recur_fail(RECUR_E_NOMEM, "vocabulary: out of memory");
    for (size_t i = 0; i < slot_count; i++)
        slots[i] = -1;
    for (size_t e = 0; e < v->count; e++) {
        size_t at = hash_bytes(v->entries[e].token, v->entries[e].length) & (slot_count - 1);
        while (slots[at] >= 0)
            at = (at + 1) & (slot_count - 1);
        slots[at] = (int64_t)e;
    }
    free(v->slots);
    v->slots = slots, v->slot_count = slot_count;
    return RECUR_OK;
}

/* Index of the entry for a token, -1 if absent; *slot: where it is or would go. */
static int64_t find_entry(const recur_vocab *v, const char *token, size_t n, size_t *slot)
{
    size_t at = hash_bytes(token, n) & (v->slot_count - 1);
    while (v->slots[at] >= 0) {
        const vocab_entry *e = &v->entries[v->slots[at]];
        if (e->length == n && !memcmp(e->token, token, n)) {
            *slot = at;
            return v->slots[at];
        }
        at = (at + 1) & (v->slot_count - 1);
    }
    *slot = at;
    return -1;
}

recur_status recur_vocab_create(recur_vocab **out)
{
    if (!out)
        return recur_fail(RECUR_E_INVALID, "vocab_create: NULL argument");
    *out = calloc(1, sizeof **out);
    if (!*out)
        return recur_fail(RECUR_E_NOMEM, "vocabulary: out of memory");
    recur_status st = grow_slots(*out);
    if (st != RECUR_OK) {
        free(*out);
        *out = NULL;
    }
    return st;
}

void recur_vocab_free(recur_vocab *v)
{
    if (!v)
        return;
    for (size_t e = 0; e < v->count; e++)
        free(v->entries[e].token);
    free(v->entries), free(v->slots), free(v->by_id);
    free(v);
}

static recur_status add_entry(recur_vocab *v, const char *token, size_t n, int64_t count,
                              int64_t *index)
{
    size_t slot;
    int64_t found = find_entry(v, token, n, &slot);
    if (found >= 0) {
        v->entries[found].count += count;
        *index = found;
        return RECUR_OK;
    }
    if (2 * (v->count + 1) > v->slot_count) {
        RECUR_TRY(grow_slots(v));
        find_entry(v, token, n, &slot);
    }
    if (v->count == v->capacity) {
        size_t capacity = v->capacity ? 2 * v->capacity : 256;
        vocab_entry *grown = realloc(v->entries, capacity * sizeof *grown);
        if (!grown)
            return recur_fail(RECUR_E_NOMEM, "vocabulary: out of memory");
        v->entries = grown, v->capacity = capacity;
    }
    char *copy = malloc(n + 1);
    if (!copy)
        return recur_fail(RECUR_E_NOMEM, "vocabulary: out of memory");
    memcpy(copy, token, n);
    copy[n] = '\0';
    v->entries[v->count] = (vocab_entry){.token = copy, .length = n, .count = count, .id = -1};
    v->slots[slot] = (int64_t)v->count;
    *index = (int64_t)v->count++;
    return RECUR_OK;
}

recur_status recur_vocab_add(recur_vocab *v, const char *token, size_t length)
{
    if (!v || (!token && length))
        return recur_fail(RECUR_E_INVALID, "vocab_add: NULL argument");
    if (v->finished)
        return recur_fail(RECUR_E_STATE, "vocab_add: the vocabulary is finished");
    int64_t index;
    return add_entry(v, token, length, 1, &index);
}

/* Sort order of finish: more frequent first, then bytewise. */
typedef struct sort_item {
    int64_t count;
    const char *token;
    size_t length;
    size_t entry;
} sort_item;

static int compare_items(const void *pa, const void *pb)
{
    const sort_item *a = pa, *b = pb;
    if (a->count != b->count)
        return a->count > b->count ? -1 : 1;
    size_t n = a->length < b->length ? a->length : b->length;
    int c = memcmp(a->token, b->token, n);
    return c ? c : (a->length > b->length) - (a->length < b->length);
}

recur_status recur_vocab_finish(recur_vocab *v, int64_t max_size, int64_t min_count)
{
    if (!v)
        return recur_fail(RECUR_E_INVALID, "vocab_finish: NULL argument");
    if (v->finished)
        return recur_fail(RECUR_E_STATE, "vocab_finish: already finished");
    sort_item *items = malloc((v->count ? v->count : 1) * sizeof *items);
    v->by_id = malloc((v->count + 2) * sizeof *v->by_id);
    if (!items || !v->by_id) {
        free(items);
        return recur_fail(RECUR_E_NOMEM, "vocabulary: out of memory");
    }
    for (size_t e = 0; e < v->count; e++)
        items[e] = (sort_item){v->entries[e].count, v->entries[e].token, v->entries[e].length, e};
    qsort(items, v->count, sizeof *items, compare_items);
    v->by_id[0] = v->by_id[1] = -1; /* <pad>, <unk> */
    v->size = 2;
    for (size_t i = 0; i < v->count; i++) {
        if (max_size > 0 && v->size >= max_size)
            break;
        if (items[i].count < min_count)
            break;
        v->entries[items[i].entry].id = v->size;
        v->by_id[v->size++] = (int64_t)items[i].entry;
    }
    free(items);
    v->finished = 1;
    return RECUR_OK;
}

int64_t recur_vocab_size(const recur_vocab *v) { return v->finished ? v->size : 0; }

int64_t recur_vocab_id(const recur_vocab *v, const char *token, size_t length)
{
    if (!v->finished)
        return RECUR_VOCAB_UNK;
    size_t slot;
    int64_t e = find_entry(v, token, length, &slot);
    return e >= 0 && v->entries[e].id >= 0 ? v->entries[e].id : RECUR_VOCAB_UNK;
}

const char *recur_vocab_token(const recur_vocab *v, int64_t id, size_t *length)
{
    static const char *const special[] = {"<pad>", "<unk>"};
    if (!v->finished || id < 0 || id >= v->size) {
        if (length)
            *length = 0;
        return NULL;
    }
    if (id < 2) {
        if (length)
            *length = 5;
        return special[id];
    }
    const vocab_entry *e = &v->entries[v->by_id[id]];
    if (length)
        *length = e->length;
    return e->token;
}

recur_status recur_vocab_write(const recur_vocab *v, recur_st_writer *w, const char *name)
{
    if (!v || !w || !name || !v->finished)
        return recur_fail(RECUR_E_INVALID, "vocab_write: bad arguments");
    /* tokens 2.. as [length:u32 little-endian][bytes] records, as U8 */
    size_t total = 0;
    for (int64_t id = 2; id < v->size; id++)
        total += 4 + v->entries[v->by_id[id]].length;
    unsigned char *bytes = malloc(total ? total : 1);
    if (!bytes)
        return recur_fail(RECUR_E_NOMEM, "vocabulary: out of memory");
    size_t at = 0;
    for (int64_t id = 2; id < v->size; id++) {
        const vocab_entry *e = &v->entries[v->by_id[id]];
        for (int b = 0; b < 4; b++)
            bytes[at++] = (unsigned char)(e->length >> (8 * b));
        memcpy(bytes + at, e->token, e->length);
        at += e->length;
    }
    int64_t shape = (int64_t)total;
    recur_status st = recur_st_writer_add(w, name, RECUR_U8, 1, &shape, bytes);
    free(bytes);
    return st;
}

recur_status recur_vocab_read(const recur_st_file *f, const char *name, recur_vocab **out)
{
    if (!f || !name || !out)
        return recur_fail(RECUR_E_INVALID, "vocab_read: NULL argument");
    *out = NULL;
    const recur_tensor_view *t = recur_st_find(f, name);
    if (!t || t->dtype != RECUR_U8 || t->ndim != 1)
        return recur_fail(RECUR_E_FORMAT, "%s: '%s' (U8 vocabulary records) is missing",
                          recur_st_label(f), name);
    recur_vocab *v;
    RECUR_TRY(recur_vocab_create(&v));
    const unsigned char *p = t->data;
    size_t at = 0, n = t->numel;
    int64_t order = 0;
    recur_status st = RECUR_OK;
    while (st == RECUR_OK && at < n) {
        if (n - at < 4) {
            st = recur_fail(RECUR_E_FORMAT, "%s: '%s' is truncated", recur_st_label(f), name);
            break;
        }
        size_t length = (size_t)p[at] | (size_t)p[at + 1] << 8 | (size_t)p[at + 2] << 16 |
                        (size_t)p[at + 3] << 24;
        at += 4;
        if (length > n - at) {
            st = recur_fail(RECUR_E_FORMAT, "%s: '%s' is truncated", recur_st_label(f), name);
            break;
        }
        int64_t index;
        /* counts that reproduce the saved order under finish's sort */
        size_t before = v->count;
        st = add_entry(v, (const char *)p + at, length, (int64_t)(n - order), &index);
        if (st == RECUR_OK && v->count == before)
            st = recur_fail(RECUR_E_FORMAT, "%s: '%s' holds a token twice", recur_st_label(f),
                            name);
        at += length, order++;
    }
    if (st == RECUR_OK)
        st = recur_vocab_finish(v, 0, 0);
    if (st != RECUR_OK) {
        recur_vocab_free(v);
        return st;
    }
    *out = v;
    return RECUR_OK;
}
