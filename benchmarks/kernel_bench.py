"""Kernel benchmark: mapping quality of the multilayer dataflow vs the single-layer baseline, simulator
speed, and (with --functional) the full value-verification grid.

    .venv/bin/python benchmarks/kernel_bench.py                 # quality table + speed (a few minutes)
    .venv/bin/python benchmarks/kernel_bench.py --functional    # + the n = 2^4 .. 2^13, rows {1, 7, 64} grid
    .venv/bin/python benchmarks/kernel_bench.py --quick         # n in {256, 4096} only

Targets (issue 4): on df-4x4-simd8, multilayer, rows >= 64: utilization >= 0.80 for butterfly and FFT at
every n from 256 to 8192, and >= 3x the single-layer utilization on the same kernel; `swallowtail kernel
--op butterfly --n 4096 --rows 256 --verify` under 10 s on one core (run the bench under `taskset -c 0`).
A missed target prints which resource binds (the largest stall cause) and the fixed costs (pipeline fill
and drain).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from swallowtail.arch import load_arch
from swallowtail.sim import simulate_kernel
from swallowtail.workload.ops import FFT, Butterfly

ARCH = "df-4x4-simd8"
UTILIZATION_TARGET = 0.80
RATIO_TARGET = 3.0
SIZES = [256, 512, 1024, 2048, 4096, 8192]
ROWS = [64, 256]
FUNCTIONAL_SIZES = [2**k for k in range(4, 14)]
FUNCTIONAL_ROWS = [1, 7, 64]


def make_op(kind: str, n: int, rows: int):
    return Butterfly("butterfly", n=n, rows=rows) if kind == "butterfly" else FFT("fft", n=n, rows=rows)


def why_missed(out) -> str:
    st = out.stats.stalls
    total = sum(st.values()) or 1
    top = sorted(st.items(), key=lambda kv: -kv[1])[:2]
    arch = load_arch(ARCH)
    fill_drain = (st.get("drain", 0) + st.get("dma", 0)) / out.program.n_active
    parts = ", ".join(f"{k} {v / total:.0%} of stall cycles" for k, v in top)
    return (
        f"binds: {parts}; pipeline fill + drain ~{fill_drain:.0f} cycles per PE of {out.stats.cycles} "
        f"({fill_drain / out.stats.cycles:.0%}; DRAM latency {arch.dma.latency_cycles} cycles at each end)"
    )


def quality(sizes: list[int], rows_list: list[int]) -> list[dict]:
    rows_out = []
    hdr = (
        f"{'op':9} {'n':>5} {'rows':>4} {'dataflow':12} {'cycles':>9} {'util':>6} {'FLOP eff':>8} "
        f"{'top stall':>10} {'ratio':>6}"
    )
    print(hdr)
    print("-" * len(hdr))
    for rows in rows_list:
        for n in sizes:
            for kind in ("butterfly", "fft"):
                res = {}
                for df in ("multilayer", "single-layer"):
                    t0 = time.perf_counter()
                    out = simulate_kernel(make_op(kind, n, rows), ARCH, df)
                    wall = time.perf_counter() - t0
                    st = out.stats.stalls
                    top = max(st, key=lambda k: st[k])
                    res[df] = out
                    r = out.result
                    row = {
                        "op": kind,
                        "n": n,
                        "rows": rows,
                        "dataflow": df,
                        "cycles": r.cycles,
                        "utilization": round(r.utilization, 4),
                        "flop_efficiency": round(r.flop_efficiency, 4),
                        "top_stall": top,
                        "block": out.program.plan.block,
                        "stages_per_pass": [p.k for p in out.program.plan.passes],
                        "sim_wall_s": round(wall, 2),
                    }
                    if df == "single-layer":
                        row["ratio"] = round(res["multilayer"].stats.utilization / out.stats.utilization, 2)
                    rows_out.append(row)
                    ratio = f"{row['ratio']:6.2f}" if "ratio" in row else " " * 6
                    print(
                        f"{kind:9} {n:>5} {rows:>4} {df:12} {r.cycles:>9,} {r.utilization:6.3f} "
                        f"{r.flop_efficiency:8.3f} {top:>10} {ratio}",
                        flush=True,
                    )
                ml = res["multilayer"]
                u = ml.stats.utilization
                ratio = u / res["single-layer"].stats.utilization
                if u < UTILIZATION_TARGET or ratio < RATIO_TARGET:
                    print(f"  ^ target missed (util {u:.3f}, ratio {ratio:.2f}): {why_missed(ml)}")
    return rows_out


#: the issue's speed target for the CLI command, seconds on one core
CLI_LIMIT_S = 10.0


def speed() -> dict:
    t0 = time.perf_counter()
    out = simulate_kernel(make_op("butterfly", 4096, 256), ARCH, "multilayer", verify=True)
    wall = time.perf_counter() - t0
    ts = out.stats.timing
    d = {
        "case": "butterfly n=4096 rows=256 --verify",
        "wall_s": round(wall, 2),
        "timing_engine_s": round(ts.wall_s, 2),
        "cycles": out.stats.cycles,
        "simulated_cycles_per_s": round(out.stats.cycles / ts.wall_s),
        "exact_iterations": ts.exact_iterations,
        "fast_forwarded_iterations": ts.skipped_iterations,
        "verify": out.verify.describe(),
    }
    print(
        f"\nspeed: {d['case']}: {wall:.2f} s wall (timing engine {ts.wall_s:.2f} s, "
        f"{d['simulated_cycles_per_s']:,} simulated cycles/s; {ts.exact_iterations} iterations exact, "
        f"{ts.skipped_iterations} fast-forwarded)\n  {d['verify']}"
    )
    # the target: the command itself, from a fresh process (imports, compile, values, verification)
    cli = Path(sys.executable).with_name("swallowtail")
    cmd = [str(cli), "kernel", "--op", "butterfly", "--n", "4096", "--rows", "256", "--verify", "--json"]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    d["cli_cold_wall_s"] = round(time.perf_counter() - t0, 2)
    ok = "yes" if d["cli_cold_wall_s"] <= CLI_LIMIT_S else "NO"
    shown = " ".join(["swallowtail", *cmd[1:]])
    print(f"  `{shown}`, fresh process: {d['cli_cold_wall_s']:.2f} s (limit {CLI_LIMIT_S:.0f} s) {ok}")
    return d


def functional() -> list[dict]:
    print(f"\n{'op':9} {'n':>5} {'rows':>4} {'dataflow':12} {'max err':>9} {'bound':>9} {'|err|/|y|':>9} ok")
    out_rows = []
    for kind in ("butterfly", "fft"):
        for n in FUNCTIONAL_SIZES:
            for rows in FUNCTIONAL_ROWS:
                for df in ("multilayer", "single-layer"):
                    out = simulate_kernel(make_op(kind, n, rows), ARCH, df, verify=True, seed=n * 131 + rows)
                    v = out.verify
                    out_rows.append(
                        {
                            "op": kind,
                            "n": n,
                            "rows": rows,
                            "dataflow": df,
                            "max_err": v.max_rel_err,
                            "bound": v.bound,
                            "normwise": v.normwise_rel_err,
                            "ok": v.ok,
                        }
                    )
                    print(
                        f"{kind:9} {n:>5} {rows:>4} {df:12} {v.max_rel_err:9.2e} {v.bound:9.2e} "
                        f"{v.normwise_rel_err:9.2e} {'PASS' if v.ok else 'FAIL'}",
                        flush=True,
                    )
    fails = [r for r in out_rows if not r["ok"]]
    print(f"functional grid: {len(out_rows) - len(fails)} / {len(out_rows)} verified")
    return out_rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="n in {256, 4096} only")
    ap.add_argument("--functional", action="store_true", help="also run the full verification grid")
    ap.add_argument("--json", type=Path, default=None, help="write all results to this JSON file")
    args = ap.parse_args(argv)
    sizes = [256, 4096] if args.quick else SIZES
    results = {"arch": ARCH, "quality": quality(sizes, ROWS), "speed": speed()}
    if args.functional:
        results["functional"] = functional()
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    ml = [r for r in results["quality"] if r["dataflow"] == "single-layer"]
    missed = [
        r
        for r in results["quality"]
        if r["dataflow"] == "multilayer" and r["utilization"] < UTILIZATION_TARGET
    ] + [r for r in ml if r["ratio"] < RATIO_TARGET]
    print(f"\ntargets: {len(missed)} misses (utilization >= {UTILIZATION_TARGET}, ratio >= {RATIO_TARGET}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
