"""The op table: the nodes of an exported graph (ATen ops, leaf calls) -> typed ops of the workload.

What maps to what (shapes from the graph's fake tensors; "rows" = the product of the leading dims):

  linear (nn.Linear, F.linear)       GEMM(rows x in @ in x out, B a weight)          [+ bias add]
  matmul / mm / bmm / einsum (2 ops) GEMM; batch = the broadcast batch dims; a weight operand is B (a
                                     weight as A is costed as the transposed product); a B without batch
                                     dims folds A's batch into m (as a linear layer)
  scaled_dot_product_attention       GEMM Q K^T, scale, [+ mask add], Softmax, GEMM S V (causal and
                                     boolean masks are selects: 0 FLOPs; costed as full attention)
  softmax                            Softmax(rows, n)
  layer_norm, rms_norm               LayerNorm(rows, n) (RMSNorm as a LayerNorm: the typed op has no RMS
                                     variant)
  batch_norm (inference)             Elementwise affine (2 x C weights)
  fft_* (fft, rfft, fft2, rfftn ...) one FFT per transformed dim (real input on the first step of a real
                                     tensor; real output when only `.real` is used, or a c2r transform)
  conv1d, conv2d, convolution        Conv2d (a conv1d as height 1; no dilation, not transposed) [+ bias add]
  max / avg / adaptive-avg pool      Elementwise maxpool / avgpool with its window
  add, sub / mul, div                Elementwise add / mul: 2 operands, or 1 and a weight (a parameter,
                                     buffer or constant: bias, positions, RMSNorm scale); by a scalar:
                                     add / scale
  relu, gelu, neg, pow(x, 2)         Elementwise relu, gelu, scale, mul
  silu, sigmoid, tanh, exp, rsqrt..  Elementwise gelu (the special-function activation; the op is named
                                     after the function: the typed op has no silu / exp kind)
  sum, mean, amax over dims          Elementwise add (r - 1 per output) [+ scale for a mean]; maxpool
  views, copies, casts, cat, split, slicing, gathers (embedding), selects (masked_fill, where), dropout,
  constants (zeros, arange, tril), every op whose output is not floating point (indices, masks) and
  every op on weights and constants only (precomputable: RoPE tables, a sliced position table):
                                     nothing (0 FLOPs)

Anything else is unsupported: `from_torch` lists every such op with its module path and the rule to
write, or (`allow_unknown=True`) costs it as an element-wise placeholder named `<path>.unsupported.<op>`.
"""

from __future__ import annotations

import dataclasses
import math
import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import fx
from torch.fx.experimental.symbolic_shapes import GuardOnDataDependentSymNode

from swallowtail.errors import SpecError
from swallowtail.importer.rules import LeafCall
from swallowtail.importer.trace import LEAF_TARGET, LeafRecord
from swallowtail.workload.ops import FFT, GEMM, Conv2d, Elementwise, LayerNorm, Op, Softmax


def _aten(names: str) -> frozenset[str]:
    return frozenset("aten." + n for n in names.split())


