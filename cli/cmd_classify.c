/* recur classify train|eval|predict: sequence classification of texts
 * (characters or words), images read row by row (IDX), with an RNN, pooling
 * and a linear head; accuracy, macro-F1, per-class precision/recall and the
 * confusion matrix. */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "classify_data.h"
#include "classify_loss.h"
#include "classify_sources.h"
#include "cli_util.h"
#include "commands.h"
#include "dist.h"
#include "dist_gpu.h"
#include "grad_reducer.h"
#include "heatmap.h"
#include "io/atomic_file.h"
#include "options.h"

enum {
    /* data (given anew for eval/predict) */
    CL_TEXT, CL_LABEL, CL_DELIMITER, CL_NO_HEADER, CL_LINES, CL_IDX_IMAGES, CL_IDX_LABELS,
    CL_TEST_IMAGES, CL_TEST_LABELS, CL_OUTPUT, CL_JSON, CL_ATTENTION_MAP,
    /* saved with the model */
    CL_WINDOW, CL_STRIDE, CL_INPUTS, CL_TIME,
    CL_TOKENS, CL_LOWERCASE, CL_SPLIT_PUNCT, CL_VOCAB, CL_MIN_COUNT, CL_MAX_LEN, CL_MODEL,
    CL_EMBED, CL_HIDDEN, CL_LAYERS, CL_BIDIRECTIONAL, CL_DROPOUT, CL_INPUT_DROPOUT, CL_POOL, CL_LOSS,
    CL_CLASS_WEIGHTS, CL_AUX, CL_AUX_WEIGHT, CL_EPOCHS, CL_BATCH, CL_OPTIMIZER, CL_LR, CL_SCHEDULE, CL_WEIGHT_DECAY, CL_CLIP,
    CL_EARLY_STOP, CL_VAL_FRACTION, CL_TEST_FRACTION, CL_SEED, CL_DEVICE, CL_COUNT
};

static const cli_option classify_specs[] = {
    {CL_TEXT, "text", OPTION_PATH, SCOPE_RUN, NULL, 0, 0, NULL, "CSV/TSV: the text column"},
    {CL_LABEL, "label", OPTION_PATH, SCOPE_RUN, NULL, 0, 0, NULL, "CSV/TSV: the label column"},
    {CL_DELIMITER, "delimiter", OPTION_PATH, SCOPE_RUN, "auto", 0, 0, NULL,
     "CSV delimiter: auto, ',', ';', tab"},
    {CL_NO_HEADER, "no-header", OPTION_INT, SCOPE_RUN, "0", 0, 1, NULL,
     "1: the first row is data; columns are 0, 1, ..."},
    {CL_LINES, "lines", OPTION_PATH, SCOPE_RUN, NULL, 0, 0, NULL,
     "FILE=LABEL,...: one example per line of each file"},
    {CL_IDX_IMAGES, "idx-images", OPTION_PATH, SCOPE_RUN, NULL, 0, 0, NULL,
     "IDX images (gzip or not), each pixel row one step"},
    {CL_IDX_LABELS, "idx-labels", OPTION_PATH, SCOPE_RUN, NULL, 0, 0, NULL, "IDX labels"},
    {CL_TEST_IMAGES, "test-images", OPTION_PATH, SCOPE_RUN, NULL, 0, 0, NULL,
     "train: a separate IDX test set (instead of --test-fraction)"},
    {CL_TEST_LABELS, "test-labels", OPTION_PATH, SCOPE_RUN, NULL, 0, 0, NULL,
     "its labels"},
    {CL_OUTPUT, "output", OPTION_PATH, SCOPE_RUN, NULL, 0, 0, NULL,
     "train: the model file; predict: the CSV (also -o)"},
    {CL_JSON, "json", OPTION_PATH, SCOPE_RUN, NULL, 0, 0, NULL, "eval: also write the report as JSON"},
    {CL_ATTENTION_MAP, "attention-map", OPTION_PATH, SCOPE_RUN, NULL, 0, 0, NULL,
     "eval, predict with --pool attention: PNG of the first example's weights"},
    {CL_WINDOW, "window", OPTION_INT, SCOPE_FIXED, "0", 0, 1e6, NULL,
     "> 0: time-series windows of DATA.csv this many steps long"},
    {CL_STRIDE, "stride", OPTION_INT, SCOPE_FIXED, "1", 1, 1e6, NULL, "steps between windows"},
    {CL_INPUTS, "inputs", OPTION_PATH, SCOPE_FIXED, NULL, 0, 0, NULL,
     "windows: the numeric input columns"},
    {CL_TIME, "time", OPTION_PATH, SCOPE_FIXED, NULL, 0, 0, NULL,
     "windows: the time column(s), as recur forecast's --time"},
    {CL_TOKENS, "tokens", OPTION_CHOICE, SCOPE_FIXED, "word", 0, 0, "char|word", "tokens"},
    {CL_LOWERCASE, "lowercase", OPTION_INT, SCOPE_FIXED, "1", 0, 1, NULL, "lower-case text"},
    {CL_SPLIT_PUNCT, "split-punct", OPTION_INT, SCOPE_FIXED, "1", 0, 1, NULL,
     "punctuation marks are tokens of their own"},
    {CL_VOCAB, "vocab", OPTION_INT, SCOPE_FIXED, "20000", 0, 1e8, NULL,
     "vocabulary size (0 = all), from the training part"},
    {CL_MIN_COUNT, "min-count", OPTION_INT, SCOPE_FIXED, "1", 1, 1e9, NULL,
     "tokens seen fewer times are <unk>"},
    {CL_MAX_LEN, "max-len", OPTION_INT, SCOPE_FIXED, "0", 0, 1e7, NULL,
     "keep the last N tokens of longer examples (0 = all)"},
    {CL_MODEL, "model", OPTION_CHOICE, SCOPE_FIXED, "lstm", 0, 0, "lstm|gru|rnn", "cell"},
    {CL_EMBED, "embed", OPTION_INT, SCOPE_FIXED, "128", 1, 65536, NULL, "embedding size (text)"},
    {CL_HIDDEN, "hidden", OPTION_INT, SCOPE_FIXED, "128", 1, 65536, NULL, "hidden size"},
    {CL_LAYERS, "layers", OPTION_INT, SCOPE_FIXED, "1", 1, 16, NULL, "stacked layers"},
    {CL_BIDIRECTIONAL, "bidirectional", OPTION_INT, SCOPE_FIXED, "0", 0, 1, NULL,
     "1: read both ways"},
    {CL_DROPOUT, "dropout", OPTION_FLOAT, SCOPE_FIXED, "0", 0, 0.99, NULL, "between layers"},
    {CL_INPUT_DROPOUT, "input-dropout", OPTION_FLOAT, SCOPE_FIXED, "0", 0, 0.99, NULL,
     "dropout on the embedding vectors (or input values)"},
    {CL_POOL, "pool", OPTION_CHOICE, SCOPE_FIXED, "last", 0, 0, "last|mean|max|attention",
     "sequence to vector"},
    {CL_LOSS, "loss", OPTION_CHOICE, SCOPE_FIXED, "auto", 0, 0, "auto|ce|bce",
     "auto: bce for two classes, else cross-entropy"},
    {CL_CLASS_WEIGHTS, "class-weights", OPTION_CHOICE, SCOPE_FIXED, "none", 0, 0,
     "none|balanced", "balanced: n / (classes x count), for imbalanced data"},
    {CL_AUX, "aux", OPTION_CHOICE, SCOPE_FIXED, "none", 0, 0, "none|next-token",
     "auxiliary task trained beside the labels (text)"},
    {CL_AUX_WEIGHT, "aux-weight", OPTION_FLOAT, SCOPE_FIXED, "0.3", 0, 100, NULL,
     "weight of the auxiliary loss"},
    {CL_EPOCHS, "epochs", OPTION_INT, SCOPE_FIXED, "10", 1, 100000, NULL, "passes"},
    {CL_BATCH, "batch", OPTION_INT, SCOPE_FIXED, "32", 1, 65536, NULL, "examples per step"},
    {CL_OPTIMIZER, "optimizer", OPTION_CHOICE, SCOPE_FIXED, "adam", 0, 0,
     "sgd|adam|adamw|rmsprop|adagrad", "optimizer"},
    {CL_LR, "lr", OPTION_FLOAT, SCOPE_FIXED, "0.002", 0, 10, NULL, "learning rate"},
    {CL_SCHEDULE, "schedule", OPTION_CHOICE, SCOPE_FIXED, "constant", 0, 0, "constant|cosine",
     "cosine: lr decays to 1 % of --lr over the epochs"},
    {CL_WEIGHT_DECAY, "weight-decay", OPTION_FLOAT, SCOPE_FIXED, "0", 0, 10, NULL,
     "weight decay"},
    {CL_CLIP, "clip", OPTION_FLOAT, SCOPE_FIXED, "1", 0, 1e9, NULL, "gradient norm clip"},
    {CL_EARLY_STOP, "early-stop", OPTION_INT, SCOPE_FIXED, "3", 0, 100000, NULL,
     "epochs without validation improvement, 0 = off"},
    {CL_VAL_FRACTION, "val-fraction", OPTION_FLOAT, SCOPE_FIXED, "0.1", 0, 0.5, NULL,
     "of the training examples, for early stopping"},
    {CL_TEST_FRACTION, "test-fraction", OPTION_FLOAT, SCOPE_FIXED, "0.1", 0, 0.5, NULL,
     "held out and scored at the end"},
    {CL_SEED, "seed", OPTION_INT, SCOPE_FIXED, "1", 0, 2147483647, NULL, "seed"},
    {CL_DEVICE, "device", OPTION_CHOICE, SCOPE_RUN, "cpu", 0, 0, "cpu|cuda",
     "cuda: the recurrent stack on the GPU (the rest on the CPU)"},
};
enum { CLASSIFY_SPEC_COUNT = sizeof classify_specs / sizeof classify_specs[0] };

