"""Runs `recur bench --json`, then the same cases with PyTorch (forward and
training step) and ONNX Runtime (forward only), and prints one table.

Started by bench/compare, which pins the process to the chosen cores with
taskset and sets OPENBLAS_NUM_THREADS / OMP_NUM_THREADS; see that script.

Each engine is timed as recur bench times itself: at least 3 warm-up calls
and at least a quarter of --seconds (at most 1 s), then at least 5 timed calls
filling about --seconds; the median is reported with spread (p90-p10)/median.
  forward   PyTorch: module(x) under torch.no_grad(); ORT: session.run on the
            model exported by torch.onnx.export (TorchScript exporter, so the
            ONNX LSTM/GRU/RNN operators), CPU execution provider.
  train     PyTorch: zero_grad(), module(x) with x.requires_grad, then
            output.sum().backward() (input and parameter gradients), as
            recur bench's training step with grad_output all ones.
"""
import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import warnings


def time_calls(call, seconds):
    """Median, p10, p90 (ms), spread and repetition count, as recur bench."""
    warm_budget = min(seconds / 4, 1.0)
    start = time.perf_counter()
    warmup = 0
    while True:
        call()
        warmup += 1
        elapsed = time.perf_counter() - start
        if warmup >= 3 and elapsed >= warm_budget:
            break
    per_call = elapsed / warmup
    reps = int(min(1e6, max(5, seconds / max(per_call, 1e-9))))
    ms = []
    for _ in range(reps):
        t0 = time.perf_counter()
        call()
        ms.append(1e3 * (time.perf_counter() - t0))
    ms.sort()

    def pct(q):
        pos = q * (len(ms) - 1)
        lo = int(pos)
        hi = min(lo + 1, len(ms) - 1)
        return ms[lo] + (pos - lo) * (ms[hi] - ms[lo])

    med = pct(0.5)
    return {"ms_median": med, "ms_p10": pct(0.1), "ms_p90": pct(0.9),
            "spread": (pct(0.9) - pct(0.1)) / med if med > 0 else 0.0, "reps": reps}


def torch_module(torch, case):
    cell, i, h, layers = case["cell"], case["input_size"], case["hidden_size"], case["layers"]
    bi = bool(case.get("bidirectional", False))
    if cell == "lstm":
        return torch.nn.LSTM(i, h, num_layers=layers, bidirectional=bi)
    if cell == "gru":
        return torch.nn.GRU(i, h, num_layers=layers, bidirectional=bi)
    return torch.nn.RNN(i, h, num_layers=layers, nonlinearity=cell.split("-")[1],
                        bidirectional=bi)


def torch_passes(torch, module, x, sync=lambda: None):
    """The two timed calls: forward under no_grad, and the training step
    (zero_grad, forward with x.requires_grad, sum().backward()); sync() ends each."""
    def forward():
        with torch.no_grad():
            module(x)
        sync()

    xg = x.clone().requires_grad_(True)

    def train():
        module.zero_grad(set_to_none=False)
        xg.grad = None
        out, _ = module(xg)
        out.sum().backward()
        sync()

    module.train()
    return forward, train


def run_torch(torch, case, seconds):
    torch.manual_seed(1)
    module = torch_module(torch, case).float()
    x = torch.rand(case["seq_len"], case["batch"], case["input_size"]) * 2 - 1
    forward, train = torch_passes(torch, module, x)
    return module, x, time_calls(forward, seconds), time_calls(train, seconds)


def run_ort(torch, ort, module, x, threads, seconds, workdir):
    path = os.path.join(workdir, "model.onnx")
    module.eval()
    with torch.no_grad():
        expected = module(x)[0].numpy()
    try:  # the TorchScript exporter writes ONNX's fused LSTM/GRU/RNN operators
        torch.onnx.export(module, (x,), path, input_names=["x"], opset_version=17,
                          dynamo=False)
    except TypeError:  # older torch without the dynamo argument
        torch.onnx.export(module, (x,), path, input_names=["x"], opset_version=17)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
    feed = {"x": x.numpy()}
    got = sess.run(None, feed)[0]
    # ONNX's LSTM/GRU/RNN output is [T, D, B, H]; one direction here.
    got = got.reshape(expected.shape)
    max_diff = float(abs(got - expected).max())
    timing = time_calls(lambda: sess.run(None, feed), seconds)
    del sess
    return timing, max_diff


def fmt_ms(t):
    return "-" if t is None else f"{t['ms_median']:.3f}"


