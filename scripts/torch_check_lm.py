#!/usr/bin/env python3
"""Loads a language model made by `recur train` into plain PyTorch modules
(nn.Embedding, nn.LSTM/GRU/RNN, nn.Linear) from its safetensors file and
prints its loss on a text as one sequence, for comparison with
`recur eval MODEL --text FILE --batch 1`.

usage: python3 scripts/torch_check_lm.py MODEL.safetensors TEXT [MAX_BYTES]
needs: torch (Debian's python3-torch) and numpy; reads safetensors by hand.
"""
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from st_io import read_st  # noqa: E402


def main():
    model_path, text_path = sys.argv[1], sys.argv[2]
    limit = int(sys.argv[3]) if len(sys.argv) > 3 else 20000
    arrays, meta = read_st(model_path)
    tensors = {k: torch.from_numpy(v) for k, v in arrays.items()}
    vocab = bytes.fromhex(meta["recur.vocab"])
    module = meta["recur.module"]
    cls = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "rnn": torch.nn.RNN}[module]
    kwargs = dict(input_size=int(meta["input_size"]), hidden_size=int(meta["hidden_size"]),
                  num_layers=int(meta["num_layers"]))
    if module == "rnn":
        kwargs["nonlinearity"] = meta.get("nonlinearity", "tanh")
    rnn = cls(**kwargs)
    embedding = torch.nn.Embedding(int(meta["vocab_size"]), int(meta["embed_size"]))
    head = torch.nn.Linear(int(meta["hidden_size"]), int(meta["vocab_size"]))
    # The point of the check: plain state_dicts load with strict=True.
    rnn.load_state_dict({k[4:]: v for k, v in tensors.items() if k.startswith("rnn.")}, strict=True)
    embedding.load_state_dict({"weight": tensors["embedding.weight"]}, strict=True)
    head.load_state_dict({"weight": tensors["head.weight"], "bias": tensors["head.bias"]}, strict=True)
    text = open(text_path, "rb").read()[:limit]
    index = {b: i for i, b in enumerate(vocab)}
    ids = torch.tensor([index[b] for b in text], dtype=torch.long)
    with torch.no_grad():
        out, _ = rnn(embedding(ids[:-1]).unsqueeze(1))
        logits = head(out.squeeze(1))
        loss = torch.nn.functional.cross_entropy(logits.double(), ids[1:]).item()
    print(f"pytorch: {len(ids) - 1} predictions, loss {loss:.6f} nats/char")


if __name__ == "__main__":
    main()