static const char classify_usage[] =
    "usage: recur classify train DATA.csv --text COL --label COL [options] -o MODEL\n"
    "       recur classify train --lines pos.txt=pos,neg.txt=neg [options] -o MODEL\n"
    "       recur classify train --idx-images F --idx-labels F [--test-images F --test-labels F] -o MODEL\n"
    "       recur classify train SERIES.csv --window W --inputs COL,... --label COL [--time COL] -o MODEL\n"
    "       recur classify eval MODEL (DATA.csv --text COL --label COL | --lines ... | --idx-...) [--json F]\n"
    "       recur classify predict MODEL (DATA.csv --text COL | --lines ... | --idx-images F\n"
    "                                     | SERIES.csv) -o PRED.csv\n"
    "\n"
    "Sequence classification with an RNN: texts as characters or words (vocabulary\n"
    "from the training part, <unk> for the rest), images read row by row, or\n"
    "windows of a time series.\n";

static const char classify_example[] =
    "  recur classify train --lines rt-polarity.pos=pos,rt-polarity.neg=neg --bidirectional 1 -o mr.safetensors\n";

/* ---------------------------------------------------------------- */
/* Reading examples                                                  */
/* ---------------------------------------------------------------- */

static recur_token_options token_options(const cli_options *o)
{
    recur_token_options t = {cli_options_choice(o, CL_TOKENS) == 0 ? RECUR_TOKENS_CHARS
                                                                   : RECUR_TOKENS_WORDS,
                             (int)o->num[CL_LOWERCASE], (int)o->num[CL_SPLIT_PUNCT]};
    return t;
}

static char delimiter_of(const cli_options *o)
{
    const char *d = o->str[CL_DELIMITER];
    return !d || !strcmp(d, "auto") ? 0 : !strcmp(d, "tab") ? '\t' : d[0];
}

/* Raw texts from the data flags (data: the CSV file or NULL); *is_text = 0
 * when the data are IDX images. */
static int read_texts(const cli_options *o, const char *data, int need_labels, cls_texts *texts,
                      int *is_text)
{
    *is_text = !o->str[CL_IDX_IMAGES];
    if (!*is_text)
        return 0;
    if (o->str[CL_LINES])
        return cls_texts_from_lines(texts, o->str[CL_LINES]);
    if (!data || !o->str[CL_TEXT])
        return cli_error("classify: give DATA.csv with --text COL%s, --lines or --idx-images",
                         need_labels ? " --label COL" : "");
    if (need_labels && !o->str[CL_LABEL])
        return cli_error("classify: --label COL is missing");
    return cls_texts_from_table(texts, data, delimiter_of(o), !(int)o->num[CL_NO_HEADER],
                                o->str[CL_TEXT], o->str[CL_LABEL]);
}

/* Refuses an output naming one of the --lines files (FILE=LABEL,...). */
static int check_output_not_lines(const char *output, const char *spec)
{
    for (const char *p = spec; p && *p;) {
        const char *comma = strchr(p, ','), *end = comma ? comma : p + strlen(p);
        const char *equals = memchr(p, '=', (size_t)(end - p));
        char path[4096];
        if (equals && (size_t)(equals - p) < sizeof path) {
            snprintf(path, sizeof path, "%.*s", (int)(equals - p), p);
            if (cli_check_output_not_input(output, path))
                return CLI_EXIT_BAD_INPUT;
        }
        p = comma ? comma + 1 : end;
    }
    return 0;
}

/* Refuses (one line, exit 2) an output file (-o, --json, --attention-map)
 * that is empty or names one of the inputs: MODEL, DATA.csv, the --lines
 * files, the IDX files. */
static int check_outputs(const cli_options *o)
{
    static const int outputs[] = {CL_OUTPUT, CL_JSON, CL_ATTENTION_MAP};
    static const int inputs[] = {CL_IDX_IMAGES, CL_IDX_LABELS, CL_TEST_IMAGES, CL_TEST_LABELS};
    for (size_t i = 0; i < sizeof outputs / sizeof outputs[0]; i++) {
        const char *output = o->str[outputs[i]];
        if (!output)
            continue;
        for (int k = 0; k < o->positional_count; k++)
            if (cli_check_output_not_input(output, o->positional[k]))
                return CLI_EXIT_BAD_INPUT;
        for (size_t k = 0; k < sizeof inputs / sizeof inputs[0]; k++)
            if (cli_check_output_not_input(output, o->str[inputs[k]]))
                return CLI_EXIT_BAD_INPUT;
        if (check_output_not_lines(output, o->str[CL_LINES]))
            return CLI_EXIT_BAD_INPUT;
    }
    return 0;
}

