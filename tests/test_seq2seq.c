/* The encoder-decoder: finite differences of every parameter of the
 * teacher-forced loss (attention kinds, bidirectional encoders, LSTM, GRU,
 * variable lengths), decoding (greedy = beam width 1, beam >= greedy on the
 * model's own score, eos and max_length, sampling), the file round trip and
 * a short training run on a reversal task. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "test_util.h"

enum { S = 5, T = 4, B = 3, VS = 9, VT = 7, E = 4, H = 5 };

static int64_t source[S * B], target[T * B];
static const int64_t source_lengths[B] = {5, 2, 4};
static const int64_t target_lengths[B] = {4, 1, 3};

static void make_batch(recur_rng *rng)
{
    for (int t = 0; t < S; t++)
        for (int b = 0; b < B; b++) /* past the length: out-of-range ids, never read */
            source[t * B + b] = t < source_lengths[b] ? 3 + (int64_t)(recur_rng_next(rng) % (VS - 3))
                                                      : 12345;
    for (int t = 0; t < T; t++)
        for (int b = 0; b < B; b++)
            target[t * B + b] = t + 1 == target_lengths[b] ? RECUR_S2S_EOS
                                : t < target_lengths[b]  ? 3 + (int64_t)(recur_rng_next(rng) % (VT - 3))
                                                         : -7;
}

static const recur_seq2seq_batch the_batch = {B, S, source, source_lengths, T, target,
                                              target_lengths};

static double loss_of(recur_seq2seq *m)
{
    float loss = NAN;
    CHECK_OK(recur_seq2seq_forward(m, &the_batch, &loss, NULL));
    return loss;
}

static void gradcheck(recur_cell cell, int layers, int bidirectional, int attention,
                      recur_attention_kind kind)
{
    recur_seq2seq_config c = recur_seq2seq_config_default(cell, VS, VT, E, H);
    c.num_layers = layers, c.bidirectional = bidirectional;
    c.attention = attention, c.attention_kind = kind, c.attention_size = 6;
    recur_seq2seq *m;
    CHECK_OK(recur_seq2seq_create(&c, 11, &m));
    if (!m)
        return;
    double base = loss_of(m);
    CHECK(isfinite(base) && base > 0);
    recur_seq2seq_zero_grad(m);
    CHECK_OK(recur_seq2seq_backward(m));
    const double eps = 1e-2;
    double worst = 0;
    int checked = 0, params = recur_seq2seq_param_count(m);
    for (int i = 0; i < params; i++) {
        recur_param p;
        CHECK_OK(recur_seq2seq_param(m, i, &p));
        double param_worst = 0, grad_norm = 0;
        for (size_t k = 0; k < p.numel; k += 1 + p.numel / 9) {
            float saved = p.value[k];
            p.value[k] = saved + (float)eps;
            double plus = loss_of(m);
            p.value[k] = saved - (float)eps;
            double minus = loss_of(m);
            p.value[k] = saved;
            double fd = (plus - minus) / (2 * eps);
            param_worst = fmax(param_worst, fabs(fd - p.grad[k]));
            grad_norm = fmax(grad_norm, fabs(p.grad[k]));
            checked++;
        }
        if (param_worst > 2e-4)
            fprintf(stderr, "  %s: worst |fd - grad| %.2e (max |grad| %.2e)\n", p.name, param_worst,
                    grad_norm);
        worst = fmax(worst, param_worst);
    }
    printf("gradcheck cell %d layers %d bidirectional %d attention %d kind %d: %d params, %d "
           "values, worst %.2e\n",
           (int)cell, layers, bidirectional, attention, (int)kind, params, checked, worst);
    CHECK(worst < 2e-4);
    recur_seq2seq_free(m);
}

/* ---- decoding ---- */

static recur_param find(recur_seq2seq *m, const char *name)
{
    recur_param p = {0};
    for (int i = 0; i < recur_seq2seq_param_count(m); i++) {
        CHECK_OK(recur_seq2seq_param(m, i, &p));
        if (!strcmp(p.name, name))
            return p;
    }
    CHECK(!"parameter not found");
    return p;
}

enum { MAXLEN = 12 };

