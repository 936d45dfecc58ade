"""FABNet's `fidelity="reference"` mode against the published Butterfly_Acc simulator's numbers
(tests/fixtures/butterfly_acc, recorded by tools/butterfly_acc/record_fixtures.py)."""

from __future__ import annotations

import dataclasses
import json
import math
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from swallowtail.backends import get_backend
from swallowtail.baselines.fabnet import (
    FabnetBackend,
    fidelity_differences,
    simulator_pipeline_cycles,
)
from swallowtail.errors import SpecError
from swallowtail.result import Result
from swallowtail.workload import FFT, Butterfly, Workload
from swallowtail.workload.lower import lower
from test_baselines_common import assert_consistent

FIXTURE = Path(__file__).parent / "fixtures" / "butterfly_acc" / "fbfly_layers.json"
#: fixture config -> (our backend, options)
BACKENDS: dict[str, tuple[str, dict[str, Any]]] = {
    "be120-hbm": ("fabnet-be120", {}),
    "be40-hbm": ("fabnet-be40", {}),
    "be20-ddr3": ("fabnet-be120-ddr3", {"butterfly_engines": 20}),
}
MODELS = {"base": "fabnet-base", "large": "fabnet-large"}
#: fixture op key -> the op of an FBfly layer (layer0 of both models is FBfly)
OPS = {
    "fft_hidden": "layer0.mix.fft_hidden",
    "fft_seq": "layer0.mix.fft_seq",
    "ffn_fc1": "layer0.ffn.fc1",
    "ffn_fc2": "layer0.ffn.fc2",
}
TOLERANCE = 0.10  # the target: within 10% of the simulator's per-layer cycles


def _runs() -> list[dict[str, Any]]:
    return json.loads(FIXTURE.read_text())["runs"]


RUNS = _runs()
RUN_IDS = [f"{r['config']}-{r['version']}-L{r['seq_len']}" for r in RUNS]


@cache
def _workload(version: str, seq: int) -> Workload:
    return lower(MODELS[version], seq)


def _backend(config: str, bug: bool) -> FabnetBackend:
    name, opts = BACKENDS[config]
    b = get_backend(name, fidelity="reference", fft_seq_len_bug=bug, **opts)
    assert isinstance(b, FabnetBackend)
    return b


def _layer_cycles(r: Result, layer: str = "layer0") -> int:
    return sum(int(o.cycles or 0) for o in r.ops if o.name.startswith(layer + "."))


def test_fixture_provenance() -> None:
    doc = json.loads(FIXTURE.read_text())
    assert doc["source"]["commit"] == "1bb951f86d902c89826d0e69c357a28c7a18c570"
    assert len(RUNS) == 30 and {r["layer_kind"] for r in RUNS} == {"fbfly"}
    assert {(r["config"], r["seq_len"]) for r in RUNS} == {
        (c, s) for c in BACKENDS for s in (128, 256, 512, 1024, 2048)
    }


@pytest.mark.parametrize(("variant", "bug"), [("published", True), ("seq_fft_fixed", False)])
@pytest.mark.parametrize("run", RUNS, ids=RUN_IDS)
def test_reference_matches_the_simulator(run: dict[str, Any], variant: str, bug: bool) -> None:
    """`published` (the simulator as it is, sequence FFT at the hidden length) against the reference mode
    with the bug reproduced; `seq_fft_fixed` (the simulator with only that call corrected) against the
    reference mode proper."""
    want = run[variant]
    w = _workload(run["version"], run["seq_len"])
    b = _backend(run["config"], bug)
    # per op, the raw (underated) cycles are the simulator's, exactly
    raw = {k: b.reference_op_cycles(w.op(name), w).raw_cycles for k, name in OPS.items()}  # type: ignore[union-attr]
    assert raw == want["ops"]
    # per layer, the Result's cycles (raw / 0.85, ops rounded up) within 10% (in fact within 4 cycles)
    ours = _layer_cycles(b.run(w))
    sim = want["layer_cycles_derated"]
    assert abs(ours - sim) / sim <= TOLERANCE
    assert abs(ours - sim) <= len(OPS)
    if variant == "published":
        assert sim == pytest.approx(want["layer_cycles"] / 0.85, abs=1e-3)  # recorded to 3 decimals


@pytest.mark.parametrize("run", [r for r in RUNS if r["version"] == "base"], ids=lambda r: str(r["seq_len"]))
def test_corrected_fft_differs_only_in_the_sequence_fft(run: dict[str, Any]) -> None:
    w = _workload("base", run["seq_len"])
    fixed, buggy = _backend(run["config"], False).run(w), _backend(run["config"], True).run(w)
    diff = [a.name for a, b in zip(fixed.ops, buggy.ops, strict=True) if a.cycles != b.cycles]
    if run["seq_len"] == 1024:  # 1024 x 1024 either way (hidden 768 rounded up)
        assert diff == []
    else:
        assert diff and all(name.endswith(".mix.fft_seq") for name in diff)
        assert len(diff) == sum(1 for op in w.ops if op.name.endswith(".mix.fft_seq"))
    # and the simulator shows the same: only fft_seq changes between its two variants
    pub, fx = run["published"]["ops"], run["seq_fft_fixed"]["ops"]
    assert {k for k in pub if pub[k] != fx[k]} <= {"fft_seq"}
    assert "CORRECTED" in " ".join(fixed.notes) and "AS THE PUBLISHED SIMULATOR" in " ".join(buggy.notes)


