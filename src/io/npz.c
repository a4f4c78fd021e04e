/* NumPy .npz archives: a zip reader (stored and deflated members, CRC-32
 * checked, zip64 extra fields in the central directory) and a .npy header
 * parser. Every number read from the file is checked before it is used. */
#include "io/npz.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "core/alloc.h"
#include "core/status.h"

#define ZIP_LOCAL_SIG 0x04034b50u
#define ZIP_CENTRAL_SIG 0x02014b50u
#define ZIP_END_SIG 0x06054b50u
#define ZIP_LOCAL_SIZE 30
#define ZIP_CENTRAL_SIZE 46
#define ZIP_END_SIZE 22
#define NPZ_MAX_NAME 255
/* deflate cannot do better than about 1032:1 */
#define DEFLATE_MAX_RATIO 1032u

struct recur_npz {
    char *label;
    unsigned char *bytes; /* the archive */
    size_t size;
    size_t count;
    recur_tensor_view *tensors;
    unsigned char **inflated; /* [count]: a deflated member's bytes, NULL when stored */
};

static uint32_t get16(const unsigned char *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8; }

static uint32_t get32(const unsigned char *p)
{
    return get16(p) | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get64(const unsigned char *p)
{
    return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

int recur_npz_is_zip(const void *bytes, size_t size)
{
    const unsigned char *b = bytes;
    return b && size >= 4 && (get32(b) == ZIP_LOCAL_SIG || get32(b) == ZIP_END_SIG);
}

/* ------------------------------------------------------------------ */
/* .npy                                                                */
/* ------------------------------------------------------------------ */

typedef struct npy_cursor {
    const char *p, *end;
} npy_cursor;

static void skip_spaces(npy_cursor *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
        c->p++;
}

static int take(npy_cursor *c, char ch)
{
    skip_spaces(c);
    if (c->p < c->end && *c->p == ch) {
        c->p++;
        return 1;
    }
    return 0;
}

/* A Python string literal in ' or " quotes (no escapes), copied into out. */
static int take_string(npy_cursor *c, char *out, size_t size)
{
    skip_spaces(c);
    if (c->p >= c->end || (*c->p != '\'' && *c->p != '"'))
        return 0;
    char quote = *c->p++;
    size_t n = 0;
    while (c->p < c->end && *c->p != quote) {
        if (*c->p == '\\' || n + 1 >= size)
            return 0;
        out[n++] = *c->p++;
    }
    if (c->p >= c->end)
        return 0;
    c->p++;
    out[n] = '\0';
    return 1;
}

static int take_word(npy_cursor *c, const char *word)
{
    skip_spaces(c);
    size_t n = strlen(word);
    if ((size_t)(c->end - c->p) < n || memcmp(c->p, word, n) != 0)
        return 0;
    c->p += n;
    return 1;
}

/* A tuple of non-negative integers: (), (3,), (2, 3), (2, 3,) */
static int take_shape(npy_cursor *c, recur_tensor_view *t)
{
    if (!take(c, '('))
        return 0;
    t->ndim = 0;
    for (;;) {
        if (take(c, ')'))
            return 1;
        skip_spaces(c);
        if (c->p >= c->end || *c->p < '0' || *c->p > '9' || t->ndim >= RECUR_MAX_DIMS)
            return 0;
        int64_t value = 0;
        while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
            if (value > ((int64_t)1 << 48))
                return 0;
            value = value * 10 + (*c->p++ - '0');
        }
        t->shape[t->ndim++] = value;
        if (!take(c, ','))
            return take(c, ')');
    }
}

/* Parses the header dict; fills dtype and shape. Returns a message or NULL. */
static const char *parse_npy_dict(const char *text, size_t length, recur_tensor_view *t,
                                  int *fortran)
{
    npy_cursor c = {text, text + length};
    int have_descr = 0, have_order = 0, have_shape = 0;
    if (!take(&c, '{'))
        return "header is not a dict";
    while (!take(&c, '}')) {
        char key[32], descr[16];
        if (!take_string(&c, key, sizeof key) || !take(&c, ':'))
            return "malformed header";
        if (!strcmp(key, "descr") && !have_descr) {
            if (!take_string(&c, descr, sizeof descr))
                return "malformed descr";
            if (!strcmp(descr, "<f4"))
                t->dtype = RECUR_F32;
            else if (!strcmp(descr, "<f8"))
                t->dtype = RECUR_F64;
            else
                return "dtype is not '<f4' or '<f8' (little-endian float32/float64)";
            have_descr = 1;
        } else if (!strcmp(key, "fortran_order") && !have_order) {
            if (take_word(&c, "True"))
                *fortran = 1;
            else if (take_word(&c, "False"))
                *fortran = 0;
            else
                return "malformed fortran_order";
            have_order = 1;
        } else if (!strcmp(key, "shape") && !have_shape) {
            if (!take_shape(&c, t))
                return "malformed or too large shape";
            have_shape = 1;
        } else
            return "unknown or repeated header key";
        if (!take(&c, ',')) {
            if (!take(&c, '}'))
                return "malformed header";
            break;
        }
    }
    skip_spaces(&c);
    if (c.p != c.end)
        return "text after the header dict";
    if (!have_descr || !have_order || !have_shape)
        return "header lacks descr, fortran_order or shape";
    return NULL;
}

/* Parses one member's .npy bytes into a view pointing into them; *fortran
 * is set for an array in Fortran (column-major) order. */
static recur_status parse_npy(const char *label, const char *name, const unsigned char *data,
                              size_t size, recur_tensor_view *t, int *fortran)
{
    static const unsigned char magic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};
    if (size < 10 || memcmp(data, magic, 6) != 0)
        return recur_fail(RECUR_E_FORMAT, "%s: %s: not a .npy array (bad magic)", label, name);
    unsigned major = data[6];
    size_t start, header_length;
    if (major == 1) {
        header_length = get16(data + 8), start = 10;
    } else if (major == 2 || major == 3) {
        if (size < 12)
            return recur_fail(RECUR_E_FORMAT, "%s: %s: truncated .npy header", label, name);
        header_length = get32(data + 8), start = 12;
    } else
        return recur_fail(RECUR_E_FORMAT, "%s: %s: .npy version %u is not supported", label,
                          name, major);
    if (header_length > size - start)
        return recur_fail(RECUR_E_FORMAT, "%s: %s: truncated .npy header", label, name);
    const char *problem = parse_npy_dict((const char *)data + start, header_length, t, fortran);
    if (problem)
        return recur_fail(RECUR_E_FORMAT, "%s: %s: %s", label, name, problem);
    size_t numel = 1, nbytes;
    for (int d = 0; d < t->ndim; d++)
        if (!recur_mul_size(numel, (size_t)t->shape[d], &numel))
            return recur_fail(RECUR_E_FORMAT, "%s: %s: shape too large", label, name);
    if (!recur_mul_size(numel, recur_dtype_size(t->dtype), &nbytes))
        return recur_fail(RECUR_E_FORMAT, "%s: %s: shape too large", label, name);
    size_t have = size - start - header_length;
    if (nbytes != have)
        return recur_fail(RECUR_E_FORMAT, "%s: %s: shape needs %zu data bytes, the array has %zu",
                          label, name, nbytes, have);
    t->numel = numel;
    t->nbytes = nbytes;
    t->data = data + start + header_length;
    return RECUR_OK;
}

