"""Radix-2 butterfly and Monarch products: every fast op beside its reference (torch_butterfly style).

Outputs and gradients, real and complex, both stride directions, shared and per-stack inputs, odd batch
sizes; exact transforms (FFT, Hadamard) as oracles; the workspace of the no-autograd fast path must never
leak into results or saved tensors.
"""

from __future__ import annotations

import math
import re

import pytest
import torch

import swallowtail.nn.butterfly as butterfly_module
from swallowtail.nn import (
    bit_reversal_permutation,
    butterfly_multiply,
    butterfly_multiply_reference,
    butterfly_to_dense,
    clear_workspace,
    fft_butterfly,
    monarch_block_sizes,
    monarch_init,
    monarch_multiply,
    monarch_multiply_reference,
    monarch_to_dense,
    sylvester_hadamard,
    twiddle_init,
)

FFT_SIZES = [2**k for k in range(1, 14)]
FFT_RTOL = 1e-5
F64_TOL = 1e-10
# (nstacks of the twiddle, nstacks of the input): per-stack inputs, and one input shared by all stacks
STACKINGS = [(1, 1), (3, 3), (3, 1)]
MONARCH_8 = (torch.zeros(1, 4, 2, 2), torch.zeros(1, 2, 4, 4))  # valid Monarch weights of size 8


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def hadamard_by_recursion(n: int) -> torch.Tensor:
    """H_1 = [1], H_2m = [[H_m, H_m], [H_m, -H_m]]: the Sylvester construction, written independently."""
    h = torch.ones(1, 1, dtype=torch.float64)
    while h.shape[0] < n:
        h = torch.cat([torch.cat([h, h], 1), torch.cat([h, -h], 1)], 0)
    return h


def rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a - b).norm() / b.norm()).item()


# ---- exact transforms ---------------------------------------------------------------------------------
@pytest.mark.parametrize("increasing_stride", [True, False])
def test_fft_init_equals_torch_fft(increasing_stride: bool) -> None:
    for n in FFT_SIZES:
        x = torch.randn(2, n, dtype=torch.complex64, generator=gen(n))
        expected = torch.fft.fft(x)
        assert rel_err(fft_butterfly(x, increasing_stride), expected) < FFT_RTOL, n
        # the documented composition, spelled out
        twiddle = twiddle_init(n, "fft", complex=True, increasing_stride=increasing_stride)
        perm = bit_reversal_permutation(n)
        if increasing_stride:
            y = butterfly_multiply(twiddle, x[:, perm].unsqueeze(1))[:, 0]
        else:
            y = butterfly_multiply(twiddle, x.unsqueeze(1), increasing_stride=False)[:, 0, perm]
        assert rel_err(y, expected) < FFT_RTOL, n


def test_fft_normalized_is_ortho() -> None:
    x = torch.randn(3, 64, dtype=torch.complex128, generator=gen())
    assert torch.allclose(fft_butterfly(x, normalized=True), torch.fft.fft(x, norm="ortho"))


def test_bit_reversal_permutation() -> None:
    assert bit_reversal_permutation(8).tolist() == [0, 4, 2, 6, 1, 5, 3, 7]
    assert bit_reversal_permutation(1).tolist() == [0]
    perm = bit_reversal_permutation(1024)
    assert torch.equal(perm[perm], torch.arange(1024))  # an involution


@pytest.mark.parametrize("increasing_stride", [True, False])
@pytest.mark.parametrize("normalized", [False, True])
def test_hadamard_init_equals_sylvester(increasing_stride: bool, normalized: bool) -> None:
    for n in [2**k for k in range(0, 11)]:
        expected = hadamard_by_recursion(n) / (math.sqrt(n) if normalized else 1.0)
        twiddle = twiddle_init(n, "hadamard", normalized=normalized, dtype=torch.float64)
        dense = butterfly_to_dense(twiddle, increasing_stride)[0]
        assert torch.allclose(dense, expected, atol=F64_TOL), n
        assert torch.allclose(sylvester_hadamard(n, normalized, torch.float64), expected), n
    x = torch.randn(5, 1, 256, generator=gen())
    y = butterfly_multiply(twiddle_init(256, "hadamard"), x, increasing_stride)
    assert rel_err(y[:, 0], x[:, 0] @ hadamard_by_recursion(256).float().T) < FFT_RTOL


