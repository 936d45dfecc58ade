"""What the value engine (`swallowtail.sim.values.execute_dense`) needs of a dense Program: random inputs, the
coefficient table, the inputs placed where the load DMA writes them, and the outputs read where the store DMA
reads them.

A weight-tiled GEMM reuses its two SPM coefficient regions over time, so a table's slots hold different
coefficients at different times. The value engine reads coefficients from one static table; `value_view`
gives it the program with every instance's table at its own place (the all-resident order, as an untiled
GEMM lays them out) -- the same values the DMA has put into the region when the instance runs (a region is
reloaded only after every read of the tables it held: `gemm.WeightTiling`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from swallowtail.compiler.dense.gemm import WeightTiling
from swallowtail.compiler.dense.spec import DenseLayout, DenseSpec, GemmStage
from swallowtail.compiler.program import Program
from swallowtail.errors import SpecError
from swallowtail.flops import GELU_C1, GELU_K


@dataclass(frozen=True)
class DenseData:
    """The inputs of one dense-op value run (float64 arrays of fp16-representable values); an op sets the
    fields it reads: a GEMM `a` (batch, rows, k) and `b` (batch, k, n) -- a block-sparse op's `b` zero outside
    its blocks, a Monarch op's weights `w1`, `w2` in `swallowtail.nn.monarch`'s layout --, a row-wise op `x`
    (rows, n) and, by kind, `x2`, `bias`, `scale`, LayerNorm's `gamma`, `beta`, `eps`."""

    a: np.ndarray | None = None
    b: np.ndarray | None = None
    w1: np.ndarray | None = None
    w2: np.ndarray | None = None
    x: np.ndarray | None = None
    x2: np.ndarray | None = None
    bias: np.ndarray | None = None
    scale: float | None = None
    gamma: np.ndarray | None = None
    beta: np.ndarray | None = None
    eps: float | None = None

    def need(self, field: str) -> Any:
        """The value of `field`, which this op's run reads; a SpecError if it was not given."""
        value = getattr(self, field)
        if value is None:
            raise SpecError(f"data.{field}", None, "an array: this op reads it")
        return value


def dense_random_data(program: Program, seed: int) -> DenseData:
    """Random fp16-representable inputs of the op (N(0, 1); softmax scores x 3; LayerNorm gamma, beta)."""
    spec: DenseSpec = program.spec  # type: ignore[assignment]
    rng = np.random.default_rng(seed)

    def h(*shape: int, scale: float = 1.0) -> np.ndarray:
        return (rng.standard_normal(shape) * scale).astype(np.float16).astype(np.float64)

    if spec.kind == "gemm" and spec.structure is not None:
        return _structured_data(spec, h)
    if spec.kind == "gemm":
        return DenseData(a=h(spec.batch, spec.rows, spec.k), b=h(spec.batch, spec.k, spec.n))
    x = h(spec.rows, spec.n, scale=3.0 if spec.kind == "softmax" else 1.0)
    if spec.kind in ("add", "mul"):
        return DenseData(x=x, x2=h(spec.rows, spec.n))
    if spec.kind == "add-bias":
        return DenseData(x=x, bias=h(spec.n))
    if spec.kind == "scale":
        return DenseData(x=x, scale=float(np.float16(0.125)))
    if spec.kind == "layernorm":
        return DenseData(x=x, gamma=h(spec.n), beta=h(spec.n), eps=spec.eps)
    return DenseData(x=x)


def _structured_data(spec: DenseSpec, h: Any) -> DenseData:
    """A block-sparse op: A and B (zero outside the nonzero blocks); a Monarch op: A and the weights w1, w2
    in `swallowtail.nn.monarch`'s layout (nstacks, blocks, block, block)."""
    st = spec.structure
    assert st is not None
    a = h(1, spec.rows, spec.k)
    if st.op_kind == "monarch":
        r, l_ = st.stages
        b1, b2 = r.block, l_.block
        s_ = r.n // spec.k
        return DenseData(a=a, w1=h(s_, b2, b1, b1), w2=h(s_, b1, b2, b2))
    (stage,) = st.stages
    return DenseData(a=a, b=block_masked(h(1, stage.k, stage.n)[0], stage)[None])


def block_masked(b: np.ndarray, stage: GemmStage) -> np.ndarray:
    """`b` with every entry outside the stage's nonzero blocks set to 0."""
    mask = np.zeros_like(b, dtype=bool)
    bs = stage.block
    for i, j in stage.blocks:
        mask[i * bs : (i + 1) * bs, j * bs : (j + 1) * bs] = True
    return np.where(mask, b, 0.0)


