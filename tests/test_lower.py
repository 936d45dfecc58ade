"""Workload lowering agrees with swallowtail.nn's counts (one source of truth) and with FlopCounterMode."""

from __future__ import annotations

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from swallowtail.nn.config import get_preset, list_presets
from swallowtail.nn.counts import model_counts
from swallowtail.nn.model import HybridTransformer
from swallowtail.workload import GEMM, Butterfly, Monarch
from swallowtail.workload.lower import lower

LAYOUTS = ["bottom", "top", "middle", (0, 2)]


def _per_layer(cfg, seq_len, batch=1):
    w = lower(cfg, seq_len, batch)
    counts = model_counts(cfg, seq_len, batch)
    return w, w.flops_by_layer(), {layer.name: layer.flops for layer in counts.layers}


@pytest.mark.parametrize("preset", list_presets())
def test_lower_flops_equal_nn_counts_for_every_preset(preset: str) -> None:
    cfg = get_preset(preset)
    seq_len = min(cfg.max_len, 512)
    w, lowered, counted = _per_layer(cfg, seq_len)
    assert lowered == counted
    assert w.flops == model_counts(cfg, seq_len).flops


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("attention", ["butterfly", "dense"])
@pytest.mark.parametrize("ffn", ["butterfly", "monarch", "dense"])
@pytest.mark.parametrize("pooling", ["cls", "mean"])
def test_lower_flops_equal_nn_counts_for_every_layout(layout, attention, ffn, pooling) -> None:
    cfg = get_preset("lra-text").replace(
        n_layers=4, attention_layers=2, layout=layout, attention=attention, ffn=ffn, pooling=pooling
    )
    _, lowered, counted = _per_layer(cfg, 100, batch=2)
    assert lowered == counted


def test_dual_tower_and_continuous_input() -> None:
    cfg = get_preset("lra-retrieval")
    assert cfg.dual_tower
    _, lowered, counted = _per_layer(cfg, 256, batch=3)
    assert lowered == counted
    cont = get_preset("lra-image").replace(vocab_size=None, input_dim=3, pad_id=None)
    _, lowered, counted = _per_layer(cont, 64)
    assert lowered == counted


@pytest.mark.parametrize("ffn", ["dense", "monarch"])
def test_gemm_flops_equal_flop_counter_mode_on_the_real_model(ffn: str) -> None:
    """FlopCounterMode counts matmuls (2mkn): every GEMM the lowering emits (a Monarch op: its two
    block-diagonal bmm's), and nothing else."""
    cfg = get_preset("lra-text").replace(
        n_layers=3,
        d_model=64,
        n_heads=4,
        d_ff=128,
        attention_layers=2,
        attention="dense",
        ffn=ffn,
        dropout=0.0,
    )
    seq_len, batch = 48, 2
    model = HybridTransformer(cfg).eval()
    x = torch.randint(2, cfg.vocab_size, (batch, seq_len))
    with FlopCounterMode(display=False) as fc, torch.no_grad():
        model(x)
    w = lower(cfg, seq_len, batch)
    assert sum(op.flops for op in w.ops if isinstance(op, GEMM | Monarch)) == fc.get_total_flops()


def test_butterfly_linear_lowers_to_stacked_butterflies() -> None:
    cfg = get_preset("fabnet-base")
    w = lower(cfg, 128)
    fc1 = w.op("layer0.ffn.fc1")  # 768 -> 3072: pad to 1024, 3 stacks
    assert isinstance(fc1, Butterfly)
    assert (fc1.n, fc1.rows) == (1024, 128 * 3)
    fc2 = w.op("layer0.ffn.fc2")  # 3072 -> 768: pad to 4096, one stack, slice
    assert (fc2.n, fc2.rows) == (4096, 128)


def test_lower_errors_name_the_field() -> None:
    with pytest.raises(ValueError, match="seq_len"):
        lower("fabnet-base", 10**6)
    with pytest.raises(ValueError, match="batch"):
        lower("fabnet-base", 128, batch=0)
    with pytest.raises(ValueError, match="preset"):
        lower("no-such-model", 128)


def test_workload_is_deterministic_and_serialisable() -> None:
    a, b = lower("fabnet-large", 1024), lower("fabnet-large", 1024)
    assert a == b
    assert a.to_dict() == b.to_dict()
    assert a.compulsory_dram_bytes >= a.weight_bytes > 0
