"""The Program: the third spec (*how* an op is placed in space and time on the array), for every op kind.

A Program is compact: one instruction *template* per pass (numpy arrays of instruction fields, one row per
active PE, `swallowtail.compiler.isa`) that every iteration replays with its own SPM base address, tag slot
and coefficient set; a schedule of iterations (numpy arrays); the DMA transfers (DRAM <-> SPM, per row group,
double-buffered); and the SPM layout. Nothing is one Python object per instruction, so n = 8192 compiles in
milliseconds. What an iteration is depends on the op kind (`Program.kind`):

- butterfly / fft (`swallowtail.compiler.butterfly`): one block instance x one row group of `simd_lanes` rows;
- gemm (`swallowtail.compiler.dense.gemm`): one row group of A x one (k-chunk, column tile) pass;
- softmax / layernorm / elementwise (`swallowtail.compiler.dense.rowwise`): PEs x `simd_lanes` rows (PE e
  owns row group e) x one column chunk.

PE model the templates target (docs/architecture.md): a tagged dataflow PE with four decoupled
in-order pipelines -- load (LD: SPM -> RF), store (ST: RF -> SPM), transfer (XFER: RF -> a neighbour's RF
over the NoC) and compute (one vector instruction per cycle on the FUs). An instruction fires when its
operands are ready and its pipeline is free; each iteration runs under one tag and its registers are that
tag's registers, so at most `tag_slots` iterations (<= the PE's active tags, and what the RF can hold) are in
flight per PE.

Register file of a PE (vector registers)::

    [ coefficient set 0 | coefficient set 1 (| ...) | tag 0 data | tag 1 data | ... | tag S-1 data ]
      block instance u uses one set while the other is prefetched for u + 1, spread over u's iterations
      (or, when they all fit, every block instance has its own resident set, loaded once)

SPM layout (vector slots of simd_lanes fp16; `swallowtail.compiler.emit` lays it out for every kind)::

    [ coefficient tables | buffer 0 | buffer 1 (| buffer 2) ]
    [ buffer 0 | buffer 1 | coefficient region 0 | coefficient region 1 ]     (a weight-tiled GEMM)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from swallowtail.arch.specs import DataflowArch
from swallowtail.compiler.isa import (
    COEF_OPS,
    COMPUTE_OPS,
    OP_ADD,
    OP_ADDK,
    OP_FMA,
    OP_FMS,
    OP_LD,
    OP_MAX,
    OP_MUL,
    OP_ST,
    OP_SUB,
    OP_VMUL,
    OP_XFER,
    OPCODE_NAMES,
    InstructionStream,
)
from swallowtail.compiler.model import MachineModel
from swallowtail.compiler.plan import MappingPlan
from swallowtail.flops import ceil_div

#: the op kinds a Program computes (`Program.kind`)
OP_KINDS = ("butterfly", "fft", "gemm", "softmax", "layernorm", "elementwise")
#: summary(): passes listed one by one up to this many, else grouped by template shape
SUMMARY_PASS_LINES = 8


class OpSpec(Protocol):
    """What a Program's spec answers, whatever the op kind (`KernelSpec`, `DenseSpec`)."""

    op_name: str
    kind: str  # the mapping's kind (butterfly: real | cplx | fft; dense: gemm | softmax | ... | gelu)
    rows: int
    n: int
    flops: int

    @property
    def op_kind(self) -> str: ...

    def describe(self) -> str: ...


@dataclass
class Schedule:
    """The iterations in program order (every array has one entry per iteration)."""

    batch: np.ndarray
    pass_: np.ndarray
    instance: np.ndarray  # block instance j within the pass
    row_group: np.ndarray  # row group within the batch
    lanes: np.ndarray  # rows in this row group (simd_lanes except the last)
    seq: np.ndarray  # global block-instance sequence number u (coefficient set = u % 2)
    base: np.ndarray  # SPM slot base of the iteration's data
    # coefficient loads carried by the iteration: up to two (target instance seq, first vector, end vector)
    pf_u: np.ndarray  # (iterations, 2), -1 if unused
    pf_v0: np.ndarray
    pf_v1: np.ndarray

    def __len__(self) -> int:
        return int(self.batch.shape[0])

    @classmethod
    def of(cls, it: dict[str, list[int]], pf_u: np.ndarray, pf_v0: np.ndarray, pf_v1: np.ndarray) -> Schedule:
        """From per-iteration lists: batch, pass, inst (absent: instance 0), rg, lanes, seq, base."""
        n = len(it["batch"])

        def col(key: str) -> np.ndarray:
            return np.array(it[key], dtype=np.int64) if key in it else np.zeros(n, dtype=np.int64)

        return cls(
            batch=col("batch"),
            pass_=col("pass"),
            instance=col("inst"),
            row_group=col("rg"),
            lanes=col("lanes"),
            seq=col("seq"),
            base=col("base"),
            pf_u=pf_u,
            pf_v0=pf_v0,
            pf_v1=pf_v1,
        )