/* ------------------------------------------------------------------ */
/* zip                                                                 */
/* ------------------------------------------------------------------ */

typedef struct zip_entry {
    uint32_t flags, method, crc;
    uint64_t compressed, uncompressed, offset;
    const unsigned char *name;
    size_t name_length;
} zip_entry;

/* Finds the end-of-central-directory record (its comment runs to the end). */
static recur_status find_end(const recur_npz *z, size_t *at)
{
    if (z->size < ZIP_END_SIZE)
        return recur_fail(RECUR_E_FORMAT, "%s: not a zip archive (too short)", z->label);
    size_t last = z->size - ZIP_END_SIZE;
    size_t first = last > 65535 ? last - 65535 : 0;
    for (size_t pos = last + 1; pos-- > first;) {
        const unsigned char *p = z->bytes + pos;
        if (get32(p) == ZIP_END_SIG && ZIP_END_SIZE + (size_t)get16(p + 20) == z->size - pos) {
            *at = pos;
            return RECUR_OK;
        }
    }
    return recur_fail(RECUR_E_FORMAT, "%s: not a zip archive (no end of central directory)",
                      z->label);
}

/* Replaces saturated 32-bit fields by the zip64 extra field's values. */
static recur_status read_zip64_extra(const recur_npz *z, const unsigned char *extra,
                                     size_t length, zip_entry *e)
{
    int need_u = e->uncompressed == 0xffffffffu, need_c = e->compressed == 0xffffffffu;
    int need_o = e->offset == 0xffffffffu;
    if (!need_u && !need_c && !need_o)
        return RECUR_OK;
    size_t at = 0;
    while (length - at >= 4) {
        uint32_t id = get16(extra + at), n = get16(extra + at + 2);
        at += 4;
        if (n > length - at)
            break;
        if (id == 0x0001) {
            const unsigned char *p = extra + at;
            size_t need = 8u * (size_t)(need_u + need_c + need_o);
            if (n < need)
                break;
            if (need_u)
                e->uncompressed = get64(p), p += 8;
            if (need_c)
                e->compressed = get64(p), p += 8;
            if (need_o)
                e->offset = get64(p);
            return RECUR_OK;
        }
        at += n;
    }
    return recur_fail(RECUR_E_FORMAT, "%s: %.*s: missing or malformed zip64 extra field",
                      z->label, (int)e->name_length, (const char *)e->name);
}