/* Refuses (one line, exit 2) data flags that would be ignored: more than one
 * source of examples (data: DATA.csv or NULL), --idx-labels without
 * --idx-images, and a test set (train only, with --idx-images) given half. */
static int check_sources(const cli_options *o, const char *data, int train)
{
    const int sources = (data != NULL) + (o->str[CL_LINES] != NULL) +
                        (o->str[CL_IDX_IMAGES] != NULL);
    if (sources > 1)
        return cli_error("classify: give one source of examples (DATA.csv, --lines or "
                         "--idx-images), not %d",
                         sources);
    if (o->str[CL_IDX_LABELS] && !o->str[CL_IDX_IMAGES])
        return cli_error("classify: --idx-labels without --idx-images");
    const int test_images = o->str[CL_TEST_IMAGES] != NULL;
    const int test_labels = o->str[CL_TEST_LABELS] != NULL;
    if (!test_images && !test_labels)
        return 0;
    if (!train)
        return cli_error("classify: --test-images and --test-labels are for classify train");
    if (!o->str[CL_IDX_IMAGES])
        return cli_error("classify train: --test-images and --test-labels go with --idx-images");
    if (!test_images || !test_labels)
        return cli_error("classify train: --%s without --%s",
                         test_images ? "test-images" : "test-labels",
                         test_images ? "test-labels" : "test-images");
    return 0;
}

/* ---------------------------------------------------------------- */
/* Model, loss and one pass                                          */
/* ---------------------------------------------------------------- */

typedef struct classifier {
    recur_seqnet *net;
    int classes, bce;         /* bce: one output, sigmoid */
    float *class_weights;     /* [classes] or NULL */
    int max_len;
    /* auxiliary task (training only): predict each next token from the
     * stack's outputs, weighted by aux_weight in the loss */
    recur_linear *aux_head;   /* [Hout] (the forward direction's half) -> [vocab] */
    recur_schedule *schedule; /* learning rate per step, or NULL (constant) */
    float aux_weight;
    double aux_loss;          /* mean over the last pass's batches */
} classifier;

/* The auxiliary next-token loss of a batch (cls_aux_loss: from the forward
 * direction's half of the outputs): *grad_outputs [T, B, F] (allocated here,
 * freed by the caller) receives aux_weight x scale x its gradient. */
static recur_status aux_loss(classifier *c, const cls_batch *b, float scale,
                             float **grad_outputs, float *loss)
{
    const recur_seqnet_config *sc = recur_seqnet_get_config(c->net);
    const int directions = sc->rnn.bidirectional ? 2 : 1;
    const int hidden = sc->rnn.proj_size ? sc->rnn.proj_size : sc->rnn.hidden_size;
    const size_t count = (size_t)b->steps * (size_t)b->batch * (size_t)(directions * hidden);
    if (!(*grad_outputs = malloc(count * sizeof(float))))
        return cli_out_of_memory("classify: auxiliary gradients");
    cls_aux_batch ab = {b->steps, b->batch, hidden, directions, recur_seqnet_outputs(c->net),
                        b->ids, b->lengths};
    return cls_aux_loss(c->aux_head, sc->vocab_size, &ab, c->aux_weight * scale, loss,
                        *grad_outputs);
}

static recur_status net_forward(classifier *c, const cls_batch *b, const float **logits)
{
    if (b->ids)
        return recur_seqnet_forward_ids(c->net, b->steps, b->batch, b->ids, b->lengths, logits);
    return recur_seqnet_forward(c->net, b->steps, b->batch, b->values, b->lengths, logits);
}

/* Mean loss of a batch and its gradient (grad may be NULL); class weights
 * make it the weighted mean, for two classes (BCE) as for more. */
static recur_status batch_loss(const classifier *c, const cls_batch *b, const float *logits,
                               float *loss, float *grad)
{
    return cls_labels_loss(b->batch, c->classes, c->bce, c->class_weights, logits, b->targets,
                           loss, grad);
}

/* The predicted class and its probabilities from one row of logits. */
static int predict_row(const classifier *c, const float *logits, double *probability)
{
    if (c->bce) {
        double p1 = 1.0 / (1.0 + exp(-(double)logits[0]));
        probability[0] = 1.0 - p1, probability[1] = p1;
        return p1 > 0.5;
    }
    double max = logits[0], total = 0;
    int best = 0;
    for (int k = 1; k < c->classes; k++)
        if (logits[k] > max)
            max = logits[k], best = k;
    for (int k = 0; k < c->classes; k++)
        total += probability[k] = exp(logits[k] - max);
    for (int k = 0; k < c->classes; k++)
        probability[k] /= total;
    return best;
}

typedef struct pass_result {
    double loss;
    int64_t correct, count;
    int64_t *confusion;       /* [classes, classes]: actual x predicted, or NULL */
} pass_result;

/* The parameters that training updates: the network's (clipped) first, then
 * the auxiliary head's; under mpirun the reducer sums their gradients over
 * the ranks during the backward. */
typedef struct param_grads {
    float **grads;
    size_t *sizes;
    int clipped, count;
    grad_reducer *reducer;
} param_grads;

/* Under mpirun: sums every parameter gradient and *loss, *aux over the ranks
 * (each already weighted by its share of the batch). */
static void reduce_grads(const param_grads *pg, float *loss, float *aux)
{
    if (!pg) /* evaluation passes have none */
        return;
    grad_reducer_finish(pg->reducer);
    float losses[2] = {*loss, *aux};
    dist_allreduce_sum_float(losses, 2);
    *loss = losses[0], *aux = losses[1];
}

/* The weights of a batch's two mean losses: the main loss's (the examples, or
 * the sum of their class weights) and the next-token loss's (the predicted
 * tokens), so that ranks can weight their means into the batch's. */
static void batch_weights(const classifier *c, const cls_batch *b, double weights[2])
{
    weights[0] = weights[1] = 0;
    for (int k = 0; k < b->batch; k++) {
        weights[0] += c->class_weights ? c->class_weights[b->targets[k]] : 1.0;
        int64_t len = b->lengths[k] < b->steps ? b->lengths[k] : b->steps;
        weights[1] += len > 1 ? (double)(len - 1) : 0.0;
    }
}

/* Sums a pass's counts over the ranks (each predicted its own share; the
 * losses are the batches' already). */
static void reduce_counts(pass_result *out)
{
    double sums[2] = {(double)out->correct, (double)out->count};
    dist_allreduce_sum_double(sums, 2);
    out->correct = (int64_t)sums[0], out->count = (int64_t)sums[1];
}

/* One pass over examples idx in eval mode (scores) or training mode (updates).
 * Training under mpirun: each batch is split among the ranks (dist_share),
 * each rank's mean gradients weighted by its share of the batch's loss
 * weight, then summed over the ranks: every rank takes the same step. */
