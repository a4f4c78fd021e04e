/* recur seq2seq train|eval|translate|make-dates: an encoder-decoder over
 * characters or words, trained on "source<TAB>target" lines; greedy, beam
 * and sampled decoding; attention maps; the date-normalization demo task. */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli_util.h"
#include "commands.h"
#include "heatmap.h"
#include "io/atomic_file.h"
#include "options.h"
#include "seq2seq_dates.h"

enum {
    S2_OUTPUT, S2_BEAM, S2_TEMPERATURE, S2_TOP_K, S2_ATTENTION_MAP, S2_MAX_LEN, S2_ALPHA,
    S2_SAMPLE_SEED,
    /* saved with the model */
    S2_TOKENS, S2_MODEL, S2_EMBED, S2_HIDDEN, S2_LAYERS, S2_BIDIRECTIONAL, S2_ATTENTION,
    S2_EPOCHS, S2_BATCH, S2_LR, S2_CLIP, S2_VAL_FRACTION, S2_SEED, S2_COUNT
};

static const cli_option s2s_specs[] = {
    {S2_OUTPUT, "output", OPTION_PATH, SCOPE_RUN, NULL, 0, 0, NULL,
     "train: the model file; make-dates: the TSV file (also -o)"},
    {S2_BEAM, "beam", OPTION_INT, SCOPE_RUN, "0", 0, 1024, NULL,
     "eval/translate: beam width (0 = greedy)"},
    {S2_TEMPERATURE, "temperature", OPTION_FLOAT, SCOPE_RUN, "1", 1e-6, 1e6, NULL,
     "translate --sample: softmax temperature"},
    {S2_TOP_K, "top-k", OPTION_INT, SCOPE_RUN, "0", 0, 1 << 24, NULL,
     "translate --sample: draw among the K most likely (0 = all)"},
    {S2_ATTENTION_MAP, "attention-map", OPTION_PATH, SCOPE_RUN, NULL, 0, 0, NULL,
     "translate: PNG heatmap of the first input's attention weights"},
    {S2_MAX_LEN, "max-len", OPTION_INT, SCOPE_RUN, "100", 1, 100000, NULL,
     "eval/translate: output tokens at most (eos included)"},
    {S2_ALPHA, "alpha", OPTION_FLOAT, SCOPE_RUN, "1", 0, 10, NULL,
     "beam: score = log p / length^alpha (0 = raw log p, 1 = mean)"},
    {S2_SAMPLE_SEED, "sample-seed", OPTION_INT, SCOPE_RUN, "1", 0, 2147483647, NULL,
     "translate --sample: seed of the draws; make-dates: see --seed"},
    {S2_TOKENS, "tokens", OPTION_CHOICE, SCOPE_FIXED, "char", 0, 0, "char|word",
     "tokens (words: runs of non-space, punctuation split)"},
    {S2_MODEL, "model", OPTION_CHOICE, SCOPE_FIXED, "lstm", 0, 0, "lstm|gru|rnn", "cell"},
    {S2_EMBED, "embed", OPTION_INT, SCOPE_FIXED, "64", 1, 65536, NULL, "embedding size"},
    {S2_HIDDEN, "hidden", OPTION_INT, SCOPE_FIXED, "128", 1, 65536, NULL, "hidden size"},
    {S2_LAYERS, "layers", OPTION_INT, SCOPE_FIXED, "1", 1, 16, NULL, "stacked layers"},
    {S2_BIDIRECTIONAL, "bidirectional", OPTION_INT, SCOPE_FIXED, "0", 0, 1, NULL,
     "1: the encoder reads both ways (directions summed into the decoder's state)"},
    {S2_ATTENTION, "attention", OPTION_CHOICE, SCOPE_FIXED, "additive", 0, 0,
     "none|additive|dot|general|scaled", "attention over the encoder's outputs"},
    {S2_EPOCHS, "epochs", OPTION_INT, SCOPE_FIXED, "10", 1, 100000, NULL, "passes"},
    {S2_BATCH, "batch", OPTION_INT, SCOPE_FIXED, "64", 1, 65536, NULL, "examples per step"},
    {S2_LR, "lr", OPTION_FLOAT, SCOPE_FIXED, "0.003", 0, 10, NULL, "Adam learning rate"},
    {S2_CLIP, "clip", OPTION_FLOAT, SCOPE_FIXED, "1", 0, 1e9, NULL, "gradient norm clip (0 = off)"},
    {S2_VAL_FRACTION, "val-fraction", OPTION_FLOAT, SCOPE_FIXED, "0.05", 0, 0.5, NULL,
     "held out for validation (the best epoch's weights are kept)"},
    {S2_SEED, "seed", OPTION_INT, SCOPE_FIXED, "1", 0, 2147483647, NULL,
     "seed (make-dates: of the generator)"},
};
enum { S2S_SPEC_COUNT = sizeof s2s_specs / sizeof s2s_specs[0] };

