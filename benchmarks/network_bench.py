"""Whole-network simulation bench: every workload of the reproduction suite on df-4x4-simd8, both dataflows.

    .venv/bin/python benchmarks/network_bench.py [--arch df-4x4-simd8]

Prints workload, dataflow, latency, energy, utilization, FLOP efficiency, the multilayer / single-layer
speedup, and the wall time of each simulation (kernel probes are memoised across the table, so the first
workload to need a kernel shape pays for its probes); then the issue's speed and memory targets: the whole
table under 60 s, `fabnet-large` at L = 4096 from cold (a fresh process, no memoised probes) under 10 s per
dataflow, and peak resident memory (ru_maxrss) under 2 GB, each in its own process.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

from swallowtail.backends import get_backend
from swallowtail.workload.lower import lower

#: the workloads: fabnet-base / -large at L = 128..4096 and the LRA task configs at their lengths
WORKLOADS = [
    *[(m, L) for m in ("fabnet-base", "fabnet-large") for L in (128, 512, 1024, 4096)],
    ("lra-listops", 2048),
    ("lra-text", 4096),
    ("lra-retrieval", 4096),
    ("lra-image", 1024),
    ("lra-pathfinder", 1024),
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", default="df-4x4-simd8")
    args = ap.parse_args()
    t_all = time.perf_counter()
    hdr = (
        f"{'workload':24} {'dataflow':13} {'latency':>11} {'energy':>10} {'util':>6} {'FLOP eff':>8} "
        f"{'speedup':>8} {'wall':>7}"
    )
    print(hdr)
    print("-" * len(hdr))
    for model, L in WORKLOADS:
        w = lower(model, L)
        res = {}
        for df in ("multilayer", "single-layer"):
            t0 = time.perf_counter()
            r = get_backend(f"dataflow-{df}", arch=args.arch).run(w)
            res[df] = (r, time.perf_counter() - t0)
        sp = res["single-layer"][0].latency_s / res["multilayer"][0].latency_s
        for df, (r, wall) in res.items():
            print(
                f"{w.name:24} {df:13} {r.latency_s * 1e3:9.3f}ms {r.energy_j * 1e3:8.3f}mJ "
                f"{r.utilization:6.3f} "
                f"{r.flop_efficiency:8.3f} {(f'{sp:.2f}x' if df == 'multilayer' else ''):>8} {wall:6.2f}s"
            )
    t_table = time.perf_counter() - t_all
    rss_table = _peak_rss_mb()
    print()
    print(f"{'target':52} {'measured':>12} {'limit':>8} {'ok':>4}")
    ok_t = _ok(t_table <= TABLE_LIMIT_S)
    print(f"{'whole table, wall':52} {t_table:10.1f} s {TABLE_LIMIT_S:6.0f} s {ok_t:>4}")
    print(
        f"{'whole table, peak resident memory':52} {rss_table:9.0f} MB {RSS_LIMIT_MB:5.0f} MB "
        f"{_ok(rss_table <= RSS_LIMIT_MB):>4}"
    )
    for df in ("multilayer", "single-layer"):
        wall, rss = _cold(args.arch, df)
        print(
            f"{'fabnet-large L=4096 ' + df + ', cold process, wall':52} {wall:10.1f} s {COLD_LIMIT_S:6.0f} s "
            f"{_ok(wall <= COLD_LIMIT_S):>4}"
        )
        print(
            f"{'fabnet-large L=4096 ' + df + ', peak resident memory':52} {rss:9.0f} MB "
            f"{RSS_LIMIT_MB:5.0f} MB "
            f"{_ok(rss <= RSS_LIMIT_MB):>4}"
        )


#: the issue's targets
TABLE_LIMIT_S = 60.0
COLD_LIMIT_S = 10.0
RSS_LIMIT_MB = 2048.0

_COLD = """
import json, resource, time
from swallowtail.backends import get_backend
from swallowtail.workload.lower import lower
w = lower("fabnet-large", 4096)
t0 = time.perf_counter()
get_backend("dataflow-{df}", arch="{arch}").run(w)
wall = time.perf_counter() - t0
print(json.dumps([wall, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024]))
"""


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _ok(flag: bool) -> str:
    return "yes" if flag else "NO"


def _cold(arch: str, df: str) -> tuple[float, float]:
    """Wall time of the simulation alone (imports and lowering excluded) and the process's peak RSS."""
    out = subprocess.run(
        [sys.executable, "-c", _COLD.format(df=df, arch=arch)], check=True, capture_output=True, text=True
    ).stdout
    wall, rss = json.loads(out.strip().splitlines()[-1])
    return wall, rss


if __name__ == "__main__":
    main()