static int run_pass(classifier *c, const cls_dataset *d, const int64_t *idx, int64_t n, int batch,
                    recur_optimizer *opt, const param_grads *pg, double clip, pass_result *out,
                    int *predictions, double *probabilities)
{
    cls_batch b = {0};
    int rc = 0;
    float *grad = malloc((size_t)batch * (size_t)(c->bce ? 1 : c->classes) * sizeof(float));
    double *probability = malloc((size_t)(c->classes + 1) * sizeof(double));
    if (!grad || !probability)
        rc = cli_error("out of memory");
    recur_seqnet_set_training(c->net, opt != NULL);
    out->loss = 0, out->correct = 0, out->count = 0;
    c->aux_loss = 0;
    const int width = c->bce ? 1 : c->classes;
    const int split = opt && dist_size() > 1;
    for (int64_t at = 0; !rc && at < n; at += batch) {
        int count = (int)(n - at < batch ? n - at : batch);
        long long first = 0, own = count;
        if (split)
            dist_share(count, &first, &own);
        double weights[2] = {1, 1}, totals[2] = {1, 1};
        if (own && (rc = cls_batch_fill(&b, d, idx + at + first, (int)own, c->max_len)) != 0)
            break;
        if (split) {
            if (own)
                batch_weights(c, &b, weights);
            else
                weights[0] = weights[1] = 0;
            totals[0] = weights[0], totals[1] = weights[1];
            dist_allreduce_sum_double(totals, 2);
        }
        const double share = totals[0] > 0 ? weights[0] / totals[0] : 0;
        const double aux_share = totals[1] > 0 ? weights[1] / totals[1] : 0;
        const float *logits = NULL;
        float loss = 0, aux = 0, *grad_outputs = NULL;
        recur_status st = own ? net_forward(c, &b, &logits) : RECUR_OK;
        int labeled = own && b.targets[0] >= 0;
        if (st == RECUR_OK && labeled)
            st = batch_loss(c, &b, logits, &loss, opt ? grad : NULL);
        if (opt && c->aux_head)
            recur_linear_zero_grad(c->aux_head);
        if (st == RECUR_OK && own && opt && c->aux_head)
            st = aux_loss(c, &b, split ? (float)aux_share : 1.0f, &grad_outputs, &aux);
        if (split && opt && c->aux_head) /* its gradients are final */
            grad_reducer_ready(pg->reducer, pg->clipped, pg->count - pg->clipped);
        if (st == RECUR_OK && opt) {
            recur_seqnet_zero_grad(c->net);
            for (long long k = 0; split && k < own * width; k++)
                grad[k] *= (float)share;
            if (own)
                st = recur_seqnet_backward_outputs(c->net, grad, grad_outputs, NULL);
            if (split) {
                loss = (float)(loss * share), aux = (float)(aux * aux_share);
                reduce_grads(pg, &loss, &aux);
            }
            if (c->aux_head)
                c->aux_loss += aux * count;
            if (st == RECUR_OK && clip > 0)
                st = recur_clip_grad_norm(pg->clipped, pg->grads, pg->sizes, (float)clip, NULL);
            if (st == RECUR_OK && c->schedule)
                recur_optimizer_set_lr(opt, recur_schedule_lr(c->schedule));
            if (st == RECUR_OK)
                st = recur_optimizer_step(opt);
            if (st == RECUR_OK && c->schedule)
                st = recur_schedule_step(c->schedule);
        }
        free(grad_outputs);
        if (st != RECUR_OK) {
            rc = cli_status_error(st);
            break;
        }
        if (opt && !isfinite(loss)) {
            cli_error("training diverged: the loss is %s (try a lower --lr)",
                      isnan(loss) ? "NaN" : "infinite");
            rc = CLI_EXIT_FAILURE; /* as recur train: 1 for a diverged run */
            break;
        }
        out->loss += (double)loss * count;
        for (int k = 0; k < own; k++) {
            int pred = predict_row(c, logits + (size_t)k * width, probability);
            if (predictions)
                predictions[at + first + k] = pred;
            if (probabilities)
                memcpy(probabilities + (size_t)(at + first + k) * c->classes, probability,
                       (size_t)c->classes * sizeof(double));
            if (b.targets[k] >= 0) {
                out->correct += pred == b.targets[k];
                out->count++;
                if (out->confusion)
                    out->confusion[b.targets[k] * c->classes + pred]++;
            }
        }
    }
    if (split && !rc)
        reduce_counts(out);
    if (out->count)
        out->loss /= (double)out->count, c->aux_loss /= (double)out->count;
    free(grad), free(probability);
    cls_batch_free(&b);
    return rc;
}

/* ---------------------------------------------------------------- */
/* Report: accuracy, macro-F1, per class, confusion                  */
/* ---------------------------------------------------------------- */

/* The report as JSON (file contents, io/atomic_file.h). */
typedef struct report_json {
    const cls_dataset *d;
    const pass_result *r;
    double macro_f1;
    const double *precision, *recall;
    const int64_t *support;
} report_json;

static int write_report_json(FILE *f, void *context)
{
    const report_json *j = context;
    const int C = j->d->classes;
    const pass_result *r = j->r;
    fprintf(f, "{\"examples\": %lld, \"accuracy\": %.6f, \"macro_f1\": %.6f, \"classes\": [",
            (long long)r->count, r->count ? (double)r->correct / (double)r->count : 0,
            j->macro_f1);
    for (int k = 0; k < C; k++) {
        fputs(k ? ", {\"name\": " : "{\"name\": ", f);
        cli_json_string(f, j->d->class_names[k]);
        fprintf(f, ", \"precision\": %.6f, \"recall\": %.6f, \"support\": %lld}",
                j->precision[k], j->recall[k], (long long)j->support[k]);
    }
    fputs("], \"confusion\": [", f);
    for (int a = 0; a < C; a++) {
        fputs(a ? ", [" : "[", f);
        for (int k = 0; k < C; k++)
            fprintf(f, "%s%lld", k ? ", " : "", (long long)r->confusion[a * C + k]);
        fputc(']', f);
    }
    fputs("]}\n", f);
    return ferror(f) ? (errno ? errno : EIO) : 0;
}

static int print_report(const cls_dataset *d, const pass_result *r, const char *title,
                        const char *json_path)
{
    const int C = d->classes;
    double macro_f1 = 0;
    printf("%s: %lld examples, accuracy %.4f", title, (long long)r->count,
           r->count ? (double)r->correct / (double)r->count : NAN);
    double *precision = calloc((size_t)C, sizeof(double)), *recall = calloc((size_t)C, sizeof(double));
    int64_t *support = calloc((size_t)C, sizeof(int64_t));
    if (!precision || !recall || !support) {
        free(precision), free(recall), free(support);
        return cli_error("out of memory");
    }
    for (int k = 0; k < C; k++) {
        int64_t tp = r->confusion[k * C + k], predicted = 0;
        for (int a = 0; a < C; a++)
            predicted += r->confusion[a * C + k], support[k] += r->confusion[k * C + a];
        precision[k] = predicted ? (double)tp / (double)predicted : 0;
        recall[k] = support[k] ? (double)tp / (double)support[k] : 0;
        double f1 = precision[k] + recall[k] > 0
                        ? 2 * precision[k] * recall[k] / (precision[k] + recall[k])
                        : 0;
        macro_f1 += f1 / C;
    }
    printf(", macro-F1 %.4f\n", macro_f1);
    printf("  %-16s %9s %9s %9s\n", "class", "precision", "recall", "support");
    for (int k = 0; k < C; k++)
        printf("  %-16s %9.4f %9.4f %9lld\n", d->class_names[k], precision[k], recall[k],
               (long long)support[k]);
    printf("  confusion (rows: actual, columns: predicted)\n  %-16s", "");
    for (int k = 0; k < C; k++)
        printf(" %8.8s", d->class_names[k]);
    printf("\n");
    for (int a = 0; a < C; a++) {
        printf("  %-16s", d->class_names[a]);
        for (int k = 0; k < C; k++)
            printf(" %8lld", (long long)r->confusion[a * C + k]);
        printf("\n");
    }
    int rc = 0;
    if (json_path) {
        report_json report = {d, r, macro_f1, precision, recall, support};
        recur_status st = recur_write_file_atomic(json_path, write_report_json, &report);
        if (st != RECUR_OK)
            rc = cli_status_error(st);
    }
    free(precision), free(recall), free(support);
    return rc;
}