static const char s2s_usage[] =
    "usage: recur seq2seq train DATA.tsv [options] -o MODEL\n"
    "       recur seq2seq eval MODEL DATA.tsv [--beam K]\n"
    "       recur seq2seq translate MODEL [--beam K | --sample --temperature T --top-k K]\n"
    "                               [--attention-map MAP.png] < sources.txt\n"
    "       recur seq2seq make-dates N --seed S -o FILE.tsv\n"
    "\n"
    "Sequence to sequence: an encoder-decoder RNN with attention, trained on\n"
    "'source<TAB>target' lines (characters or words). eval prints the exact-match\n"
    "and token accuracy; translate reads sources from stdin, one per line.\n"
    "make-dates writes the demo task: dates in many formats -> ISO 8601.\n";

static const char s2s_example[] =
    "  recur seq2seq make-dates 20000 --seed 1 -o dates.tsv\n"
    "  recur seq2seq train dates.tsv --model gru --epochs 10 -o dates.safetensors\n"
    "  echo 'Tue 3 Mar 1998' | recur seq2seq translate dates.safetensors --beam 4\n";

/* ---------------------------------------------------------------- */
/* Vocabularies: recur_vocab ids shifted to leave pad 0, bos 1, eos 2  */
/* ---------------------------------------------------------------- */

#define S2S_UNK 3

static recur_token_options token_options(const cli_options *o)
{
    recur_token_options t = {cli_options_choice(o, S2_TOKENS) == 0 ? RECUR_TOKENS_CHARS
                                                                   : RECUR_TOKENS_WORDS,
                             0, 1};
    return t;
}

static int64_t model_id(int64_t vocab_id) { return vocab_id == RECUR_VOCAB_UNK ? S2S_UNK : vocab_id + 2; }
static int64_t vocab_size_of(const recur_vocab *v) { return recur_vocab_size(v) + 2; }

typedef struct ids_list {
    int64_t *ids;
    size_t count, capacity;
    const recur_vocab *vocab; /* encode: NULL = count into `counting` */
    recur_vocab *counting;
} ids_list;

static recur_status collect_token(const char *token, size_t length, void *context)
{
    ids_list *l = context;
    if (l->counting)
        return recur_vocab_add(l->counting, token, length);
    if (l->count == l->capacity) {
        size_t grown = l->capacity ? 2 * l->capacity : 64;
        int64_t *p = realloc(l->ids, grown * sizeof *p);
        if (!p)
            return cli_out_of_memory("seq2seq: the token ids");
        l->ids = p, l->capacity = grown;
    }
    l->ids[l->count++] = model_id(recur_vocab_id(l->vocab, token, length));
    return RECUR_OK;
}

/* Appends the ids of text and eos. */
static recur_status encode_text(const char *text, const recur_token_options *to,
                                const recur_vocab *vocab, ids_list *out)
{
    out->vocab = vocab, out->counting = NULL;
    CLI_TRY(recur_tokenize(text, strlen(text), to, collect_token, out));
    if (out->count == out->capacity) {
        int64_t *p = realloc(out->ids, (out->capacity + 64) * sizeof *p);
        if (!p)
            return cli_out_of_memory("seq2seq: the token ids");
        out->ids = p, out->capacity += 64;
    }
    out->ids[out->count++] = RECUR_S2S_EOS;
    return RECUR_OK;
}

/* Text of output ids (eos excluded): characters joined, words with spaces. */
static void decode_text(const recur_vocab *vocab, const recur_token_options *to,
                        const int64_t *ids, int n, FILE *f)
{
    for (int i = 0; i < n; i++) {
        size_t len = 0;
        const char *tok = ids[i] == S2S_UNK ? "<unk>" : recur_vocab_token(vocab, ids[i] - 2, &len);
        if (ids[i] == S2S_UNK)
            len = 5;
        if (!tok)
            tok = "?", len = 1;
        if (i && to->kind == RECUR_TOKENS_WORDS)
            fputc(' ', f);
        fwrite(tok, 1, len, f);
    }
}

/* A label for the attention map's axes. */
static void token_label(const recur_vocab *vocab, int64_t id, char *buf, size_t size)
{
    size_t len = 0;
    const char *tok = id == RECUR_S2S_EOS ? "<eos>"
                      : id == S2S_UNK     ? "<unk>"
                                          : recur_vocab_token(vocab, id - 2, &len);
    if (id == RECUR_S2S_EOS || id == S2S_UNK)
        len = 5;
    if (!tok)
        tok = "?", len = 1;
    if (len == 1 && tok[0] == ' ')
        snprintf(buf, size, "' '");
    else
        snprintf(buf, size, "%.*s", (int)(len < size ? len : size - 1), tok);
}

/* ---------------------------------------------------------------- */
/* Data: source<TAB>target lines                                     */
/* ---------------------------------------------------------------- */

typedef struct pairs {
    unsigned char *bytes;
    char **source, **target;
    int64_t n;
} pairs;

static void pairs_free(pairs *p)
{
    free(p->bytes), free(p->source), free(p->target);
    memset(p, 0, sizeof *p);
}

/* Reads the lines of a TSV file (blank lines skipped, CR before LF dropped);
 * the first tab splits source from target (a target may hold more tabs). */
