"""Language-model training speed on the GPU (not a test): `recur train
--device cuda` against the same model trained by PyTorch (cuDNN) on the same
GPU, in one run. Both train Embedding(V, E) -> LSTM/GRU(H, L layers) ->
Linear(V) over the text's V distinct bytes with Adam (lr 2e-3), gradient clipping at 5 and truncated BPTT over
B streams of T steps, on the same text, in fp32 (TF32 off for cuDNN).

recur's speed is its metrics.csv tokens_per_s at the last step of a run
without validation (--val-fraction 0, constant learning rate; the rate counts
from the first step). PyTorch runs the same number of steps, each ending with
the loss read back to the host (as recur reads its loss and gradient norm
every step), and is timed over all but the first `warmup`. Both losses are
the mean over all steps (recur's train_loss column).

usage: python3 bench/lm_train_cuda.py --recur BIN --text FILE [--configs ...]
  a config: cell-H<hidden>-L<layers>-B<batch>-T<bptt>, e.g. lstm-H512-L2-B64-T64
"""
import argparse
import csv
import datetime
import os
import subprocess
import sys
import tempfile
import time

DEFAULT_CONFIGS = "lstm-H256-L2-B32-T64,lstm-H512-L2-B64-T64,gru-H512-L2-B64-T64,lstm-H1024-L1-B128-T64"
EMBED = 64


def parse(config):
    cell, *rest = config.split("-")
    fields = {part[0]: int(part[1:]) for part in rest}
    return cell, fields["H"], fields["L"], fields["B"], fields["T"]


def run_recur(binary, text, config, steps):
    cell, hidden, layers, batch, bptt = parse(config)
    with tempfile.TemporaryDirectory() as tmp:
        metrics = os.path.join(tmp, "metrics.csv")
        cmd = [binary, "train", "--text", text, "--device", "cuda", "--cell", cell,
               "--hidden", str(hidden), "--layers", str(layers), "--embed", str(EMBED),
               "--batch", str(batch), "--bptt", str(bptt), "--steps", str(steps),
               "--eval-interval", str(steps), "--val-fraction", "0", "--lr", "2e-3",
               "--clip", "5", "--schedule", "constant",
               "--output", os.path.join(tmp, "model.safetensors"),
               "--metrics", metrics]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        with open(metrics) as f:
            rows = list(csv.DictReader(f))
        return float(rows[-1]["tokens_per_s"]), float(rows[-1]["train_loss"])


def run_torch(torch, text, config, steps, warmup):
    cell, hidden, layers, batch, bptt = parse(config)
    dev = torch.device("cuda")
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.manual_seed(1)
    raw = open(text, "rb").read()
    ids = {b: i for i, b in enumerate(sorted(set(raw)))}
    vocab = len(ids)
    data = torch.tensor([ids[b] for b in raw], dtype=torch.long, device=dev)
    stream_len = data.numel() // batch
    streams = data[: stream_len * batch].view(batch, stream_len).t().contiguous()  # [len, B]
    rnn_class = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[cell]
    embedding = torch.nn.Embedding(vocab, EMBED).to(dev)
    rnn = rnn_class(EMBED, hidden, layers).to(dev)
    head = torch.nn.Linear(hidden, vocab).to(dev)
    params = list(embedding.parameters()) + list(rnn.parameters()) + list(head.parameters())
    opt = torch.optim.Adam(params, lr=2e-3)
    state = None
    pos = 0

    def step():
        nonlocal state, pos
        if pos + bptt + 1 > stream_len:
            pos, state = 0, None
        x, y = streams[pos:pos + bptt], streams[pos + 1:pos + bptt + 1]
        opt.zero_grad(set_to_none=False)
        out, state = rnn(embedding(x), state)
        state = tuple(s.detach() for s in state) if isinstance(state, tuple) else state.detach()
        loss = torch.nn.functional.cross_entropy(head(out).view(-1, vocab), y.reshape(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 5.0)
        opt.step()
        pos += bptt
        return loss.item()

    losses = [step() for _ in range(warmup)]
    torch.cuda.synchronize()
    start = time.perf_counter()
    losses += [step() for _ in range(steps - warmup)]
    seconds = time.perf_counter() - start
    return (steps - warmup) * bptt * batch / seconds, sum(losses) / len(losses)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--recur", required=True)
    ap.add_argument("--text", required=True)
    ap.add_argument("--configs", default=DEFAULT_CONFIGS)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    import torch
    lines = [f"LM training on {torch.cuda.get_device_name(0)}, "
             f"{datetime.date.today()}, PyTorch {torch.__version__} "
             f"(cuDNN {torch.backends.cudnn.version()}), fp32, {args.steps} steps, "
             f"embed {EMBED}, Adam, clip 5, text {os.path.basename(args.text)}",
             "",
             "| config | recur tok/s | PyTorch tok/s | ratio | recur mean loss | PyTorch mean loss |",
             "|---|---:|---:|---:|---:|---:|"]
    for config in args.configs.split(","):
        recur_rate, recur_loss = run_recur(args.recur, args.text, config, args.steps)
        torch_rate, torch_loss = run_torch(torch, args.text, config, args.steps, args.warmup)
        lines.append(f"| {config} | {recur_rate:,.0f} | {torch_rate:,.0f} | "
                     f"{recur_rate / torch_rate:.2f}x | {recur_loss:.3f} | {torch_loss:.3f} |")
        print(lines[-1], flush=True)
    report = "\n".join(lines) + "\n"
    if args.out:
        with open(args.out, "w") as f:
            f.write(report)
    sys.stdout.write(report)


if __name__ == "__main__":
    main()