/* ---------------------------------------------------------------- */
/* Model files                                                       */
/* ---------------------------------------------------------------- */

/* scaler and grid: time-series windows only (NULL otherwise). */
static recur_status save_classifier(const char *path, const classifier *c, const cls_dataset *d,
                                    const recur_vocab *vocab, const recur_scaler *scaler,
                                    const recur_freq *grid, const cli_options *o)
{
    recur_st_writer *w;
    CLI_TRY(recur_st_writer_create(&w));
    recur_status st = recur_seqnet_write(c->net, w);
    if (st == RECUR_OK && vocab)
        st = recur_vocab_write(vocab, w, "vocab.tokens");
    if (st == RECUR_OK && scaler)
        st = recur_scaler_write(scaler, w, "scaler.");
    char freq[32];
    if (grid)
        recur_freq_format(*grid, freq, sizeof freq);
    if (st == RECUR_OK && grid) /* the windows' time step, kept for eval and predict */
        st = recur_st_writer_set_metadata(w, "recur.classify.grid", freq);
    if (st == RECUR_OK)
        st = cli_options_write(o, w, "recur.classify.");
    size_t length = 1;
    for (int k = 0; k < d->classes; k++)
        length += strlen(d->class_names[k]) + 1;
    char *names = calloc(length, 1);
    if (!names && st == RECUR_OK)
        st = cli_out_of_memory("classify: class names");
    for (int k = 0; names && k < d->classes; k++)
        strcat(strcat(names, d->class_names[k]), "\n");
    if (st == RECUR_OK)
        st = recur_st_writer_set_metadata(w, "recur.classify.classes", names);
    if (st == RECUR_OK)
        st = recur_st_writer_set_metadata(w, "recur.classify.input",
                                          vocab ? "text" : scaler ? "series" : "idx");
    free(names);
    if (st == RECUR_OK)
        st = recur_st_writer_save(w, path);
    recur_st_writer_free(w);
    return st;
}

/* ---------------------------------------------------------------- */
/* train                                                             */
/* ---------------------------------------------------------------- */

typedef struct split {
    int64_t *train, *val, *test;
    int64_t n_train, n_val, n_test;
} split;

/* Random (seeded) split, or chronological for time-series windows, which
 * overlap: the last windows are the test, the ones before them validate. */
static int make_split(int64_t count, int64_t given_test_from, const cli_options *o, split *s)
{
    int64_t n = given_test_from >= 0 ? given_test_from : count;
    int64_t *order = malloc((size_t)(count ? count : 1) * sizeof *order);
    if (!order)
        return cli_error("out of memory");
    for (int64_t i = 0; i < count; i++)
        order[i] = i;
    uint64_t rng = (uint64_t)o->num[CL_SEED] * 7919 + 1;
    if (o->num[CL_WINDOW] <= 0)
        cls_shuffle(order, n, &rng);
    s->n_test = given_test_from >= 0 ? count - n : (int64_t)((double)n * o->num[CL_TEST_FRACTION]);
    int64_t rest = n - (given_test_from >= 0 ? 0 : s->n_test);
    s->n_val = (int64_t)((double)rest * o->num[CL_VAL_FRACTION]);
    s->n_train = rest - s->n_val;
    s->train = order;
    s->val = order + s->n_train;
    s->test = given_test_from >= 0 ? order + n : order + s->n_train + s->n_val;
    if (s->n_train < 1)
        return cli_error("classify: no training examples left after the splits");
    return 0;
}

/* The model file keeps the class names one per line. */
static int check_class_names(const cls_dataset *d)
{
    for (int k = 0; k < d->classes; k++) {
        const char *name = d->class_names[k], *line_break = strchr(name, '\n');
        if (line_break)
            return cli_error("classify train: a label holds a line break (after '%.*s'), which "
                             "the model file cannot keep",
                             (int)(line_break - name < 60 ? line_break - name : 60), name);
    }
    return 0;
}