static int read_pairs(const char *path, pairs *p)
{
    size_t size;
    if (cli_read_file(path, &p->bytes, &size))
        return CLI_EXIT_BAD_INPUT;
    char *text = (char *)p->bytes;
    text[size] = '\0'; /* cli_read_file's buffer always has room for it */
    int64_t lines = 1;
    for (size_t i = 0; i < size; i++)
        lines += text[i] == '\n';
    p->source = malloc((size_t)lines * sizeof *p->source);
    p->target = malloc((size_t)lines * sizeof *p->target);
    if (!p->source || !p->target)
        return cli_error("out of memory");
    int64_t line = 0;
    for (char *at = text; at < text + size;) {
        char *nl = memchr(at, '\n', (size_t)(text + size - at));
        char *end = nl ? nl : text + size;
        line++;
        *end = '\0';
        if (end > at && end[-1] == '\r')
            *--end = '\0';
        if (strlen(at) != (size_t)(end - at))
            return cli_error("%s:%lld: a NUL byte in the line", path, (long long)line);
        if (end > at) {
            char *tab = strchr(at, '\t');
            if (!tab)
                return cli_error("%s:%lld: no tab between source and target", path,
                                 (long long)line);
            *tab = '\0';
            p->source[p->n] = at, p->target[p->n] = tab + 1;
            p->n++;
        }
        at = nl ? nl + 1 : text + size;
    }
    if (!p->n)
        return cli_error("%s: no examples (lines 'source<TAB>target')", path);
    return 0;
}

typedef struct dataset {
    int64_t n;
    int64_t *src_offset, *tgt_offset; /* [n + 1] into ids */
    ids_list src, tgt;
} dataset;

static void dataset_free(dataset *d)
{
    free(d->src_offset), free(d->tgt_offset), free(d->src.ids), free(d->tgt.ids);
    memset(d, 0, sizeof *d);
}

static int encode_pairs(const pairs *p, const recur_token_options *to, const recur_vocab *sv,
                        const recur_vocab *tv, dataset *d)
{
    d->n = p->n;
    d->src_offset = malloc((size_t)(p->n + 1) * sizeof(int64_t));
    d->tgt_offset = malloc((size_t)(p->n + 1) * sizeof(int64_t));
    if (!d->src_offset || !d->tgt_offset)
        return cli_error("out of memory");
    d->src_offset[0] = d->tgt_offset[0] = 0;
    for (int64_t i = 0; i < p->n; i++) {
        recur_status st = encode_text(p->source[i], to, sv, &d->src);
        if (st == RECUR_OK)
            st = encode_text(p->target[i], to, tv, &d->tgt);
        if (st != RECUR_OK)
            return cli_status_error(st);
        d->src_offset[i + 1] = (int64_t)d->src.count, d->tgt_offset[i + 1] = (int64_t)d->tgt.count;
    }
    return 0;
}

/* A padded time-major batch of the examples idx[0..count). */
typedef struct batch_buf {
    int64_t *source, *target, *slen, *tlen;
    int S, T;
} batch_buf;

static int fill_batch(const dataset *d, const int64_t *idx, int count, batch_buf *b)
{
    if (count < 1)
        return cli_error("seq2seq: an empty batch");
    int S = 1, T = 1;
    for (int k = 0; k < count; k++) {
        int64_t i = idx[k];
        int s = (int)(d->src_offset[i + 1] - d->src_offset[i]);
        int t = (int)(d->tgt_offset[i + 1] - d->tgt_offset[i]);
        S = s > S ? s : S, T = t > T ? t : T;
    }
    free(b->source), free(b->target), free(b->slen), free(b->tlen);
    b->source = calloc((size_t)S * count, sizeof(int64_t));
    b->target = calloc((size_t)T * count, sizeof(int64_t));
    b->slen = malloc((size_t)count * sizeof(int64_t));
    b->tlen = malloc((size_t)count * sizeof(int64_t));
    if (!b->source || !b->target || !b->slen || !b->tlen)
        return cli_error("out of memory");
    for (int k = 0; k < count; k++) {
        int64_t i = idx[k];
        b->slen[k] = d->src_offset[i + 1] - d->src_offset[i];
        b->tlen[k] = d->tgt_offset[i + 1] - d->tgt_offset[i];
        for (int64_t t = 0; t < b->slen[k]; t++)
            b->source[t * count + k] = d->src.ids[d->src_offset[i] + t];
        for (int64_t t = 0; t < b->tlen[k]; t++)
            b->target[t * count + k] = d->tgt.ids[d->tgt_offset[i] + t];
    }
    b->S = S, b->T = T;
    return 0;
}

static void batch_free(batch_buf *b)
{
    free(b->source), free(b->target), free(b->slen), free(b->tlen);
}

static uint64_t next_random(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static void shuffle(int64_t *idx, int64_t n, uint64_t *rng)
{
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)(next_random(rng) % (uint64_t)(i + 1));
        int64_t t = idx[i];
        idx[i] = idx[j], idx[j] = t;
    }
}

/* ---------------------------------------------------------------- */
/* Passes                                                            */
/* ---------------------------------------------------------------- */

