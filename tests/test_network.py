"""Whole-network block-level simulator and the dataflow backends: invariants, determinism, bad input, CLI,
and agreement with the cycle-level simulator."""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from swallowtail.arch.specs import load_arch
from swallowtail.backends import get_backend
from swallowtail.errors import SpecError
from swallowtail.sim.network import PROBE_ROW_GROUPS, plan_residency, simulate_network
from swallowtail.sim.network.simulate import array_form
from swallowtail.workload import FFT, Butterfly, Workload
from swallowtail.workload.lower import lower

ARCH = "df-4x4-simd8"
SMALL = [("lra-image", 64), ("lra-image", 128), ("lra-pathfinder", 256)]


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(SMALL), st.sampled_from(["multilayer", "single-layer"]))
def test_invariants(case, dataflow):
    w = lower(*case)
    r = get_backend(f"dataflow-{dataflow}", arch=ARCH).run(w)
    floor = get_backend("roofline", arch=ARCH).run(w)
    assert r.cycles >= floor.cycles
    e = floor.energies if hasattr(floor, "energies") else None
    from swallowtail.energy.tables import load_energy_table

    e = load_energy_table(load_arch(ARCH).energy_table).for_arch(load_arch(ARCH))
    assert r.energy_j >= w.compulsory_dram_bytes * e.dram_j_per_byte
    assert r.traffic_bytes["dram"] >= w.compulsory_dram_bytes
    assert set(r.energy_breakdown_j) >= {"fu", "dram", "leakage"}
    # more DRAM bandwidth never slows a run
    a = load_arch(ARCH)
    fast = a.with_overrides({"dma.gbytes_per_s_per_channel": 2 * a.dma.gbytes_per_s_per_channel})
    r2 = get_backend(f"dataflow-{dataflow}", arch=fast).run(w)
    assert r2.cycles <= r.cycles


def test_deterministic_and_json():
    w = lower("lra-image", 128)
    a = get_backend("dataflow-multilayer", arch=ARCH).run(w).to_json()
    b = get_backend("dataflow-multilayer", arch=ARCH).run(w).to_json()
    assert a == b
    d = json.loads(a)
    assert d["backend"] == "dataflow-multilayer" and d["ops"]
    assert {o["bound"] for o in d["ops"]} <= {"compute", "spm", "dram", "noc", "special"}


def test_multilayer_beats_single_layer():
    w = lower("lra-image", 256)
    ml = get_backend("dataflow-multilayer", arch=ARCH).run(w)
    sl = get_backend("dataflow-single-layer", arch=ARCH).run(w)
    assert ml.latency_s < sl.latency_s and ml.energy_j < sl.energy_j
    assert ml.traffic_bytes["dram"] < sl.traffic_bytes["dram"]


def test_the_residency_and_spill_notes_count_the_same_outputs():
    """The plan's count of spilled intermediates and the listed ones agree (the network's output, always
    written to DRAM, is in neither)."""
    r = get_backend("dataflow-multilayer", arch=ARCH).run(lower("fnet", 256))
    plan = next(n for n in r.notes if "intermediate op outputs spill to DRAM" in n)
    listed = next(n for n in r.notes if n.startswith("spilled to DRAM ("))
    counted = int(re.search(r"; (\d+) of \d+ intermediate op outputs", plan).group(1))  # type: ignore[union-attr]
    assert listed.startswith(f"spilled to DRAM ({counted} intermediate op outputs)")


def test_a_larger_resident_share_of_the_spm_spills_no_more():
    """`spm_resident_fraction` (an assumption, a dataflow-backend option and a sweep's mapping knob) bounds
    what stays on chip across a layout barrier: more of the SPM spills no more, the note says which share."""
    w = array_form(lower("lra-image", 1024))
    a = load_arch(ARCH)
    spills = [sum(plan_residency(w, a, "multilayer", "plan", f).spilled.values()) for f in (0.05, 0.5, 1.0)]
    assert spills[0] > spills[1] >= spills[2] >= 1  # the network's output always goes to DRAM
    r = get_backend("dataflow-multilayer", arch=ARCH, spm_resident_fraction=0.25).run(lower("lra-image", 64))
    assert any("spm_resident_fraction = 0.25" in n for n in r.notes)
    for bad in (0, 1.5, float("nan"), "0.5", True):
        with pytest.raises(SpecError, match="spm_resident_fraction"):
            get_backend("dataflow-multilayer", arch=ARCH, spm_resident_fraction=bad)