static int classify_train(int argc, char **argv)
{
    cli_options o;
    cli_options_init(&o, classify_specs, CLASSIFY_SPEC_COUNT, "classify train", classify_usage,
                     classify_example);
    int rc = cli_options_parse(&o, argc, argv, 1);
    if (rc >= 0)
        return rc;
    if (!o.str[CL_OUTPUT])
        return cli_error("classify train: -o MODEL is missing");
    if (check_outputs(&o) ||
        check_sources(&o, o.positional_count ? o.positional[0] : NULL, 1))
        return CLI_EXIT_BAD_INPUT;
    if (dist_quiet_other_ranks() != 0) /* rank 0 reports */
        return cli_error("classify train: rank %d: cannot silence stdout", dist_rank());
    cls_texts texts = {0};
    cls_dataset d = {0};
    recur_vocab *vocab = NULL;
    split s = {0};
    int is_text;
    recur_token_options to = token_options(&o);
    const int is_series = o.num[CL_WINDOW] > 0;
    recur_scaler *scaler = NULL;
    recur_freq grid = {0, 0}; /* detected */
    if (is_series) {
        is_text = 0;
        if (!o.positional_count || !o.str[CL_INPUTS] || !o.str[CL_LABEL])
            rc = cli_error("classify train: windows need SERIES.csv, --inputs COLS and --label COL");
        else
            rc = cls_dataset_from_series(
                &d, o.positional[0], o.str[CL_TIME], o.str[CL_INPUTS], o.str[CL_LABEL],
                (int)o.num[CL_WINDOW], (int)o.num[CL_STRIDE],
                1.0 - o.num[CL_TEST_FRACTION] - o.num[CL_VAL_FRACTION], &scaler, &grid, 1);
        if (!rc)
            rc = cls_dataset_sort_classes(&d);
    } else
        rc = read_texts(&o, o.positional_count ? o.positional[0] : NULL, 1, &texts, &is_text);
    int64_t test_from = -1;
    if (!rc && !is_text && !is_series) {
        if (!o.str[CL_IDX_LABELS])
            rc = cli_error("classify train: --idx-labels is missing");
        if (!rc)
            rc = cls_dataset_from_idx(&d, o.str[CL_IDX_IMAGES], o.str[CL_IDX_LABELS]);
        if (!rc && o.str[CL_TEST_IMAGES]) {
            test_from = d.n;
            rc = cls_dataset_from_idx(&d, o.str[CL_TEST_IMAGES], o.str[CL_TEST_LABELS]);
        }
    }
    if (!rc && is_text) {
        /* labels first (sorted), then the split, then the vocabulary of the training part */
        for (int64_t i = 0; !rc && i < texts.n; i++)
            if (cls_dataset_class(&d, texts.labels[i], 1) < 0)
                rc = CLI_EXIT_FAILURE;
        if (!rc)
            rc = cls_dataset_sort_classes(&d);
        if (!rc)
            rc = make_split(texts.n, -1, &o, &s);
        recur_status st = rc ? RECUR_OK : recur_vocab_create(&vocab);
        if (st != RECUR_OK)
            rc = cli_status_error(st);
        if (!rc)
            rc = cls_texts_count(&texts, s.train, s.n_train, &to, vocab);
        if (!rc && (st = recur_vocab_finish(vocab, (int64_t)o.num[CL_VOCAB],
                                            (int64_t)o.num[CL_MIN_COUNT])) != RECUR_OK)
            rc = cli_status_error(st);
        if (!rc)
            rc = cls_texts_encode(&texts, &to, vocab, &d, 0);
    } else if (!rc)
        rc = make_split(d.n, test_from, &o, &s);
    if (!rc && d.classes < 2)
        rc = cli_error("classify train: the data has %d class; two or more are needed", d.classes);
    if (!rc)
        rc = check_class_names(&d);
    cls_texts_free(&texts);

    classifier c = {NULL, d.classes, 0, NULL, (int)o.num[CL_MAX_LEN], NULL, NULL, 0, 0};
    recur_schedule schedule;
    if (!rc && cli_options_choice(&o, CL_SCHEDULE) == 1) {
        recur_schedule_config sc = recur_schedule_config_default(RECUR_SCHEDULE_WARMUP_COSINE);
        int64_t batches = (s.n_train + (int64_t)o.num[CL_BATCH] - 1) / (int64_t)o.num[CL_BATCH];
        sc.total_steps = batches * (int64_t)o.num[CL_EPOCHS];
        sc.min_lr = o.num[CL_LR] * 0.01;
        recur_status st = recur_schedule_init(&schedule, &sc, (float)o.num[CL_LR]);
        if (st != RECUR_OK)
            rc = cli_status_error(st);
        c.schedule = &schedule;
    }
    int loss = cli_options_choice(&o, CL_LOSS);
    c.bce = loss == 2 || (loss == 0 && d.classes == 2);
    if (!rc && c.bce && d.classes != 2)
        rc = cli_error("--loss bce needs exactly two classes (there are %d)", d.classes);
    if (!rc && cli_options_choice(&o, CL_CLASS_WEIGHTS) == 1) {
        int64_t *count = calloc((size_t)d.classes, sizeof *count);
        c.class_weights = calloc((size_t)d.classes, sizeof *c.class_weights);
        if (!count || !c.class_weights)
            rc = cli_error("out of memory");
        for (int64_t i = 0; !rc && i < s.n_train; i++)
            count[d.labels[s.train[i]]]++;
        for (int k = 0; !rc && k < d.classes; k++)
            c.class_weights[k] = count[k] ? (float)((double)s.n_train / (d.classes * (double)count[k])) : 0;
        free(count);
    }
    if (!rc) {
        static const recur_cell cells[] = {RECUR_LSTM, RECUR_GRU, RECUR_RNN_TANH};
        int input = is_text ? (int)o.num[CL_EMBED] : d.features;
        recur_seqnet_config sc = recur_seqnet_config_default(
            cells[cli_options_choice(&o, CL_MODEL)], input, (int)o.num[CL_HIDDEN],
            c.bce ? 1 : d.classes);
        sc.rnn.num_layers = (int)o.num[CL_LAYERS];
        sc.rnn.bidirectional = (int)o.num[CL_BIDIRECTIONAL];
        sc.rnn.dropout = (float)o.num[CL_DROPOUT];
        sc.input_dropout = (float)o.num[CL_INPUT_DROPOUT];
        sc.pool = (recur_pool)cli_options_choice(&o, CL_POOL);
        if (is_text)
            sc.vocab_size = (int)recur_vocab_size(vocab), sc.padding_idx = RECUR_VOCAB_PAD;
        recur_status st = recur_seqnet_create(&sc, (uint64_t)o.num[CL_SEED], &c.net);
        if (st == RECUR_OK && cli_options_choice(&o, CL_AUX) == 1) {
            if (!is_text)
                st = RECUR_E_INVALID, rc = cli_error("--aux next-token needs text examples");
            else if (sc.rnn.bidirectional && sc.rnn.num_layers > 1)
                st = RECUR_E_INVALID,
                rc = cli_error("--aux next-token with --bidirectional 1 needs --layers 1 (above "
                               "the first layer the forward direction reads the reverse "
                               "direction's outputs, which have seen the next token)");
            else /* the forward direction's half of the outputs (cls_aux_loss) */
                st = recur_linear_create(sc.rnn.proj_size ? sc.rnn.proj_size
                                                          : sc.rnn.hidden_size,
                                         sc.vocab_size, 1,
                                         (uint64_t)o.num[CL_SEED] + 11, &c.aux_head);
            c.aux_weight = (float)o.num[CL_AUX_WEIGHT];
        }
        if (st != RECUR_OK && !rc)
            rc = cli_status_error(st);
        if (!rc)
            rc = dist_gpu_place_seqnet("classify train: --device", o.str[CL_DEVICE], c.net);
    }
    if (!rc)
        printf("%lld examples (%lld train, %lld validation, %lld test), %d classes, %s%lld\n",
               (long long)d.n, (long long)s.n_train, (long long)s.n_val, (long long)s.n_test,
               d.classes, is_text ? "vocabulary " : "features per step ",
               is_text ? (long long)recur_vocab_size(vocab) : (long long)d.features);
    if (!rc && dist_size() > 1)
        printf("data-parallel over %d processes: each batch split among them\n", dist_size());
    /* the optimizer and the epochs */
    recur_optimizer *opt = NULL;
    int count = rc ? 0 : recur_seqnet_param_count(c.net);
    int aux_count = rc || !c.aux_head ? 0 : recur_linear_param_count(c.aux_head);
    float **values = calloc((size_t)count + 1, sizeof *values);
    float **grads = calloc((size_t)(count + aux_count) + 1, sizeof *grads);
    size_t *sizes = calloc((size_t)(count + aux_count) + 1, sizeof *sizes), total = 0;
    param_grads pg = {grads, sizes, count, count + aux_count, NULL};
    if (!rc && (!values || !grads || !sizes))
        rc = cli_error("out of memory");
    if (!rc) {
        recur_optimizer_config oc = recur_optimizer_config_default((recur_optimizer_kind)cli_options_choice(&o, CL_OPTIMIZER));
        oc.lr = (float)o.num[CL_LR];
        oc.weight_decay = (float)o.num[CL_WEIGHT_DECAY];
        recur_status st = recur_optimizer_create(&oc, &opt);
        for (int i = 0; st == RECUR_OK && i < count; i++) {
            recur_param p;
            if ((st = recur_seqnet_param(c.net, i, &p)) != RECUR_OK)
                break;
            values[i] = p.value, grads[i] = p.grad, sizes[i] = p.numel, total += p.numel;
            st = recur_optimizer_add(opt, p.value, p.grad, p.numel);
        }
        for (int i = 0; st == RECUR_OK && i < aux_count; i++) {
            recur_param p; /* trained, not clipped, not saved */
            if ((st = recur_linear_param(c.aux_head, i, &p)) == RECUR_OK) {
                grads[count + i] = p.grad, sizes[count + i] = p.numel;
                st = recur_optimizer_add(opt, p.value, p.grad, p.numel);
            }
        }
        if (st == RECUR_OK && dist_size() > 1) {
            if (!(pg.reducer = grad_reducer_create(pg.count, grads, sizes, 0)))
                st = cli_out_of_memory("classify: gradient reducer");
            else
                recur_seqnet_set_grad_ready(c.net, grad_reducer_ready, pg.reducer);
        }
        if (st != RECUR_OK)
            rc = cli_status_error(st);
    }
    float *best = rc ? NULL : malloc(total * sizeof(float) + 1);
    if (!rc && !best)
        rc = cli_error("out of memory");
    double best_score = -1;
    int best_epoch = 0, bad = 0;
    uint64_t rng = (uint64_t)o.num[CL_SEED];
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (int epoch = 1; !rc && epoch <= (int)o.num[CL_EPOCHS]; epoch++) {
        pass_result tr = {0}, va = {0};
        cls_bucket_order(&d, s.train, s.n_train, (int)o.num[CL_BATCH], &rng);
        rc = run_pass(&c, &d, s.train, s.n_train, (int)o.num[CL_BATCH], opt, &pg, o.num[CL_CLIP], &tr,
                      NULL, NULL);
        double aux = c.aux_loss;
        if (!rc && s.n_val)
            rc = run_pass(&c, &d, s.val, s.n_val, 256, NULL, NULL, 0, &va, NULL, NULL);
        if (rc)
            break;
        double score = s.n_val ? (double)va.correct / (double)va.count
                               : (double)tr.correct / (double)tr.count;
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (c.aux_head)
            printf("epoch %d/%d  aux next-token loss %.4f\n", epoch, (int)o.num[CL_EPOCHS],
                   aux);
        printf("epoch %d/%d  train loss %.4f acc %.4f", epoch, (int)o.num[CL_EPOCHS], tr.loss,
               (double)tr.correct / (double)tr.count);
        if (va.count) /* without a validation set: no validation figures */
            printf("  val loss %.4f acc %.4f", va.loss, (double)va.correct / (double)va.count);
        printf("  %.1fs\n",
               (double)(now.tv_sec - start.tv_sec) + 1e-9 * (double)(now.tv_nsec - start.tv_nsec));
        fflush(stdout);
        if (score > best_score) {
            best_score = score, best_epoch = epoch, bad = 0;
            for (int i = 0, at = 0; i < count; at += (int)sizes[i], i++)
                memcpy(best + at, values[i], sizes[i] * sizeof(float));
        } else if (o.num[CL_EARLY_STOP] > 0 && ++bad >= (int)o.num[CL_EARLY_STOP]) {
            printf("early stopping: no validation improvement in %.0f epochs\n",
                   o.num[CL_EARLY_STOP]);
            break;
        }
    }
    if (!rc && best_epoch) {
        for (int i = 0, at = 0; i < count; at += (int)sizes[i], i++)
            memcpy(values[i], best + at, sizes[i] * sizeof(float));
        printf("kept the weights of epoch %d (%s accuracy %.4f)\n", best_epoch,
               s.n_val ? "validation" : "train", best_score);
    }
    if (!rc && s.n_test && dist_rank() == 0) {
        pass_result te = {0};
        te.confusion = calloc((size_t)d.classes * d.classes, sizeof *te.confusion);
        rc = te.confusion ? run_pass(&c, &d, s.test, s.n_test, 256, NULL, NULL, 0, &te,
                                     NULL, NULL)
                          : cli_error("out of memory");
        if (!rc)
            rc = print_report(&d, &te, "test", NULL);
        free(te.confusion);
    }
    if (!rc && dist_rank() == 0) {
        recur_status st =
            save_classifier(o.str[CL_OUTPUT], &c, &d, is_text ? vocab : NULL, scaler,
                            is_series ? &grid : NULL, &o);
        if (st != RECUR_OK)
            rc = cli_status_error(st);
        else
            printf("saved %s\n", o.str[CL_OUTPUT]);
    }
    free(values), free(grads), free(sizes), free(best), free(c.class_weights);
    grad_reducer_free(pg.reducer);
    recur_linear_free(c.aux_head);
    recur_scaler_free(scaler);
    free(s.train);
    recur_optimizer_free(opt);
    recur_seqnet_free(c.net);
    recur_vocab_free(vocab);
    cls_dataset_free(&d);
    return rc;
}