static void check_decoding(recur_cell cell, int bidirectional, int attention)
{
    recur_seq2seq_config c = recur_seq2seq_config_default(cell, VS, VT, 6, 8);
    c.bidirectional = bidirectional, c.attention = attention;
    recur_seq2seq *m;
    CHECK_OK(recur_seq2seq_create(&c, 5, &m));
    if (!m)
        return;
    /* a sharper random model; the eos bias varies by trial so lengths vary */
    recur_param out_w = find(m, "output.weight"), out_b = find(m, "output.bias");
    for (size_t k = 0; k < out_w.numel; k++)
        out_w.value[k] *= 4;
    const float eos_bias = out_b.value[RECUR_S2S_EOS];
    recur_rng rng;
    recur_rng_seed(&rng, 99);
    int improved = 0, finished = 0;
    for (int trial = 0; trial < 25; trial++) {
        int len = 1 + (int)(recur_rng_next(&rng) % 6);
        out_b.value[RECUR_S2S_EOS] = eos_bias + 0.4f * (float)(trial % 5) - 0.8f;
        int64_t src[6], greedy[MAXLEN], beam[MAXLEN], again[MAXLEN];
        float w[MAXLEN * 6], w1[MAXLEN * 6];
        for (int t = 0; t < len; t++)
            src[t] = 3 + (int64_t)(recur_rng_next(&rng) % (VS - 3));
        recur_decode_options o = recur_decode_options_default();
        o.max_length = MAXLEN;
        o.length_alpha = trial % 2 ? 1.0f : 0.0f;
        recur_decode_result g, b1, bk;
        CHECK_OK(recur_seq2seq_decode(m, len, src, &o, greedy, w, &g));
        CHECK(g.length <= MAXLEN && (g.finished || g.length == MAXLEN));
        finished += g.finished;
        for (int i = 0; i < g.length; i++)
            CHECK(greedy[i] >= 3 && greedy[i] < VT);
        /* the weights: one row per step, summing to 1 with attention, 0 after */
        for (int r = 0; r < MAXLEN; r++) {
            double sum = 0;
            for (int t = 0; t < len; t++)
                sum += w[r * len + t];
            int used = r < g.length + g.finished;
            CHECK(fabs(sum - (used && attention ? 1.0 : 0.0)) < 1e-5);
        }
        double lp;
        CHECK_OK(recur_seq2seq_log_prob(m, len, src, g.length, greedy, &lp));
        if (g.finished)
            CHECK(fabs(lp - g.log_prob) < 1e-4);
        /* beam width 1 is greedy decoding */
        o.method = RECUR_DECODE_BEAM, o.beam_width = 1;
        CHECK_OK(recur_seq2seq_decode(m, len, src, &o, beam, w1, &b1));
        CHECK(b1.length == g.length && b1.finished == g.finished);
        CHECK(!memcmp(beam, greedy, (size_t)g.length * sizeof(int64_t)));
        CHECK(!memcmp(w1, w, (size_t)MAXLEN * len * sizeof(float)));
        CHECK(fabs(b1.log_prob - g.log_prob) < 1e-9);
        /* a wider beam never scores below greedy */
        o.beam_width = 4;
        CHECK_OK(recur_seq2seq_decode(m, len, src, &o, beam, w, &bk));
        CHECK(bk.finished >= g.finished);
        for (int r = 0; r < MAXLEN; r++) { /* as greedy's: rows of its steps only */
            double sum = 0;
            for (int t = 0; t < len; t++)
                sum += w[r * len + t];
            CHECK(fabs(sum - (r < bk.length + bk.finished && attention ? 1.0 : 0.0)) < 1e-5);
        }
        if (bk.finished == g.finished)
            CHECK(bk.score >= g.score - 1e-9);
        improved += bk.score > g.score + 1e-9;
        if (bk.finished) {
            CHECK_OK(recur_seq2seq_log_prob(m, len, src, bk.length, beam, &lp));
            CHECK(fabs(lp - bk.log_prob) < 1e-4);
            double expected = o.length_alpha ? bk.log_prob / (bk.length + 1) : bk.log_prob;
            CHECK(fabs(bk.score - expected) < 1e-9);
        }
        /* sampling: reproducible from its seed; top_k 1 is greedy */
        o.method = RECUR_DECODE_SAMPLE, o.seed = (uint64_t)trial, o.temperature = 0.8f;
        recur_decode_result s1, s2;
        CHECK_OK(recur_seq2seq_decode(m, len, src, &o, beam, NULL, &s1));
        CHECK_OK(recur_seq2seq_decode(m, len, src, &o, again, NULL, &s2));
        CHECK(s1.length == s2.length && !memcmp(beam, again, (size_t)s1.length * sizeof(int64_t)));
        o.top_k = 1;
        CHECK_OK(recur_seq2seq_decode(m, len, src, &o, beam, NULL, &s1));
        CHECK(s1.length == g.length && !memcmp(beam, greedy, (size_t)g.length * sizeof(int64_t)));
    }
    printf("decoding cell %d bidirectional %d attention %d: %d/25 greedy finished, beam better "
           "in %d\n",
           (int)cell, bidirectional, attention, finished, improved);
    out_b.value[RECUR_S2S_EOS] = eos_bias;
    /* eos forced: every method stops at once; eos forbidden: max_length */
    int64_t src[3] = {3, 4, 5}, outbuf[MAXLEN];
    for (int forced = 0; forced < 2; forced++) {
        float saved = out_b.value[RECUR_S2S_EOS];
        out_b.value[RECUR_S2S_EOS] = forced ? 100.0f : -100.0f;
        for (int method = 0; method < 3; method++) {
            recur_decode_options o = recur_decode_options_default();
            o.method = (recur_decode_method)method, o.max_length = 7;
            recur_decode_result r;
            CHECK_OK(recur_seq2seq_decode(m, 3, src, &o, outbuf, NULL, &r));
            CHECK(forced ? r.finished == 1 && r.length == 0 : r.finished == 0 && r.length == 7);
        }
        out_b.value[RECUR_S2S_EOS] = saved;
    }
    /* bad arguments */
    recur_decode_options o = recur_decode_options_default();
    recur_decode_result r;
    o.max_length = 0;
    CHECK_STATUS(recur_seq2seq_decode(m, 3, src, &o, outbuf, NULL, &r), RECUR_E_INVALID);
    o = recur_decode_options_default();
    o.method = RECUR_DECODE_BEAM, o.beam_width = 0;
    CHECK_STATUS(recur_seq2seq_decode(m, 3, src, &o, outbuf, NULL, &r), RECUR_E_INVALID);
    src[1] = VS;
    o = recur_decode_options_default();
    CHECK_STATUS(recur_seq2seq_decode(m, 3, src, &o, outbuf, NULL, &r), RECUR_E_INVALID);
    recur_seq2seq_free(m);
}