def test_bad_inputs():
    with pytest.raises(SpecError):
        lower("lra-image", 100000)
    with pytest.raises(SpecError):
        lower("no-such-model", 128)
    with pytest.raises(SpecError, match="3 x a power of two"):  # a sequence FFT the array cannot map
        get_backend("dataflow-multilayer", arch=ARCH).run(lower("lra-image", 100))
    with pytest.raises(SpecError):
        get_backend("dataflow-multilayer", arch="xavier-nx-15w")
    tiny = load_arch(ARCH).with_overrides({"spm.size_bytes": 4096, "spm.banks": 16})
    with pytest.raises(SpecError, match="(?i)spm"):
        get_backend("dataflow-multilayer", arch=tiny).run(lower("lra-image", 128))
    # not a capacity problem: the simulator's own words, not an SPM story
    rp2 = load_arch(ARCH).with_overrides({"pe.register_file.read_ports": 2})
    with pytest.raises(SpecError, match="read_ports = 2 .* FMA") as exc:
        get_backend("dataflow-multilayer", arch=rp2).run(lower("lra-image", 128))
    assert "spm" not in str(exc.value)


@pytest.mark.parametrize(
    "op",
    [Butterfly("b", n=1024, rows=256), FFT("f", n=256, rows=256), Butterfly("b", n=256, rows=512)],
    ids=["bfly1024", "fft256", "bfly256"],
)
@pytest.mark.parametrize("dataflow", ["multilayer", "single-layer"])
def test_block_level_agrees_with_cycle_level(op, dataflow):
    """One op with many rows: block-level (probes x rows + DMA pipeline) vs the cycle-level simulator of
    the whole op with the same mapping (streaming batches of PROBE_ROW_GROUPS row groups)."""
    from swallowtail.sim import simulate_kernel

    w = Workload("one", (op,), input_elems=op.input_elems, output_elems=op.output_elems)
    block = simulate_network(w, ARCH, dataflow).result.cycles
    lanes = load_arch(ARCH).pe.simd_lanes
    cyc = simulate_kernel(op, ARCH, dataflow, rows_per_batch=PROBE_ROW_GROUPS * lanes).stats.cycles
    assert abs(block / cyc - 1) < 0.03, (block, cyc)


def _block(kind: str, seq_len: int) -> Workload:
    """One small FBfly or ABfly block (d_model 64, 2 heads, d_ff 128) with its embedding and head."""
    from swallowtail.nn.config import get_preset

    cfg = get_preset("fabnet-base").replace(
        d_model=64, n_heads=2, d_ff=128, n_layers=1, attention_layers=int(kind == "abfly")
    )
    return lower(cfg, seq_len)


@pytest.mark.parametrize("kind, seq_len", [("fbfly", 256), ("abfly", 256), ("fbfly", 1024)])
@pytest.mark.parametrize("dataflow", ["multilayer", "single-layer"])
def test_block_level_agrees_with_cycle_level_on_whole_blocks(kind, seq_len, dataflow):
    """Every op of a small FBfly / ABfly block (butterflies, FFTs, GEMMs, softmax, LayerNorms, elementwise)
    run whole on the cycle-level simulator, DRAM to DRAM one after the other, vs the block-level simulator
    (memoised cycle-level rates + its DMA pipeline) with the same residency (every op DRAM to DRAM)."""
    from swallowtail.sim.network import cycle_level_workload

    w = _block(kind, seq_len)
    block = simulate_network(w, ARCH, dataflow, residency="dram").result.cycles
    cyc = cycle_level_workload(w, ARCH, dataflow)
    assert abs(block / cyc - 1) < 0.03, (block, cyc)


def test_cli_json(tmp_path):
    import typer
    from typer.testing import CliRunner

    from swallowtail.cli.simulate import simulate

    app = typer.Typer()
    app.command()(simulate)
    out = CliRunner().invoke(app, ["--model", "lra-image", "--seq-len", "128", "--json"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.output)["backend"] == "dataflow-multilayer"
    png = tmp_path / "t.png"
    out = CliRunner().invoke(app, ["--model", "lra-image", "--seq-len", "128", "--timeline", str(png)])
    assert out.exit_code == 0, out.output
    assert png.stat().st_size > 0 and "bottleneck:" in out.output
    bad = CliRunner().invoke(app, ["--model", "lra-image", "--seq-len", "100"])
    assert bad.exit_code == 2