#: ATen ops (overload packets) that move, select or create data: no FLOPs
FREE_OPS = _aten(
    "view _unsafe_view reshape transpose t permute contiguous clone expand expand_as view_as "
    "slice select narrow unsqueeze squeeze flatten unflatten movedim swapaxes as_strided alias "
    "detach lift_fresh_copy _to_copy to type_as cat concat concatenate stack split split_with_sizes "
    "chunk unbind tensor_split repeat repeat_interleave tile flip roll pad constant_pad_nd "
    "embedding index index_select gather take_along_dim masked_fill where masked_select "
    "dropout feature_dropout alpha_dropout native_dropout "
    "zeros ones full empty arange linspace eye scalar_tensor zeros_like ones_like full_like "
    "empty_like new_zeros new_ones new_full new_empty tril triu "
    "real imag view_as_real view_as_complex conj resolve_conj resolve_neg "
    "copy copy_ index_put index_put_ index_copy slice_scatter select_scatter fill fill_ zero_"
)
#: element-wise unary ops -> their Elementwise op
UNARY_OPS: dict[str, str] = {
    "aten.relu": "relu",
    "aten.relu_": "relu",
    "aten.leaky_relu": "relu",
    "aten.hardtanh": "relu",
    "aten.relu6": "relu",
    "aten.clamp": "relu",
    "aten.clamp_min": "relu",
    "aten.clamp_max": "relu",
    "aten.abs": "relu",
    "aten.neg": "scale",
    "aten.gelu": "gelu",
    "aten.square": "mul",
}
#: transcendental activations and functions: costed as the special-function activation (GELU's op)
SPECIAL_OPS = _aten(
    "silu sigmoid tanh exp exp2 log log2 log1p expm1 rsqrt sqrt erf sin cos reciprocal softplus mish "
    "elu selu celu hardswish hardsigmoid logsigmoid"
)
#: the Elementwise op of the special-function class
SPECIAL = "gelu"
#: binary element-wise ops -> Elementwise op (sub costs as add, div as mul)
BINARY_OPS = {"aten.add": "add", "aten.sub": "add", "aten.rsub": "add", "aten.mul": "mul", "aten.div": "mul"}
#: FFT ops -> (kind: c2c | r2c | c2r, rank: 1 | 2 | None for n-D)
FFT_OPS = {
    "aten.fft_fft": ("c2c", 1),
    "aten.fft_ifft": ("c2c", 1),
    "aten.fft_rfft": ("r2c", 1),
    "aten.fft_irfft": ("c2r", 1),
    "aten.fft_fft2": ("c2c", 2),
    "aten.fft_ifft2": ("c2c", 2),
    "aten.fft_rfft2": ("r2c", 2),
    "aten.fft_irfft2": ("c2r", 2),
    "aten.fft_fftn": ("c2c", None),
    "aten.fft_ifftn": ("c2c", None),
    "aten.fft_rfftn": ("r2c", None),
    "aten.fft_irfftn": ("c2r", None),
}


class Unsupported(Exception):
    """A node the table has no mapping for (or a form of a known op it cannot cost): why, in words."""


@dataclass(frozen=True)
class Value:
    """What a graph value is: an activation (computed per inference, `deps`: the ops that produced it; a
    user input has none) or a weight (a parameter, buffer or constant, and views of it)."""

    weight: bool
    deps: tuple[str, ...] = ()


_WEIGHT = Value(weight=True)


def _packet(node: fx.Node) -> str:
    target = node.target
    packet = getattr(target, "overloadpacket", None)
    return str(packet) if packet is not None else getattr(target, "__name__", str(target))


def _val(node: Any) -> Any:
    return node.meta.get("val") if isinstance(node, fx.Node) else None


def _is_tensor(node: Any) -> bool:
    return isinstance(_val(node), torch.Tensor)


def shape(node: fx.Node) -> tuple[int, ...]:
    return tuple(int(s) for s in _val(node).shape)


def numel(node: fx.Node) -> int:
    return math.prod(shape(node))


def _floating(node: fx.Node) -> bool:
    v = _val(node)
    return isinstance(v, torch.Tensor) and (v.dtype.is_floating_point or v.dtype.is_complex)


def _static_numel(node: fx.Node, out: Any) -> int:
    """The elements of an op's output, which the input shapes must fix: an op after a boolean-mask index,
    `unique` or `nonzero` has a size only the values decide, which no cost can follow (a SpecError naming
    the module it is in, not torch's guard error from deep inside)."""
    try:
        return math.prod(int(d) for d in out.shape)
    except GuardOnDataDependentSymNode:
        path, cls = module_path(node)
        raise SpecError(
            path or "module",
            f"{_packet(node)} in {cls}",
            "an op whose output shape the input shapes fix (this one's depends on the values: boolean-mask "
            "indexing, unique, nonzero); make its module a leaf with a workload rule",
        ) from None