/* Reads central directory entry at *pos (inside [begin, end)) and advances. */
static recur_status read_central(const recur_npz *z, size_t *pos, size_t end, zip_entry *e)
{
    if (end - *pos < ZIP_CENTRAL_SIZE || get32(z->bytes + *pos) != ZIP_CENTRAL_SIG)
        return recur_fail(RECUR_E_FORMAT, "%s: corrupt central directory", z->label);
    const unsigned char *p = z->bytes + *pos;
    size_t name_length = get16(p + 28), extra_length = get16(p + 30), comment = get16(p + 32);
    if (name_length + extra_length + comment > end - *pos - ZIP_CENTRAL_SIZE)
        return recur_fail(RECUR_E_FORMAT, "%s: corrupt central directory", z->label);
    e->flags = get16(p + 8), e->method = get16(p + 10), e->crc = get32(p + 16);
    e->compressed = get32(p + 20), e->uncompressed = get32(p + 24), e->offset = get32(p + 42);
    e->name = p + ZIP_CENTRAL_SIZE, e->name_length = name_length;
    if (get16(p + 34) != 0 && get16(p + 34) != 0xffff)
        return recur_fail(RECUR_E_FORMAT, "%s: multi-disk archives are not supported", z->label);
    RECUR_TRY(read_zip64_extra(z, p + ZIP_CENTRAL_SIZE + name_length, extra_length, e));
    *pos += ZIP_CENTRAL_SIZE + name_length + extra_length + comment;
    return RECUR_OK;
}

/* Checks an entry's name: "<name>.npy", printable, no NUL. */
static recur_status check_name(const recur_npz *z, const zip_entry *e, char *out)
{
    size_t n = e->name_length;
    if (n < 5 || n > NPZ_MAX_NAME || memcmp(e->name + n - 4, ".npy", 4) != 0)
        return recur_fail(RECUR_E_FORMAT, "%s: member '%.*s' is not a .npy array", z->label,
                          (int)(n > NPZ_MAX_NAME ? NPZ_MAX_NAME : n), (const char *)e->name);
    for (size_t i = 0; i < n; i++)
        if (e->name[i] < 0x20 || e->name[i] == 0x7f)
            return recur_fail(RECUR_E_FORMAT, "%s: a member name holds a control character",
                              z->label);
    memcpy(out, e->name, n - 4);
    out[n - 4] = '\0';
    return RECUR_OK;
}

