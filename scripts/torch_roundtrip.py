#!/usr/bin/python3
"""Round trip between recur and PyTorch, both ways, and recur import.

usage: /usr/bin/python3 scripts/torch_roundtrip.py RECUR_BINARY [--tmp DIR] [--keep]

recur -> torch: a language model trained by `recur train` (and its stack alone),
classifiers trained by `recur classify train` and stacks written by `recur
import` load into torch.nn modules with load_state_dict(strict=True) and give
recur's outputs (`recur run`, `recur eval --batch 1`, `recur classify predict`).
torch -> recur: stacks, a language model and a classifier built in torch, saved
as safetensors with recur's metadata, run in recur with torch's outputs; Keras-
layout weights made from torch modules with numpy (transposes, gate order) are
converted by `recur import` and run by `recur run`. The fixture stacks of
tests/fixtures/data also load into torch strictly and match `recur run`.

Prints one line per check with its worst error; exits 1 if any check fails.
needs: torch and numpy; reads and writes safetensors by hand.
"""
import os
import shutil
import struct
import subprocess
import sys
import tempfile

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from st_io import read_st, write_st  # noqa: E402

TOL = 1e-4
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
failures = []


# ---------------------------------------------------------------- files

def state_np(module, prefix=""):
    return {prefix + k: v.detach().numpy().astype(np.float32) for k, v in module.state_dict().items()}


def torch_state(tensors, prefix=""):
    return {k[len(prefix):]: torch.from_numpy(v) for k, v in tensors.items() if k.startswith(prefix)}


# ---------------------------------------------------------------- running