typedef struct pass_stats {
    double loss;
    int64_t tokens, correct_tokens;
} pass_stats;

/* Teacher-forced pass: training (opt) or scoring. */
static int run_pass(recur_seq2seq *m, const dataset *d, const int64_t *idx, int64_t n, int batch,
                    recur_optimizer *opt, float *const *grads, const size_t *sizes, int count,
                    double clip, pass_stats *out)
{
    batch_buf b = {0};
    int rc = 0;
    const int V = recur_seq2seq_get_config(m)->target_vocab;
    memset(out, 0, sizeof *out);
    for (int64_t at = 0; !rc && at < n; at += batch) {
        int k = (int)(n - at < batch ? n - at : batch);
        if ((rc = fill_batch(d, idx + at, k, &b)) != 0)
            break;
        recur_seq2seq_batch sb = {k, b.S, b.source, b.slen, b.T, b.target, b.tlen};
        float loss;
        const float *logits;
        recur_status st = recur_seq2seq_forward(m, &sb, &loss, &logits);
        if (st == RECUR_OK && opt) {
            recur_seq2seq_zero_grad(m);
            st = recur_seq2seq_backward(m);
            if (st == RECUR_OK && clip > 0)
                st = recur_clip_grad_norm(count, grads, sizes, (float)clip, NULL);
            if (st == RECUR_OK)
                st = recur_optimizer_step(opt);
        }
        if (st != RECUR_OK) {
            rc = cli_status_error(st);
            break;
        }
        if (!isfinite(loss)) {
            cli_error("training diverged: the loss is %s (try a lower --lr)",
                      isnan(loss) ? "NaN" : "infinite");
            rc = CLI_EXIT_FAILURE; /* as recur train: 1 for a diverged run */
            break;
        }
        int64_t tokens = 0;
        for (int j = 0; j < k; j++)
            for (int64_t t = 0; t < b.tlen[j]; t++) {
                const float *row = logits + ((size_t)t * k + j) * V;
                int best = 0;
                for (int v = 1; v < V; v++)
                    if (row[v] > row[best])
                        best = v;
                out->correct_tokens += best == b.target[t * k + j];
                tokens++;
            }
        out->loss += (double)loss * (double)tokens;
        out->tokens += tokens;
    }
    if (out->tokens)
        out->loss /= (double)out->tokens;
    batch_free(&b);
    return rc;
}

typedef struct decode_stats {
    int64_t examples, exact, tokens, correct_tokens;
} decode_stats;

/* Decodes examples idx and compares with their targets. Token accuracy: the
 * reference's tokens (eos included) matched at the same position. */
static int decode_pass(recur_seq2seq *m, const dataset *d, const int64_t *idx, int64_t n,
                       const recur_decode_options *opt, decode_stats *out)
{
    memset(out, 0, sizeof *out);
    int64_t *buffer = malloc(((size_t)opt->max_length + 1) * sizeof *buffer);
    if (!buffer)
        return cli_error("out of memory");
    for (int64_t k = 0; k < n; k++) {
        int64_t i = idx[k];
        const int64_t *src = d->src.ids + d->src_offset[i], *ref = d->tgt.ids + d->tgt_offset[i];
        int slen = (int)(d->src_offset[i + 1] - d->src_offset[i]);
        int tlen = (int)(d->tgt_offset[i + 1] - d->tgt_offset[i]);
        recur_decode_result r;
        recur_status st = recur_seq2seq_decode(m, slen, src, opt, buffer, NULL, &r);
        if (st != RECUR_OK) {
            free(buffer);
            return cli_status_error(st);
        }
        if (r.finished)
            buffer[r.length] = RECUR_S2S_EOS;
        int produced = r.length + r.finished, same = produced == tlen;
        for (int t = 0; t < tlen; t++) {
            int match = t < produced && buffer[t] == ref[t];
            out->correct_tokens += match;
            same &= match;
        }
        out->tokens += tlen;
        out->exact += same;
        out->examples++;
    }
    free(buffer);
    return 0;
}

/* ---------------------------------------------------------------- */
/* Model files                                                       */
/* ---------------------------------------------------------------- */

static recur_status save_model(const char *path, const recur_seq2seq *m, const recur_vocab *sv,
                               const recur_vocab *tv, const cli_options *o)
{
    recur_st_writer *w;
    CLI_TRY(recur_st_writer_create(&w));
    recur_status st = recur_seq2seq_write(m, w);
    if (st == RECUR_OK)
        st = recur_vocab_write(sv, w, "vocab.source");
    if (st == RECUR_OK)
        st = recur_vocab_write(tv, w, "vocab.target");
    if (st == RECUR_OK)
        st = cli_options_write(o, w, "recur.seq2seq.");
    if (st == RECUR_OK)
        st = recur_st_writer_save(w, path);
    recur_st_writer_free(w);
    return st;
}

/* Loads MODEL, its vocabularies and its token options (the restored option
 * strings live in the file, which is closed here: read them before). */
