"""Exact parameter and FLOP counts of a hybrid network, per layer and per op: the one count of the toolkit.

`model_counts(config, seq_len, batch)` lists, for "embed", "layer0" .. "layer{n-1}" and "head", every op
the modules of `swallowtail.nn.model` run, with its FLOPs and parameters. The workload lowering
(`swallowtail.workload`) is tested against it, the CLI prints it, and the tests check it against the real
modules (parameters exactly; matmul FLOPs against torch's FlopCounterMode).

The counts are built from the same functions the modules use -- `linear_counts` of ButterflyLinear,
`FourierMixing.flops`, and the conventions of `swallowtail.flops` -- so they agree by construction.
What counts (all conventions of `swallowtail.flops`: an FMA is 2 FLOPs):
- linear (nn.Linear): 2 * rows * in * out for the matmul + rows * out for the bias add;
- butterfly_linear / monarch_linear: ButterflyLinear's own count (padding and stacking included);
- attention_scores (Q K^T) and attention_values (S V): batched GEMMs over B * n_heads;
- scale (scores * 1/sqrt(hs)), residual_add, add, sub, mul, gelu, relu: per element, ELEMENTWISE_OP;
- softmax, layernorm: per element conventions; fourier: FourierMixing.flops;
- embedding lookups, CLS pooling (a slice), concatenation, masking and dropout: 0 FLOPs (data movement);
- mean pooling: (T - 1) adds per feature for the sum + one scale per feature;
- the head is counted like any layer (its linears, activations and, for a dual tower, u*v and u-v).
Counts describe inference on inputs of exactly `seq_len` tokens (a dual tower: both inputs of that length,
encoded as one batch of 2 * batch sequences), so padding costs the same as any token.

Each op's `name` is its module path inside the layer's module (`LayerCount.module`), e.g. "attn.q" in
"blocks.3", so the parameters of an op can be checked against the module that holds them (ops without
parameters -- "attn.scores", "res1", ... -- have names of the same form but no module). `dims` gives the
sizes that define an op (a linear: rows, in, out, bias, and n, nstacks for butterfly / Monarch; a GEMM:
batch, m, k, n; softmax / LayerNorm: rows, n; element-wise: numel; fourier: batch, seq_len, d_model).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from swallowtail import flops as F
from swallowtail.errors import SpecError, check_int
from swallowtail.nn.config import DUAL_FEATURES, HybridConfig
from swallowtail.nn.fourier import FourierMixing
from swallowtail.nn.linear import linear_counts

#: element-wise op kinds of the counts -> the element-wise kind of `swallowtail.flops` whose cost they have
ELEMENTWISE_OP = {
    "residual_add": "add",
    "add": "add",
    "sub": "add",
    "mul": "mul",
    "scale": "scale",
    "gelu": "gelu",
    "relu": "relu",
}
#: every op kind that model_counts emits
OP_KINDS = (
    "embedding",
    "linear",
    "butterfly_linear",
    "monarch_linear",
    "fourier",
    "attention_scores",
    "softmax",
    "attention_values",
    "layernorm",
    *ELEMENTWISE_OP,
)
#: the op kind of a linear layer of each HybridConfig linear kind
LINEAR_KIND = {"dense": "linear", "butterfly": "butterfly_linear", "monarch": "monarch_linear"}
#: the kinds whose FLOPs are dense matmuls (what torch's FlopCounterMode counts, bias adds excluded)
MATMUL_KINDS = ("linear", "attention_scores", "attention_values")


@dataclass(frozen=True)
class OpCount:
    """One op: its name (module path inside the layer), kind (OP_KINDS), FLOPs, parameters, and the sizes
    that define it (`dims`, e.g. rows / in / out of a linear, batch / m / k / n of a GEMM)."""

    name: str
    kind: str
    flops: int
    params: int = 0
    dims: dict[str, int] = field(default_factory=dict)

    @property
    def matmul_flops(self) -> int:
        """The dense matmul part of the FLOPs (0 for non-matmul kinds): what FlopCounterMode would count."""
        d = self.dims
        if self.kind == "linear":
            return F.gemm_flops(d["rows"], d["in"], d["out"])
        if self.kind in ("attention_scores", "attention_values"):
            return F.gemm_flops(d["m"], d["k"], d["n"], d["batch"])
        return 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "flops": self.flops,
            "params": self.params,
            "dims": self.dims,
        }


@dataclass(frozen=True)
class LayerCount:
    """A layer: "embed", "layer{i}" or "head"; its kind ("embed" | "abfly" | "fbfly" | "dense" | "head"),
    the module path that holds it in HybridTransformer ("embed", "blocks.{i}", "head") and its ops."""

    name: str
    kind: str
    module: str
    ops: tuple[OpCount, ...]
    index: int | None = None  # block index for "layer{i}"

    @property
    def params(self) -> int:
        return sum(op.params for op in self.ops)

    @property
    def flops(self) -> int:
        return sum(op.flops for op in self.ops)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "module": self.module,
            "index": self.index,
            "params": self.params,
            "flops": self.flops,
            "ops": [op.to_dict() for op in self.ops],
        }


@dataclass(frozen=True)
class ModelCounts:
    """Per-layer counts of a network at one (seq_len, batch), with totals."""

    config: HybridConfig
    seq_len: int
    batch: int
    layers: list[LayerCount]

    @property
    def params(self) -> int:
        return sum(layer.params for layer in self.layers)

    @property
    def flops(self) -> int:
        return sum(layer.flops for layer in self.layers)

    def ops(self) -> Iterator[tuple[LayerCount, OpCount]]:
        for layer in self.layers:
            for op in layer.ops:
                yield layer, op

    def flops_by_kind(self) -> dict[str, int]:
        """Total FLOPs per op kind, sorted by kind."""
        out: dict[str, int] = {}
        for _, op in self.ops():
            out[op.kind] = out.get(op.kind, 0) + op.flops
        return dict(sorted(out.items()))

    def layer(self, name: str) -> LayerCount:
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise SpecError("layer", name, f"one of {[layer.name for layer in self.layers]}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "config": self.config.to_dict(),
            "seq_len": self.seq_len,
            "batch": self.batch,
            "params": self.params,
            "flops": self.flops,
            "flops_by_kind": self.flops_by_kind(),
            "layers": [layer.to_dict() for layer in self.layers],
        }


# ---- op builders (one per module kind; the modules in blocks.py / model.py run exactly these) -----------
def linear_op(
    name: str, kind: str, in_features: int, out_features: int, rows: int, bias: bool = True
) -> OpCount:
    """A linear layer of HybridConfig kind "dense" | "butterfly" | "monarch" applied to `rows` vectors."""
    dims = {"rows": rows, "in": in_features, "out": out_features, "bias": int(bias)}
    if kind == "dense":
        params = in_features * out_features + (out_features if bias else 0)
        flops = F.gemm_flops(rows, in_features, out_features)
        if bias:
            flops += F.elementwise_flops("add", rows * out_features)
        return OpCount(name, "linear", flops, params, dims)
    c = linear_counts(in_features, out_features, kind=kind, bias=bias)
    dims.update(n=c.n, nstacks=c.nstacks)
    return OpCount(name, LINEAR_KIND[kind], rows * c.flops_per_row, c.params, dims)


def elementwise_op(name: str, kind: str, numel: int) -> OpCount:
    return OpCount(name, kind, F.elementwise_flops(ELEMENTWISE_OP[kind], numel), 0, {"numel": numel})


def layernorm_op(name: str, rows: int, n: int) -> OpCount:
    return OpCount(name, "layernorm", F.layernorm_flops(rows, n), 2 * n, {"rows": rows, "n": n})


def embedding_op(name: str, num_embeddings: int, dim: int, rows: int) -> OpCount:
    """A table lookup: 0 FLOPs, num_embeddings * dim parameters."""
    return OpCount(
        name, "embedding", 0, num_embeddings * dim, {"rows": rows, "num": num_embeddings, "dim": dim}
    )


def attention_ops(
    config: HybridConfig, prefix: str, projection: str, batch: int, seq_len: int
) -> list[OpCount]:
    """SelfAttention: Q/K/V projections, scaled QK^T, softmax, SV, output projection."""
    d, nh, hs, T = config.d_model, config.n_heads, config.head_size, seq_len
    rows, heads = batch * T, batch * nh
    return [
        linear_op(f"{prefix}.q", projection, d, d, rows),
        linear_op(f"{prefix}.k", projection, d, d, rows),
        linear_op(f"{prefix}.v", projection, d, d, rows),
        OpCount(
            f"{prefix}.scores",
            "attention_scores",
            F.gemm_flops(T, hs, T, heads),
            0,
            {"batch": heads, "m": T, "k": hs, "n": T},
        ),
        elementwise_op(f"{prefix}.scale", "scale", heads * T * T),
        OpCount(
            f"{prefix}.softmax", "softmax", F.softmax_flops(heads * T, T), 0, {"rows": heads * T, "n": T}
        ),
        OpCount(
            f"{prefix}.values",
            "attention_values",
            F.gemm_flops(T, T, hs, heads),
            0,
            {"batch": heads, "m": T, "k": T, "n": hs},
        ),
        linear_op(f"{prefix}.out", projection, d, d, rows),
    ]


def fourier_op(name: str, batch: int, seq_len: int, d_model: int) -> OpCount:
    flops = FourierMixing.flops(seq_len, d_model, batch=batch)
    return OpCount(name, "fourier", flops, 0, {"batch": batch, "seq_len": seq_len, "d_model": d_model})


def ffn_ops(config: HybridConfig, prefix: str, rows: int) -> list[OpCount]:
    """FeedForward: fc1 -> GELU -> fc2, linear layers of `config.ffn` kind."""
    return [
        linear_op(f"{prefix}.fc1", config.ffn, config.d_model, config.d_ff, rows),
        elementwise_op(f"{prefix}.gelu", "gelu", rows * config.d_ff),
        linear_op(f"{prefix}.fc2", config.ffn, config.d_ff, config.d_model, rows),
    ]


def block_ops(config: HybridConfig, kind: str, batch: int, seq_len: int) -> list[OpCount]:
    """One post-LN block of `kind` ("abfly" | "dense" | "fbfly"): mix, add, LN, FFN, add, LN."""
    d, rows = config.d_model, batch * seq_len
    if kind == "fbfly":
        mix = [fourier_op("mix", batch, seq_len, d)]
    else:
        projection = "butterfly" if kind == "abfly" else "dense"
        mix = attention_ops(config, "attn", projection, batch, seq_len)
    return [
        *mix,
        elementwise_op("res1", "residual_add", rows * d),
        layernorm_op("ln1", rows, d),
        *ffn_ops(config, "ffn", rows),
        elementwise_op("res2", "residual_add", rows * d),
        layernorm_op("ln2", rows, d),
    ]


def embed_ops(config: HybridConfig, batch: int, seq_len: int) -> list[OpCount]:
    """Embedding: token lookup (or Linear(input_dim, d)), + learned position, LayerNorm."""
    d, rows = config.d_model, batch * seq_len
    if config.token_input:
        tok = embedding_op("tok", config.vocab_size, d, rows)
    else:
        tok = linear_op("tok", "dense", config.input_dim, d, rows)
    return [
        tok,
        embedding_op("pos", config.max_len, d, seq_len),
        elementwise_op("pos_add", "add", rows * d),
        layernorm_op("ln", rows, d),
    ]


def head_ops(config: HybridConfig, batch: int, seq_len: int) -> list[OpCount]:
    """Pooling over the encoder's sequences, then the classifier (dual tower: [u, v, u*v, u-v] MLP)."""
    d = config.d_model
    sequences = batch * config.towers
    ops: list[OpCount] = []
    if config.pooling == "mean":
        if seq_len > 1:
            ops.append(elementwise_op("pool_sum", "add", sequences * (seq_len - 1) * d))
        ops.append(elementwise_op("pool_scale", "scale", sequences * d))
    if not config.dual_tower:
        return [*ops, linear_op("classifier", "dense", d, config.n_classes, batch)]
    return [
        *ops,
        elementwise_op("mul", "mul", batch * d),
        elementwise_op("sub", "sub", batch * d),
        linear_op("fc1", "dense", DUAL_FEATURES * d, d, batch),
        elementwise_op("relu", "relu", batch * d),
        linear_op("fc2", "dense", d, config.n_classes, batch),
    ]


def model_counts(config: HybridConfig, seq_len: int, batch: int = 1) -> ModelCounts:
    """Exact per-layer, per-op FLOPs and parameters of HybridTransformer(config) on (batch, seq_len) input."""
    if not isinstance(config, HybridConfig):
        raise SpecError("config", type(config).__name__, "a HybridConfig")
    check_int(
        "seq_len", seq_len, 1, config.max_len, allowed=f"an integer in 1..max_len = 1..{config.max_len}"
    )
    check_int("batch", batch, 1)
    sequences = batch * config.towers  # a dual tower encodes both inputs
    layers = [LayerCount("embed", "embed", "embed", tuple(embed_ops(config, sequences, seq_len)))]
    for i, kind in enumerate(config.block_kinds()):
        ops = tuple(block_ops(config, kind, sequences, seq_len))
        layers.append(LayerCount(f"layer{i}", kind, f"blocks.{i}", ops, index=i))
    layers.append(LayerCount("head", "head", "head", tuple(head_ops(config, batch, seq_len))))
    return ModelCounts(config, seq_len, batch, layers)
