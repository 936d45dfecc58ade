"""The Jetson GPU model against every published measurement it uses: model vs published, fitted or predicted.

    .venv/bin/python benchmarks/gpu_validation.py          # the table (`swallowtail baseline validate`)
    .venv/bin/python benchmarks/gpu_validation.py --json   # rows as JSON

The points and their sources are in src/swallowtail/baselines/params/jetson-published.yaml; `role: fit`
points each set one stack or harness parameter (`swallowtail baseline fit`), `role: predict` points never set
anything.
The target: every point within 20%, at least three predicted points on at least two boards.

Below the table, the evidence for the harnesses' fixed time: each SingleStream run with a published mean and
p90, joined by a straight line in the query length; its zero-length intercept as DRAM bytes (x the power
mode's DRAM bandwidth) and as host CPU cycles (x its CPU clock). Which of the two stays constant across the
power modes says what bounds the fixed time (baselines/params/harnesses/mlperf-nvidia-bert-xavier.yaml). The
slope in GPU cycles per token says whether the per-token work speeds up with more SMs at the same clock.
The run's published minimum (its fastest query) beside the intercept: an intercept above it cannot be a time
every query pays.

Last, each run's published min, p50, p90 and p99 at the lengths the measured distribution puts them (binned),
as one curve: its slope per token over each stretch. Every board's last stretch is cheap; only the Xavier NX
runs' first stretch costs more than their second -- they pay most for a query's first tokens (the harness
file's open question).
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict

from swallowtail.baselines.validation import (
    TARGET_ERROR,
    fixed_time_lines,
    latency_curves,
    summarize,
    validate,
    validation_rows,
)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--json", action="store_true", help="print JSON")
    args = ap.parse_args()
    t0 = time.perf_counter()
    checks = validate()
    rows, summary = validation_rows(checks), summarize(checks)
    elapsed = time.perf_counter() - t0
    lines = fixed_time_lines()
    if args.json:
        fixed = [vars(line) for line in lines]
        out = {
            "target_error": TARGET_ERROR,
            "points": rows,
            "summary": asdict(summary),
            "fixed_time_lines": fixed,
            "seconds": elapsed,
        }
        print(json.dumps(out, indent=2))
        return
    wid, warch = max(len(r["id"]) for r in rows), max(len(r["arch"]) for r in rows)
    head = (
        f"{'point':<{wid}} {'board-mode':<{warch}} {'stack':<19} {'stat':<8} {'published':>10} {'model':>10}"
    )
    print(f"{head} {'error':>7} role")
    for r in rows:
        print(
            f"{r['id']:<{wid}} {r['arch']:<{warch}} {r['stack']:<19} {r['statistic']:<8} "
            f"{r['published_text']:>10} {r['model_text']:>10} {r['error']:>+7.1%} {r['role']}"
        )
    worst = "-" if summary.worst_error is None else f"{summary.worst_id} {summary.worst_error:+.1%}"
    print(
        f"predicted: {summary.within_target} of {summary.predicted} within {TARGET_ERROR:.0%} on boards "
        f"{', '.join(summary.boards)}; worst {worst}; fitted: {summary.fitted}; {elapsed:.1f} s"
    )
    for line in summary.miss_lines():
        print(f"outside the target: {line}")
    print()
    print(
        f"{'SingleStream run (mean, p90)':<{wid}} {'board-mode':<{warch}} {'harness':<26} {'intercept':>9} "
        f"{'slope':>12} {'x DRAM BW':>9} {'x CPU clock':>12} {'GPU cycles/token':>16} {'min':>9}"
    )
    for line in lines:
        cycles = "-" if line.cpu_cycles is None else f"{line.cpu_cycles / 1e6:.1f} M"
        low = "-" if line.min_s is None else f"{line.min_s * 1e3:.2f} ms"
        print(
            f"{line.run:<{wid}} {line.arch:<{warch}} {line.harness or '-':<26} "
            f"{line.intercept_s * 1e3:>6.2f} ms {line.slope_s_per_token * 1e6:>6.1f} us/tk "
            f"{line.dram_bytes / 1e9:>6.2f} GB {cycles:>12} "
            f"{line.gpu_cycles_per_token / 1e3:>14.1f} k {low:>9}"
        )
    print()
    print(
        f"{'SingleStream run (min, p50, p90, p99)':<{wid}} {'board-mode':<{warch}} "
        f"{'at tokens':<18} us per token"
    )
    for c in latency_curves():
        at = "/".join(str(n) for n in c.lengths)
        slopes = "  ".join(f"{s * 1e6:6.1f}" for s in c.per_token_s)
        print(f"{c.run:<{wid}} {c.arch:<{warch}} {at:<18} {slopes}")


if __name__ == "__main__":
    main()
