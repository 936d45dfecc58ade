"""What a dense Program computes and how it is mapped: the spec (an op normalised to its matrix view), the
compiler policy constants, and the plan / pass / template / layout types the engines read.

Dense operators are instruction-level Programs that the cycle-level engine (`swallowtail.sim.timing`) runs
unchanged and the value engine (`swallowtail.sim.values.execute_dense`) executes on data.

The butterfly machinery is reused as it is: SIMD lanes are *rows* (a row group of `simd_lanes` rows per
vector), so a row's element j is register j of one lane, and scalars that every row shares (a weight entry,
a LayerNorm gamma, a GELU constant) are coefficient scalars read "by element" (`MUL`, `FMA`, `ADDK`),
loaded once per block instance into the RF's coefficient sets and reused by every row group streamed through
(the shared emitter `swallowtail.compiler.emit`: the same `Schedule` / `DMAOp` / `SpmLayout` as butterflies).

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
    Weights larger than the SPM are tiled (`swallowtail.compiler.dense.gemm`): groups of column tiles
    stream through two SPM coefficient regions while the rows stream through the buffers.

Row-wise operators (softmax, LayerNorm, elementwise)::

    one iteration = PEs x 8 rows, PE e owns row group e (no NoC traffic: a row is in one lane);
    block instance = a chunk of w columns (w vectors); passes sweep the chunks:
      softmax     max-sum (MAX tree, SUB, EXP, ADD tree; online: the running sum rescaled by
                  EXP(m - m') when the running max grows; RECIP of the sum) -> scale (SUB, EXP, VMUL)
      LayerNorm   stats (ADD tree of x, VMUL x x + ADD tree: running sums) -> normalise
                  (mean = s1 / n, var = s2 / n - mean^2, RSQRT(var + eps), SUB, VMUL, MUL gamma, ADDK beta)
      add / mul   LD x, x2 -> ADD / VMUL -> ST; bias add: ADDK by element; scale: MUL by element
      gelu        (tanh form, as swallowtail.nn): VMUL x x, MUL c1 k, ADDK k, VMUL x, TANH, MUL 0.5,
                  ADDK 1, VMUL (8 instructions, 1 special; k, c1: `swallowtail.flops.GELU_K`, `GELU_C1`)
      relu        MUL x 0, MAX
    Running statistics live in a per-row-group state region of the SPM; the first chunk of a reduction has
    its own template (no state to read), so a reduction phase is two passes ("first", "rest"). Around the
    special-function unit (EXP, TANH: one issue per initiation interval, long latency) the per-element
    instructions are software-pipelined (`stream.Skew`): producers run ahead, consumers behind, so the
    in-order compute pipeline issues them between the special ops instead of waiting for each result.

Every PE runs the same instruction sequence (the engine and the value executor need equal step structure);
loads and stores of a PE are rotated over the SPM bank groups by the PE index (`stream.bank_rotate`, as the
butterfly templates' bank order).
Unlike the butterfly compiler there is no candidate search: the knobs below are fixed policy, all
overridable arguments of `compile_dense` (`swallowtail.compiler.compile` knobs).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from swallowtail.compiler.isa import InstructionStream
from swallowtail.errors import SpecError
from swallowtail.workload.ops import GEMM, Conv2d, Elementwise, LayerNorm, Op, Softmax
from swallowtail.workload.structured import BlockSparseMatmul, Monarch

if TYPE_CHECKING:
    from swallowtail.compiler.program import Program

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


#: SPM buffers (double buffering, docs/architecture.md)
DENSE_BUFFERS = 2
ELEMENTWISE_KINDS = ("add", "mul", "scale", "relu", "gelu")


#: the dense mapping kinds that are elementwise ops (`DenseSpec.op_kind` "elementwise")
ELEMENTWISE_MAPPINGS = ("add", "add-bias", "mul", "scale", "relu", "gelu")


# ---- the spec, plan and template types the engines read ---------------------------------------------
@dataclass(frozen=True)
class GemmStage:
    """One GEMM stage of a structured matmul: C_s (rows x n) = A_s (rows x k) @ B_s with B_s zero outside the
    `block` x `block` tiles `blocks` (block row, block column). Stage s > 0 reads the previous stage's output:
    its reduction index i is output column `in_perm[i]` of stage s - 1 (None: i itself); its column j is
    stored at output position `out_perm[j]` (None: j)."""

    k: int
    n: int
    block: int
    blocks: tuple[tuple[int, int], ...]
    in_perm: tuple[int, ...] | None = None
    out_perm: tuple[int, ...] | None = None

    def nonzero_rows(self) -> dict[int, set[int]]:
        """block column -> its nonzero block rows."""
        out: dict[int, set[int]] = {}
        for i, j in self.blocks:
            out.setdefault(j, set()).add(i)
        return out


@dataclass(frozen=True)
class GemmStructure:
    """A structured GEMM as a chain of block-sparse stages (`swallowtail.compiler.dense.structured`): one
    for a block-sparse matmul, two (R, then L through the regrouping permutation) for a Monarch product."""

    op_kind: str  # block_sparse | monarch
    stages: tuple[GemmStage, ...]
    label: str  # the op's shape in words (a describe())


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
    #: a structured GEMM (block-sparse, Monarch): its stages; None for a dense GEMM
    structure: GemmStructure | None = None
    #: what the matrix view stands for when it is not the op itself (a Conv2d's implicit GEMM); not part of
    #: the mapping (equal specs map equally)
    source: str = field(default="", compare=False)

    @property
    def op_kind(self) -> str:
        """The workload op kind: gemm | softmax | layernorm | elementwise."""
        return "elementwise" if self.kind in ELEMENTWISE_MAPPINGS else self.kind

    def describe(self) -> str:
        if self.kind == "gemm" and self.structure is not None:
            return f"structured GEMM {self.structure.label}"
        if self.kind == "gemm":
            b = f"{self.batch} x " if self.batch > 1 else ""
            src = f" ({self.source})" if self.source else ""
            return f"dense GEMM {b}{self.rows}x{self.k} @ {self.k}x{self.n}{src}"
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

    def describe(self, program: Program) -> list[str]:
        """The summary's mapping lines: the matrix view and its split over the PEs, the weights' residency,
        the streaming batches and the register budget."""
        lay: DenseLayout = program.meta["dense_layout"]
        lines = [f"  mapping: {lay.describe(program.spec, program.n_active, program.lanes)}"]
        tiling = program.meta.get("weight_tiling")
        if tiling is not None:
            lines.append(f"  weights: {tiling.describe(program.spm.vec_bytes)}")
        elif lay.kind == "gemm":
            lines.append(
                f"  weights: every pass's coefficient table resident in the SPM ({lay.segments} x "
                f"{len(lay.pass_index)} tables, {program.spm.coef_bytes:,} B)"
            )
        units = [u1 - u0 for u0, u1 in self.batches]
        lines.append(
            f"  row units of {lay.unit_rows} rows, up to {max(units)} per streaming batch ({len(units)} "
            f"batches), {self.buffers} SPM buffers, {len(program.schedule)} iterations, tags in flight per "
            f"PE {_span(self.tag_slots)}, {self.coef_sets} coefficient register sets of {self.coef_set_regs} "
            f"vectors"
        )
        lines.append(f"  {len(self.passes)} passes: {_pass_names(self.passes)}")
        return lines

    def note(self, program: Program) -> str:
        lay: DenseLayout = program.meta["dense_layout"]
        tiling = program.meta.get("weight_tiling")
        tiled = f"; {tiling.note()}" if tiling is not None else ""
        return (
            f"{program.spec.describe()}; dataflow {self.dataflow}; {lay.note()}{tiled}; {len(self.passes)} "
            f"passes, rows per batch {self.rows_per_batch}, {self.buffers} buffers, tags in flight "
            f"{_span(self.tag_slots)}"
        )


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


# ---- the layout (where tensors sit in the SPM) ----------------------------------------------------------
@dataclass(frozen=True)
class StageGeom:
    """How one GEMM stage sits on the PEs and in a record: k-chunks of kc over ky PE rows, column tiles of
    nx x cols; its input field at record offset `a_off` (reduction index i at `a_off + k_slot[i]`, None: i),
    its output field at `c_off` (column j at `c_off + c_slot[j]`, None: j)."""

    kc: int
    ky: int
    nx: int
    cols: int
    n_chunks: int
    n_tiles: int
    a_off: int
    c_off: int
    k_slot: tuple[int, ...] | None = None
    c_slot: tuple[int, ...] | None = None

    @property
    def tile(self) -> int:
        return self.nx * self.cols

    def a_slot(self, i: int) -> int:
        return self.a_off + (self.k_slot[i] if self.k_slot is not None and i < len(self.k_slot) else i)

    def out_slot(self, j: int) -> int:
        return self.c_off + (self.c_slot[j] if self.c_slot is not None and j < len(self.c_slot) else j)


@dataclass(frozen=True)
class PassGrid(Sequence[tuple[int, int]]):
    """The passes (q, t) of a dense GEMM, q-major: `tuple((q, t) for q in range(chunks) for t in
    range(tiles))` without building it (a 2^18 x 2^18 GEMM has 33 million passes; its probe runs a few)."""

    chunks: int
    tiles: int

    def __len__(self) -> int:
        return self.chunks * self.tiles

    def __getitem__(self, p: int) -> tuple[int, int]:  # type: ignore[override] -- no slices
        if not -len(self) <= p < len(self):
            raise IndexError(p)
        return divmod(p % len(self), self.tiles)

    def __iter__(self) -> Iterator[tuple[int, int]]:
        return ((q, t) for q in range(self.chunks) for t in range(self.tiles))


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
    pass_index: Sequence[tuple[int, int]] = ()
    # row-wise: the phases the passes sweep (pass_index[p][1] indexes it): ("map",) for an elementwise op,
    # ("row",) for a reduction whose whole row sits in registers (one pass), otherwise a chunked reduction:
    # ("max-sum", "scale") | ("stats", "normalise"), each phase a sweep over the n_cchunks chunks
    phases: tuple[str, ...] = ()
    # row-wise: whether the template builders' register demand fits the RF (the layout's w was chosen so)
    data_regs: int = 0  # most data registers of a pass template (per tag slot)
    coef_vectors: int = 0  # most coefficient vectors of a pass template (per coefficient set)
    # a structured GEMM (`DenseSpec.structure`): each stage's geometry, and per pass its stage and whether it
    # is its column tile's first (no partial sum to load); pass_index then holds (k-chunk, tile) in its stage
    stages: tuple[StageGeom, ...] = ()
    pass_stage: tuple[int, ...] = ()
    pass_first: tuple[bool, ...] = ()
    # structured: per pass, the k-chunk each PE column block runs (-1: none -- zero coefficients)
    pass_chunks: tuple[tuple[int, ...], ...] = ()

    def stage_geom(self, p: int) -> StageGeom:
        """The geometry pass p runs in (a dense GEMM: the layout's own)."""
        if self.stages:
            return self.stages[self.pass_stage[p]]
        return StageGeom(
            self.kc,
            self.ky,
            self.nx,
            self.cols,
            self.n_chunks,
            self.n_tiles,
            self.fields["a"],
            self.fields["c"],
        )

    def k_chunk(self, p: int, xc: int) -> int:
        """The k-chunk PE column block xc runs in pass p (a dense GEMM: the pass's own)."""
        if self.stages:
            return max(0, self.pass_chunks[p][xc])
        return self.pass_index[p][0]

    def is_first(self, p: int) -> bool:
        return self.pass_first[p] if self.stages else self.pass_index[p][0] == 0

    def describe(self, spec: DenseSpec, n_pe: int, lanes: int) -> str:
        """How the op's matrix view is split over the PEs and the passes (one line)."""
        if self.kind == "gemm" and self.stages:
            per = "; ".join(
                f"stage {i}: k-chunks of {g.kc} over {g.ky} PE rows, {g.n_tiles} column tiles of {g.tile}"
                for i, g in enumerate(self.stages)
            )
            return (
                f"{spec.describe()} as {len(self.stages)} block-sparse GEMM stage(s), only the column tiles' "
                f"nonzero k-chunks as passes ({len(self.pass_index)}): {per}; stage outputs stay in the "
                "record"
            )
        if self.kind == "gemm":
            kq = self.kc // self.ky
            b = f" per batch of {self.segments}, each its own B" if self.segments > 1 else ""
            return (
                f"C = A @ B{b}: K = {spec.k} in {self.n_chunks} k-chunks of {self.kc} split over {self.ky} "
                f"PE rows ({kq} inputs per PE, reduce-scatter over the NoC), N = {spec.n} in {self.n_tiles} "
                f"column tiles of {self.nx * self.cols} ({self.nx} PE column blocks x {self.cols} columns "
                "per PE); B's entries are coefficient scalars read by element"
            )
        row = (
            "the whole row in registers, one pass"
            if not self.chunked
            else f"{self.n_cchunks} chunks of {self.w} elements, phases {list(self.phases)} (running "
            "statistics in the SPM)"
        )
        return (
            f"a row unit = {n_pe} PEs x {lanes} rows (PE e owns row group e, a row in one lane: element j in "
            f"register j); rows of n = {spec.n}: {row}"
        )

    def note(self) -> str:
        """The mapping in a few words (a Result's note)."""
        if self.kind == "gemm" and self.stages:
            return f"{len(self.stages)} block-sparse stage(s), {len(self.pass_index)} nonzero passes"
        if self.kind == "gemm":
            return (
                f"{self.n_chunks} k-chunks of {self.kc} over {self.ky} PE rows x {self.n_tiles} column tiles "
                f"of {self.nx * self.cols}, row units of {self.unit_rows} rows"
            )
        chunks = (
            f"{self.n_cchunks} chunks of {self.w} elements" if self.chunked else "whole rows in registers"
        )
        return f"row units of {self.unit_rows} rows (a row group per PE), {chunks}"

    @property
    def chunked(self) -> bool:
        """A row reduction as multi-pass phases over column chunks (running statistics in the SPM)."""
        return len(self.phases) > 1

    def phase_of(self, p: int) -> str:
        return self.phases[self.pass_index[p][1]] if self.phases else ""


def dense_spec(op: Op) -> DenseSpec:
    """Normalise a dense workload op to its mapping's matrix view; SpecError for what is not mapped."""
    if isinstance(op, (BlockSparseMatmul, Monarch)):
        st = gemm_structure(op)
        k, n = st.stages[0].k, st.stages[-1].n
        rows = op.m if isinstance(op, BlockSparseMatmul) else op.rows
        return DenseSpec(op.name, "gemm", rows=rows, n=n, k=k, flops=op.flops, structure=st)
    if isinstance(op, GEMM):
        src = f"the implicit GEMM of {op.describe()}" if isinstance(op, Conv2d) else ""
        return DenseSpec(
            op.name, "gemm", rows=op.m, n=op.n, k=op.k, batch=op.batch, flops=op.flops, source=src
        )
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


def gemm_structure(op: BlockSparseMatmul | Monarch) -> GemmStructure:
    """The stages of a structured op. Monarch (`swallowtail.nn.monarch`, per stack s): R maps input block k
    (b1 entries) to h block k; P^T regroups h (b2 x b1 -> b1 x b2); L maps each of the b1 groups (b2 entries)
    to one; P puts output (i, a) at a * b1 + i."""
    if isinstance(op, BlockSparseMatmul):
        return GemmStructure("block_sparse", (GemmStage(op.k, op.n, op.block, op.blocks),), op.describe())
    n, b1, b2, s_ = op.n, op.b1, op.b2, op.stacks
    r = GemmStage(n, s_ * n, b1, tuple((kb, st * b2 + kb) for st in range(s_) for kb in range(b2)))
    perm_in = tuple(st * n + k * b1 + i for st in range(s_) for i in range(b1) for k in range(b2))
    perm_out = tuple(st * n + a * b1 + i for st in range(s_) for i in range(b1) for a in range(b2))
    blocks = tuple((g, g) for g in range(s_ * b1))
    l_ = GemmStage(s_ * n, s_ * n, b2, blocks, in_perm=perm_in, out_perm=perm_out)
    return GemmStructure("monarch", (r, l_), op.describe())


def _row_len(numel: int) -> int:
    """Row length of an elementwise op without columns: the largest power-of-two divisor of numel up to 64
    (compiler policy: the element order does not matter, only the vector count)."""
    return math.gcd(numel, 64)


def _span(values: tuple[int, ...]) -> str:
    """ "4" or "2-4": the range of a per-pass quantity."""
    lo, hi = min(values), max(values)
    return f"{lo}" if lo == hi else f"{lo}-{hi}"


def _pass_names(passes: tuple[DensePass, ...], show: int = 4) -> str:
    """The first and last pass names (all when few)."""
    names = [p.name for p in passes]
    if len(names) <= 2 * show:
        return ", ".join(names)
    return ", ".join(names[:show]) + f", ... ({len(names) - 2 * show} more), " + ", ".join(names[-show:])
