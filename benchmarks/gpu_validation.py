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
"""

from __future__ import annotations

import argparse
import json
import time

from swallowtail.baselines.validation import TARGET_ERROR, fixed_time_lines, validate, validation_rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--json", action="store_true", help="print JSON")
    args = ap.parse_args()
    t0 = time.perf_counter()
    rows = validation_rows(validate())
    elapsed = time.perf_counter() - t0
    lines = fixed_time_lines()
    if args.json:
        fixed = [vars(line) for line in lines]
        out = {"target_error": TARGET_ERROR, "points": rows, "fixed_time_lines": fixed, "seconds": elapsed}
        print(json.dumps(out, indent=2))
        return
    head = f"{'point':<40} {'board':<17} {'stack':<19} {'stat':<8} {'published':>10} {'model':>10}"
    print(f"{head} {'error':>7} role")
    for r in rows:
        print(
            f"{r['id']:<40} {r['arch']:<17} {r['stack']:<19} {r['statistic']:<8} {r['published_text']:>10} "
            f"{r['model_text']:>10} {r['error']:>+7.1%} {r['role']}"
        )
    pred = [r for r in rows if r["role"] == "predict"]
    worst = max(pred, key=lambda r: abs(r["error"]))
    inside = sum(abs(r["error"]) <= TARGET_ERROR for r in pred)
    boards = sorted({r["arch"].rsplit("-", 1)[0] for r in pred})
    print(
        f"predicted: {inside} of {len(pred)} within {TARGET_ERROR:.0%} on boards {', '.join(boards)}; "
        f"worst {worst['id']} {worst['error']:+.1%}; fitted: {len(rows) - len(pred)}; {elapsed:.1f} s"
    )
    print()
    print(
        f"{'SingleStream run (mean, p90)':<40} {'board':<17} {'harness':<26} {'intercept':>9} {'slope':>12} "
        f"{'x DRAM BW':>9} {'x CPU clock':>12} {'GPU cycles/token':>16}"
    )
    for line in lines:
        cycles = "-" if line.cpu_cycles is None else f"{line.cpu_cycles / 1e6:.1f} M"
        print(
            f"{line.run:<40} {line.arch:<17} {line.harness or '-':<26} {line.intercept_s * 1e3:>6.2f} ms "
            f"{line.slope_s_per_token * 1e6:>6.1f} us/tk {line.dram_bytes / 1e9:>6.2f} GB {cycles:>12} "
            f"{line.gpu_cycles_per_token / 1e3:>14.1f} k"
        )


if __name__ == "__main__":
    main()
