"""Block butterfly / Monarch matrices: two block-diagonal matmuls and a permutation.

A Monarch matrix (Dao et al. 2022, "Monarch: Expressive Structured Matrices for Efficient and Accurate
Training") of size n = b1 * b2 is ``M = P L P^T R``: R is block diagonal with b2 blocks of b1 x b1, L is
block diagonal with b1 blocks of b2 x b2, and P^T regroups entries so that L mixes the entries R kept
apart (reshape to (b2, b1), transpose, flatten); P undoes it at the output. It is a butterfly whose
log2 n radix-2 stages are merged into two dense block stages, so the work becomes batched GEMMs: the
fastest structured product on CPUs and GPUs. Here n is a power of two and b1 = 2^floor(log2 n / 2).

Layouts: w1 ``(nstacks, b2, b1, b1)`` (the blocks of R), w2 ``(nstacks, b1, b2, b2)`` (the blocks of L),
x ``(*batch, nstacks or 1, n)``. FLOPs per row and stack: 2 n b1 + 2 n b2.

Fast path: no explicit transposes. The first bmm reads x (B, n) in place as b2 column-major (b1, B)
matrices and writes a batch-last intermediate; the second reads it with strides that realise P^T and
writes batch-first; P and the slicing of the stacks are then one copy into the output.
"""

from __future__ import annotations

import torch

from swallowtail.errors import SpecError, check_choice, check_positive_int
from swallowtail.nn.butterfly import REAL_DTYPE, needs_autograd, workspace
from swallowtail.nn.sizes import (  # noqa: F401 - monarch_block_sizes: re-exported
    check_power_of_two,
    monarch_block_sizes,
)

# ---- names -----------------------------------------------------------------------------------------------
#: kinds accepted by `monarch_init`.
MONARCH_INITS = ("random", "orthogonal", "identity")
#: axes of w1 / w2: (nstacks, blocks, block, block).
MONARCH_NDIM = 4
#: workspace slots of the no-autograd fast path.
WS_MID = "monarch.mid"
WS_OUT = "monarch.out"


def _check_weights(w1: torch.Tensor, w2: torch.Tensor) -> tuple[int, int, int, int]:
    """(nstacks, b1, b2, n) of Monarch weights; SpecError if the shapes do not fit together."""
    if w1.dim() != MONARCH_NDIM or w2.dim() != MONARCH_NDIM:
        raise SpecError("w1.shape, w2.shape", (tuple(w1.shape), tuple(w2.shape)), "4-D tensors")
    nstacks, b2, b1, b1_ = w1.shape
    n = b1 * b2
    if b1 != b1_ or tuple(w2.shape) != (nstacks, b1, b2, b2):
        raise SpecError(
            "w1.shape, w2.shape",
            (tuple(w1.shape), tuple(w2.shape)),
            "(nstacks, b2, b1, b1) and (nstacks, b1, b2, b2)",
        )
    if (b1, b2) != monarch_block_sizes(n):
        raise SpecError("(b1, b2)", (b1, b2), f"{monarch_block_sizes(n)} for n = {n}")
    return nstacks, b1, b2, n


def monarch_rows(
    w1: torch.Tensor,
    w2: torch.Tensor,
    x2d: torch.Tensor,
    fast: bool,
    bias: torch.Tensor | None = None,
    out_features: int | None = None,
) -> torch.Tensor:
    """The Monarch products of rows shared by all stacks: x2d (B, n) -> (B, out_features), the stacks'
    outputs concatenated (out_features defaults to nstacks * n, at most that), plus `bias`.

    fast: no autograd is recorded (the caller decides once with `needs_autograd`): bmm's write into
    workspace buffers, and the final permutation P with the slicing is one copy into a fresh tensor. The
    result is always a fresh contiguous tensor.
    """
    nstacks, b2, b1, _ = w1.shape
    n, batch = b1 * b2, x2d.shape[0]
    total = nstacks * n
    out_features = total if out_features is None else out_features
    dtype = torch.promote_types(torch.promote_types(w1.dtype, w2.dtype), x2d.dtype)
    w1, w2, x2d = w1.to(dtype), w2.to(dtype), x2d.to(dtype)  # no-ops unless the dtypes are mixed
    xin = x2d.contiguous().view(batch, b2, b1).permute(1, 2, 0)  # (b2, b1, B): blocks of x, column-major
    w1_all = w1.permute(1, 0, 2, 3).reshape(b2, nstacks * b1, b1)  # (b2, S*b1, b1): stacks side by side
    if not fast:
        mid = torch.bmm(w1_all, xin)  # (b2, S*b1, B): R
        y = mid.view(b2, nstacks, b1, batch).permute(1, 2, 3, 0)  # (S, b1, B, b2): P^T, a view
        z = torch.matmul(y, w2.transpose(-1, -2))  # (S, b1, B, b2): L
        out = z.permute(2, 0, 3, 1).reshape(batch, total)[:, :out_features]  # (B, S, b2, b1): P
        return out + bias if bias is not None else out.contiguous()
    mid = workspace(WS_MID, (b2, nstacks * b1, batch), dtype, x2d.device)
    torch.bmm(w1_all, xin, out=mid)  # R
    z = workspace(WS_OUT, (batch, nstacks, b1, b2), dtype, x2d.device)
    for st in range(nstacks):
        y = mid[:, st * b1 : (st + 1) * b1].permute(1, 2, 0)  # (b1, B, b2): P^T as strides
        torch.bmm(y, w2[st].transpose(1, 2), out=z[:, st].transpose(0, 1))  # L, batch-first
    y = z.transpose(2, 3)  # (B, S, b2, b1): P as a view
    out = torch.empty((batch, out_features), dtype=dtype, device=x2d.device)
    full, rest = divmod(out_features, n)
    if full:  # whole stacks
        out[:, : full * n].view(batch, full, b2, b1).copy_(y[:, :full])
    rows, tail = divmod(rest, b1)  # the kept part of the last stack: `rows` rows of b1, then `tail`
    start = full * n
    if rows:
        out[:, start : start + rows * b1].view(batch, rows, b1).copy_(y[:, full, :rows])
    if tail:
        start += rows * b1
        out[:, start:out_features].copy_(y[:, full, rows, :tail])
    # (a fused torch.add(y, bias, out=...) iterates in the output's order over strided reads: 3x slower)
    return out if bias is None else out.add_(bias)