static int load_model(cli_options *o, const char *path, recur_seq2seq **m, recur_vocab **sv,
                      recur_vocab **tv, recur_token_options *to)
{
    recur_st_file *f;
    recur_status st = recur_st_open(path, &f);
    if (st != RECUR_OK)
        return cli_status_error(st);
    st = recur_seq2seq_read(f, m);
    if (st == RECUR_OK)
        st = recur_vocab_read(f, "vocab.source", sv);
    if (st == RECUR_OK)
        st = recur_vocab_read(f, "vocab.target", tv);
    int rc = st != RECUR_OK ? cli_status_error(st) : cli_options_restore(o, f, "recur.seq2seq.", 0);
    if (!rc)
        *to = token_options(o);
    for (int i = 0; i < S2S_SPEC_COUNT; i++) /* no pointer into the file may survive */
        if (s2s_specs[i].scope != SCOPE_RUN)
            o->str[s2s_specs[i].id] = NULL;
    recur_st_close(f);
    if (!rc && (vocab_size_of(*sv) != recur_seq2seq_get_config(*m)->source_vocab ||
                vocab_size_of(*tv) != recur_seq2seq_get_config(*m)->target_vocab))
        rc = cli_error("%s: the vocabularies do not match the model", path);
    return rc;
}

/* ---------------------------------------------------------------- */
/* train                                                             */
/* ---------------------------------------------------------------- */

static double seconds_since(const struct timespec *start)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - start->tv_sec) + 1e-9 * (double)(now.tv_nsec - start->tv_nsec);
}