def test_reference_rounds_sizes_up_to_powers_of_two() -> None:
    # fabnet-base at L = 128 on BE-120: the 768 -> 3072 FFN runs as 4 stacks of 1024 points, each stack tiled
    # on its own (ceil(128 / 120) = 2 batches x 4); the sequence FFT over 1024 padded hidden columns
    w = _workload("base", 128)
    b = _backend("be120-hbm", False)
    fc1 = b.reference_op_cycles(w.op("layer0.ffn.fc1"), w)
    assert fc1 is not None and (fc1.n, fc1.rows, fc1.stacks, fc1.batches) == (1024, 128, 4, 8)
    seq = b.reference_op_cycles(w.op("layer0.mix.fft_seq"), w)
    assert seq is not None and (seq.n, seq.rows, seq.stacks, seq.batches) == (128, 1024, 1, 9)
    # hand count of fc1 (HBM): load = max(120 x 1024 x 16 / 2048, 1024 serial) = 1024; coefficients
    # 10 stages x 2048 x 16 bits / 256 = 1280; compute 1024 / 8 x 10 = 1280; store = 1024
    assert (fc1.load, fc1.coef, fc1.compute, fc1.store) == (1024, 1280, 1280, 1024)
    assert fc1.raw_cycles == 1280 + 1280 + 5 * 1280 + 1280 == 10240
    assert fc1.cycles == math.ceil(10240 / 0.85)


def test_pipeline_accounting_closed_form() -> None:
    def loop(stages: list[int], batches: int) -> int:  # the simulator's loop, written out
        p = len(stages)
        padded = [[c] * batches + [0] * (p - 1) for c in stages]
        total = sum(stages[:-1])
        for i in range(1, batches - 1):
            total += max(padded[j][i + p - 1 - j] for j in range(p))
        return total

    for stages in ([5, 3], [3, 5], [4, 9, 2], [9, 4, 2], [2, 4, 9], [1, 2, 3, 4]):
        for batches in range(1, 9):
            assert simulator_pipeline_cycles(stages, batches) == loop(stages, batches), (stages, batches)
    with pytest.raises(ValueError):
        simulator_pipeline_cycles([3], 2)


@pytest.mark.parametrize(("model", "seq"), [("fabnet-base", 128), ("transformer", 128), ("lra-text", 256)])
def test_reference_result_has_every_backends_fields(model: str, seq: int) -> None:
    w = lower(model, seq)
    ref = get_backend("fabnet-be120", fidelity="reference").run(w)
    assert_consistent(ref, w, "fabnet-be120")
    physical, systolic = get_backend("fabnet-be120").run(w), get_backend("systolic").run(w)
    for other in (physical, systolic):
        assert ref.to_dict().keys() == other.to_dict().keys()
        assert [o.keys() for o in ref.to_dict()["ops"]] == [o.keys() for o in other.to_dict()["ops"]]
    # the same types, field by field, as the physical model's Result
    assert {k: type(v) for k, v in dataclasses.asdict(ref).items()} == {
        k: type(v) for k, v in dataclasses.asdict(physical).items()
    }
    assert Result.from_dict(json.loads(ref.to_json())) == ref
    assert any("fidelity=reference" in n for n in ref.notes)


def test_default_fidelity_is_the_physical_model() -> None:
    w = _workload("base", 256)
    default = get_backend("fabnet-be120")
    assert isinstance(default, FabnetBackend) and default.fidelity == "physical"
    a, b = default.run(w), get_backend("fabnet-be120", fidelity="physical").run(w)
    assert (a.cycles, a.energy_j, a.notes) == (b.cycles, b.energy_j, b.notes)
    assert get_backend("fabnet-be120", fidelity="reference").run(w).cycles != a.cycles


def test_bad_fidelity_names_the_field() -> None:
    with pytest.raises(SpecError, match="fidelity"):
        get_backend("fabnet-be120", fidelity="exact")
    with pytest.raises(SpecError, match="fidelity"):
        get_backend("fabnet-be40", fidelity=None)
    with pytest.raises(SpecError, match="fft_seq_len_bug"):
        get_backend("fabnet-be120", fft_seq_len_bug=True)  # the bug only exists in the reference mode
    with pytest.raises(SpecError, match="fft_seq_len_bug"):
        get_backend("fabnet-be120", fidelity="reference", fft_seq_len_bug="yes")
    # the options error still lists what is allowed, now with the backend's own options
    with pytest.raises(SpecError, match="fidelity"):
        get_backend("fabnet-be120", fidelty="reference")


def test_stand_alone_ops_in_the_reference_mode() -> None:
    # without a workload: one stack, the FFT at its own length (no hidden FFT to read from)
    b = _backend("be120-hbm", False)
    bf = b.reference_op_cycles(Butterfly("b", n=1024, rows=240))
    assert bf is not None and (bf.stacks, bf.batches) == (1, 2)
    ff = b.reference_op_cycles(FFT("f", n=768, rows=120, real_input=True))
    assert ff is not None and (ff.n, ff.stages, ff.batches) == (1024, 10, 1)
    assert ff.raw_cycles == ff.compute + max(ff.load, ff.coef)


def test_fidelity_differences_are_listed() -> None:
    diffs = fidelity_differences()
    assert len(diffs) >= 5
    assert len({d.aspect for d in diffs}) == len(diffs)
    for d in diffs:
        assert d.aspect and d.physical and d.reference and d.physical != d.reference
        assert d.aspect in d.line()
    aspects = " ".join(d.aspect for d in diffs)
    for word in ("sizes", "coefficients", "FFT", "pipeline", "efficiency"):
        assert word in aspects
