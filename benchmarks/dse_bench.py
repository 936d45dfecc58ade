"""Design-sweep throughput (issue 16): design points per second of `swallowtail dse run`.

A 200-point random sweep of `fabnet-base` at L = 1,024 around `df-4x4-simd8` (mesh, SIMD lanes, clock, SPM
capacity; the memory system balanced), run by every executor configuration in a fresh process:

- **cold**: an empty store -- every point probes its kernels on the cycle-level simulator;
- **memoised**: a fresh results store that starts from the rate cache a previous run of the same sweep
  left (`rate_cache` table): what a rerun with other backends / workloads, or a second sweep over the same
  machines, pays. Rows are still simulated at the block level, point by point.

    .venv/bin/python benchmarks/dse_bench.py               # 200 points; a few minutes on 2 cores
    .venv/bin/python benchmarks/dse_bench.py --points 40   # quicker

Target (issue 16): at least 10 points/s with memoised rates on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

#: the sweep: random draws over a space around df-4x4-simd8 (seeded: the same points every run)
SWEEP = {
    "name": "dse-bench",
    "base_arch": "df-4x4-simd8",
    "params": {
        "array.rows": [2, 4, 8],
        "pe.simd_lanes": [8, 16, 32],
        "clock_hz": [0.6e9, 0.8e9, 1.0e9, 1.2e9, 1.4e9],
        "spm.size_bytes": [1048576, 2097152, 4194304, 8388608],
    },
    "tie": {"array.cols": "array.rows"},
    "workloads": [{"model": "fabnet-base", "seq_len": [1024]}],
    "backends": ["dataflow-multilayer"],
    "sampling": {"method": "random", "samples": 200, "seed": 0},
}
#: (executor, workers) configurations
CONFIGS = (("local", 1), ("local", 2), ("ray", 2))
TARGET_POINTS_PER_S = 10.0


def _run(sweep: Path, store: Path, executor: str, workers: int) -> dict:
    """`swallowtail dse run` in a fresh process (no warm in-process caches); its --json summary."""
    cmd = [sys.executable, "-m", "swallowtail", "dse", "run", str(sweep), "--store", str(store)]
    cmd += ["--backend", executor, "--workers", str(workers), "--json"]
    t0 = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    summary = json.loads(out.stdout)
    summary["wall_s"] = time.perf_counter() - t0  # includes process start and imports
    return summary


def _seed_cache(src: Path, dst: Path) -> None:
    """A new store holding only `src`'s rate cache."""
    with sqlite3.connect(src) as a:
        blobs = a.execute("SELECT dense_cost_model, blob FROM rate_cache").fetchall()
    from swallowtail.dse.store import Store

    Store(dst).close()
    with sqlite3.connect(dst) as b:
        b.executemany("INSERT INTO rate_cache VALUES (?, ?)", blobs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=int, default=200, help="points in the sweep (default 200)")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="dse-bench-"))
    try:
        sweep = work / "sweep.yaml"
        spec = {**SWEEP, "sampling": {**SWEEP["sampling"], "samples": args.points}}
        sweep.write_text(json.dumps(spec))  # JSON is YAML
        rows = []
        warm_source = None
        for executor, workers in CONFIGS:
            cold = work / f"cold-{executor}-{workers}.db"
            s = _run(sweep, cold, executor, workers)
            warm_source = warm_source or cold
            rows.append(("cold", executor, workers, s))
        for executor, workers in CONFIGS:
            warm = work / f"warm-{executor}-{workers}.db"
            _seed_cache(warm_source, warm)
            s = _run(sweep, warm, executor, workers)
            rows.append(("memoised", executor, workers, s))
        print(
            f"dse_bench: {args.points}-point random sweep of fabnet-base at L = 1024 "
            "(duplicate draws merged: every point a distinct machine)"
        )
        print(
            f"{'rates':<9} {'executor':<8} {'workers':>7} {'points':>6} {'sweep s':>8} {'points/s':>9} "
            f"{'wall s':>7}"
        )
        for mode, executor, workers, s in rows:
            pts = s["points"]
            rate = pts / s["elapsed_s"] if s["elapsed_s"] > 0 else float("inf")
            print(
                f"{mode:<9} {executor:<8} {workers:>7} {pts:>6} {s['elapsed_s']:>8.1f} {rate:>9.1f} "
                f"{s['wall_s']:>7.1f}"
            )
        best = max(r[3]["points"] / r[3]["elapsed_s"] for r in rows if r[0] == "memoised")
        verdict = "meets" if best >= TARGET_POINTS_PER_S else "misses"
        print(
            f"best memoised rate {best:.1f} points/s {verdict} the target of {TARGET_POINTS_PER_S:g} points/s"
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
