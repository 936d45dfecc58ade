"""HybridConfig, presets and HybridTransformer: every layout / kind runs forward and backward, dual tower,
padding, fp16 emulation, and each bad input raises a ValueError that names its field."""

from __future__ import annotations

import itertools

import pytest
import torch

from swallowtail.errors import SpecError
from swallowtail.nn.blocks import ABflyBlock, DenseBlock, FBflyBlock
from swallowtail.nn.config import HybridConfig, get_preset, list_presets
from swallowtail.nn.model import HybridTransformer
from swallowtail.nn.precision import round_fp16

VOCAB, D, HEADS, D_FF, LAYERS, MAX_LEN, CLASSES = 13, 16, 2, 32, 3, 16, 3
SEQ, BATCH = 8, 2


def tiny(**kw) -> HybridConfig:
    base = dict(
        vocab_size=VOCAB,
        d_model=D,
        n_heads=HEADS,
        d_ff=D_FF,
        n_layers=LAYERS,
        max_len=MAX_LEN,
        n_classes=CLASSES,
        dropout=0.0,
        pad_id=0,
    )
    base.update(kw)
    return HybridConfig(**base)


def tokens(batch: int = BATCH, seq: int = SEQ, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(1, VOCAB, (batch, seq), generator=g)  # no padding


def run_forward_backward(config: HybridConfig, *inputs: torch.Tensor) -> torch.Tensor:
    torch.manual_seed(0)
    model = HybridTransformer(config)
    logits = model(*inputs)
    assert logits.shape == (inputs[0].shape[0], config.n_classes)
    assert torch.isfinite(logits).all()
    logits.square().sum().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all(), name
    return logits


# ---- config ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("layout", "a", "expected"),
    [
        ("bottom", 2, (0, 1)),
        ("top", 2, (3, 4)),
        ("middle", 2, (1, 2)),
        ("middle", 1, (2,)),
        ("top", 0, ()),
        ("bottom", 5, (0, 1, 2, 3, 4)),
        ((4, 0), 2, (0, 4)),
        ([1, 3], 2, (1, 3)),
    ],
)
def test_attention_indices(layout, a, expected):
    c = tiny(n_layers=5, attention_layers=a, layout=layout)
    assert c.attention_indices() == expected
    kinds = c.block_kinds()
    assert [i for i, k in enumerate(kinds) if k == "abfly"] == list(expected)
    assert kinds.count("fbfly") == 5 - a
    assert c.replace(attention="dense").block_kinds() == [k.replace("abfly", "dense") for k in kinds]


def test_config_round_trips(tmp_path):
    c = tiny(layout=(0, 2), attention_layers=2)
    d = c.to_dict()
    assert d["layout"] == [0, 2]
    assert HybridConfig.from_dict(d) == c
    path = tmp_path / "net.yaml"
    path.write_text("preset: lra-text\nn_layers: 2\nattention_layers: 1\nffn: monarch\n")
    y = HybridConfig.from_yaml(path)
    assert y == get_preset("lra-text").replace(n_layers=2, ffn="monarch")


def test_presets():
    names = list(list_presets())
    assert names[:4] == ["transformer", "fnet", "fabnet-base", "fabnet-large"]
    assert {n for n in names if n.startswith("lra-")} == {
        "lra-listops",
        "lra-text",
        "lra-retrieval",
        "lra-image",
        "lra-pathfinder",
    }
    t, f, fb, fl = (get_preset(n) for n in names[:4])
    assert set(t.block_kinds()) == {"dense"} and (t.d_model, t.d_ff, t.n_layers, t.n_heads) == (
        768,
        3072,
        12,
        12,
    )
    assert set(f.block_kinds()) == {"fbfly"} and f.ffn == "dense"
    assert fb.ffn == "butterfly" and 0 < fb.attention_layers < fb.n_layers // 2
    assert (fl.n_layers, fl.d_model, fl.d_ff, fl.n_heads) == (24, 1024, 4096, 16)
    assert get_preset("lra-retrieval").dual_tower
    assert {n: get_preset(n).max_len for n in names[4:]} == {
        "lra-listops": 2048,
        "lra-text": 4096,
        "lra-retrieval": 4096,
        "lra-image": 1024,
        "lra-pathfinder": 1024,
    }


