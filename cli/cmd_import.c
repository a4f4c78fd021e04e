/* recur import WEIGHTS --cell lstm|gru [--reset-after 0|1] -o OUT
 * Converts Keras/TensorFlow LSTM or GRU weights (.npz or safetensors) into a
 * stack file that recur run (and PyTorch) reads; see docs/CLI.md. */
#include <stdio.h>
#include <string.h>

#include "cli_util.h"
#include "commands.h"

static const char import_usage[] =
    "usage: recur import WEIGHTS.npz|WEIGHTS.safetensors --cell lstm|gru [--reset-after 0|1]\n"
    "                    -o OUT.safetensors\n"
    "\n"
    "Converts Keras/TensorFlow LSTM or GRU weights into PyTorch's layout: OUT is a\n"
    "torch.nn.LSTM/GRU state_dict with recur's metadata, for recur run (time-major).\n"
    "\n"
    "  WEIGHTS  a NumPy .npz (np.savez or np.savez_compressed; '<f4'/'<f8')\n"
    "           or a safetensors file, holding per layer\n"
    "             kernel [I, G*H], recurrent_kernel [H, G*H], bias\n"
    "           (G = 4 for LSTM, 3 for GRU). Names: the last part (after '/' or '.')\n"
    "           is kernel, recurrent_kernel or bias; the parts before it name the\n"
    "           layer (\"kernel\" alone: one layer; lstm/kernel, lstm_1/kernel, ... or\n"
    "           layers.0.kernel, layers.1.kernel, ...: layers in the order of their\n"
    "           names, digits compared as numbers). \":0\" suffixes and cell scopes\n"
    "           (lstm_cell_1/) are ignored; a part beginning with backward (Keras'\n"
    "           Bidirectional: backward_lstm/) is the reverse direction, one\n"
    "           beginning with forward the forward one: then the stack is\n"
    "           bidirectional and every layer needs both.\n"
    "  --cell          lstm (gates i, f, c, o; bias [4H]) or gru (gates z, r, h)\n"
    "  --reset-after   GRU: 1 (default, Keras 2's: bias [2, 3H], exactly PyTorch's\n"
    "                  GRU) or 0 (bias [3H]: refused unless the candidate's\n"
    "                  recurrent kernel is zero, as PyTorch cannot express it)\n"
    "  -o, --output    the stack file to write\n"
    "\n"
    "example:\n"
    "  python3 -c 'import numpy as np; np.savez(\"w.npz\", **{w.name: w.numpy() for w in layer.weights})'\n"
    "  recur import w.npz --cell lstm -o lstm.safetensors\n"
    "  recur run lstm.safetensors --input x.safetensors --output y.safetensors\n"
    "\n"
    "Bad input prints one line on stderr and exits with status 2; OUT is written\n"
    "to a temporary file and renamed, so it is never left half-written.\n";

int cmd_import(int argc, char **argv)
{
    const char *input = NULL, *output = NULL, *cell = NULL;
    long reset_after = 1;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (!strcmp(arg, "-h") || !strcmp(arg, "--help")) {
            fputs(import_usage, stdout);
            return CLI_EXIT_OK;
        }
        int takes_value = !strcmp(arg, "--cell") || !strcmp(arg, "--reset-after") ||
                          !strcmp(arg, "-o") || !strcmp(arg, "--output");
        if (takes_value && i + 1 >= argc)
            return cli_error("import: option %s needs a value", arg);
        if (!strcmp(arg, "--cell"))
            cell = argv[++i];
        else if (!strcmp(arg, "--reset-after")) {
            if (cli_parse_int("import: --reset-after", argv[++i], 0, 1, &reset_after))
                return CLI_EXIT_BAD_INPUT;
        } else if (!strcmp(arg, "-o") || !strcmp(arg, "--output"))
            output = argv[++i];
        else if (arg[0] == '-' && arg[1] != '\0')
            return cli_error("import: unknown option '%s' (see recur import --help)", arg);
        else if (!input)
            input = arg;
        else
            return cli_error("import: unexpected argument '%s' (see recur import --help)", arg);
    }
    if (!input)
        return cli_error("import: WEIGHTS (.npz or .safetensors) is missing (see recur import "
                         "--help)");
    if (!cell)
        return cli_error("import: --cell lstm|gru is missing");
    if (!output)
        return cli_error("import: -o OUT.safetensors is missing");
    if (cli_check_output_not_input(output, input))
        return CLI_EXIT_BAD_INPUT;
    recur_keras_options options;
    if (!strcmp(cell, "lstm"))
        options = recur_keras_options_default(RECUR_LSTM);
    else if (!strcmp(cell, "gru"))
        options = recur_keras_options_default(RECUR_GRU);
    else
        return cli_error("import: --cell must be lstm or gru, not '%s'", cell);
    options.reset_after = (int)reset_after;
    recur_rnn *rnn = NULL;
    recur_status st = recur_keras_import(input, &options, &rnn);
    if (st == RECUR_OK)
        st = recur_rnn_save(rnn, output);
    if (st != RECUR_OK) {
        recur_rnn_free(rnn);
        return cli_status_error(st);
    }
    const recur_rnn_config *c = recur_rnn_get_config(rnn);
    printf("imported %s: %d layer%s%s, input %d, hidden %d%s -> %s\n",
           c->cell == RECUR_LSTM ? "LSTM" : "GRU", c->num_layers, c->num_layers > 1 ? "s" : "",
           c->bidirectional ? ", bidirectional" : "", c->input_size, c->hidden_size,
           c->bias ? "" : ", no bias", output);
    recur_rnn_free(rnn);
    return CLI_EXIT_OK;
}
