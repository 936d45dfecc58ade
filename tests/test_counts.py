"""model_counts agrees with the real modules: parameters exactly (every preset, per layer and per op),
matmul FLOPs with torch's FlopCounterMode, butterfly ops with ButterflyLinear's own counts, and a tiny
network counted by hand."""

from __future__ import annotations

import json

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from swallowtail.errors import SpecError
from swallowtail.nn.config import HybridConfig, get_preset, list_presets
from swallowtail.nn.counts import MATMUL_KINDS, OP_KINDS, model_counts
from swallowtail.nn.fourier import FourierMixing
from swallowtail.nn.linear import ButterflyLinear
from swallowtail.nn.model import HybridTransformer

ROOT = "HybridTransformer"  # FlopCounterMode's name of the top module


def n_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def check_params(config: HybridConfig, model: HybridTransformer) -> None:
    counts = model_counts(config, config.max_len)
    assert counts.params == n_params(model)
    for layer in counts.layers:
        assert layer.params == n_params(model.get_submodule(layer.module)), layer.name
        for op in layer.ops:
            if op.params:
                assert op.params == n_params(model.get_submodule(f"{layer.module}.{op.name}")), op.name
            assert op.kind in OP_KINDS


def small(config: HybridConfig) -> HybridConfig:
    """The preset's structure (kinds, layout, pooling, towers) at a size that runs in milliseconds."""
    layers = min(config.n_layers, 3)
    return config.replace(
        n_layers=layers,
        attention_layers=min(config.attention_layers, layers),
        d_model=32,
        n_heads=2,
        d_ff=48,
        max_len=16,
        vocab_size=min(config.vocab_size, 40),
    )


@pytest.mark.parametrize("name", list(list_presets()))
def test_params_equal_modules_full_presets(name):
    """Every preset at full size, built on the meta device (no memory, no init cost)."""
    config = get_preset(name)
    with torch.device("meta"):
        model = HybridTransformer(config)
    check_params(config, model)


@pytest.mark.parametrize("name", list(list_presets()))
def test_small_presets_params_and_matmul_flops(name):
    config = small(get_preset(name))
    torch.manual_seed(0)
    model = HybridTransformer(config).eval()
    check_params(config, model)
    seq_len, batch = 16, 2
    x = torch.randint(1, config.vocab_size, (batch, seq_len))
    inputs = (x, x.flip(0)) if config.dual_tower else (x,)
    check_flops(model, inputs, model_counts(config, seq_len, batch))


def check_flops(model: HybridTransformer, inputs: tuple[torch.Tensor, ...], counts) -> None:
    """Dense matmuls: each nn.Linear and each attention's QK^T + SV against FlopCounterMode; every
    ButterflyLinear against its own flops(rows) and param_count."""
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(*inputs)
    measured = {k: sum(v.values()) for k, v in counter.get_flop_counts().items()}

    def at(path: str) -> int:
        return measured.get(f"{ROOT}.{path}", 0)

    all_dense = True
    for layer, op in counts.ops():
        path = f"{layer.module}.{op.name}"
        if op.kind == "linear":
            assert at(path) == op.matmul_flops, path
        elif op.kind in ("butterfly_linear", "monarch_linear"):
            all_dense = False
            module = model.get_submodule(path)
            assert isinstance(module, ButterflyLinear)
            assert module.flops(op.dims["rows"]) == op.flops, path
            assert module.param_count == op.params, path
        elif op.kind == "attention_scores":
            attn = f"{layer.module}.attn"
            scores_values = at(attn) - sum(at(f"{attn}.{p}") for p in ("q", "k", "v", "out"))
            values = next(o for o in layer.ops if o.kind == "attention_values")
            assert scores_values == op.matmul_flops + values.matmul_flops, attn
    if all_dense:  # nothing else multiplies matrices: the totals agree too (FFT is not counted by torch)
        assert counter.get_total_flops() == sum(op.matmul_flops for _, op in counts.ops())
        assert {op.kind for _, op in counts.ops() if op.matmul_flops} <= set(MATMUL_KINDS)


@pytest.mark.parametrize("a", [0, 1, 2, 3])
@pytest.mark.parametrize("layout", ["bottom", "top", "middle"])
def test_dense_network_matmul_flops_match_flop_counter(a, layout):
    config = HybridConfig(
        vocab_size=20, d_model=24, n_heads=3, d_ff=40, n_layers=3, max_len=12, n_classes=4,
        attention_layers=a, layout=layout, attention="dense", ffn="dense", dropout=0.0,
    )  # fmt: skip
    model = HybridTransformer(config).eval()
    check_flops(model, (torch.randint(0, 20, (3, 12)),), model_counts(config, 12, 3))


