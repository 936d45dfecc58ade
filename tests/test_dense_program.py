"""Dense operators as instruction-level Programs: value verification by the cycle-level value engine against
torch (fp16 storage, fp32-acc option), poisoned outputs, timing-engine invariants, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from swallowtail.arch.specs import load_arch
from swallowtail.compiler.dense import compile_dense, dense_layout, dense_random_data
from swallowtail.errors import SpecError
from swallowtail.sim.timing import simulate_timing
from swallowtail.sim.values import execute_dense, verify_dense
from swallowtail.workload import GEMM, Elementwise, LayerNorm, Softmax

ARCH = load_arch("df-4x4-simd8")

OPS = [
    GEMM("proj", m=20, k=64, n=24),  # k split over the 4 PE rows, reduce-scatter over the NoC
    GEMM("scores", m=16, k=16, n=40, batch=2),  # per-head coefficients, two column tiles
    GEMM("odd", m=17, k=150, n=10),  # 3 k-chunks (partial sums through the SPM), ky = 2, padding
    Softmax("softmax", rows=50, n=64),
    LayerNorm("ln", rows=30, n=64),
    Elementwise("gelu", op="gelu", numel=64 * 20),
    Elementwise("res", op="add", numel=64 * 9, operands=2),
    Elementwise("bias", op="add", numel=24 * 40, weight=40),
    Elementwise("scale", op="scale", numel=256),
    Elementwise("relu", op="relu", numel=256),
    Elementwise("mul", op="mul", numel=256, operands=2),
]


@pytest.mark.parametrize("op", OPS, ids=[o.name for o in OPS])
@pytest.mark.parametrize("precision", ["fp16", "fp32-acc"])
def test_values_match_torch(op, precision):
    prog = compile_dense(op, ARCH)
    data = dense_random_data(prog, seed=3)
    out = execute_dense(prog, data, precision)
    rep = verify_dense(prog, data, out, precision)
    assert rep.ok, rep.describe()
    assert rep.unwritten == 0


@pytest.mark.parametrize("op", [OPS[0], OPS[3], OPS[6]], ids=["gemm", "softmax", "add"])
def test_unwritten_output_fails(op):
    """The SPM starts poisoned (NaN): a program that skips one store leaves NaN outputs and fails."""
    prog = compile_dense(op, ARCH)
    data = dense_random_data(prog, seed=0)
    out = execute_dense(prog, data, drop_store=(0, 0))
    rep = verify_dense(prog, data, out)
    assert not rep.ok and rep.unwritten > 0


def test_wrong_value_fails():
    prog = compile_dense(OPS[3], ARCH)
    data = dense_random_data(prog, seed=0)
    out = execute_dense(prog, data)
    out[3, int(np.argmax(out[3]))] *= 1.1  # well beyond the bound (~2% relative here)
    assert not verify_dense(prog, data, out).ok


@pytest.mark.parametrize("op", [GEMM("g", m=64, k=64, n=64, batch=2), OPS[2], OPS[4], OPS[5]], ids=str)
def test_timing_fast_forward_exact_and_bounded(op):
    prog = compile_dense(op, ARCH)
    a = simulate_timing(prog, ARCH)
    b = simulate_timing(prog, ARCH, fast_forward=False)
    assert a.cycles == b.cycles
    # never faster than every PE issuing one compute instruction per cycle
    assert a.cycles >= prog.lane_ops() / (ARCH.n_pes * ARCH.pe.simd_lanes)


def test_special_function_rate_matters():
    op = Softmax("s", rows=512, n=32)
    slow = ARCH.with_overrides({"pe.fus.special.initiation_interval": 16})
    fast = simulate_timing(compile_dense(op, ARCH), ARCH).cycles
    assert simulate_timing(compile_dense(op, slow), slow).cycles > fast


@pytest.mark.parametrize(
    "op",
    [
        Softmax("s", rows=40, n=64),
        Softmax("s", rows=40, n=300),  # chunked (online)
        LayerNorm("l", rows=40, n=64),
        LayerNorm("l", rows=40, n=768),  # chunked
        Elementwise("g", op="gelu", numel=64 * 24),
    ],
    ids=["softmax", "softmax-chunked", "layernorm", "layernorm-chunked", "gelu"],
)
def test_software_pipelining_reorders_only(op):
    """The skew around the special-function unit / the squares depends on the FU latencies; it reorders
    instructions and changes nothing else: the same instruction multiset, the same values bit for bit."""
    other = ARCH.with_overrides(
        {"pe.fus.special.latency": 3, "pe.fus.special.initiation_interval": 1, "pe.fus.fma.latency": 1}
    )
    a, b = compile_dense(op, ARCH), compile_dense(op, other)
    orders_differ = False
    for ta, tb in zip(a.templates, b.templates, strict=True):
        assert sorted(map(tuple, ta.op.T.tolist())) == sorted(map(tuple, tb.op.T.tolist()))
        orders_differ |= not np.array_equal(ta.op, tb.op)
    assert orders_differ
    data = dense_random_data(a, seed=2)
    for precision in ("fp16", "fp32-acc"):
        assert np.array_equal(
            execute_dense(a, data, precision), execute_dense(b, data, precision), equal_nan=True
        )


def test_bad_inputs():
    with pytest.raises(SpecError, match="register_file"):  # not even a two-vector chunk fits
        compile_dense(Softmax("s", rows=8, n=1024), ARCH.with_overrides({"pe.register_file.entries": 2}))
    with pytest.raises(SpecError, match="softmax.n"):
        compile_dense(Softmax("s", rows=8, n=1), ARCH)
    with pytest.raises(SpecError, match="row_chunk"):
        compile_dense(OPS[5], ARCH, row_chunk=0)
    with pytest.raises(SpecError, match="units_per_batch"):
        compile_dense(OPS[5], ARCH, units_per_batch=-1)
    with pytest.raises(SpecError, match="operands"):
        compile_dense(Elementwise("e", op="add", numel=64), ARCH)
    with pytest.raises(SpecError):
        compile_dense(Elementwise("e", op="sqrt", numel=64), ARCH)
    tiny = ARCH.with_overrides({"spm.size_bytes": 4096})
    with pytest.raises(SpecError, match="spm.size_bytes"):
        compile_dense(GEMM("g", m=64, k=512, n=512), tiny)


def test_deterministic():
    prog = compile_dense(OPS[0], ARCH)
    d = dense_random_data(prog, seed=1)
    assert np.array_equal(execute_dense(prog, d), execute_dense(prog, d), equal_nan=True)
    assert simulate_timing(prog, ARCH).cycles == simulate_timing(compile_dense(OPS[0], ARCH), ARCH).cycles


# ---- chunked (multi-pass) reductions: rows longer than one chunk, running statistics in the SPM ----------
CHUNKED = [
    Softmax("sm1k", rows=136, n=1024),  # 16 chunks, a partial second row unit
    LayerNorm("ln1k", rows=128, n=1024),
    Softmax("sm4k", rows=128, n=4096),  # 64 chunks; a row unit too large for two SPM buffers: single-buffered
    LayerNorm("ln4k", rows=128, n=4096),
    Softmax("sm-odd", rows=40, n=300),  # n not a power of two: chunks of 60
    LayerNorm("ln-odd", rows=40, n=300),
]


# (n = 4096: one precision each, to keep the suite fast)
CHUNKED_CASES = [(o, p) for o in CHUNKED for p in ("fp16", "fp32-acc") if o.n < 4096]
CHUNKED_CASES += [(CHUNKED[2], "fp16"), (CHUNKED[3], "fp32-acc")]


@pytest.mark.parametrize(("op", "precision"), CHUNKED_CASES, ids=[f"{o.name}-{p}" for o, p in CHUNKED_CASES])
def test_chunked_reduction_values(op, precision):
    prog = compile_dense(op, ARCH)
    lay = prog.meta["dense_layout"]
    assert lay.chunked and lay.n_cchunks > 1 and lay.n_cchunks * lay.w == op.n
    assert prog.plan.buffers == (1 if op.n == 4096 else 2)  # 2 x 16 records of 4096 + state > 2 MiB
    assert len(prog.templates) == len(lay.phases) * lay.n_cchunks
    data = dense_random_data(prog, seed=5)
    out = execute_dense(prog, data, precision)
    rep = verify_dense(prog, data, out, precision)
    assert rep.ok and rep.unwritten == 0, rep.describe()


def test_chunked_policy():
    # a row that fits one chunk stays a single in-register pass; longer rows are chunked
    assert dense_layout(Softmax("s", rows=8, n=64), ARCH).phases == ("row",)
    sm = dense_layout(Softmax("s", rows=8, n=1024), ARCH)
    assert sm.phases == ("max-sum", "scale") and sm.w == 64 and sm.fields["y"] == sm.fields["x"]
    ln = dense_layout(LayerNorm("l", rows=8, n=512), ARCH)
    assert ln.phases == ("stats", "normalise") and ln.n_cchunks == 8


@pytest.mark.parametrize("drop", [(0, 0), (5, 1), (20, 5), (31, 63)], ids=["max", "sum", "scale", "last"])
def test_chunked_unwritten_fails(drop):
    """A chunked softmax computes in place (y over x): a store left out of any phase (the running max, an
    exponential, a scaled output) must still surface as NaN outputs (dead slots are poisoned) and fail."""
    prog = compile_dense(CHUNKED[0], ARCH)
    data = dense_random_data(prog, seed=0)
    out = execute_dense(prog, data, drop_store=drop)
    rep = verify_dense(prog, data, out)
    assert not rep.ok and rep.unwritten > 0


def test_chunked_wrong_value_fails():
    prog = compile_dense(CHUNKED[1], ARCH)
    data = dense_random_data(prog, seed=0)
    out = execute_dense(prog, data)
    out[7, 100] += 0.05 * max(1.0, abs(out[7, 100]))
    assert not verify_dense(prog, data, out).ok


def test_chunked_timing():
    prog = compile_dense(Softmax("s", rows=128, n=256), ARCH)
    a = simulate_timing(prog, ARCH)
    assert a.cycles == simulate_timing(prog, ARCH, fast_forward=False).cycles
    assert a.cycles >= prog.lane_ops() / (ARCH.n_pes * ARCH.pe.simd_lanes)
    # the special-function unit bounds it: one EXP per element at one issue per initiation interval
    ii = ARCH.pe.fus["special"].initiation_interval
    assert a.cycles >= 128 * 256 / (ARCH.n_pes * ARCH.pe.simd_lanes) * ii


LAYOUT_OPS = [
    GEMM("g", m=20, k=150, n=10),
    GEMM("g2", m=16, k=256, n=300, batch=2),
    Softmax("s", rows=50, n=64),
    Softmax("s", rows=50, n=1024),
    LayerNorm("l", rows=30, n=512),
    Elementwise("b", op="add", numel=24 * 40, weight=40),
    Elementwise("g", op="gelu", numel=64 * 20),
]


@pytest.mark.parametrize("op", LAYOUT_OPS, ids=str)
def test_dense_layout_agrees(op):
    lay = dense_layout(op, ARCH)
    prog = compile_dense(op, ARCH)
    assert lay == prog.meta["dense_layout"]
    assert len(lay.pass_index) == len(prog.templates)
    if lay.kind == "rowwise":
        assert lay.data_regs == max(t.data_regs for t in prog.templates)
    kw = {"gemm_k_chunk": 32, "gemm_cols_per_pe": 4, "row_chunk": 4}
    assert len(dense_layout(op, ARCH, **kw).pass_index) == len(compile_dense(op, ARCH, **kw).templates)


def test_dense_layout_of_op_too_big_for_the_spm():
    op = GEMM(
        "w", m=4096, k=1024, n=4096, b_is_weight=True
    )  # b_is_weight: the coefficient table of all passes > the SPM
    with pytest.raises(SpecError, match="spm.size_bytes"):
        compile_dense(op, ARCH)
    lay = dense_layout(op, ARCH)
    assert len(lay.pass_index) == lay.n_chunks * lay.n_tiles == 16 * 128
    with pytest.raises(SpecError, match="row_chunk"):
        dense_layout(op, ARCH, row_chunk=0)


def test_gemm_passes_are_a_grid_not_a_list():
    """A 2^18 x 2^18 GEMM has 33 million passes: its layout counts and indexes them without building them
    (it took 16 s and 3 GB in every `simulate` of such a network, whose probe runs a few)."""
    lay = dense_layout(GEMM("w", m=8, k=2**18, n=2**18), ARCH)
    grid = lay.pass_index
    assert len(grid) == lay.n_chunks * lay.n_tiles > 10**7
    assert grid[0] == (0, 0) and grid[-1] == (lay.n_chunks - 1, lay.n_tiles - 1)
    assert grid[lay.n_tiles + 1] == (1, 1)
    small = dense_layout(GEMM("g2", m=16, k=256, n=300, batch=2), ARCH, gemm_k_chunk=32).pass_index
    assert list(small) == [(q, t) for q in range(small.chunks) for t in range(small.tiles)]
    assert [small[p] for p in range(len(small))] == list(small)
    with pytest.raises(IndexError):
        small[len(small)]
