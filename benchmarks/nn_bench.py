"""Speed of the swallowtail.nn fast paths against their dense counterparts (the issue's hard targets).

One CPU thread, 1024 rows, the median of several timed runs after warm-up. Forward-only cases run under
torch.inference_mode; the forward+backward case times y.sum().backward() with the input requiring grad.

    .venv/bin/python benchmarks/nn_bench.py            # a table; exit status 1 if a target is missed
    .venv/bin/python benchmarks/nn_bench.py --json     # the same as JSON

Timings on a machine shared with other work are noisy: re-run on a quiet one before drawing conclusions.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from swallowtail.nn import ButterflyLinear, FourierMixing

# ---- the cases (targets are the requirements: speedup = reference ms / ours ms) --------------------
ROWS = 1024
THREADS = 1
RUNS = 7
WARMUP = 2
SEED = 0
CONSOLE_WIDTH = 120
FOURIER_BATCH, FOURIER_SEQ, FOURIER_D, FOURIER_HEADS = 2, 4096, 256, 4
TARGET_BUTTERFLY_4096 = 2.0
TARGET_BUTTERFLY_1024 = 1.3
TARGET_MONARCH_4096 = 10.0
TARGET_FOURIER = 20.0
TARGET_TRAIN_1024 = 1.0  # "faster than": any speedup above 1


@dataclass
class CaseResult:
    case: str
    ours_ms: float
    reference_ms: float
    speedup: float
    target: float
    passed: bool


def median_ms(fn: Callable[[], object], runs: int, warmup: int) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3


def forward_case(n: int, kind: str) -> tuple[Callable[[], object], Callable[[], object]]:
    ours, dense = ButterflyLinear(n, n, kind=kind), nn.Linear(n, n)
    x = torch.randn(ROWS, n)

    def run_ours() -> object:
        with torch.inference_mode():
            return ours(x)

    def run_dense() -> object:
        with torch.inference_mode():
            return dense(x)

    return run_ours, run_dense


def train_case(n: int) -> tuple[Callable[[], object], Callable[[], object]]:
    ours, dense = ButterflyLinear(n, n), nn.Linear(n, n)
    x = torch.randn(ROWS, n, requires_grad=True)

    def step(module: nn.Module) -> Callable[[], object]:
        def run() -> object:
            module.zero_grad(set_to_none=True)
            x.grad = None
            module(x).sum().backward()
            return x.grad

        return run

    return step(ours), step(dense)


def fourier_case() -> tuple[Callable[[], object], Callable[[], object]]:
    b, L, d, h = FOURIER_BATCH, FOURIER_SEQ, FOURIER_D, FOURIER_HEADS
    mix = FourierMixing()
    q, k, v, o = (nn.Linear(d, d) for _ in range(4))
    x = torch.randn(b, L, d)

    def run_ours() -> object:
        with torch.inference_mode():
            return mix(x)

    def run_attention() -> object:
        with torch.inference_mode():
            heads = [p(x).view(b, L, h, d // h).transpose(1, 2) for p in (q, k, v)]  # (B, nh, T, hs)
            y = F.scaled_dot_product_attention(*heads)  # (B, nh, T, hs)
            return o(y.transpose(1, 2).reshape(b, L, d))  # (B, T, d)

    return run_ours, run_attention


CASES: list[tuple[str, Callable[[], tuple[Callable[[], object], Callable[[], object]]], float]] = [
    ("butterfly fwd n=4096 vs nn.Linear", lambda: forward_case(4096, "butterfly"), TARGET_BUTTERFLY_4096),
    ("butterfly fwd n=1024 vs nn.Linear", lambda: forward_case(1024, "butterfly"), TARGET_BUTTERFLY_1024),
    ("monarch fwd n=4096 vs nn.Linear", lambda: forward_case(4096, "monarch"), TARGET_MONARCH_4096),
    (
        f"FourierMixing L={FOURIER_SEQ} d={FOURIER_D} B={FOURIER_BATCH} vs SDPA+QKVO",
        fourier_case,
        TARGET_FOURIER,
    ),
    ("butterfly fwd+bwd n=1024 vs nn.Linear", lambda: train_case(1024), TARGET_TRAIN_1024),
]


def run(runs: int, warmup: int) -> list[CaseResult]:
    torch.set_num_threads(THREADS)
    torch.manual_seed(SEED)
    results = []
    for name, build, target in CASES:
        ours, reference = build()
        ours_ms = median_ms(ours, runs, warmup)
        ref_ms = median_ms(reference, runs, warmup)
        speedup = ref_ms / ours_ms
        results.append(CaseResult(name, ours_ms, ref_ms, speedup, target, speedup > target))
    return results


def print_table(results: list[CaseResult]) -> None:
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:  # plain text fallback
        print(f"{'case':48} {'ours ms':>9} {'ref ms':>9} {'speedup':>8} {'target':>7}  result")
        for r in results:
            verdict = "pass" if r.passed else "FAIL"
            times = f"{r.ours_ms:9.2f} {r.reference_ms:9.2f}"
            print(f"{r.case:48} {times} {r.speedup:7.1f}x {r.target:6.1f}x  {verdict}")
        return
    table = Table(title=f"swallowtail.nn speed ({THREADS} thread, {ROWS} rows, median)")
    for col in ("case", "ours ms", "reference ms", "speedup", "target", "result"):
        table.add_column(col, justify="left" if col == "case" else "right")
    for r in results:
        verdict = "[green]pass[/green]" if r.passed else "[red]FAIL[/red]"
        table.add_row(
            r.case,
            f"{r.ours_ms:.2f}",
            f"{r.reference_ms:.2f}",
            f"{r.speedup:.1f}x",
            f">{r.target:g}x",
            verdict,
        )
    Console(width=CONSOLE_WIDTH).print(table)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--runs", type=int, default=RUNS, help="timed runs per measurement (median)")
    parser.add_argument("--warmup", type=int, default=WARMUP, help="untimed runs first")
    args = parser.parse_args(argv)
    results = run(args.runs, args.warmup)
    if args.json:
        meta = {"torch": torch.__version__, "threads": THREADS, "rows": ROWS, "runs": args.runs}
        print(json.dumps({**meta, "cases": [asdict(r) for r in results]}, indent=2))
    else:
        print_table(results)
    return 0 if all(r.passed for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
