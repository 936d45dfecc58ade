"""Decoder workloads (`swallowtail.workload.decoder`): the llama family's sizes, FLOPs and parameters, causal
and sliding-window attention costs, the KV cache's DRAM traffic in decode, the registry's names, and every
backend running a small decoder's prefill and decode."""

from __future__ import annotations

import importlib.util
import json
import math
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from swallowtail.backends import get_backend, list_backends
from swallowtail.cli import app
from swallowtail.errors import SpecError
from swallowtail.nn.sizes import linear_counts
from swallowtail.workload.decoder import (
    DECODE_TOKENS,
    LLAMA_7B,
    LLAMA_SMALL,
    LLAMA_VARIANTS,
    DecoderShape,
    causal_keys,
    llama,
)
from swallowtail.workload.graph import Workload
from swallowtail.workload.lower import lower
from swallowtail.workload.named import NAMED_WORKLOADS, get_named_workload
from swallowtail.workload.ops import FFT, GEMM, LayerNorm
from swallowtail.workload.structured import BlockSparseMatmul, Monarch

ROOT = Path(__file__).resolve().parents[1]
#: Llama-2-7B's parameter count (the released checkpoint: 6,738,415,616, "6.7B" in Touvron et al. 2023)
LLAMA2_7B_PARAMS = 6_738_415_616


def _attention_flops(w: Workload) -> int:
    """FLOPs of the attention GEMMs (Q K^T and P V)."""
    return sum(o.flops for o in w if isinstance(o, GEMM) and o.name.endswith((".scores", ".values")))


def _kv_elems(w: Workload) -> int:
    """Elements the attention GEMMs read from the KV cache (their B operands in DRAM)."""
    return sum(o.weight_elems for o in w if isinstance(o, GEMM) and o.name.endswith((".scores", ".values")))


# ---- sizes, parameters, FLOPs ------------------------------------------------------------------------------
def test_7b_parameter_count_from_the_ops() -> None:
    w = llama(LLAMA_7B, 128)
    s = LLAMA_7B
    linear = sum(o.weight_elems for o in w if isinstance(o, GEMM) and o.b_is_weight)
    norms = sum(o.weight_elems for o in w if isinstance(o, LayerNorm)) // 2  # RMSNorm: a scale, no shift
    embedding = s.vocab * s.d_model  # a gather: the embedded tokens are the workload's input
    assert linear + norms + embedding == s.params() == LLAMA2_7B_PARAMS
    assert linear == 6_607_077_376  # every linear layer's weight (the 32 layers and the LM head)
    assert math.isclose(linear + embedding, 6.7e9, rel_tol=0.01)


@pytest.mark.parametrize(("shape", "seq_len", "tol"), [(LLAMA_7B, 2048, 0.002), (LLAMA_SMALL, 256, 0.005)])
def test_prefill_flops_are_2_params_tokens_plus_attention(
    shape: DecoderShape, seq_len: int, tol: float
) -> None:
    """2 x (parameters but the embedding) x tokens + causal attention (Q K^T and P V: 2 x 2 T ceil((T + 1) /
    2) d per layer), within `tol` (the rest: norms, RoPE, SiLU, softmax, residual adds)."""
    w = llama(shape, seq_len)
    params = shape.params() - shape.vocab * shape.d_model
    attention = 4 * shape.n_layers * shape.d_model * seq_len * causal_keys(seq_len)
    assert _attention_flops(w) == attention
    assert 0 < w.flops / (2 * params * seq_len + attention) - 1 < tol
    if shape is LLAMA_7B:  # the rule of thumb with every parameter: within 2.5%
        assert abs(w.flops / (2 * shape.params() * seq_len) - 1) < 0.025


def test_the_named_decoder_is_the_example_model() -> None:
    """examples/llama_decoder.py (plain PyTorch) imported at the small shape: the same linear layers, op for
    op; only the attention core differs (the importer costs causal attention as full)."""
    torch = pytest.importorskip("torch")
    from swallowtail.importer import from_torch

    spec = importlib.util.spec_from_file_location(
        "example_llama_decoder", ROOT / "examples" / "llama_decoder.py"
    )
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    shape = DecoderShape(d_model=512, n_layers=2, n_heads=8, d_ff=1376, vocab=32000)
    with torch.device("meta"):
        model = mod.build(d=512, heads=8, layers=2, d_ff=1376, vocab=32000)
    imported = from_torch(model, torch.ones(1, 32, dtype=torch.long))
    ours = llama(shape, 32)

    def linears(w: Workload) -> list[str]:
        return sorted(o.describe() for o in w if isinstance(o, GEMM) and o.b_is_weight)

    assert linears(imported) == linears(ours)
    full = _attention_flops(imported)
    assert _attention_flops(ours) == full * causal_keys(32) // 32


