"""The PE instruction set every compiled Program uses (butterfly / FFT kernels and dense operators alike), and
the array layout of a per-PE instruction template.

A PE (docs/architecture.md) has four decoupled in-order pipelines -- load (LD: SPM -> RF), store (ST:
RF -> SPM), transfer (XFER: RF -> a neighbour's RF over the NoC) and compute (one vector instruction per
cycle to an FU class). Compute opcodes::

    MUL  d = a * k          FMA  d = c + a * k        FMS  d = c - a * k
    ADD  d = a + c          SUB  d = a - c
    MAX  d = max(a, c)      ADDK d = a + k            VMUL d = a * c
    EXP  d = exp(a)         RECIP d = 1 / a           RSQRT d = 1 / sqrt(a)   TANH d = tanh(a)   (special FU)

(k: one lane of a coefficient register, "by element": `compiler.model.FIXED_ASSUMPTIONS`)

The butterfly / FFT micro-programs use the first row (`swallowtail.compiler.butterfly.kernels`); the dense
operators (`swallowtail.compiler.dense`) add the second and third: a row lives in one lane across registers,
so row reductions are chains of vector instructions (no lane shuffles).

A template is one iteration's instructions on every active PE: arrays of shape (PEs, instructions), one per
field of `INSTRUCTION_FIELDS`, grouped in steps (`STEP_*`: runs of one pipeline's instructions). Registers
are relative (data: from the iteration's tag slot, coefficients: from its coefficient set), SPM slots are
offsets from the iteration's base.
"""

from __future__ import annotations

import itertools

import numpy as np

# ---- opcodes (shared with the simulator) ------------------------------------------------------------------
OP_LD, OP_ST, OP_XFER, OP_MUL, OP_FMA, OP_FMS, OP_ADD, OP_SUB = 0, 1, 2, 3, 4, 5, 6, 7
OP_MAX, OP_ADDK, OP_VMUL, OP_EXP, OP_RECIP, OP_RSQRT, OP_TANH = 8, 9, 10, 11, 12, 13, 14
OPCODE_NAMES = {
    OP_LD: "LD",
    OP_ST: "ST",
    OP_XFER: "XFER",
    OP_MUL: "MUL",
    OP_FMA: "FMA",
    OP_FMS: "FMS",
    OP_ADD: "ADD",
    OP_SUB: "SUB",
    OP_MAX: "MAX",
    OP_ADDK: "ADDK",
    OP_VMUL: "VMUL",
    OP_EXP: "EXP",
    OP_RECIP: "RECIP",
    OP_RSQRT: "RSQRT",
    OP_TANH: "TANH",
}
#: the special-function unit's opcodes (one issue per `pe.fus.special.initiation_interval`)
SPECIAL_OPS = (OP_EXP, OP_RECIP, OP_RSQRT, OP_TANH)
COMPUTE_OPS = (OP_MUL, OP_FMA, OP_FMS, OP_ADD, OP_SUB, OP_MAX, OP_ADDK, OP_VMUL, *SPECIAL_OPS)
#: register operands each compute opcode reads (data a, coefficient k, second data / accumulator c)
COMPUTE_READS = {
    OP_MUL: 2,
    OP_FMA: 3,
    OP_FMS: 3,
    OP_ADD: 2,
    OP_SUB: 2,
    OP_MAX: 2,
    OP_ADDK: 2,
    OP_VMUL: 2,
    **{o: 1 for o in SPECIAL_OPS},
}
#: the FU class (arch `pe.fus` key) each compute opcode runs on
COMPUTE_FU = {
    OP_MUL: "fma",
    OP_FMA: "fma",
    OP_FMS: "fma",
    OP_ADD: "add",
    OP_SUB: "add",
    OP_MAX: "add",
    OP_ADDK: "add",
    OP_VMUL: "fma",
    **{o: "special" for o in SPECIAL_OPS},
}
#: opcodes that read a coefficient (one lane of a coefficient register)
COEF_OPS = (OP_MUL, OP_FMA, OP_FMS, OP_ADDK)
#: the energy-table action each compute opcode's lane ops are charged to: FMA / FMS at the FMA energy; the
#: single multiplies, adds and compares at the add / mul energy; the special functions at the special energy
LANE_OP_ACTION = {
    **{o: "add_lane_ops" for o in (OP_MUL, OP_ADD, OP_SUB, OP_MAX, OP_ADDK, OP_VMUL)},
    OP_FMA: "fma_lane_ops",
    OP_FMS: "fma_lane_ops",
    **{o: "special_lane_ops" for o in SPECIAL_OPS},
}

# ---- templates ------------------------------------------------------------------------------------------
#: step kinds: a run of one pipeline's instructions inside a template
STEP_LD, STEP_XFER, STEP_COMPUTE, STEP_ST = "ld", "xfer", "compute", "st"

