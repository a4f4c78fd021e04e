#!/usr/bin/env python3
"""Reads an event file written by recur with TensorBoard's own reader.

usage: check_tensorboard.py TEST_TENSORBOARD_BINARY SCRATCH_DIR

Runs `TEST_TENSORBOARD_BINARY --write DIR` (the scalars of
tests/test_tensorboard.c), loads DIR with
tensorboard.backend.event_processing.event_accumulator.EventAccumulator and
checks the tags, steps and float32 values exactly. Exits 77 (ctest's skip)
when the tensorboard package is not installed.
"""
import math
import os
import shutil
import struct
import subprocess
import sys

try:
    import tensorboard  # noqa: F401
    from tensorboard.backend.event_processing import event_accumulator
    from tensorboard.backend.event_processing import io_wrapper
except ImportError:
    print("SKIP: tensorboard package not installed")
    sys.exit(77)


def f32(x):
    """x rounded to float32, as the C compiler rounds the literal."""
    return struct.unpack("<f", struct.pack("<f", x))[0]


# (tag, step, value) in writing order: keep in step with scalars[] in test_tensorboard.c.
EXPECTED = [
    ("loss/train", 0, 4.5),
    ("loss/train", 1, 3.25),
    ("loss/val", 1, 3.5),
    ("loss/train", 2, -1.75),
    ("lr", 2, 1e-30),
    ("lr", 3, 0.0),
    ("loss/val", 1000000, -0.0),
    ("tiny", 7, 1.4e-45),
    ("big", 8, 3.0e38),
    ("loss/train", 5000000000, 0.125),
    ("loss/val", 1000001, -123.456),
]


def main():
    binary, scratch = sys.argv[1], sys.argv[2]
    run_dir = os.path.join(scratch, "tensorboard_py", "run")
    shutil.rmtree(os.path.dirname(run_dir), ignore_errors=True)
    path = subprocess.run([binary, "--write", run_dir], check=True, stdout=subprocess.PIPE,
                          universal_newlines=True).stdout.strip()
    failures = []

    def check(cond, what):
        if not cond:
            failures.append(what)

    check(os.path.dirname(path) == run_dir, "file %s is not in %s" % (path, run_dir))
    check(io_wrapper.IsTensorFlowEventsFile(path), "TensorBoard does not take %s" % path)
    check(os.listdir(run_dir) == [os.path.basename(path)], "other files in %s" % run_dir)

    acc = event_accumulator.EventAccumulator(run_dir, size_guidance={"scalars": 0})
    acc.Reload()
    check(acc.file_version == 2.0, "file_version %r" % acc.file_version)
    want_tags = sorted({t for t, _, _ in EXPECTED})
    got_tags = sorted(acc.Tags()["scalars"])
    check(got_tags == want_tags, "tags %r, expected %r" % (got_tags, want_tags))
    for tag in want_tags:
        want = [(s, f32(v)) for t, s, v in EXPECTED if t == tag]
        got = [(e.step, e.value) for e in acc.Scalars(tag)] if tag in got_tags else []
        same = len(got) == len(want) and all(
            gs == ws and struct.pack("<f", gv) == struct.pack("<f", wv)
            for (gs, gv), (ws, wv) in zip(got, want))
        check(same, "%s: %r, expected %r" % (tag, got, want))
        for e in acc.Scalars(tag) if tag in got_tags else []:
            check(math.isfinite(e.wall_time) and e.wall_time > 1.5e9,
                  "%s step %d: wall_time %r" % (tag, e.step, e.wall_time))

    for f in failures:
        print("FAIL:", f)
    print("check_tensorboard: %d scalars in %d tags, %d failures"
          % (len(EXPECTED), len(want_tags), len(failures)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
