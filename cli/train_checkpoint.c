/* Training checkpoints: the model file plus everything needed to continue
 * bit-exactly (optimizer, schedule, early stopping, generators, carried
 * state, data position, best weights). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_util.h"
#include "trainer.h"

recur_status trainer_write_model(const trainer *t, recur_st_writer *w)
{
    char hex[513];
    recur_byte_vocab_to_hex(&t->vocab, hex);
    CLI_TRY(recur_lm_write(t->lm, w));
    CLI_TRY(recur_st_writer_set_metadata(w, "recur.vocab", hex));
    return cli_options_write(t->options, w, "recur.train.");
}

/* The scalar state, as doubles (exact for the integers involved). */
enum {
    P_STEP, P_POS, P_ELAPSED, P_LOSS_SUM, P_LOSS_COUNT, P_BEST_VAL, P_BEST_STEP,
    P_SCHED_LR, P_SCHED_STEPS, P_SCHED_BEST, P_SCHED_BAD, P_SCHED_COOLDOWN, P_SCHED_UPDATES,
    P_ES_BEST, P_ES_WAIT, P_ES_EPOCHS, P_ES_BEST_EPOCH, P_ES_STOPPED, P_ES_IMPROVED,
    P_COUNT
};

static void progress_pack(const trainer *t, double *p)
{
    const recur_schedule *s = &t->schedule;
    const recur_early_stopping *e = &t->early_stopping;
    p[P_STEP] = (double)t->step, p[P_POS] = (double)t->pos, p[P_ELAPSED] = t->elapsed;
    p[P_LOSS_SUM] = t->loss_sum, p[P_LOSS_COUNT] = (double)t->loss_count;
    p[P_BEST_VAL] = t->best_val, p[P_BEST_STEP] = (double)t->best_step;
    p[P_SCHED_LR] = s->lr, p[P_SCHED_STEPS] = (double)s->steps, p[P_SCHED_BEST] = s->best;
    p[P_SCHED_BAD] = (double)s->num_bad_epochs, p[P_SCHED_COOLDOWN] = (double)s->cooldown_counter;
    p[P_SCHED_UPDATES] = (double)s->plateau_updates;
    p[P_ES_BEST] = e->best, p[P_ES_WAIT] = (double)e->wait, p[P_ES_EPOCHS] = (double)e->epochs;
    p[P_ES_BEST_EPOCH] = (double)e->best_epoch, p[P_ES_STOPPED] = (double)e->stopped_epoch;
    p[P_ES_IMPROVED] = e->improved;
}

static void progress_unpack(trainer *t, const double *p)
{
    recur_schedule *s = &t->schedule;
    recur_early_stopping *e = &t->early_stopping;
    t->step = (long)p[P_STEP], t->pos = (size_t)p[P_POS], t->elapsed = p[P_ELAPSED];
    t->loss_sum = p[P_LOSS_SUM], t->loss_count = (long)p[P_LOSS_COUNT];
    t->best_val = p[P_BEST_VAL], t->best_step = (long)p[P_BEST_STEP];
    s->lr = p[P_SCHED_LR], s->steps = (int64_t)p[P_SCHED_STEPS], s->best = p[P_SCHED_BEST];
    s->num_bad_epochs = (int64_t)p[P_SCHED_BAD], s->cooldown_counter = (int64_t)p[P_SCHED_COOLDOWN];
    s->plateau_updates = (int64_t)p[P_SCHED_UPDATES];
    e->best = p[P_ES_BEST], e->wait = (int64_t)p[P_ES_WAIT], e->epochs = (int64_t)p[P_ES_EPOCHS];
    e->best_epoch = (int64_t)p[P_ES_BEST_EPOCH], e->stopped_epoch = (int64_t)p[P_ES_STOPPED];
    e->improved = (int)p[P_ES_IMPROVED];
}

static recur_status write_state(const trainer *t, recur_st_writer *w)
{
    double progress[P_COUNT];
    progress_pack(t, progress);
    int64_t n = P_COUNT;
    CLI_TRY(recur_st_writer_add(w, "train.progress", RECUR_F64, 1, &n, progress));
    int64_t identity[2] = {(int64_t)t->text_hash, (int64_t)(t->train_n + t->val_n)}, two = 2;
    CLI_TRY(recur_st_writer_add(w, "train.text", RECUR_I64, 1, &two, identity));
    int64_t skipped = t->skipped_in_a_row, one = 1;
    CLI_TRY(recur_st_writer_add(w, "train.skipped_in_a_row", RECUR_I64, 1, &one, &skipped));
    uint64_t rng[8];
    recur_lm_get_rng_state(t->lm, rng);
    int64_t eight = 8;
    CLI_TRY(recur_st_writer_add(w, "train.rng", RECUR_I64, 1, &eight, rng));
    int batch = (int)t->options->num[OPT_BATCH];
    int carried = recur_lm_get_state(t->lm, t->carried_state);
    int64_t state_n = carried ? (int64_t)recur_lm_state_numel(t->lm, batch) : 0;
    if (carried)
        CLI_TRY(recur_st_writer_add(w, "train.carried_state", RECUR_F32, 1, &state_n,
                                    t->carried_state));
    int64_t total = (int64_t)recur_lm_param_total(t->lm);
    CLI_TRY(recur_st_writer_add(w, "train.best_params", RECUR_F32, 1, &total, t->best_params));
    return recur_optimizer_write(t->opt, w, "optimizer.");
}

/* What the run reads and where it writes, in a checkpoint's metadata:
 * --text, --output, and --checkpoint-dir and --metrics when given. */
