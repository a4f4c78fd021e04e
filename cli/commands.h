/* The subcommands of the recur tool, one file each. */
#ifndef RECUR_CLI_COMMANDS_H
#define RECUR_CLI_COMMANDS_H

/* argv[0] is the subcommand's name. Each returns the process exit status. */
int cmd_run(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_generate(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_forecast(int argc, char **argv);
int cmd_classify(int argc, char **argv);
int cmd_plot(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_seq2seq(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_import(int argc, char **argv);

#endif