def test_monarch_mlp_is_what_lower_emits_for_a_monarch_ffn() -> None:
    s, T = LLAMA_SMALL, 64
    w = llama(s, T, mlp="monarch")
    gate = [o for o in w if o.name == "layer0.mlp.gate"]
    assert len(gate) == 1 and isinstance(gate[0], Monarch)
    for proj, d_in, d_out in (
        ("gate", s.d_model, s.d_ff),
        ("up", s.d_model, s.d_ff),
        ("down", s.d_ff, s.d_model),
    ):
        (op,) = [o for o in w if o.name == f"layer0.mlp.{proj}"]
        c = linear_counts(d_in, d_out, kind="monarch", bias=False)
        assert op.flops == c.flops_per_row * T
        assert op.weight_elems == c.params
    dense = llama(s, T)
    assert w.flops < dense.flops and w.weight_bytes < dense.weight_bytes


@pytest.mark.parametrize("mlp", ["bs16", "bs32", "bs64"])
def test_block_sparse_mlps(mlp: str) -> None:
    """bs<B>: every MLP projection a BlockSparseMatmul of B x B blocks (flat block butterfly): FLOPs and
    weights those of its nonzero blocks; registered where the block divides d and d_ff."""
    s, T = LLAMA_7B, 16
    w = llama(s, T, mlp=mlp)
    block = int(mlp[2:])
    projs = [o for o in w if o.name.startswith("layer0.mlp.") and isinstance(o, BlockSparseMatmul)]
    assert [o.name for o in projs] == ["layer0.mlp.gate", "layer0.mlp.up", "layer0.mlp.down"]
    for o in projs:
        assert o.block == block and o.flops == 2 * T * block * block * len(o.blocks)
        assert o.weight_elems < o.k * o.n / 4
    assert f"llama-7b-{mlp}" in LLAMA_VARIANTS and f"llama-7b-{mlp}-swa" in LLAMA_VARIANTS
    assert ("llama-small-bs64" in LLAMA_VARIANTS) == (LLAMA_SMALL.d_ff % 64 == 0)
    assert w.flops < llama(s, T).flops