def _floating_outputs(node: fx.Node) -> list[torch.Tensor]:
    """The floating-point tensors a node yields (one, or several for an op with many outputs)."""
    leaves = v if isinstance(v := _val(node), list | tuple) else [v]
    return [
        t for t in leaves if isinstance(t, torch.Tensor) and (t.dtype.is_floating_point or t.dtype.is_complex)
    ]


def _arg(node: fx.Node, i: int, name: str, default: Any = None) -> Any:
    if len(node.args) > i:
        return node.args[i]
    return node.kwargs.get(name, default)


def _dims(dim: Any, rank: int) -> list[int]:
    dims = [dim] if isinstance(dim, int) else list(dim)
    return [d % rank for d in dims]


def module_path(node: fx.Node) -> tuple[str, str]:
    """(path, class name) of the innermost module a node was traced in ("" and the model's class at the
    top)."""
    stack = node.meta.get("nn_module_stack") or {}
    if not stack:
        return "", ""
    path, cls = list(stack.values())[-1]
    return path, str(cls).rsplit(".", 1)[-1]


def layer_of(path: str) -> tuple[str, str]:
    """(layer, name prefix) of a module path: the layer is the path up to its first index, written as one
    token ("blocks.3.attn.q" -> "blocks3", prefix "blocks3.attn.q"), else its first part ("head.fc" ->
    "head"); the model itself is "model"."""
    if not path:
        return "model", "model"
    parts = path.split(".")
    for i, p in enumerate(parts):
        if p.isdigit():
            layer = "_".join(parts[:i]) + p if i else p
            return layer, ".".join([layer, *parts[i + 1 :]])
    return parts[0], path


