"""ButterflyLinear: a drop-in nn.Linear (any sizes, any leading dims) checked against its dense form and
against the reference products; parameter and FLOP counts against hand counts; bad inputs."""

from __future__ import annotations

import re

import pytest
import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from swallowtail.errors import SpecError
from swallowtail.nn import (
    ButterflyLinear,
    LinearCounts,
    bit_reversal_permutation,
    butterfly_multiply_reference,
    linear_counts,
    monarch_multiply_reference,
)

F64_TOL = 1e-10
KINDS = ["butterfly", "monarch"]
# (in, out): square, rectangular both ways, non-powers of two, degenerate, the FFN shapes of fabnet-base
SIZES = [(1, 1), (1, 5), (7, 13), (16, 16), (16, 3), (13, 7), (33, 100), (100, 33), (768, 3072), (3072, 768)]


def seeded(seed: int = 0) -> None:
    torch.manual_seed(seed)


def reference_forward(m: ButterflyLinear, x: torch.Tensor) -> torch.Tensor:
    """Pad, stack, reference product, slice, bias: ButterflyLinear written out the slow way."""
    xp = F.pad(x, (0, m.n - m.in_features)).unsqueeze(-2)  # (..., 1, n)
    if m.kind == "butterfly":
        y = butterfly_multiply_reference(m.twiddle, xp)  # (..., S, n)
    else:
        y = monarch_multiply_reference(m.w1, m.w2, xp)
    y = y.flatten(-2)[..., : m.out_features]
    return y + m.bias if m.bias is not None else y


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(("in_features", "out_features"), SIZES)
def test_forward_equals_dense(kind: str, in_features: int, out_features: int, bias: bool) -> None:
    seeded()
    m = ButterflyLinear(in_features, out_features, bias=bias, kind=kind).double()
    x = torch.randn(2, 3, in_features, dtype=torch.float64)
    with torch.no_grad():
        w = m.to_dense()
    assert w.shape == (out_features, in_features)
    expected = x @ w.T + (m.bias if bias else 0.0)
    y = m(x)  # autograd path
    assert y.shape == (2, 3, out_features)
    assert torch.allclose(y, expected, atol=F64_TOL)
    with torch.no_grad():  # workspace fast path
        assert torch.allclose(m(x), expected, atol=F64_TOL)
    with torch.inference_mode():
        assert torch.allclose(m(x[0, 0]), expected[0, 0], atol=F64_TOL)  # no leading dims


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(("in_features", "out_features"), [(7, 13), (16, 16), (33, 10)])
def test_forward_and_grads_match_reference(kind: str, in_features: int, out_features: int) -> None:
    seeded(1)
    m = ButterflyLinear(in_features, out_features, kind=kind).double()
    x = torch.randn(5, in_features, dtype=torch.float64, requires_grad=True)
    grad_out = torch.randn(5, out_features, dtype=torch.float64)
    params = [x, *m.parameters()]
    expected = reference_forward(m, x)
    refs = torch.autograd.grad(expected, params, grad_out)
    y = m(x)
    assert torch.allclose(y, expected, atol=F64_TOL)
    for got, ref in zip(torch.autograd.grad(y, params, grad_out), refs, strict=True):
        assert torch.allclose(got, ref, atol=F64_TOL)


def test_grads_flow_without_input_grad() -> None:
    seeded(2)
    for kind in KINDS:
        m = ButterflyLinear(12, 20, kind=kind)
        m(torch.randn(4, 12)).square().sum().backward()
        assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in m.parameters()), kind


def test_to_dense_is_differentiable() -> None:
    seeded(5)
    for kind in KINDS:
        m = ButterflyLinear(6, 10, kind=kind).double()
        w = m.to_dense()
        assert w.requires_grad
        with torch.no_grad():
            assert torch.allclose(m.to_dense(), w, atol=F64_TOL)
        x = torch.randn(3, 6, dtype=torch.float64)
        g_dense = torch.autograd.grad((x @ w.T).square().sum(), list(m.parameters())[:-1])
        g_fwd = torch.autograd.grad((m(x) - m.bias).square().sum(), list(m.parameters())[:-1])
        for a, b in zip(g_dense, g_fwd, strict=True):
            assert torch.allclose(a, b, atol=F64_TOL)


def test_complex_butterfly_linear() -> None:
    seeded(3)
    m = ButterflyLinear(5, 9, complex=True)
    x = torch.randn(4, 5)
    y = m(x)
    assert y.dtype == torch.complex64 and y.shape == (4, 9)
    assert torch.allclose(y, x.to(torch.complex64) @ m.to_dense().T + m.bias, atol=1e-5)


def test_fft_init_is_the_dft_of_the_bit_reversed_input() -> None:
    m = ButterflyLinear(16, 16, bias=False, init="fft", complex=True)
    dft = torch.fft.fft(torch.eye(16, dtype=torch.complex64))  # the DFT matrix (symmetric)
    perm = bit_reversal_permutation(16)
    assert torch.allclose(m.to_dense()[:, perm], dft, atol=1e-5)


@pytest.mark.parametrize("kind", KINDS)
def test_identity_init_pads_and_stacks(kind: str) -> None:
    m = ButterflyLinear(5, 12, bias=False, init="identity", kind=kind)  # n = 8, 2 stacks
    expected = torch.eye(8)[:, :5].repeat(2, 1)[:12]  # each stack is the identity on the padded input
    assert torch.equal(m.to_dense(), expected)