# ---- attention variants ---------------------------------------------------------------------------------
@pytest.mark.parametrize("seq_len", [63, 64, 512])
def test_causal_attention_costs_about_half_of_full(seq_len: int) -> None:
    s = LLAMA_SMALL
    w = llama(s, seq_len)
    full = 4 * s.n_layers * s.d_model * seq_len * seq_len  # Q K^T and P V over T x T per head
    causal = _attention_flops(w)
    assert causal == full * causal_keys(seq_len) // seq_len
    assert 0.5 <= causal / full <= 0.5 + 1 / seq_len
    triangle = seq_len * (seq_len + 1) // 2  # scores with key <= query: exact for odd T, + T / 2 for even T
    assert causal == 4 * s.n_layers * s.d_model * (triangle + (seq_len // 2 if seq_len % 2 == 0 else 0))


def test_sliding_window_grows_linearly_beyond_the_window() -> None:
    s, win = LLAMA_SMALL, 64
    cost = {T: _attention_flops(llama(s, T, mixer="swa", window=win)) for T in (32, 64, 128, 192, 256, 512)}
    for T in (32, 64):  # within the window: causal attention
        assert cost[T] == _attention_flops(llama(s, T))
    per_token = 4 * s.n_layers * s.d_model * win  # each query beyond the window: w keys
    for T in (128, 192, 256, 512):
        assert cost[T] - cost[64] == (T - win) * per_token
    assert cost[512] < _attention_flops(llama(s, 512)) / 3


def test_chunked_fft_mixing() -> None:
    s = LLAMA_SMALL
    w = llama(s, 1000, mixer="fft", chunk=256)
    ffts = [o for o in w if isinstance(o, FFT) and o.layer == "layer0"]
    assert [(o.n, o.rows, o.real_input, o.real_output) for o in ffts] == [
        (512, 1000, True, False),  # over the hidden axis, every token
        (256, 4 * 512, False, True),  # over the tokens of each chunk (4 chunks, the last zero-padded)
    ]
    assert not any(o.name.endswith(".scores") for o in w)
    assert llama(s, 100, mixer="fft", chunk=256).meta["chunk"] == 128  # a prompt shorter than a chunk
    with pytest.raises(SpecError, match="chunk"):
        llama(s, 64, mixer="fft", chunk=100)
    with pytest.raises(SpecError, match="no decode"):
        llama(s, 64, mixer="fft", new_tokens=2)


# ---- decode and the KV cache ------------------------------------------------------------------------------
def _decode_bytes(shape: DecoderShape, prompt: int, n: int, batch: int = 1) -> int:
    """The closed form: n steps, each reading every weight and writing its logits and K / V, plus the cache
    reads: 2 x layers x batch x d elements per cached token, prompt + s + 1 tokens at step s."""
    d, L = shape.d_model, shape.n_layers
    step = llama(shape, prompt, batch, new_tokens=1)
    kv_step0 = 2 * L * batch * (prompt + 1) * d
    per_step = step.compulsory_dram_bytes - kv_step0 * 2  # fp16: weights, input token, logits, K / V written
    kv = 2 * L * batch * d * (n * prompt + n * (n + 1) // 2)
    return n * per_step + kv * 2


@pytest.mark.parametrize("batch", [1, 2])
def test_decode_traffic_grows_linearly_with_generated_tokens(batch: int) -> None:
    s, prompt, n = LLAMA_SMALL, 48, 3
    w1, w2 = (llama(s, prompt, batch, new_tokens=k) for k in (n, 2 * n))
    for k, w in ((n, w1), (2 * n, w2)):
        assert w.compulsory_dram_bytes == _decode_bytes(s, prompt, k, batch)
        assert _kv_elems(w) * 2 == w.meta["kv_cache_read_bytes"]
        assert w.meta["kv_cache_read_bytes"] == 2 * 2 * s.n_layers * batch * s.d_model * (
            k * prompt + k * (k + 1) // 2
        )
    # the weights are read once per generated token: exactly twice for twice the tokens
    assert w2.weight_bytes - _kv_elems(w2) * 2 == 2 * (w1.weight_bytes - _kv_elems(w1) * 2)
    # the cache read per step grows by one token's K and V per step: 2N tokens cost 2x + N^2 tokens more
    kv_token = 2 * s.n_layers * batch * s.d_model
    assert _kv_elems(w2) - 2 * _kv_elems(w1) == kv_token * n * n
    # every weight GEMM has m = batch; the attention GEMMs read the cache (one query per sequence and head)
    weights = [o for o in w1 if isinstance(o, GEMM) and not o.name.endswith((".scores", ".values"))]
    assert weights and all(o.m == batch and o.shared_b for o in weights)
    attn = [o for o in w1 if isinstance(o, GEMM) and o.name.endswith(".scores")]
    assert [o.n for o in attn[:: s.n_layers][:n]] == [prompt + 1, prompt + 2, prompt + 3][:n]
    assert all(o.m == 1 and o.batch == batch * s.n_heads and o.b_is_weight and not o.shared_b for o in attn)


def test_sliding_window_decode_reads_a_rolling_cache() -> None:
    s, win = LLAMA_SMALL, 32
    w1, w2 = (llama(s, 64, mixer="swa", window=win, new_tokens=k) for k in (2, 4))
    assert w2.compulsory_dram_bytes == 2 * w1.compulsory_dram_bytes  # exactly linear: w keys every step
    assert _kv_elems(w1) == 2 * 2 * s.n_layers * s.d_model * win


def test_prefill_writes_the_cache() -> None:
    s, T = LLAMA_SMALL, 64
    w = llama(s, T)
    kv = 2 * s.n_layers * T * s.d_model
    assert w.output_elems == T * s.vocab + kv and w.meta["kv_cache_written_bytes"] == 2 * kv
    assert w.input_elems == T * s.d_model and w.meta["phase"] == "prefill"


# ---- the registry and the CLI ---------------------------------------------------------------------------
def test_names() -> None:
    for name in ("llama-7b", "llama-7b-monarch", "llama-7b-swa", "llama-small", "llama-small-monarch"):
        assert name in NAMED_WORKLOADS and name + "@decode" in NAMED_WORKLOADS
    assert "llama-small-fft" in NAMED_WORKLOADS and "llama-small-fft@decode" not in NAMED_WORKLOADS
    assert len(LLAMA_VARIANTS) == 2 * 5 * 3 - 3  # sizes x MLPs x mixers; llama-small has no bs64 (1376)
    w = lower("llama-small-monarch-swa", 96, batch=2)
    assert w.name == "llama-small-monarch-swa@L96xB2" and w.meta["mlp"] == "monarch" and w.meta["window"]
    d = lower("llama-small@decode", 16)
    assert d.name == "llama-small@decode@L16" and d.meta["new_tokens"] == DECODE_TOKENS
    assert lower("llama-small@decode3", 16) == llama(
        LLAMA_SMALL, 16, new_tokens=3, label="llama-small@decode3"
    )
    assert get_named_workload("llama-7b").default_seq_len == 2048
    with pytest.raises(SpecError, match="no decode"):
        lower("llama-small-fft@decode2", 16)
    for bad in ("llama-small@decode0", "llama-small@decodex", "llama-huge@decode"):
        with pytest.raises(SpecError, match="not allowed"):
            lower(bad, 16)


def test_cli_show_and_simulate() -> None:
    runner = CliRunner()
    r = runner.invoke(app, ["workload", "show", "llama-small@decode2", "--seq-len", "16", "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert d["name"] == "llama-small@decode2@L16" and d["meta"]["kv_cache_read_bytes"] > 0
    r = runner.invoke(app, ["simulate", "--model", "llama-small-monarch", "--seq-len", "32", "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["workload"] == "llama-small-monarch@L32"
    r = runner.invoke(
        app, ["baseline", "--target", "sanger", "--model", "llama-small@decode1", "-L", "16", "--json"]
    )
    assert r.exit_code == 0, r.output


@pytest.mark.parametrize("backend", list_backends())
def test_every_backend_runs_prefill_and_decode(backend: str) -> None:
    swa = llama(LLAMA_SMALL, 48, mlp="monarch", mixer="swa", window=16)  # two attention parts per layer
    for w in (swa, lower("llama-small-fft", 48), lower("llama-small@decode2", 48)):
        r = get_backend(backend).run(w)
        assert r.latency_s > 0 and math.isfinite(r.latency_s), (backend, w.name)
        assert r.useful_ops == w.flops


def test_spatten_costs_causal_and_windowed_attention_as_lowered() -> None:
    """SpAtten's attention block uses the scores' key count (not T x T), and prunes tokens once per layer
    (a sliding window's two attention parts are one layer)."""
    sp = get_backend("spatten", token_keep_per_attention_layer=0.5, head_keep=1.0)
    T, win = 512, 256
    rc, rs = sp.run(llama(LLAMA_SMALL, T)), sp.run(llama(LLAMA_SMALL, T, mixer="swa", window=win))
    causal, swa = ({o.name: o.latency_s for o in r.ops} for r in (rc, rs))
    for op in ("layer0.mlp.down", "layer3.mlp.down", "head.lm_head"):  # the same tokens kept after each layer
        assert causal[op] == swa[op]
    # T queries x ceil((T + 1) / 2) keys vs (T - w) queries x w keys (the band), each halved by the pruning
    ratio = swa["layer0.attn.band.scores"] / causal["layer0.attn.scores"]
    assert ratio == pytest.approx((T - win) * win / (T * causal_keys(T)), rel=0.02)


def test_a_decode_name_is_bounded_before_any_lowering():
    # every generated token is lowered as its own ops: 10^9 of them hung `workload show`
    from swallowtail.errors import SpecError
    from swallowtail.workload.decoder import MAX_DECODE_TOKENS
    from swallowtail.workload.lower import lower

    with pytest.raises(SpecError, match="decode tokens"):
        lower(f"llama-small@decode{MAX_DECODE_TOKENS + 1}", 16)
