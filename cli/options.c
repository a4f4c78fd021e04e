/* Table-driven command-line options. */
#include "options.h"

#include <stdio.h>
#include <string.h>

#include "cli_util.h"

static const cli_option *spec_by_id(const cli_options *o, int id)
{
    for (int i = 0; i < o->count; i++)
        if (o->specs[i].id == id)
            return &o->specs[i];
    return NULL;
}

static const cli_option *spec_by_flag(const cli_options *o, const char *flag)
{
    for (int i = 0; i < o->count; i++)
        if (!strcmp(o->specs[i].flag, flag))
            return &o->specs[i];
    return NULL;
}

static int choice_index(const char *choices, const char *value)
{
    size_t n = strlen(value);
    int index = 0;
    for (const char *p = choices; *p; index++) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == n && !strncmp(p, value, n))
            return index;
        p += len + (bar != NULL);
    }
    return -1;
}

/* Options whose value names a file or folder, or is a list that cannot be
 * empty: an empty value (`-o "$UNSET"`) is refused at once rather than found
 * after a whole training run, or (grids) taken for an empty list. Column
 * names may be empty (pandas' unnamed index column), and so may --features
 * (no features) and titles. */
static int must_not_be_empty(const char *flag)
{
    static const char *const flags[] = {
        "output",     "checkpoint-dir", "metrics",     "tensorboard", "resume",
        "predictions", "json",          "attention-map", "idx-images", "idx-labels",
        "test-images", "test-labels",   "lines",       "hidden-grid", "lookback-grid",
    };
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++)
        if (!strcmp(flag, flags[i]))
            return 1;
    return 0;
}

/* Stores text as the option's value; prints an error and returns 2 if bad.
 * `origin` prefixes the flag in messages. */
static int set_value(cli_options *o, const cli_option *s, const char *text, const char *origin)
{
    char flag[700];
    snprintf(flag, sizeof flag, "%s--%s", origin, s->flag);
    switch (s->kind) {
    case OPTION_PATH:
        if (!text[0] && must_not_be_empty(s->flag))
            return cli_error("%s: the value is empty", flag);
        o->str[s->id] = text;
        return 0;
    case OPTION_CHOICE:
        if (choice_index(s->choices, text) < 0)
            return cli_error("%s: '%s' is not one of %s", flag, text, s->choices);
        o->str[s->id] = text;
        return 0;
    case OPTION_INT: {
        long v;
        if (cli_parse_int(flag, text, (long)s->min, (long)s->max, &v))
            return CLI_EXIT_BAD_INPUT;
        o->num[s->id] = (double)v;
        return 0;
    }
    case OPTION_FLOAT:
        return cli_parse_float(flag, text, s->min, s->max, &o->num[s->id]) ? CLI_EXIT_BAD_INPUT : 0;
    }
    return 0;
}

void cli_options_init(cli_options *o, const cli_option *specs, int count, const char *command,
                      const char *usage, const char *example)
{
    memset(o, 0, sizeof *o);
    o->specs = specs, o->count = count, o->command = command;
    o->usage = usage, o->example = example;
    for (int i = 0; i < count; i++)
        if (specs[i].fallback)
            set_value(o, &specs[i], specs[i].fallback, ""); /* the defaults are valid */
}

void cli_options_usage(const cli_options *o)
{
    printf("%s\noptions (default):\n", o->usage);
    for (int i = 0; i < o->count; i++) {
        const cli_option *s = &o->specs[i];
        char left[80];
        const char *value = s->kind == OPTION_CHOICE ? s->choices
                            : s->kind == OPTION_PATH ? "VALUE"
                            : s->kind == OPTION_INT  ? "N"
                                                     : "X";
        snprintf(left, sizeof left, "--%s %s", s->flag, value);
        printf("  %-32s %s%s%s%s\n", left, s->help, s->fallback ? " (" : "",
               s->fallback ? s->fallback : "", s->fallback ? ")" : "");
    }
    printf("\nexample:\n%s", o->example);
}

