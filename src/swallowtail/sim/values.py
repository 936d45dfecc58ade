"""Value mode: execute a Program's instructions on data, vectorised, and verify against PyTorch.

Every iteration of a pass runs the same instruction template on different data, so the engine executes
each template instruction once for *all* iterations of the pass at the same time (numpy arrays of shape
(iterations, lanes)): LD gathers SPM slots at each iteration's base + the instruction's offset, XFER copies
a register to the peer PE's register, MUL / FMA / FMS combine registers with one lane of a coefficient
register, ST scatters back. The SPM and DRAM are modelled as arrays; every SPM buffer starts poisoned (NaN),
so an output the program never writes reaches the result as NaN and fails verification.

Storage is fp16: every instruction result is rounded to fp16 (an FMA rounds once). With
`precision="fp32-acc"` the partial sums inside an output's chain stay fp32 and only each stage's output is
rounded to fp16.

Error bound (componentwise, honest): each output part of a stage is computed by a dependency chain of at
most m rounding instructions (`kernels.rounding_depth`: real 2 (MUL, FMA), complex 4, FFT 3 (MUL, FMS,
ADD/SUB) -- each rounds once, an FMA included), so |computed - exact| <= ((1 + u)^m - 1) x (the same
combination of the absolute values of its terms); propagated through L stages,
|y_hat - y| <= ((1 + eta)^L - 1) (|B_L| ... |B_1| |x|) componentwise, complex values measured by
|re| + |im|, with eta = (1 + u16)^r16 (1 + u32)^r32 - 1 per stage: fp16 mode r16 = m, fp32-acc mode
r16 = 1 and r32 = m - 1; the FFT adds one fp16 rounding for its twiddles (the reference is the exact DFT;
the learned butterfly's reference uses the same fp16 coefficients). To first order the bound is
c * log2(n) * 2^-11 with c = r16 (+1 FFT) + r32 * 2^-13: c = 2 (real), 4 (complex), 4 (FFT) in fp16 mode.
Underflow adds at most 2^-25 absolute per rounding; the check allows L * m * 2^-25 on top.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from swallowtail.compiler.butterfly.build import coefficient_table
from swallowtail.compiler.butterfly.kernels import rounding_depth
from swallowtail.compiler.butterfly.template import PassTemplate
from swallowtail.compiler.dense.data import (
    DenseData,
    dense_coefficients,
    dense_place_inputs,
    dense_read_outputs,
    stage_matrices,
)
from swallowtail.compiler.isa import (
    OP_ADD,
    OP_ADDK,
    OP_EXP,
    OP_FMA,
    OP_FMS,
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
    STEP_LD,
    STEP_ST,
)
from swallowtail.compiler.program import Program
from swallowtail.errors import check_choice
from swallowtail.flops import GELU_C1, GELU_K, ceil_div

U16 = 2.0**-11  # fp16 unit roundoff
U32 = 2.0**-24  # fp32 unit roundoff
#: largest absolute rounding error of an fp16 result in the subnormal range (half its spacing)
FP16_UNDERFLOW = 2.0**-25
#: standard deviation of a random learned coefficient (keeps the variance of each output; as swallowtail.nn)
RANDOM_COEF_STD = 1.0 / math.sqrt(2.0)
#: iterations executed together (bounds the value engine's memory)
CHUNK_ITERATIONS = 512
PRECISIONS = ("fp16", "fp32-acc")


def _round16(a: np.ndarray) -> np.ndarray:
    return a.astype(np.float16).astype(np.float64)


def _round32(a: np.ndarray) -> np.ndarray:
    return a.astype(np.float32).astype(np.float64)


def bitrev(n: int) -> np.ndarray:
    log_n = n.bit_length() - 1
    i = np.arange(n)
    out = np.zeros(n, dtype=np.int64)
    for b in range(log_n):
        out |= ((i >> b) & 1) << (log_n - 1 - b)
    return out


@dataclass
class KernelData:
    """Inputs and coefficients of one value run (all values exactly representable in fp16)."""

    x: np.ndarray  # (rows, n) real or complex128
    coefs: np.ndarray | None  # Butterfly: (log2 n, n // 2, 2, 2) real or complex; FFT: None


def random_data(program: Program, seed: int) -> KernelData:
    """Random fp16 inputs (N(0, 1)) and learned coefficients (N(0, 1/2) per real entry)."""
    spec = program.spec
    rng = np.random.default_rng(seed)
    shape = (spec.rows, spec.n)
    if spec.kind == "real" or spec.real_input:
        x = _round16(rng.standard_normal(shape))
    else:
        x = _round16(rng.standard_normal(shape) / math.sqrt(2)) + 1j * _round16(
            rng.standard_normal(shape) / math.sqrt(2)
        )
    coefs = None
    if spec.kind != "fft":
        cshape = (spec.log_n, spec.n // 2, 2, 2)
        if spec.kind == "real":
            coefs = _round16(rng.normal(0.0, RANDOM_COEF_STD, cshape))
        else:
            s = RANDOM_COEF_STD / math.sqrt(2)
            coefs = _round16(rng.normal(0.0, s, cshape)) + 1j * _round16(rng.normal(0.0, s, cshape))
    return KernelData(x=x, coefs=coefs)


def execute(
    program: Program, data: KernelData, precision: str = "fp16", poison_consumed: bool = True
) -> np.ndarray:
    """Run the program on `data`; returns the kernel output (rows, n) (real or complex), NaN where unwritten.

    The SPM starts poisoned (NaN); with `poison_consumed` every slot a pass has loaded is poisoned again
    before the pass's stores, so an output the program never writes is NaN even when it computes in place."""
    check_choice("precision", precision, PRECISIONS)
    # the SPM: one virtual copy of the buffer region per batch (batches reuse physical buffers in time)
    vbuf = np.full((len(program.plan.batches), program.spm.buffer_slots, program.lanes), np.nan)
    _kernel_dma_in(program, data.x, vbuf)
    table = _round16(coefficient_table(program, data.coefs))
    round_mid = _round16 if precision == "fp16" else _round32
    for p, t in enumerate(program.templates):
        its = np.nonzero(program.schedule.pass_ == p)[0]
        for c0 in range(0, len(its), CHUNK_ITERATIONS):
            _run_iterations(
                program, t, its[c0 : c0 + CHUNK_ITERATIONS], vbuf, table, round_mid, poison_consumed
            )
    return _kernel_dma_out(program, vbuf)