static int s2s_train(int argc, char **argv)
{
    cli_options o;
    cli_options_init(&o, s2s_specs, S2S_SPEC_COUNT, "seq2seq train", s2s_usage, s2s_example);
    int rc = cli_options_parse(&o, argc, argv, 1);
    if (rc >= 0)
        return rc;
    if (!o.positional_count)
        return cli_error("seq2seq train: DATA.tsv is missing (see recur seq2seq --help)");
    if (!o.str[S2_OUTPUT])
        return cli_error("seq2seq train: -o MODEL is missing");
    if (cli_check_output_not_input(o.str[S2_OUTPUT], o.positional[0]))
        return CLI_EXIT_BAD_INPUT;
    int attention = cli_options_choice(&o, S2_ATTENTION);
    if (attention == 2 && o.num[S2_BIDIRECTIONAL])
        return cli_error("seq2seq train: --attention dot needs --bidirectional 0 (use general)");
    pairs p = {0};
    dataset d = {0};
    recur_vocab *sv = NULL, *tv = NULL;
    recur_seq2seq *m = NULL;
    recur_optimizer *opt = NULL;
    int64_t *order = NULL;
    float **values = NULL, **grads = NULL, *best = NULL;
    size_t *sizes = NULL, total = 0;
    int count = 0;
    recur_token_options to = token_options(&o);
    rc = read_pairs(o.positional[0], &p);
    /* split, then vocabularies from the training part */
    int64_t n_val = rc ? 0 : (int64_t)((double)p.n * o.num[S2_VAL_FRACTION]), n_train = p.n - n_val;
    if (!rc && n_train < 1)
        rc = cli_error("seq2seq train: no training examples left after the validation split");
    if (!rc && !(order = malloc((size_t)p.n * sizeof *order)))
        rc = cli_error("out of memory");
    uint64_t rng = (uint64_t)o.num[S2_SEED] * 7919 + 1;
    for (int64_t i = 0; !rc && i < p.n; i++)
        order[i] = i;
    if (!rc)
        shuffle(order, p.n, &rng);
    recur_status st = RECUR_OK;
    if (!rc && ((st = recur_vocab_create(&sv)) != RECUR_OK ||
                (st = recur_vocab_create(&tv)) != RECUR_OK))
        rc = cli_status_error(st);
    for (int64_t k = 0; !rc && k < n_train; k++) {
        ids_list counter = {0};
        counter.counting = sv;
        st = recur_tokenize(p.source[order[k]], strlen(p.source[order[k]]), &to, collect_token,
                            &counter);
        counter.counting = tv;
        if (st == RECUR_OK)
            st = recur_tokenize(p.target[order[k]], strlen(p.target[order[k]]), &to,
                                collect_token, &counter);
        if (st != RECUR_OK)
            rc = cli_status_error(st);
    }
    if (!rc && ((st = recur_vocab_finish(sv, 0, 1)) != RECUR_OK ||
                (st = recur_vocab_finish(tv, 0, 1)) != RECUR_OK))
        rc = cli_status_error(st);
    if (!rc)
        rc = encode_pairs(&p, &to, sv, tv, &d);
    if (!rc) {
        static const recur_cell cells[] = {RECUR_LSTM, RECUR_GRU, RECUR_RNN_TANH};
        static const recur_attention_kind kinds[] = {RECUR_ATTN_ADDITIVE, RECUR_ATTN_ADDITIVE,
                                                     RECUR_ATTN_DOT, RECUR_ATTN_GENERAL,
                                                     RECUR_ATTN_SCALED_DOT};
        recur_seq2seq_config c = recur_seq2seq_config_default(
            cells[cli_options_choice(&o, S2_MODEL)], (int)vocab_size_of(sv), (int)vocab_size_of(tv),
            (int)o.num[S2_EMBED], (int)o.num[S2_HIDDEN]);
        c.num_layers = (int)o.num[S2_LAYERS];
        c.bidirectional = (int)o.num[S2_BIDIRECTIONAL];
        c.attention = attention != 0;
        c.attention_kind = kinds[attention];
        if ((st = recur_seq2seq_create(&c, (uint64_t)o.num[S2_SEED], &m)) != RECUR_OK)
            rc = cli_status_error(st);
    }
    if (!rc) {
        count = recur_seq2seq_param_count(m);
        values = calloc((size_t)count, sizeof *values);
        grads = calloc((size_t)count, sizeof *grads);
        sizes = calloc((size_t)count, sizeof *sizes);
        recur_optimizer_config oc = recur_optimizer_config_default(RECUR_ADAM);
        oc.lr = (float)o.num[S2_LR];
        st = values && grads && sizes ? recur_optimizer_create(&oc, &opt)
                                      : cli_out_of_memory("seq2seq: the parameter lists");
        for (int i = 0; st == RECUR_OK && i < count; i++) {
            recur_param prm;
            if ((st = recur_seq2seq_param(m, i, &prm)) != RECUR_OK)
                break;
            values[i] = prm.value, grads[i] = prm.grad, sizes[i] = prm.numel, total += prm.numel;
            st = recur_optimizer_add(opt, prm.value, prm.grad, prm.numel);
        }
        if (st == RECUR_OK && !(best = malloc(total * sizeof *best)))
            st = cli_out_of_memory("seq2seq: the best weights");
        if (st != RECUR_OK)
            rc = cli_status_error(st);
    }
    if (!rc)
        printf("%lld examples (%lld train, %lld validation), vocabularies %lld -> %lld, %zu "
               "parameters\n",
               (long long)p.n, (long long)n_train, (long long)n_val, (long long)vocab_size_of(sv),
               (long long)vocab_size_of(tv), total);
    int64_t *train = order, *val = order ? order + n_train : NULL;
    int batch = (int)o.num[S2_BATCH], best_epoch = 0;
    double best_loss = INFINITY;
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    recur_decode_options greedy = recur_decode_options_default();
    int64_t longest = 1;
    for (int64_t i = 0; !rc && i < d.n; i++)
        if (d.tgt_offset[i + 1] - d.tgt_offset[i] > longest)
            longest = d.tgt_offset[i + 1] - d.tgt_offset[i];
    greedy.max_length = (int)(2 * longest + 10);
    for (int epoch = 1; !rc && epoch <= (int)o.num[S2_EPOCHS]; epoch++) {
        pass_stats tr, va = {0};
        decode_stats ex = {0};
        shuffle(train, n_train, &rng);
        rc = run_pass(m, &d, train, n_train, batch, opt, grads, sizes, count, o.num[S2_CLIP], &tr);
        if (!rc && n_val)
            rc = run_pass(m, &d, val, n_val, 256, NULL, NULL, NULL, 0, 0, &va);
        if (!rc && n_val) /* greedy exact match on (at most 500 of) the validation part */
            rc = decode_pass(m, &d, val, n_val < 500 ? n_val : 500, &greedy, &ex);
        if (rc)
            break;
        double score = n_val ? va.loss : tr.loss;
        printf("epoch %d/%d  train loss %.4f tok %.4f  val loss %.4f tok %.4f exact %.4f  %.1fs\n",
               epoch, (int)o.num[S2_EPOCHS], tr.loss,
               (double)tr.correct_tokens / (double)tr.tokens, n_val ? va.loss : NAN,
               n_val ? (double)va.correct_tokens / (double)va.tokens : NAN,
               ex.examples ? (double)ex.exact / (double)ex.examples : NAN, seconds_since(&start));
        fflush(stdout);
        if (score < best_loss) {
            best_loss = score, best_epoch = epoch;
            for (int i = 0, at = 0; i < count; at += (int)sizes[i], i++)
                memcpy(best + at, values[i], sizes[i] * sizeof(float));
        }
    }
    if (!rc && best_epoch) {
        for (int i = 0, at = 0; i < count; at += (int)sizes[i], i++)
            memcpy(values[i], best + at, sizes[i] * sizeof(float));
        printf("kept the weights of epoch %d (%s loss %.4f)\n", best_epoch,
               n_val ? "validation" : "train", best_loss);
        if ((st = save_model(o.str[S2_OUTPUT], m, sv, tv, &o)) != RECUR_OK)
            rc = cli_status_error(st);
        else
            printf("saved %s\n", o.str[S2_OUTPUT]);
    }
    free(values), free(grads), free(sizes), free(best), free(order);
    recur_optimizer_free(opt);
    recur_seq2seq_free(m);
    recur_vocab_free(sv), recur_vocab_free(tv);
    dataset_free(&d);
    pairs_free(&p);
    return rc;
}

/* ---------------------------------------------------------------- */
/* eval and translate                                                */
/* ---------------------------------------------------------------- */

