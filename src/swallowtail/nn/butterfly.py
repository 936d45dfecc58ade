"""Radix-2 butterfly matrices: the fast product, its obviously-correct reference, and the initialisations.

A butterfly matrix of size n = 2^k is the product of k sparse factors ("stages"). The stage of stride 2^s
mixes the pairs (i, i + 2^s) inside blocks of 2^(s+1) entries with a 2x2 block of coefficients, so the
whole product costs O(n log n) and can express the FFT, the Hadamard transform and many other fast
transforms exactly (Dao et al. 2019, "Learning Fast Algorithms for Linear Transforms Using Butterfly
Factorizations"; Dao et al. 2020, "Kaleidoscope"). Layouts and names follow torch_butterfly:

- twiddle: ``(nstacks, log2 n, n // 2, 2, 2)``. ``twiddle[:, s]`` is the stage of stride 2^s whatever the
  direction. Its pair ``p = j * 2^s + k`` (block j, offset k < 2^s) mixes entries ``i = j * 2^(s+1) + k``
  and ``i + 2^s``::

      y[i]       = t[p, 0, 0] * x[i] + t[p, 0, 1] * x[i + 2^s]
      y[i + 2^s] = t[p, 1, 0] * x[i] + t[p, 1, 1] * x[i + 2^s]

- x: ``(*batch, nstacks, n)``; the nstacks axis may be 1 to share one input across all stacks.
- increasing_stride=True applies strides 1, 2, ..., n/2 (y = B_{k-1} ... B_1 B_0 x); False applies them in
  the opposite order.

Fast path (plain PyTorch, no compiled extension): the data is moved once to a batch-last layout
``(nstacks, n, batch)``. Stage s then sees x as ``(nstacks, n / 2^(s+1), 2, 2^s, batch)``: the two halves of
every pair are strided views, the twiddles broadcast along the contiguous batch axis, and a stage is two
big element-wise kernels (a multiply and an addcmul) written into a preallocated buffer. Without autograd
the stages ping-pong between two buffers of a per-thread workspace (allocating big tensors on a CPU costs
page faults on every call). With autograd, `_ButterflyProduct` runs the same stages into fresh tensors
(the stage inputs are saved, as autograd would) and its backward applies the adjoint stages in reverse
for the input gradient and batch reductions for the twiddle gradient: about 3x faster than letting
autograd differentiate the element-wise ops, at the price of no double backward.
"""

from __future__ import annotations

import math
import threading

import torch
import torch.nn.functional as F
from torch.autograd.function import once_differentiable

from swallowtail.errors import SpecError, check_bool, check_choice, check_int
from swallowtail.nn.sizes import check_power_of_two

# ---- names -----------------------------------------------------------------------------------------------
#: kinds accepted by `twiddle_init`.
TWIDDLE_INITS = ("random", "orthogonal", "identity", "fft", "hadamard")
#: per-entry standard deviation of a "random" twiddle: each output a*x0 + b*x1 then keeps the variance of x.
RANDOM_TWIDDLE_STD = 1.0 / math.sqrt(2.0)
#: the most twiddle elements one init may make (2^34: 256 GB of complex128; more is a typo, not a model)
MAX_TWIDDLE_ELEMS = 1 << 34
#: scale of a normalised Hadamard / FFT stage: makes every stage (and so the product) orthonormal.
ORTHONORMAL_STAGE_SCALE = 1.0 / math.sqrt(2.0)
#: default dtypes of real and complex twiddles.
REAL_DTYPE = torch.float32
COMPLEX_DTYPE = torch.complex64
#: twiddle axes: (nstacks, log2 n, n // 2, 2, 2).
TWIDDLE_NDIM = 5
#: workspace slots (one buffer each) used by the fast paths without autograd.
WS_BATCH_LAST_INPUT = "butterfly.input"
WS_PING = "butterfly.ping"
WS_PONG = "butterfly.pong"
WS_GRAD_PING = "butterfly.grad_ping"
WS_GRAD_PONG = "butterfly.grad_pong"


