/* Table-driven command-line options: one table per command drives parsing,
 * --help with defaults, saving the values into a model or checkpoint's
 * metadata and reading them back (resume, predict). */
#ifndef RECUR_CLI_OPTIONS_H
#define RECUR_CLI_OPTIONS_H

#include "recur.h"

#define CLI_MAX_OPTIONS 64
#define CLI_MAX_POSITIONAL 4

typedef enum cli_option_kind {
    OPTION_PATH,   /* any text (files, column lists) */
    OPTION_CHOICE, /* one of "a|b|c" */
    OPTION_INT,
    OPTION_FLOAT
} cli_option_kind;

/* RUN options belong to one invocation and are not saved; FIXED ones define
 * the training and must not change on resume; EXTENDABLE ones are saved but
 * may change (--steps). */
typedef enum cli_option_scope { SCOPE_RUN, SCOPE_FIXED, SCOPE_EXTENDABLE } cli_option_scope;

typedef struct cli_option {
    int id;               /* index into the value arrays, < CLI_MAX_OPTIONS */
    const char *flag;     /* without the leading "--" */
    cli_option_kind kind;
    cli_option_scope scope;
    const char *fallback; /* default as text; NULL = none */
    double min, max;      /* numeric range */
    const char *choices;  /* "a|b|c" for OPTION_CHOICE */
    const char *help;
} cli_option;

typedef struct cli_options {
    const cli_option *specs;
    int count;
    const char *command;     /* "train", "forecast train": used in messages */
    const char *usage;       /* first lines of --help, before the options */
    const char *example;     /* last lines of --help */
    const char *str[CLI_MAX_OPTIONS];
    double num[CLI_MAX_OPTIONS];
    int given[CLI_MAX_OPTIONS];
    const char *positional[CLI_MAX_POSITIONAL];
    int positional_count;
} cli_options;

/* Sets the table and the defaults. */
void cli_options_init(cli_options *o, const cli_option *specs, int count, const char *command,
                      const char *usage, const char *example);
/* Parses argv (argv[0] is the command); "-o" means "--output"; up to
 * max_positional arguments without a flag. Returns -1 to go on, else an
 * exit status (0 after --help, 2 after printing an error). */
int cli_options_parse(cli_options *o, int argc, char **argv, int max_positional);
void cli_options_usage(const cli_options *o);
/* Every non-RUN option as metadata "<prefix><flag>". */
recur_status cli_options_write(const cli_options *o, recur_st_writer *writer, const char *prefix);
/* Takes the saved (non-RUN) options from a file; with `check_given`, an option
 * also given on the command line must agree (EXTENDABLE ones may change). An
 * option the file lacks (made by an older version) keeps its default; a file
 * with none of them is refused. Returns 0, or 2 after printing an error. */
int cli_options_restore(cli_options *o, const recur_st_file *file, const char *prefix,
                        int check_given);
/* Index of a choice option's value in its list, -1 if unset. */
int cli_options_choice(const cli_options *o, int id);

#endif