def _kernel_dma_in(program: Program, x: np.ndarray, vbuf: np.ndarray) -> None:
    """DMA in: row r of batch b, row group g, lane r - (r0_b + g * lanes); element i -> position q."""
    spec = program.spec
    lanes, n, comps = program.lanes, spec.n, spec.comps
    pos_of = bitrev(n) if spec.bit_reversed_input else np.arange(n)
    for b, (r0, r1) in enumerate(program.plan.batches):
        for g in range(ceil_div(r1 - r0, lanes)):
            rows_ = np.arange(r0 + g * lanes, min(r1, r0 + (g + 1) * lanes))
            for c in range(comps):
                part = (
                    np.real(x[rows_])
                    if c == 0
                    else (np.imag(x[rows_]) if not spec.real_input else 0 * np.real(x[rows_]))
                )
                vbuf[b, (g * comps + c) * n + pos_of, : len(rows_)] = part.T


def _run_iterations(
    program: Program,
    t: PassTemplate,
    ii: np.ndarray,
    vbuf: np.ndarray,
    table: np.ndarray,
    round_mid: Callable[[np.ndarray], np.ndarray],
    poison_consumed: bool,
) -> None:
    """Iterations `ii` of pass template `t`, together (they are independent row units)."""
    sch, spm, n_pe = program.schedule, program.spm, program.n_active
    bat = sch.batch[ii]
    off = sch.base[ii] - np.array(spm.buffer_base)[bat % program.plan.buffers]  # (I,)
    cbase = program.instance_coef_base[sch.seq[ii]]  # (I,)
    regs: list[dict[int, np.ndarray]] = [{} for _ in range(n_pe)]
    coefregs: list[dict[int, np.ndarray]] = [{} for _ in range(n_pe)]
    for e in range(n_pe):
        for v in range(t.coef_vectors):
            coefregs[e][v] = table[cbase + int(t.coef_slot[e, v])]  # (I, lanes)
    s0_ld = s1_ld = 0
    for kind, s0, s1 in t.steps:
        if kind == STEP_ST and poison_consumed:
            # every slot this pass loaded is dead now: poison it, so a value the pass does not store back
            # reaches the output as NaN
            for e in range(n_pe):
                for k in range(s0_ld, s1_ld):
                    vbuf[bat, off + int(t.slot[e, k])] = np.nan
        if kind == STEP_LD:
            s0_ld, s1_ld = s0, s1
        for e in range(n_pe):
            re = regs[e]
            for k in range(s0, s1):
                o = int(t.op[e, k])
                if o == OP_LD:
                    re[int(t.dst[e, k])] = vbuf[bat, off + int(t.slot[e, k])]
                elif o == OP_ST:
                    vbuf[bat, off + int(t.slot[e, k])] = re[int(t.a[e, k])]
                elif o == OP_XFER:
                    regs[int(t.peer[e, k])][int(t.dst[e, k])] = re[int(t.a[e, k])]
                else:
                    val = _compute(t, e, k, re, coefregs[e])
                    re[int(t.dst[e, k])] = _round16(val) if t.final[e, k] else round_mid(val)