def split_slots(lo: int, hi: int, parts: int) -> list[tuple[int, int]]:
    """SPM slots [lo, hi) cut into at most `parts` contiguous pieces (a transfer split over the DMA
    channels)."""
    if hi <= lo:
        return []
    step = ceil_div(hi - lo, parts)
    return [(a, min(hi, a + step)) for a in range(lo, hi, step)]


@dataclass
class DMAOp:
    """One DMA transfer between DRAM and the SPM (program order = per-channel FIFO order)."""

    kind: str  # "coef" | "load" | "store"
    batch: int
    row_group: int
    channel: int  # -1: the engine picks the channel that can start it first
    dram_bytes: int
    spm_bytes: int
    slot_ranges: list[tuple[int, int]]  # SPM vector slots written (coef, load) or read (store): [lo, hi)
    rows: tuple[int, int] = (0, 0)  # kernel rows [lo, hi) it carries (load / store)
    after: int = -1  # index of a DMA op that must finish first (a buffer's previous store)


@dataclass
class SpmLayout:
    """Where the coefficient tables and the streaming buffers sit in the SPM (vector slots)."""

    vec_bytes: int
    coef_base: list[int]  # per pass: first slot of its coefficient table (weight-tiled: in region 0)
    coef_slots: int  # the whole coefficient area (all regions)
    buffer_base: list[int]
    buffer_slots: int
    total_slots: int
    groups: int
    #: regions the coefficient area is cut into: 1 (every table resident for the whole program) or 2 (a
    #: weight-tiled GEMM: one weight tile's tables per region, the next one loaded while the other is read)
    coef_regions: int = 1
    #: first slot of the coefficient area (0: before the buffers; after them when regions are reloaded)
    coef_start: int = 0

    @property
    def coef_bytes(self) -> int:
        return self.coef_slots * self.vec_bytes

    @property
    def buffer_bytes(self) -> int:
        return self.buffer_slots * self.vec_bytes

    @property
    def used_bytes(self) -> int:
        return self.total_slots * self.vec_bytes


