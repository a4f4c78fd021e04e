"""GPU speed comparison (not a test): `recur bench --device cuda --json`
against PyTorch's cuDNN RNNs on the same GPU, in one run, in two precision
modes: fp32 (recur --math fp32; torch.backends.cudnn.allow_tf32 = False) and
tf32 (recur --math tf32; cuDNN's default, allow_tf32 = True), and on request
bf16 (recur --math bf16, bfloat16 products with fp32 storage; PyTorch's
module and input in bfloat16, so cuDNN also stores in bfloat16). Started by
`bench/compare --device cuda`.

PyTorch is timed as recur bench times itself (at least 3 warm-up calls and a
quarter of --seconds, then at least 5 timed calls filling about --seconds;
median), each call followed by torch.cuda.synchronize():
  forward  module(x) under torch.no_grad(), x [T, B, I] on the GPU
  train    zero_grad(), module(x) with x.requires_grad, out.sum().backward()
Ratios are PyTorch's time over recur's: above 1 means recur is faster.
"""
import argparse
import datetime
import json
import subprocess
import sys

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from compare import time_calls, torch_module, torch_passes, fmt_ms, fmt_ratio  # noqa: E402


def run_recur(binary, math, seconds, cases):
    cmd = [binary, "bench", "--device", "cuda", "--math", math, "--seconds", str(seconds),
           "--json", "-"]
    if cases:
        cmd += ["--cases", cases]
    done = subprocess.run(cmd, check=True, stdout=subprocess.PIPE)
    return json.loads(done.stdout)


def run_torch(torch, case, seconds, math):
    torch.manual_seed(1)
    dev = torch.device("cuda")
    dtype = torch.bfloat16 if math == "bf16" else torch.float32
    module = torch_module(torch, case).to(device=dev, dtype=dtype)
    x = (torch.rand(case["seq_len"], case["batch"], case["input_size"], device=dev) * 2 - 1)
    x = x.to(dtype)
    forward, train = torch_passes(torch, module, x, torch.cuda.synchronize)
    return time_calls(forward, seconds), time_calls(train, seconds)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--recur", required=True)
    ap.add_argument("--seconds", type=float, default=1.0)
    ap.add_argument("--cases", default=None)
    ap.add_argument("--math", default="fp32,tf32")
    ap.add_argument("--out", default=None)
    ap.add_argument("--git", default="unknown")
    ap.add_argument("--command", default="bench/compare --device cuda")
    ap.add_argument("--torch-only", action="store_true",
                    help="time PyTorch alone on --cases in the first --math (for profilers); "
                         "recur bench --json still names the cases")
    args = ap.parse_args()
    import torch

    if not torch.cuda.is_available():
        sys.exit("bench/compare --device cuda: PyTorch sees no CUDA GPU")
    if args.torch_only:
        math = args.math.split(",")[0]
        torch.backends.cudnn.allow_tf32 = math == "tf32"
        torch.backends.cuda.matmul.allow_tf32 = math == "tf32"
        for case in run_recur(args.recur, math, 0.01, args.cases)["cases"]:
            fwd, train = run_torch(torch, case, args.seconds, math)
            print(f"{math} {case['name']}: cuDNN forward {fmt_ms(fwd)} ms, "
                  f"train {fmt_ms(train)} ms")
        return
    lines = [f"date: {datetime.date.today().isoformat()}; git {args.git}",
             f"GPU: {torch.cuda.get_device_name(0)}; PyTorch {torch.__version__}, "
             f"cuDNN {torch.backends.cudnn.version()}",
             f"command: {args.command}", ""]
    header = ("| math | case | recur fwd ms | cuDNN fwd ms | fwd ratio | recur train ms "
              "| cuDNN train ms | train ratio |")
    rows = [header, "|" + "---|" * 8]
    for math in args.math.split(","):
        torch.backends.cudnn.allow_tf32 = math == "tf32"
        torch.backends.cuda.matmul.allow_tf32 = math == "tf32"
        ours = run_recur(args.recur, math, args.seconds, args.cases)
        device_line = f"recur device: {ours.get('device_name', '?')}"
        if device_line not in lines:
            lines.insert(-1, device_line)
        for case in ours["cases"]:
            fwd, train = run_torch(torch, case, args.seconds, math)
            rows.append(f"| {math} | {case['name']} | {fmt_ms(case['forward'])} | {fmt_ms(fwd)} "
                        f"| {fmt_ratio(fwd, case['forward'])} | {fmt_ms(case['train'])} "
                        f"| {fmt_ms(train)} | {fmt_ratio(train, case['train'])} |")
            print(rows[-1], flush=True)
    text = "\n".join(lines + rows) + "\n"
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