def _kernel_dma_out(program: Program, vbuf: np.ndarray) -> np.ndarray:
    """DMA out: the kernel's output (rows, n), NaN where no store wrote."""
    spec = program.spec
    lanes, n, comps = program.lanes, spec.n, spec.comps
    complex_out = comps == 2 and not spec.real_output
    out = np.full((spec.rows, n), np.nan, dtype=np.complex128 if complex_out else np.float64)
    for b, (r0, r1) in enumerate(program.plan.batches):
        for g in range(ceil_div(r1 - r0, lanes)):
            rows_ = np.arange(r0 + g * lanes, min(r1, r0 + (g + 1) * lanes))
            re_ = vbuf[b, (g * comps) * n + np.arange(n), : len(rows_)].T
            if complex_out:
                im_ = vbuf[b, (g * comps + 1) * n + np.arange(n), : len(rows_)].T
                out[rows_] = re_ + 1j * im_
            else:
                out[rows_] = re_
    return out


def _compute(t, e: int, k: int, re: dict, coefregs: dict) -> np.ndarray:  # noqa: ANN001 - a template
    """Exact (float64) result of compute instruction k of PE e; the caller rounds it to the storage format.

    MUL / FMA / FMS / ADDK read one lane of a coefficient register (broadcast over the lanes)."""
    o = int(t.op[e, k])
    a = re[int(t.a[e, k])]
    if o in (OP_MUL, OP_FMA, OP_FMS, OP_ADDK):
        lane = int(t.lane[e, k])
        cf = coefregs[int(t.coef[e, k])][..., lane : lane + 1]  # (I, 1) or (1,)
        if o == OP_MUL:
            return a * cf
        if o == OP_ADDK:
            return a + cf
        c = re[int(t.acc[e, k])]
        return c + a * cf if o == OP_FMA else c - a * cf
    if o in (OP_ADD, OP_SUB, OP_MAX, OP_VMUL):
        c = re[int(t.acc[e, k])]
        if o == OP_ADD:
            return a + c
        if o == OP_SUB:
            return a - c
        return np.maximum(a, c) if o == OP_MAX else a * c
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if o == OP_EXP:
            return np.exp(a)
        if o == OP_RECIP:
            return 1.0 / a
        if o == OP_RSQRT:
            return 1.0 / np.sqrt(a)
    assert o == OP_TANH, o
    return np.tanh(a)