static recur_decode_options decode_options(const cli_options *o, int sample)
{
    recur_decode_options d = recur_decode_options_default();
    d.max_length = (int)o->num[S2_MAX_LEN];
    d.length_alpha = (float)o->num[S2_ALPHA];
    if (sample) {
        d.method = RECUR_DECODE_SAMPLE;
        d.temperature = (float)o->num[S2_TEMPERATURE];
        d.top_k = (int)o->num[S2_TOP_K];
        d.seed = (uint64_t)o->num[S2_SAMPLE_SEED];
    } else if (o->num[S2_BEAM] >= 1) {
        d.method = RECUR_DECODE_BEAM;
        d.beam_width = (int)o->num[S2_BEAM];
    }
    return d;
}

static int s2s_eval(int argc, char **argv)
{
    cli_options o;
    cli_options_init(&o, s2s_specs, S2S_SPEC_COUNT, "seq2seq eval", s2s_usage, s2s_example);
    int rc = cli_options_parse(&o, argc, argv, 2);
    if (rc >= 0)
        return rc;
    if (o.positional_count < 2)
        return cli_error("seq2seq eval: give MODEL and DATA.tsv (see recur seq2seq --help)");
    recur_seq2seq *m = NULL;
    recur_vocab *sv = NULL, *tv = NULL;
    pairs p = {0};
    dataset d = {0};
    int64_t *idx = NULL;
    recur_token_options to;
    rc = load_model(&o, o.positional[0], &m, &sv, &tv, &to);
    if (!rc)
        rc = read_pairs(o.positional[1], &p);
    if (!rc)
        rc = encode_pairs(&p, &to, sv, tv, &d);
    if (!rc && !(idx = malloc((size_t)d.n * sizeof *idx)))
        rc = cli_error("out of memory");
    for (int64_t i = 0; !rc && i < d.n; i++)
        idx[i] = i;
    decode_stats s;
    recur_decode_options opt = decode_options(&o, 0);
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    if (!rc)
        rc = decode_pass(m, &d, idx, d.n, &opt, &s);
    if (!rc) {
        char method[32];
        snprintf(method, sizeof method, opt.method == RECUR_DECODE_BEAM ? "beam %d" : "greedy",
                 opt.beam_width);
        printf("eval (%s): %lld examples, exact match %.4f, token accuracy %.4f, %.1fs\n", method,
               (long long)s.examples, (double)s.exact / (double)s.examples,
               (double)s.correct_tokens / (double)s.tokens, seconds_since(&start));
    }
    free(idx);
    dataset_free(&d);
    pairs_free(&p);
    recur_seq2seq_free(m);
    recur_vocab_free(sv), recur_vocab_free(tv);
    return rc;
}

static int draw_map(const char *path, const char *source_text, const int64_t *src, int slen,
                    const int64_t *out, int produced, const float *weights,
                    const recur_vocab *sv, const recur_vocab *tv)
{
    char (*rl)[64] = calloc((size_t)produced + 1, sizeof *rl);
    char (*cl)[64] = calloc((size_t)slen, sizeof *cl);
    const char **rows = calloc((size_t)produced + 1, sizeof *rows);
    const char **cols = calloc((size_t)slen, sizeof *cols);
    int rc = 0;
    if (!rl || !cl || !rows || !cols)
        rc = cli_error("out of memory");
    for (int r = 0; !rc && r < produced; r++)
        token_label(tv, out[r], rl[r], sizeof rl[r]), rows[r] = rl[r];
    for (int c = 0; !rc && c < slen; c++)
        token_label(sv, src[c], cl[c], sizeof cl[c]), cols[c] = cl[c];
    if (!rc)
        rc = cli_heatmap(path, source_text, rows, produced, cols, slen, weights);
    free(rl), free(cl), free(rows), free(cols);
    return rc;
}