static const struct {
    int id;
    const char *key;
} run_paths[] = {{OPT_TEXT, "recur.run.text"},
                 {OPT_OUTPUT, "recur.run.output"},
                 {OPT_CHECKPOINT_DIR, "recur.run.checkpoint-dir"},
                 {OPT_METRICS, "recur.run.metrics"}};
enum { RUN_PATH_COUNT = sizeof run_paths / sizeof run_paths[0] };

static recur_status write_run_paths(const train_options *o, recur_st_writer *w)
{
    for (int i = 0; i < RUN_PATH_COUNT; i++)
        if (o->str[run_paths[i].id])
            CLI_TRY(recur_st_writer_set_metadata(w, run_paths[i].key, o->str[run_paths[i].id]));
    return RECUR_OK;
}

void trainer_restore_run_paths(train_options *o, const recur_st_file *checkpoint)
{
    for (int i = 0; i < RUN_PATH_COUNT; i++) {
        const char *saved = recur_st_metadata(checkpoint, run_paths[i].key);
        if (saved && !o->given[run_paths[i].id])
            o->str[run_paths[i].id] = saved;
    }
}

recur_status trainer_save_checkpoint(const trainer *t, const char *path)
{
    recur_st_writer *w;
    CLI_TRY(recur_st_writer_create(&w));
    recur_status st = trainer_write_model(t, w);
    if (st == RECUR_OK)
        st = recur_st_writer_set_metadata(w, "recur.checkpoint", "train");
    if (st == RECUR_OK)
        st = write_run_paths(t->options, w);
    if (st == RECUR_OK)
        st = write_state(t, w);
    if (st == RECUR_OK)
        st = recur_st_writer_save(w, path);
    recur_st_writer_free(w);
    return st;
}

/* Reads tensor `name` of exactly `count` elements of `dtype` into dst.
 * Returns 0, or 2 after printing an error. */
static int read_exact(const recur_st_file *f, const char *name, recur_dtype dtype,
                               size_t count, void *dst)
{
    const recur_tensor_view *v = recur_st_find(f, name);
    if (!v || v->dtype != dtype || v->numel != count)
        return cli_error("%s: '%s' is missing or is not %zu %s values: not a checkpoint of "
                         "this training",
                         recur_st_label(f), name, count, recur_dtype_name(dtype));
    memcpy(dst, v->data, v->nbytes); /* little-endian, as every supported host */
    return 0;
}

/* Returns the exit status of a failed call from the enclosing function. */
#define LOAD_TRY(expr)               \
    do {                             \
        int load_try_ = (expr);      \
        if (load_try_)               \
            return load_try_;        \
    } while (0)
#define LOAD_CALL(expr) LOAD_TRY((expr) == RECUR_OK ? 0 : cli_status_error(RECUR_E_FORMAT))

int trainer_load_checkpoint(trainer *t, const recur_st_file *f)
{
    const char *kind = recur_st_metadata(f, "recur.checkpoint");
    if (!kind || strcmp(kind, "train"))
        return cli_error("%s: not a training checkpoint (a final model cannot be resumed; use "
                         "CHECKPOINT_DIR/last.safetensors)",
                         recur_st_label(f));
    char hex[513];
    recur_byte_vocab_to_hex(&t->vocab, hex);
    int64_t identity[2];
    LOAD_TRY(read_exact(f, "train.text", RECUR_I64, 2, identity));
    const char *saved_vocab = recur_st_metadata(f, "recur.vocab");
    if ((uint64_t)identity[0] != t->text_hash ||
        identity[1] != (int64_t)(t->train_n + t->val_n) || !saved_vocab ||
        strcmp(saved_vocab, hex))
        return cli_error("%s: the checkpoint was trained on a different text than %s",
                         recur_st_label(f), t->options->str[OPT_TEXT]);
    for (int i = 0; i < t->param_count; i++) {
        recur_param p;
        LOAD_CALL(recur_lm_param(t->lm, i, &p));
        LOAD_TRY(read_exact(f, p.name, RECUR_F32, p.numel, p.value));
    }
    double progress[P_COUNT];
    LOAD_TRY(read_exact(f, "train.progress", RECUR_F64, P_COUNT, progress));
    progress_unpack(t, progress);
    int64_t skipped = 0; /* absent from checkpoints written before it was saved */
    if (recur_st_find(f, "train.skipped_in_a_row"))
        LOAD_TRY(read_exact(f, "train.skipped_in_a_row", RECUR_I64, 1, &skipped));
    t->skipped_in_a_row = (long)skipped;
    uint64_t rng[8];
    LOAD_TRY(read_exact(f, "train.rng", RECUR_I64, 8, rng));
    LOAD_CALL(recur_lm_set_rng_state(t->lm, rng));
    int batch = (int)t->options->num[OPT_BATCH];
    if (recur_st_find(f, "train.carried_state")) {
        LOAD_TRY(read_exact(f, "train.carried_state", RECUR_F32,
                           recur_lm_state_numel(t->lm, batch), t->carried_state));
        LOAD_CALL(recur_lm_set_state(t->lm, batch, t->carried_state));
    }
    LOAD_TRY(read_exact(f, "train.best_params", RECUR_F32, recur_lm_param_total(t->lm),
                       t->best_params));
    /* on the GPU, the optimizer (made on the GPU by trainer_init) uploads
     * its state itself, and recur_lm_set_state the carried state; the
     * parameters were read into the host copies */
    LOAD_CALL(recur_optimizer_read(t->opt, f, "optimizer."));
    if (t->device == RECUR_DEVICE_CUDA) {
        recur_status st = recur_lm_params_to_device(t->lm);
        if (st != RECUR_OK)
            return cli_status_error(st);
    }
    return 0;
}