int cli_options_parse(cli_options *o, int argc, char **argv, int max_positional)
{
    for (int i = 1; i < argc; i++) {
        const char *flag = argv[i];
        if (!strcmp(flag, "-h") || !strcmp(flag, "--help")) {
            cli_options_usage(o);
            return CLI_EXIT_OK;
        }
        if (flag[0] != '-' || !flag[1]) {
            if (o->positional_count >= max_positional)
                return cli_error("%s: unexpected argument '%s' (see recur %s --help)", o->command,
                                 flag, o->command);
            o->positional[o->positional_count++] = flag;
            continue;
        }
        if (!strcmp(flag, "-o"))
            flag = "--output";
        const cli_option *s = strncmp(flag, "--", 2) ? NULL : spec_by_flag(o, flag + 2);
        if (!s)
            return cli_error("%s: unknown option '%s' (see recur %s --help)", o->command, argv[i],
                             o->command);
        if (i + 1 >= argc)
            return cli_error("%s: option %s needs a value", o->command, argv[i]);
        if (set_value(o, s, argv[++i], ""))
            return CLI_EXIT_BAD_INPUT;
        o->given[s->id] = 1;
    }
    return -1;
}

static void format_value(const cli_options *o, const cli_option *s, char *buf, size_t size)
{
    if (s->kind == OPTION_PATH || s->kind == OPTION_CHOICE)
        snprintf(buf, size, "%s", o->str[s->id] ? o->str[s->id] : "");
    else
        snprintf(buf, size, "%.17g", o->num[s->id]);
}

recur_status cli_options_write(const cli_options *o, recur_st_writer *writer, const char *prefix)
{
    for (int i = 0; i < o->count; i++) {
        const cli_option *s = &o->specs[i];
        if (s->scope == SCOPE_RUN || (s->kind == OPTION_PATH && !o->str[s->id]))
            continue;
        char key[128], value[4096];
        snprintf(key, sizeof key, "%s%s", prefix, s->flag);
        format_value(o, s, value, sizeof value);
        CLI_TRY(recur_st_writer_set_metadata(writer, key, value));
    }
    return RECUR_OK;
}

int cli_options_restore(cli_options *o, const recur_st_file *file, const char *prefix,
                        int check_given)
{
    const char *label = recur_st_label(file);
    int found = 0;
    for (int i = 0; i < o->count; i++) {
        const cli_option *s = &o->specs[i];
        if (s->scope == SCOPE_RUN)
            continue;
        char key[128], given[4096], now[4096];
        snprintf(key, sizeof key, "%s%s", prefix, s->flag);
        const char *saved = recur_st_metadata(file, key);
        if (!saved) {
            /* an optional text that was not set; or an option newer than the
             * file, which then keeps its default (what older versions did) */
            if (s->kind == OPTION_PATH && !o->given[s->id])
                o->str[s->id] = NULL;
            continue;
        }
        found++;
        if (check_given && o->given[s->id] && s->scope == SCOPE_EXTENDABLE)
            continue;
        format_value(o, s, given, sizeof given);
        char origin[600];
        snprintf(origin, sizeof origin, "%s: saved option ", label);
        /* The file's strings live as long as the open file. */
        if (set_value(o, s, saved, origin))
            return CLI_EXIT_BAD_INPUT;
        format_value(o, s, now, sizeof now);
        if (check_given && o->given[s->id] && strcmp(now, given))
            return cli_error("--%s %s differs from %s's %s; leave it out", s->flag, given, label,
                             now);
    }
    if (!found)
        return cli_error("%s: no %s* metadata (not made by recur %s)", label, prefix, o->command);
    return 0;
}

int cli_options_choice(const cli_options *o, int id)
{
    const cli_option *s = spec_by_id(o, id);
    return s && o->str[id] ? choice_index(s->choices, o->str[id]) : -1;
}