/* raw inflate of exactly `out_size` bytes */
static recur_status inflate_member(const recur_npz *z, const char *name, const unsigned char *in,
                                   size_t in_size, unsigned char *out, size_t out_size)
{
    z_stream s;
    memset(&s, 0, sizeof s);
    if (inflateInit2(&s, -MAX_WBITS) != Z_OK)
        return recur_fail(RECUR_E_NOMEM, "%s: %s: cannot start inflate", z->label, name);
    size_t in_left = in_size, out_left = out_size;
    s.next_in = (Bytef *)in;
    s.next_out = out;
    int rc = Z_OK;
    while (rc == Z_OK) {
        if (s.avail_in == 0) {
            s.avail_in = in_left > UINT_MAX ? UINT_MAX : (uInt)in_left;
            in_left -= s.avail_in;
        }
        if (s.avail_out == 0) {
            s.avail_out = out_left > UINT_MAX ? UINT_MAX : (uInt)out_left;
            out_left -= s.avail_out;
        }
        uInt before_in = s.avail_in, before_out = s.avail_out;
        rc = inflate(&s, Z_NO_FLUSH);
        if (rc == Z_BUF_ERROR || (rc == Z_OK && s.avail_in == before_in &&
                                  s.avail_out == before_out))
            break; /* no progress: truncated input or more output than declared */
    }
    size_t produced = out_size - out_left - s.avail_out;
    inflateEnd(&s);
    if (rc != Z_STREAM_END || produced != out_size)
        return recur_fail(RECUR_E_FORMAT, "%s: %s: corrupt or truncated deflate data", z->label,
                          name);
    return RECUR_OK;
}

static uint32_t crc_of(const unsigned char *data, size_t size)
{
    uLong crc = crc32(0L, Z_NULL, 0);
    while (size) {
        uInt n = size > UINT_MAX ? UINT_MAX : (uInt)size;
        crc = crc32(crc, data, n);
        data += n, size -= n;
    }
    return (uint32_t)crc;
}

/* Copies a Fortran-order array's data into dst in C order. */
static void to_c_order(const recur_tensor_view *t, unsigned char *dst)
{
    const size_t item = recur_dtype_size(t->dtype);
    const unsigned char *src = t->data;
    int64_t index[RECUR_MAX_DIMS] = {0};
    for (size_t k = 0; k < t->numel; k++) {
        size_t offset = 0; /* Fortran: the first index varies fastest */
        for (int d = t->ndim - 1; d >= 0; d--)
            offset = offset * (size_t)t->shape[d] + (size_t)index[d];
        memcpy(dst + k * item, src + offset * item, item);
        for (int d = t->ndim - 1; d >= 0; d--) { /* next C-order index */
            if (++index[d] < t->shape[d])
                break;
            index[d] = 0;
        }
    }
}