# ---- references --------------------------------------------------------------------------------------------
def _stage(x: np.ndarray, t: np.ndarray, b: int) -> np.ndarray:
    """One butterfly stage on the last axis: pairs (i0, i0 + 2^b), coefficients t (n // 2, 2, 2)."""
    n = x.shape[-1]
    s = 1 << b
    xv = x.reshape(*x.shape[:-1], n // (2 * s), 2, s)
    tv = t.reshape(n // (2 * s), s, 2, 2)
    x0, x1 = xv[..., 0, :], xv[..., 1, :]
    y0 = tv[..., 0, 0] * x0 + tv[..., 0, 1] * x1
    y1 = tv[..., 1, 0] * x0 + tv[..., 1, 1] * x1
    return np.stack([y0, y1], axis=-2).reshape(x.shape)


def _fft_stage_coefs(n: int, b: int, absolute: bool = False) -> np.ndarray:
    s = 1 << b
    k = np.arange(n // 2) % s
    w = np.exp(-2j * np.pi * k / (2 * s))
    if absolute:
        w1 = np.abs(w.real) + np.abs(w.imag)
        one = np.ones(n // 2)
        return np.stack([np.stack([one, w1], -1), np.stack([one, w1], -1)], -2)
    one = np.ones(n // 2, dtype=complex)
    return np.stack([np.stack([one, w], -1), np.stack([one, -w], -1)], -2)


def reference(program: Program, data: KernelData) -> tuple[np.ndarray, str]:
    """(exact result in float64 / complex128, what computed it)."""
    spec = program.spec
    if spec.kind == "fft":
        import torch

        x = torch.from_numpy(np.asarray(data.x, dtype=np.complex128))
        y = torch.fft.fft(x, dim=-1).numpy()
        return (y.real if spec.real_output else y), "torch.fft.fft (complex128)"
    import torch  # deferred: torch only when a value check runs

    from swallowtail.nn.butterfly import butterfly_multiply

    assert data.coefs is not None
    tw = np.zeros((1, spec.log_n, spec.n // 2, 2, 2), dtype=data.coefs.dtype)
    tw[0, :, :, 0, 0] = 1
    tw[0, :, :, 1, 1] = 1
    for b in spec.stage_bits:
        tw[0, b] = data.coefs[b]
    increasing = len(spec.stage_bits) < 2 or spec.stage_bits[1] > spec.stage_bits[0]
    tt = torch.from_numpy(tw)
    xx = torch.from_numpy(np.asarray(data.x)[:, None, :].astype(tw.dtype))
    y = butterfly_multiply(tt, xx, increasing_stride=increasing)[:, 0, :].numpy()
    return y, "swallowtail.nn.butterfly.butterfly_multiply (float64)"


def abs_scale(program: Program, data: KernelData) -> np.ndarray:
    """|B_L| ... |B_1| |x| with complex numbers measured by |re| + |im| (the error bound's scale)."""
    spec = program.spec
    y = np.abs(np.real(data.x)) + np.abs(np.imag(data.x))
    if spec.kind == "fft":
        y = y[:, bitrev(spec.n)]  # DIT runs on the bit-reversed input
        for b in spec.stage_bits:
            y = _stage(y, _fft_stage_coefs(spec.n, b, absolute=True), b)
        return y
    assert data.coefs is not None
    for b in spec.stage_bits:
        c = data.coefs[b]
        y = _stage(y, np.abs(np.real(c)) + np.abs(np.imag(c)), b)
    return y


@dataclass
class VerifyReport:
    ok: bool
    max_rel_err: float  # max over outputs of |y_hat - y| / scale (componentwise, scale = |B|..|B||x|)
    bound: float  # (1 + eta)^L - 1
    c: float  # bound ~ c * log2(n) * 2^-11
    max_abs_err: float
    max_abs_ref: float
    unwritten: int  # NaN outputs
    reference: str
    precision: str
    seed: int

    @property
    def normwise_rel_err(self) -> float:
        return self.max_abs_err / self.max_abs_ref if self.max_abs_ref else 0.0

    def describe(self) -> str:
        st = "PASS" if self.ok else "FAIL"
        s = (
            f"verify {st}: max componentwise error {self.max_rel_err:.3g} <= bound {self.bound:.3g} "
            f"(~{self.c:.3g} x log2 n x 2^-11, {self.precision}); max |err| / max |y| = "
            f"{self.normwise_rel_err:.3g}; reference {self.reference}; seed {self.seed}"
        )
        if self.unwritten:
            s += f"; {self.unwritten} outputs never written (NaN)"
        return s


def error_bound(program: Program, precision: str) -> tuple[float, float]:
    """(bound on the componentwise error relative to |B|..|x|, c of the first-order c log2 n 2^-11)."""
    spec = program.spec
    m = max(rounding_depth(spec.pair_program), rounding_depth(spec.output_program))
    r16, r32 = (m, 0) if precision == "fp16" else (1, m - 1)
    if spec.kind == "fft":
        r16 += 1  # fp16 twiddles vs the exact DFT
    eta = (1 + U16) ** r16 * (1 + U32) ** r32 - 1
    L = len(spec.stage_bits)
    return (1 + eta) ** L - 1, r16 + r32 * U32 / U16


def verify(program: Program, data: KernelData, out: np.ndarray, precision: str, seed: int) -> VerifyReport:
    spec = program.spec
    ref, who = reference(program, data)
    scale = abs_scale(program, data)
    bound, c = error_bound(program, precision)
    m = max(rounding_depth(spec.pair_program), rounding_depth(spec.output_program))
    L = len(spec.stage_bits)
    if np.iscomplexobj(out) or np.iscomplexobj(ref):
        o = np.asarray(out, dtype=np.complex128)
        r = np.asarray(ref, dtype=np.complex128)
        err = np.maximum(np.abs(o.real - r.real), np.abs(o.imag - r.imag))
    else:
        err = np.abs(np.asarray(out, dtype=np.float64) - np.asarray(ref, dtype=np.float64))
    unwritten = int(np.isnan(err).sum())
    slack = L * m * FP16_UNDERFLOW
    with np.errstate(invalid="ignore", divide="ignore"):
        rel = np.where(scale > 0, err / np.maximum(scale, 1e-300), np.where(err > 0, np.inf, 0.0))
    ok = unwritten == 0 and bool(np.all(err <= bound * scale + slack))
    finite = err[~np.isnan(err)]
    return VerifyReport(
        ok=ok,
        max_rel_err=float(np.nanmax(rel)) if rel.size and not np.all(np.isnan(rel)) else float("nan"),
        bound=bound,
        c=c,
        max_abs_err=float(finite.max()) if finite.size else float("nan"),
        max_abs_ref=float(np.abs(ref).max()),
        unwritten=unwritten,
        reference=who,
        precision=precision,
        seed=seed,
    )


# ---- dense-operator programs (swallowtail.compiler.dense) ----------------------------------------------
def execute_dense(
    program: Program, data: DenseData, precision: str = "fp16", drop_store: tuple[int, int] | None = None
) -> np.ndarray:
    """Run a dense Program on `data` (a `DenseData`, e.g. `dense_random_data`); NaN where never written.

    Every SPM buffer starts poisoned (NaN): an output the program does not store stays NaN. Iterations of one
    (batch, pass) are independent row units and run together. `drop_store` = (pass, index of a store in
    the template) skips that store on every PE (a fault injection for tests)."""

    check_choice("precision", precision, PRECISIONS)
    sch = program.schedule
    spm = program.spm
    n_b = int(sch.batch.max()) + 1 if len(sch) else 0
    vbuf = np.full((n_b, spm.buffer_slots, program.lanes), np.nan)
    dense_place_inputs(program, data, vbuf)
    table = _round16(dense_coefficients(program, data))
    round_mid = _round16 if precision == "fp16" else _round32
    key = sch.batch * (len(program.templates) + 1) + sch.pass_
    cuts = np.flatnonzero(np.diff(key)) + 1
    n_pe = program.n_active
    dead = _dense_dead_loads(program)
    for ii in np.split(np.arange(len(sch)), cuts):
        if not len(ii):
            continue
        b, p = int(sch.batch[ii[0]]), int(sch.pass_[ii[0]])
        t = program.templates[p]
        off = sch.base[ii] - spm.buffer_base[b % program.plan.buffers]
        cb = int(program.instance_coef_base[int(sch.seq[ii[0]])])
        if _uniform(t):
            _run_dense_uniform(t, p, b, off, cb, table, vbuf, round_mid, drop_store, dead[p])
            continue
        coefregs = [
            {v: table[cb + int(t.coef_slot[e, v])] for v in range(t.coef_vectors)} for e in range(n_pe)
        ]
        regs: list[dict[int, np.ndarray]] = [{} for _ in range(n_pe)]
        n_st = 0
        for kind, s0, s1 in t.steps:
            if kind == STEP_ST:
                _poison(vbuf, b, off, dead[p])
            for e in range(n_pe):
                re = regs[e]
                st_k = n_st
                for k in range(s0, s1):
                    o = int(t.op[e, k])
                    if o == OP_LD:
                        re[int(t.dst[e, k])] = vbuf[b, off + int(t.slot[e, k])]
                    elif o == OP_ST:
                        if drop_store != (p, st_k):
                            vbuf[b, off + int(t.slot[e, k])] = re[int(t.a[e, k])]
                        st_k += 1
                    elif o == OP_XFER:
                        regs[int(t.peer[e, k])][int(t.dst[e, k])] = re[int(t.a[e, k])]
                    else:
                        val = _compute(t, e, k, re, coefregs[e])
                        re[int(t.dst[e, k])] = _round16(val) if t.final[e, k] else round_mid(val)
            n_st += int(((t.op[0, s0:s1]) == OP_ST).sum())
    return dense_read_outputs(program, vbuf)


def _dense_dead_loads(program: Program) -> list[np.ndarray]:
    """Per pass: the slot offsets (all PEs) whose value is dead once the pass has loaded it -- loaded and
    either overwritten by the same pass (an in-place update: a running statistic, a chunked reduction's y
    over x, a GEMM partial sum) or loaded by no later pass. The value engine poisons them (NaN) before the
    pass's stores, so a store the program leaves out surfaces as NaN, as an output never written does."""
    later: set[int] = set()
    out: list[np.ndarray] = []
    for t in reversed(program.templates):
        loaded = {int(v) for v in t.slot[t.op == OP_LD]}
        stored = {int(v) for v in t.slot[t.op == OP_ST]}
        out.append(np.array(sorted((loaded - later) | (loaded & stored)), dtype=np.int64))
        later |= loaded
    return out[::-1]


def _poison(vbuf: np.ndarray, b: int, off: np.ndarray, slots: np.ndarray) -> None:
    if len(slots):
        vbuf[b, (off[:, None] + slots[None, :]).ravel()] = np.nan


def _uniform(t) -> bool:  # noqa: ANN001 - a template
    """Every PE runs the same registers and coefficient lanes (only SPM slots differ) and nothing crosses
    the NoC: the PEs can execute as one vectorised register file."""
    if (t.op == OP_XFER).any():
        return False
    return all(bool((f == f[0:1]).all()) for f in (t.dst, t.a, t.acc, t.coef, t.lane, t.final))


def _run_dense_uniform(t, p, b, off, cb, table, vbuf, round_mid, drop_store, dead) -> None:  # noqa: ANN001
    """One (batch, pass) of a uniform template, all PEs at once: registers (PEs, iterations, lanes);
    the same semantics as the per-PE loop of `execute_dense`."""
    n_pe = t.op.shape[0]
    coefregs = {v: table[cb + t.coef_slot[:, v]][:, None, :] for v in range(t.coef_vectors)}
    re: dict[int, np.ndarray] = {}
    st_k = 0
    for kind, s0, s1 in t.steps:
        if kind == STEP_ST:
            _poison(vbuf, b, off, dead)
        for k in range(s0, s1):
            o = int(t.op[0, k])
            if o == OP_LD:
                re[int(t.dst[0, k])] = vbuf[b, off[None, :] + t.slot[:, k][:, None]]
            elif o == OP_ST:
                if drop_store != (p, st_k):
                    vbuf[b, off[None, :] + t.slot[:, k][:, None]] = re[int(t.a[0, k])]
                st_k += 1
            else:
                val = _compute(t, 0, k, re, coefregs)
                val = np.broadcast_to(val, (n_pe, len(off), vbuf.shape[2]))
                re[int(t.dst[0, k])] = _round16(val) if t.final[0, k] else round_mid(val)


def dense_reference(program: Program, data: DenseData) -> tuple[np.ndarray, str]:
    """(exact result in float64, what computed it): torch in float64."""
    import torch

    spec = program.spec

    def f64(field: str) -> torch.Tensor:
        return torch.from_numpy(np.asarray(data.need(field), dtype=np.float64))

    kind = spec.kind
    if kind == "gemm" and spec.structure is not None and spec.structure.op_kind == "monarch":
        from swallowtail.nn.monarch import monarch_multiply  # torch: loaded only to verify

        x = f64("a")[0][:, None, :]  # (rows, 1, n): one input shared by the stacks
        y = monarch_multiply(f64("w1"), f64("w2"), x).reshape(1, spec.rows, -1)
        return y.numpy(), "torch (swallowtail.nn.monarch.monarch_multiply, float64)"
    if kind == "gemm":
        y = f64("a") @ f64("b")
    elif kind == "softmax":
        y = torch.softmax(f64("x"), dim=-1)
    elif kind == "layernorm":
        y = torch.nn.functional.layer_norm(f64("x"), (spec.n,), f64("gamma"), f64("beta"), data.need("eps"))
    elif kind in ("add", "mul"):
        y = f64("x") + f64("x2") if kind == "add" else f64("x") * f64("x2")
    elif kind == "add-bias":
        y = f64("x") + f64("bias")
    elif kind == "scale":
        y = f64("x") * data.need("scale")
    elif kind == "relu":
        y = torch.relu(f64("x"))
    else:
        assert kind == "gelu"
        y = torch.nn.functional.gelu(f64("x"), approximate="tanh")
    return y.numpy(), f"torch ({kind}, float64)"


def dense_error_bound(program: Program, data: DenseData, precision: str = "fp16") -> np.ndarray:
    """Componentwise bound on |computed - exact| for every output, from the roundings of the mapped
    algorithm (u = 2^-11 per fp16 rounding, 2^-24 per fp32 one; each instruction rounds once):

    - GEMM: every product passes through at most m roundings (the FMA chain of a k-chunk, the reduce-scatter
      ADDs, the partial-sum ADDs of later k-chunks), so |err| <= ((1 + u)^m - 1) (|A| |B|); fp32-acc mode:
      fp16 roundings only at the k-chunk stores.
    - add / mul / bias / scale: one rounding, u |y|; relu: exact.
    - softmax: max exact; the rounded x - max perturbs exp by a factor e^(u |x - max|); exp, each ADD of the
      sum (chain depth d), RECIP, VMUL round once: relative error <=
      (1 + u)^2 e^(u |x - m|) (1 + u)^2 / (1 - delta_s) - 1,
      delta_s = (1 + u)^(2 + d) e^(u max|x - m|) - 1.
    - GELU (tanh form, 8 instructions, constants rounded to fp16): v = x (k + c1 k x^2) has relative error
      <= (1 + u)^6 - 1 (positive terms); tanh is 1-Lipschitz; y = (x / 2)(1 + t):
      |err| <= |h| (|v| dv + u |t| + 2 u |1 + t|) + u |y|, times (1 + u)^8 for the second-order terms.
    - softmax / LayerNorm chunked (rows longer than one chunk of w, running statistics in the SPM): the same
      bounds with the sum's chain depth d = ceil(w / c) + ceil(log2 c) + (chunks - 1) (c = 4 chains; each
      later chunk adds its partial sum into the stored running sum: one more rounding); the stored running
      sums, 1 / sum, mean and rstd are fp16 in both modes, which the bounds (u = 2^-11 for every rounding of
      a reduction, in both modes) already count. The online softmax rescales the running sum by
      EXP(m - m') at each later chunk (a rounded difference, EXP and VMUL: (1 + u)^2 e^(u |m - m'|) per
      chunk, and the |m - m'| add up to at most max|x - m|) and exponentiates x - m' against the running
      max m' <= m (|x - m'| <= |x - m|): delta_s gains (1 + u)^(2 (chunks - 1)) e^(u max|x - m|).
    - LayerNorm (first order in u, stated as such): errors of the mean (chain depth d1 + 2 roundings),
      of E[x^2] (d2 + 2), of var = E[x^2] - mean^2 and rsqrt (half the relative variance error + u), then
      the four roundings of (x - mean) rstd gamma + beta; fp16 rounds the eps of 1e-12 to 0.
    Plus an underflow allowance of 2^-24 per output (subnormal fp16 results)."""
    spec = program.spec
    lay = program.meta["dense_layout"]
    u = U16 if precision == "fp16" else U32
    kind = spec.kind
    slack = 2.0**-24
    ref, _ = dense_reference(program, data)
    if kind == "gemm" and lay.stages:
        return _structured_bound(program, data, precision)
    if kind == "gemm":
        kq = lay.kc // lay.ky
        levels = lay.ky.bit_length() - 1
        m = lay.n_chunks * (kq + levels) + (lay.n_chunks - 1)
        eta = (1 + u) ** m * ((1 + U16) ** lay.n_chunks if precision != "fp16" else 1.0) - 1
        scale = np.abs(np.asarray(data.need("a"))) @ np.abs(np.asarray(data.need("b")))
        return eta * scale + slack
    if kind in ("add", "mul", "add-bias", "scale"):
        return U16 * np.abs(ref) + slack
    if kind == "relu":
        return np.full(ref.shape, slack)
    x = np.asarray(data.need("x"), dtype=np.float64)
    # roundings of a row sum: the chains and tree of one chunk of w (the whole row in one pass), then, chunked
    # (n_cchunks > 1), one ADD per later chunk into the running sum stored in the SPM (fp16 in both modes)
    w, n_chunks = lay.w, lay.n_cchunks
    ch = max(1, min(4, w // 2))
    depth = ceil_div(w, ch) + (ch - 1).bit_length() + (n_chunks - 1)
    if kind == "softmax":
        dx = np.abs(x - x.max(axis=1, keepdims=True))
        e_rel = (1 + U16) ** 2 * np.exp(U16 * dx) - 1
        rescales = n_chunks - 1  # the online running sum's EXP(m - m') factors
        ds = (1 + U16) ** (2 + depth + 2 * rescales) * np.exp(
            U16 * (1 + (rescales > 0)) * dx.max(axis=1, keepdims=True)
        ) - 1
        rel = (1 + e_rel) * (1 + U16) ** 2 / (1 - ds) - 1
        return rel * np.abs(ref) + slack
    if kind == "gelu":
        k_, c1 = GELU_K, GELU_C1
        v = x * (k_ + c1 * k_ * x * x)
        t = np.tanh(v)
        h = x / 2
        dv = (1 + U16) ** 6 - 1
        err = np.abs(h) * (np.abs(v) * dv + U16 * np.abs(t) + 2 * U16 * np.abs(1 + t)) + U16 * np.abs(ref)
        return err * (1 + U16) ** 8 + slack
    assert kind == "layernorm"
    g, bta = np.asarray(data.need("gamma")), np.asarray(data.need("beta"))
    mu = x.mean(axis=1, keepdims=True)
    var = x.var(axis=1, keepdims=True)
    rstd = 1 / np.sqrt(var + data.need("eps"))
    e_mean = ((1 + U16) ** (depth + 2) - 1) * np.abs(x).mean(axis=1, keepdims=True)
    ex2 = (x * x).mean(axis=1, keepdims=True)
    e_ex2 = ((1 + U16) ** (depth + 3) - 1) * ex2
    e_msq = 2 * np.abs(mu) * e_mean + U16 * mu * mu
    e_var = e_ex2 + e_msq + U16 * var
    d_rstd = 0.5 * e_var / var + U16
    c = np.abs(x - mu)
    err = np.abs(g) * ((e_mean + U16 * c) * rstd + c * rstd * (d_rstd + 2 * U16)) + U16 * np.abs(ref)
    return err + U16 * np.abs(bta) + slack


def _structured_bound(program: Program, data: DenseData, precision: str) -> np.ndarray:
    """A chain of stages as the GEMM bound over the product: every product of |A| |B_0| |B_1| .. passes
    through at most the roundings of every stage's chains (FMA chain, reduce-scatter, partial sums; in
    fp32-acc mode plus the fp16 rounding of each stored k-chunk and stage output)."""
    lay = program.meta["dense_layout"]
    u = U16 if precision == "fp16" else U32
    m, stores = 0, 0
    for g in lay.stages:
        m += g.n_chunks * (g.kc // g.ky + g.ky.bit_length() - 1) + (g.n_chunks - 1)
        stores += g.n_chunks
    eta = (1 + u) ** m * ((1 + U16) ** stores if precision != "fp16" else 1.0) - 1
    scale = np.abs(np.asarray(data.need("a"))[0])
    for g, b in zip(lay.stages, stage_matrices(program.spec, data), strict=True):  # type: ignore[arg-type]
        if g.k_slot is not None:  # reduction index i reads the previous output at k_slot[i]
            scale = scale[:, list(g.k_slot)]
        scale = scale @ np.abs(b)
        if g.c_slot is not None:  # column j is stored at position c_slot[j]
            scale = scale[:, np.argsort(g.c_slot)]
    return eta * scale[None] + 2.0**-24


@dataclass
class DenseVerify:
    ok: bool
    max_err_over_bound: float  # max over outputs of |y_hat - y| / bound
    max_abs_err: float
    unwritten: int
    reference: str
    precision: str

    def describe(self) -> str:
        st = "PASS" if self.ok else "FAIL"
        s = (
            f"verify {st}: max |err| / bound = {self.max_err_over_bound:.3g}, "
            f"max |err| = {self.max_abs_err:.3g} "
            f"({self.precision}); reference {self.reference}"
        )
        return s + (f"; {self.unwritten} outputs never written (NaN)" if self.unwritten else "")


def verify_dense(program: Program, data: DenseData, out: np.ndarray, precision: str = "fp16") -> DenseVerify:
    ref, who = dense_reference(program, data)
    bound = dense_error_bound(program, data, precision)
    err = np.abs(out - ref)
    unwritten = int(np.isnan(err).sum())
    ratio = np.where(np.isnan(err), np.inf, err / bound)
    return DenseVerify(
        ok=unwritten == 0 and bool(np.all(ratio <= 1.0)),
        max_err_over_bound=float(ratio.max()) if ratio.size else 0.0,
        max_abs_err=float(np.nanmax(err)) if unwritten < err.size else float("nan"),
        unwritten=unwritten,
        reference=who,
        precision=precision,
    )