def stage_matrices(spec: DenseSpec, data: DenseData) -> list[np.ndarray]:
    """Each stage's B (k x n) from the op's data: a block-sparse op's B; a Monarch op's R and L in the
    stage index orders of `dense.spec.gemm_structure` (R[k b1 + j, s n + k b1 + i] = w1[s, k, i, j];
    L[s n + i b2 + k, s n + i b2 + a] = w2[s, i, a, k])."""
    st = spec.structure
    assert st is not None
    if st.op_kind == "block_sparse":
        return [np.asarray(data.need("b"))[0]]
    w1, w2 = np.asarray(data.need("w1")), np.asarray(data.need("w2"))
    s_, b2, b1, _ = w1.shape
    n = b1 * b2
    r = np.zeros((n, s_ * n))
    l_ = np.zeros((s_ * n, s_ * n))
    for s in range(s_):
        for k in range(b2):
            r[k * b1 : (k + 1) * b1, s * n + k * b1 : s * n + (k + 1) * b1] = w1[s, k].T
        for i in range(b1):
            o = s * n + i * b2
            l_[o : o + b2, o : o + b2] = w2[s, i].T
    return [r, l_]


def value_view(program: Program) -> Program:
    """The program as the value engine reads it: a weight-tiled GEMM with every instance's coefficient table
    at its own place (see the module docstring); any other program unchanged."""
    tiling: WeightTiling | None = program.meta.get("weight_tiling")
    if tiling is None or program.meta.get("value_view"):
        return program
    table = program.templates[0].coef_vectors * program.n_active
    slots = tiling.full.segments * len(tiling.full.pass_index) * table
    return replace(
        program,
        instance_coef_base=np.array(program.meta["value_coef_base"], dtype=np.int64),
        spm=replace(program.spm, coef_slots=slots, coef_regions=1),
        meta={**program.meta, "value_view": True},
    )


def dense_coefficients(program: Program, data: DenseData) -> np.ndarray:
    """The SPM coefficient region, (coef_slots, lanes) float64 (rounded to fp16 by the caller); a
    weight-tiled GEMM: of its `value_view`."""
    lay: DenseLayout = program.meta["dense_layout"]
    if "weight_tiling" in program.meta and not program.meta.get("value_view"):
        raise ValueError("a weight-tiled GEMM's coefficients: pass value_view(program) to the value engine")
    out = np.zeros((program.spm.coef_slots, program.lanes), dtype=np.float64)
    if lay.kind == "gemm":
        _gemm_coefficients(program, data, lay, out)
    else:
        _rowwise_coefficients(program, data, lay, out)
    return out