def monarch_multiply(w1: torch.Tensor, w2: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Multiply x by the Monarch matrices (w1, w2): (*batch, S or 1, n) -> (*batch, S, n). Autograd-safe."""
    nstacks, _, _, n = _check_weights(w1, w2)
    if x.dim() < 2 or x.shape[-1] != n or x.shape[-2] not in (1, nstacks):
        raise SpecError("x.shape", tuple(x.shape), f"(*batch, {nstacks} or 1, {n}) to match the weights")
    batch_shape, s_in = x.shape[:-2], x.shape[-2]
    fast = not needs_autograd(w1, w2, x)
    x3 = x.reshape(-1, s_in, n)  # (B, S_in, n)
    if s_in == 1:
        return monarch_rows(w1, w2, x3[:, 0], fast).view(*batch_shape, nstacks, n)
    outs = [monarch_rows(w1[st : st + 1], w2[st : st + 1], x3[:, st], fast) for st in range(nstacks)]
    return torch.stack(outs, dim=1).view(*batch_shape, nstacks, n)  # each (B, n)


def monarch_multiply_reference(w1: torch.Tensor, w2: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Reference for `monarch_multiply`, written as the definition M = P L P^T R (tests only)."""
    nstacks, b1, b2, n = _check_weights(w1, w2)
    dtype = torch.promote_types(torch.promote_types(w1.dtype, w2.dtype), x.dtype)
    w1, w2, x = w1.to(dtype), w2.to(dtype), x.expand(*x.shape[:-2], nstacks, n).to(dtype)
    u = x.reshape(*x.shape[:-1], b2, b1)  # (..., S, b2, b1): the blocks of R
    u = torch.einsum("skij,...skj->...ski", w1, u)  # R
    u = u.transpose(-1, -2)  # (..., S, b1, b2): P^T
    u = torch.einsum("sjab,...sjb->...sja", w2, u)  # L
    return u.transpose(-1, -2).reshape(x.shape)  # P, back to (..., S, n)


def monarch_to_dense(w1: torch.Tensor, w2: torch.Tensor) -> torch.Tensor:
    """The (nstacks, n, n) matrices M with monarch_multiply(w1, w2, x)[..., s, :] == M[s] @ x[..., s, :]."""
    nstacks, _, _, n = _check_weights(w1, w2)
    eye = torch.eye(n, dtype=w1.dtype, device=w1.device).unsqueeze(1)  # (n, 1, n): e_i as rows
    return monarch_multiply(w1, w2, eye).permute(1, 2, 0)  # (S, n, n)


def _random_orthogonal(shape: tuple[int, ...], generator: torch.Generator | None) -> torch.Tensor:
    """Haar-random orthogonal (..., b, b) matrices: QR of a Gaussian with the signs of R's diagonal fixed."""
    g = torch.randn(shape, generator=generator, dtype=torch.float64)
    q, r = torch.linalg.qr(g)
    return q * torch.sgn(torch.diagonal(r, dim1=-2, dim2=-1)).unsqueeze(-2)


def monarch_init(
    n: int,
    kind: str = "random",
    nstacks: int = 1,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = REAL_DTYPE,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Monarch weights (w1, w2) of `kind`: random (normal blocks of std b^-1/2, variance-preserving),
    orthogonal (Haar-random orthogonal blocks: M orthogonal) or identity (M = I)."""
    b1, b2 = monarch_block_sizes(n)
    check_positive_int("nstacks", nstacks)
    check_choice("kind", kind, MONARCH_INITS)
    shape1, shape2 = (nstacks, b2, b1, b1), (nstacks, b1, b2, b2)
    if kind == "random":
        w1 = torch.randn(shape1, generator=generator, dtype=dtype) / b1**0.5
        w2 = torch.randn(shape2, generator=generator, dtype=dtype) / b2**0.5
    elif kind == "orthogonal":
        w1 = _random_orthogonal(shape1, generator).to(dtype)
        w2 = _random_orthogonal(shape2, generator).to(dtype)
    else:
        w1 = torch.eye(b1, dtype=dtype).expand(shape1).clone()
        w2 = torch.eye(b2, dtype=dtype).expand(shape2).clone()
    return w1, w2
