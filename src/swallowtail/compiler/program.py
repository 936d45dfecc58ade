"""The Program: the third spec (*how* a kernel is placed in space and time on the array).

A Program is compact: one instruction *template* per pass (numpy arrays of instruction fields, one row per
active PE) that every iteration -- one block instance x one row group of `simd_lanes` rows -- replays with
its own SPM base address, tag slot and coefficient set; a schedule of iterations (numpy arrays); the DMA
transfers (DRAM <-> SPM, per row group, double-buffered); and the SPM layout. Nothing is one Python object
per instruction, so n = 8192 compiles in milliseconds.

PE model the templates target (DESIGN.md, "The machine"): a tagged dataflow PE with four decoupled
in-order pipelines -- load (LD: SPM -> RF), store (ST: RF -> SPM), transfer (XFER: RF -> a neighbour's RF
over the NoC) and compute (MUL / FMA / FMS on the FUs). An instruction fires when its operands are ready
and its pipeline is free; each iteration runs under one tag and its registers are that tag's registers, so
at most `tag_slots` iterations (<= the PE's active tags, and what the RF can hold) are in flight per PE.

Register file of a PE (vector registers)::

    [ coefficient set 0 | coefficient set 1 (| ...) | tag 0 data | tag 1 data | ... | tag S-1 data ]
      block instance u uses one set while the other is prefetched for u + 1, spread over u's iterations
      (or, when they all fit, every block instance has its own resident set, loaded once)
      tag data = [ cur (P x parts) | next (P x parts) | receive (P x parts, passes with cross-PE stages) ]

SPM layout (vector slots of simd_lanes fp16)::

    [ coefficient table: pass, block instance, PE, vector | buffer 0 | buffer 1 (| buffer 2) ]
      buffer = [row group][part (re / im)][position]: a position's bank group is its low bits
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from swallowtail.arch.specs import DataflowArch
from swallowtail.compiler.kernels import (
    COMPUTE_OPS,
    OP_ADD,
    OP_FMA,
    OP_FMS,
    OP_LD,
    OP_MUL,
    OP_ST,
    OP_SUB,
    OP_XFER,
    OPCODE_NAMES,
    KernelSpec,
)
from swallowtail.compiler.model import MachineModel
from swallowtail.compiler.plan import Plan
from swallowtail.compiler.template import PassTemplate


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
    step = -(-(hi - lo) // parts)
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
    vec_bytes: int
    coef_base: list[int]  # per pass: first slot of its coefficient table
    coef_slots: int
    buffer_base: list[int]
    buffer_slots: int
    total_slots: int
    groups: int

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
    """A compiled kernel: templates + schedule + DMA + SPM layout + the plan and its reasons."""

    spec: KernelSpec
    arch_name: str
    plan: Plan
    model: MachineModel
    templates: list[PassTemplate]
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
    def dataflow(self) -> str:
        return self.plan.dataflow

    @property
    def backend(self) -> str:
        return f"dataflow-{self.plan.dataflow}"

    @property
    def n_active(self) -> int:
        return len(self.pe_coords)

    def instruction_counts(self) -> dict[str, int]:
        """Vector instructions issued over the whole kernel (all PEs) by kind."""
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
        s, pl = self.spec, self.plan
        lines = [
            f"Program: {s.describe()} on {self.arch_name}, dataflow {pl.dataflow}",
            f"  block B = {pl.block} positions on {self.n_active} PEs ({pl.positions_per_pe} per PE), "
            f"k = {[p.k for p in pl.passes]} stages per pass, {len(pl.passes)} passes, "
            f"placement '{pl.placement}'",
            f"  rows per batch up to {pl.rows_per_batch} (batches of "
            f"{[-(-(b - a) // self.lanes) for a, b in pl.batches]} row groups of {self.lanes} lanes), "
            f"{pl.buffers} SPM buffers, {len(self.schedule)} iterations, tags in flight per PE "
            f"{list(pl.tag_slots)}, {pl.coef_sets} coefficient register sets",
        ]
        for p in pl.passes:
            lines.append(f"  {p.describe()}; {p.n_instances} block instances")
        counts = self.instruction_counts()
        lines.append("  instructions (all PEs): " + ", ".join(f"{k} {v:,}" for k, v in counts.items()))
        for t in self.templates:
            lines.append(
                f"  pass {t.plan.index} template per PE per iteration: "
                + ", ".join(f"{k} {v}" for k, v in t.counts().items())
                + f"; {t.coef_vectors} coefficient vectors per block instance"
            )
        sp = self.spm
        lines.append(
            f"  SPM footprint: coefficients {sp.coef_bytes:,} B + {pl.buffers} x {sp.buffer_bytes:,} B "
            "buffers = "
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

    def register_of(self, rel: int, kind: str, slot: int, parity: int) -> int:
        """Absolute vector register of a relative data / coefficient register."""
        cset = self.plan.coef_set_regs
        if kind == "coef":
            return parity * cset + rel
        t = self.templates[0]
        return self.plan.coef_sets * cset + slot * t.data_regs + rel

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
        slots = self.plan.tag_slots[p]
        slot = iteration % slots
        par = int(self.instance_set[int(sch.seq[iteration])])
        cset = self.plan.coef_set_regs
        base = int(sch.base[iteration])

        def d(r: int) -> str:
            return f"r{self.plan.coef_sets * cset + slot * t.data_regs + int(r)}"

        lines = [
            f"PE {pe} iteration {iteration}: batch {sch.batch[iteration]} pass {p} instance "
            f"{sch.instance[iteration]} row group {sch.row_group[iteration]} ({sch.lanes[iteration]} lanes), "
            f"tag slot {slot}, coefficient set {par}, SPM base {base}"
        ]
        for q in range(2):
            u = int(sch.pf_u[iteration, q])
            if u >= 0:
                v0, v1 = int(sch.pf_v0[iteration, q]), int(sch.pf_v1[iteration, q])
                tgt = self.templates[int(self.instance_pass[u])]
                cb = int(self.instance_coef_base[u])
                for v in range(v0, v1):
                    lines.append(
                        f"  LD   c{int(self.instance_set[u]) * cset + v:<4} "
                        f"<- spm[{cb + int(tgt.coef_slot[e, v])}]"
                        f"   (coefficients of instance seq {u})"
                    )
        n = 0
        for kind, s0, s1 in t.steps:
            for i in range(s0, s1):
                if limit is not None and n >= limit:
                    lines.append(f"  ... ({t.n_instr - n} more)")
                    return "\n".join(lines)
                o = int(t.op[e, i])
                if o == OP_LD:
                    txt = f"LD   {d(t.dst[e, i]):<5} <- spm[{base + int(t.slot[e, i])}]"
                elif o == OP_ST:
                    txt = f"ST   spm[{base + int(t.slot[e, i])}] <- {d(t.a[e, i])}"
                elif o == OP_XFER:
                    txt = f"XFER PE{self.pe_coords[int(t.peer[e, i])]}.{d(t.dst[e, i])} <- {d(t.a[e, i])}"
                else:
                    cr = f"c{par * cset + int(t.coef[e, i])}[{int(t.lane[e, i])}]"
                    name = OPCODE_NAMES[o]
                    if o == OP_MUL:
                        txt = f"{name:<4} {d(t.dst[e, i]):<5} = {d(t.a[e, i])} * {cr}"
                    elif o == OP_FMA:
                        txt = f"{name:<4} {d(t.dst[e, i]):<5} = {d(t.acc[e, i])} + {d(t.a[e, i])} * {cr}"
                    elif o == OP_FMS:
                        txt = f"{name:<4} {d(t.dst[e, i]):<5} = {d(t.acc[e, i])} - {d(t.a[e, i])} * {cr}"
                    else:
                        sign = "+" if o == OP_ADD else "-"
                        assert o in (OP_ADD, OP_SUB)
                        txt = f"{name:<4} {d(t.dst[e, i]):<5} = {d(t.a[e, i])} {sign} {d(t.acc[e, i])}"
                lines.append(f"  {txt}   [{kind}]")
                n += 1
        return "\n".join(lines)
