"""Dense operators as instruction-level Programs: value verification by the cycle-level value engine against
torch (fp16 storage, fp32-acc option), poisoned outputs, timing-engine invariants, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from swallowtail.arch.specs import load_arch
from swallowtail.compiler.dense_program import compile_dense, dense_random_data
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


def test_bad_inputs():
    with pytest.raises(SpecError, match="register_file"):
        compile_dense(Softmax("s", rows=8, n=4096), ARCH)  # a whole row must sit in the RF
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