# ---- bad input ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("changes", "field"),
    [
        (dict(d_model=16.0), "d_model"),
        (dict(n_layers=True), "n_layers"),
        (dict(n_heads=3), "n_heads"),
        (dict(d_ff=0), "d_ff"),
        (dict(attention_layers=LAYERS + 1), "attention_layers"),
        (dict(attention_layers=-1), "attention_layers"),
        (dict(attention_layers=2, layout=(0,)), "layout"),
        (dict(attention_layers=1, layout=(LAYERS,)), "layout"),
        (dict(attention_layers=2, layout=(1, 1)), "layout"),
        (dict(layout="sideways"), "layout"),
        (dict(attention="sparse"), "attention"),
        (dict(ffn="lowrank"), "ffn"),
        (dict(pooling="max"), "pooling"),
        (dict(input_dim=4), "vocab_size"),
        (dict(vocab_size=None), "vocab_size"),
        (dict(pad_id=VOCAB), "pad_id"),
        (dict(dropout=1.0), "dropout"),
        (dict(dual_tower=1), "dual_tower"),
        (dict(layer_norm_eps=0), "layer_norm_eps"),
        (dict(layer_norm_eps=float("inf")), "layer_norm_eps"),
        (dict(layer_norm_eps=float("nan")), "layer_norm_eps"),
    ],
)
def test_bad_config_names_field(changes, field):
    with pytest.raises(ValueError, match=rf"^{field} = ") as exc:
        tiny(**changes)
    assert isinstance(exc.value, SpecError) and exc.value.field == field


def test_unknown_keys_and_presets(tmp_path):
    with pytest.raises(SpecError, match="n_layer =") as exc:
        HybridConfig.from_dict({**tiny().to_dict(), "n_layer": 2})
    assert exc.value.field == "n_layer"
    with pytest.raises(SpecError, match="not a HybridConfig field"):
        tiny().replace(heads=4)
    with pytest.raises(SpecError, match="preset = 'bert'.*fabnet-base"):
        get_preset("bert")
    path = tmp_path / "bad.yaml"
    path.write_text("preset: fnet\nwidth: 3\n")
    with pytest.raises(SpecError, match="^width = "):
        HybridConfig.from_yaml(path)


def test_bad_model_inputs_name_field():
    model = HybridTransformer(tiny())
    with pytest.raises(ValueError, match=rf"^seq_len = {MAX_LEN + 1} .*max_len = {MAX_LEN}"):
        model(tokens(seq=MAX_LEN + 1))
    with pytest.raises(ValueError, match="^x = .*vocab_size"):
        model(torch.full((1, 4), VOCAB))
    with pytest.raises(ValueError, match="^x = .*integer"):
        model(torch.zeros(1, 4))
    with pytest.raises(ValueError, match="^x2 = "):
        model(tokens(), tokens())
    cont = HybridTransformer(tiny(vocab_size=None, input_dim=5, pad_id=None))
    with pytest.raises(ValueError, match="^input_dim = 4 .*input_dim = 5"):
        cont(torch.randn(2, SEQ, 4))
    dual = HybridTransformer(tiny(dual_tower=True))
    with pytest.raises(ValueError, match="^x2 = "):
        dual(tokens())


# ---- forward / backward ------------------------------------------------------------------------------------
LAYOUT_CASES = [(a, layout) for a in range(LAYERS + 1) for layout in ("bottom", "top", "middle")] + [
    (2, (0, 2)),
    (1, (1,)),
]


@pytest.mark.parametrize(("a", "layout"), LAYOUT_CASES)
def test_every_layout_runs(a, layout):
    config = tiny(attention_layers=a, layout=layout)
    run_forward_backward(config, tokens())
    model = HybridTransformer(config)
    classes = {"abfly": ABflyBlock, "dense": DenseBlock, "fbfly": FBflyBlock}
    assert [type(b) for b in model.blocks] == [classes[k] for k in config.block_kinds()]


