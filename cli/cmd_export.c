/* recur export MODEL -o MODEL.onnx [--state] [--lengths]
 * Writes a bare stack, a language model (recur train) or a sequence network
 * (recur classify / forecast) as an ONNX file; the kind comes from the
 * model's metadata. The graph is built by the library (src/io/onnx_export.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_util.h"
#include "commands.h"

static const char export_usage[] =
    "usage: recur export MODEL.safetensors -o MODEL.onnx [--state] [--lengths]\n"
    "\n"
    "Writes MODEL as an ONNX file (opset 17, standard LSTM/GRU/RNN operators) that\n"
    "ONNX Runtime runs. MODEL is one of:\n"
    "  a bare stack (recur run's format)  input [T, B, I] ([B, T, I] if batch_first)\n"
    "                                     -> output, h_n, c_n (LSTM)\n"
    "  a language model (recur train)     ids [T, B] int64 -> logits [T, B, V], h_n, c_n\n"
    "  a classifier (recur classify)      ids [T, B] int64 (or input [T, B, I] float),\n"
    "                                     lengths [B] int64 -> logits [B, classes]\n"
    "\n"
    "  -o, --output FILE  the ONNX file (written to a temporary file and renamed)\n"
    "  --state            add inputs h0 [L*D, B, H] and c0 (LSTM): the initial state\n"
    "                     (stacks and language models; default: zeros)\n"
    "  --lengths          add input lengths [B] int64, each in 1..T (always there for\n"
    "                     classifiers): outputs past a length are 0, h_n/c_n are each\n"
    "                     sequence's state at its own last step\n"
    "\n"
    "LSTM projection (proj_size), layer_norm and zoneout have no ONNX equivalent and\n"
    "are refused; dropout is the identity at inference and is left out.\n"
    "\n"
    "example:\n"
    "  recur train --text input.txt --steps 500 -o lm.safetensors\n"
    "  recur export lm.safetensors -o lm.onnx --state\n"
    "  # then, in Python with onnxruntime:\n"
    "  #   InferenceSession('lm.onnx').run(None, {'ids': ids, 'h0': h0, 'c0': c0})\n"
    "\n"
    "Bad input prints one line on stderr and exits with status 2.\n";

typedef struct export_options {
    const char *model, *output;
    recur_onnx_options onnx;
} export_options;

/* Returns -1 to continue, else an exit status. */
static int parse_export_options(int argc, char **argv, export_options *opt)
{
    memset(opt, 0, sizeof *opt);
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (!strcmp(arg, "-h") || !strcmp(arg, "--help")) {
            fputs(export_usage, stdout);
            return CLI_EXIT_OK;
        }
        if (!strcmp(arg, "--state"))
            opt->onnx.state_inputs = 1;
        else if (!strcmp(arg, "--lengths"))
            opt->onnx.lengths_input = 1;
        else if (!strcmp(arg, "-o") || !strcmp(arg, "--output")) {
            if (i + 1 >= argc)
                return cli_error("export: option %s needs a file name", arg);
            opt->output = argv[++i];
        } else if (arg[0] == '-' && arg[1] != '\0')
            return cli_error("export: unknown option '%s' (see recur export --help)", arg);
        else if (!opt->model)
            opt->model = arg;
        else
            return cli_error("export: unexpected argument '%s' (see recur export --help)", arg);
    }
    if (!opt->model)
        return cli_error("export: MODEL.safetensors is missing (see recur export --help)");
    if (!opt->output)
        return cli_error("export: -o MODEL.onnx is missing");
    if (cli_check_output_not_input(opt->output, opt->model))
        return CLI_EXIT_BAD_INPUT;
    return -1;
}

/* The exit status for a failed export; refusals name the model file. */
static int export_error(recur_status st, const char *model)
{
    if (st == RECUR_E_INVALID)
        return cli_error("%s: %s", model, recur_last_error());
    return cli_status_error(st);
}

static int export_lm(const recur_st_file *file, const export_options *opt)
{
    recur_lm *lm;
    recur_status st = recur_lm_load(file, &lm);
    if (st == RECUR_OK) {
        st = recur_lm_export_onnx(lm, &opt->onnx, opt->output);
        recur_lm_free(lm);
        if (st != RECUR_OK)
            return export_error(st, opt->model);
    }
    return st == RECUR_OK ? CLI_EXIT_OK : cli_status_error(st);
}

static int export_seqnet(const recur_st_file *file, const export_options *opt)
{
    if (opt->onnx.state_inputs)
        return cli_error("export: --state is for stacks and language models; a classifier "
                         "starts from a zero state");
    recur_seqnet *net;
    recur_status st = recur_seqnet_read(file, &net);
    if (st == RECUR_OK) {
        st = recur_seqnet_export_onnx(net, &opt->onnx, opt->output);
        recur_seqnet_free(net);
        if (st != RECUR_OK)
            return export_error(st, opt->model);
    }
    return st == RECUR_OK ? CLI_EXIT_OK : cli_status_error(st);
}

static int export_stack(const recur_st_file *file, const export_options *opt)
{
    recur_rnn *rnn;
    recur_status st = recur_rnn_from_safetensors(file, &rnn);
    if (st == RECUR_OK) {
        st = recur_rnn_export_onnx(rnn, &opt->onnx, opt->output);
        recur_rnn_free(rnn);
        if (st != RECUR_OK)
            return export_error(st, opt->model);
    }
    return st == RECUR_OK ? CLI_EXIT_OK : cli_status_error(st);
}

int cmd_export(int argc, char **argv)
{
    export_options opt;
    int rc = parse_export_options(argc, argv, &opt);
    if (rc >= 0)
        return rc;
    recur_st_file *file;
    recur_status st = recur_st_open(opt.model, &file);
    if (st != RECUR_OK)
        return cli_status_error(st);
    const char *model = recur_st_metadata(file, "recur.model");
    if (model && !strcmp(model, "lm"))
        rc = export_lm(file, &opt);
    else if (model && !strcmp(model, "seqnet"))
        rc = export_seqnet(file, &opt);
    else if (model)
        rc = cli_error("%s: recur.model = %.40s cannot be exported (bare stacks, language "
                       "models and classifiers can)",
                       opt.model, model);
    else if (recur_st_metadata(file, "recur.module"))
        rc = export_stack(file, &opt);
    else
        rc = cli_error("%s: not a recur model (no recur.model or recur.module in its metadata)",
                       opt.model);
    recur_st_close(file);
    if (rc == CLI_EXIT_OK)
        printf("wrote %s\n", opt.output);
    return rc;
}