static int s2s_translate(int argc, char **argv)
{
    /* --sample is a flag without a value */
    int sample = 0;
    char **args = malloc((size_t)(argc + 1) * sizeof *args);
    if (!args)
        return cli_error("out of memory");
    int n_args = 0;
    for (int i = 0; i < argc; i++) {
        if (i && !strcmp(argv[i], "--sample"))
            sample = 1;
        else
            args[n_args++] = argv[i];
    }
    cli_options o;
    cli_options_init(&o, s2s_specs, S2S_SPEC_COUNT, "seq2seq translate", s2s_usage, s2s_example);
    int rc = cli_options_parse(&o, n_args, args, 1);
    if (rc >= 0) {
        free(args);
        return rc;
    }
    rc = 0;
    if (!o.positional_count)
        rc = cli_error("seq2seq translate: MODEL is missing (see recur seq2seq --help)");
    if (!rc && cli_check_output_not_input(o.str[S2_ATTENTION_MAP], o.positional[0]))
        rc = CLI_EXIT_BAD_INPUT;
    if (!rc && sample && o.num[S2_BEAM] >= 1)
        rc = cli_error("seq2seq translate: --sample and --beam exclude each other");
    if (!rc && !sample && (o.given[S2_TEMPERATURE] || o.given[S2_TOP_K]))
        rc = cli_error("seq2seq translate: --temperature and --top-k need --sample");
    recur_seq2seq *m = NULL;
    recur_vocab *sv = NULL, *tv = NULL;
    recur_token_options to = {0};
    if (!rc)
        rc = load_model(&o, o.positional[0], &m, &sv, &tv, &to);
    recur_decode_options opt = decode_options(&o, sample);
    int64_t *out = rc ? NULL : malloc(((size_t)opt.max_length + 1) * sizeof *out);
    if (!rc && !out)
        rc = cli_error("out of memory");
    char *line = NULL;
    size_t cap = 0;
    ssize_t got;
    int64_t lines = 0;
    while (!rc && (got = getline(&line, &cap, stdin)) >= 0) {
        while (got > 0 && (line[got - 1] == '\n' || line[got - 1] == '\r'))
            line[--got] = '\0';
        ids_list src = {0};
        recur_status st = encode_text(line, &to, sv, &src);
        recur_decode_result r;
        float *weights = NULL;
        if (st == RECUR_OK && !lines && o.str[S2_ATTENTION_MAP]) {
            weights = calloc((size_t)opt.max_length * src.count, sizeof *weights);
            if (!weights)
                st = cli_out_of_memory("seq2seq: the attention weights");
        }
        if (sample)
            opt.seed = (uint64_t)o.num[S2_SAMPLE_SEED] + (uint64_t)lines;
        if (st == RECUR_OK)
            st = recur_seq2seq_decode(m, (int)src.count, src.ids, &opt, out, weights, &r);
        if (st != RECUR_OK)
            rc = cli_status_error(st);
        if (!rc) {
            decode_text(tv, &to, out, r.length, stdout);
            fputc('\n', stdout);
            if (weights) {
                if (r.finished)
                    out[r.length] = RECUR_S2S_EOS;
                rc = draw_map(o.str[S2_ATTENTION_MAP], line, src.ids, (int)src.count, out,
                              r.length + r.finished, weights, sv, tv);
            }
        }
        free(weights);
        free(src.ids);
        lines++;
    }
    if (!rc && o.str[S2_ATTENTION_MAP] && !lines)
        rc = cli_error("seq2seq translate: no input line for the attention map");
    if (!rc && fflush(stdout) != 0)
        rc = cli_error("cannot write the output: %s", strerror(errno));
    free(line), free(out), free(args);
    recur_seq2seq_free(m);
    recur_vocab_free(sv), recur_vocab_free(tv);
    return rc;
}

/* ---------------------------------------------------------------- */
/* make-dates                                                        */
/* ---------------------------------------------------------------- */

typedef struct dates_request {
    long count;
    uint64_t seed;
} dates_request;

/* The TSV lines of make-dates as file contents (io/atomic_file.h). */
static int write_dates(FILE *f, void *context)
{
    const dates_request *request = context;
    uint64_t rng = request->seed * 0x2545f4914f6cdd1dULL + 17;
    for (long i = 0; i < request->count; i++) {
        char source[96], target[16];
        s2s_make_date(&rng, source, sizeof source, target, sizeof target);
        fprintf(f, "%s\t%s\n", source, target);
    }
    return ferror(f) ? (errno ? errno : EIO) : 0;
}

static int s2s_make_dates(int argc, char **argv)
{
    cli_options o;
    cli_options_init(&o, s2s_specs, S2S_SPEC_COUNT, "seq2seq make-dates", s2s_usage, s2s_example);
    int rc = cli_options_parse(&o, argc, argv, 1);
    if (rc >= 0)
        return rc;
    long n;
    if (!o.positional_count)
        return cli_error("seq2seq make-dates: N is missing (see recur seq2seq --help)");
    if (cli_parse_int("N", o.positional[0], 1, 100000000, &n))
        return CLI_EXIT_BAD_INPUT;
    if (!o.str[S2_OUTPUT])
        return cli_error("seq2seq make-dates: -o FILE.tsv is missing");
    dates_request request = {n, (uint64_t)o.num[S2_SEED]};
    recur_status st = recur_write_file_atomic(o.str[S2_OUTPUT], write_dates, &request);
    if (st != RECUR_OK)
        return cli_status_error(st);
    printf("wrote %ld dates to %s\n", n, o.str[S2_OUTPUT]);
    return 0;
}

int cmd_seq2seq(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        FILE *out = argc < 2 ? stderr : stdout;
        fputs(s2s_usage, out);
        fputs("\nexample:\n", out);
        fputs(s2s_example, out);
        return argc < 2 ? CLI_EXIT_BAD_INPUT : CLI_EXIT_OK;
    }
    if (!strcmp(argv[1], "train"))
        return s2s_train(argc - 1, argv + 1);
    if (!strcmp(argv[1], "eval"))
        return s2s_eval(argc - 1, argv + 1);
    if (!strcmp(argv[1], "translate"))
        return s2s_translate(argc - 1, argv + 1);
    if (!strcmp(argv[1], "make-dates"))
        return s2s_make_dates(argc - 1, argv + 1);
    return cli_error("seq2seq: unknown command '%s' (train, eval, translate or make-dates)",
                     argv[1]);
}
