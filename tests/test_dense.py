"""Dense-op mappings: value verification of the mapped algorithms (fp16 storage, fp32 accumulate, the
mapping's order) against torch, and the cost model's basic properties."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from swallowtail.arch.specs import load_arch
from swallowtail.compiler.dense_cost import (
    dense_cost,
    split_mixed_radix,
    value_fft_mixed3,
    value_gelu,
    value_gemm,
    value_layernorm,
    value_softmax,
)
from swallowtail.errors import SpecError
from swallowtail.workload import GEMM, Elementwise, LayerNorm, Softmax

ARCH = load_arch("df-4x4-simd8")
RNG = np.random.default_rng(0)


@pytest.mark.parametrize("shape", [(2, 20, 16, 24), (1, 33, 7, 65)])
def test_gemm_value(shape):
    b, m, k, n = shape
    a = RNG.standard_normal((b, m, k)).astype(np.float16)
    bb = RNG.standard_normal((b, k, n)).astype(np.float16)
    got = value_gemm(a, bb, ARCH).astype(np.float32)
    ref = (torch.from_numpy(a).float() @ torch.from_numpy(bb).float()).numpy()
    assert np.allclose(got, ref, rtol=2e-3, atol=2e-3 * np.sqrt(k))


def test_softmax_layernorm_gelu_values():
    x = RNG.standard_normal((13, 37)).astype(np.float16) * 3
    lanes = ARCH.pe.simd_lanes
    ref = torch.softmax(torch.from_numpy(x).float(), -1).numpy()
    assert np.allclose(value_softmax(x, lanes).astype(np.float32), ref, atol=2e-3)
    g = RNG.standard_normal(37).astype(np.float16)
    bt = RNG.standard_normal(37).astype(np.float16)
    ref = torch.nn.functional.layer_norm(
        torch.from_numpy(x).float(), (37,), torch.from_numpy(g).float(), torch.from_numpy(bt).float(), 1e-5
    ).numpy()
    assert np.allclose(value_layernorm(x, g, bt, 1e-5, lanes).astype(np.float32), ref, atol=1e-2)
    ref = torch.nn.functional.gelu(torch.from_numpy(x).float(), approximate="tanh").numpy()
    assert np.allclose(value_gelu(x).astype(np.float32), ref, atol=1e-2, rtol=1e-2)


def test_mixed_radix_fft_is_the_dft():
    x = RNG.standard_normal((4, 768))
    assert np.allclose(value_fft_mixed3(x), np.fft.fft(x, axis=-1), atol=1e-8)
    assert split_mixed_radix(768) == (3, 256)
    with pytest.raises(SpecError):
        split_mixed_radix(100)


def test_dense_costs():
    g = dense_cost(GEMM("g", m=128, k=64, n=128, batch=4), ARCH)
    assert g.cycles >= 128 * 64 * 128 * 4 / (ARCH.n_pes * ARCH.pe.simd_lanes)
    add = dense_cost(Elementwise("a", op="add", numel=1 << 16, operands=2), ARCH)
    assert add.bound == "spm"  # three streams per add: the SPM binds
    fused = dense_cost(Elementwise("a", op="add", numel=1 << 16), ARCH, fused_in=True, fused_out=True)
    assert fused.cycles < add.cycles
    sm = dense_cost(Softmax("s", rows=256, n=128), ARCH)
    slow = ARCH.with_overrides({"pe.fus.special.initiation_interval": 16})
    assert dense_cost(Softmax("s", rows=256, n=128), slow).cycles > sm.cycles
    assert dense_cost(LayerNorm("l", rows=64, n=256), ARCH).lane_ops > 0