# ---- workspace -------------------------------------------------------------------------------------------
class _Workspace(threading.local):
    """Grow-only scratch buffers, one per (slot, dtype, device) and thread, for the no-autograd fast paths.

    Only CPU tensors are cached (CUDA has its own caching allocator). A buffer is only ever used inside one
    call, and nothing a public function returns is a view of it.
    """

    def __init__(self) -> None:
        self.buffers: dict[tuple[str, torch.dtype, torch.device], torch.Tensor] = {}

    def get(
        self, slot: str, shape: tuple[int, ...], dtype: torch.dtype, device: torch.device
    ) -> torch.Tensor:
        device = torch.device(device)
        if device.type != "cpu":
            return torch.empty(shape, dtype=dtype, device=device)
        numel = math.prod(shape)
        key = (slot, dtype, device)
        buf = self.buffers.get(key)
        if buf is None or buf.numel() < numel:
            self.buffers.pop(key, None)
            # a normal tensor even inside inference_mode, so that later no_grad calls may write into it
            with torch.inference_mode(False):
                buf = torch.empty(numel, dtype=dtype, device=device)
            self.buffers[key] = buf
        return buf[:numel].view(shape)


_WORKSPACE = _Workspace()


def workspace(slot: str, shape: tuple[int, ...], dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """A scratch tensor of `shape` for a no-autograd fast path (reused across calls; see `_Workspace`)."""
    return _WORKSPACE.get(slot, shape, dtype, device)


def clear_workspace() -> None:
    """Free the scratch buffers the fast paths keep (on this thread) between calls."""
    _WORKSPACE.buffers.clear()


def needs_autograd(*tensors: torch.Tensor) -> bool:
    """Whether autograd will record an op on `tensors` (grad mode on and one of them requires grad)."""
    return torch.is_grad_enabled() and any(t.requires_grad for t in tensors)


# ---- helpers ---------------------------------------------------------------------------------------------


def _check_twiddle(twiddle: torch.Tensor) -> tuple[int, int, int]:
    """(nstacks, log2 n, n) of a twiddle tensor; SpecError if its shape is not a butterfly's."""
    shape = tuple(twiddle.shape)
    if twiddle.dim() != TWIDDLE_NDIM or shape[3:] != (2, 2) or shape[2] != (1 << shape[1]) // 2:
        raise SpecError("twiddle.shape", shape, "(nstacks, log2 n, n // 2, 2, 2) for a power of two n")
    return shape[0], shape[1], 1 << shape[1]


def _check_stacked_input(x: torch.Tensor, nstacks: int, n: int) -> None:
    if x.dim() < 2 or x.shape[-1] != n or x.shape[-2] not in (1, nstacks):
        raise SpecError("x.shape", tuple(x.shape), f"(*batch, {nstacks} or 1, {n}) to match the weights")


def to_batch_last(
    x2d: torch.Tensor, fast: bool, size: int | None = None, slot: str = WS_BATCH_LAST_INPUT
) -> torch.Tensor:
    """(B, m) -> (size, B) contiguous, zero-padded from m to `size` rows (default m): the one transpose
    into the fast layout. With `fast` (no autograd) it is a workspace buffer, which the caller must
    consume before the next fast-path call."""
    batch, m = x2d.shape
    size = m if size is None else size
    if not fast:
        return F.pad(x2d.t(), (0, 0, 0, size - m)).contiguous()  # (size, B)
    out = workspace(slot, (size, batch), x2d.dtype, x2d.device)
    out[:m].copy_(x2d.t())
    out[m:].zero_()
    return out  # (size, B)


def from_batch_last(y2d: torch.Tensor, fast: bool) -> torch.Tensor:
    """(m, B) -> (B, m) contiguous. With `fast` always a fresh copy (y2d may be a workspace buffer)."""
    if not fast:
        return y2d.t().contiguous()  # (B, m)
    return torch.empty((y2d.shape[1], y2d.shape[0]), dtype=y2d.dtype, device=y2d.device).copy_(y2d.t())


# ---- the fast product ------------------------------------------------------------------------------------
def _stage_order(log_n: int, increasing_stride: bool) -> list[int]:
    return list(range(log_n)) if increasing_stride else list(range(log_n - 1, -1, -1))


def _stage_coefficients(
    twiddle: torch.Tensor, s: int, adjoint: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """The stage of stride 2^s as two broadcastable coefficient tensors, each (nstacks, J, 2, 2^s, 1):
    the first (a, c) multiplies x[i], the second (b, d) multiplies x[i + 2^s]; J = n / 2^(s+1).
    adjoint: the coefficients of the conjugate transpose of every 2x2 block (for the backward pass)."""
    nstacks, half = twiddle.shape[0], twiddle.shape[2]
    stride = 1 << s
    t = twiddle[:, s].view(nstacks, half // stride, stride, 2, 2)  # (S, J, K, out, in)
    if adjoint:
        t = t.conj().transpose(-1, -2)  # (S, J, K, in, out): the adjoint's (out, in)
    t = t.permute(0, 1, 4, 3, 2).unsqueeze(-1)  # (S, J, in, out, K, 1)
    # contiguous copies (n / 2 entries each): products with them come out in the natural layout
    return t[:, :, 0].resolve_conj().contiguous(), t[:, :, 1].resolve_conj().contiguous()


def _stage_into(coefficients: tuple[torch.Tensor, torch.Tensor], x: torch.Tensor, out: torch.Tensor) -> None:
    """out (S, n, B) <- one stage applied to x (S_in, n, B): two element-wise kernels, no allocation."""
    t0, t1 = coefficients
    nblocks, stride = t0.shape[1], t0.shape[3]
    xv = x.view(x.shape[0], nblocks, 2, stride, x.shape[-1])  # (S_in, J, 2, K, B)
    yv = out.view(out.shape[0], nblocks, 2, stride, out.shape[-1])  # (S, J, 2, K, B)
    torch.mul(xv[:, :, 0:1], t0, out=yv)  # y[., e] = t[e, 0] * x0 for both outputs e at once
    yv.addcmul_(xv[:, :, 1:2], t1)  # y[., e] += t[e, 1] * x1


def _twiddle_grad(grad: torch.Tensor, x: torch.Tensor, s: int) -> torch.Tensor:
    """d loss / d twiddle[:, s] (S, n // 2, 2, 2) from the stage's output grad (S, n, B) and input x
    (S_in, n, B): sum over the batch of grad[e] * conj(x[f]) for every pair."""
    nstacks, n, batch = grad.shape
    stride = 1 << s
    nblocks = n // (2 * stride)
    gv = grad.view(nstacks, nblocks, 2, stride, batch)  # (S, J, 2, K, B)
    xv = x.view(x.shape[0], nblocks, 2, stride, batch).conj()  # (S_in, J, 2, K, B)
    if stride == 1 or nblocks == 1:  # (J, K) merge into one batch axis: one bmm of (2, B) @ (B, 2)
        prod = torch.matmul(gv.transpose(2, 3), xv.permute(0, 1, 3, 4, 2))  # (S, J, K, 2, 2)
    else:  # four multiply-and-reduce passes (a bmm would first copy both operands)
        rows = [torch.stack([(gv[:, :, e] * xv[:, :, f]).sum(-1) for f in range(2)], -1) for e in range(2)]
        prod = torch.stack(rows, -2)  # (S, J, K, 2, 2)
    return prod.reshape(nstacks, n // 2, 2, 2)


#: policy: a product whose stage inputs would take more than this to keep for the backward keeps only its
#: input, and the backward recomputes the stages' inputs from it: its saved activations drop log2 n-fold for
#: one more pass of the element-wise stages. Measured (n = 1,024, 16,384 rows in fp32, 2 cores): saved
#: 640 MiB -> 64 MiB, forward + backward 1.13 s -> 1.46 s. Training at LRA's sizes keeps every layer's
#: saved tensors at once (about 42 GB at 32 x 2,000 tokens): that is what recomputing makes fit; smaller
#: products keep their stage inputs and run at full speed.
RECOMPUTE_ABOVE_BYTES = 64 * 2**20


def _stage_inputs(
    twiddle: torch.Tensor, xt: torch.Tensor, increasing_stride: bool
) -> tuple[list, torch.Tensor]:
    """(the input of every stage in order, the product's output) of the stage loop on xt (S_in, n, B)."""
    nstacks, log_n, n = twiddle.shape[0], twiddle.shape[1], 1 << twiddle.shape[1]
    dtype = torch.promote_types(twiddle.dtype, xt.dtype)
    inputs = []
    for s in _stage_order(log_n, increasing_stride):
        inputs.append(xt)
        out = torch.empty((nstacks, n, xt.shape[-1]), dtype=dtype, device=xt.device)
        _stage_into(_stage_coefficients(twiddle, s), xt, out)
        xt = out
    return inputs, xt


class _ButterflyProduct(torch.autograd.Function):
    """The fast stage loop with a hand-written backward: the adjoint stages in reverse for the input
    gradient, batch reductions for the twiddle gradient. Saves each stage's input (as autograd would), or,
    above RECOMPUTE_ABOVE_BYTES of them, only the first, and recomputes the others in the backward."""

    @staticmethod
    def forward(ctx, twiddle: torch.Tensor, xt: torch.Tensor, increasing_stride: bool) -> torch.Tensor:
        inputs, out = _stage_inputs(twiddle, xt, increasing_stride)
        kept = sum(t.numel() * t.element_size() for t in inputs)
        ctx.save_for_backward(twiddle, *(inputs[:1] if kept > RECOMPUTE_ABOVE_BYTES else inputs))
        ctx.increasing_stride = increasing_stride
        ctx.input_shape, ctx.input_dtype = inputs[0].shape, inputs[0].dtype
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor | None, None]:
        twiddle, *inputs = ctx.saved_tensors
        if len(inputs) < twiddle.shape[1]:  # only the first kept (RECOMPUTE_ABOVE_BYTES): the others again
            inputs, _ = _stage_inputs(twiddle, inputs[0], ctx.increasing_stride)
        need_twiddle, need_x = ctx.needs_input_grad[:2]
        stages = _stage_order(twiddle.shape[1], ctx.increasing_stride)
        grad_twiddle = torch.zeros_like(twiddle) if need_twiddle else None
        g = grad.contiguous()
        scratch = [
            workspace(slot, tuple(g.shape), g.dtype, g.device) for slot in (WS_GRAD_PING, WS_GRAD_PONG)
        ]
        for step in range(len(stages) - 1, -1, -1):
            s, x = stages[step], inputs[step]
            if need_twiddle:
                gt = _twiddle_grad(g, x, s)
                grad_twiddle[:, s] = gt.real if gt.is_complex() and not twiddle.is_complex() else gt
            if step > 0 or need_x:
                out = scratch[step % 2] if step > 0 else torch.empty_like(g)
                _stage_into(_stage_coefficients(twiddle, s, adjoint=True), g, out)
                g = out
        grad_x = None
        if need_x:
            if ctx.input_shape[0] != g.shape[0]:  # one input shared by all stacks
                g = g.sum(0, keepdim=True)
            if g.is_complex() and not ctx.input_dtype.is_complex:
                g = g.real.contiguous()
            grad_x = g.to(ctx.input_dtype)
        return grad_twiddle, grad_x, None


def butterfly_batch_last(
    twiddle: torch.Tensor, xt: torch.Tensor, increasing_stride: bool, fast: bool
) -> torch.Tensor:
    """The butterfly product in the batch-last layout: xt (S_in, n, B) with S_in in {1, nstacks} ->
    (nstacks, n, B).

    fast: no autograd is recorded (the caller decides once, from all its inputs, with `needs_autograd`);
    the result is then a workspace buffer: consume it (e.g. with `from_batch_last`) before the next
    fast-path call. Otherwise the product is a `_ButterflyProduct` (once differentiable). Shapes are not
    checked here; the public functions do it.
    """
    nstacks, log_n, n = twiddle.shape[0], twiddle.shape[1], 1 << twiddle.shape[1]
    batch = xt.shape[-1]
    if log_n == 0:
        return xt.expand(nstacks, n, batch)  # (S, 1, B)
    if not fast:
        return _ButterflyProduct.apply(twiddle, xt.contiguous(), increasing_stride)
    dtype = torch.promote_types(twiddle.dtype, xt.dtype)
    buffers = [workspace(slot, (nstacks, n, batch), dtype, xt.device) for slot in (WS_PING, WS_PONG)]
    for step, s in enumerate(_stage_order(log_n, increasing_stride)):
        _stage_into(_stage_coefficients(twiddle, s), xt, buffers[step % 2])
        xt = buffers[step % 2]
    return xt


def butterfly_multiply(
    twiddle: torch.Tensor, x: torch.Tensor, increasing_stride: bool = True
) -> torch.Tensor:
    """Multiply x by the butterfly matrices of `twiddle`: (*batch, S or 1, n) -> (*batch, S, n).

    twiddle: (S, log2 n, n // 2, 2, 2), real or complex; the result has the promoted dtype. Supports
    autograd in both arguments. See the module docstring for the exact pairing.
    """
    nstacks, _, n = _check_twiddle(twiddle)
    _check_stacked_input(x, nstacks, n)
    batch_shape, s_in = x.shape[:-2], x.shape[-2]
    fast = not needs_autograd(twiddle, x)
    x2d = x.reshape(-1, s_in * n)  # (B, S_in * n)
    xt = to_batch_last(x2d, fast).view(s_in, n, -1)  # (S_in, n, B)
    y = butterfly_batch_last(twiddle, xt, increasing_stride, fast)  # (S, n, B)
    out = from_batch_last(y.reshape(nstacks * n, -1), fast)  # (B, S * n)
    return out.view(*batch_shape, nstacks, n)


# ---- the reference -----------------------------------------------------------------------------------------
def butterfly_stage_matrix(stage_twiddle: torch.Tensor, stride: int) -> torch.Tensor:
    """The dense n x n matrix of one stage: stage_twiddle (n // 2, 2, 2) with pairs (i, i + stride).

    Built entry by entry with Python loops: slow, but obviously the definition.
    """
    n = 2 * stage_twiddle.shape[0]
    m = stage_twiddle.new_zeros(n, n)
    for p in range(n // 2):
        j, k = divmod(p, stride)
        i0 = j * 2 * stride + k
        i1 = i0 + stride
        m[i0, i0] = stage_twiddle[p, 0, 0]
        m[i0, i1] = stage_twiddle[p, 0, 1]
        m[i1, i0] = stage_twiddle[p, 1, 0]
        m[i1, i1] = stage_twiddle[p, 1, 1]
    return m


def butterfly_multiply_reference(
    twiddle: torch.Tensor, x: torch.Tensor, increasing_stride: bool = True
) -> torch.Tensor:
    """Reference for `butterfly_multiply`: one dense matrix per stage, multiplied in order (tests only)."""
    nstacks, log_n, n = _check_twiddle(twiddle)
    _check_stacked_input(x, nstacks, n)
    dtype = torch.promote_types(twiddle.dtype, x.dtype)
    x = x.expand(*x.shape[:-2], nstacks, n).to(dtype)
    stages = _stage_order(log_n, increasing_stride)
    outs = []
    for st in range(nstacks):
        y = x[..., st, :]  # (*batch, n)
        for s in stages:
            y = y @ butterfly_stage_matrix(twiddle[st, s].to(dtype), 1 << s).T
        outs.append(y)
    return torch.stack(outs, dim=-2)  # (*batch, S, n)


def butterfly_to_dense(twiddle: torch.Tensor, increasing_stride: bool = True) -> torch.Tensor:
    """The (nstacks, n, n) matrices M: butterfly_multiply(twiddle, x)[..., s, :] == M[s] @ x[..., s, :]."""
    nstacks, _, n = _check_twiddle(twiddle)
    eye = torch.eye(n, dtype=twiddle.dtype, device=twiddle.device).unsqueeze(1)  # (n, 1, n): e_i as rows
    cols = butterfly_multiply(twiddle, eye, increasing_stride)  # (n, S, n): M e_i
    return cols.permute(1, 2, 0)  # (S, n, n)


# ---- initialisations ---------------------------------------------------------------------------------------
def bit_reversal_permutation(n: int) -> torch.Tensor:
    """perm (LongTensor of length n) with perm[i] = i with its log2 n bits reversed; x[..., perm] reorders."""
    log_n = check_power_of_two("n", n)
    perm = torch.zeros(n, dtype=torch.long)
    for b in range(log_n):
        perm |= ((torch.arange(n) >> b) & 1) << (log_n - 1 - b)
    return perm


def sylvester_hadamard(n: int, normalized: bool = False, dtype: torch.dtype = REAL_DTYPE) -> torch.Tensor:
    """The Sylvester Hadamard matrix H_n = H_2 (x) H_{n/2}, H_1 = [1] (scaled by n^-1/2 if normalized)."""
    log_n = check_power_of_two("n", n)
    check_bool("normalized", normalized)
    h = torch.ones(1, 1, dtype=dtype)
    h2 = torch.tensor([[1.0, 1.0], [1.0, -1.0]], dtype=dtype)
    for _ in range(log_n):
        h = torch.kron(h2, h)
    return h / math.sqrt(n) if normalized else h


def _fft_twiddle(n: int, log_n: int, increasing_stride: bool) -> torch.Tensor:
    """(log2 n, n // 2, 2, 2) complex128 radix-2 FFT stages (DIT for increasing, DIF for decreasing)."""
    stages = []
    for s in range(log_n):
        stride = 1 << s
        k = torch.arange(n // 2, dtype=torch.float64) % stride  # offset of each pair in its block
        w = torch.exp(-2j * math.pi * k / (2 * stride))  # (n // 2,) complex128
        one = torch.ones_like(w)
        if increasing_stride:  # Cooley-Tukey DIT: [x0 + w x1, x0 - w x1]
            t = torch.stack([torch.stack([one, w], -1), torch.stack([one, -w], -1)], -2)
        else:  # Gentleman-Sande DIF: [x0 + x1, w (x0 - x1)]
            t = torch.stack([torch.stack([one, one], -1), torch.stack([w, -w], -1)], -2)
        stages.append(t)  # (n // 2, 2, 2)
    return torch.stack(stages) if stages else torch.zeros(0, 0, 2, 2, dtype=torch.complex128)


def twiddle_init(
    n: int,
    kind: str,
    nstacks: int = 1,
    complex: bool = False,
    generator: torch.Generator | None = None,
    increasing_stride: bool = True,
    normalized: bool = False,
    dtype: torch.dtype | None = None,
) -> torch.Tensor:
    """A (nstacks, log2 n, n // 2, 2, 2) twiddle tensor of `kind`:

    - random: i.i.d. normal entries of std 1/sqrt(2) (each stage keeps the variance of its input);
    - orthogonal: every 2x2 block a random rotation (complex: a random unitary);
    - identity: every 2x2 block the identity;
    - fft (complex only): with increasing_stride, butterfly_multiply(t, x[..., bit_reversal_permutation(n)])
      == torch.fft.fft(x); with decreasing stride, butterfly_multiply(t, x, False)[..., perm] == fft(x);
      `fft_butterfly` does this for you. normalized=True gives norm="ortho".
    - hadamard: the Sylvester Hadamard matrix in natural order, either direction (normalized: orthonormal).
    """
    log_n = check_power_of_two("n", n)
    check_int(
        "nstacks",
        nstacks,
        1,
        MAX_TWIDDLE_ELEMS // (2 * n * max(1, log_n)),
        f"a positive integer: nstacks x 2 n log2 n twiddles, at most {MAX_TWIDDLE_ELEMS:,}",
    )
    check_choice("kind", kind, TWIDDLE_INITS)
    for name, flag in (
        ("complex", complex),
        ("increasing_stride", increasing_stride),
        ("normalized", normalized),
    ):
        check_bool(name, flag)
    if kind == "fft" and not complex:
        raise SpecError("complex", complex, "True for kind='fft' (the DFT is complex)")
    if dtype is None:
        dtype = COMPLEX_DTYPE if complex else REAL_DTYPE
    shape = (nstacks, log_n, n // 2, 2, 2)
    if kind == "random":
        return torch.randn(shape, generator=generator, dtype=dtype) * RANDOM_TWIDDLE_STD
    if kind == "identity":
        return torch.eye(2, dtype=dtype).expand(shape).clone()
    if kind == "hadamard":
        h2 = torch.tensor([[1.0, 1.0], [1.0, -1.0]], dtype=dtype)
        t = h2 * ORTHONORMAL_STAGE_SCALE if normalized else h2
        return t.expand(shape).clone()
    if kind == "fft":
        t = _fft_twiddle(n, log_n, increasing_stride)
        t = t * ORTHONORMAL_STAGE_SCALE if normalized else t
        return t.to(dtype).expand(shape).clone()
    # orthogonal
    theta = torch.rand(shape[:3], generator=generator, dtype=torch.float64) * (2 * math.pi)
    c, s = torch.cos(theta), torch.sin(theta)
    if not complex:
        rot = torch.stack([torch.stack([c, -s], -1), torch.stack([s, c], -1)], -2)  # (S, L, n/2, 2, 2)
        return rot.to(dtype)
    # U = e^{i phi} [[e^{i alpha} c, e^{i beta} s], [-e^{-i beta} s, e^{-i alpha} c]] is unitary
    phases = torch.rand((3, *shape[:3]), generator=generator, dtype=torch.float64) * (2 * math.pi)
    alpha, beta, phi = (torch.exp(1j * p) for p in phases)
    row0 = torch.stack([alpha * c, beta * s], -1)
    row1 = torch.stack([-beta.conj() * s, alpha.conj() * c], -1)
    unitary = phi[..., None, None] * torch.stack([row0, row1], -2)  # (S, L, n/2, 2, 2)
    return unitary.to(dtype)


def fft_butterfly(x: torch.Tensor, increasing_stride: bool = True, normalized: bool = False) -> torch.Tensor:
    """torch.fft.fft(x) over the last axis (a power of two) computed as an FFT-initialised butterfly.

    Increasing stride (DIT): bit-reverse the input, then multiply. Decreasing stride (DIF): multiply, then
    bit-reverse the output. The product runs in complex64 (complex128 if x is double precision).
    """
    n = x.shape[-1]
    check_power_of_two("x.shape[-1]", n)
    dtype = torch.complex128 if x.dtype in (torch.float64, torch.complex128) else COMPLEX_DTYPE
    twiddle = twiddle_init(n, "fft", complex=True, increasing_stride=increasing_stride, normalized=normalized)
    twiddle = twiddle.to(device=x.device, dtype=dtype)
    perm = bit_reversal_permutation(n).to(x.device)
    xs = x.to(dtype).unsqueeze(-2)  # (*batch, 1, n)
    if increasing_stride:
        return butterfly_multiply(twiddle, xs[..., perm], True).squeeze(-2)
    return butterfly_multiply(twiddle, xs, False).squeeze(-2)[..., perm]