def _gemm_coefficients(program: Program, data: DenseData, lay: DenseLayout, out: np.ndarray) -> None:
    """B's entries, one table per (segment, pass (k-chunk, column tile)) of the whole op, in order: PE e's
    coefficient j * kq + kk is B[k-chunk row of (y, kk), column j of its column block]."""
    spec: DenseSpec = program.spec  # type: ignore[assignment]
    if lay.stages:
        _structured_coefficients(program, data, lay, out)
        return
    lanes, n_pe = program.lanes, program.n_active
    cv = program.templates[0].coef_vectors
    kq = lay.kc // lay.ky
    arch_cols = max(x for x, _ in program.pe_coords) + 1
    pos = 0
    for sgi in range(lay.segments):
        b = np.asarray(data.need("b"))[sgi]
        for q, tt in lay.pass_index:
            scal = np.zeros((n_pe, cv * lanes))
            for e, (x, y) in enumerate(program.pe_coords):
                for j in range(lay.cols):
                    xc = (y // lay.ky) * arch_cols + x
                    col = tt * lay.nx * lay.cols + xc * lay.cols + j
                    for kk in range(kq):
                        k = q * lay.kc + (y % lay.ky) * kq + kk
                        if k < spec.k and col < spec.n:
                            scal[e, j * kq + kk] = b[k, col]
            _put(out, pos, scal, cv, lanes)
            pos += cv * n_pe


def _structured_coefficients(program: Program, data: DenseData, lay: DenseLayout, out: np.ndarray) -> None:
    """Per pass, in order: its stage's B entries, PE e's coefficient j * kq + kk = B_s[k, column] for the
    reduction index k of (y, kk) in the pass's k-chunk and column j of its column block in the pass's tile."""
    spec: DenseSpec = program.spec  # type: ignore[assignment]
    mats = stage_matrices(spec, data)
    lanes, n_pe = program.lanes, program.n_active
    arch_cols = max(x for x, _ in program.pe_coords) + 1
    pos = 0
    for p, (_, tt) in enumerate(lay.pass_index):
        g, b = lay.stage_geom(p), mats[lay.pass_stage[p]]
        cv = program.templates[p].coef_vectors
        kq = g.kc // g.ky
        scal = np.zeros((n_pe, cv * lanes))
        for e, (x, y) in enumerate(program.pe_coords):
            xc = (y // g.ky) * arch_cols + x
            q = lay.pass_chunks[p][xc]
            if q < 0:  # no nonzero k-chunk left in this PE column block's block column: zero coefficients
                continue
            for j in range(g.cols):
                col = tt * g.tile + xc * g.cols + j
                if col >= b.shape[1]:
                    continue
                k0 = q * g.kc + (y % g.ky) * kq
                scal[e, j * kq : (j + 1) * kq] = b[k0 : k0 + kq, col]
        _put(out, pos, scal, cv, lanes)
        pos += cv * n_pe


def _rowwise_coefficients(program: Program, data: DenseData, lay: DenseLayout, out: np.ndarray) -> None:
    """Per pass (column chunk / phase): the scalars its template reads (bias, scale, 0, GELU constants,
    LayerNorm gamma / beta / 1 / n / eps)."""
    spec: DenseSpec = program.spec  # type: ignore[assignment]
    lanes, n_pe = program.lanes, program.n_active
    pos = 0
    for p, t in enumerate(program.templates):
        cv = t.coef_vectors
        if not cv:
            continue
        j0 = lay.pass_index[p][0] * lay.w
        if spec.kind == "add-bias":
            vals = np.asarray(data.need("bias"))[j0 : j0 + lay.w]
        elif spec.kind == "scale":
            vals = np.array([data.need("scale")])
        elif spec.kind == "relu":
            vals = np.zeros(1)
        elif spec.kind == "gelu":
            vals = np.array([GELU_C1 * GELU_K, GELU_K, 0.5, 1.0])
        elif lay.phase_of(p) == "stats":  # chunked LayerNorm, last stats pass
            vals = np.array([1.0 / spec.n, data.need("eps")])
        elif lay.phase_of(p) == "normalise":  # chunked LayerNorm: the chunk's gamma, beta
            g_, b_ = np.asarray(data.need("gamma")), np.asarray(data.need("beta"))
            vals = np.concatenate([g_[j0 : j0 + lay.w], b_[j0 : j0 + lay.w]])
        else:
            assert spec.kind == "layernorm"
            vals = np.concatenate([data.need("gamma"), data.need("beta"), [1.0 / spec.n, data.need("eps")]])
        scal = np.zeros((n_pe, cv * lanes))
        scal[:, : len(vals)] = vals
        _put(out, pos, scal, cv, lanes)
        pos += cv * n_pe


def _put(out: np.ndarray, pos: int, scal: np.ndarray, cv: int, lanes: int) -> None:
    """A table of (PEs, cv x lanes) scalars at slot `pos`, vector-major (`isa.coef_slot_layout`)."""
    n_pe = scal.shape[0]
    vec = scal.reshape(n_pe, cv, lanes)
    for e in range(n_pe):
        out[pos + np.arange(cv) * n_pe + e] = vec[e]


def _record(program: Program) -> DenseLayout:
    """The layout of one row unit's record in a buffer (a weight tile's, when weight-tiled)."""
    tiling: WeightTiling | None = program.meta.get("weight_tiling")
    return tiling.layout if tiling else program.meta["dense_layout"]


def dense_place_inputs(program: Program, data: DenseData, vbuf: np.ndarray) -> None:
    """What the load DMA writes: every input record of every batch into `vbuf` (batches, slots, lanes)."""
    spec: DenseSpec = program.spec  # type: ignore[assignment]
    lay = _record(program)
    lanes = program.lanes
    for b, (sgi, u0, u1) in enumerate(program.meta["batches_units"]):
        for u in range(u0, u1):
            rel = (u - u0) * lay.unit_slots
            if lay.kind == "gemm":
                rows = np.arange(u * lanes, min(spec.rows, (u + 1) * lanes))
                a = np.zeros((lay.kc * lay.n_chunks, len(rows)))
                a[: spec.k] = np.asarray(data.need("a"))[sgi, rows].T
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
                        vbuf[b, lo : lo + spec.n, : len(rows)] = np.asarray(data.need(f))[rows].T


def dense_read_outputs(program: Program, vbuf: np.ndarray) -> np.ndarray:
    """What the store DMA reads back: the op's output (GEMM: (batch, M, N); row-wise: (rows, n))."""
    spec: DenseSpec = program.spec  # type: ignore[assignment]
    lay = _record(program)
    tiling: WeightTiling | None = program.meta.get("weight_tiling")
    lanes = program.lanes
    if lay.kind == "gemm":
        out = np.full((spec.batch, spec.rows, spec.n), np.nan)
    else:
        out = np.full((spec.rows, spec.n), np.nan)
    for b, (sgi, u0, u1) in enumerate(program.meta["batches_units"]):
        c0, nc = tiling.columns(program.meta["batch_weight_tile"][b]) if tiling else (0, spec.n)
        for u in range(u0, u1):
            rel = (u - u0) * lay.unit_slots
            if lay.kind == "gemm":
                rows = np.arange(u * lanes, min(spec.rows, (u + 1) * lanes))
                lo = rel + lay.fields["c"]
                out[sgi, rows, c0 : c0 + nc] = vbuf[b, lo : lo + nc, : len(rows)].T
                continue
            for e in range(program.n_active):
                r0 = u * lay.unit_rows + e * lanes
                rows = np.arange(r0, min(spec.rows, r0 + lanes))
                if len(rows):
                    lo = rel + e * lay.rec + lay.fields["y"]
                    out[rows] = vbuf[b, lo : lo + spec.n, : len(rows)].T
    return out


__all__ = [
    "DenseData",
    "dense_coefficients",
    "dense_place_inputs",
    "dense_random_data",
    "dense_read_outputs",
    "value_view",
]
