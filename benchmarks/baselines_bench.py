"""Every baseline on the paper's networks: latency, energy and how long the model itself takes to run.

    .venv/bin/python benchmarks/baselines_bench.py            # a table (models x sequence lengths x targets)
    .venv/bin/python benchmarks/baselines_bench.py --json     # the same as JSON

The attention accelerators appear twice: as published and scaled to the peak of df-4x4-simd8 (the paper's
"same peak performance" comparison). The GPU model's validation against published measurements is
`benchmarks/gpu_validation.py`.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from swallowtail.backends import get_backend
from swallowtail.workload.lower import lower

MODELS = ("fabnet-base", "transformer")
SEQ_LENS = (512, 4096)
#: (label, backend name, options)
TARGETS: list[tuple[str, str, dict[str, Any]]] = [
    ("xavier-nx-15w / tensorrt-fp16", "jetson", {"stack": "tensorrt-fp16"}),
    ("xavier-nx-15w / pytorch-eager-fp32", "jetson", {"stack": "pytorch-eager-fp32"}),
    ("agx-orin-maxn / tensorrt-fp16", "jetson", {"arch": "agx-orin-maxn", "stack": "tensorrt-fp16"}),
    ("fabnet-be40", "fabnet-be40", {}),
    ("fabnet-be120", "fabnet-be120", {}),
    ("fabnet-be120-ddr3", "fabnet-be120-ddr3", {}),
    ("sanger", "sanger", {}),
    ("sanger @ df-4x4-simd8 peak", "sanger", {"same_peak_as": "df-4x4-simd8"}),
    ("spatten", "spatten", {}),
    ("spatten @ df-4x4-simd8 peak", "spatten", {"same_peak_as": "df-4x4-simd8"}),
    ("systolic 16x8", "systolic", {}),
]


def rows() -> list[dict[str, Any]]:
    out = []
    for model in MODELS:
        for seq in SEQ_LENS:
            w = lower(model, seq)
            for label, name, options in TARGETS:
                t0 = time.perf_counter()
                r = get_backend(name, **options).run(w)
                out.append(
                    {
                        "model": model,
                        "seq_len": seq,
                        "target": label,
                        "latency_s": r.latency_s,
                        "energy_j": r.energy_j,
                        "flop_efficiency": r.flop_efficiency,
                        "model_runtime_s": time.perf_counter() - t0,
                    }
                )
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--json", action="store_true", help="print JSON")
    args = ap.parse_args()
    data = rows()
    if args.json:
        print(json.dumps({"rows": data}, indent=2))
        return
    print(f"{'model':<12} {'L':>5} {'target':<36} {'latency':>12} {'energy':>12} {'FLOP eff':>9} {'run':>8}")
    for r in data:
        print(
            f"{r['model']:<12} {r['seq_len']:>5} {r['target']:<36} {r['latency_s'] * 1e3:>9.3f} ms "
            f"{r['energy_j']:>10.4g} J {r['flop_efficiency']:>9.3f} {r['model_runtime_s'] * 1e3:>6.1f}ms"
        )


if __name__ == "__main__":
    main()
