"""Whole-network simulation bench: every workload of the reproduction suite on df-4x4-simd8, both dataflows.

    .venv/bin/python benchmarks/network_bench.py [--arch df-4x4-simd8]

Prints workload, dataflow, latency, energy, utilization, FLOP efficiency, the multilayer / single-layer
speedup, and the wall time of each simulation (kernel probes are memoised across the table, so the first
workload to need a kernel shape pays for its probes).
"""

from __future__ import annotations

import argparse
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
    print(f"whole table: {time.perf_counter() - t_all:.1f} s wall")


if __name__ == "__main__":
    main()