/* Locates, inflates, checks and parses member `index`. */
static recur_status load_member(recur_npz *z, size_t index, const zip_entry *e, size_t directory)
{
    char name[NPZ_MAX_NAME + 1];
    RECUR_TRY(check_name(z, e, name));
    if (e->flags & 1u)
        return recur_fail(RECUR_E_FORMAT, "%s: %s: encrypted members are not supported",
                          z->label, name);
    if (e->method != 0 && e->method != 8)
        return recur_fail(RECUR_E_FORMAT,
                          "%s: %s: compression method %u (only stored and deflated)", z->label,
                          name, (unsigned)e->method);
    if (e->offset > directory || directory - e->offset < ZIP_LOCAL_SIZE ||
        get32(z->bytes + e->offset) != ZIP_LOCAL_SIG)
        return recur_fail(RECUR_E_FORMAT, "%s: %s: bad local header offset", z->label, name);
    const unsigned char *local = z->bytes + e->offset;
    size_t skip = ZIP_LOCAL_SIZE + (size_t)get16(local + 26) + (size_t)get16(local + 28);
    size_t room = (size_t)(directory - e->offset);
    if (skip > room || e->compressed > room - skip)
        return recur_fail(RECUR_E_FORMAT, "%s: %s: member data runs past the archive", z->label,
                          name);
    if (get16(local + 26) != e->name_length ||
        memcmp(local + ZIP_LOCAL_SIZE, e->name, e->name_length) != 0)
        return recur_fail(RECUR_E_FORMAT, "%s: %s: local and central names differ", z->label,
                          name);
    const unsigned char *raw = local + skip;
    size_t compressed = (size_t)e->compressed;
    const unsigned char *data = raw;
    if (e->method == 0) {
        if (e->uncompressed != e->compressed)
            return recur_fail(RECUR_E_FORMAT, "%s: %s: stored member sizes differ", z->label,
                              name);
    } else {
        if (e->uncompressed / DEFLATE_MAX_RATIO > e->compressed || e->uncompressed > SIZE_MAX / 2)
            return recur_fail(RECUR_E_FORMAT,
                              "%s: %s: declared size %llu is impossible for %zu deflated bytes",
                              z->label, name, (unsigned long long)e->uncompressed, compressed);
        size_t size = (size_t)e->uncompressed;
        unsigned char *out = malloc(size ? size : 1);
        if (!out)
            return recur_fail(RECUR_E_NOMEM, "%s: %s: out of memory inflating %zu bytes",
                              z->label, name, size);
        z->inflated[index] = out;
        RECUR_TRY(inflate_member(z, name, raw, compressed, out, size));
        data = out;
    }
    size_t size = (size_t)e->uncompressed;
    if (crc_of(data, size) != e->crc)
        return recur_fail(RECUR_E_FORMAT, "%s: %s: CRC-32 mismatch (corrupt archive)", z->label,
                          name);
    recur_tensor_view *t = &z->tensors[index];
    memset(t, 0, sizeof *t);
    int fortran = 0;
    RECUR_TRY(parse_npy(z->label, name, data, size, t, &fortran));
    if (fortran && t->ndim > 1) {
        unsigned char *c_order = malloc(t->nbytes ? t->nbytes : 1);
        if (!c_order)
            return recur_fail(RECUR_E_NOMEM, "%s: %s: out of memory", z->label, name);
        to_c_order(t, c_order);
        free(z->inflated[index]);
        z->inflated[index] = c_order;
        t->data = c_order;
    }
    char *copy = malloc(strlen(name) + 1);
    if (!copy)
        return recur_fail(RECUR_E_NOMEM, "%s: out of memory", z->label);
    t->name = strcpy(copy, name);
    for (size_t i = 0; i < index; i++)
        if (!strcmp(z->tensors[i].name, name))
            return recur_fail(RECUR_E_FORMAT, "%s: array '%s' appears twice", z->label, name);
    return RECUR_OK;
}