static void check_round_trip(const char *dir)
{
    recur_seq2seq_config c = recur_seq2seq_config_default(RECUR_LSTM, VS, VT, E, H);
    c.num_layers = 2, c.bidirectional = 1, c.attention_kind = RECUR_ATTN_GENERAL;
    recur_seq2seq *m, *back = NULL;
    CHECK_OK(recur_seq2seq_create(&c, 3, &m));
    char path[1024];
    snprintf(path, sizeof path, "%s/seq2seq_roundtrip.safetensors", dir);
    recur_st_writer *w;
    CHECK_OK(recur_st_writer_create(&w));
    CHECK_OK(recur_seq2seq_write(m, w));
    CHECK_OK(recur_st_writer_save(w, path));
    recur_st_writer_free(w);
    recur_st_file *f;
    CHECK_OK(recur_st_open(path, &f));
    CHECK_OK(recur_seq2seq_read(f, &back));
    recur_st_close(f);
    if (!back) {
        recur_seq2seq_free(m);
        return;
    }
    CHECK(!memcmp(recur_seq2seq_get_config(back), &c, sizeof c));
    const float *l1, *l2;
    float loss1, loss2;
    CHECK_OK(recur_seq2seq_forward(m, &the_batch, &loss1, &l1));
    float *copy = malloc(sizeof(float) * T * B * VT);
    memcpy(copy, l1, sizeof(float) * T * B * VT);
    CHECK_OK(recur_seq2seq_forward(back, &the_batch, &loss2, &l2));
    CHECK(loss1 == loss2 && !memcmp(copy, l2, sizeof(float) * T * B * VT));
    free(copy);
    int64_t src[4] = {3, 8, 4, 6}, o1[MAXLEN], o2[MAXLEN];
    float w1[MAXLEN * 4], w2[MAXLEN * 4];
    recur_decode_options o = recur_decode_options_default();
    o.method = RECUR_DECODE_BEAM, o.beam_width = 3, o.max_length = MAXLEN;
    recur_decode_result r1, r2;
    CHECK_OK(recur_seq2seq_decode(m, 4, src, &o, o1, w1, &r1));
    CHECK_OK(recur_seq2seq_decode(back, 4, src, &o, o2, w2, &r2));
    CHECK(r1.length == r2.length && r1.log_prob == r2.log_prob &&
          !memcmp(o1, o2, (size_t)r1.length * sizeof(int64_t)) && !memcmp(w1, w2, sizeof w1));
    /* a file that is not a seq2seq model */
    CHECK_OK(recur_st_writer_create(&w));
    CHECK_OK(recur_st_writer_set_metadata(w, "recur.model", "seqnet"));
    CHECK_OK(recur_st_writer_save(w, path));
    recur_st_writer_free(w);
    CHECK_OK(recur_st_open(path, &f));
    recur_seq2seq *none = NULL;
    CHECK_STATUS(recur_seq2seq_read(f, &none), RECUR_E_FORMAT);
    recur_st_close(f);
    recur_seq2seq_free(back);
    recur_seq2seq_free(m);
}

