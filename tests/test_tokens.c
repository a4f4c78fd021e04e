/* Tokenizer and vocabulary: words and characters, punctuation, case,
 * non-UTF-8 bytes, empty and very long input, ids, limits, file round trip. */
#include <stdlib.h>
#include <string.h>

#include "test_util.h"

typedef struct collected {
    char text[4096]; /* tokens joined by '|' */
    int count;
} collected;

static recur_status collect(const char *token, size_t length, void *context)
{
    collected *c = context;
    size_t used = strlen(c->text);
    if (used + length + 2 < sizeof c->text) {
        memcpy(c->text + used, token, length);
        c->text[used + length] = '|';
        c->text[used + length + 1] = '\0';
    }
    c->count++;
    return RECUR_OK;
}

static collected tokenize(const char *text, size_t n, recur_token_kind kind, int lower, int punct)
{
    collected c = {{0}, 0};
    recur_token_options o = {kind, lower, punct};
    CHECK_OK(recur_tokenize(text, n, &o, collect, &c));
    return c;
}

static recur_status stop_at_two(const char *token, size_t length, void *context)
{
    (void)token, (void)length;
    return ++*(int *)context == 2 ? RECUR_E_INVALID : RECUR_OK;
}

static void check_tokenizer(void)
{
    const char *s = "The film's \"best\" scene, Don't-miss it!\t\n  ";
    collected c = tokenize(s, strlen(s), RECUR_TOKENS_WORDS, 1, 1);
    CHECK(!strcmp(c.text, "the|film's|\"|best|\"|scene|,|don't|-|miss|it|!|"));
    c = tokenize(s, strlen(s), RECUR_TOKENS_WORDS, 0, 0);
    CHECK(!strcmp(c.text, "The|film's|\"best\"|scene,|Don't-miss|it!|"));
    c = tokenize("Ab c", 4, RECUR_TOKENS_CHARS, 1, 0);
    CHECK(!strcmp(c.text, "a|b| |c|") && c.count == 4);
    /* empty and blank text: no tokens */
    CHECK(tokenize("", 0, RECUR_TOKENS_WORDS, 1, 1).count == 0);
    CHECK(tokenize(" \t\r\n", 4, RECUR_TOKENS_WORDS, 1, 1).count == 0);
    CHECK(tokenize(NULL, 0, RECUR_TOKENS_CHARS, 1, 1).count == 0);
    /* Latin-1 and broken UTF-8 bytes stay inside words, NUL bytes too */
    const char latin[] = "caf\xe9 na\xefve \xff\xfe, x\0y";
    c = tokenize(latin, sizeof latin - 1, RECUR_TOKENS_WORDS, 1, 1);
    CHECK(c.count == 5 && !memcmp(c.text, "caf\xe9|na\xefve|\xff\xfe|,|x", 15));
    /* a very long word is cut into 255-byte pieces */
    size_t n = 1000;
    char *longword = malloc(n);
    memset(longword, 'a', n);
    c = tokenize(longword, n, RECUR_TOKENS_WORDS, 1, 1);
    CHECK(c.count == 4); /* 255 + 255 + 255 + 235 */
    free(longword);
    /* a callback's failure stops it */
    int seen = 0;
    recur_token_options o = recur_token_options_default();
    CHECK_STATUS(recur_tokenize("a b c", 5, &o, stop_at_two, &seen), RECUR_E_INVALID);
    CHECK(seen == 2);
    CHECK_STATUS(recur_tokenize("a", 1, &o, NULL, NULL), RECUR_E_INVALID);
}

static void check_vocab(const char *dir)
{
    recur_vocab *v;
    CHECK_OK(recur_vocab_create(&v));
    const char *words[] = {"b", "a", "c", "a", "b", "a", "d", "z"};
    for (int i = 0; i < 8; i++)
        CHECK_OK(recur_vocab_add(v, words[i], 1));
    CHECK(recur_vocab_size(v) == 0);
    CHECK(recur_vocab_id(v, "a", 1) == RECUR_VOCAB_UNK); /* not finished */
    CHECK_OK(recur_vocab_finish(v, 5, 1));               /* <pad> <unk> a b c|d|z (ties bytewise) */
    CHECK(recur_vocab_size(v) == 5);
    CHECK(recur_vocab_id(v, "a", 1) == 2 && recur_vocab_id(v, "b", 1) == 3);
    CHECK(recur_vocab_id(v, "c", 1) == 4 && recur_vocab_id(v, "d", 1) == RECUR_VOCAB_UNK);
    CHECK(recur_vocab_id(v, "never", 5) == RECUR_VOCAB_UNK);
    size_t length;
    CHECK(!strcmp(recur_vocab_token(v, 0, &length), "<pad>") && length == 5);
    CHECK(!strcmp(recur_vocab_token(v, 1, NULL), "<unk>"));
    CHECK(recur_vocab_token(v, 5, &length) == NULL && length == 0);
    CHECK_STATUS(recur_vocab_add(v, "q", 1), RECUR_E_STATE);
    /* round trip through a file keeps every id */
    recur_st_writer *w;
    CHECK_OK(recur_st_writer_create(&w));
    CHECK_OK(recur_vocab_write(v, w, "vocab"));
    char path[1024];
    snprintf(path, sizeof path, "%s/test_tokens.safetensors", dir);
    CHECK_OK(recur_st_writer_save(w, path));
    recur_st_writer_free(w);
    recur_st_file *f = NULL;
    recur_vocab *back = NULL;
    CHECK_OK(recur_st_open(path, &f));
    if (f)
        CHECK_OK(recur_vocab_read(f, "vocab", &back));
    if (back) {
        CHECK(recur_vocab_size(back) == 5);
        for (int64_t id = 0; id < 5; id++) {
            size_t a_len, b_len;
            const char *a = recur_vocab_token(v, id, &a_len), *b = recur_vocab_token(back, id, &b_len);
            CHECK(a_len == b_len && !memcmp(a, b, a_len));
        }
    }
    recur_vocab_free(back);
    CHECK_STATUS(recur_vocab_read(f, "missing", &back), RECUR_E_FORMAT);
    CHECK(back == NULL);
    recur_st_close(f);
    recur_vocab_free(v);
    /* many tokens: the table grows; min_count drops rare ones */
    CHECK_OK(recur_vocab_create(&v));
    char token[16];
    for (int i = 0; i < 5000; i++) {
        int n = snprintf(token, sizeof token, "w%d", i % 2500);
        CHECK_OK(recur_vocab_add(v, token, (size_t)n));
    }
    CHECK_OK(recur_vocab_add(v, "once", 4));
    CHECK_OK(recur_vocab_finish(v, 0, 2));
    CHECK(recur_vocab_size(v) == 2502 && recur_vocab_id(v, "once", 4) == RECUR_VOCAB_UNK);
    CHECK(recur_vocab_id(v, "w1234", 5) >= 2);
    recur_vocab_free(v);
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    check_tokenizer();
    check_vocab(argv[1]);
    return test_finish("test_tokens");
}
