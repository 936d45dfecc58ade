"""Decoder LLM workloads: the `llama` family, prefill and decode with a KV cache.

A Llama-style decoder layer (Touvron et al. 2023, "Llama 2: Open Foundation and Fine-Tuned Chat Models",
arXiv:2307.09288, section 2.2: the Llama 1 architecture -- pre-normalisation with RMSNorm, SwiGLU MLP,
rotary positions), lowered op by op on `rows` = batch x tokens vectors:

  attn_norm          RMSNorm -> LayerNorm(rows, d) (the typed op has no RMS variant; as the importer does:
                     7 FLOPs and 2 weights per element instead of about 4 and 1 -- 0.002% of the FLOPs)
  attn.q / .k / .v   dense GEMMs d -> d (no bias); in every variant (Monarch replaces the MLP only)
  attn.rope_q / _k   rotary positions, x cos + rotate_half(x) sin: an Elementwise affine (2 FLOPs per
                     element; the rotation is a permutation, free; the kernel's third FLOP -- 2 multiplies
                     and an add -- is not counted), the cos and sin rows of the positions used as its weight
  attn core          GEMM Q K^T, scale, Softmax, GEMM P V per head (`mixer`, below)
  attn.o             dense GEMM d -> d; res1: residual add
  mlp_norm           RMSNorm -> LayerNorm(rows, d)
  mlp.gate / .up     d -> d_ff, `mlp` = dense (a GEMM), monarch (a Monarch op: a Monarch ButterflyLinear,
                     `Emitter.linear(..., "monarch", ...)`, what `lower()` emits for ffn="monarch": input
                     padded to a power of two, ceil(d_ff / n) stacked copies) or bs16 / bs32 / bs64 (a
                     BlockSparseMatmul of that block size, flat block butterfly layout)
  mlp.silu, mlp.mul  SiLU(gate) -> Elementwise "gelu" (the special-function activation, 8 FLOPs per element;
                     the typed op has no SiLU kind; the importer does the same), times up (mul, 2 operands)
  mlp.down           d_ff -> d (as gate / up); res2: residual add
  head               final RMSNorm, the LM head GEMM d -> vocab (dense). The embedding is a gather: no op;
                     the embedded tokens are the workload's input.

Mixers (`mixer`):

- `causal`: token i attends to keys 0..i. Only the lower triangle with its diagonal is costed:
  T (T + 1) / 2 scores per head, as a dense product of T queries against ceil((T + 1) / 2) keys each (the
  average count; exact for odd T, T / 2 scores more for even T: relative 1 / (T + 1)). Q K^T and P V each
  cost 2 T ceil((T + 1) / 2) head_size FLOPs per head: half of full attention's 2 T^2 head_size, plus T.
- `swa`: causal sliding-window attention of `window` tokens (token i attends to max(0, i - w + 1)..i; as
  Mistral 7B, Jiang et al. 2023, arXiv:2310.06825). For T <= w it is `causal`; for T > w two dense parts:
  the first w queries as the causal triangle (w queries x ceil((w + 1) / 2) keys) and the other T - w
  queries against w keys each (`attn.band`). Beyond the window the cost grows linearly in T: (T - w) w.
- `fft`: chunked-FFT token mixing in place of attention: FNet's 2-D DFT (Lee-Thorp et al. 2022) per chunk
  of `chunk` tokens -- an FFT over the hidden axis (real input), then an FFT over the chunk's tokens (the
  real part kept); the last chunk is zero-padded (chunk: min(chunk, next power of two >= T)). A chunk mixes
  later tokens into earlier ones: it has no decode.

Prefill and decode (`new_tokens`):

- prefill (`new_tokens=0`): one forward pass over the `seq_len` prompt tokens (logits of every position, as
  the PyTorch module's forward). Its K and V (2 x layers x tokens x d per sequence) are written to the KV
  cache: they are part of the workload's output (`Workload.output_elems`, the compulsory DRAM bytes).
- decode (`new_tokens=N`): N steps after a prompt of `seq_len` tokens whose K and V are already in the
  cache. Step s (0-based) runs the whole network on one token per sequence: every weight GEMM has m = batch,
  and its weights are read again (a decoder's weights do not fit on chip: 13 GB at the 7B shape). The new
  token's K and V are appended to the cache (written: the workload's output), then its attention reads the
  cache: t = seq_len + s + 1 tokens (the new one included, as a paged-attention kernel reads it back after
  writing it), min(t, window) for `swa` (a rolling cache of w tokens). The cache is the B operand of the
  attention GEMMs (Q K^T: K, P V: V), a per-head operand in DRAM: `b_is_weight=True, shared_b=False`, so its
  bytes -- K and V of every layer and cached token in the workload's dtype -- are the ops' `weight_elems`,
  the compulsory DRAM bytes every backend costs. The traffic of step s is the weights plus
  2 x layers x batch x t_s x d elements: it grows linearly with the context, and N steps cost
  N x weights + 2 layers batch d (N seq_len + N (N + 1) / 2) elements of cache.

Shapes (`LLAMA_SHAPES`): Llama-2-7B (d 4096, 32 layers, 32 heads, vocabulary 32000: Touvron et al. 2023,
section 2.2 and Table 1 -- the same sizes as Llama 1 7B, Touvron et al. 2023a, Table 2; MLP 11008 = 8 d / 3
rounded up to a multiple of 256, `multiple_of` of the released code facebookresearch/llama model.py and the
released config's intermediate_size) and `small` (d 512, 8 layers, 8 heads, MLP 1376 = 8 d / 3 rounded up to a
multiple of 32, the 7B's vocabulary: an assumption, a fast stand-in of the same family).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

from swallowtail.errors import SpecError, check_choice, check_int
from swallowtail.flops import ceil_div, log2_exact, next_pow2
from swallowtail.workload.emit import Emitter
from swallowtail.workload.graph import MAX_BATCH, MAX_CONTEXT, Workload
from swallowtail.workload.ops import FFT, GEMM, Elementwise, LayerNorm, Softmax
from swallowtail.workload.structured import BlockSparseMatmul, block_layout


@dataclass(frozen=True)
class DecoderShape:
    """The sizes of a Llama-style decoder."""

    d_model: int
    n_layers: int
    n_heads: int
    d_ff: int
    vocab: int

    @property
    def head_size(self) -> int:
        return self.d_model // self.n_heads

    def params(self) -> int:
        """Llama's parameter count (embedding, per layer 4 d^2 + 3 d d_ff + 2 d norm scales, final norm, LM
        head): 6,738,415,616 at the 7B shape (the released model's count)."""
        d = self.d_model
        per_layer = 4 * d * d + 3 * d * self.d_ff + 2 * d
        return 2 * self.vocab * d + self.n_layers * per_layer + d


#: Llama-2-7B (Touvron et al. 2023, section 2.2 / Table 1; MLP 11008 from the released code and config)
LLAMA_7B = DecoderShape(d_model=4096, n_layers=32, n_heads=32, d_ff=11008, vocab=32000)
#: assumption: a small decoder of the same family (8 d / 3 MLP rounded up to a multiple of 32)
LLAMA_SMALL = DecoderShape(d_model=512, n_layers=8, n_heads=8, d_ff=1376, vocab=32000)
LLAMA_SHAPES = {"7b": LLAMA_7B, "small": LLAMA_SMALL}

#: block-sparse MLPs: name -> block size (MLX evaluates blocks of 16, 32 and 64); the layout is the flat block
#: butterfly of Pixelated Butterfly (Chen et al. 2022): log2(block rows) + 1 nonzero blocks per block column
BLOCK_SPARSE_MLPS = {"bs16": 16, "bs32": 32, "bs64": 64}
MLPS = ("dense", "monarch", *BLOCK_SPARSE_MLPS)
MIXERS = ("causal", "swa", "fft")
#: assumption: the sliding window, 512 tokens (a quarter of the 2048-token prefill; Mistral 7B's 4096 would
#: be plain causal attention at every prefill length up to Llama 2's 4096-token context)
SWA_WINDOW = 512
#: assumption: tokens per chunk of the chunked-FFT mixer
FFT_CHUNK = 256
#: assumption: the prompt length of a prefill when none is given (the issue's 2048-token prefill; Llama 2's
#: context is 4096 tokens, Touvron et al. 2023, section 2.2)
PREFILL_SEQ_LEN = 2048
#: assumption: tokens a `@decode` name generates (`@decode<N>`: N): enough to show the cache's growth, few
#: enough to simulate the 7B shape in seconds (every step's attention is its own shape)
DECODE_TOKENS = 32
#: a decode name: the prefill name + this (+ N)
DECODE_SUFFIX = "@decode"


def _mlp_linear(e: Emitter, local: str, mlp: str, d_in: int, d_out: int, rows: int) -> str:
    """An MLP projection (no bias): dense / monarch as `Emitter.linear`; bs<B>: a BlockSparseMatmul of
    B x B blocks in the flat block butterfly layout (`structured.block_layout`)."""
    if mlp in BLOCK_SPARSE_MLPS:
        block = BLOCK_SPARSE_MLPS[mlp]
        blocks = block_layout("butterfly", d_in, d_out, block)
        return e.emit(
            BlockSparseMatmul, local, m=rows, k=d_in, n=d_out, block=block, blocks=blocks, pattern="butterfly"
        )
    return e.linear(local, mlp, d_in, d_out, rows, bias=False)


def _attention(
    e: Emitter, q: str, k: str, v: str, parts: list[tuple[str, int, int]], heads: int, hs: int, cache: bool
) -> list[str]:
    """The attention core per part (tag, queries, keys): scores, scale, softmax, values; `cache`: K and V
    come from the KV cache in DRAM (a per-head B operand: the GEMMs' weight elements)."""
    outs = []
    for tag, m, n in parts:
        b = {"b_is_weight": True, "shared_b": False} if cache else {}
        e.emit(GEMM, f"{tag}.scores", m=m, k=hs, n=n, batch=heads, deps=(q, k), **b)
        e.emit(Elementwise, f"{tag}.scale", op="scale", numel=heads * m * n)
        e.emit(Softmax, f"{tag}.softmax", rows=heads * m, n=n)
        outs.append(e.emit(GEMM, f"{tag}.values", m=m, k=n, n=hs, batch=heads, deps=(e.last, v), **b))
    return outs


def causal_keys(queries: int) -> int:
    """Keys per query of causal attention over `queries` tokens, as costed: ceil((T + 1) / 2)."""
    return ceil_div(queries + 1, 2)


def attention_parts(seq_len: int, mixer: str, window: int) -> list[tuple[str, int, int]]:
    """The prefill attention as dense parts (tag, queries, keys) (module docstring)."""
    if mixer == "swa" and seq_len > window:
        return [("attn", window, causal_keys(window)), ("attn.band", seq_len - window, window)]
    return [("attn", seq_len, causal_keys(seq_len))]


def _layer(
    e: Emitter,
    shape: DecoderShape,
    rows: int,
    seqs: int,
    tokens: int,
    mlp: str,
    mixer: str,
    parts: list[tuple[str, int, int]],
    chunk: int,
    cache: bool,
) -> None:
    """One decoder layer over `rows` = `seqs` x `tokens` vectors (tokens: 1 in a decode step)."""
    d, hs = shape.d_model, shape.head_size
    x_in = e.last
    h = e.emit(LayerNorm, "attn_norm", rows=rows, n=d)
    if mixer == "fft":
        e.emit(FFT, "mix.fft_hidden", n=d, rows=rows, real_input=True)
        n_chunks = ceil_div(tokens, chunk)
        e.emit(FFT, "mix.fft_seq", n=chunk, rows=seqs * n_chunks * d, real_output=True)
    else:
        # RoPE tables: the cos and sin rows of the positions used (all T in prefill, one in a decode step)
        rope = 2 * (1 if cache else tokens) * hs
        e.linear("attn.q", "dense", d, d, rows, bias=False)
        q = e.emit(Elementwise, "attn.rope_q", op="affine", numel=rows * d, weight=rope)
        e.last = h
        e.linear("attn.k", "dense", d, d, rows, bias=False)
        k = e.emit(Elementwise, "attn.rope_k", op="affine", numel=rows * d, weight=rope)
        e.last = h
        v = e.linear("attn.v", "dense", d, d, rows, bias=False)
        outs = _attention(e, q, k, v, parts, seqs * shape.n_heads, hs, cache)
        e.last = None
        e.emit(GEMM, "attn.o", m=rows, k=d, n=d, b_is_weight=True, deps=tuple(outs))
    e.residual("res1", x_in, rows * d)
    x_mid = e.last
    h = e.emit(LayerNorm, "mlp_norm", rows=rows, n=d)
    _mlp_linear(e, "mlp.gate", mlp, d, shape.d_ff, rows)
    silu = e.emit(Elementwise, "mlp.silu", op="gelu", numel=rows * shape.d_ff)
    e.last = h
    up = _mlp_linear(e, "mlp.up", mlp, d, shape.d_ff, rows)
    e.emit(Elementwise, "mlp.mul", op="mul", numel=rows * shape.d_ff, operands=2, deps=(silu, up))
    _mlp_linear(e, "mlp.down", mlp, shape.d_ff, d, rows)
    e.residual("res2", x_mid, rows * d)


def _head(e: Emitter, shape: DecoderShape, rows: int) -> None:
    e.emit(LayerNorm, "norm", rows=rows, n=shape.d_model)
    e.linear("lm_head", "dense", shape.d_model, shape.vocab, rows, bias=False)


def _check_args(
    seq_len: int, batch: int, new_tokens: int, mlp: str, mixer: str, window: int, chunk: int
) -> None:
    """A SpecError naming the first argument of `llama` out of its range."""
    check_int("seq_len", seq_len, 1, MAX_CONTEXT)
    check_int("batch", batch, 1, MAX_BATCH)
    check_int(
        "new_tokens",
        new_tokens,
        0,
        MAX_CONTEXT - seq_len,
        f"an integer in [0, {MAX_CONTEXT - seq_len:,}]: the prompt ({seq_len:,} tokens) and the new tokens "
        f"fit a context of at most {MAX_CONTEXT:,} tokens",
    )
    check_choice("mlp", mlp, MLPS)
    check_choice("mixer", mixer, MIXERS)
    check_int("window", window, 1)
    check_int("chunk", chunk, 1)
    try:
        log2_exact(chunk)
    except ValueError:
        raise SpecError("chunk", chunk, "a power of two (an FFT length)") from None
    if mixer == "fft" and new_tokens:
        raise SpecError(
            "new_tokens",
            new_tokens,
            "0 for mixer='fft': a chunk mixes later tokens into earlier ones (no decode)",
        )


def _prefill(
    e: Emitter, shape: DecoderShape, seq_len: int, batch: int, mlp: str, mixer: str, window: int, chunk: int
) -> tuple[int, int, int, int]:
    """The prefill's ops into `e`; (tokens in, logits, K / V elements written, K / V elements read)."""
    d, L = shape.d_model, shape.n_layers
    rows = batch * seq_len
    parts = attention_parts(seq_len, mixer, window)
    for i in range(L):
        e.layer = e.prefix = f"layer{i}"
        _layer(e, shape, rows, batch, seq_len, mlp, mixer, parts, chunk, cache=False)
    e.layer = e.prefix = "head"
    _head(e, shape, rows)
    return rows, rows * shape.vocab, 0 if mixer == "fft" else 2 * L * rows * d, 0


def _decode(
    e: Emitter,
    shape: DecoderShape,
    seq_len: int,
    batch: int,
    mlp: str,
    mixer: str,
    window: int,
    chunk: int,
    steps: int,
) -> tuple[int, int, int, int]:
    """`steps` decode steps after a `seq_len`-token prompt, into `e`; (tokens in, logits, K / V elements
    written, K / V elements read)."""
    d, L = shape.d_model, shape.n_layers
    kv_read = 0
    for s in range(steps):
        t = seq_len + s + 1  # tokens in the cache when step s attends (its own included)
        keys = min(t, window) if mixer == "swa" else t
        kv_read += 2 * L * batch * keys * d
        for i in range(L):
            e.layer, e.prefix = f"layer{i}", f"layer{i}.step{s}"
            _layer(e, shape, batch, batch, 1, mlp, mixer, [("attn", 1, keys)], chunk, cache=True)
        e.layer, e.prefix = "head", f"head.step{s}"
        _head(e, shape, batch)
    tokens_in = batch * steps
    return tokens_in, tokens_in * shape.vocab, 2 * L * tokens_in * d, kv_read


def llama(
    shape: DecoderShape,
    seq_len: int = PREFILL_SEQ_LEN,
    batch: int = 1,
    dtype: str = "fp16",
    *,
    mlp: str = "dense",
    mixer: str = "causal",
    window: int = SWA_WINDOW,
    chunk: int = FFT_CHUNK,
    new_tokens: int = 0,
    label: str = "llama",
) -> Workload:
    """A Llama-style decoder of `shape` on `batch` sequences: the prefill of `seq_len` prompt tokens
    (`new_tokens=0`), or the decode of `new_tokens` tokens after a prompt of `seq_len` tokens in the KV
    cache. `mlp`: one of MLPS; `mixer`: causal | swa (a `window` of tokens) | fft (chunks of `chunk`
    tokens, a power of two; prefill only). Named `label@L<seq_len>[xB<batch>]` (module docstring)."""
    _check_args(seq_len, batch, new_tokens, mlp, mixer, window, chunk)
    d, L = shape.d_model, shape.n_layers
    e = Emitter(dtype)
    if not new_tokens:
        chunk = min(chunk, next_pow2(seq_len))
        counts = _prefill(e, shape, seq_len, batch, mlp, mixer, window, chunk)
    else:
        counts = _decode(e, shape, seq_len, batch, mlp, mixer, window, chunk, new_tokens)
    tokens_in, logits, kv_written, kv_read = counts
    elem = e.ops[0].elem_bytes
    return Workload(
        name=f"{label}@L{seq_len}" + (f"xB{batch}" if batch > 1 else ""),
        ops=tuple(e.ops),
        input_elems=tokens_in * d,  # embedded tokens (the lookup is a gather)
        output_elems=logits + kv_written,  # logits and the K / V appended to the cache
        elem_bytes=elem,
        meta={
            "model": label,
            "seq_len": seq_len,
            "batch": batch,
            "phase": "decode" if new_tokens else "prefill",
            "new_tokens": new_tokens,
            "mlp": mlp,
            "mixer": mixer,
            "window": window if mixer == "swa" else None,
            "chunk": chunk if mixer == "fft" else None,
            "kv_cache_read_bytes": kv_read * elem,
            "kv_cache_written_bytes": kv_written * elem,
            "decoder": {
                "d_model": d,
                "n_layers": L,
                "n_heads": shape.n_heads,
                "d_ff": shape.d_ff,
                "vocab": shape.vocab,
            },
        },
    )


@dataclass(frozen=True)
class LlamaVariant:
    """A registered member of the family: its shape, MLP and mixer."""

    name: str
    size: str
    mlp: str
    mixer: str

    def builder(self, new_tokens: int = 0, name: str | None = None):
        """builder(seq_len=..., batch=..., dtype=...) -> Workload: the prefill, or a decode of new_tokens."""
        return partial(
            llama,
            LLAMA_SHAPES[self.size],
            mlp=self.mlp,
            mixer=self.mixer,
            new_tokens=new_tokens,
            label=name or self.name,
        )

    def describe(self, new_tokens: int = 0) -> str:
        s = LLAMA_SHAPES[self.size]
        size = "Llama-2-7B shape (Touvron et al. 2023)" if self.size == "7b" else "small Llama (assumption)"
        mixer = {
            "causal": "causal attention",
            "swa": f"sliding-window attention ({SWA_WINDOW} tokens)",
            "fft": f"chunked-FFT mixing ({FFT_CHUNK} tokens)",
        }[self.mixer]
        phase = f"decode of {new_tokens} tokens, KV cache" if new_tokens else "prefill"
        return (
            f"{size}: {s.n_layers} x {s.d_model} / {s.d_ff}, {s.n_heads} heads, {self.mlp} SiLU-gated MLP, "
            f"{mixer}; {phase}"
        )


def _mlp_fits(shape: DecoderShape, mlp: str) -> bool:
    """A block-sparse MLP needs d and d_ff to be multiples of its block (llama-small's 1376 is not of 64)."""
    block = BLOCK_SPARSE_MLPS.get(mlp, 1)
    return shape.d_model % block == 0 and shape.d_ff % block == 0


#: the registered variants: llama-<size>[-monarch | -bs16 | -bs32 | -bs64][-swa | -fft]
LLAMA_VARIANTS = {
    v.name: v
    for v in (
        LlamaVariant(
            f"llama-{size}" + ("" if mlp == "dense" else f"-{mlp}") + ("" if mix == "causal" else f"-{mix}"),
            size,
            mlp,
            mix,
        )
        for size in LLAMA_SHAPES
        for mlp in MLPS
        for mix in MIXERS
        if _mlp_fits(LLAMA_SHAPES[size], mlp)
    )
}


#: most tokens a decode name may generate (every step is lowered as its own ops: 1,024 take ~10 s)
MAX_DECODE_TOKENS = 1024


def parse_decode_name(name: str) -> tuple[LlamaVariant, int] | None:
    """`<variant>@decode` (DECODE_TOKENS new tokens) or `<variant>@decode<N>` -> (variant, N); None if
    `name` is no decode name; SpecError for a variant that has no decode (chunked-FFT mixing)."""
    base, sep, count = name.partition(DECODE_SUFFIX)
    variant = LLAMA_VARIANTS.get(base)
    if not sep or variant is None:
        return None
    if variant.mixer == "fft":
        raise SpecError("workload", name, f"{base} without {DECODE_SUFFIX}: chunked-FFT mixing has no decode")
    if count == "":
        return variant, DECODE_TOKENS
    if count.isascii() and count.isdigit() and not count.startswith("0"):
        n = int(count)
        if n > MAX_DECODE_TOKENS:  # each token is its own ops: a huge N would take minutes to lower
            raise SpecError("workload", name, f"at most {MAX_DECODE_TOKENS} decode tokens ({base}@decode<N>)")
        return variant, n
    return None


__all__ = [
    "DECODE_SUFFIX",
    "DECODE_TOKENS",
    "MAX_DECODE_TOKENS",
    "FFT_CHUNK",
    "LLAMA_7B",
    "LLAMA_SHAPES",
    "LLAMA_SMALL",
    "LLAMA_VARIANTS",
    "PREFILL_SEQ_LEN",
    "SWA_WINDOW",
    "DecoderShape",
    "LlamaVariant",
    "attention_parts",
    "causal_keys",
    "llama",
    "parse_decode_name",
]