def recur(*args, stdout=False):
    result = subprocess.run([RECUR] + [str(a) for a in args], capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError("recur %s: exit %d: %s" % (" ".join(map(str, args[:2])),
                                                      result.returncode, result.stderr.strip()))
    return result.stdout if stdout else None


def report(name, worst, tol=TOL, note=""):
    ok = worst <= tol
    print("%-4s %-58s worst error %.3g%s" % ("ok" if ok else "FAIL", name, worst,
                                              " (" + note + ")" if note else ""))
    if not ok:
        failures.append(name)


def check(name, fn):
    try:
        fn()
    except Exception as e:  # one broken check must not hide the others
        print("FAIL %-58s %s: %s" % (name, type(e).__name__, e))
        failures.append(name)


def max_err(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError("shapes differ: %s vs %s" % (a.shape, b.shape))
    return float(np.max(np.abs(a - b))) if a.size else 0.0


# ---------------------------------------------------------------- stacks

def truthy(text):
    return str(text) in ("true", "True", "1")


def stack_from_meta(meta):
    """An empty torch.nn.RNN/LSTM/GRU built from recur's metadata."""
    module = meta["recur.module"]
    kw = dict(input_size=int(meta["input_size"]), hidden_size=int(meta["hidden_size"]),
              num_layers=int(meta.get("num_layers", 1)), bias=truthy(meta.get("bias", "true")),
              batch_first=truthy(meta.get("batch_first", "false")),
              bidirectional=truthy(meta.get("bidirectional", "false")))
    if module == "lstm":
        return torch.nn.LSTM(proj_size=int(meta.get("proj_size", 0)), **kw)
    if module == "gru":
        return torch.nn.GRU(**kw)
    return torch.nn.RNN(nonlinearity=meta.get("nonlinearity", "tanh"), **kw)


def torch_stack_run(rnn, inputs):
    """Runs a torch stack as recur run does: output zero-padded, h_n, c_n."""
    x = torch.from_numpy(inputs["input"].astype(np.float32))
    state = None
    if "h0" in inputs:
        h0 = torch.from_numpy(inputs["h0"].astype(np.float32))
        state = (h0, torch.from_numpy(inputs["c0"].astype(np.float32))) \
            if isinstance(rnn, torch.nn.LSTM) else h0
    with torch.no_grad():
        if "lengths" in inputs:
            lengths = torch.from_numpy(inputs["lengths"].astype(np.int64))
            packed = torch.nn.utils.rnn.pack_padded_sequence(
                x, lengths, batch_first=rnn.batch_first, enforce_sorted=False)
            out, hidden = rnn(packed, state)
            out, _ = torch.nn.utils.rnn.pad_packed_sequence(
                out, batch_first=rnn.batch_first, total_length=x.shape[1 if rnn.batch_first else 0])
        else:
            out, hidden = rnn(x, state)
    result = {"output": out.numpy()}
    if isinstance(rnn, torch.nn.LSTM):
        result["h_n"], result["c_n"] = hidden[0].numpy(), hidden[1].numpy()
    else:
        result["h_n"] = hidden.numpy()
    return result


def recur_run(model_path, inputs, tag):
    in_path, out_path = os.path.join(TMP, tag + ".in.safetensors"), os.path.join(TMP, tag + ".out.safetensors")
    write_st(in_path, inputs)
    recur("run", model_path, "--input", in_path, "--output", out_path)
    return read_st(out_path)[0]


def compare_runs(expected, got):
    return max(max_err(expected[k], got[k]) for k in expected)


# ---------------------------------------------------------------- models as torch modules

class TorchLM(torch.nn.Module):
    """recur train's model: Embedding -> stack -> Linear."""

    def __init__(self, meta):
        super().__init__()
        self.embedding = torch.nn.Embedding(int(meta["vocab_size"]), int(meta["embed_size"]))
        self.rnn = stack_from_meta(meta)
        self.head = torch.nn.Linear(int(meta["hidden_size"]), int(meta["vocab_size"]))

    def loss(self, ids):
        """Mean cross-entropy of each next byte, the text as one sequence."""
        ids = torch.tensor(ids, dtype=torch.long)
        with torch.no_grad():
            out, _ = self.rnn(self.embedding(ids[:-1]).unsqueeze(1))
            logits = self.head(out.squeeze(1))
            return torch.nn.functional.cross_entropy(logits.double(), ids[1:]).item()


class TorchSeqnet(torch.nn.Module):
    """recur's seqnet: [Embedding] -> stack -> pooling (last, mean, max,
    attention) -> Linear head. Attention pooling: w = softmax_t(v . tanh(W_k h_t
    + W_q 1 + b)), pooled = sum_t w_t h_t (parameters pool.*)."""

    def __init__(self, meta, tensors):
        super().__init__()
        self.pool_kind = meta["pool"]
        self.rnn = stack_from_meta(meta)
        hout = int(meta.get("proj_size", 0)) or int(meta["hidden_size"])
        features = hout * (2 if self.rnn.bidirectional else 1)
        if "embedding.weight" in tensors:
            v, e = tensors["embedding.weight"].shape
            self.embedding = torch.nn.Embedding(v, e, padding_idx=int(meta.get("padding_idx", -1))
                                                if int(meta.get("padding_idx", -1)) >= 0 else None)
        if self.pool_kind == "attention":
            size = tensors["pool.key.weight"].shape[0]
            self.pool = torch.nn.Module()
            self.pool.query = torch.nn.Linear(1, size, bias="pool.query.bias" in tensors)
            self.pool.key = torch.nn.Linear(features, size, bias=False)
            self.pool.v = torch.nn.Linear(size, 1, bias=False)
        self.head = torch.nn.Linear(features, int(meta["output_size"]))

    def logits(self, ids):
        """Logits of one sequence of token ids."""
        with torch.no_grad():
            x = self.embedding(torch.tensor(ids, dtype=torch.long)).unsqueeze(1)
            out, hidden = self.rnn(x)
            out = out.squeeze(1)  # [T, F]
            h_n = hidden[0] if isinstance(self.rnn, torch.nn.LSTM) else hidden
            if self.pool_kind == "last":
                top = h_n[-2:] if self.rnn.bidirectional else h_n[-1:]
                pooled = top[:, 0, :].reshape(-1)
            elif self.pool_kind == "mean":
                pooled = out.mean(0)
            elif self.pool_kind == "max":
                pooled = out.max(0).values
            else:
                scores = self.pool.v(torch.tanh(self.pool.key(out) + self.pool.query(torch.ones(1))))
                pooled = (torch.softmax(scores.squeeze(1), 0).unsqueeze(1) * out).sum(0)
            return self.head(pooled)


def probabilities(logits):
    logits = logits.double()
    if logits.numel() == 1:
        p = torch.sigmoid(logits[0]).item()
        return [1 - p, p]
    return torch.softmax(logits, 0).tolist()


def vocab_tokens(blob):
    """Tokens of a vocab.tokens tensor ([u32 length][bytes] records), ids 2.."""
    tokens, at, raw = ["<pad>", "<unk>"], 0, bytes(blob)
    while at < len(raw):
        n = struct.unpack("<I", raw[at:at + 4])[0]
        tokens.append(raw[at + 4:at + 4 + n].decode())
        at += 4 + n
    return tokens


def vocab_blob(tokens):
    raw = b"".join(struct.pack("<I", len(t.encode())) + t.encode() for t in tokens)
    return np.frombuffer(raw, dtype=np.uint8)


def read_predictions(path):
    rows = [line.rstrip("\n").split(",") for line in open(path)]
    return rows[0], [(r[0], [float(v) for v in r[1:]]) for r in rows[1:]]


# ---------------------------------------------------------------- data

WORDS = {"sport": "ball goal team match score win coach field play",
         "food": "bread soup salt taste cook meal sweet dish bake",
         "tech": "code chip data byte disk screen cloud model bug"}


def make_texts(count, seed):
    rng = np.random.RandomState(seed)
    labels = sorted(WORDS)
    rows = []
    for i in range(count):
        label = labels[i % 3]
        own, other = WORDS[label].split(), WORDS[labels[(i + 1) % 3]].split()
        n = rng.randint(3, 9)
        words = [own[rng.randint(len(own))] if rng.rand() < 0.8 else other[rng.randint(len(other))]
                 for _ in range(n)]
        rows.append((" ".join(words), label))
    return rows


def write_csv(path, rows):
    with open(path, "w") as f:
        f.write("text,label\n")
        for text, label in rows:
            f.write("%s,%s\n" % (text, label))


def lm_text():
    rng = np.random.RandomState(3)
    words = "the cat sat on a mat while rain fell over quiet hills and rivers".split()
    lines = [" ".join(words[rng.randint(len(words))] for _ in range(rng.randint(4, 12))) for _ in range(120)]
    return ("\n".join(lines) + "\n").encode()


# ---------------------------------------------------------------- recur -> torch

def check_recur_lm():
    text_path = os.path.join(TMP, "lm.txt")
    with open(text_path, "wb") as f:
        f.write(lm_text())
    model = os.path.join(TMP, "lm.safetensors")
    recur("train", "--text", text_path, "--hidden", 24, "--layers", 2, "--embed", 12, "--steps", 40,
          "--batch", 4, "--bptt", 16, "--eval-interval", 20, "--seed", 5, "-o", model)
    tensors, meta = read_st(model)
    lm = TorchLM(meta)
    lm.rnn.load_state_dict(torch_state(tensors, "rnn."), strict=True)
    lm.embedding.load_state_dict(torch_state(tensors, "embedding."), strict=True)
    lm.head.load_state_dict(torch_state(tensors, "head."), strict=True)
    vocab = bytes.fromhex(meta["recur.vocab"])
    text = lm_text()[:3000]
    loss = lm.loss([vocab.index(b) for b in text])
    eval_path = os.path.join(TMP, "lm_eval.txt")
    with open(eval_path, "wb") as f:
        f.write(text)
    line = recur("eval", model, "--text", eval_path, "--batch", 1, stdout=True)
    got = float(line.split("loss ")[1].split()[0])
    report("recur train LM -> torch: eval loss (recur prints 4 decimals)", abs(got - loss))
    # the stack alone, as a bare stack file, through recur run
    stack_path = os.path.join(TMP, "lm_stack.safetensors")
    write_st(stack_path, {k[4:]: v for k, v in tensors.items() if k.startswith("rnn.")},
             {k: v for k, v in meta.items() if not k.startswith("recur.") or k == "recur.module"})
    x = {"input": np.random.RandomState(1).randn(9, 3, int(meta["input_size"])).astype(np.float32)}
    expected = torch_stack_run(lm.rnn, x)
    report("recur train LM stack (rnn.*) -> torch: recur run", compare_runs(expected, recur_run(stack_path, x, "lmstack")))


def classifier_config_check(tag, flags):
    data = os.path.join(TMP, tag + ".csv")
    write_csv(data, make_texts(90, 7))
    model = os.path.join(TMP, tag + ".safetensors")
    recur("classify", "train", data, "--text", "text", "--label", "label", "--epochs", 3,
          "--embed", 8, "--hidden", 12, "--seed", 2, "--test-fraction", 0.1, "-o", model, *flags)
    tensors, meta = read_st(model)
    net = TorchSeqnet(meta, tensors)
    missing = net.load_state_dict({k: torch.from_numpy(v.astype(np.float32))
                                   for k, v in tensors.items() if k != "vocab.tokens"}, strict=True)
    assert not missing.missing_keys and not missing.unexpected_keys
    tokens = vocab_tokens(tensors["vocab.tokens"])
    index = {t: i for i, t in enumerate(tokens)}
    rows = make_texts(30, 11)
    pred_data = os.path.join(TMP, tag + "_predict.csv")
    write_csv(pred_data, rows)
    pred = os.path.join(TMP, tag + "_pred.csv")
    recur("classify", "predict", model, pred_data, "--text", "text", "-o", pred)
    header, predicted = read_predictions(pred)
    classes = [h[2:] for h in header[1:]]
    worst, wrong = 0.0, 0
    for (text, _), (label, probs) in zip(rows, predicted):
        p = probabilities(net.logits([index.get(w, 1) for w in text.split()]))
        worst = max(worst, max_err(p, probs))
        wrong += classes[int(np.argmax(p))] != label
    assert len(predicted) == len(rows)
    report("recur classify %s -> torch: probabilities" % " ".join(map(str, flags)), worst,
           note="%d of %d labels differ" % (wrong, len(rows)) if wrong else "")
    if wrong:
        failures.append(tag + " labels")


def check_recur_classifiers():
    for tag, flags in [("cls_lstm_attn", ["--model", "lstm", "--bidirectional", 1, "--pool", "attention"]),
                       ("cls_gru_last", ["--model", "gru", "--bidirectional", 1, "--pool", "last", "--layers", 2]),
                       ("cls_rnn_max", ["--model", "rnn", "--pool", "max"])]:
        check("recur classify " + tag, lambda: classifier_config_check(tag, flags))


def check_fixture_stacks():
    """PyTorch-made fixture stacks: load strictly into torch, recur run == torch."""
    data = os.path.join(ROOT, "tests", "fixtures", "data")
    names = sorted(f[:-len(".model.safetensors")] for f in os.listdir(data)
                   if f.endswith(".model.safetensors"))
    worst = 0.0
    for name in names:
        tensors, meta = read_st(os.path.join(data, name + ".model.safetensors"))
        rnn = stack_from_meta(meta)
        rnn.load_state_dict(torch_state(tensors), strict=True)
        inputs = read_st(os.path.join(data, name + ".in.safetensors"))[0]
        out = os.path.join(TMP, "fixture.out.safetensors")
        recur("run", os.path.join(data, name + ".model.safetensors"), "--input",
              os.path.join(data, name + ".in.safetensors"), "--output", out)
        worst = max(worst, compare_runs(torch_stack_run(rnn, inputs), read_st(out)[0]))
    report("fixture stacks (%d) -> torch strict: recur run" % len(names), worst)


# ---------------------------------------------------------------- torch -> recur

def stack_meta(rnn, module):
    meta = {"recur.module": module, "input_size": rnn.input_size, "hidden_size": rnn.hidden_size,
            "num_layers": rnn.num_layers, "bidirectional": str(rnn.bidirectional).lower(),
            "batch_first": str(rnn.batch_first).lower(), "bias": str(rnn.bias).lower()}
    if module == "rnn":
        meta["nonlinearity"] = rnn.nonlinearity
    return meta


def check_torch_stacks():
    torch.manual_seed(0)
    cases = [("lstm 2 layers bidirectional", torch.nn.LSTM(5, 7, num_layers=2, bidirectional=True), "lstm"),
             ("gru", torch.nn.GRU(4, 6), "gru"),
             ("rnn relu 2 layers", torch.nn.RNN(3, 5, num_layers=2, nonlinearity="relu"), "rnn")]
    for name, rnn, module in cases:
        path = os.path.join(TMP, "torch_" + module + ".safetensors")
        write_st(path, state_np(rnn), stack_meta(rnn, module))
        rng = np.random.RandomState(4)
        x = {"input": rng.randn(8, 3, rnn.input_size).astype(np.float32),
             "lengths": np.array([8, 5, 2], dtype=np.int64)}
        report("torch %s -> recur run (lengths)" % name,
               compare_runs(torch_stack_run(rnn, x), recur_run(path, x, "t" + module)))


def check_torch_lm():
    torch.manual_seed(1)
    text = lm_text()[:2500]
    vocab = bytes(sorted(set(lm_text())))
    meta = {"recur.model": "lm", "recur.module": "lstm", "vocab_size": len(vocab), "embed_size": 10,
            "input_size": 10, "hidden_size": 20, "num_layers": 2, "recur.vocab": vocab.hex()}
    lm = TorchLM(meta)
    with torch.no_grad():  # larger weights than the default init: a less uniform model
        for p in lm.parameters():
            p.mul_(2.0)
    tensors = {}
    for prefix, mod in (("embedding.", lm.embedding), ("rnn.", lm.rnn), ("head.", lm.head)):
        tensors.update(state_np(mod, prefix))
    model = os.path.join(TMP, "torch_lm.safetensors")
    write_st(model, tensors, meta)
    eval_path = os.path.join(TMP, "torch_lm.txt")
    with open(eval_path, "wb") as f:
        f.write(text)
    line = recur("eval", model, "--text", eval_path, "--batch", 1, stdout=True)
    got = float(line.split("loss ")[1].split()[0])
    loss = lm.loss([vocab.index(b) for b in text])
    report("torch LM -> recur eval: loss (recur prints 4 decimals)", abs(got - loss),
           note="torch %.6f" % loss)


def check_torch_classifier():
    torch.manual_seed(2)
    rows = make_texts(40, 5)
    tokens = sorted({w for t, _ in rows for w in t.split()})
    index = {t: i + 2 for i, t in enumerate(tokens)}
    classes = sorted(WORDS)
    meta = {"recur.model": "seqnet", "recur.module": "gru", "input_size": 6, "hidden_size": 9,
            "num_layers": 1, "bidirectional": "true", "pool": "mean", "output_size": len(classes),
            "padding_idx": 0, "recur.classify.classes": "".join(c + "\n" for c in classes),
            "recur.classify.input": "text", "recur.classify.tokens": "word"}
    net = TorchSeqnet(meta, {"embedding.weight": np.zeros((len(tokens) + 2, 6))})
    with torch.no_grad():
        for p in net.parameters():
            p.mul_(3.0)
    tensors = state_np(net)
    tensors["vocab.tokens"] = vocab_blob(tokens)
    model = os.path.join(TMP, "torch_cls.safetensors")
    write_st(model, tensors, meta)
    data = os.path.join(TMP, "torch_cls.csv")
    write_csv(data, rows)
    pred = os.path.join(TMP, "torch_cls_pred.csv")
    recur("classify", "predict", model, data, "--text", "text", "-o", pred)
    header, predicted = read_predictions(pred)
    assert header[1:] == ["p_" + c for c in classes], header
    worst, wrong = 0.0, 0
    for (text, _), (label, probs) in zip(rows, predicted):
        p = probabilities(net.logits([index[w] for w in text.split()]))
        worst = max(worst, max_err(p, probs))
        wrong += classes[int(np.argmax(p))] != label
    report("torch classifier (GRU bidir, mean) -> recur classify predict", worst,
           note="%d labels differ" % wrong if wrong else "")
    if wrong:
        failures.append("torch classifier labels")


# ---------------------------------------------------------------- Keras layout -> recur import

def keras_lstm_weights(rnn, layer, suffix):
    """kernel [I, 4H], recurrent_kernel [H, 4H], bias [4H] of one direction."""
    sd = {k: v.detach().numpy().astype(np.float64) for k, v in rnn.state_dict().items()}
    end = "_l%d%s" % (layer, suffix)
    return (sd["weight_ih" + end].T, sd["weight_hh" + end].T, sd["bias_ih" + end] + sd["bias_hh" + end])


def keras_gru_weights(rnn, layer, suffix):
    """GRU reset_after=True: gates z, r, h; bias [2, 3H]."""
    sd = {k: v.detach().numpy().astype(np.float32) for k, v in rnn.state_dict().items()}
    end, h = "_l%d%s" % (layer, suffix), rnn.hidden_size

    def zrn(m):  # PyTorch rows r, z, n -> Keras z, r, h
        return np.concatenate([m[h:2 * h], m[:h], m[2 * h:]], axis=0)
    bias = np.stack([zrn(sd["bias_ih" + end]), zrn(sd["bias_hh" + end])])
    return zrn(sd["weight_ih" + end]).T, zrn(sd["weight_hh" + end]).T, bias


def import_and_compare(name, rnn, arrays, path, flags):
    out = os.path.join(TMP, os.path.basename(path) + ".recur.safetensors")
    recur("import", path, "-o", out, *flags)
    x = {"input": np.random.RandomState(6).randn(7, 2, rnn.input_size).astype(np.float32)}
    report("Keras layout %s -> recur import -> recur run" % name,
           compare_runs(torch_stack_run(rnn, x), recur_run(out, x, "imp")))
    # the file recur wrote loads into torch strictly and gives the same outputs
    tensors, meta = read_st(out)
    again = stack_from_meta(meta)
    again.load_state_dict(torch_state(tensors), strict=True)
    report("  recur import's file %s -> torch strict" % name,
           compare_runs(torch_stack_run(rnn, x), torch_stack_run(again, x)))


def check_keras_import():
    torch.manual_seed(3)
    lstm = torch.nn.LSTM(4, 6, num_layers=2, bidirectional=True)
    arrays = {}
    for layer, scope in ((0, "bidirectional"), (1, "bidirectional_1")):
        for direction, suffix in (("forward_lstm", ""), ("backward_lstm", "_reverse")):
            k, r, b = keras_lstm_weights(lstm, layer, suffix)
            cell = "lstm_cell_%d" % (2 * layer + (suffix != "") + 1)
            for leaf, value in (("kernel", k), ("recurrent_kernel", r), ("bias", b)):
                arrays["%s/%s/%s/%s:0" % (scope, direction, cell, leaf)] = value  # float64
    path = os.path.join(TMP, "keras_lstm.npz")
    np.savez_compressed(path, **arrays)
    import_and_compare("LSTM 2x bidirectional (.npz deflated, f8, Fortran)", lstm, arrays, path, ["--cell", "lstm"])

    gru = torch.nn.GRU(3, 5, num_layers=2)
    arrays = {}
    for layer in range(2):
        k, r, b = keras_gru_weights(gru, layer, "")
        arrays.update({"layers.%d.kernel" % layer: k, "layers.%d.recurrent_kernel" % layer: r,
                       "layers.%d.bias" % layer: b})
    path = os.path.join(TMP, "keras_gru.safetensors")
    write_st(path, arrays)
    import_and_compare("GRU 2 layers reset_after (safetensors)", gru, arrays, path, ["--cell", "gru"])
    path = os.path.join(TMP, "keras_gru.npz")
    np.savez(path, **{k.replace("layers.", "gru_").replace(".", "/", 1): np.ascontiguousarray(v)
                      for k, v in arrays.items()})
    import_and_compare("GRU 2 layers reset_after (.npz stored, f4, C)", gru, arrays, path,
                       ["--cell", "gru", "--reset-after", "1"])
    # reset_after=False cannot be converted: one clear line, exit 2
    single = {"kernel": arrays["layers.0.kernel"], "recurrent_kernel": arrays["layers.0.recurrent_kernel"],
              "bias": arrays["layers.0.bias"][0]}
    path = os.path.join(TMP, "keras_gru_v1.npz")
    np.savez(path, **single)
    result = subprocess.run([RECUR, "import", path, "--cell", "gru", "--reset-after", "0", "-o",
                             os.path.join(TMP, "never.safetensors")], capture_output=True, text=True)
    ok = result.returncode == 2 and result.stderr.count("\n") == 1 and "reset_after=False" in result.stderr
    report("GRU reset_after=False refused (exit 2, one line)", 0.0 if ok else 1.0,
           note="" if ok else "exit %d: %s" % (result.returncode, result.stderr.strip()))


def main():
    global RECUR, TMP
    args = sys.argv[1:]
    if not args or args[0] in ("-h", "--help"):
        print(__doc__)
        return 0 if args else 2
    RECUR = os.path.abspath(args[0])
    keep = "--keep" in args
    TMP = args[args.index("--tmp") + 1] if "--tmp" in args else tempfile.mkdtemp(prefix="recur_roundtrip_")
    os.makedirs(TMP, exist_ok=True)
    torch.set_num_threads(1)
    try:
        check("recur train LM -> torch", check_recur_lm)
        check_recur_classifiers()
        check("fixture stacks -> torch", check_fixture_stacks)
        check("torch stacks -> recur run", check_torch_stacks)
        check("torch LM -> recur eval", check_torch_lm)
        check("torch classifier -> recur classify predict", check_torch_classifier)
        check("Keras layout -> recur import", check_keras_import)
    finally:
        if not keep and "--tmp" not in args:
            shutil.rmtree(TMP, ignore_errors=True)
    if failures:
        print("%d check(s) failed: %s" % (len(failures), ", ".join(failures)))
        return 1
    print("all round-trip checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