/* ---------------------------------------------------------------- */
/* eval and predict                                                  */
/* ---------------------------------------------------------------- */

/* Loads MODEL and the data the flags name, encoded for it. */
static int load_for_use(cli_options *o, int need_labels, recur_st_file **file, classifier *c,
                        cls_dataset *d, recur_vocab **vocab_out)
{
    const char *path = o->positional[0];
    recur_vocab *vocab = NULL;
    recur_status st = recur_st_open(path, file);
    if (st == RECUR_OK)
        st = recur_seqnet_read(*file, &c->net);
    if (st != RECUR_OK)
        return cli_status_error(st);
    if (cli_options_restore(o, *file, "recur.classify.", 0))
        return CLI_EXIT_BAD_INPUT;
    int rc = dist_gpu_place_seqnet("classify: --device", o->str[CL_DEVICE], c->net);
    if (rc)
        return rc;
    const char *classes = recur_st_metadata(*file, "recur.classify.classes");
    const char *input = recur_st_metadata(*file, "recur.classify.input");
    if (!classes || !input)
        return cli_error("%s: not a model made by recur classify", path);
    for (const char *p = classes; *p;) {
        const char *nl = strchr(p, '\n');
        char name[1024];
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        snprintf(name, sizeof name, "%.*s", (int)n, p);
        if (cls_dataset_class(d, name, 1) < 0)
            return CLI_EXIT_FAILURE;
        p += n + (nl != NULL);
    }
    c->classes = d->classes;
    const int outputs = recur_seqnet_get_config(c->net)->output_size;
    c->bce = outputs == 1;
    if (d->classes != (c->bce ? 2 : outputs))
        return cli_error("%s: %d class names for a head of %d outputs", path, d->classes, outputs);
    c->max_len = (int)o->num[CL_MAX_LEN];
    const char *data = o->positional_count > 1 ? o->positional[1] : NULL;
    int is_text;
    cls_texts texts = {0};
    if (!strcmp(input, "text")) {
        st = recur_vocab_read(*file, "vocab.tokens", &vocab);
        if (st != RECUR_OK)
            return cli_status_error(st);
        rc = read_texts(o, data, need_labels, &texts, &is_text);
        if (!rc && !is_text)
            rc = cli_error("%s: a text model; give texts, not --idx-images", path);
        recur_token_options to = token_options(o);
        if (!rc)
            rc = cls_texts_encode(&texts, &to, vocab, d, 0);
    } else if (!strcmp(input, "series")) {
        recur_scaler *scaler = NULL;
        recur_freq grid = {0, 0}; /* models of older versions: detected */
        const char *saved_grid = recur_st_metadata(*file, "recur.classify.grid");
        st = recur_scaler_read(*file, "scaler.", &scaler);
        if (st == RECUR_OK && saved_grid)
            st = recur_freq_parse(saved_grid, &grid);
        if (st != RECUR_OK)
            rc = cli_status_error(st);
        else if (!data || (need_labels && !o->str[CL_LABEL]))
            rc = cli_error("%s: a time-series model; give SERIES.csv%s", path,
                           need_labels ? " and --label COL" : "");
        else
            rc = cls_dataset_from_series(d, data, o->str[CL_TIME], o->str[CL_INPUTS],
                                         need_labels ? o->str[CL_LABEL] : NULL,
                                         (int)o->num[CL_WINDOW],
                                         (int)o->num[CL_STRIDE], 0, &scaler, &grid, 0);
        recur_scaler_free(scaler);
    } else {
        if (!o->str[CL_IDX_IMAGES])
            rc = cli_error("%s: an image model; give --idx-images", path);
        else if (need_labels && !o->str[CL_IDX_LABELS])
            rc = cli_error("classify: --idx-labels is missing");
        else {
            d->features = recur_seqnet_get_config(c->net)->rnn.input_size;
            rc = cls_dataset_from_idx(d, o->str[CL_IDX_IMAGES], o->str[CL_IDX_LABELS]);
        }
    }
    cls_texts_free(&texts);
    *vocab_out = vocab;
    return rc;
}