def test_identity_and_orthogonal_inits() -> None:
    for n in [1, 2, 16]:
        eye = butterfly_to_dense(twiddle_init(n, "identity", nstacks=2, dtype=torch.float64))
        assert torch.equal(eye, torch.eye(n, dtype=torch.float64).expand(2, n, n))
    m = butterfly_to_dense(twiddle_init(32, "orthogonal", nstacks=2, generator=gen(), dtype=torch.float64))
    assert torch.allclose(m @ m.transpose(1, 2), torch.eye(32, dtype=torch.float64), atol=F64_TOL)
    u = butterfly_to_dense(
        twiddle_init(32, "orthogonal", nstacks=2, complex=True, generator=gen(), dtype=torch.complex128)
    )
    assert torch.allclose(u @ u.mH, torch.eye(32, dtype=torch.complex128), atol=F64_TOL)
    a = twiddle_init(16, "random", nstacks=3, generator=gen(7))
    assert a.shape == (3, 4, 8, 2, 2) and a.dtype == torch.float32
    assert torch.equal(a, twiddle_init(16, "random", nstacks=3, generator=gen(7)))  # seeded
    assert twiddle_init(16, "random", complex=True).dtype == torch.complex64


# ---- fast product vs reference -------------------------------------------------------------------------
@pytest.mark.parametrize("complex_", [False, True])
@pytest.mark.parametrize("increasing_stride", [True, False])
@pytest.mark.parametrize("stacking", STACKINGS)
def test_multiply_matches_reference(
    complex_: bool, increasing_stride: bool, stacking: tuple[int, int]
) -> None:
    nstacks, s_in = stacking
    for n in [1, 2, 4, 8, 32]:
        dtype = torch.complex128 if complex_ else torch.float64
        twiddle = twiddle_init(n, "random", nstacks, complex_, gen(n), dtype=dtype).requires_grad_()
        x = torch.randn(2, 3, s_in, n, dtype=dtype, generator=gen(n + 1)).requires_grad_()
        grad_out = torch.randn(2, 3, nstacks, n, dtype=dtype, generator=gen(n + 2))

        expected = butterfly_multiply_reference(twiddle, x, increasing_stride)
        y = butterfly_multiply(twiddle, x, increasing_stride)
        assert y.shape == (2, 3, nstacks, n)
        assert torch.allclose(y, expected, atol=F64_TOL), n
        if n > 1:  # n = 1 has no stages, so nothing to differentiate
            g_tw_ref, g_x_ref = torch.autograd.grad(expected, (twiddle, x), grad_out)
            g_tw, g_x = torch.autograd.grad(y, (twiddle, x), grad_out)
            assert torch.allclose(g_tw, g_tw_ref, atol=F64_TOL), n
            assert torch.allclose(g_x, g_x_ref, atol=F64_TOL), n
        with torch.no_grad():  # the workspace fast path
            assert torch.allclose(butterfly_multiply(twiddle, x, increasing_stride), expected, atol=F64_TOL)


def test_real_input_complex_twiddle() -> None:
    twiddle = twiddle_init(8, "random", 2, complex=True, generator=gen(), dtype=torch.complex128)
    x = torch.randn(5, 1, 8, dtype=torch.float64, generator=gen(1), requires_grad=True)
    y = butterfly_multiply(twiddle, x)
    assert y.dtype == torch.complex128
    assert torch.allclose(y, butterfly_multiply_reference(twiddle, x), atol=F64_TOL)
    (g,) = torch.autograd.grad(y.abs().sum(), x)
    (g_ref,) = torch.autograd.grad(butterfly_multiply_reference(twiddle, x).abs().sum(), x)
    assert g.dtype == torch.float64 and torch.allclose(g, g_ref, atol=F64_TOL)


