"""The three user models of `examples/` (plain PyTorch) import and run on the array, and the README's
"Importing a PyTorch model" commands run from the repository root (tests/test_readme.py runs `$ swallowtail`
lines from an empty folder, where `examples/` is not; so that section shows its commands without a prompt,
and they are run here)."""

from __future__ import annotations

import importlib.util
import re
import shlex
import sys
from pathlib import Path
from types import ModuleType

import pytest
import torch
from typer.testing import CliRunner

from swallowtail.backends import get_backend
from swallowtail.cli import app
from swallowtail.importer import from_torch
from swallowtail.nn import get_preset
from swallowtail.workload.lower import lower

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
#: a short sequence: the examples are about structure
SEQ_LEN = 64


def _example(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


def _import(name: str, **sizes: int):  # noqa: ANN202 - a Workload
    with torch.device("meta"):
        model = _example(name).build(**sizes)
    return from_torch(model, torch.ones(1, SEQ_LEN, dtype=torch.long), name=f"{name}@L{SEQ_LEN}")


@pytest.mark.parametrize("name", ["monarch_bert", "fnet", "llama_decoder"])
def test_each_example_imports_and_runs_on_the_array(name: str) -> None:
    w = _import(name)
    result = get_backend("dataflow-multilayer", arch="df-4x4-simd8").run(w)
    assert result.latency_s > 0 and result.useful_ops == w.flops
    assert 0 < result.utilization <= 1
    assert not w.meta.get("unsupported")


def test_the_monarch_mlp_is_two_block_diagonal_gemms() -> None:
    w = _import("monarch_bert")
    fc1 = [o for o in w.ops if o.name.startswith("layers0.fc1.")]
    assert [o.describe() for o in fc1] == [
        f"GEMM(16 x {SEQ_LEN}x16 @ 16x16)",  # R: 16 blocks of 16 x 16
        f"GEMM(16 x {SEQ_LEN}x16 @ 16x64)",  # L: 16 blocks of 16 x 64
        f"add({SEQ_LEN * 1024})",  # the bias
    ]
    assert all(o.b_is_weight and not o.shared_b for o in fc1[:2])  # one weight block per batch
    dense = 2 * SEQ_LEN * 256 * 1024
    assert sum(o.flops for o in fc1[:2]) * 12 < dense  # 12.8x fewer FLOPs than a dense 256 x 1024


def test_the_fnet_example_is_the_fnet_preset() -> None:
    """An FNet written independently in plain PyTorch imports to exactly the ops `lower()` gives the `fnet`
    preset at its sizes."""
    w = _import("fnet")
    cfg = get_preset("fnet").replace(d_model=256, d_ff=1024, n_layers=2, max_len=512, n_heads=4)
    ref = lower(cfg, SEQ_LEN)
    assert [(o.kind, o.describe(), o.flops, o.min_bytes) for o in w.ops] == [
        (o.kind, o.describe(), o.flops, o.min_bytes) for o in ref.ops
    ]


def test_the_decoder_maps_rmsnorm_silu_and_causal_attention() -> None:
    w = _import("llama_decoder")
    kinds = {o.name.split(".", 1)[1]: o for o in w.ops if o.layer == "layers0"}
    assert kinds["attn_norm.rms_norm"].kind == "layernorm"
    assert kinds["silu"].kind == "elementwise" and kinds["silu"].op == "gelu"  # the special-function class
    assert kinds["sdpa.softmax"].describe() == f"Softmax({4 * SEQ_LEN}x{SEQ_LEN})"  # causal: full rows
    assert w.op("lm_head.linear").describe() == f"GEMM({SEQ_LEN}x256 @ 256x4096)"


def test_llama_7b_shape_imports_without_weights() -> None:
    """The decoder at Llama-2-7B's sizes (6.7e9 parameters: 27 GB in fp32) imports on the meta device."""
    with torch.device("meta"):
        model = _example("llama_decoder").build(d=4096, heads=32, layers=32, d_ff=11008, vocab=32000)
    assert sum(p.numel() for p in model.parameters()) > 6.7e9
    w = from_torch(model, torch.ones(1, 2048, dtype=torch.long))
    assert len([o for o in w.ops if o.kind == "gemm"]) == 32 * 9 + 1
    assert all(p.is_meta for p in model.parameters())


def _readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    match = re.search(r"^## Importing a PyTorch model\n(.*?)^## ", text, flags=re.M | re.S)
    if match is None:
        return []
    return re.findall(r"^swallowtail (.+)$", match.group(1), flags=re.M)


def test_the_readme_section_has_commands() -> None:
    assert len(_readme_commands()) >= 2


@pytest.mark.parametrize("command", _readme_commands())
def test_readme_import_command_runs(command: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    out = CliRunner().invoke(app, shlex.split(command))
    assert out.exit_code == 0, out.output