@dataclass
class Program:
    """A compiled op: templates + schedule + DMA + SPM layout + the plan and its reasons."""

    spec: OpSpec
    arch_name: str
    plan: MappingPlan
    model: MachineModel
    templates: list[Any]  # InstructionStream subclasses: butterfly PassTemplate | dense DenseTemplate
    schedule: Schedule
    dma: list[DMAOp]
    spm: SpmLayout
    pe_coords: list[tuple[int, int]]  # active PE index -> (x, y)
    instance_coef_base: np.ndarray  # per instance seq u: SPM slot of its (pass, instance) coefficient table
    instance_pass: np.ndarray  # per instance seq u: its pass
    instance_set: np.ndarray  # per instance seq u: the coefficient set (0 / 1) it reads
    lanes: int
    meta: dict[str, Any] = field(default_factory=dict)
    #: the arch it was compiled for: there the simulator arbitrates greedily (and so fixes the arbitration
    #: order); on any other arch it replays that order (`swallowtail.sim.replay`). None: always greedy
    compile_arch: DataflowArch | None = None

    # ---- derived ---------------------------------------------------------------------------------------
    @property
    def kind(self) -> str:
        """The op kind it computes: one of OP_KINDS."""
        return self.spec.op_kind

    @property
    def dataflow(self) -> str:
        return self.plan.dataflow

    @property
    def backend(self) -> str:
        return f"dataflow-{self.plan.dataflow}"

    @property
    def n_active(self) -> int:
        return len(self.pe_coords)

    def instruction_counts(self) -> dict[str, int]:
        """Vector instructions issued over the whole program (all PEs) by kind."""
        out: dict[str, int] = {name: 0 for name in OPCODE_NAMES.values()}
        per_pass = np.bincount(self.schedule.pass_, minlength=len(self.templates))
        for t, count in zip(self.templates, per_pass, strict=True):
            for name, c in t.counts().items():
                out[name] += int(c) * int(count) * self.n_active
        coef_lds = int(np.clip(self.schedule.pf_v1 - self.schedule.pf_v0, 0, None).sum()) * self.n_active
        out["LD"] += coef_lds
        out["LD (coefficients)"] = coef_lds
        return {k: v for k, v in out.items() if v}

    def lane_ops(self) -> int:
        """Useful compute lane-instructions (each issued compute instruction x its active lanes)."""
        total = 0
        for p, t in enumerate(self.templates):
            per = int(np.isin(t.op[0], COMPUTE_OPS).sum()) * self.n_active
            total += per * int(self.schedule.lanes[self.schedule.pass_ == p].sum())
        return total

    # ---- inspection ------------------------------------------------------------------------------------
    def summary(self) -> str:
        """What the program is, how it is mapped and why: the plan's own lines, then the counts every kind
        shares (instructions, per-pass templates, SPM footprint, DMA, knobs, reasons, model)."""
        pl = self.plan
        lines = [f"Program ({self.kind}): {self.spec.describe()} on {self.arch_name}, dataflow {pl.dataflow}"]
        lines += pl.describe(self)
        counts = self.instruction_counts()
        lines.append("  instructions (all PEs): " + ", ".join(f"{k} {v:,}" for k, v in counts.items()))
        lines += self._template_lines()
        sp = self.spm
        regions = f" in {sp.coef_regions} regions" if sp.coef_regions > 1 else ""
        lines.append(
            f"  SPM footprint: coefficients {sp.coef_bytes:,} B{regions} + {pl.buffers} x "
            f"{sp.buffer_bytes:,} B buffers = "
            f"{sp.used_bytes:,} B ({sp.groups} bank groups of one vector)"
        )
        dram = sum(d.dram_bytes for d in self.dma)
        lines.append(f"  DMA: {len(self.dma)} transfers, {dram:,} DRAM bytes")
        if pl.user_knobs:
            lines.append("  knobs given: " + ", ".join(pl.user_knobs))
        lines.append("  why:")
        lines.extend(f"    - {r}" for r in pl.reasons)
        lines.append("  model assumptions: " + "; ".join(self.model.describe()))
        return "\n".join(lines)

    def _template_lines(self) -> list[str]:
        """One line per pass template; grouped by shape (opcode counts, coefficient vectors) when many."""

        def shape(t: InstructionStream) -> str:
            return ", ".join(f"{k} {v}" for k, v in t.counts().items()) + (
                f"; {t.coef_vectors} coefficient vectors per block instance"  # type: ignore[attr-defined]
            )

        if len(self.templates) <= SUMMARY_PASS_LINES:
            return [
                f"  pass {p} template per PE per iteration: {shape(t)}" for p, t in enumerate(self.templates)
            ]
        groups: dict[str, list[int]] = {}
        for p, t in enumerate(self.templates):
            groups.setdefault(shape(t), []).append(p)
        return [
            f"  pass{'es' if len(ps) > 1 else ''} {_ranges(ps)} template per PE per iteration: {sh}"
            for sh, ps in groups.items()
        ]

    def mapping_note(self) -> str:
        """One line: what the program computes and how it is mapped (the Result's first note)."""
        return self.plan.note(self)

    def dump(self, pe: tuple[int, int] = (0, 0), limit: int | None = 60, iteration: int = 0) -> str:
        """Text listing of one PE's instruction stream for one iteration (absolute registers and slots)."""
        if tuple(pe) not in self.pe_coords:
            raise ValueError(f"pe = {pe!r} is not allowed: one of the active PEs {self.pe_coords}")
        e = self.pe_coords.index(tuple(pe))
        sch = self.schedule
        if not 0 <= iteration < len(sch):
            raise ValueError(f"iteration = {iteration!r} is not allowed: 0..{len(sch) - 1}")
        p = int(sch.pass_[iteration])
        t = self.templates[p]
        slot = iteration % self.plan.tag_slots[p]
        par = int(self.instance_set[int(sch.seq[iteration])])
        lines = [
            f"PE {pe} iteration {iteration}: batch {sch.batch[iteration]} pass {p} instance "
            f"{sch.instance[iteration]} row group {sch.row_group[iteration]} ({sch.lanes[iteration]} lanes), "
            f"tag slot {slot}, coefficient set {par}, SPM base {int(sch.base[iteration])}"
        ]
        lines += self._prefetch_lines(iteration, e)
        fmt = _InstructionFormat(self, t, e, slot, par, int(sch.base[iteration]))
        n = 0
        for kind, s0, s1 in t.steps:
            for i in range(s0, s1):
                if limit is not None and n >= limit:
                    lines.append(f"  ... ({t.n_instr - n} more)")
                    return "\n".join(lines)
                lines.append(f"  {fmt(i)}   [{kind}]")
                n += 1
        return "\n".join(lines)

    def _prefetch_lines(self, iteration: int, e: int) -> list[str]:
        """The coefficient loads an iteration carries (for the instance it prefetches)."""
        sch = self.schedule
        cset = self.plan.coef_set_regs
        lines = []
        for q in range(2):
            u = int(sch.pf_u[iteration, q])
            if u < 0:
                continue
            v0, v1 = int(sch.pf_v0[iteration, q]), int(sch.pf_v1[iteration, q])
            tgt = self.templates[int(self.instance_pass[u])]
            cb = int(self.instance_coef_base[u])
            for v in range(v0, v1):
                lines.append(
                    f"  LD   c{int(self.instance_set[u]) * cset + v:<4} "
                    f"<- spm[{cb + int(tgt.coef_slot[e, v])}]"
                    f"   (coefficients of instance seq {u})"
                )
        return lines

    # ---- simulation ------------------------------------------------------------------------------------