def test_complex_input_real_twiddle() -> None:
    twiddle = twiddle_init(8, "random", 2, generator=gen(), dtype=torch.float64).requires_grad_()
    x = torch.randn(5, 2, 8, dtype=torch.complex128, generator=gen(1), requires_grad=True)
    y = butterfly_multiply(twiddle, x)
    expected = butterfly_multiply_reference(twiddle, x)
    assert torch.allclose(y, expected, atol=F64_TOL)
    grads = torch.autograd.grad(y.abs().sum(), (twiddle, x))
    refs = torch.autograd.grad(expected.abs().sum(), (twiddle, x))
    assert grads[0].dtype == torch.float64
    for got, ref in zip(grads, refs, strict=True):
        assert torch.allclose(got, ref, atol=F64_TOL)


@pytest.mark.parametrize("recompute", [False, True], ids=["saved-stages", "recomputed-stages"])
@pytest.mark.parametrize("complex_", [False, True])
@pytest.mark.parametrize("stacking", [(2, 2), (2, 1)])
def test_gradcheck(complex_: bool, stacking: tuple[int, int], recompute: bool, monkeypatch) -> None:
    """Gradients by finite differences, with the stages' inputs saved by the forward or recomputed by the
    backward (`RECOMPUTE_ABOVE_BYTES`: 0 recomputes every product)."""
    if recompute:
        monkeypatch.setattr(butterfly_module, "RECOMPUTE_ABOVE_BYTES", 0)
    nstacks, s_in = stacking
    dtype = torch.complex128 if complex_ else torch.float64
    for n, increasing_stride in [(4, True), (8, False), (16, True)]:
        twiddle = twiddle_init(n, "random", nstacks, complex_, gen(n), dtype=dtype).requires_grad_()
        x = torch.randn(3, s_in, n, dtype=dtype, generator=gen(n + 1), requires_grad=True)

        def product(t: torch.Tensor, v: torch.Tensor, inc: bool = increasing_stride) -> torch.Tensor:
            return butterfly_multiply(t, v, inc)

        assert torch.autograd.gradcheck(product, (twiddle, x))


def test_only_twiddle_requires_grad_survives_workspace_reuse() -> None:
    """x without grad and twiddle with: the saved input must not be a workspace buffer that a later
    no-grad call overwrites before backward."""
    twiddle = twiddle_init(16, "random", 2, generator=gen(), dtype=torch.float64).requires_grad_()
    x = torch.randn(7, 1, 16, dtype=torch.float64, generator=gen(1))
    y = butterfly_multiply(twiddle, x)
    with torch.no_grad():
        butterfly_multiply(twiddle, torch.randn(7, 1, 16, dtype=torch.float64, generator=gen(2)))
    (g,) = torch.autograd.grad(y.sum(), twiddle)
    (g_ref,) = torch.autograd.grad(butterfly_multiply_reference(twiddle, x).sum(), twiddle)
    assert torch.allclose(g, g_ref, atol=F64_TOL)


def test_fast_results_do_not_alias_the_workspace() -> None:
    twiddle = twiddle_init(16, "random", 1, generator=gen())
    with torch.no_grad():
        for batch in [1, 5]:  # batch 1: a transposed copy would otherwise be a no-op view
            x1, x2 = (torch.randn(batch, 1, 16, generator=gen(i)) for i in (1, 2))
            y1 = butterfly_multiply(twiddle, x1)
            kept = y1.clone()
            butterfly_multiply(twiddle, x2)
            assert torch.equal(y1, kept)
            w1, w2 = monarch_init(16, "random", 1, gen())
            z1 = monarch_multiply(w1, w2, x1)
            kept = z1.clone()
            monarch_multiply(w1, w2, x2)
            assert torch.equal(z1, kept)


def test_inference_mode_then_no_grad() -> None:
    clear_workspace()
    twiddle = twiddle_init(8, "random", generator=gen())
    x = torch.randn(4, 1, 8, generator=gen(1))
    with torch.inference_mode():
        a = butterfly_multiply(twiddle, x)
    with torch.no_grad():  # writes into the workspace created under inference_mode
        b = butterfly_multiply(twiddle, x)
    assert torch.equal(a, b)


