/* TensorBoard event files: crc32c against known vectors and a bitwise
 * reference, then a file of scalars read back record by record (length,
 * masked CRCs, Event fields decoded with protobuf-c), and I/O errors.
 * argv[1]: a scratch directory. With "--write DIR" it only writes the
 * scalars below into DIR and prints the file's path, for
 * tests/check_tensorboard.py, which reads them with TensorBoard itself. */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "io/crc32c.h"
#include "tb_event.pb-c.h"
#include "test_util.h"

/* A bit-at-a-time CRC-32C, independent of the library's table. */
static uint32_t crc32c_bitwise(const unsigned char *p, size_t n)
{
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1u)));
    }
    return ~c;
}

static void test_crc32c(void)
{
    CHECK(recur_crc32c("123456789", 9) == 0xE3069283u);
    CHECK(recur_crc32c("", 0) == 0u);
    /* RFC 3720 (iSCSI) B.4 vectors: 32 bytes of zeros, of 0xFF, ascending. */
    unsigned char buf[256];
    memset(buf, 0, 32);
    CHECK(recur_crc32c(buf, 32) == 0x8A9136AAu);
    memset(buf, 0xFF, 32);
    CHECK(recur_crc32c(buf, 32) == 0x62A8AB43u);
    for (int i = 0; i < 32; i++)
        buf[i] = (unsigned char)i;
    CHECK(recur_crc32c(buf, 32) == 0x46DD794Eu);
    /* Every table entry and some pseudo-random buffers against the bitwise CRC. */
    uint32_t x = 12345;
    for (int i = 0; i < 256; i++) {
        x = x * 1103515245u + 12345u;
        buf[i] = (unsigned char)(x >> 16);
    }
    int same = 1;
    for (size_t n = 0; n <= 256; n++)
        same &= recur_crc32c(buf, n) == crc32c_bitwise(buf, n);
    for (int b = 0; b < 256; b++) {
        unsigned char one = (unsigned char)b;
        same &= recur_crc32c(&one, 1) == crc32c_bitwise(&one, 1);
    }
    CHECK(same);
    CHECK(recur_crc32c_extend(recur_crc32c(buf, 100), buf + 100, 156) ==
          recur_crc32c(buf, 256));
    /* The mask of TensorFlow's crc32c.h. */
    CHECK(recur_crc32c_mask(0) == 0xa282ead8u);
    CHECK(recur_crc32c_mask(0xE3069283u) ==
          (uint32_t)(((0xE3069283u >> 15) | (0xE3069283u << 17)) + 0xa282ead8u));
}

static uint64_t get_le64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static uint32_t get_le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static unsigned char *read_all(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, used = 0;
    unsigned char *buf = malloc(cap);
    while (buf) {
        used += fread(buf + used, 1, cap - used, f);
        if (used < cap)
            break;
        unsigned char *grown = realloc(buf, cap * 2);
        if (!grown) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = grown;
        cap *= 2;
    }
    fclose(f);
    *size = used;
    return buf;
}

/* Splits a file into records, checking the framing; returns the count or -1. */
#define MAX_RECORDS 64
typedef struct record {
    const unsigned char *data;
    size_t size;
} record;

static int split_records(const unsigned char *bytes, size_t size, record *out)
{
    int count = 0;
    size_t pos = 0;
    while (pos < size) {
        if (size - pos < 12 || count == MAX_RECORDS)
            return -1;
        uint64_t len = get_le64(bytes + pos);
        if (get_le32(bytes + pos + 8) != recur_crc32c_mask(crc32c_bitwise(bytes + pos, 8)))
            return -1;
        if (len > size - pos - 12 || size - pos - 12 - len < 4)
            return -1;
        const unsigned char *data = bytes + pos + 12;
        if (get_le32(data + len) != recur_crc32c_mask(crc32c_bitwise(data, (size_t)len)))
            return -1;
        out[count].data = data;
        out[count].size = (size_t)len;
        count++;
        pos += 12 + (size_t)len + 4;
    }
    return count;
}

typedef struct scalar {
    const char *tag;
    int64_t step;
    float value;
} scalar;

