"""What one radix-2 stage computes, as small programs of vector instructions ("micro-programs").

A kernel is `rows` vectors of length n = 2^L pushed through a list of stages; the stage on position bit b
pairs position q0 (bit b = 0) with q1 = q0 + 2^b. Following torch_butterfly's pairing
(swallowtail.nn.butterfly), with the pair's 2x2 block t: y0 = t00 x0 + t01 x1, y1 = t10 x0 + t11 x1.
The FFT is radix-2 DIT with twiddle w: y0 = x0 + w x1, y1 = x0 - w x1 (on bit-reversed input).

Two ways to compute a stage on a PE, chosen per stage by the compiler:

- *pair mode* (the pair's two inputs are on the same PE -- local stages, and cross-PE stages after a
  "send-half" exchange): one micro-program per pair produces both outputs.
      real  MUL y0=x0*t00, MUL y1=x0*t10, FMA y0+=x1*t01, FMA y1+=x1*t11                     (4 slots)
      cplx  4 chains (y0.re, y0.im, y1.re, y1.im) of MUL, FMS|FMA, FMA, FMS|FMA               (16 slots)
      fft   t = w x1 (MUL, FMS, MUL, FMA into y1's registers), then y0 = x0 + t (ADD x2),
            y1 = x0 - t (SUB x2)                                                              (8 slots)
- *output mode* (each PE holds one input of the pair and receives the other: full exchange, used only
  when a PE has a single position): one micro-program per output.
      real  MUL y=S*a, FMA y+=P*b                                                             (2 slots)
      cplx  2 chains of MUL, FMS|FMA, FMA, FMS|FMA                                            (8 slots)
      fft   y = A + c M with (A, M, c) = (S, P, w) on top, (P, S, -w) on the bottom: FMA, FMS|FMA x2 (4)

Either way a pair costs the same slots (real 4, cplx 16, FFT 8 -- "8 slots for 10 FLOPs"), so the
simulator's lane-instruction count equals `KernelSpec.lane_ops` exactly. Pair-mode FFT reads the RF 18 times
per pair instead of 24: it is what keeps the RF read ports from binding.

Opcodes (`swallowtail.compiler.isa`): `MUL d = a*k`, `FMA d = c + a*k`, `FMS d = c - a*k` (k: one lane of a
coefficient register, `compiler.model.FIXED_ASSUMPTIONS`), `ADD d = a + c`, `SUB d = a - c`.
"""

from __future__ import annotations

from dataclasses import dataclass

from swallowtail.compiler.isa import OP_ADD, OP_FMA, OP_FMS, OP_MUL, OP_SUB
from swallowtail.errors import SpecError
from swallowtail.flops import log2_exact
from swallowtail.workload.ops import FFT, Butterfly, Op


@dataclass(frozen=True)
class MicroOp:
    """One instruction of a micro-program; operands are symbols (name, part), e.g. ("x1", 0) = x1.re."""

    step: int  # dependency level: the compiler skews steps of consecutive units to hide FU latency
    op: int
    dst: tuple[str, int]
    a: tuple[str, int]
    coef: int | None = None  # index into the unit's coefficient scalars
    c: tuple[str, int] | None = None  # accumulator (FMA / FMS) or second operand (ADD / SUB)
    final: bool = False  # writes the unit's output value (fp32-accumulate rounds to fp16 here)


def _m(step, op, dst, a, coef=None, c=None, final=False) -> MicroOp:  # noqa: ANN001 - table shorthand
    return MicroOp(step, op, dst, a, coef, c, final)


X0R, X0I, X1R, X1I = ("x0", 0), ("x0", 1), ("x1", 0), ("x1", 1)
Y0R, Y0I, Y1R, Y1I = ("y0", 0), ("y0", 1), ("y1", 0), ("y1", 1)
SR, SI, PR, PI, AR, AI, MR, MI = (
    ("S", 0),
    ("S", 1),
    ("P", 0),
    ("P", 1),
    ("A", 0),
    ("A", 1),
    ("M", 0),
    ("M", 1),
)
YR, YI = ("y", 0), ("y", 1)