def fmt_ratio(theirs, ours):
    if theirs is None or ours is None or ours["ms_median"] <= 0:
        return "-"
    return f"{theirs['ms_median'] / ours['ms_median']:.2f}x"


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--recur", required=True, help="the recur binary")
    ap.add_argument("--threads", type=int, required=True)
    ap.add_argument("--cores", default="")
    ap.add_argument("--seconds", type=float, default=1.0)
    ap.add_argument("--cases", default=None)
    ap.add_argument("--out", default=None, help="also write the table as markdown here")
    ap.add_argument("--git", default="unknown")
    ap.add_argument("--command", default="bench/compare")
    args = ap.parse_args()

    load_before = os.getloadavg()
    # recur first, before torch and onnxruntime start thread pools in this process.
    cmd = [args.recur, "bench", "--json", "--threads", str(args.threads),
           "--seconds", str(args.seconds)]
    if args.cases:
        cmd += ["--cases", args.cases]
    print("$ " + " ".join(cmd), file=sys.stderr, flush=True)
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, check=True)
    recur = json.loads(proc.stdout)

    warnings.filterwarnings("ignore")  # the exporters' deprecation and batch-size notices
    import numpy  # noqa: F401  (torch's .numpy() needs it)
    import onnxruntime as ort
    import torch
    torch.set_num_threads(args.threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass

    rows = []
    notes = []
    with tempfile.TemporaryDirectory(prefix="recur-compare-") as workdir:
        for case in recur["cases"]:
            print(f"torch/ort: {case['name']}", file=sys.stderr, flush=True)
            module, x, t_fwd, t_train = run_torch(torch, case, args.seconds)
            try:
                o_fwd, diff = run_ort(torch, ort, module, x, args.threads, args.seconds, workdir)
                if diff > 1e-3:
                    notes.append(f"{case['name']}: ORT output differs from PyTorch's by {diff:.2g}")
            except Exception as e:  # report, keep the other engines' numbers
                o_fwd = None
                notes.append(f"{case['name']}: ONNX export/run failed: {type(e).__name__}: {e}")
            for name, ours, tt, oo in (("forward", case["forward"], t_fwd, o_fwd),
                                       ("train", case["train"], t_train, None)):
                rows.append([case["name"], name, fmt_ms(ours), fmt_ms(tt), fmt_ms(oo),
                             fmt_ratio(tt, ours), fmt_ratio(oo, ours),
                             f"{ours['gflops']:.1f}", f"{100 * ours['peak_fraction']:.1f}%",
                             f"{100 * ours['spread']:.0f}% / {100 * tt['spread']:.0f}%"
                             + ("" if oo is None else f" / {100 * oo['spread']:.0f}%")])
            del module

    header = ["case", "pass", "recur ms", "PyTorch ms", "ORT ms", "vs PyTorch", "vs ORT",
              "recur GFLOP/s", "of sgemm peak", "spread r/P/O"]
    cpu = "unknown"
    try:
        for line in subprocess.run(["lscpu"], stdout=subprocess.PIPE, text=True).stdout.splitlines():
            if line.startswith("Model name"):
                cpu = line.split(":", 1)[1].strip()
    except OSError:
        pass
    peak = recur["sgemm_peak"]
    info = [
        f"date: {datetime.datetime.now(datetime.timezone.utc).strftime('%a %b %d %H:%M:%S UTC %Y')}",
        f"CPU: {cpu}, {os.cpu_count()} CPUs; pinned to cores {args.cores or 'all'}; "
        f"{args.threads} thread(s) for every engine",
        f"recur {recur['recur_version']} ({args.git}), {recur['blas']}, "
        f"threads {recur['threads']} (OpenBLAS on one thread per team thread)",
        f"sgemm peak (recur's BLAS, M=N=K={peak['m']}, best of {peak['repeats']}): "
        f"{peak['gflops']:.1f} GFLOP/s",
        f"PyTorch {torch.__version__} (threads {torch.get_num_threads()}, "
        f"mkldnn {torch.backends.mkldnn.is_available()}), ONNX Runtime {ort.__version__}, "
        f"Python {platform.python_version()}",
        f"command: {args.command}",
        "load average (1 min) before / after: "
        f"{load_before[0]:.2f} / {os.getloadavg()[0]:.2f} "
        f"(above the thread count: something else was running)",
    ]
    noisy = [f"{r[0]} {r[1]}" for r in rows if any(
        float(x.strip(" %")) > 50 for x in r[-1].split("/"))]
    if noisy:
        notes.append("spread above 50% (noisy, rerun on a quiet machine): " + ", ".join(noisy))
    widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]
    text = [" ".join(str(c).rjust(w) if i >= 2 else str(c).ljust(w)
                     for i, (c, w) in enumerate(zip(r, widths))) for r in [header] + rows]
    print("\n".join(info))
    print("\n".join(text))
    for n in notes:
        print("note: " + n)
    if args.out:
        md = ["| " + " | ".join(header) + " |",
              "|" + "|".join(["---", "---"] + ["---:"] * (len(header) - 2)) + "|"]
        md += ["| " + " | ".join(r) + " |" for r in rows]
        with open(args.out, "w") as f:
            f.write("\n".join(f"- {line}" for line in info) + "\n\n")
            f.write("\n".join(md) + "\n")
            if notes:
                f.write("\n" + "\n".join(f"- note: {n}" for n in notes) + "\n")
        print(f"markdown table: {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
