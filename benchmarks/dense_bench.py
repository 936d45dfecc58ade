"""Dense-operator benchmark: how close each dense mapping (swallowtail.compiler.dense) runs to the simplest
bounds of the array, on the array side (the DRAM side idealised, as the network simulator's probes); and a
GEMM whose weights are 4x the SPM (weight-tiled) on the real arch, DRAM included.

    .venv/bin/python benchmarks/dense_bench.py
    .venv/bin/python benchmarks/dense_bench.py --skip-tiled     # the array-side table only

Per op: simulated cycles, and three lower bounds from the compiled Program's instruction counts --
  issue    compute instructions per PE / compute dispatch per cycle (one compute pipeline per PE)
  special  special-function instructions per PE x the special unit's initiation interval
  spm      PE loads (coefficients included) + stores of all PEs / vector accesses the SPM serves per cycle
           (bank groups / occupancy)
-- the binding one, and efficiency = bound / cycles (1 = the mapping runs at the bound). No targets: a table
to watch when a mapping changes (an efficiency that drops is a regression).

Weight-tiled GEMM (issue 15): M x K @ K x N with K x N x 2 B = TILED_WEIGHTS_X x the SPM on df-4x4-simd8, the
real DRAM side. Target: PE utilization >= TILED_UTILIZATION_TARGET, or, where the DMA binds (its roofline
bound = max(compute issue, DRAM bytes / DRAM bytes per cycle) is the DMA's), >= TILED_ROOFLINE_TARGET of that
bound.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from swallowtail.arch import load_arch
from swallowtail.compiler import compile as compile_op
from swallowtail.compiler import dataflow_arch
from swallowtail.compiler.geometry import SpmGeometry
from swallowtail.compiler.isa import COMPUTE_OPS, OPCODE_NAMES, SPECIAL_OPS
from swallowtail.compiler.model import FIXED_ASSUMPTIONS
from swallowtail.sim import run
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
#: the weight-tiled GEMM row: weights (K x N fp16) this many times the SPM of ARCH
TILED_WEIGHTS_X = 4
#: its targets (issue 15): PE utilization, or the share of the roofline bound where the DMA binds
TILED_UTILIZATION_TARGET = 0.80
TILED_ROOFLINE_TARGET = 0.90
#: its shape: 64 rows (8 row units), K = 1024 (16 k-chunks), N from the weight size (4096 on 2 MiB)
TILED_M, TILED_K = 64, 1024


def bounds(program, arch) -> dict[str, float]:
    """Lower bounds on the program's cycles (see the module docstring)."""
    counts = program.instruction_counts()  # all PEs; loads include the coefficient loads
    per_pe = {k: v / program.n_active for k, v in counts.items()}
    geo = SpmGeometry.of(arch)
    return {
        "issue": sum(per_pe.get(OPCODE_NAMES[o], 0) for o in COMPUTE_OPS)
        / FIXED_ASSUMPTIONS["compute_dispatch_per_cycle"],
        "special": sum(per_pe.get(OPCODE_NAMES[o], 0) for o in SPECIAL_OPS)
        * arch.pe.fus["special"].initiation_interval,
        "spm": (counts.get("LD", 0) + counts.get("ST", 0)) * geo.occupancy / geo.groups,
    }


def tiled_gemm_row(arch_name: str) -> dict:
    """The weight-tiled GEMM on the real arch: cycles, PE utilization, the roofline bound, the target."""
    arch = dataflow_arch(load_arch(arch_name))
    n = TILED_WEIGHTS_X * arch.spm.size_bytes // (TILED_K * 2)
    op = GEMM(f"weights {TILED_WEIGHTS_X}x SPM", m=TILED_M, k=TILED_K, n=n, b_is_weight=True)
    t0 = time.perf_counter()
    prog = compile_op(op, arch)
    out = run(prog, arch)
    wall = time.perf_counter() - t0
    tiling = prog.meta["weight_tiling"]
    compute = prog.lane_ops() / (arch.n_pes * arch.pe.simd_lanes)
    dma = sum(d.dram_bytes for d in prog.dma) / arch.dram_bytes_per_cycle
    bound, by = max((compute, "compute"), (dma, "dma"))
    util = out.result.utilization
    ok = (
        util >= TILED_UTILIZATION_TARGET
        if by == "compute"
        else bound / out.result.cycles >= TILED_ROOFLINE_TARGET
    )
    return {
        "op": op.name,
        "shape": f"{op.m}x{op.k}@{op.k}x{op.n}",
        "weights_bytes": op.k * op.n * 2,
        "spm_bytes": arch.spm.size_bytes,
        "weight_tiles": len(tiling.tiles),
        "columns_per_weight_tile": tiling.tiles_per_group * tiling.tile_cols,
        "cycles": out.result.cycles,
        "utilization": util,
        "roofline_bound": bound,
        "bound_by": by,
        "of_bound": bound / out.result.cycles,
        "target_met": ok,
        "wall_s": wall,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--arch", default=ARCH)
    ap.add_argument("--json", type=Path, default=None, help="write the rows to this JSON file")
    ap.add_argument("--skip-tiled", action="store_true", help="skip the weight-tiled GEMM (about 15 s)")
    args = ap.parse_args(argv)
    arch = array_side_arch(dataflow_arch(load_arch(args.arch)))
    lanes = arch.pe.simd_lanes * arch.n_pes
    print(f"array side of {args.arch} (DRAM idealised); cycles per vector = cycles x PEs x lanes / elements")
    head = ("op", "shape", "cycles", "per vec", "bound", "by", "eff", "wall")
    print("{:16} {:>22} {:>10} {:>8} {:>10} {:>8} {:>6} {:>6}".format(*head))
    rows = []
    for op in OPS:
        t0 = time.perf_counter()
        prog = compile_op(op, arch)
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
    status = 0
    if not args.skip_tiled:
        t = tiled_gemm_row(args.arch)
        print(
            f"\nweight-tiled GEMM on {args.arch} (DRAM included): {t['shape']}, weights "
            f"{t['weights_bytes'] / t['spm_bytes']:.0f}x the SPM in {t['weight_tiles']} weight tiles of "
            f"{t['columns_per_weight_tile']} columns: {t['cycles']:,} cycles, PE utilization "
            f"{t['utilization']:.3f}, "
            f"{t['of_bound']:.2f} of its roofline bound ({t['bound_by']}); target "
            f"{'met' if t['target_met'] else 'MISSED'} ({t['wall_s']:.1f}s)"
        )
        rows.append(t)
        status = 0 if t["target_met"] else 1
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return status


if __name__ == "__main__":
    raise SystemExit(main())