def test_empty_and_vector_inputs() -> None:
    for kind in KINDS:
        m = ButterflyLinear(7, 9, kind=kind)
        assert m(torch.randn(0, 7)).shape == (0, 9)
        assert m(torch.randn(2, 0, 7)).shape == (2, 0, 9)
        assert m(torch.randn(7)).shape == (9,)


def test_fast_results_do_not_alias_the_workspace() -> None:
    seeded(4)
    for kind in KINDS:
        m = ButterflyLinear(7, 9, kind=kind)
        with torch.no_grad():
            for rows in (1, 6):
                y1 = m(torch.randn(rows, 7))
                kept = y1.clone()
                m(torch.randn(rows, 7))
                assert torch.equal(y1, kept), (kind, rows)


# ---- counts -----------------------------------------------------------------------------------------------
def test_counts_by_hand() -> None:
    # ButterflyLinear(5, 12): n = next_pow2(5) = 8, nstacks = ceil(12 / 8) = 2, log2 n = 3
    m = ButterflyLinear(5, 12)
    assert (m.n, m.nstacks, m.kind) == (8, 2, "butterfly")
    twiddle_params = 2 * 3 * (8 // 2) * 4  # stacks * stages * pairs * 2x2 entries = 96
    assert m.param_count == twiddle_params + 12 == 108
    flops_per_row = 2 * 3 * 8 * 3 + 12  # stacks * stages * outputs * (mul + FMA) + bias adds = 156
    assert m.flops(10) == 10 * flops_per_row == 1560

    # Monarch(5, 12): n = 8, b1 = 2, b2 = 4
    m = ButterflyLinear(5, 12, kind="monarch")
    assert m.param_count == 2 * (4 * 2 * 2 + 2 * 4 * 4) + 12 == 108  # stacks * (w1 + w2) + bias
    flops_per_row = 2 * (2 * 8 * 2 + 2 * 8 * 4) + 12  # stacks * (2 n b1 + 2 n b2) + bias = 204
    assert m.flops(3) == 3 * flops_per_row

    # complex butterfly(5, 12): 14 FLOPs per output per stage, a complex bias add is 2 real adds
    m = ButterflyLinear(5, 12, complex=True)
    assert m.flops(1) == 2 * 3 * 8 * 14 + 2 * 12 == 696
    assert m.param_count == 108  # complex parameters count once each, as numel does

    # 768 -> 3072 (fabnet FFN up): n = 1024, 3 stacks, 10 stages; without bias
    m = ButterflyLinear(768, 3072, bias=False)
    assert m.param_count == 3 * 10 * 512 * 4
    assert m.flops(1) == 3 * 10 * 1024 * 3


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("bias", [True, False])
def test_linear_counts_is_the_module_count(kind: str, bias: bool) -> None:
    for in_features, out_features in SIZES:
        c = linear_counts(in_features, out_features, kind=kind, bias=bias)
        m = ButterflyLinear(in_features, out_features, bias=bias, kind=kind)
        assert isinstance(c, LinearCounts)
        assert (c.n, c.nstacks) == (m.n, m.nstacks)
        assert c.params == m.param_count == sum(p.numel() for p in m.parameters())
        assert m.flops(7) == 7 * c.flops_per_row


def test_monarch_flops_match_torch_flop_counter() -> None:
    """The Monarch forward is two bmm's: torch's FlopCounterMode must see exactly our count."""
    for in_features, out_features in [(16, 16), (13, 40), (64, 64)]:
        m = ButterflyLinear(in_features, out_features, kind="monarch", bias=False)
        for grad_mode in (False, True):
            with torch.set_grad_enabled(grad_mode), FlopCounterMode(display=False) as counter:
                m(torch.randn(9, in_features))
            assert counter.get_total_flops() == m.flops(9)


# ---- bad inputs --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"in_features": 0, "out_features": 4}, "in_features"),
        ({"in_features": 4.0, "out_features": 4}, "in_features"),
        ({"in_features": True, "out_features": 4}, "in_features"),
        ({"in_features": 4, "out_features": -1}, "out_features"),
        ({"in_features": 4, "out_features": "8"}, "out_features"),
        ({"in_features": 4, "out_features": 4, "init": "bogus"}, "init"),
        ({"in_features": 4, "out_features": 4, "kind": "bogus"}, "kind"),
        ({"in_features": 4, "out_features": 4, "kind": "monarch", "init": "hadamard"}, "init"),
        ({"in_features": 4, "out_features": 4, "kind": "monarch", "complex": True}, "complex"),
        ({"in_features": 4, "out_features": 4, "init": "fft"}, "complex"),
    ],
)
def test_bad_construction_names_the_field(kwargs: dict, field: str) -> None:
    with pytest.raises(SpecError, match=re.escape(field)) as info:
        ButterflyLinear(**kwargs)
    assert isinstance(info.value, ValueError) and info.value.field == field
    count_kwargs = {k: v for k, v in kwargs.items() if k != "init"}
    if "init" not in kwargs:
        with pytest.raises(ValueError, match=re.escape(field)):
            linear_counts(**count_kwargs)


def test_wrong_input_width_names_expected_and_got() -> None:
    m = ButterflyLinear(7, 3)
    with pytest.raises(ValueError, match=r"in_features = 7") as info:
        m(torch.randn(2, 5))
    assert "5" in str(info.value)
    with pytest.raises(ValueError, match="rows"):
        m.flops(-1)
