"""Could the GPU clock governor have made the Xavier NX's fastest BERT queries fast and its others slow?

    .venv/bin/python benchmarks/dvfs_governor.py          # every Xavier BERT SingleStream run (1-2 min)
    .venv/bin/python benchmarks/dvfs_governor.py --json

The shipped model puts every Xavier NX run's fastest query 60-89 % too slow (the harness file's open
question). A clock the governor lowers cannot make a query faster than the top clock does, so DVFS can answer
it only one way: the time beside the GPU is no more than what the fastest query leaves at the top clock, and
the governor holds the GPU below its top clock for the other queries. This replays each run under the
sourced governor (`swallowtail.baselines.dvfs`, nvhost_podgov of L4T R32.4.3-R32.6.1, started as nvgpu starts
it, after a 10 s warm-up) with that host time (the run's published minimum less the model's GPU time for its
shortest query at the top clock: the one published number each row reads, disclosed) and the shipped INT8
GEMM efficiency, for a range of the GPU's busy reading while it runs a query (1: busy for the whole GPU
phase), and prints the share of the run at the mode's top clock and at its most-held clock, and the run's
statistics against the published ones. The EMC clock is held at the mode's maximum.
"""

from __future__ import annotations

import argparse
import functools
import json

from swallowtail.arch.specs import GPUArch, load_arch
from swallowtail.baselines.dvfs import CLOCK_STEPS_HZ, MIN_CLOCK_HZ, GovernedRun, simulate
from swallowtail.baselines.jetson import JetsonBackend
from swallowtail.baselines.scenarios import load_lengths
from swallowtail.baselines.validation import TARGET_ERROR, PublishedPoint, load_points, single_stream_runs
from swallowtail.workload.named import named_workload

HARNESS = "mlperf-nvidia-bert-xavier"
STACK = "tensorrt-int8"
#: the GPU's busy fraction while it runs a query, as the governor reads it
BUSY = (1.0, 0.9, 0.8, 0.75, 0.72, 0.68, 0.6)
STATS = ("min", "p50", "mean", "p90", "p99", "max")
BOARDS = ("xavier-nx", "agx-xavier")


def gpu_arch(name: str) -> GPUArch:
    a = load_arch(name)
    assert isinstance(a, GPUArch)
    return a


def steps_hz(arch: GPUArch) -> list[float]:
    """The clock table of the board within the mode's floor and its top clock (which must be a step)."""
    table = CLOCK_STEPS_HZ[arch.board]
    top = arch.mode.gpu_clock_hz
    if not any(abs(f - top) < 1 for f in table):
        raise SystemExit(f"{arch.name}: top clock {top / 1e6} MHz is not a step of the {arch.board} table")
    return [f for f in table if MIN_CLOCK_HZ[arch.board] <= f <= top + 1]


@functools.cache
def gpu_seconds(arch: str, n: int, clock_hz: float) -> float:
    """The shipped GPU model's time for one `n`-token BERT-Large query at a GPU clock (no harness)."""
    a = gpu_arch(arch)
    at = a.with_overrides({f"power_modes.{a.default_mode}.gpu_clock_hz": clock_hz})
    return JetsonBackend(at, stack=STACK).run(named_workload("bert-large", seq_len=n)).latency_s


def replay(run: dict[str, PublishedPoint], busy: float) -> tuple[float, GovernedRun]:
    lo = run["min"]
    assert lo.lengths is not None  # a SingleStream point names its distribution
    dist = load_lengths(lo.lengths)
    a = gpu_arch(lo.arch)
    steps = steps_hz(a)
    host_s = max(0.0, lo.value - gpu_seconds(lo.arch, dist.lengths[0], steps[-1]))
    gov = simulate(lambda n, f: gpu_seconds(lo.arch, n, f), dist, steps, host_s, busy_fraction=busy)
    return host_s, gov


def rows() -> list[dict[str, object]]:
    points = [p for p in load_points() if p.harness == HARNESS and p.scenario == "single-stream"]
    out = []
    for run_id, run in single_stream_runs(points).items():
        if "min" not in run:
            continue
        for busy in BUSY:
            host_s, gov = replay(run, busy)
            top = steps_hz(gpu_arch(run["min"].arch))[-1]
            out.append(
                {
                    "run": run_id,
                    "arch": run["min"].arch,
                    "busy_fraction": busy,
                    "host_s": host_s,
                    "host_cpu_cycles": host_s * gpu_arch(run["min"].arch).mode.cpu_clock_hz,
                    "top_clock_hz": top,
                    "share_at_top": gov.share_at(top),
                    "mean_clock_hz": sum(f * s for f, s in gov.clock_share),
                    "share_at_modal": max(s for _, s in gov.clock_share),
                    "modal_clock_hz": max(gov.clock_share, key=lambda fs: fs[1])[0],
                    "queries": len(gov.latencies_s),
                    "errors": {s: gov.statistic(s) / run[s].value - 1 for s in STATS if s in run},
                }
            )
    return out


HEAD = ("SingleStream run", "busy", "host", "x CPU clk", "at top", "modal", "mean clock")


def _print_runs(table: list[dict[str, object]]) -> None:
    print("{:<35} {:>4} {:>8} {:>9} {:>7} {:>6} {:>10}  ".format(*HEAD), end="")
    print("  ".join(f"{s:>6}" for s in STATS))
    for r in table:
        errs: dict[str, float] = r["errors"]  # type: ignore[assignment]
        print(
            f"{r['run']:<35} {r['busy_fraction']:>4.2f} {r['host_s'] * 1e3:>5.2f} ms "
            f"{r['host_cpu_cycles'] / 1e6:>7.1f} M {r['share_at_top']:>6.1%} "
            f"{r['share_at_modal']:>6.1%} "
            f"{r['mean_clock_hz'] / 1e6:>6.0f} MHz  "
            + "  ".join(f"{errs[s]:>+6.1%}" if s in errs else f"{'-':>6}" for s in STATS)
        )


def _print_summary(table: list[dict[str, object]]) -> None:
    print(f"{'busy':>4}  {'board':<10} {'within 20 % (not min)':>21}  {'at top clock':>13}  ", end="")
    print(f"{'at its modal clock':>18}")
    for busy in BUSY:
        for board in BOARDS:
            rs = [r for r in table if r["busy_fraction"] == busy and str(r["arch"]).startswith(board)]
            errors = [e for r in rs for s, e in r["errors"].items() if s != "min"]  # type: ignore[attr-defined]
            top = [float(r["share_at_top"]) for r in rs]  # type: ignore[arg-type]
            modal = [float(r["share_at_modal"]) for r in rs]  # type: ignore[arg-type]
            within = sum(abs(e) <= TARGET_ERROR for e in errors)
            print(
                f"{busy:>4.2f}  {board:<10} {within:>11} of {len(errors):<7}  "
                f"{min(top):>5.1%}-{max(top):>6.1%}  {min(modal):>10.1%}-{max(modal):>6.1%}"
            )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--json", action="store_true", help="print JSON")
    args = ap.parse_args()
    table = rows()
    if args.json:
        print(json.dumps(table, indent=2, sort_keys=True))
    else:
        _print_runs(table)
        print()
        _print_summary(table)


if __name__ == "__main__":
    main()
