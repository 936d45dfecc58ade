"""Lowering of a hybrid Transformer (a HybridConfig) at a sequence length and batch -> a Workload of ops.

The lowering walks the same structure as `swallowtail.nn.model.HybridTransformer` -- embedding, the blocks
of `config.block_kinds()`, the head -- and emits machine-level operators:

  ButterflyLinear (radix-2)  -> Butterfly(n, rows * nstacks)  [+ bias add]    (pad to n, nstacks copies)
  ButterflyLinear (monarch)  -> a Monarch op (R, regrouping, L) [+ bias add]
  nn.Linear                  -> GEMM(rows x in @ in x out)     [+ bias add]
  FourierMixing              -> FFT over hidden (real input) -> FFT over sequence (real part kept)
  attention                  -> Q/K/V projections, GEMM QK^T, scale, Softmax, GEMM SV, out projection
  LayerNorm / GELU / residual adds / pooling / classifier -> LayerNorm / Elementwise / GEMM

It is written independently of `swallowtail.nn.counts` and tested against it: per layer, the FLOPs must
agree exactly (one source of truth for what the network computes).
"""

from __future__ import annotations

from swallowtail.errors import check_int
from swallowtail.nn.config import DUAL_FEATURES, HybridConfig
from swallowtail.workload.emit import Emitter
from swallowtail.workload.graph import MAX_BATCH, Workload
from swallowtail.workload.ops import FFT, GEMM, Elementwise, LayerNorm, Softmax


def lower_hybrid(
    cfg: HybridConfig, seq_len: int, batch: int = 1, dtype: str = "fp16", label: str = "custom"
) -> Workload:
    """The Workload of one inference of `cfg` on `batch` inputs of `seq_len` tokens, named `label@L<T>`."""
    allowed = f"an integer in 1..max_len = 1..{cfg.max_len} for this model"
    check_int("seq_len", seq_len, 1, cfg.max_len, allowed=allowed)
    check_int("batch", batch, 1, MAX_BATCH)
    d, T = cfg.d_model, seq_len
    seqs = batch * cfg.towers  # a dual tower encodes both inputs as one batch
    rows = seqs * T
    e = Emitter(dtype)

    # ---- embedding: lookup (no arithmetic) or a dense input projection, + positions, LayerNorm -----------
    e.layer = e.prefix = "embed"
    if not cfg.token_input:
        e.linear("tok", "dense", cfg.input_dim, d, rows)  # type: ignore[arg-type]
    e.emit(Elementwise, "pos_add", op="add", numel=rows * d, weight=T * d)  # + positions used
    e.emit(LayerNorm, "ln", rows=rows, n=d)

    # ---- blocks (post-LN): x = LN(x + mix(x)); x = LN(x + FFN(x)) ----------------------------------------
    for i, kind in enumerate(cfg.block_kinds()):
        e.layer = e.prefix = f"layer{i}"
        x_in = e.last
        if kind == "fbfly":
            e.emit(FFT, "mix.fft_hidden", n=d, rows=rows, real_input=True)  # (B*T, d) over hidden
            e.emit(FFT, "mix.fft_seq", n=T, rows=seqs * d, real_output=True)  # (B*d, T) over sequence
        else:
            proj = "butterfly" if kind == "abfly" else "dense"
            heads, hs = seqs * cfg.n_heads, cfg.head_size
            q = e.linear("attn.q", proj, d, d, rows)
            e.last = x_in
            k = e.linear("attn.k", proj, d, d, rows)
            e.last = x_in
            v = e.linear("attn.v", proj, d, d, rows)
            e.emit(GEMM, "attn.scores", m=T, k=hs, n=T, batch=heads, deps=(q, k))  # (B*nh, T, T)
            e.emit(Elementwise, "attn.scale", op="scale", numel=heads * T * T)
            e.emit(Softmax, "attn.softmax", rows=heads * T, n=T)
            e.emit(GEMM, "attn.values", m=T, k=T, n=hs, batch=heads, deps=(e.last, v))  # (B*nh, T, hs)
            e.linear("attn.out", proj, d, d, rows)
        e.residual("res1", x_in, rows * d)
        h = e.emit(LayerNorm, "ln1", rows=rows, n=d)
        e.linear("ffn.fc1", cfg.ffn, d, cfg.d_ff, rows)
        e.emit(Elementwise, "ffn.gelu", op="gelu", numel=rows * cfg.d_ff)
        e.linear("ffn.fc2", cfg.ffn, cfg.d_ff, d, rows)
        e.residual("res2", h, rows * d)
        e.emit(LayerNorm, "ln2", rows=rows, n=d)

    # ---- head: pooling, classifier (dual tower: [u, v, u*v, u-v] -> MLP) --------------------------------
    e.layer = e.prefix = "head"
    if cfg.pooling == "mean":
        if T > 1:
            e.emit(Elementwise, "pool_sum", op="add", numel=seqs * (T - 1) * d)
        e.emit(Elementwise, "pool_scale", op="scale", numel=seqs * d)
    if cfg.dual_tower:
        pooled = e.last
        e.emit(Elementwise, "mul", op="mul", numel=batch * d, operands=2, deps=(pooled,))
        e.emit(Elementwise, "sub", op="add", numel=batch * d, operands=2, deps=(pooled,))
        e.linear("fc1", "dense", DUAL_FEATURES * d, d, batch)
        e.emit(Elementwise, "relu", op="relu", numel=batch * d)
        e.linear("fc2", "dense", d, cfg.n_classes, batch)
    else:
        e.linear("classifier", "dense", d, cfg.n_classes, batch)

    return Workload(
        name=f"{label}@L{T}" + (f"xB{batch}" if batch > 1 else ""),
        ops=tuple(e.ops),
        input_elems=rows * d,  # embedded tokens enter the array (the lookup itself is a gather)
        output_elems=batch * cfg.n_classes,
        elem_bytes=e.ops[0].elem_bytes,
        meta={"model": label, "seq_len": T, "batch": batch, "config": cfg.to_dict()},
    )


__all__ = ["lower_hybrid"]