@dataclass
class Builder:
    """Walks an exported graph in order and emits typed ops; records what it cannot map."""

    dtype: str
    calls: dict[int, LeafRecord]
    allow_unknown: bool
    ops: list[Op] = field(default_factory=list)
    values: dict[fx.Node, Value] = field(default_factory=dict)
    unsupported: list[tuple[str, str, str, str]] = field(default_factory=list)  # path, class, op, why
    placeholders: list[str] = field(default_factory=list)
    input_elems: int = 0
    _names: set[str] = field(default_factory=set)
    _node: fx.Node | None = None

    # ---- values -----------------------------------------------------------------------------------------
    def value(self, node: Any) -> Value:
        return self.values.get(node, _WEIGHT) if isinstance(node, fx.Node) else _WEIGHT

    def deps_of(self, *nodes: Any) -> tuple[str, ...]:
        out: list[str] = []
        for n in nodes:
            for d in self.value(n).deps:
                if d not in out:
                    out.append(d)
        return tuple(out)

    def tensor_args(self, node: fx.Node) -> list[fx.Node]:
        return [a for a in node.all_input_nodes if _is_tensor(a)]

    def is_act(self, node: Any) -> bool:
        return isinstance(node, fx.Node) and not self.value(node).weight

    # ---- emitting ---------------------------------------------------------------------------------------
    def emit(self, op_cls: type[Op], local: str, deps: Sequence[str], **kw: Any) -> str:
        assert self._node is not None
        _, prefix = layer_of(module_path(self._node)[0])
        return self.place(op_cls(self._unique(f"{prefix}.{local}"), deps=tuple(deps), **kw))

    def place(self, op: Op) -> str:
        """Append `op` with the workload's dtype and the current node's layer."""
        assert self._node is not None
        layer, _ = layer_of(module_path(self._node)[0])
        self.ops.append(dataclasses.replace(op, dtype=self.dtype, layer=layer))
        return op.name

    def _unique(self, name: str) -> str:
        base, i = name, 0
        while name in self._names:
            i += 1
            name = f"{base}_{i}"
        self._names.add(name)
        return name

    def elementwise(self, local: str, op: str, numel_out: int, deps: Sequence[str], **kw: Any) -> str:
        return self.emit(Elementwise, local, deps, op=op, numel=numel_out, **kw)

    # ---- the walk ---------------------------------------------------------------------------------------
    def run(self, graph: fx.Graph, user_inputs: set[str]) -> None:
        """Visit every node the outputs depend on, in order; placeholders that are not user inputs
        (parameters, buffers, constants) are weights."""
        live = _live(graph)
        for node in graph.nodes:
            if node.op == "placeholder":
                if node.name in user_inputs:
                    self.values[node] = Value(weight=False)
                    if _floating(node):
                        self.input_elems += numel(node)
                continue
            if node.op != "call_function" or node not in live:
                continue
            self._node = node
            self.values[node] = self._visit(node)

    def _visit(self, node: fx.Node) -> Value:
        args = self.tensor_args(node)
        acts = [a for a in args if self.is_act(a)]
        passthrough = Value(weight=not acts, deps=self.deps_of(*acts))
        if node.target is operator.getitem:
            return self.value(node.args[0])
        if node.target is LEAF_TARGET:
            return Value(weight=False, deps=self._leaf(node))
        name = _packet(node)
        if name == "aten.embedding":
            if acts:
                self.input_elems += numel(node)  # the embedded tokens enter the machine (a gather)
            return passthrough
        outs = _floating_outputs(node)
        if name in FREE_OPS or not outs or not acts:  # data movement, index / mask math, weights only
            return passthrough
        size = _static_numel(node, outs[0])
        if size == 0:
            return passthrough
        handler = HANDLERS.get(name)
        try:
            if handler is None or not _floating(node):
                raise Unsupported("no mapping")
            return Value(weight=False, deps=handler(self, node, acts))
        except Unsupported as why:
            path, cls = module_path(node)
            self.unsupported.append((path, cls, name, str(why)))
            if not self.allow_unknown:
                return passthrough
            local = f"unsupported.{name.removeprefix('aten.')}"
            ph = self.elementwise(local, "add", size, self.deps_of(*acts), operands=min(2, len(acts)))
            self.placeholders.append(ph)
            return Value(weight=False, deps=(ph,))

    def _leaf(self, node: fx.Node) -> tuple[str, ...]:
        """A leaf module's call: its rule's ops, placed under its module path and chained."""
        inputs, call_id = node.args[0], node.args[1]
        rec = self.calls[call_id]
        path, _ = module_path(node)
        outs = _val(node)
        call = LeafCall(
            path=path,
            inputs=tuple(shape(a) for a in inputs),
            outputs=tuple(tuple(int(s) for s in o.shape) for o in outs),
            dtype=self.dtype,
        )
        deps = self.deps_of(*inputs)
        cls = type(rec.module).__name__
        made = rec.rule.ops(rec.module, call)
        if made is None or isinstance(made, Op):
            raise SpecError(f"workload rule of {cls}", made, "an iterable of ops (swallowtail.workload.ops)")
        _, prefix = layer_of(path)
        local_names: dict[str, str] = {}
        last: tuple[str, ...] = deps
        for op in made:
            if not isinstance(op, Op):
                raise SpecError(f"workload rule of {cls}", op, "ops of swallowtail.workload.ops only")
            if op.deps:
                missing = [d for d in op.deps if d not in local_names]
                if missing:
                    raise SpecError(
                        f"workload rule of {cls}: {op.name}.deps",
                        missing[0],
                        "the names of earlier ops of the rule",
                    )
                op_deps = tuple(local_names[d] for d in op.deps)
            else:
                op_deps = last
            name = self._unique(f"{prefix}.{op.name}" if path else op.name)
            local_names[op.name] = name
            self.place(dataclasses.replace(op, name=name, deps=op_deps))
            last = (name,)
        return last


def _live(graph: fx.Graph) -> set[fx.Node]:
    """The nodes the graph's outputs depend on."""
    out = [n for n in graph.nodes if n.op == "output"]
    live: set[fx.Node] = set()
    stack = list(out)
    while stack:
        n = stack.pop()
        if n in live:
            continue
        live.add(n)
        stack.extend(n.all_input_nodes)
    return live


# ---- handlers: (builder, node, activation args) -> the names of the ops the node's value comes from -------
Handler = Callable[[Builder, fx.Node, list[fx.Node]], tuple[str, ...]]


