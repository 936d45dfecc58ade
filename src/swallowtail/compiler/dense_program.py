"""Dense operators as instruction-level Programs that the cycle-level engine (`swallowtail.sim.timing`) runs
unchanged and the value engine (`swallowtail.sim.values.execute_dense`) executes on data.

The butterfly machinery is reused as it is: SIMD lanes are *rows* (a row group of `simd_lanes` rows per
vector), so a row's element j is register j of one lane, and scalars that every row shares (a weight entry,
a LayerNorm gamma, a GELU constant) are coefficient scalars read "by element" (`MUL`, `FMA`, `ADDK`),
loaded once per block instance into the RF's coefficient sets and reused by every row group streamed through
(`build.py`'s double-buffered prefetch, the same `Schedule` / `DMAOp` / `SpmLayout`).

GEMM  C (M x N) = A (M x K) @ B (K x N), per batch (head) its own B::

    PE (x, y) of the 4 x 4 array: K split over the ky PE rows (kq = kc / ky inputs each), columns over the
    nx = PEs / ky PE columns (c per PE). One iteration = one row group of A (8 rows) x one block instance
    (a k-chunk of kc x a column tile of nx c columns):
        LD   kq A vectors (+ c / ky partial sums of earlier k-chunks)
        MUL / FMA by element: c accumulators x kq inputs (B entries are the coefficient scalars)
        reduce-scatter over the ky PE rows: log2(ky) levels of "send half, ADD the received half"
        (XFER over y distance 1, 2: one skip-hop each); (+ ADD the loaded partial sum)
        ST   c / ky output vectors
    For Q K^T the coefficients are K (B = K^T), for S V they are V: the other activation, DMA'd into the
    coefficient table. k-chunks beyond the first run as a second pass that accumulates into the stored
    partial sums (fp16 in the SPM). Padded columns (N not a multiple of the tile) are computed and not stored.

Row-wise operators (softmax, LayerNorm, elementwise)::

    one iteration = PEs x 8 rows, PE e owns row group e (no NoC traffic: a row is in one lane);
    block instance = a chunk of w columns (w vectors); passes sweep the chunks:
      softmax     max-sum (MAX tree, SUB, EXP, ADD tree; online: the running sum rescaled by
                  EXP(m - m') when the running max grows; RECIP of the sum) -> scale (SUB, EXP, VMUL)
      LayerNorm   stats (ADD tree of x, VMUL x x + ADD tree: running sums) -> normalise
                  (mean = s1 / n, var = s2 / n - mean^2, RSQRT(var + eps), SUB, VMUL, MUL gamma, ADDK beta)
      add / mul   LD x, x2 -> ADD / VMUL -> ST; bias add: ADDK by element; scale: MUL by element
      gelu        (tanh form, as swallowtail.nn): VMUL x x, MUL c1 k, ADDK k, VMUL x, TANH, MUL 0.5,
                  ADDK 1, VMUL (8 instructions, 1 special)
      relu        MUL x 0, MAX
    Running statistics live in a per-row-group state region of the SPM; the first chunk of a reduction has
    its own template (no state to read), so a reduction phase is two passes ("first", "rest"). Around the
    special-function unit (EXP, TANH: one issue per initiation interval, long latency) the per-element
    instructions are software-pipelined (`_Skew`): producers run ahead, consumers behind, so the in-order
    compute pipeline issues them between the special ops instead of waiting for each result.

Every PE runs the same instruction sequence (the engine and the value executor need equal step structure);
loads and stores of a PE are rotated over the SPM bank groups by the PE index (as `template.bank_order`).
Unlike the butterfly compiler there is no candidate search: the knobs below are fixed policy, all
overridable arguments of `compile_dense`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from swallowtail.arch.specs import DataflowArch
from swallowtail.compiler.geometry import SpmGeometry, rf_vectors
from swallowtail.compiler.kernels import (
    COMPUTE_OPS,
    OP_ADD,
    OP_ADDK,
    OP_EXP,
    OP_FMA,
    OP_LD,
    OP_MAX,
    OP_MUL,
    OP_RECIP,
    OP_RSQRT,
    OP_ST,
    OP_SUB,
    OP_TANH,
    OP_VMUL,
    OP_XFER,
)
from swallowtail.compiler.model import DEFAULT_MODEL, ELEM_BYTES, MachineModel
from swallowtail.compiler.program import DMAOp, Program, Schedule, SpmLayout, split_slots
from swallowtail.compiler.template import (
    INSTRUCTION_FIELDS,
    STEP_COMPUTE,
    STEP_LD,
    STEP_ST,
    STEP_XFER,
    InstructionStream,
    coef_slot_layout,
    instruction_fields,
    pe_coords,
)
from swallowtail.errors import SpecError
from swallowtail.workload.ops import GEMM, Elementwise, LayerNorm, Op, Softmax

#: compiler policy: columns of C per PE per block instance (accumulators in flight; >= 4 keeps the FMA chains
#: of one accumulator further apart than the FMA latency, and the SPM below the compute rate)
GEMM_COLS_PER_PE = 8
#: compiler policy: largest k-chunk per pass (A vectors per iteration = chunk / PE rows)
GEMM_K_CHUNK = 64
#: compiler policy: most PE rows the k-reduction is split over (log2 of it reduce-scatter levels)
GEMM_K_SPLIT = 4
#: compiler policy: largest column chunk (vectors per row group per iteration) of the row-wise ops
ROW_CHUNK = 16
#: compiler policy: GEMM row units (iterations) per streaming batch (SPM buffer): a pass's coefficients (B)
#: are loaded once per batch, so a batch streams several row groups through them
ROW_UNITS_PER_BATCH = 4
#: compiler policy: row-wise ops' units per streaming batch: one (no coefficients to reuse; the finest
#: streaming overlaps the DMA with the compute best)
ROWWISE_UNITS_PER_BATCH = 1


def default_units_per_batch(spec: DenseSpec) -> int:
    """Row units per streaming batch when `compile_dense` is not told (compiler policy above)."""
    return ROW_UNITS_PER_BATCH if spec.kind == "gemm" else ROWWISE_UNITS_PER_BATCH


#: SPM buffers (double buffering, DESIGN.md)
DENSE_BUFFERS = 2
#: GELU tanh-form constants (Hendrycks & Gimpel; swallowtail.nn.blocks uses approximate="tanh")
GELU_K = math.sqrt(2.0 / math.pi)
GELU_C1 = 0.044715
ELEMENTWISE_KINDS = ("add", "mul", "scale", "relu", "gelu")


# ---- the spec, plan and template types the engines read ---------------------------------------------
@dataclass(frozen=True)
class DenseSpec:
    """What a dense Program computes (the op, normalised to the mapping's matrix view)."""

    op_name: str
    kind: str  # gemm | softmax | layernorm | add | add-bias | mul | scale | relu | gelu
    rows: int  # rows streamed (GEMM: M per batch)
    n: int  # row length (GEMM: N)
    k: int = 0  # GEMM reduction
    batch: int = 1  # GEMM: batches (heads), each with its own B
    flops: int = 0
    eps: float = 1e-12  # LayerNorm

    def describe(self) -> str:
        if self.kind == "gemm":
            b = f"{self.batch} x " if self.batch > 1 else ""
            return f"dense GEMM {b}{self.rows}x{self.k} @ {self.k}x{self.n}"
        return f"dense {self.kind} rows={self.rows} n={self.n}"

    @property
    def lane_ops(self) -> int:
        """Useful lane-instructions (the op's own elements; padding excluded)."""
        return int(self.flops)


@dataclass(frozen=True)
class DensePass:
    index: int
    name: str
    n_instances: int  # block instances per batch segment (k-chunks x column tiles | column chunks)
    cross_stages: int  # > 0: the pass uses the NoC (the engine's fast-forward looks at it)
    k: int = 1

    def describe(self) -> str:
        return f"pass {self.index} ({self.name}): {self.n_instances} block instances"


@dataclass(frozen=True)
class DensePlan:
    dataflow: str
    passes: tuple[DensePass, ...]
    rows_per_batch: int
    buffers: int
    batches: tuple[tuple[int, int], ...]  # row-unit ranges [u0, u1) of the streaming batches (all segments)
    coef_vectors: tuple[int, ...]
    data_regs: tuple[int, ...]
    coef_set_regs: int
    coef_sets: int
    tag_slots: tuple[int, ...]
    reasons: tuple[str, ...] = ()
    user_knobs: tuple[str, ...] = ()
    block: int = 0
    positions_per_pe: int = 0
    placement: str = "dense"

    @property
    def k_max(self) -> int:
        return 1


@dataclass
class DenseTemplate(InstructionStream):
    """Per-PE instruction stream of one iteration of one pass (fields as `template.PassTemplate`)."""

    plan: DensePass
    op: np.ndarray
    dst: np.ndarray
    a: np.ndarray
    coef: np.ndarray
    lane: np.ndarray
    acc: np.ndarray
    slot: np.ndarray
    peer: np.ndarray
    final: np.ndarray
    steps: list[tuple[str, int, int]]
    data_regs: int
    coef_vectors: int
    coef_slot: np.ndarray
    static: dict[str, float] = field(default_factory=dict)


# ---- a small emitter: one PE's instruction list, steps in order --------------------------------------
class _Stream:
    """Instructions of one PE: (op, dst, a, coef, lane, acc, slot, peer, final), grouped in steps."""

    def __init__(self) -> None:
        self.steps: dict[str, list[tuple]] = {STEP_LD: [], STEP_XFER: [], STEP_COMPUTE: [], STEP_ST: []}
        self.order: list[tuple[str, list[tuple]]] = []
        self.regs = 0

    def reg(self, n: int = 1) -> int:
        r = self.regs
        self.regs += n
        return r

    def _step(self, kind: str) -> list[tuple]:
        if not self.order or self.order[-1][0] != kind:
            if kind in (STEP_LD, STEP_ST) and any(k == kind for k, _ in self.order):
                raise AssertionError(f"one {kind} step per template")
            self.order.append((kind, []))
        return self.order[-1][1]

    def ld(self, dst: int, slot: int) -> None:
        self._step(STEP_LD).append((OP_LD, dst, -1, -1, 0, -1, slot, -1, False))

    def st(self, src: int, slot: int) -> None:
        self._step(STEP_ST).append((OP_ST, -1, src, -1, 0, -1, slot, -1, False))

    def xfer(self, src: int, dst: int, peer: int) -> None:
        self._step(STEP_XFER).append((OP_XFER, dst, src, -1, 0, -1, -1, peer, False))

    def op(self, o: int, dst: int, a: int, c: int = -1, k: int | None = None, final: bool = False) -> None:
        cv, ln = (-1, 0) if k is None else divmod(k, self._lanes)
        self._step(STEP_COMPUTE).append((o, dst, a, cv, ln, c, -1, -1, final))

    def mark_final(self) -> None:
        """The last compute instruction's result is an output of its chain (rounded to fp16: it is stored)."""
        items = self.order[-1][1]
        assert self.order[-1][0] == STEP_COMPUTE and items
        items[-1] = (*items[-1][:8], True)

    _lanes = 8


def _bank_rotate(items: list[tuple], e: int, groups: int) -> list[tuple]:
    """Order a PE's SPM accesses so that PEs in lockstep touch different bank groups (slot index 6)."""
    return sorted(items, key=lambda it: ((it[6] - e) % groups, it[6]))


def _assemble(
    streams: list[_Stream], dpass: DensePass, coef_vectors: int, n_pe: int, groups: int
) -> DenseTemplate:
    kinds = [[k for k, _ in s.order] for s in streams]
    assert all(k == kinds[0] for k in kinds), "every PE runs the same step structure"
    rows: list[list[tuple]] = []
    steps: list[tuple[str, int, int]] = []
    for e, s in enumerate(streams):
        lst: list[tuple] = []
        for kind, items in s.order:
            if kind in (STEP_LD, STEP_ST):
                items = _bank_rotate(items, e, groups)
            if e == 0:
                steps.append((kind, len(lst), len(lst) + len(items)))
            lst.extend(items)
        rows.append(lst)
    assert all(len(r) == len(rows[0]) for r in rows)
    arr = np.array(rows, dtype=np.int64).reshape(n_pe, len(rows[0]), len(INSTRUCTION_FIELDS))
    assert all((arr[:, :, 0] == arr[0:1, :, 0]).all(axis=0)), "same opcodes on every PE"
    return DenseTemplate(
        plan=dpass,
        **instruction_fields(arr),
        steps=steps,
        data_regs=max(s.regs for s in streams),
        coef_vectors=coef_vectors,
        coef_slot=coef_slot_layout(n_pe, coef_vectors),
    )


def _tree(s: _Stream, o: int, regs: list[int], final: bool = False) -> int:
    """Pairwise reduction of `regs` with opcode o (MAX / ADD) in place; returns the result register."""
    cur = list(regs)
    while len(cur) > 1:
        nxt = []
        for i in range(0, len(cur) - 1, 2):
            s.op(o, cur[i], cur[i], cur[i + 1], final=final and len(cur) == 2)
            nxt.append(cur[i])
        if len(cur) % 2:
            nxt.append(cur[-1])
        cur = nxt
    return cur[0]


@dataclass(frozen=True)
class _Skew:
    """Software pipelining around the special-function unit (one issue per `ii` cycles, `latency` cycles):
    the per-element instructions before a special op run `lead` elements ahead of it, those consuming its
    result `lag` elements behind, so that the in-order compute pipeline fills the cycles between special
    issues instead of waiting for each result (the order changes, the instructions do not)."""

    ii: int
    lead: int  # elements ahead: ceil(latency of the producing add / ii)
    lag: int  # elements behind: ceil(special latency / ii)
    # a sum of squares (VMUL, ADD per element, one issue per cycle): elements a square runs ahead of its ADD
    sq_lag: int = 0

    @classmethod
    def of(cls, arch: DataflowArch) -> _Skew:
        sp, add, fma = arch.pe.fus["special"], arch.pe.fus["add"], arch.pe.fus["fma"]
        ii = sp.initiation_interval
        return cls(ii, -(-add.latency // ii), -(-sp.latency // ii), -(-(fma.latency - 1) // 2))


def _skewed(w: int, stages: list[tuple[int, Any]]) -> None:
    """Emit stage(i) for i < w with each stage shifted by its offset (elements): slot k emits, in stage
    order, stage(k - offset) -- an element's instructions keep their order when offsets grow with the
    dependency (a producer's offset < its consumer's)."""
    lo = min(off for off, _ in stages)
    hi = max(off for off, _ in stages)
    for k in range(lo, w + hi):
        for off, emit in stages:
            i = k - off
            if 0 <= i < w:
                emit(i)


def _chain_skewed(s: _Stream, o: int, regs: list[int], acc: list[int]) -> list[Any]:
    """`_chain`'s per-element instructions (before its final tree), as a stage for `_skewed`: element i's
    op (acc[i - m] = regs[i - m] o regs[i] for m <= i < 2m, acc[i % m] o= regs[i] after) needs regs[i]
    and earlier ones only."""
    m = len(acc)
    assert len(regs) >= 2 * m

    def emit(i: int) -> None:
        if m <= i < 2 * m:
            s.op(o, acc[i - m], regs[i - m], regs[i])
        elif i >= 2 * m:
            s.op(o, acc[i % m], acc[i % m], regs[i])

    return emit


# ---- the layout (where tensors sit in the SPM) ----------------------------------------------------------
@dataclass
class DenseLayout:
    """Row units and records. GEMM: a unit = one row group of A, record [A: K | C: N]; row-wise: a unit =
    PEs row groups (PE e owns row group e), one record per row group [x: n | x2: n | y: n]."""

    kind: str  # gemm | rowwise
    rec: int  # slots of one record
    unit_slots: int
    unit_rows: int  # rows per unit
    units_per_segment: int
    segments: int  # GEMM batches (heads), each with its own B; 1 for row-wise
    fields: dict[str, int]  # field -> offset in a record
    # GEMM geometry: k split over ky PE rows, nx PE columns x c columns per tile, kc per k-chunk
    ky: int = 1
    nx: int = 1
    cols: int = 1
    kc: int = 1
    n_chunks: int = 1
    n_tiles: int = 1
    # row-wise: column chunk width (vectors) and chunks
    w: int = 1
    n_cchunks: int = 1
    # per pass: (k-chunk, tile) for GEMM, (column chunk, phase) for row-wise
    pass_index: tuple[tuple[int, int], ...] = ()
    # row-wise: the phases the passes sweep (pass_index[p][1] indexes it): ("map",) for an elementwise op,
    # ("row",) for a reduction whose whole row sits in registers (one pass), otherwise a chunked reduction:
    # ("max-sum", "scale") | ("stats", "normalise"), each phase a sweep over the n_cchunks chunks
    phases: tuple[str, ...] = ()
    # row-wise: whether the template builders' register demand fits the RF (the layout's w was chosen so)
    data_regs: int = 0  # most data registers of a pass template (per tag slot)
    coef_vectors: int = 0  # most coefficient vectors of a pass template (per coefficient set)

    @property
    def chunked(self) -> bool:
        """A row reduction as multi-pass phases over column chunks (running statistics in the SPM)."""
        return len(self.phases) > 1

    def phase_of(self, p: int) -> str:
        return self.phases[self.pass_index[p][1]] if self.phases else ""


def dense_spec(op: Op) -> DenseSpec:
    """Normalise a dense workload op to its mapping's matrix view; SpecError for what is not mapped."""
    if isinstance(op, GEMM):
        return DenseSpec(op.name, "gemm", rows=op.m, n=op.n, k=op.k, batch=op.batch, flops=op.flops)
    if isinstance(op, Softmax):
        return DenseSpec(op.name, "softmax", rows=op.rows, n=op.n, flops=op.flops)
    if isinstance(op, LayerNorm):
        return DenseSpec(op.name, "layernorm", rows=op.rows, n=op.n, flops=op.flops)
    if isinstance(op, Elementwise):
        if op.op not in ELEMENTWISE_KINDS:
            raise SpecError(f"{op.name}.op", op.op, f"one of {list(ELEMENTWISE_KINDS)}")
        kind, n = op.op, _row_len(op.numel)
        if kind == "add" and op.operands == 1:
            if op.weight and op.weight < op.numel and op.numel % op.weight == 0:
                kind, n = "add-bias", op.weight  # one bias per column
            elif not op.weight:
                raise SpecError(f"{op.name}.operands", op.operands, "2 for an add without a weight")
            # else: a per-element second operand (the position table), read like a residual
        if kind == "mul" and op.operands != 2:
            raise SpecError(f"{op.name}.operands", op.operands, "2 for an elementwise mul")
        return DenseSpec(op.name, kind, rows=op.numel // n, n=n, flops=op.flops)
    raise SpecError("op", type(op).__name__, "a dense op (GEMM, Softmax, LayerNorm, Elementwise)")


def _row_len(numel: int) -> int:
    """Row length of an elementwise op without columns: the largest power-of-two divisor of numel up to 64
    (compiler policy: the element order does not matter, only the vector count)."""
    return math.gcd(numel, 64)


def _largest_divisor(n: int, cap: int) -> int:
    return max(d for d in range(1, min(n, cap) + 1) if n % d == 0)


def _check_pos(name: str, v: Any) -> None:
    if isinstance(v, bool) or not isinstance(v, int) or v < 1:
        raise SpecError(name, v, "a positive integer")


def _check_knobs(
    units_per_batch: int | None, row_chunk: int, gemm_cols_per_pe: int, gemm_k_chunk: int
) -> None:
    for name, v in (
        ("row_chunk", row_chunk),
        ("gemm_cols_per_pe", gemm_cols_per_pe),
        ("gemm_k_chunk", gemm_k_chunk),
    ):
        _check_pos(name, v)
    if units_per_batch is not None:
        _check_pos("units_per_batch", units_per_batch)


def _coords(arch: DataflowArch) -> list[tuple[int, int]]:
    xb, yb = arch.array.cols.bit_length() - 1, arch.array.rows.bit_length() - 1
    coords = pe_coords(xb, yb)
    if len(coords) != arch.n_pes:
        raise SpecError("arch.array", (arch.array.rows, arch.array.cols), "power-of-two rows and columns")
    return coords


def dense_layout(
    op: Op | DenseSpec,
    arch: DataflowArch,
    dataflow: str = "multilayer",
    model: MachineModel = DEFAULT_MODEL,
    units_per_batch: int | None = None,
    row_chunk: int = ROW_CHUNK,
    gemm_cols_per_pe: int = GEMM_COLS_PER_PE,
    gemm_k_chunk: int = GEMM_K_CHUNK,
) -> DenseLayout:
    """The layout `compile_dense` (same arguments) uses -- records, chunking, and the passes
    (`len(layout.pass_index) == len(program.templates)`) -- without building templates or checking that the
    SPM holds the coefficient tables and buffers (so a caller can learn the pass count of an op whose
    Program does not fit). Row-wise reductions check the RF: the chunk width is chosen by what it holds."""
    spec = op if isinstance(op, DenseSpec) else dense_spec(op)
    _check_knobs(units_per_batch, row_chunk, gemm_cols_per_pe, gemm_k_chunk)
    coords = _coords(arch)
    if spec.kind == "gemm":
        return _gemm_layout(spec, arch, len(coords), gemm_cols_per_pe, gemm_k_chunk)
    return _rowwise_layout(spec, arch, len(coords), row_chunk)


def compile_dense(
    op: Op | DenseSpec,
    arch: DataflowArch,
    dataflow: str = "multilayer",
    model: MachineModel = DEFAULT_MODEL,
    units_per_batch: int | None = None,
    row_chunk: int = ROW_CHUNK,
    gemm_cols_per_pe: int = GEMM_COLS_PER_PE,
    gemm_k_chunk: int = GEMM_K_CHUNK,
) -> Program:
    """Compile a dense op (GEMM, Softmax, LayerNorm, Elementwise) into a Program for `arch`.

    `units_per_batch`: row units per streaming batch (GEMM: row groups; row-wise: PEs x row groups)."""
    spec = op if isinstance(op, DenseSpec) else dense_spec(op)
    layout = dense_layout(
        spec, arch, dataflow, model, units_per_batch, row_chunk, gemm_cols_per_pe, gemm_k_chunk
    )
    lanes = arch.pe.simd_lanes
    _Stream._lanes = lanes
    coords = _coords(arch)
    if spec.kind == "gemm":
        # fail fast (before building a template per pass): every pass's coefficient table + one row unit
        cvec = -(-(layout.kc // layout.ky * layout.cols) // lanes)
        geo = SpmGeometry.of(arch)
        need = (
            layout.segments * len(layout.pass_index) * cvec * len(coords) + layout.unit_slots
        ) * geo.vec_bytes
        if need > arch.spm.size_bytes:
            raise SpecError(
                "arch.spm.size_bytes",
                arch.spm.size_bytes,
                f"room for {spec.describe()}: coefficient table + one buffer of one row unit = "
                f"{need} B, short by {need - arch.spm.size_bytes} B",
            )
        templates = _gemm(spec, arch, coords, layout)
    else:
        templates = _rowwise(spec, arch, coords, layout)
    assert len(templates) == len(layout.pass_index)
    return _build(spec, arch, dataflow, model, layout, templates, coords, units_per_batch)


# ---- GEMM -----------------------------------------------------------------------------------------------
def _gemm_layout(spec: DenseSpec, arch: DataflowArch, n_pe: int, c_max: int, kc_max: int) -> DenseLayout:
    lanes = arch.pe.simd_lanes
    K, N = spec.k, spec.n
    n_chunks = -(-K // min(K, kc_max))
    kc = -(-K // n_chunks)  # balanced k-chunks; the last is padded with zero coefficients
    ky = 1
    while ky * 2 <= min(GEMM_K_SPLIT, arch.array.rows) and kc % (ky * 2) == 0:
        ky *= 2
    nx = n_pe // ky
    c_cap = max(ky, c_max - c_max % ky)
    need = -(-N // nx)  # columns per PE column block for N
    c = min(c_cap, -(-need // ky) * ky)  # a multiple of ky
    tile = nx * c
    n_tiles = -(-N // tile)
    kp = n_chunks * kc
    rec = kp + n_tiles * tile
    passes = tuple((q, t) for q in range(n_chunks) for t in range(n_tiles))
    return DenseLayout(
        kind="gemm",
        rec=rec,
        unit_slots=rec,
        unit_rows=lanes,
        units_per_segment=-(-spec.rows // lanes),
        segments=spec.batch,
        fields={"a": 0, "c": kp},
        ky=ky,
        nx=nx,
        cols=c,
        kc=kc,
        n_chunks=n_chunks,
        n_tiles=n_tiles,
        pass_index=passes,
    )


def _gemm(
    spec: DenseSpec, arch: DataflowArch, coords: list[tuple[int, int]], layout: DenseLayout
) -> list[DenseTemplate]:
    n_pe = len(coords)
    lanes = arch.pe.simd_lanes
    groups = SpmGeometry.of(arch).groups
    ky, c, kc = layout.ky, layout.cols, layout.kc
    kq = kc // ky
    kp = layout.fields["c"]
    tile = layout.nx * c
    cvec = -(-(kq * c) // lanes)
    templates = []
    for p, (q, t) in enumerate(layout.pass_index):
        first = q == 0
        streams = []
        for x, y in coords:
            yk = y % ky
            s = _Stream()
            a_regs = s.reg(kq)
            acc = s.reg(c)
            rot = [(kk + x) % kq for kk in range(kq)]
            for kk in rot:
                s.ld(a_regs + kk, q * kc + yk * kq + kk)
            # the c / ky columns this PE ends up with after the reduce-scatter
            held = list(range(c))
            for lvl in range(ky.bit_length() - 1):
                half = len(held) // 2
                held = held[:half] if ((yk >> lvl) & 1) == 0 else held[half:]
            xc = (y // ky) * arch.array.cols + x  # which of the nx column blocks
            cslot = [kp + t * tile + xc * c + j for j in held]
            part = -1
            if not first:
                part = s.reg(len(held))
                for i in range(len(held)):
                    s.ld(part + i, cslot[i])
            for step, kk in enumerate(rot):
                for j in range(c):
                    last = step == kq - 1 and ky == 1 and first
                    if step == 0:
                        s.op(OP_MUL, acc + j, a_regs + kk, k=j * kq + kk, final=last)
                    else:
                        s.op(OP_FMA, acc + j, a_regs + kk, acc + j, k=j * kq + kk, final=last)
            cur = list(range(c))
            for lvl in range(ky.bit_length() - 1):
                d = 1 << lvl
                half = len(cur) // 2
                keep, send = (cur[:half], cur[half:]) if ((yk >> lvl) & 1) == 0 else (cur[half:], cur[:half])
                peer = coords.index((x, y ^ d))
                recv = s.reg(half)
                for i, j in enumerate(send):
                    s.xfer(acc + j, recv + i, peer)
                lastlvl = 2 * d >= ky and first
                for i, j in enumerate(keep):
                    s.op(OP_ADD, acc + j, acc + j, recv + i, final=lastlvl)
                cur = keep
            assert cur == held
            if not first:
                for i, j in enumerate(held):
                    s.op(OP_ADD, acc + j, acc + j, part + i, final=True)
            for i, j in enumerate(held):
                s.st(acc + j, cslot[i])
            streams.append(s)
        name = f"gemm k-chunk {q} tile {t}"
        templates.append(_assemble(streams, DensePass(p, name, 1, int(ky > 1)), cvec, n_pe, groups))
    return templates


# ---- row-wise ops ---------------------------------------------------------------------------------------
#: compiler policy: widest column chunk (vectors) of a chunked row reduction (softmax / LayerNorm rows that
#: do not fit in one chunk); wider chunks mean fewer passes (less state traffic, fewer pass boundaries) but
#: fewer iterations in flight (tag slots = what the RF holds / the chunk's registers)
ROW_REDUCE_CHUNK = 64
#: compiler policy: fewest tag slots (iterations in flight per PE) a chunked reduction's chunk width must
#: leave where some width allows it (a smaller chunk is preferred to a single iteration in flight)
REDUCE_MIN_TAGS = 2
#: the phases of a chunked reduction (one pass per phase and column chunk, phase-major)
SOFTMAX_PHASES = ("max-sum", "scale")
LAYERNORM_PHASES = ("stats", "normalise")
#: state slots of a chunked reduction per row group (softmax: running max, running sum -> 1 / sum;
#: LayerNorm: running sum, running sum of squares -> mean, rstd)
REDUCE_STATE_SLOTS = 2


def _chains_regs(length: int) -> int:
    """Accumulator registers `_reduce` takes for `length` inputs."""
    return _chains_for(length) if length >= 2 else 0


def _sumsq_regs(length: int) -> int:
    ch = _chains_for(length)
    return ch + (ch if length > ch else 0)


def _rowwise_demand(kind: str, w: int, n: int, chunked: bool, lanes: int) -> tuple[int, int, int]:
    """(data registers per tag slot, coefficient vectors per set, coefficient sets) of the most demanding
    pass template of a row-wise op with chunk width w (`_rowwise` asserts that its templates agree)."""
    if kind == "softmax":
        return ((w + 4 + 2 * _chains_regs(w)) if chunked else (n + 2 * _chains_for(n))), 0, 1
    if kind == "layernorm":
        if chunked:
            return max(w + _chains_regs(w) + _sumsq_regs(w) + 4, w + 2), -(-2 * w // lanes), 2
        return n + 3 * _chains_for(n) + 2, -(-(2 * n + 2) // lanes), 1
    j = n // w
    data = {"add": 2 * w, "mul": 2 * w, "relu": w + 1, "gelu": 3 * w}.get(kind, w)
    n_coef = {"add-bias": w, "scale": 1, "relu": 1, "gelu": 4}.get(kind, 0)
    return data, -(-n_coef // lanes), 2 if n_coef and j > 1 else 1


def _rowwise_layout(spec: DenseSpec, arch: DataflowArch, n_pe: int, chunk_max: int) -> DenseLayout:
    lanes = arch.pe.simd_lanes
    groups = SpmGeometry.of(arch).groups
    n = spec.n
    kind = spec.kind
    reduce_ = kind in ("softmax", "layernorm")
    cap, _ = rf_vectors(arch)

    def tags(w: int, chunked: bool) -> int:
        data, cvec, sets = _rowwise_demand(kind, w, n, chunked, lanes)
        return min(arch.pe.active_tags, (cap - sets * cvec) // data)

    chunked = False
    if not reduce_:
        w = _largest_divisor(n, chunk_max)
        phases: tuple[str, ...] = ("map",)
    else:
        if n < 2:
            raise SpecError(f"{kind}.n", n, "a row length >= 2")
        if n <= ROW_REDUCE_CHUNK and tags(n, False) >= 1:
            w, phases = n, ("row",)  # the whole row in registers: one pass
        else:
            # chunked: the widest divisor of n up to the policy cap that leaves REDUCE_MIN_TAGS tag slots,
            # else the widest that leaves one
            divs = [d for d in range(min(n // 2, ROW_REDUCE_CHUNK), 0, -1) if n % d == 0]
            fit = [d for d in divs if tags(d, True) >= REDUCE_MIN_TAGS] or [
                d for d in divs if tags(d, True) >= 1
            ]
            if not fit:
                data, cvec, sets = _rowwise_demand(kind, 1, n, True, lanes)
                raise SpecError(
                    "arch.pe.register_file.entries",
                    arch.pe.register_file.entries,
                    f"room for {spec.describe()}: {data + sets * cvec} vector registers per PE even with "
                    f"one-vector chunks, have {cap}",
                )
            w, chunked = fit[0], True
            phases = SOFTMAX_PHASES if kind == "softmax" else LAYERNORM_PHASES
    J = n // w
    data, cvec, _ = _rowwise_demand(kind, w, n, chunked, lanes)
    fields = {"x": 0}
    pos = n
    if kind in ("add", "mul"):
        fields["x2"] = pos
        pos += n
    if chunked:
        # in place (y over x: every pass that stores y has loaded what it overwrites), then the state
        fields["y"] = 0
        fields["s"] = pos
        pos += REDUCE_STATE_SLOTS
    else:
        fields["y"] = pos
        pos += n
    rec = pos + ((1 - pos) % groups)  # rec = 1 mod bank groups: PEs' records start in different groups
    return DenseLayout(
        kind="rowwise",
        rec=rec,
        unit_slots=n_pe * rec,
        unit_rows=n_pe * lanes,
        units_per_segment=-(-spec.rows // (n_pe * lanes)),
        segments=1,
        fields=fields,
        w=w,
        n_cchunks=J,
        pass_index=tuple((j, ph) for ph in range(len(phases)) for j in range(J)),
        phases=phases,
        data_regs=data,
        coef_vectors=cvec,
    )


def _rowwise(
    spec: DenseSpec, arch: DataflowArch, coords: list[tuple[int, int]], layout: DenseLayout
) -> list[DenseTemplate]:
    n_pe = len(coords)
    lanes = arch.pe.simd_lanes
    groups = SpmGeometry.of(arch).groups
    n = spec.n
    kind = spec.kind
    w, J, rec, fields = layout.w, layout.n_cchunks, layout.rec, layout.fields
    n_coef = {"add-bias": w, "scale": 1, "relu": 1, "gelu": 4, "layernorm": 2 * n + 2}.get(kind, 0)
    sk = _Skew.of(arch)
    templates = []
    for p, (j, ph) in enumerate(layout.pass_index):
        phase = layout.phases[ph]
        streams = []
        for e in range(n_pe):
            X = e * rec + fields["x"] + j * w
            Y = e * rec + fields["y"] + j * w
            X2 = e * rec + fields.get("x2", 0) + j * w
            s = _Stream()
            x = s.reg(w)
            for i in range(w):
                s.ld(x + i, X + i)
            if layout.chunked:
                S = e * rec + fields["s"]
                if kind == "softmax":
                    _softmax_chunk(s, phase, x, w, j, J, S, Y, sk)
                else:
                    _layernorm_chunk(s, phase, x, w, j, J, S, Y, sk)
                streams.append(s)
                continue
            if kind == "softmax":
                _softmax(s, x, w, sk)
            elif kind == "layernorm":
                _layernorm(s, x, w, sk)
            else:
                _elementwise(s, kind, x, w, X2, sk)
            for i in range(w):
                s.st(x + i, Y + i)
            streams.append(s)
        # chunked LayerNorm: the last stats pass reads 1 / n, eps; a normalise pass its chunk's gamma, beta
        chunk_coef = {"stats": 2 if j == J - 1 else 0, "normalise": 2 * w}.get(phase, 0)
        nc = chunk_coef if layout.chunked else n_coef
        name = f"{kind} {phase} chunk {j}" if layout.chunked else f"{kind} chunk {j}"
        templates.append(_assemble(streams, DensePass(p, name, 1, 0), -(-nc // lanes), n_pe, groups))
    assert max(t.data_regs for t in templates) == layout.data_regs, (layout.data_regs, kind, w)
    assert max(t.coef_vectors for t in templates) == layout.coef_vectors
    return templates


def _reduce(s: _Stream, o: int, regs: list[int], final: bool) -> int:
    """Reduce `regs` with opcode o (MAX / ADD) over `_chains_for` chains (inputs kept); `final`: the
    result is stored (rounded to fp16). One register: itself, no instruction (it was loaded: fp16)."""
    if len(regs) == 1:
        return regs[0]
    r = _chain(s, o, regs, [s.reg() for _ in range(_chains_for(len(regs)))], final=False)
    if final:
        s.mark_final()
    return r


def _sumsq(s: _Stream, regs: list[int], final: bool, lag: int = 0) -> int:
    """sum of squares of `regs` (VMUL, ADD chains; each square `lag` elements ahead of its ADD, at most
    chains - 1 so that a temporary is read before it is reused); the register holding it."""
    w = len(regs)
    ch = _chains_for(w)
    acc2 = s.reg(ch)
    tmp = s.reg(ch) if w > ch else -1

    def square(i: int) -> None:
        s.op(OP_VMUL, acc2 + i if i < ch else tmp + i % ch, regs[i], regs[i])

    def accumulate(i: int) -> None:
        if i >= ch:
            s.op(OP_ADD, acc2 + i % ch, acc2 + i % ch, tmp + i % ch)

    _skewed(w, [(0, square), (max(0, min(lag, ch - 1)), accumulate)])
    out = _tree(s, OP_ADD, list(range(acc2, acc2 + ch)))
    if final:
        s.mark_final()
    return out


def _softmax_chunk(s: _Stream, phase: str, x: int, w: int, j: int, J: int, S: int, Y: int, sk: _Skew) -> None:
    """One pass of a chunked (online) softmax over chunk j (of J) of w vectors; state S+0 = running max m,
    S+1 = running sum of exp(x - m) (the last max-sum pass stores 1 / sum instead).
      max-sum  m' = max(m, MAX over the chunk);  s = s EXP(m - m') + sum EXP(x - m')  (last chunk: RECIP)
      scale    y = EXP(x - m) (1 / s)
    Two sweeps over x (one load per element each, one store), against three for max / exp-sum / scale with
    the exponentials stored. SUB, EXP and what consumes the EXP are software-pipelined (`_Skew`)."""
    xs = list(range(x, x + w))
    if phase == "max-sum":
        m_old = s_old = -1
        if j > 0:
            m_old, s_old = s.reg(), s.reg()
            s.ld(m_old, S)
            s.ld(s_old, S + 1)
        m = _reduce(s, OP_MAX, xs, final=False)
        if j > 0 or m in xs:  # the running max in a register of its own (the x registers are overwritten)
            mn = s.reg()
            s.op(OP_MAX, mn, m, m_old if j > 0 else m, final=True)
            m = mn
        else:
            s.mark_final()
        stages = [
            (0, lambda i: s.op(OP_EXP, xs[i], xs[i], final=j == 0 and w == 1)),
            (-sk.lead, lambda i: s.op(OP_SUB, xs[i], xs[i], m)),
        ]
        t = xs[0]
        if w >= 2:
            acc = [s.reg() for _ in range(_chains_for(w))]
            stages.append((sk.lag, _chain_skewed(s, OP_ADD, xs, acc)))
        _skewed(w, stages)
        if w >= 2:
            t = _tree(s, OP_ADD, acc)
            if j == 0:
                s.mark_final()
        if j > 0:
            d = s.reg()
            s.op(OP_SUB, d, m_old, m)
            s.op(OP_EXP, d, d)
            s.op(OP_VMUL, s_old, s_old, d)
            s.op(OP_ADD, t, t, s_old, final=j < J - 1)
        if j == J - 1:
            s.op(OP_RECIP, t, t, final=True)
        s.st(m, S)
        s.st(t, S + 1)
    else:
        assert phase == "scale"
        m, r = s.reg(), s.reg()
        s.ld(m, S)
        s.ld(r, S + 1)
        _skewed(
            w,
            [
                (0, lambda i: s.op(OP_EXP, xs[i], xs[i])),
                (-sk.lead, lambda i: s.op(OP_SUB, xs[i], xs[i], m)),
                (sk.lag, lambda i: s.op(OP_VMUL, xs[i], xs[i], r, final=True)),
            ],
        )
        for i, q in enumerate(xs):
            s.st(q, Y + i)


def _layernorm_chunk(
    s: _Stream, phase: str, x: int, w: int, j: int, J: int, S: int, Y: int, sk: _Skew
) -> None:
    """One pass of a chunked LayerNorm over chunk j (of J); state S+0, S+1 = running sum, sum of squares
    (the last stats pass stores mean, rstd). Coefficient scalars: stats (last chunk) 1 / n, eps;
    normalise gamma[chunk], beta[chunk].
      stats      s1 += sum x, s2 += sum x^2; last: mean = s1 / n, rstd = RSQRT(s2 / n - mean^2 + eps)
      normalise  y = (x - mean) rstd gamma + beta"""
    xs = list(range(x, x + w))
    last = j == J - 1
    if phase == "stats":
        p1 = p2 = -1
        if j > 0:
            p1, p2 = s.reg(), s.reg()
            s.ld(p1, S)
            s.ld(p2, S + 1)
        t1 = _reduce(s, OP_ADD, xs, final=j == 0 and not last)
        t2 = _sumsq(s, xs, final=j == 0 and not last, lag=sk.sq_lag)
        if j > 0:
            s.op(OP_ADD, t1, t1, p1, final=not last)
            s.op(OP_ADD, t2, t2, p2, final=not last)
        if last:
            mean, msq = s.reg(), s.reg()
            s.op(OP_MUL, mean, t1, k=0, final=True)  # s1 / n (stored)
            s.op(OP_MUL, t2, t2, k=0)  # s2 / n
            s.op(OP_VMUL, msq, mean, mean)
            s.op(OP_SUB, t2, t2, msq)
            s.op(OP_ADDK, t2, t2, k=1)  # + eps
            s.op(OP_RSQRT, t2, t2, final=True)
            t1 = mean
        s.st(t1, S)
        s.st(t2, S + 1)
    else:
        assert phase == "normalise"
        mean, rstd = s.reg(), s.reg()
        s.ld(mean, S)
        s.ld(rstd, S + 1)
        for r in xs:
            s.op(OP_SUB, r, r, mean)
        for r in xs:
            s.op(OP_VMUL, r, r, rstd)
        for i, r in enumerate(xs):
            s.op(OP_MUL, r, r, k=i)
        for i, r in enumerate(xs):
            s.op(OP_ADDK, r, r, k=w + i, final=True)
        for i, r in enumerate(xs):
            s.st(r, Y + i)


def _chain(s: _Stream, o: int, regs: list[int], acc: list[int], final: bool) -> int:
    """Reduce `regs` (>= 2 per accumulator) with opcode o (MAX / ADD) into len(acc) interleaved chains, then
    a tree over the chains; the inputs are kept. Returns the register holding the result."""
    m = len(acc)
    assert len(regs) >= 2 * m
    for i in range(m):
        s.op(o, acc[i], regs[i], regs[i + m])
    for i in range(2 * m, len(regs)):
        s.op(o, acc[i % m], acc[i % m], regs[i])
    return _tree(s, o, acc, final=final)


#: accumulator chains of a row reduction (>= the ADD latency keeps the chains from stalling; policy)
REDUCE_CHAINS = 4


def _chains_for(w: int) -> int:
    return max(1, min(REDUCE_CHAINS, w // 2))


def _softmax(s: _Stream, x: int, w: int, sk: _Skew) -> None:
    """max (MAX chains), x - max (SUB), exp (EXP), sum (ADD chains; these three software-pipelined around
    the EXPs: `_Skew`), 1 / sum (RECIP), scale (VMUL)."""
    if w < 2:
        raise SpecError("softmax.n", w, "a row length >= 2")
    ch = _chains_for(w)
    xs = list(range(x, x + w))
    m = _chain(s, OP_MAX, xs, [s.reg() for _ in range(ch)], final=False)
    acc = [s.reg() for _ in range(ch)]
    _skewed(
        w,
        [
            (0, lambda i: s.op(OP_EXP, x + i, x + i)),
            (-sk.lead, lambda i: s.op(OP_SUB, x + i, x + i, m)),
            (sk.lag, _chain_skewed(s, OP_ADD, xs, acc)),
        ],
    )
    tot = _tree(s, OP_ADD, acc)
    s.op(OP_RECIP, tot, tot)
    for i in range(w):
        s.op(OP_VMUL, x + i, x + i, tot, final=True)


def _layernorm(s: _Stream, x: int, w: int, sk: _Skew) -> None:
    """Coefficient scalars: gamma[0..n), beta[0..n), 1 / n, eps.  s1 = sum x, s2 = sum x^2 (ADD chains),
    mean = s1 / n, var = s2 / n - mean^2, rstd = RSQRT(var + eps), y = (x - mean) rstd gamma + beta."""
    n = w
    if w < 2:
        raise SpecError("layernorm.n", w, "a row length >= 2")
    ch = _chains_for(w)
    s1 = _chain(s, OP_ADD, list(range(x, x + w)), [s.reg() for _ in range(ch)], final=False)
    s2 = _sumsq(s, list(range(x, x + w)), final=False, lag=sk.sq_lag)
    mean, msq = s.reg(), s.reg()
    s.op(OP_MUL, mean, s1, k=2 * n)  # s1 / n
    s.op(OP_MUL, s2, s2, k=2 * n)  # s2 / n
    s.op(OP_VMUL, msq, mean, mean)
    s.op(OP_SUB, s2, s2, msq)
    s.op(OP_ADDK, s2, s2, k=2 * n + 1)  # + eps
    s.op(OP_RSQRT, s2, s2)
    for i in range(w):
        s.op(OP_SUB, x + i, x + i, mean)
    for i in range(w):
        s.op(OP_VMUL, x + i, x + i, s2)
    for i in range(w):
        s.op(OP_MUL, x + i, x + i, k=i)
    for i in range(w):
        s.op(OP_ADDK, x + i, x + i, k=n + i, final=True)


def _elementwise(s: _Stream, kind: str, x: int, w: int, x2_slot: int, sk: _Skew) -> None:
    if kind in ("add", "mul"):
        x2 = s.reg(w)
        for i in range(w):
            s.ld(x2 + i, x2_slot + i)
        for i in range(w):
            s.op(OP_ADD if kind == "add" else OP_VMUL, x + i, x + i, x2 + i, final=True)
    elif kind == "add-bias":  # coefficient scalars: the chunk's biases
        for i in range(w):
            s.op(OP_ADDK, x + i, x + i, k=i, final=True)
    elif kind == "scale":  # coefficient scalar: the scale
        for i in range(w):
            s.op(OP_MUL, x + i, x + i, k=0, final=True)
    elif kind == "relu":  # coefficient scalar: 0
        z = s.reg()
        s.op(OP_MUL, z, x, k=0)
        for i in range(w):
            s.op(OP_MAX, x + i, x + i, z, final=True)
    else:
        assert kind == "gelu"  # coefficient scalars: c1 k, k, 1 / 2, 1
        a, b = s.reg(w), s.reg(w)
        for i in range(w):
            s.op(OP_VMUL, a + i, x + i, x + i)  # x^2
        for i in range(w):
            s.op(OP_MUL, a + i, a + i, k=0)  # c1 k x^2
        for i in range(w):
            s.op(OP_ADDK, a + i, a + i, k=1)  # + k
        for i in range(w):
            s.op(OP_VMUL, a + i, a + i, x + i)  # u = x (k + c1 k x^2)
        # software-pipelined around the TANHs (`_Skew`)
        _skewed(
            w,
            [
                (0, lambda i: s.op(OP_TANH, a + i, a + i)),
                (0, lambda i: s.op(OP_MUL, b + i, x + i, k=2)),  # x / 2
                (sk.lag, lambda i: s.op(OP_ADDK, a + i, a + i, k=3)),  # 1 + tanh u
                (sk.lag + sk.lead, lambda i: s.op(OP_VMUL, x + i, b + i, a + i, final=True)),
            ],
        )


# ---- the Program: SPM layout, schedule, DMA ---------------------------------------------------------
def _build(
    spec: DenseSpec,
    arch: DataflowArch,
    dataflow: str,
    model: MachineModel,
    lay: DenseLayout,
    templates: list[DenseTemplate],
    coords: list[tuple[int, int]],
    units_per_batch: int | None,
) -> Program:
    lanes = arch.pe.simd_lanes
    geo = SpmGeometry.of(arch)
    n_pe = len(coords)
    n_pass = len(templates)

    def align(v: int) -> int:
        return -(-v // geo.groups) * geo.groups

    # coefficient tables: one per (segment, pass)
    coef_base: dict[tuple[int, int], int] = {}
    pos = 0
    for sgi in range(lay.segments):
        for p, t in enumerate(templates):
            coef_base[(sgi, p)] = pos
            pos += t.coef_vectors * n_pe
    coef_slots = align(pos)
    cset = max(t.coef_vectors for t in templates)
    distinct = lay.segments * n_pass if cset else 0
    coef_sets = 1 if distinct <= 1 else 2
    cap, _ = rf_vectors(arch)
    data = tuple(t.data_regs for t in templates)
    tags = tuple(min(arch.pe.active_tags, (cap - coef_sets * cset) // d) for d in data)
    if min(tags) < 1:
        need = coef_sets * cset + max(data)
        raise SpecError(
            "arch.pe.register_file.entries",
            arch.pe.register_file.entries,
            f"room for {spec.describe()}: {need} vector registers per PE ({coef_sets} x {cset} coefficient + "
            f"{max(data)} data), short by {need - cap}",
            hint="a shorter row (n) or a smaller row_chunk / gemm_k_chunk / gemm_cols_per_pe",
        )
    # streaming batches of g units (never across segments); a row unit too large for DENSE_BUFFERS buffers
    # runs single-buffered (the next batch's loads wait for this batch's stores)
    budget = arch.spm.size_bytes // geo.vec_bytes - coef_slots
    buffers = DENSE_BUFFERS if budget // (DENSE_BUFFERS * lay.unit_slots) >= 1 else 1
    fit = budget // (buffers * lay.unit_slots)
    if fit < 1:
        need = (coef_slots + lay.unit_slots) * geo.vec_bytes
        raise SpecError(
            "arch.spm.size_bytes",
            arch.spm.size_bytes,
            f"room for {spec.describe()}: coefficient table + one buffer of one row unit = "
            f"{need} B, short by {need - arch.spm.size_bytes} B",
        )
    g = min(units_per_batch or default_units_per_batch(spec), fit, lay.units_per_segment)
    batches: list[tuple[int, int, int]] = []  # (segment, first unit, end unit) within the segment
    for sgi in range(lay.segments):
        for u0 in range(0, lay.units_per_segment, g):
            batches.append((sgi, u0, min(lay.units_per_segment, u0 + g)))
    buf_slots = align(g * lay.unit_slots)
    buffer_base = [coef_slots + i * buf_slots for i in range(buffers)]
    spm = SpmLayout(
        vec_bytes=geo.vec_bytes,
        coef_base=[coef_base[(0, p)] for p in range(n_pass)],
        coef_slots=coef_slots,
        buffer_base=buffer_base,
        buffer_slots=buf_slots,
        total_slots=coef_slots + buffers * buf_slots,
        groups=geo.groups,
    )

    # rows of each unit
    def unit_rows(u: int) -> int:
        return max(0, min(lay.unit_rows, spec.rows - u * lay.unit_rows))

    it: dict[str, list[int]] = {k: [] for k in ("batch", "pass", "rg", "lanes", "seq", "base")}
    inst_cb: list[int] = []
    inst_pass: list[int] = []
    inst_key: list[tuple[int, int]] = []
    inst_iters: list[tuple[int, int]] = []
    for b, (sgi, u0, u1) in enumerate(batches):
        buf = buffer_base[b % buffers]
        for p in range(n_pass):
            inst_cb.append(coef_base[(sgi, p)])
            inst_pass.append(p)
            inst_key.append((sgi, p))
            inst_iters.append((len(it["batch"]), u1 - u0))
            for u in range(u0, u1):
                it["batch"].append(b)
                it["pass"].append(p)
                it["rg"].append(u - u0)
                it["lanes"].append(
                    -(-unit_rows(u) * lanes // lay.unit_rows) if lay.kind == "rowwise" else unit_rows(u)
                )
                it["seq"].append(len(inst_cb) - 1)
                it["base"].append(buf + (u - u0) * lay.unit_slots)
    n_it = len(it["batch"])
    n_inst = len(inst_cb)
    inst_set = [0] * n_inst
    needs = [cset > 0] * n_inst
    for u in range(1, n_inst):
        if inst_key[u] == inst_key[u - 1] or coef_sets == 1:
            inst_set[u], needs[u] = inst_set[u - 1], False
        else:
            inst_set[u] = 1 - inst_set[u - 1]
    pf_u = np.full((n_it, 2), -1, dtype=np.int64)
    pf_v0 = np.zeros((n_it, 2), dtype=np.int64)
    pf_v1 = np.zeros((n_it, 2), dtype=np.int64)
    if cset:
        pf_u[0, 0], pf_v1[0, 0] = 0, templates[inst_pass[0]].coef_vectors
    for u in range(n_inst - 1):
        if not needs[u + 1]:
            continue
        first, cnt = inst_iters[u]
        c = templates[inst_pass[u + 1]].coef_vectors
        for gi in range(cnt):
            q = 1 if first + gi == 0 else 0
            pf_u[first + gi, q] = u + 1
            pf_v0[first + gi, q] = (gi * c) // cnt
            pf_v1[first + gi, q] = ((gi + 1) * c) // cnt
    schedule = Schedule.of(it, pf_u, pf_v0, pf_v1)

    # ---- DMA: per record field, one transfer split over the channels --------------------------------------
    dma: list[DMAOp] = []
    n_ch = arch.dma.channels
    last_store: dict[int, int] = {}

    def records(b: int):
        """(row lo, rows, record base slot) of every record of batch b that holds rows."""
        sgi, u0, u1 = batches[b]
        buf = buffer_base[b % buffers]
        for u in range(u0, u1):
            rows_u = unit_rows(u)
            base = buf + (u - u0) * lay.unit_slots
            if lay.kind == "gemm":
                yield sgi * spec.rows + u * lanes, rows_u, base
            else:
                for e in range(n_pe):
                    r = min(lanes, rows_u - e * lanes)
                    if r > 0:
                        yield u * lay.unit_rows + e * lanes, r, base + e * lay.rec

    # (field, slots, real elements per row): GEMM's A field includes the zero padding of the last k-chunk
    in_fields = (
        [("a", lay.kc * lay.n_chunks, spec.k)]
        if lay.kind == "gemm"
        else [(f, spec.n, spec.n) for f in ("x", "x2") if f in lay.fields]
    )
    out_len = spec.n

    def loads(b: int, only_first: bool = False) -> None:
        for k_, (r0, nr, base) in enumerate(records(b)):
            if only_first and k_ > 0:
                break
            if not only_first and b == 0 and k_ == 0:
                continue
            for f, length, real in in_fields:
                lo = base + lay.fields[f]
                for a_, z in split_slots(lo, lo + length, n_ch):
                    dram = round(nr * real * ELEM_BYTES * (z - a_) / length)
                    dma.append(
                        DMAOp(
                            "load",
                            b,
                            k_,
                            -1,
                            dram,
                            (z - a_) * geo.vec_bytes,
                            [(a_, z)],
                            rows=(r0, r0 + nr),
                            after=last_store.get(b % buffers, -1),
                        )
                    )

    def stores(b: int) -> None:
        field_ = "c" if lay.kind == "gemm" else "y"
        for k_, (r0, nr, base) in enumerate(records(b)):
            lo = base + lay.fields[field_]
            for a_, z in split_slots(lo, lo + out_len, n_ch):
                dma.append(
                    DMAOp(
                        "store",
                        b,
                        k_,
                        -1,
                        nr * (z - a_) * ELEM_BYTES,
                        (z - a_) * geo.vec_bytes,
                        [(a_, z)],
                        rows=(r0, r0 + nr),
                    )
                )
        last_store[b % buffers] = len(dma) - 1

    def coef_ops(lo: int, hi: int) -> None:
        if hi > lo:
            for a_, z in split_slots(lo, hi, n_ch):
                nb = (z - a_) * geo.vec_bytes
                dma.append(DMAOp("coef", -1, -1, -1, nb, nb, [(a_, z)]))

    first_tab = templates[0].coef_vectors * n_pe
    loads(0, only_first=True)
    coef_ops(0, first_tab)
    loads(0)
    coef_ops(first_tab, pos)
    for b in range(1, min(buffers, len(batches))):
        loads(b)
    for b in range(len(batches)):
        stores(b)
        if b + buffers < len(batches):
            loads(b + buffers)

    plan = DensePlan(
        dataflow=dataflow,
        passes=tuple(t.plan for t in templates),
        rows_per_batch=g * lay.unit_rows,
        buffers=buffers,
        batches=tuple((u0, u1) for _, u0, u1 in batches),
        coef_vectors=tuple(t.coef_vectors for t in templates),
        data_regs=data,
        coef_set_regs=cset,
        coef_sets=coef_sets,
        tag_slots=tags,
        reasons=(
            f"{lay.kind} mapping: {n_pass} passes, {g} row units of {lay.unit_rows} rows per streaming batch",
        ),
        block=lay.unit_rows,
        positions_per_pe=lay.w if lay.kind == "rowwise" else lay.cols,
    )
    return Program(
        spec=spec,  # type: ignore[arg-type]
        arch_name=arch.name,
        plan=plan,  # type: ignore[arg-type]
        model=model,
        templates=templates,  # type: ignore[arg-type]
        schedule=schedule,
        dma=dma,
        spm=spm,
        pe_coords=coords,
        instance_coef_base=np.array(inst_cb, dtype=np.int64),
        instance_pass=np.array(inst_pass, dtype=np.int64),
        instance_set=np.array(inst_set, dtype=np.int64),
        lanes=lanes,
        meta={"dense_layout": lay, "batches_units": batches},
    )


def is_dense_program(program: Program) -> bool:
    return "dense_layout" in program.meta


def compute_lane_ops(program: Program) -> int:
    """Compute lane-instructions issued (padding lanes of partial row units included)."""
    return (
        sum(
            int(np.isin(t.op, COMPUTE_OPS).sum())
            * int(program.schedule.lanes[program.schedule.pass_ == p].sum())
            for p, t in enumerate(program.templates)
        )
        // max(1, program.n_active)
        * program.n_active
    )


# ---- data for the value engine: coefficient table, inputs into the SPM, outputs back ---------------------
def dense_random_data(program: Program, seed: int) -> dict[str, Any]:
    """Random fp16-representable inputs of the op (N(0, 1); softmax scores x 3; LayerNorm gamma, beta)."""
    spec: DenseSpec = program.spec  # type: ignore[assignment]
    rng = np.random.default_rng(seed)

    def h(*shape: int, scale: float = 1.0) -> np.ndarray:
        return (rng.standard_normal(shape) * scale).astype(np.float16).astype(np.float64)

    if spec.kind == "gemm":
        return {"a": h(spec.batch, spec.rows, spec.k), "b": h(spec.batch, spec.k, spec.n)}
    d: dict[str, Any] = {"x": h(spec.rows, spec.n, scale=3.0 if spec.kind == "softmax" else 1.0)}
    if spec.kind in ("add", "mul"):
        d["x2"] = h(spec.rows, spec.n)
    if spec.kind == "add-bias":
        d["bias"] = h(spec.n)
    if spec.kind == "scale":
        d["scale"] = float(np.float16(0.125))
    if spec.kind == "layernorm":
        d["gamma"], d["beta"], d["eps"] = h(spec.n), h(spec.n), spec.eps
    return d


def dense_coefficients(program: Program, data: dict[str, Any]) -> np.ndarray:
    """The SPM coefficient region, (coef_slots, lanes) float64 (rounded to fp16 by the caller)."""
    spec: DenseSpec = program.spec  # type: ignore[assignment]
    lay: DenseLayout = program.meta["dense_layout"]
    lanes = program.lanes
    n_pe = program.n_active
    out = np.zeros((program.spm.coef_slots, lanes), dtype=np.float64)
    pos = 0
    for sgi in range(lay.segments):
        for p, t in enumerate(program.templates):
            cv = t.coef_vectors
            if not cv:
                continue
            scal = np.zeros((n_pe, cv * lanes))
            if lay.kind == "gemm":
                q, tt = lay.pass_index[p]
                kq = lay.kc // lay.ky
                b = np.asarray(data["b"])[sgi]
                arch_cols = max(x for x, _ in program.pe_coords) + 1
                for e, (x, y) in enumerate(program.pe_coords):
                    for j in range(lay.cols):
                        xc = (y // lay.ky) * arch_cols + x
                        col = tt * lay.nx * lay.cols + xc * lay.cols + j
                        for kk in range(kq):
                            k = q * lay.kc + (y % lay.ky) * kq + kk
                            if k < spec.k and col < spec.n:
                                scal[e, j * kq + kk] = b[k, col]
            else:
                j0 = lay.pass_index[p][0] * lay.w
                if spec.kind == "add-bias":
                    vals = np.asarray(data["bias"])[j0 : j0 + lay.w]
                elif spec.kind == "scale":
                    vals = np.array([data["scale"]])
                elif spec.kind == "relu":
                    vals = np.zeros(1)
                elif spec.kind == "gelu":
                    vals = np.array([GELU_C1 * GELU_K, GELU_K, 0.5, 1.0])
                elif lay.phase_of(p) == "stats":  # chunked LayerNorm, last stats pass
                    vals = np.array([1.0 / spec.n, data["eps"]])
                elif lay.phase_of(p) == "normalise":  # chunked LayerNorm: the chunk's gamma, beta
                    g_, b_ = np.asarray(data["gamma"]), np.asarray(data["beta"])
                    vals = np.concatenate([g_[j0 : j0 + lay.w], b_[j0 : j0 + lay.w]])
                else:
                    assert spec.kind == "layernorm"
                    vals = np.concatenate([data["gamma"], data["beta"], [1.0 / spec.n, data["eps"]]])
                scal[:, : len(vals)] = vals
            vec = scal.reshape(n_pe, cv, lanes)
            for e in range(n_pe):
                out[pos + np.arange(cv) * n_pe + e] = vec[e]
            pos += cv * n_pe
    return out


def dense_place_inputs(program: Program, data: dict[str, Any], vbuf: np.ndarray) -> None:
    """What the load DMA writes: every input record of every batch into `vbuf` (batches, slots, lanes)."""
    spec: DenseSpec = program.spec  # type: ignore[assignment]
    lay: DenseLayout = program.meta["dense_layout"]
    lanes = program.lanes
    for b, (sgi, u0, u1) in enumerate(program.meta["batches_units"]):
        for u in range(u0, u1):
            rel = (u - u0) * lay.unit_slots
            if lay.kind == "gemm":
                rows = np.arange(u * lanes, min(spec.rows, (u + 1) * lanes))
                a = np.zeros((lay.kc * lay.n_chunks, len(rows)))
                a[: spec.k] = np.asarray(data["a"])[sgi, rows].T
                vbuf[b, rel : rel + a.shape[0], : len(rows)] = a
                continue
            for e in range(program.n_active):
                r0 = u * lay.unit_rows + e * lanes
                rows = np.arange(r0, min(spec.rows, r0 + lanes))
                if len(rows) == 0:
                    continue
                for f in ("x", "x2"):
                    if f in lay.fields:
                        lo = rel + e * lay.rec + lay.fields[f]
                        vbuf[b, lo : lo + spec.n, : len(rows)] = np.asarray(data[f])[rows].T


def dense_read_outputs(program: Program, vbuf: np.ndarray) -> np.ndarray:
    """What the store DMA reads back: the op's output (GEMM: (batch, M, N); row-wise: (rows, n))."""
    spec: DenseSpec = program.spec  # type: ignore[assignment]
    lay: DenseLayout = program.meta["dense_layout"]
    lanes = program.lanes
    if lay.kind == "gemm":
        out = np.full((spec.batch, spec.rows, spec.n), np.nan)
    else:
        out = np.full((spec.rows, spec.n), np.nan)
    for b, (sgi, u0, u1) in enumerate(program.meta["batches_units"]):
        for u in range(u0, u1):
            rel = (u - u0) * lay.unit_slots
            if lay.kind == "gemm":
                rows = np.arange(u * lanes, min(spec.rows, (u + 1) * lanes))
                lo = rel + lay.fields["c"]
                out[sgi, rows] = vbuf[b, lo : lo + spec.n, : len(rows)].T
                continue
            for e in range(program.n_active):
                r0 = u * lay.unit_rows + e * lanes
                rows = np.arange(r0, min(spec.rows, r0 + lanes))
                if len(rows):
                    lo = rel + e * lay.rec + lay.fields["y"]
                    out[rows] = vbuf[b, lo : lo + spec.n, : len(rows)].T
    return out
