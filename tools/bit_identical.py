"""Snapshot the numbers of `reproduce --quick`, `kernel` and `simulate` and compare two snapshots bit for bit.

A refactor that must not change a number (issue 15) is checked with it:

    .venv/bin/python tools/bit_identical.py snapshot /tmp/before     # on the old commit
    .venv/bin/python tools/bit_identical.py snapshot /tmp/after      # on the new one
    .venv/bin/python tools/bit_identical.py compare /tmp/before /tmp/after

Every command's `--json` output is kept; `compare` walks both trees and lists every value that differs (floats
compared exactly). Exit status 1 when anything differs.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

#: (file name, swallowtail arguments) of each snapshot; each prints JSON with --json
COMMANDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("kernel-butterfly-ml.json", ("kernel", "--op", "butterfly", "--n", "1024", "--rows", "64", "--json")),
    (
        "kernel-butterfly-sl.json",
        ("kernel", "--op", "butterfly", "--n", "256", "--rows", "32", "--dataflow", "single-layer", "--json"),
    ),
    ("kernel-fft-ml.json", ("kernel", "--op", "fft", "--n", "512", "--rows", "16", "--json")),
    ("simulate-lra-image.json", ("simulate", "--model", "lra-image", "--seq-len", "1024", "--json")),
    (
        "simulate-fabnet-base-sl.json",
        ("simulate", "--model", "fabnet-base", "--seq-len", "256", "--dataflow", "single-layer", "--json"),
    ),
)
REPRODUCE_DIR = "reproduce"


def snapshot(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    exe = Path(sys.executable).with_name("swallowtail")
    for name, args in COMMANDS:
        res = subprocess.run([str(exe), *args], capture_output=True, text=True, check=True)
        (out / name).write_text(res.stdout)
    subprocess.run(
        [str(exe), "reproduce", "--quick", "--out", str(out / REPRODUCE_DIR)], capture_output=True, check=True
    )


def _diff(a: Any, b: Any, path: str, out: list[str]) -> None:
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            if k not in a or k not in b:
                out.append(f"{path}.{k}: only in {'after' if k in b else 'before'}")
            else:
                _diff(a[k], b[k], f"{path}.{k}", out)
    elif isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            out.append(f"{path}: {len(a)} items before, {len(b)} after")
        for i, (x, y) in enumerate(zip(a, b, strict=False)):
            _diff(x, y, f"{path}[{i}]", out)
    elif a != b or type(a) is not type(b):
        out.append(f"{path}: {a!r} -> {b!r}")


def compare(before: Path, after: Path) -> list[str]:
    diffs: list[str] = []
    names = [n for n, _ in COMMANDS] + [f"{REPRODUCE_DIR}/results.json"]
    for name in names:
        _diff(json.loads((before / name).read_text()), json.loads((after / name).read_text()), name, diffs)
    return diffs


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "snapshot":
        snapshot(Path(argv[1]))
        return 0
    if len(argv) == 3 and argv[0] == "compare":
        diffs = compare(Path(argv[1]), Path(argv[2]))
        for d in diffs[:200]:
            print(d)
        print(f"{len(diffs)} differences")
        return 1 if diffs else 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