def test_to_dense_matches_reference() -> None:
    for increasing_stride in [True, False]:
        twiddle = twiddle_init(8, "random", 2, generator=gen(), dtype=torch.float64)
        dense = butterfly_to_dense(twiddle, increasing_stride)  # (S, n, n)
        x = torch.randn(3, 2, 8, dtype=torch.float64, generator=gen(1))
        ref = butterfly_multiply_reference(twiddle, x, increasing_stride)
        assert torch.allclose(torch.einsum("sij,bsj->bsi", dense, x), ref, atol=F64_TOL)


# ---- Monarch ----------------------------------------------------------------------------------------------
def test_monarch_block_sizes() -> None:
    assert monarch_block_sizes(1) == (1, 1)
    assert monarch_block_sizes(2) == (1, 2)
    assert monarch_block_sizes(8) == (2, 4)
    assert monarch_block_sizes(2048) == (32, 64)
    assert monarch_block_sizes(4096) == (64, 64)


def test_monarch_reference_is_the_definition() -> None:
    """M = P L P^T R with block_diag and permutation matrices built from scratch."""
    n, nstacks = 32, 2
    b1, b2 = monarch_block_sizes(n)  # 4, 8
    w1, w2 = monarch_init(n, "random", nstacks, gen(), torch.float64)
    # P^T: entry k * b1 + j (block k of R, row j) -> position j * b2 + k (block j of L, row k)
    pt = torch.zeros(n, n, dtype=torch.float64)
    for k in range(b2):
        for j in range(b1):
            pt[j * b2 + k, k * b1 + j] = 1.0
    for st in range(nstacks):
        r, l_ = torch.block_diag(*w1[st]), torch.block_diag(*w2[st])
        expected = pt.T @ l_ @ pt @ r
        assert torch.allclose(monarch_to_dense(w1, w2)[st], expected, atol=F64_TOL)
        x = torch.randn(5, n, dtype=torch.float64, generator=gen(st))
        ref = monarch_multiply_reference(w1, w2, x.unsqueeze(1))[:, st]
        assert torch.allclose(ref, x @ expected.T, atol=F64_TOL)


@pytest.mark.parametrize("stacking", STACKINGS)
def test_monarch_matches_reference(stacking: tuple[int, int]) -> None:
    nstacks, s_in = stacking
    for n in [1, 2, 4, 8, 32, 64]:
        w1, w2 = (w.requires_grad_() for w in monarch_init(n, "random", nstacks, gen(n), torch.float64))
        x = torch.randn(2, 3, s_in, n, dtype=torch.float64, generator=gen(n + 1), requires_grad=True)
        grad_out = torch.randn(2, 3, nstacks, n, dtype=torch.float64, generator=gen(n + 2))
        expected = monarch_multiply_reference(w1, w2, x)
        refs = torch.autograd.grad(expected, (w1, w2, x), grad_out)
        y = monarch_multiply(w1, w2, x)
        assert torch.allclose(y, expected, atol=F64_TOL), n
        for got, ref in zip(torch.autograd.grad(y, (w1, w2, x), grad_out), refs, strict=True):
            assert torch.allclose(got, ref, atol=F64_TOL), n
        with torch.no_grad():
            assert torch.allclose(monarch_multiply(w1, w2, x), expected, atol=F64_TOL), n
            dense = monarch_to_dense(w1, w2)  # (S, n, n)
            assert torch.allclose(torch.einsum("sij,...sj->...si", dense, x), expected, atol=F64_TOL)


def test_monarch_mixed_dtypes() -> None:
    w1, w2 = (w.requires_grad_() for w in monarch_init(16, "random", 2, gen(), torch.float64))
    x = torch.randn(3, 1, 16, dtype=torch.complex128, generator=gen(1), requires_grad=True)
    y = monarch_multiply(w1, w2, x)
    expected = monarch_multiply_reference(w1, w2, x)
    assert y.dtype == torch.complex128 and torch.allclose(y, expected, atol=F64_TOL)
    grads = torch.autograd.grad(y.abs().sum(), (w1, w2, x))
    refs = torch.autograd.grad(expected.abs().sum(), (w1, w2, x))
    for got, ref in zip(grads, refs, strict=True):
        assert got.dtype == ref.dtype and torch.allclose(got, ref, atol=F64_TOL)
    with torch.no_grad():
        assert torch.allclose(monarch_multiply(w1, w2, x), expected, atol=F64_TOL)
        x32 = torch.randn(3, 1, 16, generator=gen(2))  # float32 input, float64 weights
        assert torch.allclose(monarch_multiply(w1, w2, x32), monarch_multiply_reference(w1, w2, x32))