/* The attention weights of the first example, drawn over its tokens (or rows). */
static int draw_attention(const char *path, classifier *c, const cls_dataset *d,
                          const recur_vocab *vocab)
{
    if (recur_seqnet_get_config(c->net)->pool != RECUR_POOL_ATTENTION)
        return cli_error("--attention-map needs a model trained with --pool attention");
    if (d->n < 1)
        return cli_error("--attention-map: no example");
    cls_batch b = {0};
    int64_t first = 0;
    const float *logits;
    int rc = cls_batch_fill(&b, d, &first, 1, c->max_len);
    recur_seqnet_set_training(c->net, 0);
    if (!rc && net_forward(c, &b, &logits) != RECUR_OK)
        rc = cli_status_error(RECUR_E_INVALID);
    const float *weights = rc ? NULL : recur_seqnet_attention_weights(c->net);
    const char **labels = rc ? NULL : calloc((size_t)b.steps, sizeof *labels);
    char (*rows)[16] = rc ? NULL : calloc((size_t)b.steps, sizeof *rows);
    if (!rc && (!labels || !rows))
        rc = cli_error("out of memory");
    for (int t = 0; !rc && t < b.steps; t++) {
        snprintf(rows[t], sizeof rows[t], "row %d", t);
        labels[t] = vocab ? recur_vocab_token(vocab, b.ids[t], NULL) : rows[t];
    }
    const char *row_label[] = {"weight"};
    if (!rc)
        rc = cli_heatmap(path, "attention over the first example", row_label, 1, labels, b.steps,
                         weights);
    if (!rc)
        printf("attention map of the first example: %s\n", path);
    free(labels), free(rows);
    cls_batch_free(&b);
    return rc;
}

/* PRED.csv: the predicted label and each class's probability per example
 * (file contents, io/atomic_file.h). */
typedef struct predictions_csv {
    const cls_dataset *d;
    const int *predictions;
    const double *probabilities;
} predictions_csv;

static int write_predictions(FILE *f, void *context)
{
    const predictions_csv *p = context;
    const cls_dataset *d = p->d;
    fputs("label", f);
    for (int k = 0; k < d->classes; k++) {
        fputs(",p_", f);
        cli_csv_field(f, d->class_names[k]);
    }
    fputc('\n', f);
    for (int64_t i = 0; i < d->n; i++) {
        cli_csv_field(f, d->class_names[p->predictions[i]]);
        for (int k = 0; k < d->classes; k++)
            fprintf(f, ",%.6f", p->probabilities[(size_t)i * d->classes + k]);
        fputc('\n', f);
    }
    return ferror(f) ? (errno ? errno : EIO) : 0;
}

static int classify_use(int argc, char **argv, int predict)
{
    cli_options o;
    cli_options_init(&o, classify_specs, CLASSIFY_SPEC_COUNT,
                     predict ? "classify predict" : "classify eval", classify_usage,
                     classify_example);
    int rc = cli_options_parse(&o, argc, argv, 2);
    if (rc >= 0)
        return rc;
    if (!o.positional_count)
        return cli_error("classify: MODEL is missing (see recur classify --help)");
    if (predict && !o.str[CL_OUTPUT])
        return cli_error("classify predict: -o PRED.csv is missing");
    if (check_outputs(&o) ||
        check_sources(&o, o.positional_count > 1 ? o.positional[1] : NULL, 0))
        return CLI_EXIT_BAD_INPUT;
    recur_st_file *file = NULL;
    classifier c = {0};
    cls_dataset d = {0};
    recur_vocab *vocab = NULL;
    rc = load_for_use(&o, !predict, &file, &c, &d, &vocab);
    if (!rc && o.str[CL_ATTENTION_MAP])
        rc = draw_attention(o.str[CL_ATTENTION_MAP], &c, &d, vocab);
    int64_t *idx = rc ? NULL : malloc((size_t)(d.n ? d.n : 1) * sizeof *idx);
    int *predictions = rc ? NULL : malloc((size_t)(d.n ? d.n : 1) * sizeof *predictions);
    double *probabilities =
        rc ? NULL : malloc((size_t)(d.n ? d.n : 1) * (size_t)d.classes * sizeof *probabilities);
    pass_result r = {0};
    r.confusion = rc ? NULL : calloc((size_t)d.classes * d.classes, sizeof *r.confusion);
    if (!rc && (!idx || !predictions || !probabilities || !r.confusion))
        rc = cli_error("out of memory");
    for (int64_t i = 0; !rc && i < d.n; i++)
        idx[i] = i;
    if (!rc)
        rc = run_pass(&c, &d, idx, d.n, 256, NULL, NULL, 0, &r, predictions,
                      probabilities);
    if (!rc && !predict)
        rc = print_report(&d, &r, "eval", o.str[CL_JSON]);
    if (!rc && predict) {
        predictions_csv csv = {&d, predictions, probabilities};
        recur_status st = recur_write_file_atomic(o.str[CL_OUTPUT], write_predictions, &csv);
        if (st != RECUR_OK)
            rc = cli_status_error(st);
        else
            printf("wrote %lld predictions to %s\n", (long long)d.n, o.str[CL_OUTPUT]);
    }
    free(idx), free(predictions), free(probabilities), free(r.confusion);
    recur_vocab_free(vocab);
    recur_seqnet_free(c.net);
    cls_dataset_free(&d);
    recur_st_close(file);
    return rc;
}

int cmd_classify(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        FILE *out = argc < 2 ? stderr : stdout;
        fputs(classify_usage, out);
        fputs("\nexample:\n", out);
        fputs(classify_example, out);
        return argc < 2 ? CLI_EXIT_BAD_INPUT : CLI_EXIT_OK;
    }
    if (!strcmp(argv[1], "train"))
        return classify_train(argc - 1, argv + 1);
    if (dist_size() > 1)
        return cli_error("classify %s: only classify train runs under mpirun", argv[1]);
    if (!strcmp(argv[1], "eval"))
        return classify_use(argc - 1, argv + 1, 0);
    if (!strcmp(argv[1], "predict"))
        return classify_use(argc - 1, argv + 1, 1);
    return cli_error("classify: unknown command '%s' (train, eval or predict)", argv[1]);
}
