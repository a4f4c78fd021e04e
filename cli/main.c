/* recur: train and run recurrent neural networks. Dispatches subcommands. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cli_util.h"
#include "commands.h"
#include "dist.h"

static const char main_usage[] =
    "usage: recur COMMAND [ARGS...]\n"
    "\n"
    "Recurrent neural networks (Elman RNN, LSTM, GRU) with PyTorch's math.\n"
    "\n"
    "commands:\n"
    "  train     train a byte-level language model on a text file\n"
    "  generate  sample text from a model made by train\n"
    "  eval      loss of a model made by train on a text file\n"
    "  forecast  train and run forecasters on CSV time series (train, predict, plot, tune)\n"
    "  classify  classify texts, images and time-series windows (train, eval, predict)\n"
    "  seq2seq   encoder-decoder on text pairs (train, eval, translate, make-dates)\n"
    "  run       run a saved RNN/LSTM/GRU stack on inputs from a safetensors file\n"
    "  export    write a stack, language model or classifier as an ONNX file\n"
    "  import    convert Keras/TensorFlow LSTM/GRU weights (.npz, safetensors) for run\n"
    "  plot      draw the loss curves of a metrics CSV file (from train) into a PNG\n"
    "  bench     time the forward and training step of LSTM/GRU/RNN stacks\n"
    "\n"
    "options:\n"
    "  -h, --help      show this help\n"
    "  --version       print the version\n"
    "\n"
    "Run 'recur COMMAND --help' for a command's options and examples. To start:\n"
    "  recur train --text input.txt --steps 2000 -o model.safetensors\n"
    "  recur generate model.safetensors --prime 'The '\n"
    "\n"
    "Exit status: 0 success; 1 out of memory, a GPU failure or a diverged training\n"
    "run; 2 bad input (a missing or malformed file, a wrong shape, a bad flag),\n"
    "with one line on stderr; 130 interrupted (SIGINT, a checkpoint is saved).\n";

/* A command that trains data-parallel under mpirun (cli/dist.h). */
static int run_distributed(int (*command)(int, char **), int argc, char **argv)
{
    dist_init(&argc, &argv);
    int rc = command(argc - 1, argv + 1);
    if (rc != CLI_EXIT_OK && rc != 130 && dist_size() > 1)
        dist_abort(rc); /* a failed rank ends the whole job instead of a hang */
    dist_finalize();
    return rc;
}

static int dispatch(int argc, char **argv)
{
    const char *command = argv[1];
    if (!strcmp(command, "-h") || !strcmp(command, "--help") || !strcmp(command, "help")) {
        fputs(main_usage, stdout);
        return CLI_EXIT_OK;
    }
    if (!strcmp(command, "--version") || !strcmp(command, "version")) {
        printf("recur %s\n", recur_version());
        return CLI_EXIT_OK;
    }
    if (!strcmp(command, "run"))
        return cmd_run(argc - 1, argv + 1);
    if (!strcmp(command, "export"))
        return cmd_export(argc - 1, argv + 1);
    if (!strcmp(command, "train"))
        return run_distributed(cmd_train, argc, argv);
    if (!strcmp(command, "generate"))
        return cmd_generate(argc - 1, argv + 1);
    if (!strcmp(command, "classify"))
        return run_distributed(cmd_classify, argc, argv);
    if (!strcmp(command, "forecast"))
        return run_distributed(cmd_forecast, argc, argv);
    if (!strcmp(command, "eval"))
        return cmd_eval(argc - 1, argv + 1);
    if (!strcmp(command, "plot"))
        return cmd_plot(argc - 1, argv + 1);
    if (!strcmp(command, "bench"))
        return cmd_bench(argc - 1, argv + 1);
    if (!strcmp(command, "seq2seq"))
        return cmd_seq2seq(argc - 1, argv + 1);
    if (!strcmp(command, "import"))
        return cmd_import(argc - 1, argv + 1);
    return cli_error("unknown command '%s' (see recur --help)", command);
}

/* What a command printed (text, a report, predictions) must reach its
 * destination: a full disk or a closed pipe reading stdout is an error, not
 * a silent success. */
static int check_stdout(void)
{
    errno = 0;
    int failed = fflush(stdout) != 0;
    failed |= ferror(stdout) != 0;
    if (!failed)
        return CLI_EXIT_OK;
    return cli_error("cannot write the output: %s", errno ? strerror(errno) : "write error");
}

int main(int argc, char **argv)
{
    /* Past a file-size limit (ulimit -f) a write then fails with EFBIG and is
     * reported like a full disk, instead of the signal killing the process. */
    signal(SIGXFSZ, SIG_IGN);
    if (argc < 2) {
        fputs(main_usage, stderr);
        return CLI_EXIT_BAD_INPUT;
    }
    cli_threads_init(0);
    int rc = dispatch(argc, argv);
    return rc == CLI_EXIT_OK ? check_stdout() : rc;
}
