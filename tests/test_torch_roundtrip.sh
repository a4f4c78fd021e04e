#!/bin/sh
# The PyTorch round trip (scripts/torch_roundtrip.py): recur's models in torch
# and torch's models in recur, and recur import. Skips (exit 77) when
# /usr/bin/python3 has no torch.
# usage: test_torch_roundtrip.sh RECUR_BINARY SCRIPT
recur=$1
script=$2
python=/usr/bin/python3
if ! "$python" -c 'import torch, numpy' >/dev/null 2>&1; then
    echo "skipped: $python cannot import torch and numpy"
    exit 77
fi
exec "$python" "$script" "$recur"
