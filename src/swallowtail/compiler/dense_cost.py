"""Analytic per-PE cost models of the dense operators (no instructions: closed-form cycles and action counts
from the arch's rates), with value models of the mapped algorithms.

The dense operators of the network (the attention GEMMs, dense projections, softmax, LayerNorm, GELU, bias /
residual adds, scaling) have instruction-level Programs that the cycle-level simulator runs
(`swallowtail.compiler.dense`, compiled by `swallowtail.compiler.compile`); the block-level simulator costs
them from those. The analytic models here remain for what has no program of its own -- epilogues fused into
a producer's registers, the radix-3 combine pass of a mixed-radix FFT -- and for comparison
(`swallowtail.sim.network.DENSE_COST_MODEL = "analytic"`; the programs cost 1.15-2x these, mostly DMA fill /
drain and SPM traffic the models leave out).
They are built from the same arch parameters (FU issue and initiation interval, SPM bytes per cycle, RF size,
SIMD lanes); every model constant is a named module constant, those the arch does not give marked
"assumption".

Mappings (rows are distributed over the PEs; SIMD lanes run along a row's vectors):

- GEMM, output-stationary: a PE owns a tile of TM output rows x TN vectors (TN x lanes output columns)
  held in TM x TN accumulator registers; per k step it loads TN vectors of B and ceil(TM / lanes) vectors
  of packed A scalars from the SPM and issues TM x TN FMAs whose A operand is one lane of a register
  ("by element", `compiler.model.FIXED_ASSUMPTIONS`). The k-reduction stays in the RF. Tiles are dealt
  round-robin to the PEs (the last round may leave PEs idle: load imbalance is counted).
- Softmax over a row: max (ADD-class compares + an in-register lane reduction), x - max (ADD), exp
  (special FU), sum (ADD + lane reduction), one reciprocal (special), scale (MUL). The special FU accepts
  one instruction every `pe.fus.special.initiation_interval` cycles.
- LayerNorm over a row: sum (ADD + reduction), mean (MUL), centre (SUB), variance (FMA + reduction),
  rsqrt (special), y = c * rstd * gamma + beta (MUL, FMA).
- GELU (tanh form, as the network: `swallowtail.nn.blocks.GELU_APPROXIMATE`):
  a = x*x; b = a*(c1*k) + k; c = x*b; t = tanh(c); h = 0.5*x; y = h*t + h  (5 FMA-class, 1 special;
  k, c1: `swallowtail.flops.GELU_K`, `GELU_C1`).
- add / mul / scale / relu: one vector instruction per vector; affine (inference BatchNorm, x * s_c + b_c):
  two. Pools (max / average over a window of r inputs): r - 1 ADD-class per output vector (+ one MUL for an
  average); they and affine have no dense Program, so the block-level simulator costs them here.

A PE dispatches one compute vector instruction per cycle (`compiler.model.FIXED_ASSUMPTIONS`);
the special FU additionally limits to one issue per initiation interval. An op's array cycles are
the largest of: dispatch slots per PE, special-FU occupancy per PE, and SPM bytes / SPM bytes per cycle
(operands that come from the producer's registers -- a fused epilogue -- and results that go straight into
the consumer's registers do not touch the SPM). `value_*` functions compute the mapped algorithm in numpy
with fp16 storage and fp32 accumulation in the mapping's order (tests compare them with torch).

Mixed-radix FFT (n = 3 x 2^k, e.g. the hidden-axis FFT of FNet mixing at d = 768): decimation in time by 3:
the three sub-sequences x[3m + r] get radix-2 FFTs of length 2^k on the butterfly compiler (costed by the
cycle-level simulator), then one combine pass multiplies by twiddles W_n^{rk} and does a radix-3 DFT per
group (`RADIX3_COMBINE_SLOTS` lane-instructions per 3 complex outputs). Zero padding to 1024 would compute a
different transform, so it is not used. `value_fft_mixed3` checks the decomposition against numpy's DFT.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from swallowtail.arch.specs import DataflowArch
from swallowtail.compiler.model import ELEM_BYTES
from swallowtail.errors import SpecError
from swallowtail.flops import GELU_C1, GELU_K, ceil_div
from swallowtail.workload.ops import GEMM, Elementwise, LayerNorm, Op, Softmax
from swallowtail.workload.structured import BlockSparseMatmul

#: assumption: a lane reduction (sum / max of the lanes of one vector) costs log2(lanes) ADD-class
#: instructions (a lane-rotate folded into the add's second operand, as a shuffle network in the ADD path)
REDUCTION_PER_LEVEL = 1
#: assumption: registers a GEMM tile may use for accumulators (the rest: double-buffered A / B operands)
GEMM_ACC_FRACTION = 0.75
#: GEMM tile candidates (rows TM, vectors TN): compiler policy, searched for the fewest cycles
GEMM_TILE_ROWS = (4, 8, 16, 32)
GEMM_TILE_VECS = (1, 2, 4, 8, 16)
#: vector instructions per vector of elements for each elementwise op: (fma-class, add-class, special)
ELEMENTWISE_INSTRS: dict[str, tuple[int, int, int]] = {
    "add": (0, 1, 0),
    "mul": (1, 0, 0),
    "scale": (1, 0, 0),
    "relu": (0, 1, 0),  # max(x, 0) on the ADD unit
    "gelu": (5, 0, 1),  # tanh form, see the module docstring
    "affine": (1, 1, 0),  # x * s_c + b_c (inference BatchNorm): MUL by element, ADDK by element
}
#: a pool over a window of r inputs, per output vector: r - 1 MAX / ADD on the ADD unit, + this many
#: fma-class MULs (the 1 / r of an average). Analytic only: the window's strided gathers are not modelled.
POOL_SCALE_MULS = {"maxpool": 0, "avgpool": 1}
#: lane-instructions per group of 3 complex outputs in the radix-3 combine pass: 2 complex twiddle
#: multiplies (4 each) + 6 adds (x1 + x2, x1 - x2, x0 + t) + 6 FMA-class (x0 - t / 2, the +-j sin 60 terms)
RADIX3_COMBINE_SLOTS = 20


@dataclass
class DenseCost:
    """What one dense op costs on the array (array side: PEs + SPM; the DRAM is the network model's)."""

    cycles: int
    bound: str  # compute | special | spm
    instrs: dict[str, int]  # vector instructions by FU class: fma / add / special
    lane_ops: int  # useful lane-instructions (the op's own elements, not padding lanes)
    spm_read_bytes: int
    spm_write_bytes: int
    rf_read_bytes: int
    rf_write_bytes: int
    detail: dict[str, float | int | str] = field(default_factory=dict)

    @property
    def actions(self) -> dict[str, int]:
        lanes_per = self.detail.get("lanes", 1)
        assert isinstance(lanes_per, int)
        total = sum(self.instrs.values())
        frac = self.lane_ops / (total * lanes_per) if total else 0.0
        return {
            "fma_lane_ops": round(self.instrs.get("fma", 0) * lanes_per * frac),
            "add_lane_ops": round(self.instrs.get("add", 0) * lanes_per * frac),
            "special_lane_ops": round(self.instrs.get("special", 0) * lanes_per * frac),
            "instructions": total + (self.spm_read_bytes + self.spm_write_bytes) // (lanes_per * ELEM_BYTES),
            "rf_read_bytes": self.rf_read_bytes,
            "rf_write_bytes": self.rf_write_bytes,
            "noc_byte_hops": 0,
            "spm_read_bytes": self.spm_read_bytes,
            "spm_write_bytes": self.spm_write_bytes,
        }


def _finish(
    arch: DataflowArch,
    instrs: dict[str, int],
    per_pe_dispatch: float,
    per_pe_special: float,
    lane_ops: int,
    spm_r: int,
    spm_w: int,
    rf_reads_vec: int,
    detail: dict,
) -> DenseCost:
    lanes = arch.pe.simd_lanes
    vec = lanes * ELEM_BYTES
    sp = arch.pe.fus["special"]
    terms = {
        "compute": per_pe_dispatch,
        "special": per_pe_special * sp.initiation_interval / sp.issue_per_cycle,
        "spm": (spm_r + spm_w) / arch.spm.bytes_per_cycle,
    }
    bound = max(terms, key=lambda k: terms[k])
    # pipeline depth: the deepest FU latency once per op (the loops are software-pipelined)
    depth = max(f.latency for f in arch.pe.fus.values())
    cycles = math.ceil(terms[bound]) + depth
    total = sum(instrs.values())
    detail = {**detail, "lanes": lanes, **{f"cycles_{k}": round(v, 1) for k, v in terms.items()}}
    return DenseCost(
        cycles=cycles,
        bound=bound,
        instrs=instrs,
        lane_ops=lane_ops,
        spm_read_bytes=spm_r,
        spm_write_bytes=spm_w,
        rf_read_bytes=rf_reads_vec * vec + spm_w,
        rf_write_bytes=total * vec + spm_r,
        detail=detail,
    )


def gemm_tile(op: GEMM, arch: DataflowArch) -> tuple[int, int, float, float]:
    """(TM, TN, per-PE compute cycles, per-PE SPM-bound cycles) of the best output-stationary tile."""
    lanes = arch.pe.simd_lanes
    vec = lanes * ELEM_BYTES
    regs = arch.pe.register_file.entries
    nvec = ceil_div(op.n, lanes)
    best = None
    for tm in GEMM_TILE_ROWS:
        for tn in GEMM_TILE_VECS:
            if tm * tn > GEMM_ACC_FRACTION * regs or tn > nvec and tn > 1:
                continue
            a_vecs = ceil_div(tm, lanes)
            if tm * tn + 2 * (tn + a_vecs) > regs:
                continue
            tiles = op.batch * ceil_div(op.m, tm) * ceil_div(nvec, tn)
            rounds = ceil_div(tiles, arch.n_pes)
            comp = rounds * op.k * tm * tn
            spm_bytes = tiles * op.k * (tn + a_vecs) * vec + op.batch * op.m * nvec * vec
            spm = spm_bytes / arch.spm.bytes_per_cycle
            key = (max(comp, spm), -tm * tn)
            if best is None or key < best[0]:
                best = (key, tm, tn, comp, spm)
    if best is None:
        raise SpecError(
            "arch.pe.register_file.entries", regs, "room for one GEMM tile (4 x 1 accumulators + operands)"
        )
    _, tm, tn, comp, spm = best
    return tm, tn, comp, spm


def elementwise_instrs(op: Elementwise) -> tuple[int, int, int]:
    """Vector instructions per output vector of an elementwise op or pool: (fma-class, add-class, special)."""
    if op.pool:
        return (POOL_SCALE_MULS[op.op], op.window - 1, 0)
    return ELEMENTWISE_INSTRS[op.op]


def dense_cost(op: Op, arch: DataflowArch, fused_in: bool = False, fused_out: bool = False) -> DenseCost:
    """Array-side cost of a dense op. `fused_in`: its (first) input comes from the producer's registers;
    `fused_out`: its result goes straight to the consumer's registers (no SPM write)."""
    lanes = arch.pe.simd_lanes
    vec = lanes * ELEM_BYTES
    n_pes = arch.n_pes
    red = REDUCTION_PER_LEVEL * int(math.log2(lanes)) if lanes > 1 else 0
    eb = ELEM_BYTES
    if isinstance(op, BlockSparseMatmul):  # the batched GEMM of its nonzero blocks
        (op,) = op.as_gemms()
    if isinstance(op, GEMM):
        tm, tn, comp, _ = gemm_tile(op, arch)
        nvec = ceil_div(op.n, lanes)
        a_vecs = ceil_div(tm, lanes)
        tiles = op.batch * ceil_div(op.m, tm) * ceil_div(nvec, tn)
        fma = op.batch * op.m * nvec * op.k
        spm_r = tiles * op.k * (tn + a_vecs) * vec
        spm_w = 0 if fused_out else op.batch * op.m * op.n * eb
        return _finish(
            arch,
            {"fma": fma, "add": 0, "special": 0},
            comp,
            0,
            op.batch * op.m * op.n * op.k,
            spm_r,
            spm_w,
            3 * fma,
            {"mapping": f"output-stationary tiles {tm} rows x {tn * lanes} columns", "tiles": tiles},
        )
    if isinstance(op, Softmax | LayerNorm):
        v = ceil_div(op.n, lanes)
        if isinstance(op, Softmax):
            per_row = {"fma": v, "add": 3 * v - 2 + 2 * red, "special": v + 1}
        else:
            per_row = {"fma": 3 * v + 1, "add": 2 * v - 1 + 2 * red, "special": 1}
        rows_pe = ceil_div(op.rows, n_pes)
        instrs = {k: c * op.rows for k, c in per_row.items()}
        spm_r = 0 if fused_in else op.rows * op.n * eb
        spm_w = 0 if fused_out else op.rows * op.n * eb
        return _finish(
            arch,
            instrs,
            rows_pe * sum(per_row.values()),
            rows_pe * per_row["special"],
            op.flops,
            spm_r + (2 * op.n * eb * n_pes if isinstance(op, LayerNorm) else 0),
            spm_w,
            2 * sum(instrs.values()),
            {"mapping": "a row per PE, lanes along the row, in-register lane reductions"},
        )
    if isinstance(op, Elementwise):
        fma_c, add_c, sp_c = elementwise_instrs(op)
        nv = ceil_div(op.numel, lanes)
        instrs = {"fma": fma_c * nv, "add": add_c * nv, "special": sp_c * nv}
        per_pe = ceil_div(nv, n_pes)
        # the first operand comes from the producer when fused; a second operand (residual) always from SPM
        spm_r = (0 if fused_in else op.input_numel * eb) + (op.operands - 1) * op.input_numel * eb
        spm_r += op.weight * eb * (n_pes if op.weight else 0)
        spm_w = 0 if fused_out else op.numel * eb
        return _finish(
            arch,
            instrs,
            per_pe * (fma_c + add_c + sp_c),
            per_pe * sp_c,
            op.numel * (fma_c + add_c + sp_c),
            spm_r,
            spm_w,
            2 * sum(instrs.values()),
            {"mapping": "vectors dealt round-robin to the PEs"},
        )
    raise SpecError("op", type(op).__name__, "a dense op (GEMM, Softmax, LayerNorm, Elementwise)")


def radix3_combine_cost(n: int, rows: int, arch: DataflowArch) -> DenseCost:
    """The combine pass of the n = 3 x m mixed-radix FFT: twiddles + a radix-3 DFT per group, rows on lanes,
    reading the three length-m sub-FFTs from the SPM and writing n complex outputs back."""
    lanes = arch.pe.simd_lanes
    groups = n // 3
    row_groups = ceil_div(rows, lanes)
    units = row_groups * groups
    per_pe = ceil_div(units, arch.n_pes) * RADIX3_COMBINE_SLOTS
    fma = units * 14  # 8 twiddle + 6 radix-3 FMA-class
    add = units * 6
    bytes_ = rows * n * 2 * ELEM_BYTES
    return _finish(
        arch,
        {"fma": fma, "add": add, "special": 0},
        per_pe,
        0,
        rows * groups * RADIX3_COMBINE_SLOTS,
        bytes_,
        bytes_,
        3 * fma + 2 * add,
        {"mapping": f"radix-3 combine of 3 x {n // 3}-point FFTs, rows on lanes"},
    )


#: the one non-power-of-two FFT radix the array maps (n = 3 x 2^k, e.g. FNet's hidden axis at d = 768)
MIXED_RADIX = 3


def split_mixed_radix(n: int) -> tuple[int, int]:
    """(radix, m) with n = radix x m and m a power of two; radix 1 for a power of two. SpecError otherwise."""
    if n >= 2 and n & (n - 1) == 0:
        return 1, n
    if n % MIXED_RADIX == 0 and (m := n // MIXED_RADIX) >= 2 and m & (m - 1) == 0:
        return MIXED_RADIX, m
    raise SpecError(
        "fft.n",
        n,
        "2, 4, 8, ... or 6, 12, 24, ... (a power of two >= 2, or 3 x a power of two >= 2: the array's FFT "
        "mappings, radix-2 and mixed radix 3 x 2^k)",
        hint="choose a sequence length / hidden size of the form 2^k or 3 x 2^k",
    )


# ---- value models: the mapped algorithms in numpy (fp16 storage, fp32 accumulate) -------------------------
def _h(x: np.ndarray) -> np.ndarray:
    return np.asarray(x, dtype=np.float16)


def value_gemm(a: np.ndarray, b: np.ndarray, arch: DataflowArch) -> np.ndarray:
    """(batch, m, k) @ (batch, k, n) in the output-stationary tiling of `gemm_tile`: per tile, fp32
    accumulators updated k step by k step (A element by element, B a row vector), rounded to fp16 once."""
    batch, m, k = a.shape
    n = b.shape[2]
    op = GEMM("v", m=m, k=k, n=n, batch=batch)
    tm, tn, _, _ = gemm_tile(op, arch)
    cols = tn * arch.pe.simd_lanes
    a16, b16 = _h(a), _h(b)
    out = np.zeros((batch, m, n), dtype=np.float16)
    for bi in range(batch):
        for r0 in range(0, m, tm):
            for c0 in range(0, n, cols):
                acc = np.zeros((min(tm, m - r0), min(cols, n - c0)), dtype=np.float32)
                for kk in range(k):  # the k loop of the tile: one FMA per accumulator register per step
                    acc += np.outer(
                        a16[bi, r0 : r0 + tm, kk].astype(np.float32),
                        b16[bi, kk, c0 : c0 + cols].astype(np.float32),
                    )
                out[bi, r0 : r0 + tm, c0 : c0 + cols] = acc.astype(np.float16)
    return out


def _lane_reduce(x: np.ndarray, fn) -> np.ndarray:  # noqa: ANN001 - np.maximum / np.add
    """Vector accumulation along the row (lanes kept apart), then the log2(lanes) rotate-and-combine tree."""
    return fn.reduce(x, axis=-1)


def value_softmax(x: np.ndarray, lanes: int) -> np.ndarray:
    """Row softmax as mapped: per-lane partial max / sum over the row's vectors, lane tree, exp, 1 / sum."""
    x16 = _h(x).astype(np.float32)
    rows, n = x16.shape
    pad = (-n) % lanes
    xp = np.pad(x16, ((0, 0), (0, pad)), constant_values=-np.inf).reshape(rows, -1, lanes)
    mx = _lane_reduce(np.max(xp, axis=1), np.maximum)  # (rows,)
    e = np.exp(xp - mx[:, None, None])
    s = _lane_reduce(np.sum(e, axis=1), np.add)
    y = e * (1.0 / s)[:, None, None]
    return y.reshape(rows, -1)[:, :n].astype(np.float16)


def value_layernorm(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float, lanes: int) -> np.ndarray:
    x16 = _h(x).astype(np.float32)
    rows, n = x16.shape
    pad = (-n) % lanes
    xp = np.pad(x16, ((0, 0), (0, pad))).reshape(rows, -1, lanes)
    mean = _lane_reduce(np.sum(xp, axis=1), np.add) / n
    c = x16 - mean[:, None]
    var = np.sum(c * c, axis=1) / n
    rstd = 1.0 / np.sqrt(var + eps)
    y = c * rstd[:, None] * _h(gamma).astype(np.float32) + _h(beta).astype(np.float32)
    return y.astype(np.float16)


def value_gelu(x: np.ndarray) -> np.ndarray:
    """The 6-instruction tanh-form GELU sequence of `ELEMENTWISE_INSTRS['gelu']`, fp32 registers."""
    x32 = _h(x).astype(np.float32)
    a = x32 * x32
    b = a * np.float32(GELU_C1 * GELU_K) + np.float32(GELU_K)
    c = x32 * b
    t = np.tanh(c)
    h = np.float32(0.5) * x32
    return (h * t + h).astype(np.float16)


def value_fft_mixed3(x: np.ndarray) -> np.ndarray:
    """DFT of length n = 3 m along the last axis by three length-m FFTs + the radix-3 combine pass."""
    n = x.shape[-1]
    radix, _ = split_mixed_radix(n)
    if radix != MIXED_RADIX:
        raise SpecError("n", n, f"{MIXED_RADIX} x a power of two (a power of two needs no combine pass)")
    r3 = MIXED_RADIX
    sub = np.stack([np.fft.fft(x[..., r::r3], axis=-1) for r in range(r3)])  # (3, ..., m)
    k = np.arange(n)
    w = np.exp(-2j * np.pi * np.outer(np.arange(r3), k) / n)  # twiddles W_n^{r k}, (3, n)
    out = np.zeros(x.shape[:-1] + (n,), dtype=np.complex128)
    for r in range(r3):
        out += w[r] * np.concatenate([sub[r]] * r3, axis=-1)  # X_r[k mod m] W_n^{rk}
    return out


__all__ = [
    "DenseCost",
    "dense_cost",
    "elementwise_instrs",
    "gemm_tile",
    "radix3_combine_cost",
    "split_mixed_radix",
    "MIXED_RADIX",
    "value_fft_mixed3",
    "value_gelu",
    "value_gemm",
    "value_layernorm",
    "value_softmax",
]