static void check_errors(void)
{
    recur_seq2seq *m = NULL;
    recur_seq2seq_config c = recur_seq2seq_config_default(RECUR_GRU, 2, VT, E, H);
    CHECK_STATUS(recur_seq2seq_create(&c, 1, &m), RECUR_E_INVALID);
    c = recur_seq2seq_config_default(RECUR_GRU, VS, VT, E, H);
    c.bidirectional = 1, c.attention_kind = RECUR_ATTN_DOT;
    CHECK_STATUS(recur_seq2seq_create(&c, 1, &m), RECUR_E_INVALID);
    c.bidirectional = 0;
    CHECK_OK(recur_seq2seq_create(&c, 1, &m));
    CHECK_STATUS(recur_seq2seq_backward(m), RECUR_E_STATE);
    int64_t bad_lengths[B] = {5, 0, 1};
    recur_seq2seq_batch b = the_batch;
    b.source_lengths = bad_lengths;
    float loss;
    CHECK_STATUS(recur_seq2seq_forward(m, &b, &loss, NULL), RECUR_E_INVALID);
    b = the_batch;
    int64_t bad_target[T * B];
    memcpy(bad_target, target, sizeof target);
    bad_target[0] = VT;
    b.target = bad_target;
    CHECK_STATUS(recur_seq2seq_forward(m, &b, &loss, NULL), RECUR_E_INVALID);
    recur_seq2seq_free(m);
}

/* Learns to reverse short sequences: the loss must fall well below its start. */
static void check_training(void)
{
    enum { N = 16, L = 5, V = 8 };
    recur_seq2seq_config c = recur_seq2seq_config_default(RECUR_GRU, V, V, 8, 24);
    recur_seq2seq *m;
    CHECK_OK(recur_seq2seq_create(&c, 2, &m));
    recur_optimizer_config oc = recur_optimizer_config_default(RECUR_ADAM);
    oc.lr = 0.02f;
    recur_optimizer *opt;
    CHECK_OK(recur_optimizer_create(&oc, &opt));
    for (int i = 0; i < recur_seq2seq_param_count(m); i++) {
        recur_param p;
        CHECK_OK(recur_seq2seq_param(m, i, &p));
        CHECK_OK(recur_optimizer_add(opt, p.value, p.grad, p.numel));
    }
    recur_rng rng;
    recur_rng_seed(&rng, 4);
    int64_t src[L * N], tgt[(L + 1) * N], sl[N], tl[N];
    double first = 0, last = 0;
    for (int step = 0; step < 150; step++) {
        for (int b = 0; b < N; b++) {
            sl[b] = 2 + (int64_t)(recur_rng_next(&rng) % (L - 1));
            tl[b] = sl[b] + 1;
            for (int t = 0; t < L; t++)
                src[t * N + b] = t < sl[b] ? 3 + (int64_t)(recur_rng_next(&rng) % (V - 3)) : 0;
            for (int t = 0; t <= L; t++)
                tgt[t * N + b] = t < sl[b] ? src[(sl[b] - 1 - t) * N + b] : t == sl[b] ? 2 : 0;
        }
        recur_seq2seq_batch bt = {N, L, src, sl, L + 1, tgt, tl};
        float loss;
        CHECK_OK(recur_seq2seq_forward(m, &bt, &loss, NULL));
        recur_seq2seq_zero_grad(m);
        CHECK_OK(recur_seq2seq_backward(m));
        CHECK_OK(recur_optimizer_step(opt));
        if (step < 10)
            first += loss / 10;
        if (step >= 140)
            last += loss / 10;
    }
    printf("reversal: loss %.3f -> %.3f\n", first, last);
    CHECK(last < 0.5 * first);
    recur_optimizer_free(opt);
    recur_seq2seq_free(m);
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : ".";
    recur_rng rng;
    recur_rng_seed(&rng, 1);
    make_batch(&rng);
    gradcheck(RECUR_GRU, 1, 0, 0, RECUR_ATTN_ADDITIVE);
    gradcheck(RECUR_LSTM, 1, 0, 0, RECUR_ATTN_ADDITIVE);
    gradcheck(RECUR_LSTM, 2, 1, 1, RECUR_ATTN_ADDITIVE);
    gradcheck(RECUR_GRU, 2, 1, 1, RECUR_ATTN_GENERAL);
    gradcheck(RECUR_GRU, 1, 0, 1, RECUR_ATTN_DOT);
    gradcheck(RECUR_LSTM, 1, 1, 1, RECUR_ATTN_SCALED_DOT);
    gradcheck(RECUR_RNN_TANH, 1, 1, 0, RECUR_ATTN_ADDITIVE);
    check_decoding(RECUR_GRU, 0, 1);
    check_decoding(RECUR_LSTM, 1, 1);
    check_decoding(RECUR_GRU, 1, 0);
    check_round_trip(dir);
    check_errors();
    check_training();
    return test_finish("test_seq2seq");
}
