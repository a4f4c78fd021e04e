#!/usr/bin/env python3
"""Runs ONNX files written by `recur export` with ONNX Runtime and compares
them with recur itself (used by test_onnx.sh).

  onnx_check.py stack MODEL.onnx IN.safetensors OUT.safetensors [MODEL IN OUT ...]
      OUT is what `recur run` wrote for IN: output, h_n, c_n.
  onnx_check.py lm MODEL.onnx MODEL.safetensors RECUR SCRATCH
  onnx_check.py seqnet MODEL.onnx MODEL.safetensors RECUR SCRATCH
      The model's recurrent stack (its rnn.* tensors) is written as a bare
      stack and run by `recur run` on the embedded ids; the embedding, the
      pooling and the head are applied in numpy and the result is compared
      with ONNX Runtime's logits (and h_n/c_n for a language model).

Error = max|onnx - recur| / max|recur| (floor 1e-6), limit 1e-4. Each file is
also checked by onnx.checker when the onnx package is importable. Prints one
line per comparison and `worst <error>`; exits 1 on a failure. Safetensors
files are read and written here with numpy (no safetensors package)."""
import os
import subprocess
import sys

import numpy as np
import onnxruntime as ort

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "scripts"))
from st_io import read_st, write_st  # noqa: E402

LIMIT = 1e-4
worst = 0.0
failures = 0


def check_model(path):
    try:
        import onnx
    except ImportError:
        return
    onnx.checker.check_model(onnx.load(path), full_check=True)


def compare(label, got, ref):
    global worst, failures
    got, ref = np.asarray(got, np.float64), np.asarray(ref, np.float64)
    if got.shape != ref.shape:
        print(f"FAIL {label}: shape {got.shape}, recur {ref.shape}")
        failures += 1
        return
    scale = max(float(np.max(np.abs(ref))) if ref.size else 0.0, 1e-6)
    error = float(np.max(np.abs(got - ref))) / scale if ref.size else 0.0
    if not np.isfinite(error) or error > LIMIT:
        print(f"FAIL {label}: error {error:.3g}")
        failures += 1
        error = float("inf") if not np.isfinite(error) else error
    else:
        print(f"ok {label}: error {error:.3g}")
    worst = max(worst, error)


def session(path):
    check_model(path)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])


def input_names(sess):
    return {i.name for i in sess.get_inputs()}


def check_stack(onnx_path, in_path, out_path):
    sess = session(onnx_path)
    given, _ = read_st(in_path)
    feeds = {"input": given["input"].astype(np.float32)}
    for name in ("h0", "c0"):  # an LSTM given h0 alone starts from c = 0
        if name in input_names(sess):
            feeds[name] = given.get(name, np.zeros_like(given["h0"])).astype(np.float32)
    if "lengths" in input_names(sess):
        feeds["lengths"] = given["lengths"].astype(np.int64)
    expected, _ = read_st(out_path)
    names = [o.name for o in sess.get_outputs()]
    for name, value in zip(names, sess.run(names, feeds)):
        compare(f"{os.path.basename(onnx_path)} {name}", value, expected[name])


STACK_KEYS = ("recur.module", "nonlinearity", "input_size", "hidden_size", "num_layers", "bias",
              "batch_first", "bidirectional", "proj_size")


def run_stack_with_recur(model, meta, embedded, extra, recur, scratch, tag):
    """recur run on the model's rnn.* stack; returns recur's output tensors."""
    stack = {k[4:]: v.astype(np.float32) for k, v in model.items() if k.startswith("rnn.")}
    stack_meta = {k: meta[k] for k in STACK_KEYS if k in meta}
    paths = [os.path.join(scratch, f"{tag}.{p}.safetensors") for p in ("stack", "in", "out")]
    write_st(paths[0], stack, stack_meta)
    write_st(paths[1], dict(input=embedded.astype(np.float32), **extra), {})
    subprocess.run([recur, "run", paths[0], "--input", paths[1], "--output", paths[2]],
                   check=True)
    return read_st(paths[2])[0]