static recur_status parse_archive(recur_npz *z)
{
    size_t end_at = 0;
    RECUR_TRY(find_end(z, &end_at));
    const unsigned char *end = z->bytes + end_at;
    size_t entries = get16(end + 10), directory_size = get32(end + 12);
    size_t directory = get32(end + 16);
    if (get16(end + 8) == 0xffff || entries == 0xffff || directory_size == 0xffffffffu ||
        directory == 0xffffffffu)
        return recur_fail(RECUR_E_FORMAT, "%s: zip64 archives (over 65535 members or 4 GiB) are "
                                          "not supported", z->label);
    if (get16(end + 4) != 0 || get16(end + 6) != 0 || get16(end + 8) != entries)
        return recur_fail(RECUR_E_FORMAT, "%s: multi-disk archives are not supported", z->label);
    if (directory > end_at || directory_size > end_at - directory ||
        entries > directory_size / ZIP_CENTRAL_SIZE)
        return recur_fail(RECUR_E_FORMAT, "%s: corrupt end of central directory", z->label);
    z->tensors = calloc(entries ? entries : 1, sizeof *z->tensors);
    z->inflated = calloc(entries ? entries : 1, sizeof *z->inflated);
    if (!z->tensors || !z->inflated)
        return recur_fail(RECUR_E_NOMEM, "%s: out of memory", z->label);
    size_t pos = directory, limit = directory + directory_size;
    for (size_t i = 0; i < entries; i++) {
        zip_entry e;
        memset(&e, 0, sizeof e);
        RECUR_TRY(read_central(z, &pos, limit, &e));
        z->count = i + 1; /* so close frees what this member allocates */
        RECUR_TRY(load_member(z, i, &e, directory));
    }
    return RECUR_OK;
}

/* Takes ownership of bytes. */
static recur_status open_bytes(unsigned char *bytes, size_t size, const char *label,
                               recur_npz **out)
{
    recur_npz *z = calloc(1, sizeof *z);
    char *copy = malloc(strlen(label) + 1);
    if (!z || !copy) {
        free(z), free(copy), free(bytes);
        return recur_fail(RECUR_E_NOMEM, "out of memory opening %s", label);
    }
    z->label = strcpy(copy, label);
    z->bytes = bytes, z->size = size;
    recur_status st = parse_archive(z);
    if (st != RECUR_OK) {
        recur_npz_close(z);
        return st;
    }
    *out = z;
    return RECUR_OK;
}

recur_status recur_npz_open_memory(const void *bytes, size_t size, const char *label,
                                   recur_npz **out)
{
    if (!out || (!bytes && size))
        return recur_fail(RECUR_E_INVALID, "recur_npz_open_memory: NULL argument");
    *out = NULL;
    if (!label)
        label = "(memory)";
    unsigned char *copy = malloc(size ? size : 1);
    if (!copy)
        return recur_fail(RECUR_E_NOMEM, "%s: out of memory copying %zu bytes", label, size);
    if (size)
        memcpy(copy, bytes, size);
    return open_bytes(copy, size, label, out);
}

recur_status recur_npz_open(const char *path, recur_npz **out)
{
    if (!path || !out)
        return recur_fail(RECUR_E_INVALID, "recur_npz_open: NULL argument");
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return recur_fail(RECUR_E_IO, "%s: cannot open: %s", path, strerror(errno));
    unsigned char *bytes = NULL;
    size_t size = 0, capacity = 0;
    recur_status st = RECUR_OK;
    for (;;) {
        if (size == capacity) {
            size_t grown = capacity ? capacity * 2 : 65536;
            unsigned char *next = grown > capacity ? realloc(bytes, grown) : NULL;
            if (!next) {
                st = recur_fail(RECUR_E_NOMEM, "%s: out of memory reading", path);
                break;
            }
            bytes = next, capacity = grown;
        }
        size_t got = fread(bytes + size, 1, capacity - size, f);
        size += got;
        if (got == 0) {
            if (ferror(f))
                st = recur_fail(RECUR_E_IO, "%s: read error", path);
            break;
        }
    }
    fclose(f);
    if (st != RECUR_OK) {
        free(bytes);
        return st;
    }
    return open_bytes(bytes, size, path, out);
}

void recur_npz_close(recur_npz *z)
{
    if (!z)
        return;
    for (size_t i = 0; i < z->count; i++) {
        free((char *)z->tensors[i].name);
        free(z->inflated[i]);
    }
    free(z->tensors);
    free(z->inflated);
    free(z->bytes);
    free(z->label);
    free(z);
}

size_t recur_npz_count(const recur_npz *z) { return z ? z->count : 0; }

const recur_tensor_view *recur_npz_tensor(const recur_npz *z, size_t index)
{
    return z && index < z->count ? &z->tensors[index] : NULL;
}