def test_continuous_input_and_dual_tower_flops():
    config = HybridConfig(
        input_dim=5, d_model=16, n_heads=2, d_ff=32, n_layers=2, max_len=8, n_classes=2,
        attention_layers=2, attention="dense", ffn="dense", dual_tower=True, pooling="mean", dropout=0.0,
    )  # fmt: skip
    model = HybridTransformer(config).eval()
    check_params(config, model)
    x = torch.randn(2, 8, 5)
    check_flops(model, (x, x + 1), model_counts(config, 8, 2))


def test_hand_counts_tiny_dense_network():
    """vocab 11, d 8, 2 heads (hs 4), d_ff 16, one dense block, max_len 8, 3 classes, mean pooling;
    batch B = 2, seq T = 4: rows = B*T = 8, B*nh = 4 attention matrices of 4 x 4."""
    config = HybridConfig(
        vocab_size=11, d_model=8, n_heads=2, d_ff=16, n_layers=1, max_len=8, n_classes=3,
        attention_layers=1, attention="dense", ffn="dense", pooling="mean",
    )  # fmt: skip
    c = model_counts(config, seq_len=4, batch=2)
    embed, block, head = (c.layer(n) for n in ("embed", "layer0", "head"))
    # embed: lookups 0; position add 8 rows x 8; LayerNorm 7 per element
    assert embed.flops == 8 * 8 + 7 * 8 * 8
    assert embed.params == 11 * 8 + 8 * 8 + 2 * 8
    # block: 4 projections (2*8*8*8 matmul + 8*8 bias), QK^T 2*4*(4*4*4), scale 4*4*4, softmax 5*4*4*4,
    # SV 2*4*(4*4*4), 2 residual adds 8*8, 2 LayerNorms 7*8*8, fc1 2*8*8*16 + 8*16, GELU 8*8*16,
    # fc2 2*8*16*8 + 8*8
    assert block.flops == (
        4 * (2 * 8 * 8 * 8 + 8 * 8)
        + 2 * 4 * 4 * 4 * 4
        + 4 * 4 * 4
        + 5 * 4 * 4 * 4
        + 2 * 4 * 4 * 4 * 4
        + 2 * 8 * 8
        + 2 * 7 * 8 * 8
        + (2 * 8 * 8 * 16 + 8 * 16)
        + 8 * 8 * 16
        + (2 * 8 * 16 * 8 + 8 * 8)
    )
    assert block.params == 4 * (8 * 8 + 8) + 2 * (2 * 8) + (8 * 16 + 16) + (16 * 8 + 8)
    # head: mean over 4 positions = 3 adds + 1 scale per feature per sequence; Linear(8, 3) on 2 rows
    assert head.flops == 2 * 3 * 8 + 2 * 8 + (2 * 2 * 8 * 3 + 2 * 3)
    assert head.params == 8 * 3 + 3
    assert c.flops == 12774 and c.params == 795
    assert c.flops == embed.flops + block.flops + head.flops


def test_fourier_and_butterfly_ops_use_module_counts():
    config = HybridConfig(
        vocab_size=11, d_model=8, n_heads=2, d_ff=16, n_layers=2, max_len=8, n_classes=3,
        attention_layers=1, layout="top", attention="butterfly", ffn="monarch",
    )  # fmt: skip
    c = model_counts(config, seq_len=8, batch=3)
    mix = next(op for op in c.layer("layer0").ops if op.kind == "fourier")
    assert mix.flops == FourierMixing().flops(8, 8, batch=3)
    kinds = [op.kind for op in c.layer("layer1").ops]
    assert kinds.count("butterfly_linear") == 4 and kinds.count("monarch_linear") == 2
    for _, op in c.ops():
        if op.kind in ("butterfly_linear", "monarch_linear"):
            kind = "butterfly" if op.kind == "butterfly_linear" else "monarch"
            module = ButterflyLinear(op.dims["in"], op.dims["out"], kind=kind)
            assert (op.params, op.flops) == (module.param_count, module.flops(op.dims["rows"]))


def test_counts_scale_with_batch_and_serialise():
    config = get_preset("lra-retrieval")
    one, four = model_counts(config, 1024), model_counts(config, 1024, batch=4)
    assert four.flops == 4 * one.flops and four.params == one.params
    assert [layer.name for layer in one.layers] == ["embed", *(f"layer{i}" for i in range(4)), "head"]
    d = json.loads(json.dumps(one.to_dict()))
    assert d["flops"] == one.flops and d["config"]["dual_tower"] is True
    assert sum(d["flops_by_kind"].values()) == one.flops


@pytest.mark.parametrize(("seq_len", "batch", "field"), [(4097, 1, "seq_len"), (0, 1, "seq_len"),
                                                         (2.0, 1, "seq_len"), (16, 0, "batch")])  # fmt: skip
def test_bad_counts_arguments_name_field(seq_len, batch, field):
    with pytest.raises(SpecError, match=rf"^{field} = ") as exc:
        model_counts(get_preset("lra-text"), seq_len, batch)
    assert exc.value.field == field