def check_lm(onnx_path, model_path, recur, scratch):
    sess = session(onnx_path)
    model, meta = read_st(model_path)
    rng = np.random.default_rng(5)
    T, B = 9, 3
    V = model["embedding.weight"].shape[0]
    layers, hidden = int(meta["num_layers"]), int(meta["hidden_size"])
    ids = rng.integers(0, V, size=(T, B), dtype=np.int64)
    feeds, extra = {"ids": ids}, {}
    for name in ("h0", "c0"):
        if name in input_names(sess):
            extra[name] = feeds[name] = rng.uniform(-0.5, 0.5, (layers, B, hidden)).astype(np.float32)
    ref = run_stack_with_recur(model, meta, model["embedding.weight"][ids], extra, recur, scratch,
                               os.path.basename(onnx_path))
    logits = ref["output"].astype(np.float64) @ model["head.weight"].T.astype(np.float64) \
        + model["head.bias"]
    names = [o.name for o in sess.get_outputs()]
    got = dict(zip(names, sess.run(names, feeds)))
    compare(f"{os.path.basename(onnx_path)} logits", got["logits"], logits)
    for name in ("h_n", "c_n"):
        if name in got:
            compare(f"{os.path.basename(onnx_path)} {name}", got[name], ref[name])


def pool(kind, out, lengths, h_n, model, meta):
    """recur's pooling of the stack's outputs out [T, B, F] (zero past lengths)."""
    T, B, F = out.shape
    if kind == "last":
        dirs = 2 if meta.get("bidirectional") in ("true", "True", "1") else 1
        top = h_n[-dirs:]  # [D, B, H]
        return np.concatenate([top[d] for d in range(dirs)], axis=1)
    valid = np.arange(T)[:, None] < lengths[None, :]  # [T, B]
    if kind == "mean":
        return (out * valid[:, :, None]).sum(0) / lengths[:, None]
    if kind == "max":
        return np.where(valid[:, :, None], out, -np.inf).max(0)
    query = model["pool.query.weight"][:, 0] + model["pool.query.bias"]
    energy = np.tanh(out @ model["pool.key.weight"].T + query)
    scores = (energy @ model["pool.v.weight"].T)[:, :, 0]  # [T, B]
    scores = np.where(valid, scores, -np.inf)
    weights = np.exp(scores - scores.max(0))
    weights /= weights.sum(0)
    return (weights[:, :, None] * out).sum(0)


def check_seqnet(onnx_path, model_path, recur, scratch):
    sess = session(onnx_path)
    model, meta = read_st(model_path)
    model = {k: v.astype(np.float64) if v.dtype.kind == "f" else v for k, v in model.items()}
    rng = np.random.default_rng(7)
    T, B = 11, 4
    lengths = np.array([T, 3, 1, 8][:B], dtype=np.int64)
    if "embedding.weight" in model:
        ids = rng.integers(0, model["embedding.weight"].shape[0], size=(T, B), dtype=np.int64)
        feeds, embedded = {"ids": ids}, model["embedding.weight"][ids]
    else:
        size = int(meta["input_size"])
        embedded = rng.normal(size=(T, B, size)).astype(np.float32)
        feeds = {"input": embedded}
    feeds["lengths"] = lengths
    ref = run_stack_with_recur(model, meta, embedded, {"lengths": lengths}, recur, scratch,
                               os.path.basename(onnx_path))
    pooled = pool(meta["pool"], ref["output"].astype(np.float64), lengths,
                  ref["h_n"].astype(np.float64), model, meta)
    logits = pooled @ model["head.weight"].T + model["head.bias"]
    (got,) = sess.run(["logits"], feeds)
    compare(f"{os.path.basename(onnx_path)} logits (pool {meta['pool']})", got, logits)


def main(argv):
    mode = argv[1] if len(argv) > 1 else ""
    if mode == "stack" and len(argv) >= 5 and (len(argv) - 2) % 3 == 0:
        for k in range(2, len(argv), 3):
            check_stack(*argv[k:k + 3])
    elif mode == "lm" and len(argv) == 6:
        check_lm(*argv[2:])
    elif mode == "seqnet" and len(argv) == 6:
        check_seqnet(*argv[2:])
    else:
        sys.exit(__doc__)
    print(f"worst {worst:.3g}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