#: instruction fields of a template, in the column order the builders emit them (one row per instruction),
#: with their array dtypes (-1: no operand):
#:   op     the opcode (OP_*)
#:   dst    destination register
#:   a      first source register (ST / XFER: the register sent)
#:   coef   coefficient vector (relative to the iteration's coefficient set)
#:   lane   the lane of that vector a "by element" opcode reads
#:   acc    second source / accumulator register (c)
#:   slot   SPM slot of a LD / ST (relative to the iteration's base)
#:   peer   the PE a XFER goes to
#:   final  the result is an output of its chain (rounded to fp16: it is stored)
INSTRUCTION_FIELDS = (
    ("op", np.int8),
    ("dst", np.int32),
    ("a", np.int32),
    ("coef", np.int32),
    ("lane", np.int32),
    ("acc", np.int32),
    ("slot", np.int64),
    ("peer", np.int32),
    ("final", bool),
)
#: the position of each field in an `Instruction`
FIELD_INDEX = {name: k for k, (name, _) in enumerate(INSTRUCTION_FIELDS)}
I_SLOT, I_FINAL = FIELD_INDEX["slot"], FIELD_INDEX["final"]

#: one instruction as the template builders emit it: a plain tuple of the `INSTRUCTION_FIELDS`, made only by
#: the four constructors below and read by field (`I_SLOT`, ...). Not a NamedTuple: the builders make
#: millions, and a tuple subclass stays tracked by the garbage collector (dense compiles ran ~30% slower).
Instruction = tuple[int, int, int, int, int, int, int, int, bool]


def instr_ld(dst: int, slot: int) -> Instruction:
    """LD: SPM slot -> register dst."""
    return (OP_LD, dst, -1, -1, 0, -1, slot, -1, False)


def instr_st(src: int, slot: int) -> Instruction:
    """ST: register src -> SPM slot."""
    return (OP_ST, -1, src, -1, 0, -1, slot, -1, False)


def instr_xfer(dst: int, src: int, peer: int) -> Instruction:
    """XFER: register src -> register dst of PE peer."""
    return (OP_XFER, dst, src, -1, 0, -1, -1, peer, False)


def instr_compute(
    op: int, dst: int, a: int, coef: int = -1, lane: int = 0, acc: int = -1, final: bool = False
) -> Instruction:
    """A compute opcode: dst = op(a, coefficient lane `lane` of vector `coef`, acc)."""
    return (op, dst, a, coef, lane, acc, -1, -1, final)


def instr_final(ins: Instruction) -> Instruction:
    """`ins` with its result marked an output of its chain."""
    return (*ins[:I_FINAL], True)


def instruction_array(rows: list[list[Instruction]]) -> np.ndarray:
    """(PEs, instructions, len(INSTRUCTION_FIELDS)) int64 array of every PE's instructions (the same count on
    every PE); `instruction_fields` splits it into the template's field arrays."""
    n_pe, n_instr, n_fields = len(rows), len(rows[0]) if rows else 0, len(INSTRUCTION_FIELDS)
    flat = itertools.chain.from_iterable(itertools.chain.from_iterable(rows))
    return np.fromiter(flat, dtype=np.int64, count=n_pe * n_instr * n_fields).reshape(n_pe, n_instr, n_fields)


def instruction_fields(arr: np.ndarray) -> dict[str, np.ndarray]:
    """The template field arrays of an int array (PEs, instructions, len(INSTRUCTION_FIELDS))."""
    return {name: arr[:, :, k].astype(dt) for k, (name, dt) in enumerate(INSTRUCTION_FIELDS)}


def coef_slot_layout(n_pe: int, c_vec: int) -> np.ndarray:
    """(PEs, c_vec): coefficient vector v of PE e sits at v * PEs + e -- vector-major, so the DMA delivers
    the first vectors first; with the PE count a multiple of the bank groups, PE column x uses group x."""
    return np.arange(c_vec, dtype=np.int64)[None, :] * n_pe + np.arange(n_pe, dtype=np.int64)[:, None]


def pe_coords(xb: int, yb: int) -> list[tuple[int, int]]:
    """(x, y) of the active PEs of a 2^xb x 2^yb sub-array, in PE-index order (x fastest)."""
    return [(x, y) for y in range(1 << yb) for x in range(1 << xb)]


class InstructionStream:
    """What every per-PE instruction template (a butterfly pass or a dense pass) answers."""

    op: np.ndarray

    @property
    def n_instr(self) -> int:
        return int(self.op.shape[1])

    def counts(self) -> dict[str, int]:
        """Instructions per PE per iteration by opcode name."""
        row = self.op[0]
        return {OPCODE_NAMES[o]: int((row == o).sum()) for o in sorted(OPCODE_NAMES) if (row == o).any()}


__all__ = [
    "COEF_OPS",
    "COMPUTE_FU",
    "COMPUTE_OPS",
    "COMPUTE_READS",
    "INSTRUCTION_FIELDS",
    "LANE_OP_ACTION",
    "OPCODE_NAMES",
    "OP_ADD",
    "OP_ADDK",
    "OP_EXP",
    "OP_FMA",
    "OP_FMS",
    "OP_LD",
    "OP_MAX",
    "OP_MUL",
    "OP_RECIP",
    "OP_RSQRT",
    "OP_ST",
    "OP_SUB",
    "OP_TANH",
    "OP_VMUL",
    "OP_XFER",
    "SPECIAL_OPS",
    "STEP_COMPUTE",
    "STEP_LD",
    "STEP_ST",
    "STEP_XFER",
    "InstructionStream",
    "coef_slot_layout",
    "instruction_fields",
    "pe_coords",
]
