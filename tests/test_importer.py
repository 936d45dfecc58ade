"""The PyTorch importer (`swallowtail.importer.from_torch`, `swallowtail workload import`): every preset's
model imports to the ops `lower()` gives it; unsupported ops are listed with their module paths and the rule
to write, or costed as flagged placeholders; user rules; a 7B-parameter model imports on the meta device;
the CLI's bad inputs are clean errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from torch import nn
from typer.testing import CliRunner

from swallowtail.cli import app
from swallowtail.errors import SpecError
from swallowtail.importer import LeafCall, Rule, from_torch, workload_rule
from swallowtail.nn import HybridTransformer, get_preset
from swallowtail.nn.config import list_presets
from swallowtail.workload.lower import lower
from swallowtail.workload.ops import GEMM, Elementwise

#: a small sequence length: the round trip is about structure, not size
SEQ_LEN = 16


def _signature(op) -> tuple:  # noqa: ANN001 - an Op
    return (op.kind, op.describe(), op.flops, op.weight_elems, op.min_bytes, op.input_shapes, op.output_shape)


def _tokens(*shape: int) -> torch.Tensor:
    return torch.ones(shape, dtype=torch.long)


@pytest.mark.parametrize("preset", list(list_presets()))
def test_every_preset_round_trips(preset: str) -> None:
    """The PyTorch model of a preset, built on the meta device and imported, is lower()'s op list: kinds,
    shapes, FLOPs, bytes, in order; each op depends on at least the ops lower() says (by position)."""
    cfg = get_preset(preset)
    with torch.device("meta"):
        model = HybridTransformer(cfg)
    x = _tokens(1, SEQ_LEN)
    w = from_torch(model, (x, x) if cfg.dual_tower else (x,))
    ref = lower(preset, SEQ_LEN)
    assert [_signature(o) for o in w.ops] == [_signature(o) for o in ref.ops]
    assert (w.flops, w.input_elems, w.output_elems) == (ref.flops, ref.input_elems, ref.output_elems)
    assert w.compulsory_dram_bytes == ref.compulsory_dram_bytes
    mine = {o.name: i for i, o in enumerate(w.ops)}
    theirs = {o.name: i for i, o in enumerate(ref.ops)}
    for a, b in zip(w.ops, ref.ops, strict=True):
        # the dual-tower head's fc1 reads [u, v, u*v, u-v]: the import sees all four, lower() names one
        assert {theirs[d] for d in b.deps} <= {mine[d] for d in a.deps}, (a.name, b.name)
    assert all(p.is_meta for p in model.parameters())  # nothing was materialised


# ---- unsupported ops, placeholders, rules ----------------------------------------------------------------
class Scan(nn.Module):
    """A token mixer with ops the table has no mapping for (a prefix sum, a running max)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cumsum(x, dim=1) + torch.cummax(x, dim=1).values


class Block(nn.Module):
    def __init__(self, d: int = 32, var: bool = True) -> None:
        super().__init__()
        self.mix = Scan()
        self.fc = nn.Linear(d, d)
        self.var = var

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.fc(self.mix(x))
        return x + h * x.var(dim=-1, keepdim=True) if self.var else x + h


