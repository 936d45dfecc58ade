"""Dense-operator benchmark: how close each dense mapping (compiler/dense_program.py) runs to the simplest
bounds of the array, on the array side (the DRAM side idealised, as the network simulator's probes).

    .venv/bin/python benchmarks/dense_bench.py

Per op: simulated cycles, and three lower bounds from the compiled Program's instruction counts --
  issue    compute instructions per PE / compute dispatch per cycle (one compute pipeline per PE)
  special  special-function instructions per PE x the special unit's initiation interval
  spm      PE loads (coefficients included) + stores of all PEs / vector accesses the SPM serves per cycle
           (bank groups / occupancy)
-- the binding one, and efficiency = bound / cycles (1 = the mapping runs at the bound). No targets: a table
to watch when a mapping changes (an efficiency that drops is a regression).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from swallowtail.arch import load_arch
from swallowtail.compiler import dataflow_arch
from swallowtail.compiler.dense_program import compile_dense
from swallowtail.compiler.geometry import SpmGeometry
from swallowtail.compiler.kernels import COMPUTE_OPS, OPCODE_NAMES, SPECIAL_OPS
from swallowtail.sim.network import array_side_arch
from swallowtail.sim.timing import simulate_timing
from swallowtail.workload import GEMM, Elementwise, LayerNorm, Softmax

ARCH = "df-4x4-simd8"
#: shapes of a fabnet-base-like attention block at L = 1024 (d_model 768, 12 heads of 64), rows cut to keep
#: the table quick (the per-vector rates are those of the steady state)
OPS = [
    GEMM("q k^T", m=256, k=64, n=1024, batch=2),
    GEMM("s v", m=256, k=1024, n=64, batch=2),
    GEMM("projection", m=128, k=768, n=256, b_is_weight=True),
    Softmax("softmax L=64", rows=1024, n=64),
    Softmax("softmax L=1024", rows=256, n=1024),
    Softmax("softmax L=4096", rows=128, n=4096),
    LayerNorm("layernorm d=64", rows=1024, n=64),
    LayerNorm("layernorm d=768", rows=256, n=768),
    Elementwise("gelu", op="gelu", numel=256 * 3072),
    Elementwise("residual add", op="add", numel=256 * 768, operands=2),
]


def bounds(program, arch) -> dict[str, float]:
    """Lower bounds on the program's cycles (see the module docstring)."""
    counts = program.instruction_counts()  # all PEs; loads include the coefficient loads
    per_pe = {k: v / program.n_active for k, v in counts.items()}
    geo = SpmGeometry.of(arch)
    return {
        "issue": sum(per_pe.get(OPCODE_NAMES[o], 0) for o in COMPUTE_OPS)
        / program.model.compute_dispatch_per_cycle,
        "special": sum(per_pe.get(OPCODE_NAMES[o], 0) for o in SPECIAL_OPS)
        * arch.pe.fus["special"].initiation_interval,
        "spm": (counts.get("LD", 0) + counts.get("ST", 0)) * geo.occupancy / geo.groups,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--arch", default=ARCH)
    ap.add_argument("--json", type=Path, default=None, help="write the rows to this JSON file")
    args = ap.parse_args(argv)
    arch = array_side_arch(dataflow_arch(load_arch(args.arch)))
    lanes = arch.pe.simd_lanes * arch.n_pes
    print(f"array side of {args.arch} (DRAM idealised); cycles per vector = cycles x PEs x lanes / elements")
    head = ("op", "shape", "cycles", "per vec", "bound", "by", "eff", "wall")
    print("{:16} {:>22} {:>10} {:>8} {:>10} {:>8} {:>6} {:>6}".format(*head))
    rows = []
    for op in OPS:
        t0 = time.perf_counter()
        prog = compile_dense(op, arch)
        cycles = simulate_timing(prog, arch).cycles
        wall = time.perf_counter() - t0
        b = bounds(prog, arch)
        by = max(b, key=b.get)
        elems = op.output_elems
        shape = "x".join(str(d) for d in op.output_shape)
        row = {
            "op": op.name,
            "shape": shape,
            "cycles": cycles,
            "cycles_per_vector": cycles * lanes / elems,
            "bounds": b,
            "bound_by": by,
            "efficiency": b[by] / cycles,
        }
        rows.append(row)
        print(
            f"{op.name:16} {shape:>22} {cycles:>10,} {row['cycles_per_vector']:8.2f} {b[by]:>10,.0f} {by:>8} "
            f"{row['efficiency']:6.2f} {wall:5.1f}s",
            flush=True,
        )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
