"""The systolic-array baseline: GEMM compute cycles equal SCALE-Sim v3's (recorded fixtures), hand counts."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from swallowtail.backends import get_backend
from swallowtail.baselines.systolic import scalesim_os_compute_cycles
from swallowtail.energy import load_energy_table
from swallowtail.errors import SpecError
from swallowtail.workload import FFT, GEMM, Butterfly, Softmax, Workload

FIXTURE_DIR = Path(__file__).parent / "fixtures" / "scalesim"
FIXTURES = sorted(FIXTURE_DIR.glob("*.json"))
#: a DRAM so fast it never binds (B/s): isolates compute cycles
NO_STALL_GBPS = 1.0e6


def _cases() -> list[tuple[int, int, dict[str, Any]]]:
    out = []
    for path in FIXTURES:
        d = json.loads(path.read_text())
        for layer in d["layers"]:
            out.append((d["array"]["rows"], d["array"]["cols"], layer))
    return out


CASES = _cases()


def one(op: Any) -> Workload:
    return Workload(op.name, (op,))


def test_fixtures_cover_the_brief() -> None:
    assert len(CASES) >= 10
    arrays = {(r, c) for r, c, _ in CASES}
    assert {(8, 8), (16, 16), (32, 8)} <= arrays
    partial = [la for r, c, la in CASES if la["M"] % r or la["N"] % c]
    assert len(partial) >= 5
    for path in FIXTURES:
        d = json.loads(path.read_text())
        assert d["dataflow"] == "os" and d["scalesim_version"].startswith("3.")
        assert "Dataflow : os" in d["config_cfg"]
        assert f"ArrayHeight:    {d['array']['rows']}" in d["config_cfg"]
        assert f"ArrayWidth:     {d['array']['cols']}" in d["config_cfg"]
        assert d["command"].startswith("python -m scalesim.scale") and "-i gemm" in d["command"]
        rows = d["topology_csv"].strip().splitlines()
        assert rows[0] == "Layer, M, N, K,"
        for line, layer in zip(rows[1:], d["layers"], strict=True):
            assert line == f"{layer['name']}, {layer['M']}, {layer['N']}, {layer['K']},"


@pytest.mark.parametrize(
    ("rows", "cols", "layer"), CASES, ids=[f"{r}x{c}-{la['name']}" for r, c, la in CASES]
)
def test_compute_cycles_equal_scalesim(rows: int, cols: int, layer: dict[str, Any]) -> None:
    m, n, k = layer["M"], layer["N"], layer["K"]
    assert scalesim_os_compute_cycles(m, k, n, rows, cols) == layer["compute_cycles"]
    b = get_backend("systolic", rows=rows, cols=cols, dram_gbytes_per_s=NO_STALL_GBPS)
    r = b.run(one(GEMM("g", m=m, k=k, n=n)))
    assert r.ops[0].cycles == layer["compute_cycles"]
    assert r.cycles == layer["compute_cycles"] and r.stalls == {}


@settings(max_examples=200, deadline=None)
@given(
    m=st.integers(1, 300),
    k=st.integers(1, 300),
    n=st.integers(1, 300),
    rows=st.integers(1, 32),
    cols=st.integers(1, 32),
)
def test_cycles_at_least_the_ideal_bound(m: int, k: int, n: int, rows: int, cols: int) -> None:
    if rows + cols < 3:  # a 1x1 array: SCALE-Sim's 0-based count is MACs - 1
        return
    cycles = scalesim_os_compute_cycles(m, k, n, rows, cols)
    assert cycles >= math.ceil(m * k * n / (rows * cols))
    assert cycles == math.ceil(m / rows) * math.ceil(n / cols) * (k + rows + cols - 2) - 1


def test_single_gemm_hand_count() -> None:
    # systolic-os-16x8: GEMM 40x50 @ 50x20 -> ceil(40/16) * ceil(20/8) = 9 folds of 50 + 16 + 8 - 2 = 72
    b = get_backend("systolic")
    r = b.run(one(GEMM("g", m=40, k=50, n=20, b_is_weight=True)))
    assert r.cycles == 9 * 72 - 1 == 647
    assert r.latency_s == pytest.approx(647 / 1e9)
    assert r.peak_ops_per_s == 16 * 8 * 2 * 1e9
    # DRAM: A 40x50, B 50x20, C 40x20, fp16, each once (they fit half their SRAM)
    dram = (40 * 50 + 50 * 20 + 40 * 20) * 2
    assert r.traffic_bytes["dram"] == dram == 7600
    assert math.ceil(dram / 51.2) < 647 and r.stalls == {}
    # SRAM: ifmap read once per column fold (3), filter once per row fold (3), outputs written once
    assert r.traffic_bytes["spm"] == (3 * 40 * 50 + 3 * 50 * 20 + 40 * 20) * 2
    table = load_energy_table("horowitz-45nm")
    assert r.energy_breakdown_j["fu"] == pytest.approx(40 * 50 * 20 * 1.5e-12 * 0.13)
    assert r.energy_breakdown_j["dram"] == pytest.approx(dram * table.action_j("dram"))
    leak = 0.1 * 128 * 1.5e-12 * 0.13 * 1e9  # leakage fraction x PEs x FMA energy x clock
    assert r.energy_breakdown_j["leakage"] == pytest.approx(leak * 647e-9)
    assert r.utilization == pytest.approx(40 * 50 * 20 / (128 * 647))


def test_dram_stalls_only_when_bandwidth_binds() -> None:
    w = one(GEMM("g", m=40, k=50, n=20, b_is_weight=True))
    r = get_backend("systolic", dram_gbytes_per_s=1.0).run(w)  # 1 B per cycle: 7600 cycles of DRAM
    assert r.cycles == 7600 and r.stalls == {"dram": 7600 - 647}
    assert r.ops[0].bound == "dram"


def test_butterfly_block_and_dense_mappings_hand_count() -> None:
    # n = 64, 6 stages, 16 rows on 16x8. OS cycles of GEMM(m, k, n) x batch: ceil(m/16) ceil(n/8) (k + 22) - 1
    op = Butterfly("b", n=64, rows=16)
    dense = 1 * 8 * (64 + 22) - 1  # the 64 x 64 matrix: 687
    # blocks of 2^t: t=3 -> two levels of 8 GEMMs (16x8 @ 8x8): 8 * (1 * 1 * (8 + 22) - 1) each
    t3 = 2 * 8 * (1 * 1 * (8 + 22) - 1)  # 464
    t2 = 3 * 16 * (1 * 1 * (4 + 22) - 1)  # 1200
    t4 = 4 * (1 * 2 * (16 + 22) - 1) + 16 * (1 * 1 * (4 + 22) - 1)  # [4, 2]: 300 + 400
    t6 = dense
    assert min(t2, t3, t4, t6) == t3
    fast = {"dram_gbytes_per_s": NO_STALL_GBPS}
    assert get_backend("systolic", **fast).run(one(op)).cycles == t3 == 464
    assert get_backend("systolic", butterfly_mapping="dense", **fast).run(one(op)).cycles == dense == 687
    # with the preset's DRAM the traffic (at most 12288 B = 240 cycles per GEMM) does not bind either
    assert get_backend("systolic").run(one(op)).cycles == 464


def test_fft_runs_as_a_dft_gemm() -> None:
    # FFT of 8 real points over 16 rows: (16 x 8) @ (8 x 16): 1 x 2 folds of 8 + 22 cycles
    r = get_backend("systolic").run(one(FFT("f", n=8, rows=16, real_input=True)))
    assert r.cycles == 2 * (8 + 22) - 1


def test_vector_ops_on_the_vector_unit() -> None:
    op = Softmax("s", rows=4, n=100)  # 5 FLOPs per element
    r = get_backend("systolic").run(one(op))
    assert r.cycles == max(math.ceil(5 * 400 / 16), math.ceil(2 * 400 * 2 / 51.2)) == 125


def test_systolic_16x16_preset_and_options() -> None:
    r = get_backend("systolic", arch="systolic-os-16x16").run(one(GEMM("g", m=16, k=16, n=16)))
    assert r.cycles == 16 + 16 + 16 - 2 - 1
    assert r.peak_ops_per_s == 512e9
    with pytest.raises(SpecError, match="butterfly_mapping"):
        get_backend("systolic", butterfly_mapping="diagonal")
    with pytest.raises(SpecError, match="rows"):
        get_backend("systolic", rows=0)
    with pytest.raises(SpecError, match="systolic option"):
        get_backend("systolic", lanes=4)
    with pytest.raises(SpecError, match="arch"):
        get_backend("systolic", arch="df-4x4-simd8")
    with pytest.raises(SpecError, match="rows"):
        scalesim_os_compute_cycles(1, 1, 1, 0, 4)
