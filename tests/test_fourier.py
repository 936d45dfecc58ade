"""FourierMixing (FNet): the real part of the 2-D FFT over sequence and hidden, outputs and gradients
against torch.fft.fft2, odd and degenerate sizes, the FLOP convention by hand, bad inputs."""

from __future__ import annotations

import pytest
import torch

from swallowtail.errors import SpecError
from swallowtail.nn import FourierMixing

F64_TOL = 1e-10
# (*batch, L, d): even / odd / unit sizes on both mixed axes, extra leading dims, no batch
SHAPES = [(2, 8, 6), (3, 5, 7), (1, 1, 1), (2, 1, 4), (2, 4, 1), (4, 3, 2, 9), (7, 2), (16, 16)]


@pytest.mark.parametrize("shape", SHAPES)
def test_equals_fft2_real_with_grads(shape: tuple[int, ...]) -> None:
    g = torch.Generator().manual_seed(len(shape))
    x = torch.randn(shape, dtype=torch.float64, generator=g, requires_grad=True)
    grad_out = torch.randn(shape, dtype=torch.float64, generator=g)
    mix = FourierMixing()
    y = mix(x)
    expected = torch.fft.fft2(x, dim=(-2, -1)).real
    assert y.shape == x.shape and y.dtype == x.dtype and y.is_contiguous()
    assert torch.allclose(y, expected, atol=F64_TOL)
    (got,) = torch.autograd.grad(y, x, grad_out)
    (ref,) = torch.autograd.grad(expected, x, grad_out)
    assert torch.allclose(got, ref, atol=F64_TOL)
    with torch.inference_mode():
        assert torch.allclose(mix(x), expected, atol=F64_TOL)


def test_float32_and_complex_input() -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 64, 32, generator=g)
    expected = torch.fft.fft2(x.double()).real
    assert ((FourierMixing()(x).double() - expected).abs().max() / expected.abs().max()) < 1e-6
    z = torch.randn(2, 6, 5, dtype=torch.complex128, generator=g)
    assert torch.allclose(FourierMixing()(z), torch.fft.fft2(z).real, atol=F64_TOL)


def test_flops_by_hand() -> None:
    # batch 2, L = 8, d = 4: a real FFT of length 4 per token (rows 2 * 8, half of 5 n log2 n)
    # plus a complex FFT of length 8 per channel (rows 2 * 4)
    hidden = 2 * 8 * (5 * 4 * 2) // 2  # 320
    sequence = 2 * 4 * 5 * 8 * 3  # 960
    assert FourierMixing().flops(8, 4, batch=2) == hidden + sequence == 1280
    assert FourierMixing.flops(1, 1) == 0  # length-1 transforms are free
    assert FourierMixing.flops(16, 16) == FourierMixing.flops(16, 16, batch=1)


@pytest.mark.parametrize(
    ("args", "field"),
    [((0, 4), "seq_len"), ((4, -2), "d_model"), ((4, 4, 0), "batch"), ((4.5, 4), "seq_len")],
)
def test_bad_flops_arguments(args: tuple, field: str) -> None:
    with pytest.raises(SpecError, match=field):
        FourierMixing.flops(*args)


def test_empty_batch() -> None:
    assert FourierMixing()(torch.randn(0, 4, 6)).shape == (0, 4, 6)


def test_bad_input_rank() -> None:
    with pytest.raises(ValueError, match="x.dim"):
        FourierMixing()(torch.randn(5))
