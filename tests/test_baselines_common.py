"""Every baseline: registry, Result consistency, determinism, its own roofline, presets, CLI."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from typer.testing import CliRunner

from swallowtail.arch import dump_arch, load_arch, parse_arch
from swallowtail.arch.specbase import parse_yaml
from swallowtail.backends import describe_backends, get_backend, list_backends
from swallowtail.baselines import BACKENDS
from swallowtail.baselines._common import (
    GemmShape,
    block_equivalent,
    block_levels,
    dense_equivalent,
    dft_equivalent,
    logic_energy_factor,
)
from swallowtail.cli.baseline import app, parse_options, run_baseline
from swallowtail.errors import SpecError
from swallowtail.result import Result
from swallowtail.workload import FFT, Butterfly, Workload
from swallowtail.workload.lower import lower

NAMES = [
    "jetson",
    "xavier-nx",
    "fabnet-be40",
    "fabnet-be120",
    "fabnet-be120-ddr3",
    "sanger",
    "spatten",
    "systolic",
]
NEW_PRESETS = [
    "fabnet-be40-hbm",
    "fabnet-be120-hbm",
    "fabnet-be120-ddr3",
    "sanger",
    "spatten",
    "systolic-os-16x8",
    "systolic-os-16x16",
]
#: options that turn off work-skipping (pruning, sparsity), so the workload's FLOPs are all executed
NO_PRUNING: dict[str, dict[str, Any]] = {
    "sanger": {"attention_density": 1.0, "load_balance": 1.0},
    "spatten": {"token_keep_per_attention_layer": 1.0, "head_keep": 1.0},
}
MODELS = [("fabnet-base", 128), ("transformer", 128), ("lra-text", 256)]
runner = CliRunner()


def _dram_bytes_per_s(backend: Any) -> float:
    return getattr(backend, "dram_bytes_per_s", None) or backend.arch.dram_bytes_per_s


def test_registry_names_and_descriptions() -> None:
    assert set(NAMES) == set(BACKENDS)
    assert set(NAMES) <= set(list_backends())
    d = describe_backends()
    for name in NAMES:
        assert d[name] == BACKENDS[name][1]
        assert get_backend(name).name == name


def assert_consistent(r: Result, w: Workload, name: str) -> None:
    """What every backend's Result must satisfy (also used by the FABNet reference-mode tests)."""
    assert isinstance(r, Result) and r.backend == name and r.workload == w.name
    assert r.latency_s > 0 and r.energy_j > 0 and r.peak_ops_per_s > 0
    assert r.useful_ops == w.flops
    assert len(r.ops) == len(w.ops) and [o.name for o in r.ops] == [op.name for op in w.ops]
    assert [o.flops for o in r.ops] == [op.flops for op in w.ops]
    # sequential models: per-op latencies add up to the total
    assert math.fsum(o.latency_s for o in r.ops) == pytest.approx(r.latency_s, rel=1e-9)
    assert r.energy_j == pytest.approx(math.fsum(r.energy_breakdown_j.values()), rel=1e-9)
    assert math.fsum(o.energy_j or 0.0 for o in r.ops) == pytest.approx(r.energy_j, rel=1e-6)
    assert r.traffic_bytes["dram"] == sum(o.bytes.get("dram", 0) for o in r.ops) > 0
    assert all(o.bound for o in r.ops)
    assert r.clock_hz and r.cycles is not None
    assert r.cycles == pytest.approx(r.latency_s * r.clock_hz, abs=len(r.ops))
    assert r.utilization is not None and 0 <= r.utilization <= 1 + 1e-9
    assert all(o.utilization is None or 0 <= o.utilization <= 1 + 1e-9 for o in r.ops)
    assert r.notes


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize(("model", "seq"), MODELS)
def test_result_fields_are_consistent(name: str, model: str, seq: int) -> None:
    w = lower(model, seq)
    r = get_backend(name).run(w)
    assert_consistent(r, w, name)
    d = r.to_dict()
    assert Result.from_dict(json.loads(json.dumps(d))) == r


@pytest.mark.parametrize("name", NAMES)
def test_deterministic(name: str) -> None:
    w = lower("fabnet-base", 128)
    assert get_backend(name).run(w).to_json() == get_backend(name).run(w).to_json()


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize(("model", "seq"), MODELS)
def test_no_baseline_beats_its_own_roofline(name: str, model: str, seq: int) -> None:
    w = lower(model, seq)
    b = get_backend(name, **NO_PRUNING.get(name, {}))
    r = b.run(w)
    assert r.latency_s >= w.flops / r.peak_ops_per_s
    assert r.latency_s >= w.compulsory_dram_bytes / _dram_bytes_per_s(b)
    assert r.traffic_bytes["dram"] >= w.compulsory_dram_bytes * 0.99  # weights, input, output at least once


def test_same_peak_accelerators_can_be_scaled_from_the_registry() -> None:
    w = lower("fabnet-base", 128)
    for name in ("sanger", "spatten"):
        r = get_backend(name, same_peak_as="df-4x4-simd8").run(w)
        assert r.peak_ops_per_s == pytest.approx(load_arch("df-4x4-simd8").peak_ops_per_s)
    assert get_backend("systolic").run(w).peak_ops_per_s == load_arch("df-4x4-simd8").peak_ops_per_s