class _InstructionFormat:
    """Formats instruction i of PE e's template with absolute registers and SPM slots (`Program.dump`)."""

    def __init__(self, prog: Program, t: Any, e: int, slot: int, par: int, base: int) -> None:
        self.prog, self.t, self.e, self.base = prog, t, e, base
        cset = prog.plan.coef_set_regs
        self.d0 = prog.plan.coef_sets * cset + slot * t.data_regs
        self.c0 = par * cset

    def d(self, r: int) -> str:
        return f"r{self.d0 + int(r)}"

    def __call__(self, i: int) -> str:
        t, e, d = self.t, self.e, self.d
        o = int(t.op[e, i])
        name = OPCODE_NAMES[o]
        if o == OP_LD:
            return f"LD   {d(t.dst[e, i]):<5} <- spm[{self.base + int(t.slot[e, i])}]"
        if o == OP_ST:
            return f"ST   spm[{self.base + int(t.slot[e, i])}] <- {d(t.a[e, i])}"
        if o == OP_XFER:
            return f"XFER PE{self.prog.pe_coords[int(t.peer[e, i])]}.{d(t.dst[e, i])} <- {d(t.a[e, i])}"
        dst, a = f"{d(t.dst[e, i]):<5}", d(t.a[e, i])
        cr = f"c{self.c0 + int(t.coef[e, i])}[{int(t.lane[e, i])}]" if o in COEF_OPS else ""
        if o == OP_MUL:
            return f"{name:<4} {dst} = {a} * {cr}"
        if o in (OP_FMA, OP_FMS):
            sign = "+" if o == OP_FMA else "-"
            return f"{name:<4} {dst} = {d(t.acc[e, i])} {sign} {a} * {cr}"
        if o == OP_ADDK:
            return f"{name:<4} {dst} = {a} + {cr}"
        if o in (OP_ADD, OP_SUB, OP_VMUL):
            sign = {OP_ADD: "+", OP_SUB: "-", OP_VMUL: "*"}[o]
            return f"{name:<4} {dst} = {a} {sign} {d(t.acc[e, i])}"
        if o == OP_MAX:
            return f"{name:<4} {dst} = max({a}, {d(t.acc[e, i])})"
        return f"{name:<4} {dst} = {name.lower()}({a})"  # the special functions


def _ranges(ps: list[int]) -> str:
    """Compact ranges of sorted indices: [0, 1, 2, 3, 7, 9, 10] -> "0-3, 7, 9-10"."""
    out, start = [], ps[0]
    for a, b in zip(ps, [*ps[1:], None], strict=True):
        if b != a + 1:
            out.append(f"{start}" if start == a else f"{start}-{a}")
            start = b
    return ", ".join(out)