#: pair-mode programs; coefficient scalars per pair: real (t00, t01, t10, t11); cplx the same entries as
#: (re, im) pairs; fft (w.re, w.im)
PAIR_PROGRAMS: dict[str, tuple[MicroOp, ...]] = {
    "real": (
        _m(0, OP_MUL, Y0R, X0R, 0),
        _m(0, OP_MUL, Y1R, X0R, 2),
        _m(1, OP_FMA, Y0R, X1R, 1, Y0R, True),
        _m(1, OP_FMA, Y1R, X1R, 3, Y1R, True),
    ),
    "cplx": tuple(
        op
        for y, k0 in ((("y0"), 0), (("y1"), 4))
        for op in (
            _m(0, OP_MUL, (y, 0), X0R, k0),
            _m(0, OP_MUL, (y, 1), X0I, k0),
            _m(1, OP_FMS, (y, 0), X0I, k0 + 1, (y, 0)),
            _m(1, OP_FMA, (y, 1), X0R, k0 + 1, (y, 1)),
            _m(2, OP_FMA, (y, 0), X1R, k0 + 2, (y, 0)),
            _m(2, OP_FMA, (y, 1), X1I, k0 + 2, (y, 1)),
            _m(3, OP_FMS, (y, 0), X1I, k0 + 3, (y, 0), True),
            _m(3, OP_FMA, (y, 1), X1R, k0 + 3, (y, 1), True),
        )
    ),
    "fft": (
        _m(0, OP_MUL, Y1R, X1R, 0),  # t.re = x1.re w.re ...
        _m(0, OP_MUL, Y1I, X1I, 0),  # t.im = x1.im w.re ...
        _m(1, OP_FMS, Y1R, X1I, 1, Y1R),  # ... - x1.im w.im
        _m(1, OP_FMA, Y1I, X1R, 1, Y1I),  # ... + x1.re w.im
        _m(2, OP_ADD, Y0R, X0R, None, Y1R, True),  # y0 = x0 + t
        _m(2, OP_ADD, Y0I, X0I, None, Y1I, True),
        _m(3, OP_SUB, Y1R, X0R, None, Y1R, True),  # y1 = x0 - t (after y0 read t)
        _m(3, OP_SUB, Y1I, X0I, None, Y1I, True),
    ),
}
PAIR_COEFS = {"real": 4, "cplx": 8, "fft": 2}

#: output-mode programs; coefficient scalars per output: real (a, b) = (self, partner); cplx (a.re, a.im,
#: b.re, b.im); fft (c.re, c.im)
OUTPUT_PROGRAMS: dict[str, tuple[MicroOp, ...]] = {
    "real": (_m(0, OP_MUL, YR, SR, 0), _m(1, OP_FMA, YR, PR, 1, YR, True)),
    "cplx": (
        _m(0, OP_MUL, YR, SR, 0),
        _m(0, OP_MUL, YI, SI, 0),
        _m(1, OP_FMS, YR, SI, 1, YR),
        _m(1, OP_FMA, YI, SR, 1, YI),
        _m(2, OP_FMA, YR, PR, 2, YR),
        _m(2, OP_FMA, YI, PI, 2, YI),
        _m(3, OP_FMS, YR, PI, 3, YR, True),
        _m(3, OP_FMA, YI, PR, 3, YI, True),
    ),
    "fft": (
        _m(0, OP_FMA, YR, MR, 0, AR),
        _m(0, OP_FMA, YI, MI, 0, AI),
        _m(1, OP_FMS, YR, MI, 1, YR, True),
        _m(1, OP_FMA, YI, MR, 1, YI, True),
    ),
}
OUTPUT_COEFS = {"real": 2, "cplx": 4, "fft": 2}


def rounding_depth(program: tuple[MicroOp, ...]) -> int:
    """Roundings on the longest dependency path to an output (what the error bound multiplies)."""
    depth: dict[tuple[str, int], int] = {}
    best = 0
    for op in program:
        d = 1 + max(depth.get(op.a, 0), depth.get(op.c, 0) if op.c else 0)
        depth[op.dst] = d
        if op.final:
            best = max(best, d)
    return best