def _linear(b: Builder, node: fx.Node, acts: list[fx.Node]) -> tuple[str, ...]:
    x, w = node.args[0], node.args[1]
    bias = _arg(node, 2, "bias")
    out_features, in_features = shape(w) if len(shape(w)) == 2 else (1, shape(w)[0])
    rows = numel(x) // in_features
    name = b.emit(
        GEMM, "linear", b.deps_of(x, w), m=rows, k=in_features, n=out_features, b_is_weight=not b.is_act(w)
    )
    if isinstance(bias, fx.Node):
        return (_add_operand(b, "bias", rows * out_features, (name,), bias),)
    return (name,)


def _add_operand(b: Builder, local: str, numel_out: int, deps: tuple[str, ...], other: fx.Node) -> str:
    """An add of an activation and `other` (a weight: read once, or an activation: a second operand)."""
    if b.is_act(other):
        return b.elementwise(local, "add", numel_out, deps + b.deps_of(other), operands=2)
    return b.elementwise(local, "add", numel_out, deps, weight=numel(other))


def _gemm(
    b: Builder, local: str, a: tuple[int, ...], bb: tuple[int, ...], a_weight: bool, b_weight: bool, deps: Any
) -> str:
    """GEMM of A (..., m, k) @ B (..., k, n) with broadcast batch dims (1-D operands as in torch.matmul)."""
    a2 = a if len(a) >= 2 else (1, *a)
    b2 = bb if len(bb) >= 2 else (*bb, 1)
    (m, k), (k2, n) = a2[-2:], b2[-2:]
    if k != k2:
        raise Unsupported(f"inner dims {k} and {k2} differ")
    ba, bbatch = math.prod(a2[:-2]), math.prod(b2[:-2])
    batch = math.prod(torch.broadcast_shapes(torch.Size(a2[:-2]), torch.Size(b2[:-2])))
    if a_weight and not b_weight:  # W @ X: the transposed product X^T W^T, the weight as B
        m, n, ba, bbatch = n, m, bbatch, ba
        b_weight = True
    if bbatch == 1:  # B shared by every batch: A's batch folds into m (a linear layer)
        return b.emit(GEMM, local, deps, m=ba * m, k=k, n=n, b_is_weight=b_weight)
    return b.emit(GEMM, local, deps, m=m, k=k, n=n, batch=batch, b_is_weight=b_weight, shared_b=False)


def _matmul(b: Builder, node: fx.Node, acts: list[fx.Node]) -> tuple[str, ...]:
    x, y = node.args[0], node.args[1]
    name = _packet(node).removeprefix("aten.")
    return (_gemm(b, name, shape(x), shape(y), not b.is_act(x), not b.is_act(y), b.deps_of(x, y)),)


def _einsum(b: Builder, node: fx.Node, acts: list[fx.Node]) -> tuple[str, ...]:
    equation, operands = node.args[0], node.args[1]
    if len(operands) != 2:
        raise Unsupported(f"einsum of {len(operands)} operands (two are supported)")
    x, y = operands
    eq = equation.replace(" ", "")
    lhs, out = eq.split("->") if "->" in eq else (eq, None)
    specs = lhs.split(",")
    shapes = [shape(x), shape(y)]
    ell = [len(sh) - (len(sp) - 3) if "..." in sp else 0 for sp, sh in zip(specs, shapes, strict=True)]
    n_ell = max(ell)
    all_ell = "".join(chr(0x100 + i) for i in range(n_ell))  # the broadcast dims, aligned on the right
    sizes: dict[str, int] = {}
    letters = []
    for spec, sh, e in zip(specs, shapes, ell, strict=True):
        spec = spec.replace("...", all_ell[n_ell - e :])
        if len(spec) != len(sh):
            raise Unsupported(f"einsum {equation!r}: operand ranks do not match")
        for c, s in zip(spec, sh, strict=True):
            sizes[c] = max(sizes.get(c, 1), s)
        letters.append(spec)
    sa, sb = letters
    if out is None:  # implicit output: the broadcast dims, then the letters used once, sorted
        out = all_ell + "".join(sorted(c for c in sizes if c not in all_ell and (sa + sb).count(c) == 1))
    else:
        out = out.replace("...", all_ell)
    batch = [c for c in sizes if c in sa and c in sb and c in out]
    contracted = [c for c in sizes if c in sa and c in sb and c not in out]
    only_a = [c for c in sa if c not in sb]
    only_b = [c for c in sb if c not in sa]
    if any(c not in out for c in only_a + only_b):
        raise Unsupported(f"einsum {equation!r} sums an index of one operand only")

    def size(cs: list[str]) -> int:
        return math.prod(sizes[c] for c in cs)

    bsz, k, m, n = size(batch), size(contracted), size(only_a), size(only_b)
    a_shape = (*([bsz] if batch else []), m, k)
    b_shape = (*([bsz] if batch else []), k, n)
    return (_gemm(b, "einsum", a_shape, b_shape, not b.is_act(x), not b.is_act(y), b.deps_of(x, y)),)