@pytest.mark.parametrize("name", NEW_PRESETS)
def test_presets_round_trip_and_note_every_value(name: str, tmp_path: Any) -> None:
    a = load_arch(name)
    assert a.name == name
    assert parse_arch(parse_yaml(dump_arch(a))) == a
    path = tmp_path / f"{name}.yaml"
    dump_arch(a, path)
    assert load_arch(path) == a
    assert a.missing_sources() == []
    assert [p for p in a.numeric_leaves() if p not in a.sources] == []
    assert a.peak_ops_per_s > 0 and a.dram_bytes_per_s > 0
    assert a.derived()["peak_ops_per_s"] == a.peak_ops_per_s


def test_bad_specs_name_the_field() -> None:
    d = load_arch("systolic-os-16x8").to_dict()
    d["cols"] = 0
    with pytest.raises(SpecError, match="cols"):
        parse_arch(d)
    d = load_arch("fabnet-be40-hbm").to_dict()
    d["memory"] = "sram"
    with pytest.raises(SpecError, match="memory"):
        parse_arch(d)
    d = load_arch("spatten").to_dict()
    d["head_keep"] = 0.0
    with pytest.raises(SpecError, match="head_keep"):
        parse_arch(d)


def test_gemm_equivalents() -> None:
    b = Butterfly("b", n=16, rows=3)
    assert dense_equivalent(b) == GemmShape(3, 16, 16)
    assert dense_equivalent(Butterfly("c", n=16, rows=3, complex=True)) == GemmShape(3, 32, 32)
    assert block_levels(4, 3) == [3, 1]
    assert block_equivalent(b, 3) == [GemmShape(3, 8, 8, batch=2), GemmShape(3, 2, 2, batch=8)]
    assert sum(s.macs for s in block_equivalent(b, 4)) == dense_equivalent(b).macs
    assert dft_equivalent(FFT("f", n=10, rows=4, real_input=True)) == GemmShape(4, 10, 20)
    assert dft_equivalent(FFT("f", n=10, rows=4, real_output=True)) == GemmShape(4, 20, 10)
    with pytest.raises(SpecError, match="stages_per_block"):
        block_levels(4, 0)


def test_logic_energy_factor() -> None:
    assert logic_energy_factor(45, 45) == 1.0
    assert logic_energy_factor(45, 22) == pytest.approx(0.29)
    assert logic_energy_factor(12, 45) == pytest.approx(1 / 0.13)
    assert (
        logic_energy_factor(65, 12) < logic_energy_factor(55, 12) < logic_energy_factor(40, 12) < 0.13 / 0.51
    )
    with pytest.raises(SpecError, match="from_nm"):
        logic_energy_factor(0, 12)


# ---- CLI -------------------------------------------------------------------------------------------------


def test_cli_list() -> None:
    r = runner.invoke(app, ["list"])
    assert r.exit_code == 0, r.output
    for name in NAMES:
        assert name in r.stdout
    r = runner.invoke(app, ["list", "--json"])
    assert json.loads(r.stdout) == {n: d for n, (_, d) in BACKENDS.items()}


def test_cli_run_json_is_the_result() -> None:
    args = [
        "--target",
        "sanger",
        "--model",
        "fabnet-base",
        "--seq-len",
        "128",
        "-o",
        "same_peak_as=df-4x4-simd8",
    ]
    r = runner.invoke(app, [*args, "--json"])
    assert r.exit_code == 0, r.output
    expected = run_baseline("sanger", "fabnet-base", 128, 1, {"same_peak_as": "df-4x4-simd8"})
    assert json.loads(r.stdout) == json.loads(json.dumps(expected.to_dict()))


def test_cli_run_table() -> None:
    r = runner.invoke(app, ["-t", "systolic", "-m", "transformer", "-L", "128", "-b", "2", "--top", "3"])
    assert r.exit_code == 0, r.output
    for text in ("latency", "energy", "utilization", "top 3 of", "bound"):
        assert text in r.stdout


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (["-t", "nope", "-m", "fabnet-base", "-L", "128"], "backend"),
        (["-t", "sanger", "-m", "fabnet-base", "-L", "0"], "seq_len"),
        (["-t", "sanger", "-m", "no-such-model", "-L", "128"], "no-such-model"),
        (["-t", "sanger", "-m", "fabnet-base", "-L", "128", "-o", "bogus=1"], "bogus"),
        (
            ["-t", "sanger", "-m", "fabnet-base", "-L", "128", "-o", "attention_density=2"],
            "attention_density",
        ),
        (["-t", "sanger", "-m", "fabnet-base", "-L", "128", "-o", "nokey"], "--option"),
        (["-t", "sanger", "-m", "fabnet-base"], "--seq-len"),
    ],
)
def test_cli_errors_are_one_clean_line(args: list[str], field: str) -> None:
    r = runner.invoke(app, args)
    assert r.exit_code == 2, r.output
    assert field in r.output
    assert "Traceback" not in r.output
    assert len(r.output.strip().splitlines()) <= 3  # one line, possibly wrapped


def test_parse_options() -> None:
    assert parse_options(["a=1", "b=2.5e9", "c=true", "d=df-4x4-simd8"]) == {
        "a": 1,
        "b": 2.5e9,
        "c": True,
        "d": "df-4x4-simd8",
    }
    with pytest.raises(SpecError, match="--option"):
        parse_options(["a=1", "a=2"])