@dataclass(frozen=True)
class KernelSpec:
    """A butterfly-structured kernel, normalised from a workload op."""

    op_name: str
    kind: str  # real | cplx | fft
    n: int
    rows: int
    stage_bits: tuple[int, ...]  # the position bit of each stage, in application order
    bit_reversed_input: bool = False  # FFT DIT: the DMA writes input element i to position bitrev(i)
    real_input: bool = False
    real_output: bool = False
    flops: int = 0

    @property
    def log_n(self) -> int:
        return self.n.bit_length() - 1

    @property
    def comps(self) -> int:
        return 1 if self.kind == "real" else 2

    @property
    def pair_program(self) -> tuple[MicroOp, ...]:
        return PAIR_PROGRAMS[self.kind]

    @property
    def output_program(self) -> tuple[MicroOp, ...]:
        return OUTPUT_PROGRAMS[self.kind]

    @property
    def slots_per_pair(self) -> int:
        return len(self.pair_program)

    @property
    def lane_ops(self) -> int:
        """Exact compute lane-instructions of the whole kernel (what the simulator must count)."""
        return self.rows * len(self.stage_bits) * (self.n // 2) * self.slots_per_pair

    @property
    def input_elems_per_row(self) -> int:
        return self.n * (1 if self.real_input else self.comps)

    @property
    def output_elems_per_row(self) -> int:
        return self.n * (1 if self.real_output else self.comps)

    @property
    def op_kind(self) -> str:
        """The workload op kind the Program computes: butterfly | fft."""
        return "fft" if self.kind == "fft" else "butterfly"

    def describe(self) -> str:
        what = {"real": "butterfly", "cplx": "complex butterfly", "fft": "FFT (radix-2 DIT)"}[self.kind]
        return f"{what} n={self.n} rows={self.rows} stages={len(self.stage_bits)}"


def kernel_spec(op: Op) -> KernelSpec:
    """Normalise a Butterfly / FFT op; SpecError for anything the compiler cannot map."""
    if isinstance(op, Butterfly):
        log_n = log2_exact(op.n)
        assert op.stages is not None
        if op.increasing_stride:
            bits = tuple(range(op.stages))
        else:
            bits = tuple(range(log_n - 1, log_n - 1 - op.stages, -1))
        return KernelSpec(
            op_name=op.name,
            kind="cplx" if op.complex else "real",
            n=op.n,
            rows=op.rows,
            stage_bits=bits,
            flops=op.flops,
        )
    if isinstance(op, FFT):
        if op.n < 2 or op.n & (op.n - 1):
            raise SpecError(
                f"{op.name}.n",
                op.n,
                "a power of two >= 2 for the radix-2 FFT mapping",
                hint="pad n to a power of two",
            )
        log_n = log2_exact(op.n)
        return KernelSpec(
            op_name=op.name,
            kind="fft",
            n=op.n,
            rows=op.rows,
            stage_bits=tuple(range(log_n)),
            bit_reversed_input=True,
            real_input=op.real_input,
            real_output=op.real_output,
            flops=op.flops,
        )
    raise SpecError(
        "op", type(op).__name__, "a Butterfly or FFT op (the kernel compiler maps butterfly structure)"
    )


def skewed_order(
    units: int, program: tuple[MicroOp, ...], latency_of: dict[int, int]
) -> list[tuple[int, int]]:
    """Order of a stage's compute instructions as (unit, index into the micro-program).

    Step s of unit u goes at key u + s * d, so the programs of consecutive units overlap (software
    pipelining inside a stage); within a key, later steps first. The skew d is the smallest for which every
    instruction sits at least its producer's latency after it (when there are enough units): mixing step
    kinds also spreads RF port demand and output completions evenly, which the next stage's transfers need.
    """
    n_steps = max(m.step for m in program) + 1

    def build(d: int) -> list[tuple[int, int]]:
        items = sorted((u + m.step * d, -m.step, u, k) for u in range(units) for k, m in enumerate(program))
        return [(u, k) for _, _, u, k in items]

    def slack(order: list[tuple[int, int]]) -> int:
        last_write: dict[tuple[int, tuple[str, int]], tuple[int, int]] = {}
        worst = 1 << 30
        for pos, (u, k) in enumerate(order):
            m = program[k]
            for src in (m.a, m.c):
                if src is not None and (u, src) in last_write:
                    wpos, wop = last_write[(u, src)]
                    worst = min(worst, pos - wpos - latency_of[wop])
            last_write[(u, m.dst)] = (pos, m.op)
        return worst

    best = build(1)
    for d in range(1, units * n_steps + 1):
        best = build(d)
        if slack(best) >= 0:
            break
    return best


__all__ = [
    "OUTPUT_COEFS",
    "OUTPUT_PROGRAMS",
    "PAIR_COEFS",
    "PAIR_PROGRAMS",
    "KernelSpec",
    "MicroOp",
    "kernel_spec",
    "rounding_depth",
    "skewed_order",
]