def test_monarch_inits() -> None:
    for n in [1, 2, 8, 64]:
        w1, w2 = monarch_init(n, "identity", 2, dtype=torch.float64)
        assert torch.equal(monarch_to_dense(w1, w2), torch.eye(n, dtype=torch.float64).expand(2, n, n))
        w1, w2 = monarch_init(n, "orthogonal", 2, gen(), torch.float64)
        m = monarch_to_dense(w1, w2)
        assert torch.allclose(m @ m.transpose(1, 2), torch.eye(n, dtype=torch.float64), atol=F64_TOL)


# ---- bad inputs -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda: twiddle_init(6, "random"), "n"),
        (lambda: twiddle_init(0, "random"), "n"),
        (lambda: twiddle_init(8, "bogus"), "kind"),
        (lambda: twiddle_init(8, "fft"), "complex"),
        (lambda: twiddle_init(8, "random", nstacks=0), "nstacks"),
        (lambda: bit_reversal_permutation(12), "n"),
        (lambda: butterfly_multiply(torch.zeros(1, 3, 3, 2, 2), torch.zeros(2, 1, 8)), "twiddle.shape"),
        (lambda: butterfly_multiply(torch.zeros(1, 3, 4, 2), torch.zeros(2, 1, 8)), "twiddle.shape"),
        (lambda: butterfly_multiply(torch.zeros(2, 3, 4, 2, 2), torch.zeros(2, 3, 8)), "x.shape"),
        (lambda: butterfly_multiply(torch.zeros(1, 3, 4, 2, 2), torch.zeros(2, 1, 4)), "x.shape"),
        (lambda: fft_butterfly(torch.zeros(3, 12)), "x.shape[-1]"),
        (lambda: monarch_block_sizes(12), "n"),
        (lambda: monarch_init(8, "fft"), "kind"),
        (lambda: monarch_multiply(*MONARCH_8, torch.zeros(3, 1, 4)), "x.shape"),
        (
            lambda: monarch_multiply(torch.zeros(1, 2, 4, 4), torch.zeros(1, 4, 2, 2), torch.zeros(3, 1, 8)),
            "b1",
        ),
        (
            lambda: monarch_multiply(torch.zeros(1, 4, 2, 2), torch.zeros(1, 2, 4, 3), torch.zeros(3, 1, 8)),
            "w2",
        ),
    ],
)
def test_bad_inputs_name_the_field(call, field: str) -> None:
    with pytest.raises(ValueError, match=re.escape(field)):
        call()


def test_recomputed_stages_save_one_input_and_give_the_same_gradients(monkeypatch) -> None:
    """Above RECOMPUTE_ABOVE_BYTES a product keeps only its input for the backward (log2 n times less),
    and its gradients are the ones the saved stages give, bit for bit."""
    twiddle = twiddle_init(64, "random", 1, False, gen(0), dtype=torch.float64).requires_grad_()
    x = torch.randn(32, 1, 64, dtype=torch.float64, generator=gen(1), requires_grad=True)

    def run() -> tuple[int, tuple[torch.Tensor, ...]]:
        saved = []
        with torch.autograd.graph.saved_tensors_hooks(lambda t: saved.append(t.numel()) or t, lambda t: t):
            y = butterfly_multiply(twiddle, x)
        return sum(saved), torch.autograd.grad(y.square().sum(), (twiddle, x))

    kept, grads = run()
    monkeypatch.setattr(butterfly_module, "RECOMPUTE_ABOVE_BYTES", 0)
    kept_r, grads_r = run()
    assert kept - twiddle.numel() == 6 * (kept_r - twiddle.numel())  # log2 64 stage inputs -> 1
    for a, b in zip(grads, grads_r, strict=True):
        assert torch.equal(a, b)
