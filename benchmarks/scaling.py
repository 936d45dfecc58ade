"""Scaling benchmark (issue 16): does each larger dataflow preset turn its 4x peak into speed?

Latency of every `df-*` preset relative to `df-4x4-simd8` on one butterfly (n = 1024, 2,048 rows), one FFT
(n = 4096, 256 rows: an LRA-Text-sized mixing), one GEMM (a fabnet-large FFN projection at 1,024 tokens) and
the whole fabnet-large network at 1,024 tokens, each through the whole-network simulator
(`get_backend("dataflow-multilayer", arch=...)`), with the resource each one is bound by (the block level's
`OpResult.bound`, measured by the cycle-level probes: compute, spm, noc or dram; the network's row is its
op whose bound holds the most latency, with that share).

    .venv/bin/python benchmarks/scaling.py            # the table (about a minute per preset)
    .venv/bin/python benchmarks/scaling.py --quick    # without the whole network

A balanced preset (`df-4x4-simd32`, `df-8x8-simd8`: 4x the FLOPs and 4x the SPM / DRAM bytes per cycle)
should reach close to 4x where the kernel is compute-bound and stay bound by the same resource.
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict

from swallowtail.backends import get_backend
from swallowtail.workload.graph import Workload
from swallowtail.workload.lower import lower
from swallowtail.workload.ops import FFT, GEMM, Butterfly

#: the presets compared, the first one the reference
PRESETS = ("df-4x4-simd8", "df-4x4-simd32", "df-8x8-simd8")
#: fabnet-large's hidden size and FFN width (FABNet, MICRO 2022: BERT-Large shaped) and the sequence length
FABNET_LARGE_HIDDEN = 1024
FABNET_LARGE_FFN = 4096
SEQ_LEN = 1024
#: the brief's butterfly: n = 1024 over 2,048 rows; the FFT of an LRA-Text mixing: 4,096 tokens, 256 rows
BUTTERFLY_N, BUTTERFLY_ROWS = 1024, 2048
FFT_N, FFT_ROWS = 4096, 256


def workloads(quick: bool) -> dict[str, Workload]:
    """The benchmark's workloads by row label."""
    out = {
        f"butterfly n={BUTTERFLY_N} x {BUTTERFLY_ROWS}": Workload(
            "butterfly", (Butterfly("bfly", n=BUTTERFLY_N, rows=BUTTERFLY_ROWS),)
        ),
        f"fft n={FFT_N} x {FFT_ROWS}": Workload("fft", (FFT("fft", n=FFT_N, rows=FFT_ROWS),)),
        f"gemm {SEQ_LEN}x{FABNET_LARGE_HIDDEN}x{FABNET_LARGE_FFN}": Workload(
            "gemm",
            (GEMM("ffn", m=SEQ_LEN, k=FABNET_LARGE_HIDDEN, n=FABNET_LARGE_FFN, b_is_weight=True),),
        ),
    }
    if not quick:
        out[f"fabnet-large L={SEQ_LEN} (whole)"] = lower("fabnet-large", SEQ_LEN)
    return out


def bound_of(result) -> str:
    """The bound of a one-op workload; of a network, the bound holding the largest share of op latency."""
    share: dict[str, float] = defaultdict(float)
    for op in result.ops:
        share[op.bound or "?"] += op.latency_s
    total = sum(share.values()) or 1.0
    top = max(share, key=lambda k: share[k])
    return top if len(result.ops) == 1 else f"{top} ({share[top] / total:.0%})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="leave out the whole fabnet-large network")
    args = ap.parse_args()
    rows = workloads(args.quick)
    base: dict[str, float] = {}
    print(f"{'workload':34s} {'preset':15s} {'latency us':>11s} {'speedup':>8s} {'util':>5s}  bound")
    for label, w in rows.items():
        for preset in PRESETS:
            t0 = time.time()
            r = get_backend("dataflow-multilayer", arch=preset).run(w)
            base.setdefault(label, r.latency_s)
            util = f"{r.utilization:.2f}" if r.utilization is not None else "-"
            print(
                f"{label:34s} {preset:15s} {r.latency_s * 1e6:11.1f} {base[label] / r.latency_s:7.2f}x "
                f"{util:>5s}  {bound_of(r)}   [{time.time() - t0:.0f} s]",
                flush=True,
            )


if __name__ == "__main__":
    main()
