"""The per-PE instruction emitter of the dense compilers and its building blocks.

`PeStream` collects one PE's instructions for one iteration in steps (LD, XFER, compute, ST: the engines need
every PE to run the same step structure); `assemble` stacks the PEs' streams into a `DenseTemplate` (loads
and stores of PE e rotated over the SPM bank groups by e, as `swallowtail.compiler.butterfly.template`'s
bank order). Reductions: `chain` (interleaved accumulator chains, then a `tree`), and software pipelining
around the special-function unit (`Skew`, `skewed`, `chain_skewed`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from swallowtail.arch.specs import DataflowArch
from swallowtail.compiler.dense.spec import DensePass, DenseTemplate
from swallowtail.compiler.isa import (
    I_SLOT,
    STEP_COMPUTE,
    STEP_LD,
    STEP_ST,
    STEP_XFER,
    Instruction,
    coef_slot_layout,
    instr_compute,
    instr_final,
    instr_ld,
    instr_st,
    instr_xfer,
    instruction_array,
    instruction_fields,
)
from swallowtail.flops import ceil_div


class PeStream:
    """Instructions of one PE (`Instruction`s), grouped in steps."""

    def __init__(self, lanes: int) -> None:
        self.lanes = lanes  # a coefficient scalar index k is lane k % lanes of coefficient vector k // lanes
        self.order: list[tuple[str, list[Instruction]]] = []
        self.regs = 0

    def reg(self, n: int = 1) -> int:
        r = self.regs
        self.regs += n
        return r

    def _step(self, kind: str) -> list[Instruction]:
        if not self.order or self.order[-1][0] != kind:
            if kind in (STEP_LD, STEP_ST) and any(k == kind for k, _ in self.order):
                raise AssertionError(f"one {kind} step per template")
            self.order.append((kind, []))
        return self.order[-1][1]

    def ld(self, dst: int, slot: int) -> None:
        self._step(STEP_LD).append(instr_ld(dst, slot))

    def st(self, src: int, slot: int) -> None:
        self._step(STEP_ST).append(instr_st(src, slot))

    def xfer(self, src: int, dst: int, peer: int) -> None:
        self._step(STEP_XFER).append(instr_xfer(dst, src, peer))

    def op(self, o: int, dst: int, a: int, c: int = -1, k: int | None = None, final: bool = False) -> None:
        cv, ln = (-1, 0) if k is None else divmod(k, self.lanes)
        self._step(STEP_COMPUTE).append(instr_compute(o, dst, a, cv, ln, c, final))

    def mark_final(self) -> None:
        """The last compute instruction's result is an output of its chain (rounded to fp16: it is stored)."""
        items = self.order[-1][1]
        assert self.order[-1][0] == STEP_COMPUTE and items
        items[-1] = instr_final(items[-1])


def bank_rotate(items: list[Instruction], e: int, groups: int) -> list[Instruction]:
    """Order a PE's SPM accesses so that PEs in lockstep touch different bank groups (by slot)."""
    return sorted(items, key=lambda it: ((it[I_SLOT] - e) % groups, it[I_SLOT]))


def assemble(
    streams: list[PeStream], dpass: DensePass, coef_vectors: int, n_pe: int, groups: int
) -> DenseTemplate:
    kinds = [[k for k, _ in s.order] for s in streams]
    assert all(k == kinds[0] for k in kinds), "every PE runs the same step structure"
    rows: list[list[Instruction]] = []
    steps: list[tuple[str, int, int]] = []
    for e, s in enumerate(streams):
        lst: list[Instruction] = []
        for kind, items in s.order:
            if kind in (STEP_LD, STEP_ST):
                items = bank_rotate(items, e, groups)
            if e == 0:
                steps.append((kind, len(lst), len(lst) + len(items)))
            lst.extend(items)
        rows.append(lst)
    assert all(len(r) == len(rows[0]) for r in rows)
    arr = instruction_array(rows)
    assert all((arr[:, :, 0] == arr[0:1, :, 0]).all(axis=0)), "same opcodes on every PE"
    return DenseTemplate(
        plan=dpass,
        **instruction_fields(arr),
        steps=steps,
        data_regs=max(s.regs for s in streams),
        coef_vectors=coef_vectors,
        coef_slot=coef_slot_layout(n_pe, coef_vectors),
    )


def tree(s: PeStream, o: int, regs: list[int], final: bool = False) -> int:
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
class Skew:
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
    def of(cls, arch: DataflowArch) -> Skew:
        sp, add, fma = arch.pe.fus["special"], arch.pe.fus["add"], arch.pe.fus["fma"]
        ii = sp.initiation_interval
        return cls(ii, ceil_div(add.latency, ii), ceil_div(sp.latency, ii), ceil_div(fma.latency - 1, 2))


def skewed(w: int, stages: list[tuple[int, Any]]) -> None:
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


def chain_skewed(s: PeStream, o: int, regs: list[int], acc: list[int]) -> list[Any]:
    """`chain`'s per-element instructions (before its final tree), as a stage for `skewed`: element i's
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


def chain(s: PeStream, o: int, regs: list[int], acc: list[int], final: bool) -> int:
    """Reduce `regs` (>= 2 per accumulator) with opcode o (MAX / ADD) into len(acc) interleaved chains, then
    a tree over the chains; the inputs are kept. Returns the register holding the result."""
    m = len(acc)
    assert len(regs) >= 2 * m
    for i in range(m):
        s.op(o, acc[i], regs[i], regs[i + m])
    for i in range(2 * m, len(regs)):
        s.op(o, acc[i % m], acc[i % m], regs[i])
    return tree(s, o, acc, final=final)


#: accumulator chains of a row reduction (>= the ADD latency keeps the chains from stalling; policy)
REDUCE_CHAINS = 4


def chains_for(w: int) -> int:
    return max(1, min(REDUCE_CHAINS, w // 2))