@pytest.mark.parametrize(
    ("attention", "ffn", "pooling"),
    list(itertools.product(("butterfly", "dense"), ("butterfly", "monarch", "dense"), ("cls", "mean"))),
)
def test_every_kind_runs(attention, ffn, pooling):
    run_forward_backward(tiny(attention_layers=2, attention=attention, ffn=ffn, pooling=pooling), tokens())


def test_continuous_input_runs():
    config = tiny(vocab_size=None, input_dim=5, pad_id=None, attention_layers=1)
    run_forward_backward(config, torch.randn(BATCH, SEQ, 5, generator=torch.Generator().manual_seed(0)))


def test_odd_sizes_run():
    config = tiny(d_model=12, n_heads=3, d_ff=20, max_len=10, attention_layers=2)
    run_forward_backward(config, tokens(seq=7))


def test_dual_tower_is_two_shared_encoders():
    config = tiny(dual_tower=True, attention_layers=1)
    x1, x2 = tokens(seed=1), tokens(seed=2)
    run_forward_backward(config, x1, x2)
    torch.manual_seed(0)
    model = HybridTransformer(config).eval()
    with torch.no_grad():
        joint = model(x1, x2)
        u, v = model.encode(x1), model.encode(x2)
        torch.testing.assert_close(joint, model.head(u, v))
        shorter = model(x1, x2[:, : SEQ // 2])  # lengths differ: encoded one after the other
    assert shorter.shape == (BATCH, CLASSES)


def test_padding_is_masked_in_attention_and_mean_pooling():
    """All-attention network + mean pooling: trailing padding must not change the logits."""
    config = tiny(attention_layers=LAYERS, pooling="mean")
    torch.manual_seed(0)
    model = HybridTransformer(config).eval()
    x = tokens(batch=1, seq=5)
    padded = torch.cat([x, torch.zeros(1, 3, dtype=x.dtype)], dim=1)
    with torch.no_grad():
        torch.testing.assert_close(model(padded), model(x), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("attention", ["dense", "butterfly"])
def test_fused_training_attention_matches_explicit(attention):
    """Training mode runs attention through F.scaled_dot_product_attention, inference through the explicit
    matmuls that the counts describe: with dropout 0 the two agree, padding (one row all padding) and
    gradients included."""
    config = tiny(attention_layers=LAYERS, attention=attention, ffn="dense", pooling="mean")
    torch.manual_seed(0)
    model = HybridTransformer(config)
    x = tokens(batch=3, seq=8)
    x[0, 5:] = 0  # trailing padding
    x[1, :] = 0  # every key padding: uniform attention on both paths, not NaN
    outs, grads = [], []
    for training in (True, False):
        model.train(training)
        model.zero_grad()
        logits = model(x)
        logits.square().sum().backward()
        outs.append(logits.detach())
        grads.append([p.grad.clone() for p in model.parameters() if p.grad is not None])
    assert torch.isfinite(outs[0]).all()
    torch.testing.assert_close(outs[0], outs[1], rtol=1e-4, atol=1e-5)
    for a, b in zip(*grads, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-5)


def test_fp16_emulation_changes_outputs_only_at_fp16_level():
    config = tiny(attention_layers=1)
    torch.manual_seed(0)
    ref = HybridTransformer(config).eval()
    emu = HybridTransformer(config.replace(emulate_fp16=True)).eval()
    emu.load_state_dict(ref.state_dict())
    x = tokens()
    with torch.no_grad():
        a, b = ref(x), emu(x)
        h = emu.embed(x)
    assert torch.equal(b, round_fp16(b)) and torch.equal(h, round_fp16(h))  # activations are fp16 values
    assert not torch.equal(a, b)
    fp16_eps = torch.finfo(torch.float16).eps
    assert (a - b).abs().max() < 50 * fp16_eps * a.abs().max().clamp(min=1)


def test_deterministic_with_seed():
    config = tiny(attention_layers=1)
    outs = []
    for _ in range(2):
        torch.manual_seed(123)
        outs.append(HybridTransformer(config)(tokens()))
    torch.testing.assert_close(outs[0], outs[1], rtol=0, atol=0)