static const scalar scalars[] = {
    {"loss/train", 0, 4.5f},         {"loss/train", 1, 3.25f},      {"loss/val", 1, 3.5f},
    {"loss/train", 2, -1.75f},       {"lr", 2, 1e-30f},             {"lr", 3, 0.0f},
    {"loss/val", 1000000, -0.0f},    {"tiny", 7, 1.4e-45f},         {"big", 8, 3.0e38f},
    {"loss/train", 5000000000LL, 0.125f}, {"loss/val", 1000001, -123.456f},
};
#define SCALAR_COUNT (sizeof scalars / sizeof scalars[0])

static int same_bits(float a, float b) { return memcmp(&a, &b, sizeof a) == 0; }

static void check_file(const char *path, double before, double after)
{
    size_t size = 0;
    unsigned char *bytes = read_all(path, &size);
    CHECK(bytes != NULL);
    if (!bytes)
        return;
    record rec[MAX_RECORDS];
    int count = split_records(bytes, size, rec);
    CHECK(count == (int)SCALAR_COUNT + 1);
    if (count != (int)SCALAR_COUNT + 1) {
        free(bytes);
        return;
    }
    /* The first record: wall_time and file_version only. */
    Recur__Tb__Event *e = recur__tb__event__unpack(NULL, rec[0].size, rec[0].data);
    CHECK(e != NULL);
    if (e) {
        CHECK(e->what_case == RECUR__TB__EVENT__WHAT_FILE_VERSION);
        CHECK(e->what_case == RECUR__TB__EVENT__WHAT_FILE_VERSION &&
              !strcmp(e->file_version, "brain.Event:2"));
        CHECK(e->step == 0);
        CHECK(e->wall_time >= before - 1.0 && e->wall_time <= after + 1.0);
        recur__tb__event__free_unpacked(e, NULL);
    }
    /* Its exact bytes: wall_time (field 1, fixed64), file_version (field 3). */
    CHECK(rec[0].size == 9 + 2 + 13 && rec[0].data[0] == 0x09 && rec[0].data[9] == 0x1A &&
          rec[0].data[10] == 13 && !memcmp(rec[0].data + 11, "brain.Event:2", 13));
    double last_time = 0.0;
    for (size_t i = 0; i < SCALAR_COUNT; i++) {
        e = recur__tb__event__unpack(NULL, rec[i + 1].size, rec[i + 1].data);
        CHECK(e != NULL);
        if (!e)
            continue;
        int ok = e->step == scalars[i].step && e->what_case == RECUR__TB__EVENT__WHAT_SUMMARY &&
                 e->summary && e->summary->n_value == 1 &&
                 !strcmp(e->summary->value[0]->tag, scalars[i].tag) &&
                 e->summary->value[0]->value_case ==
                     RECUR__TB__SUMMARY__VALUE__VALUE_SIMPLE_VALUE &&
                 same_bits(e->summary->value[0]->simple_value, scalars[i].value);
        if (!ok)
            fprintf(stderr, "record %zu does not hold %s/%lld = %g\n", i + 1, scalars[i].tag,
                    (long long)scalars[i].step, (double)scalars[i].value);
        CHECK(ok);
        CHECK(e->wall_time >= last_time && e->wall_time <= after + 1.0);
        last_time = e->wall_time;
        recur__tb__event__free_unpacked(e, NULL);
    }
    free(bytes);
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void test_writer(const char *scratch)
{
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/runs/a/b", scratch); /* parents created too */
    double before = now();
    recur_tb_writer *w = NULL;
    CHECK_OK(recur_tb_open(dir, &w));
    if (!w)
        return;
    const char *path = recur_tb_path(w);
    char host[256] = "";
    gethostname(host, sizeof host);
    host[sizeof host - 1] = '\0';
    char expected_tail[512];
    snprintf(expected_tail, sizeof expected_tail, ".%s.%ld.recur", host, (long)getpid());
    size_t dir_len = strlen(dir);
    CHECK(!strncmp(path, dir, dir_len) && !strncmp(path + dir_len, "/events.out.tfevents.", 21));
    CHECK(strlen(path) > strlen(expected_tail) &&
          !strcmp(path + strlen(path) - strlen(expected_tail), expected_tail));
    long long seconds = atoll(path + dir_len + 21);
    CHECK(seconds >= (long long)before - 1 && seconds <= (long long)now() + 1);

    /* The version record is on disk at once. */
    struct stat st;
    CHECK(stat(path, &st) == 0 && st.st_size == 12 + 24 + 4);

    for (size_t i = 0; i < SCALAR_COUNT; i++)
        CHECK_OK(recur_tb_add_scalar(w, scalars[i].tag, scalars[i].step, scalars[i].value));
    CHECK_STATUS(recur_tb_add_scalar(w, "", 1, 1.0f), RECUR_E_INVALID);
    CHECK_STATUS(recur_tb_add_scalar(w, NULL, 1, 1.0f), RECUR_E_INVALID);
    CHECK_OK(recur_tb_flush(w));
    check_file(path, before, now());

    /* A second writer in the same directory and second gets its own file. */
    recur_tb_writer *w2 = NULL;
    CHECK_OK(recur_tb_open(dir, &w2));
    CHECK(w2 && strcmp(recur_tb_path(w2), path) != 0);
    recur_tb_close(w2);
    recur_tb_close(w);
    recur_tb_close(NULL);
    CHECK(recur_tb_path(NULL) == NULL);
}

static void test_errors(const char *scratch)
{
    recur_tb_writer *w = (recur_tb_writer *)&w; /* must be reset to NULL */
    CHECK_STATUS(recur_tb_open("", &w), RECUR_E_INVALID);
    CHECK(w == NULL);
    CHECK_STATUS(recur_tb_open(NULL, &w), RECUR_E_INVALID);
    CHECK_STATUS(recur_tb_open(scratch, NULL), RECUR_E_INVALID);
    CHECK_STATUS(recur_tb_add_scalar(NULL, "x", 0, 0.0f), RECUR_E_INVALID);
    CHECK_STATUS(recur_tb_flush(NULL), RECUR_E_INVALID);

    /* A regular file where the directory should be. */
    char file[1024], below[1100];
    snprintf(file, sizeof file, "%s/a_file", scratch);
    FILE *f = fopen(file, "w");
    CHECK(f != NULL);
    if (f)
        fclose(f);
    CHECK_STATUS(recur_tb_open(file, &w), RECUR_E_IO);
    CHECK(strstr(recur_last_error(), file) != NULL);
    snprintf(below, sizeof below, "%s/sub", file);
    CHECK_STATUS(recur_tb_open(below, &w), RECUR_E_IO);
    CHECK(strstr(recur_last_error(), below) != NULL);

    /* An unwritable directory (skipped as root, who can write anywhere). */
    if (geteuid() != 0) {
        char ro[1024];
        snprintf(ro, sizeof ro, "%s/readonly", scratch);
        mkdir(ro, 0555);
        chmod(ro, 0555);
        CHECK_STATUS(recur_tb_open(ro, &w), RECUR_E_IO);
        CHECK(strstr(recur_last_error(), ro) != NULL);
        chmod(ro, 0755);
    }
}

/* The "--write DIR" mode: the scalars, flushed and closed. */
static int write_only(const char *dir)
{
    recur_tb_writer *w = NULL;
    recur_status st = recur_tb_open(dir, &w);
    for (size_t i = 0; st == RECUR_OK && i < SCALAR_COUNT; i++)
        st = recur_tb_add_scalar(w, scalars[i].tag, scalars[i].step, scalars[i].value);
    if (st == RECUR_OK)
        st = recur_tb_flush(w);
    if (st == RECUR_OK)
        printf("%s\n", recur_tb_path(w));
    else
        fprintf(stderr, "test_tensorboard: %s\n", recur_last_error());
    recur_tb_close(w);
    return st == RECUR_OK ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc == 3 && !strcmp(argv[1], "--write"))
        return write_only(argv[2]);
    const char *parent = argc > 1 ? argv[1] : "tb_scratch";
    char scratch[900];
    snprintf(scratch, sizeof scratch, "%s/tensorboard_c", parent);
    mkdir(parent, 0777);
    char cmd[1100];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", scratch);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot clear %s\n", scratch);
    CHECK(mkdir(scratch, 0777) == 0 || errno == EEXIST);
    test_crc32c();
    test_writer(scratch);
    test_errors(scratch);
    return test_finish("test_tensorboard");
}