def _sdpa(b: Builder, node: fx.Node, acts: list[fx.Node]) -> tuple[str, ...]:
    q, k, v = node.args[0], node.args[1], node.args[2]
    mask = _arg(node, 3, "attn_mask")
    qs, ks, vs = shape(q), shape(k), shape(v)
    batch, L, E, S, Ev = math.prod(qs[:-2]), qs[-2], qs[-1], ks[-2], vs[-1]
    scores = b.emit(GEMM, "sdpa.scores", b.deps_of(q, k), m=L, k=E, n=S, batch=batch)
    last = b.elementwise("sdpa.scale", "scale", batch * L * S, (scores,))
    if isinstance(mask, fx.Node) and _floating(mask):  # an additive mask (a boolean one is a select)
        last = _add_operand(b, "sdpa.mask", batch * L * S, (last,), mask)
    soft = b.emit(Softmax, "sdpa.softmax", (last,), rows=batch * L, n=S)
    return (b.emit(GEMM, "sdpa.values", (soft, *b.deps_of(v)), m=L, k=S, n=Ev, batch=batch),)


def _softmax(b: Builder, node: fx.Node, acts: list[fx.Node]) -> tuple[str, ...]:
    x = node.args[0]
    sh = shape(x)
    (d,) = _dims(node.args[1], len(sh))
    return (b.emit(Softmax, "softmax", b.deps_of(x), rows=numel(x) // sh[d], n=sh[d]),)


def _norm(b: Builder, node: fx.Node, acts: list[fx.Node]) -> tuple[str, ...]:
    x, normalized = node.args[0], node.args[1]
    n = math.prod(normalized)
    local = "rms_norm" if _packet(node) == "aten.rms_norm" else "layer_norm"
    return (b.emit(LayerNorm, local, b.deps_of(x), rows=numel(x) // n, n=n),)


def _batch_norm(b: Builder, node: fx.Node, acts: list[fx.Node]) -> tuple[str, ...]:
    x = node.args[0]
    training = _arg(node, 5, "training", False)
    if training:
        raise Unsupported("batch norm with batch statistics (training mode)")
    channels = shape(x)[1] if len(shape(x)) > 1 else 1
    return (b.elementwise("batch_norm", "affine", numel(node), b.deps_of(x), weight=2 * channels),)


def _unary(b: Builder, node: fx.Node, acts: list[fx.Node]) -> tuple[str, ...]:
    name = _packet(node)
    local = name.removeprefix("aten.").rstrip("_")
    if name == "aten.pow":
        exponent = node.args[1]
        if not isinstance(exponent, int | float):
            raise Unsupported("pow with a tensor exponent")
        op = "mul" if exponent == 2 else SPECIAL
    else:
        op = UNARY_OPS.get(name, SPECIAL)
    return (b.elementwise(local, op, numel(node), b.deps_of(*acts)),)


def _binary(b: Builder, node: fx.Node, acts: list[fx.Node]) -> tuple[str, ...]:
    name = _packet(node)
    op = BINARY_OPS[name]
    out = numel(node)
    tensors = b.tensor_args(node)
    weights = [t for t in tensors if not b.is_act(t) and numel(t) > 1]
    local = name.removeprefix("aten.")
    deps = b.deps_of(*acts)
    if len(acts) >= 2:
        return (b.elementwise(local, op, out, deps, operands=2),)
    if weights:
        return (b.elementwise(local, op, out, deps, weight=numel(weights[0])),)
    return (b.elementwise(local, "scale" if op == "mul" else "add", out, deps),)  # by a scalar


def _reduce(b: Builder, node: fx.Node, acts: list[fx.Node]) -> tuple[str, ...]:
    x = node.args[0]
    name = _packet(node)
    out = numel(node)
    window = numel(x) // out
    deps = b.deps_of(x)
    if name in ("aten.amax", "aten.amin"):
        if window == 1:
            return deps
        return (
            b.elementwise(name.removeprefix("aten."), "maxpool", out, deps, window=window, in_numel=numel(x)),
        )
    last = deps
    if window > 1:
        last = (b.elementwise("sum", "add", out * (window - 1), deps),)
    if name == "aten.mean":
        last = (b.elementwise("mean", "scale", out, last),)
    return last


def _fft(b: Builder, node: fx.Node, acts: list[fx.Node]) -> tuple[str, ...]:
    name = _packet(node)
    kind, rank = FFT_OPS[name]
    x = node.args[0]
    cur = list(shape(x))
    r = len(cur)
    if rank == 1:
        n, dim = _arg(node, 1, "n"), _arg(node, 2, "dim", -1)
        sizes, dims = ([n] if n is not None else None), [dim % r]
    else:
        s, dim = _arg(node, 1, "s"), _arg(node, 2, "dim", [-2, -1] if rank == 2 else None)
        dims = list(range(r)) if dim is None and s is None else _dims(dim if dim is not None else [], r)
        if dim is None and s is not None:
            dims = list(range(r - len(s), r))
        sizes = list(s) if s is not None else None
    if sizes is None:
        sizes = [cur[d] if kind != "c2r" or d != dims[-1] else 2 * (cur[d] - 1) for d in dims]
    real_in = not _val(x).dtype.is_complex
    only_real = bool(node.users) and all(_packet(u) == "aten.real" for u in node.users)
    # the order torch computes: r2c on the last dim first; c2r on the last dim last
    steps = list(zip(dims, sizes, strict=True))
    steps = steps[::-1] if kind != "c2r" else steps[:-1][::-1] + steps[-1:]
    last = b.deps_of(x)
    for i, (d, n) in enumerate(steps):
        cur[d] = n
        rows = math.prod(cur) // n
        first, final = i == 0, i == len(steps) - 1
        real_output = final and (only_real or kind == "c2r")
        last = (
            b.emit(
                FFT,
                f"{name.removeprefix('aten.')}.dim{d}",
                last,
                n=n,
                rows=rows,
                real_input=first and real_in and kind != "c2r",
                real_output=real_output,
            ),
        )
        if kind == "r2c" and first:
            cur[d] = n // 2 + 1
    return last


def _conv(b: Builder, node: fx.Node, acts: list[fx.Node]) -> tuple[str, ...]:
    name = _packet(node)
    x, w = node.args[0], node.args[1]
    bias = _arg(node, 2, "bias")
    if name == "aten.convolution":
        stride, padding, dilation, transposed, groups = (node.args[i] for i in (3, 4, 5, 6, 8))
        if transposed:
            raise Unsupported("transposed convolution")
    else:
        stride, padding = _arg(node, 3, "stride", 1), _arg(node, 4, "padding", 0)
        dilation, groups = _arg(node, 5, "dilation", 1), _arg(node, 6, "groups", 1)
    xs, ws = shape(x), shape(w)
    spatial = len(xs) - 2
    if spatial not in (1, 2):
        raise Unsupported(f"{spatial}-D convolution")

    def per_dim(v: Any) -> list[int]:
        return list(v) * (spatial // len(v)) if isinstance(v, list | tuple) else [v] * spatial

    kernel = list(ws[2:])
    if isinstance(padding, str):
        if padding == "valid":
            padding = [0] * spatial
        elif all((k - 1) % 2 == 0 for k in kernel):
            padding = [(k - 1) // 2 for k in kernel]
        else:
            raise Unsupported("padding='same' with an even kernel (asymmetric padding)")
    stride, padding, dilation = per_dim(stride), per_dim(padding), per_dim(dilation)
    if any(d != 1 for d in dilation):
        raise Unsupported("dilated convolution")
    if spatial == 1:  # a conv1d is a conv2d of height 1
        xs, kernel, stride, padding = (*xs[:2], 1, xs[2]), [1, *kernel], [1, *stride], [0, *padding]
    op = Conv2d(
        "conv",
        images=xs[0],
        in_channels=xs[1],
        height=xs[2],
        width=xs[3],
        out_channels=ws[0],
        kernel=tuple(kernel),
        stride=tuple(stride),
        padding=tuple(padding),
        groups=groups,
    )
    if op.output_elems != numel(node):
        raise Unsupported(f"output of {numel(node)} elements, the Conv2d op has {op.output_elems}")
    out = b.emit(
        Conv2d,
        "conv",
        b.deps_of(x, w),
        images=op.images,
        in_channels=op.in_channels,
        height=op.height,
        width=op.width,
        out_channels=op.out_channels,
        kernel=op.kernel,
        stride=op.stride,
        padding=op.padding,
        groups=groups,
    )
    if isinstance(bias, fx.Node):
        return (_add_operand(b, "bias", numel(node), (out,), bias),)
    return (out,)


def _pool(b: Builder, node: fx.Node, acts: list[fx.Node]) -> tuple[str, ...]:
    name = _packet(node)
    x = node.args[0]
    xs, os = shape(x), shape(node)
    if "adaptive" in name:
        spatial = len(_arg(node, 1, "output_size"))
        if any(i % o for i, o in zip(xs[-spatial:], os[-spatial:], strict=True)):
            raise Unsupported("adaptive pool with uneven windows")
        window = numel(x) // numel(node)
    else:
        kernel = node.args[1]
        window = math.prod(kernel) if isinstance(kernel, list | tuple) else kernel ** (len(xs) - 2)
        if name.startswith("aten.max_pool") and any(d != 1 for d in _flat(_arg(node, 4, "dilation", 1))):
            raise Unsupported("dilated pooling")
    op = "maxpool" if "max" in name else "avgpool"
    return (
        b.elementwise(
            name.removeprefix("aten."), op, numel(node), b.deps_of(x), window=window, in_numel=numel(x)
        ),
    )


def _flat(v: Any) -> list[Any]:
    return list(v) if isinstance(v, list | tuple) else [v]


HANDLERS: dict[str, Handler] = {
    "aten.linear": _linear,
    "aten.matmul": _matmul,
    "aten.mm": _matmul,
    "aten.bmm": _matmul,
    "aten.einsum": _einsum,
    "aten.scaled_dot_product_attention": _sdpa,
    "aten.softmax": _softmax,
    "aten._softmax": _softmax,
    "aten._safe_softmax": _softmax,
    "aten.layer_norm": _norm,
    "aten.rms_norm": _norm,
    "aten.batch_norm": _batch_norm,
    "aten.pow": _unary,
    "aten.sum": _reduce,
    "aten.mean": _reduce,
    "aten.amax": _reduce,
    "aten.amin": _reduce,
    "aten.conv1d": _conv,
    "aten.conv2d": _conv,
    "aten.convolution": _conv,
    "aten.max_pool1d": _pool,
    "aten.max_pool2d": _pool,
    "aten.avg_pool1d": _pool,
    "aten.avg_pool2d": _pool,
    "aten.adaptive_avg_pool1d": _pool,
    "aten.adaptive_avg_pool2d": _pool,
    **{name: _unary for name in UNARY_OPS},
    **{name: _unary for name in SPECIAL_OPS},
    **{name: _binary for name in BINARY_OPS},
    **{name: _fft for name in FFT_OPS},
}
