"""ButterflyLinear: a drop-in for nn.Linear whose weight is a butterfly (radix-2) or Monarch matrix.

Any sizes work the way torch_butterfly's ButterflyLinear does (Dao et al. 2020): the input is zero-padded
to n = next_pow2(in_features), ceil(out_features / n) stacks of n x n structured matrices each map it to
n outputs, and the concatenated outputs are sliced to out_features. Radix-2 products come from
`swallowtail.nn.butterfly` (Dao et al. 2019), Monarch products from `swallowtail.nn.monarch` (Dao et al.
2022). Parameter and FLOP counts come from one pure function, `linear_counts`, which the module, the model
summary and the workload lowering all use; the FLOPs are exactly the arithmetic the forward performs
(padding and the discarded part of the last stack included), by the conventions of `swallowtail.flops`.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from swallowtail.errors import SpecError, check_int
from swallowtail.nn.butterfly import (
    TWIDDLE_INITS,
    butterfly_batch_last,
    from_batch_last,
    needs_autograd,
    to_batch_last,
    twiddle_init,
    workspace,
)
from swallowtail.nn.monarch import MONARCH_INITS, monarch_init, monarch_rows
from swallowtail.nn.sizes import (  # noqa: F401 - LINEAR_KINDS, LinearCounts, linear_counts: re-exported
    LINEAR_KINDS,
    REALS_PER_COMPLEX,
    LinearCounts,
    check_linear_kind,
    linear_counts,
)

# ---- names -----------------------------------------------------------------------------------------------
#: structured kinds of weight.
#: initialisations per kind.
LINEAR_INITS = {"butterfly": TWIDDLE_INITS, "monarch": MONARCH_INITS}
#: workspace slot of the padded input of the Monarch fast path.
WS_PADDED = "linear.padded"


class ButterflyLinear(nn.Module):
    """y = x W^T + b with W (out_features, in_features) a slice of stacked butterfly or Monarch matrices.

    kind: "butterfly" (radix-2, increasing stride; twiddle (nstacks, log2 n, n // 2, 2, 2)) or "monarch"
    (w1 (nstacks, b2, b1, b1), w2 (nstacks, b1, b2, b2)). init: "random" | "orthogonal" | "identity", and
    for butterfly also "hadamard" and "fft" (complex only; the DFT of the bit-reversed input). complex:
    complex twiddles (butterfly only): real or complex input, complex output. The bias is initialised like
    nn.Linear's. Any leading dims; the input's last dim must be in_features.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        init: str = "random",
        kind: str = "butterfly",
        complex: bool = False,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        counts = linear_counts(in_features, out_features, kind, bias, complex)
        if init not in LINEAR_INITS[kind]:
            raise SpecError("init", init, f"one of {list(LINEAR_INITS[kind])} for kind={kind!r}")
        if init == "fft" and not complex:
            raise SpecError("complex", complex, "True for init='fft' (the DFT is complex)")
        self.in_features, self.out_features = in_features, out_features
        self.n, self.nstacks = counts.n, counts.nstacks
        self.kind, self.init, self.complex = kind, init, complex
        self._counts = counts
        if dtype is None:
            dtype = torch.complex64 if complex else torch.get_default_dtype()
        factory = {"device": device, "dtype": dtype}
        if kind == "butterfly":
            twiddle = twiddle_init(self.n, init, self.nstacks, complex=complex)
            self.twiddle = nn.Parameter(twiddle.to(**factory))
        else:
            w1, w2 = monarch_init(self.n, init, self.nstacks)
            self.w1 = nn.Parameter(w1.to(**factory))
            self.w2 = nn.Parameter(w2.to(**factory))
        self.bias = nn.Parameter(torch.empty(out_features, **factory)) if bias else None
        if self.bias is not None:
            bound = 1.0 / math.sqrt(in_features)  # nn.Linear's bias init
            with torch.no_grad():
                if complex:
                    self.bias.copy_(torch.complex(*torch.empty(2, out_features).uniform_(-bound, bound)))
                else:
                    self.bias.uniform_(-bound, bound)

    # ---- counts ----------------------------------------------------------------------------------------
    @property
    def param_count(self) -> int:
        """Number of parameters (equals sum(p.numel() for p in self.parameters()))."""
        return self._counts.params

    def flops(self, rows: int) -> int:
        """FLOPs of forward on `rows` input rows (the product of all leading dims)."""
        check_int("rows", rows, 0, allowed="a non-negative integer")
        return rows * self._counts.flops_per_row

    # ---- math ------------------------------------------------------------------------------------------
    def _weights(self) -> tuple[torch.Tensor, ...]:
        return (self.twiddle,) if self.kind == "butterfly" else (self.w1, self.w2)

    def _linear(self, x2d: torch.Tensor, bias: torch.Tensor | None, fast: bool) -> torch.Tensor:
        """(R, in_features) -> (R, out_features): zero-pad, the stacked products, slice, add `bias`.
        Always a fresh tensor (fast: workspace buffers inside, no autograd)."""
        rows, pad = x2d.shape[0], self.n - self.in_features
        if self.kind == "butterfly":
            xt = to_batch_last(x2d, fast, size=self.n)  # (n, R), zero-padded
            y = butterfly_batch_last(self.twiddle, xt.unsqueeze(0), True, fast)  # (S, n, R)
            out = from_batch_last(y.reshape(self.nstacks * self.n, rows)[: self.out_features], fast)
            if bias is None:
                return out  # (R, out)
            return out.add_(bias) if fast else out + bias
        if pad == 0:
            xp = x2d  # read in place by the first bmm
        elif fast:
            xp = workspace(WS_PADDED, (rows, self.n), x2d.dtype, x2d.device)  # (R, n)
            xp[:, : self.in_features].copy_(x2d)
            xp[:, self.in_features :].zero_()
        else:
            xp = F.pad(x2d, (0, pad))  # (R, n)
        return monarch_rows(self.w1, self.w2, xp, fast, bias, self.out_features)  # (R, out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 0 or x.shape[-1] != self.in_features:
            got = x.shape[-1] if x.dim() else None
            raise SpecError("input.shape[-1]", got, f"equal to in_features = {self.in_features}")
        lead = x.shape[:-1]
        x2d = x.reshape(-1, self.in_features)  # (R, in)
        params = self._weights() + ((self.bias,) if self.bias is not None else ())
        fast = not needs_autograd(x, *params)
        return self._linear(x2d, self.bias, fast).view(*lead, self.out_features)

    def to_dense(self) -> torch.Tensor:
        """W (out_features, in_features) with forward(x) == x @ W.T + bias (differentiable in grad mode)."""
        weight = self._weights()[0]
        eye = torch.eye(self.in_features, dtype=weight.dtype, device=weight.device)
        fast = not needs_autograd(*self._weights())
        return self._linear(eye, None, fast).t().contiguous()  # (out, in)

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, kind={self.kind!r}, "
            f"n={self.n}, nstacks={self.nstacks}, init={self.init!r}, complex={self.complex}, "
            f"bias={self.bias is not None}"
        )