class Net(nn.Module):
    def __init__(self, layers: int = 2, var: bool = True) -> None:
        super().__init__()
        self.layers = nn.ModuleList([Block(var=var) for _ in range(layers)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x)
        return x


def test_unsupported_ops_are_all_listed_with_their_module_and_rule() -> None:
    with pytest.raises(SpecError) as err:
        from_torch(Net(), torch.randn(2, 8, 32))
    msg = str(err.value)
    assert "6 ops have none" in msg
    for i in (0, 1):
        assert f"layers.{i}.mix (Scan): aten.cumsum [no mapping] -> @workload_rule(Scan)" in msg
        assert f"layers.{i}.mix (Scan): aten.cummax [no mapping] -> @workload_rule(Scan)" in msg
        assert f"layers.{i} (Block): aten.var [no mapping] -> @workload_rule(Block)" in msg
    assert "allow_unknown=True" in msg


def test_allow_unknown_costs_each_as_a_flagged_placeholder() -> None:
    w = from_torch(Net(), torch.randn(2, 8, 32), allow_unknown=True)
    flagged = [o for o in w.ops if ".unsupported." in o.name]
    assert [o.name for o in flagged] == w.meta["unsupported"]
    assert [o.name for o in flagged] == [
        f"layers{i}.{p}unsupported.{op}"
        for i in (0, 1)
        for p, op in (("mix.", "cumsum"), ("mix.", "cummax"), ("", "var"))
    ]
    cumsum = w.op("layers0.mix.unsupported.cumsum")
    assert isinstance(cumsum, Elementwise) and cumsum.flops == cumsum.numel == 2 * 8 * 32
    assert w.op("layers0.mix.add").deps == (
        "layers0.mix.unsupported.cumsum",
        "layers0.mix.unsupported.cummax",
    )
    assert w.op("layers0.unsupported.var").numel == 2 * 8  # one per output element


def _scan_ops(module: Scan, call: LeafCall) -> list:
    """The user's rule: the scan as a (T x T) lower-triangular GEMM per sequence, then the max (no FLOPs)."""
    (b, t, d) = call.inputs[0]
    return [
        GEMM("prefix_sum", m=t, k=t, n=d, batch=b),
        Elementwise("running_max", op="relu", numel=b * t * d),
    ]


def test_a_user_rule_makes_the_module_a_leaf() -> None:
    """Registered for a class, the rule replaces the module's insides (never traced: its forward would
    fail); the importer prefixes, chains and places the rule's ops."""

    class Opaque(Scan):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.from_numpy(x.numpy())  # not traceable, and not computed by the import

    rule = workload_rule(Opaque, output=lambda m, x: x.new_empty(x.shape))(_scan_ops)
    assert rule is _scan_ops
    net = Net(var=False)
    for layer in net.layers:
        layer.mix = Opaque()
    w = from_torch(net, torch.randn(2, 8, 32))
    ops = [o for o in w.ops if o.layer == "layers1"]
    assert [o.name for o in ops] == [
        "layers1.mix.prefix_sum",
        "layers1.mix.running_max",
        "layers1.fc.linear",
        "layers1.fc.bias",
        "layers1.add",
    ]
    assert ops[0].describe() == "GEMM(2 x 8x8 @ 8x32)" and ops[0].deps == ("layers0.add",)
    assert ops[1].deps == ("layers1.mix.prefix_sum",)
    assert all(o.dtype == "fp16" for o in w.ops)
    assert from_torch(net, torch.randn(2, 8, 32), dtype="fp32").ops[0].dtype == "fp32"


def _block_ops_bad(module: Block, call: LeafCall) -> GEMM:
    return GEMM("x", m=1, k=1, n=1)


def test_rules_for_one_call_and_their_checks() -> None:
    """`rules=` adds rules for one import (a whole Block here: its forward runs on meta tensors for the
    output shapes); a rule must return ops."""

    def block(module: Block, call: LeafCall) -> list:
        rows = call.rows
        assert call.inputs == ((2, 8, 32),) and call.outputs == ((2, 8, 32),)
        return [
            GEMM("mix", m=rows, k=32, n=32, b_is_weight=True),
            Elementwise("act", op="gelu", numel=rows * 32),
        ]

    w = from_torch(Net(), torch.randn(2, 8, 32), rules={Block: Rule(block)})
    assert [o.name for o in w.ops] == ["layers0.mix", "layers0.act", "layers1.mix", "layers1.act"]
    assert w.op("layers1.mix").deps == ("layers0.act",)
    with pytest.raises(SpecError, match="an iterable of ops"):
        from_torch(Net(), torch.randn(2, 8, 32), rules={Block: _block_ops_bad})
    with pytest.raises(SpecError, match="torch.nn.Module subclasses"):
        from_torch(Net(), torch.randn(2, 8, 32), rules={int: block})
    with pytest.raises(SpecError, match="subclass of torch.nn.Module"):
        workload_rule(int)


def test_the_op_table_on_functional_code() -> None:
    """einsum, matmul with a weight as A, SDPA with an additive mask, rfft / irfft, conv1d, a max pool."""

    class Zoo(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w = nn.Parameter(torch.randn(8, 16))
            self.conv = nn.Conv1d(8, 4, 3, padding=1)

        def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:  # x (2, 8, 16)
            a = torch.einsum("bij,bkj->bik", x, x)  # (2, 8, 8): batch 2, 8 x 16 @ 16 x 8
            b = self.w @ x.transpose(1, 2).reshape(16, 16)  # a weight as A: (16 x 8)^T is costed as B
            q = x.view(2, 2, 8, 8)
            s = nn.functional.scaled_dot_product_attention(q, q, q, attn_mask=mask)
            f = torch.fft.irfft(torch.fft.rfft(x, dim=-1), n=16, dim=-1)
            c = nn.functional.max_pool1d(self.conv(x), 2)  # (2, 4, 8)
            return a.sum() + b.sum() + s.sum() + f.sum() + c.sum()

    w = from_torch(Zoo(), (torch.randn(2, 8, 16), torch.randn(8, 8)))
    by = {o.name.removeprefix("model."): o for o in w.ops}
    assert by["einsum"].describe() == "GEMM(2 x 8x16 @ 16x8)"
    assert by["matmul"].describe() == "GEMM(16x16 @ 16x8)" and by["matmul"].b_is_weight
    assert [by[f"sdpa.{s}"].kind for s in ("scores", "scale", "mask", "softmax", "values")] == [
        "gemm",
        "elementwise",
        "elementwise",
        "softmax",
        "gemm",
    ]
    assert by["sdpa.mask"].operands == 2  # an input: a second operand (a boolean mask would be a select)
    rfft, irfft = by["fft_rfft.dim2"], by["fft_irfft.dim2"]
    assert (rfft.n, rfft.rows, rfft.real_input, rfft.real_output) == (16, 16, True, False)
    assert (irfft.n, irfft.rows, irfft.real_output) == (16, 16, True)
    conv = by["conv.conv"]
    assert conv.describe().startswith("Conv2d(2 x 8x1x16 -> 4x1x16, 1x3/1")
    assert by["max_pool1d"].window == 2 and by["max_pool1d"].numel == 2 * 4 * 8


# ---- no weights: a model too big for this machine's memory ----------------------------------------------
class LinearStack(nn.Module):
    """Llama-2-7B's linear layers (32 x (4 x 4096^2 + 3 x 4096 x 11008) = 6.5e9 parameters, 26 GB in fp32)."""

    def __init__(self, layers: int = 32, d: int = 4096, d_ff: int = 11008) -> None:
        super().__init__()
        self.attn = nn.ModuleList(
            [nn.ModuleList([nn.Linear(d, d, bias=False) for _ in range(4)]) for _ in range(layers)]
        )
        self.mlp = nn.ModuleList(
            [
                nn.ModuleList(
                    [
                        nn.Linear(d, d_ff, bias=False),
                        nn.Linear(d, d_ff, bias=False),
                        nn.Linear(d_ff, d, bias=False),
                    ]
                )
                for _ in range(layers)
            ]
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for attn, (gate, up, down) in zip(self.attn, self.mlp, strict=True):
            for proj in attn:
                x = x + proj(x)
            x = x + down(nn.functional.silu(gate(x)) * up(x))
        return x


def test_a_model_larger_than_memory_imports_on_the_meta_device() -> None:
    t0 = time.perf_counter()
    with torch.device("meta"):
        model = LinearStack()
    params = sum(p.numel() for p in model.parameters())
    assert params * 4 > 25e9  # 26 GB in fp32
    w = from_torch(model, torch.randn(1, 2048, 4096))  # a CPU input goes to meta with the model
    seconds = time.perf_counter() - t0
    gemms = [o for o in w.ops if o.kind == "gemm"]
    assert len(gemms) == 32 * 7
    assert sum(o.weight_elems for o in gemms) == params
    assert sum(o.flops for o in gemms) == 2 * 2048 * params
    assert w.meta["inputs"] == [{"shape": [1, 2048, 4096], "dtype": "float32"}]
    assert all(p.is_meta for p in model.parameters())
    assert seconds < 60, seconds  # seconds here (no weights); a generous bound on a shared machine


def test_an_integer_input_used_as_numbers_names_its_dtype() -> None:
    """Integer inputs stay on the CPU (their values decide branches); one that meets the meta weights in a
    matmul was an error about devices (cpu and meta): it names the input, its dtype and the model's."""
    from swallowtail.importer.convert import InputDtypeError

    with torch.device("meta"):
        model = nn.Sequential(nn.Linear(8, 8), nn.ReLU())
    with pytest.raises(InputDtypeError, match=r"example_inputs\[0\] dtype = 'int64'.*float32") as err:
        from_torch(model, torch.ones(2, 8, dtype=torch.long))
    assert err.value.inputs == [(0, "int64")] and "device" not in str(err.value)
    assert from_torch(model, torch.ones(2, 8)).flops > 0  # the float input imports

    class MakesACpuTensor(nn.Module):  # the other cause: a tensor made in forward without device=
        def __init__(self) -> None:
            super().__init__()
            self.emb = nn.Embedding(16, 8)

        def forward(self, ids: torch.Tensor) -> torch.Tensor:
            return self.emb(ids) * torch.ones(ids.shape[1], 8)

    with torch.device("meta"):
        model = MakesACpuTensor()
    with pytest.raises(SpecError, match=r"module = 'MakesACpuTensor'.*device=x\.device") as err:
        from_torch(model, torch.ones(2, 8, dtype=torch.long))
    assert not isinstance(err.value, InputDtypeError)


def test_an_output_shape_the_values_decide_is_a_clean_error() -> None:
    """A boolean-mask index (or unique, nonzero) gives later ops a size no cost can follow: an error naming
    the op and its module, not torch's guard error from inside the importer (bad-input hunt)."""

    class KeepsPositives(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(4, 4)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = self.fc(x)
            return y[y > 0] * 2.0

    for allow_unknown in (False, True):
        with pytest.raises(SpecError, match=r"aten\.mul in KeepsPositives.*depends on the values"):
            from_torch(KeepsPositives(), torch.ones(2, 4), allow_unknown=allow_unknown)


# ---- the CLI --------------------------------------------------------------------------------------------
MODEL_FILE = """
import torch
from torch import nn

class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(100, 32)
        self.fc = nn.Linear(32, 8)

    def forward(self, ids):
        return torch.cumsum(self.fc(self.emb(ids)), dim=1)

def build():
    return Tiny()

def not_a_module():
    return 42

def broken():
    raise RuntimeError("no weights here")
"""


@pytest.fixture
def model_file(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.py"
    path.write_text(MODEL_FILE)
    return path


def _run(*args: str):  # noqa: ANN202 - a click Result
    return CliRunner().invoke(app, list(args))


def test_cli_import_prints_the_op_table_and_json(model_file: Path) -> None:
    spec = f"{model_file}:build"
    out = _run(
        "workload", "import", spec, "--input-shape", "2,16", "--input-dtype", "int64", "--allow-unknown"
    )
    assert out.exit_code == 0, out.output
    assert "workload tiny:build: 3 ops" in out.output
    assert "unsupported: 1 ops costed as element-wise placeholders" in out.output
    assert "model.unsupported.cumsum" in out.output
    out = _run(
        "workload",
        "import",
        spec,
        "--input-shape",
        "2,16",
        "--input-dtype",
        "int64",
        "--allow-unknown",
        "--json",
    )
    data = json.loads(out.output)
    assert [o["describe"] for o in data["ops"]] == ["GEMM(32x32 @ 32x8)", "add(256)", "add(256)"]
    assert data["input_elems"] == 2 * 16 * 32 and data["meta"]["unsupported"] == ["model.unsupported.cumsum"]


@pytest.mark.parametrize(
    ("args", "names"),
    [
        (["nope.py:build", "--input-shape", "1,4"], ["MODULE", "nope.py", "an existing Python file"]),
        (["no_such_module_xyz:build", "--input-shape", "1,4"], ["MODULE", "importable"]),
        (["{f}", "--input-shape", "1,4"], ["MODULE:FACTORY", "a colon"]),
        (["{f}:missing", "--input-shape", "1,4"], ["FACTORY", "missing", "it defines ['broken', 'build'"]),
        (["{f}:not_a_module", "--input-shape", "1,4"], ["FACTORY", "returned int"]),
        (["{f}:broken", "--input-shape", "1,4"], ["FACTORY", "RuntimeError: no weights here"]),
        (["{f}:build", "--input-shape", "1,x"], ["--input-shape", "1,x", "positive integers"]),
        (["{f}:build", "--input-shape", "0,4"], ["--input-shape", "0,4"]),
        (["{f}:build", "--input-shape", "1,²"], ["--input-shape", "1,²"]),  # was int()'s ValueError
        (["{f}:build", "--input-shape", "99999999999999999999,4"], ["--input-shape", "2^48"]),  # torch's
        (["{f}:build", "--input-shape", "16777216,16777217"], ["--input-shape", "2^48"]),  # overflow
        (["{f}:build", "--input-shape", "1,4", "--input-dtype", "int63"], ["--input-dtype", "int63"]),
        (["{f}:build", "--input-shape", "1,4", "--dtype", "fp8"], ["--dtype", "fp8"]),
        (
            ["{f}:build", "--input-shape", "1,4", "--input-dtype", "int64"],
            ["aten.cumsum", "@workload_rule(Tiny)"],
        ),
        (["{f}:build", "--input-shape", "1,4"], ["torch.export can trace", "RuntimeError"]),
    ],
)
def test_cli_import_bad_inputs_are_clean_errors(model_file: Path, args: list[str], names: list[str]) -> None:
    out = _run("workload", "import", *[a.replace("{f}", str(model_file)) for a in args])
    assert out.exit_code == 2, out.output
    assert "Traceback" not in out.output
    text = " ".join(out.output.split())
    for name in names:
        assert name in text, (name, text)


def test_cli_import_user_prints_and_exits(tmp_path: Path) -> None:
    """The user's prints go to stderr (stdout is the --json document); a sys.exit() in the user's module,
    factory or forward is a clean error (it exited with the user's status, 0 included, and no message)."""
    path = tmp_path / "chatty.py"
    path.write_text(
        "import sys\nfrom torch import nn\nprint('importing')\n"
        "class Quits(nn.Module):\n    def forward(self, x):\n        sys.exit(4)\n"
        "def build():\n    print('building')\n    return nn.Linear(4, 4)\n"
        "def exits():\n    sys.exit(0)\n"
        "def quits():\n    return Quits()\n"
    )
    out = _run("workload", "import", f"{path}:build", "--input-shape", "2,4", "--json")
    assert out.exit_code == 0 and json.loads(out.stdout)["name"] == "chatty:build"
    assert "importing" in out.stderr and "building" in out.stderr
    for factory, field in (("exits", "FACTORY"), ("quits", "module")):
        out = _run("workload", "import", f"{path}:{factory}", "--input-shape", "2,4")
        assert out.exit_code == 2 and f"{field} = " in out.stderr and "SystemExit" in out.stderr
    (tmp_path / "top.py").write_text("import sys\nsys.exit(3)\n")
    out = _run("workload", "import", f"{tmp_path / 'top.py'}:build", "--input-shape", "2,4")
    assert out.exit_code == 2 and "MODULE = " in out.stderr and "SystemExit: 3" in out.stderr


def test_cli_import_of_code_that_never_ends_is_stopped(tmp_path: Path) -> None:
    """A model whose factory or forward loops forever (it hung the command) is stopped after
    SWALLOWTAIL_IMPORT_TIMEOUT: one line naming the model, the limit, the stage and the user's line. The
    trace is interrupted in a process of its own (torch's state is not this test process's business)."""
    import signal

    from swallowtail.cli import limits

    path = tmp_path / "spins.py"
    path.write_text(
        "from torch import nn\n"
        "class Spins(nn.Linear):\n    def forward(self, x):\n        while True:\n            pass\n"
        "def factory():\n    while True:\n        try:\n            pass\n        except Exception:\n"
        "            pass\n"
        "def build():\n    return Spins(4, 4)\n"
        "def quick():\n    return nn.Linear(4, 4)\n"
    )
    before = signal.getsignal(signal.SIGALRM)
    out = CliRunner().invoke(
        app,
        ["workload", "import", f"{path}:factory", "--input-shape", "2,4"],
        env={limits.IMPORT_TIMEOUT_ENV: "1"},
    )
    assert out.exit_code == 2 and "Traceback" not in out.output, out.output
    for part in (
        "spins.py:factory",
        "within 1.0 s",
        limits.IMPORT_TIMEOUT_ENV,
        "running FACTORY()",
        "spins.py:",
    ):
        assert part in out.output, (part, out.output)
    assert signal.getsignal(signal.SIGALRM) is before and signal.getitimer(signal.ITIMER_REAL)[0] == 0
    assert _run("workload", "import", f"{path}:quick", "--input-shape", "2,4").exit_code == 0
    assert signal.getitimer(signal.ITIMER_REAL)[0] == 0  # the limit is lifted after a good import
    cmd = [sys.executable, "-m", "swallowtail", "workload", "import", f"{path}:build", "--input-shape", "2,4"]
    env = {**os.environ, limits.IMPORT_TIMEOUT_ENV: "2s"}
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr
    assert "tracing the model" in out.stderr and "spins.py:" in out.stderr, out.stderr


def test_cli_import_is_the_same_in_every_process_and_keeps_torch_logs_out(model_file: Path) -> None:
    """The user module's name in --json does not depend on the process's hash salt, and a failed trace
    prints the one-line error only (torch's fake-tensor logger writes a traceback to stderr itself)."""
    cmd = [sys.executable, "-m", "swallowtail", "workload", "import", f"{model_file}:build", "--input-shape"]
    ok = [*cmd, "2,16", "--input-dtype", "int64", "--allow-unknown", "--json"]
    runs = [subprocess.run(ok, capture_output=True, text=True, check=True).stdout for _ in range(2)]
    assert runs[0] == runs[1] and "swallowtail_user_tiny_" in runs[0]
    linear = model_file.with_name("linear.py")
    linear.write_text("from torch import nn\n\ndef build():\n    return nn.Linear(16, 16)\n")
    bad = [
        sys.executable,
        "-m",
        "swallowtail",
        "workload",
        "import",
        f"{linear}:build",
        "--input-shape",
        "2,15",
    ]
    out = subprocess.run(bad, capture_output=True, text=True)
    assert out.returncode == 2 and "Traceback" not in out.stderr + out.stdout
    assert "torch.export can trace" in out.stderr and "[2, 15] X [16, 16]" in out.stderr


def test_simulate_takes_a_model_file(tmp_path: Path) -> None:
    path = tmp_path / "mlp.py"
    path.write_text(
        "from torch import nn\n"
        "def build():\n"
        "    return nn.Sequential(\n"
        "        nn.Embedding(50, 64), nn.Linear(64, 128), nn.GELU('tanh'), nn.Linear(128, 64)\n"
        "    )\n"
    )
    out = _run("roofline", "--arch", "df-4x4-simd8", "--model", f"{path}:build", "--seq-len", "32", "--json")
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    assert data["workload"] == "mlp:build@L32"
    assert data["useful_ops"] == 2 * 32 * 64 * 128 * 2 + 32 * 128 * (1 + 8 + 0) + 32 * 64 * 1
    out = _run("workload", "show", f"{path}:build")
    assert out.exit_code == 2 and "--seq-len" in out.output
    for flag in ("--seq-len", "--batch"):  # past the workload bounds: was torch's storage-size overflow
        args = [*(["--seq-len", "32"] if flag != "--seq-len" else []), flag, str(2**64), "--force"]
        out = _run("roofline", "--arch", "df-4x4-simd8", "--model", f"{path}:build", *args)
        assert out.exit_code == 2 and f"{flag} = {2**64}" in out.output
