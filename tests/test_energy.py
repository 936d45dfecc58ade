"""Energy tables: sources, validation, technology scaling, per-array energies, full-load power vs MLX."""

from __future__ import annotations

from typing import Any

import pytest

from swallowtail.arch import load_arch
from swallowtail.arch.specbase import apply_overrides, parse_yaml
from swallowtail.energy import (
    FullLoad,
    estimate,
    full_load_counts,
    full_load_power,
    full_load_report,
    list_energy_tables,
    load_energy_table,
    parse_energy_table,
)
from swallowtail.energy.tables import COMPONENTS
from swallowtail.errors import SpecError

TABLE = "horowitz-45nm"
PJ = 1e-12
PYDANTIC_INTERNALS = ("pydantic", "errors.pydantic.dev", "type=", "For further information")
#: MLX's reported full-load power of the SIMD8 4x4 array at 12 nm, and the issue's tolerance
MLX_SIMD8_ARRAY_W = 0.41
TOLERANCE = 0.30


def table_dict() -> dict[str, Any]:
    return load_energy_table(TABLE).to_dict()


def test_shipped_table_has_sources_and_round_trips() -> None:
    assert TABLE in list_energy_tables()
    t = load_energy_table(TABLE)
    assert t.missing_sources() == []
    assert parse_energy_table(parse_yaml(t.to_yaml())) == t
    # the Horowitz anchors, in joules
    assert t.action_j("fma") == pytest.approx(1.5 * PJ)
    assert t.action_j("add") == pytest.approx(0.4 * PJ)
    assert t.sram.read_j(8192) == pytest.approx(10 * PJ)
    assert t.sram.read_j(32768) == pytest.approx(20 * PJ)
    assert t.sram.read_j(1 << 20) == pytest.approx(100 * PJ)
    assert 1.3e-9 / 8 <= t.action_j("dram") <= 2.6e-9 / 8
    assert "actions.special.energy_j" in t.assumptions()  # marked as an assumption


def test_sram_interpolation_is_monotone_and_sqrt_below_8kb() -> None:
    s = load_energy_table(TABLE).sram
    caps = [256, 1024, 4096, 8192, 16384, 65536, 1 << 20, 4 << 20]
    es = [s.read_j(c) for c in caps]
    assert es == sorted(es)
    assert s.read_j(2048) == pytest.approx(5 * PJ)  # 8 KB -> 32 KB slope (energy ~ sqrt(capacity))


@pytest.mark.parametrize("cls", ["logic", "sram", "wire"])
def test_scaling_is_monotone(cls: str) -> None:
    t = load_energy_table(TABLE)
    nodes = [45, 40, 32, 28, 22, 16, 12]
    f = [t.factor(cls, n) for n in nodes]
    assert f[0] == 1.0
    assert all(a > b for a, b in zip(f, f[1:], strict=False)), f


def test_logic_and_memory_scale_separately() -> None:
    t = load_energy_table(TABLE)
    assert t.factor("logic", 12) == pytest.approx(0.13)
    assert t.factor("logic", 28) == pytest.approx(0.51)
    for n in (28, 22, 12):
        assert t.factor("sram", n) > t.factor("logic", n)  # SRAM scales more slowly than logic
    assert t.action_j("dram", 12) == t.action_j("dram")  # DRAM does not scale with the logic node


def test_scaled_to_matches_action_energies() -> None:
    t = load_energy_table(TABLE)
    s = t.scaled_to(12)
    assert s.reference_node_nm == 12
    for a in t.actions:
        assert s.action_j(a) == pytest.approx(t.action_j(a, 12))
    assert s.sram.read_j(4096) == pytest.approx(t.sram_read_j_per_byte(4096, 12) * 8)
    assert t.scaled_to(45) is t
    e22, e12 = t.scaled_to(22), t.scaled_to(12)
    assert e12.action_j("fma") < e22.action_j("fma") < t.action_j("fma")
    with pytest.raises(SpecError) as e:
        t.scaled_to(7)
    assert "tech_node_nm" in str(e.value)


def test_for_arch_energies() -> None:
    t = load_energy_table(TABLE)
    e = t.for_arch("df-4x4-simd8")
    assert e.node_nm == 12
    assert e.fma_j == pytest.approx(1.5 * PJ * 0.13)
    # 4 KB register file: 10 pJ per 64 bits at 8 KB, / sqrt(2), per byte, x SRAM factor
    assert e.rf_read_j_per_byte == pytest.approx(10 * PJ / 2**0.5 / 8 * t.factor("sram", 12))
    assert e.spm_read_j_per_byte > e.rf_read_j_per_byte  # a 128 KB SPM bank costs more than a 4 KB RF
    assert e.dram_j_per_byte > 100 * e.spm_read_j_per_byte
    assert set(e.leakage_w) == {"fu", "rf", "noc", "spm", "control"}
    costs = e.cost({"fma_lane_ops": 10, "dram_bytes": 2})
    assert costs["fma_lane_ops"] == pytest.approx(10 * e.fma_j)
    with pytest.raises(SpecError):
        e.cost({"flux": 1})
    with pytest.raises(SpecError):
        t.for_arch("xavier-nx-15w")


def test_full_load_counts_match_the_statement() -> None:
    a = load_arch("df-4x4-simd8")
    c = full_load_counts(a, FullLoad())
    assert c["fma_lane_ops"] == 128
    assert c["noc_byte_hops"] == 16 * 8
    assert c["spm_read_bytes"] + c["spm_write_bytes"] == 64
    assert c["rf_read_bytes"] == 16 * 3 * 16 + 16 * 8 + 32
    assert c["instructions"] == 16 + 16 * 8 / 16 + 64 / 16


def test_full_load_power_df_4x4_simd8_breakdown() -> None:
    p = full_load_power("df-4x4-simd8")
    assert list(p) == list(COMPONENTS)
    assert p["fu"] == pytest.approx(128 * 1.5 * PJ * 0.13 * 1e9)  # every lane, an FMA every cycle
    assert all(v > 0 for v in p.values())
    r = full_load_report("df-4x4-simd8")
    assert r.array_w == pytest.approx(sum(r.per_pe_w.values()) * 16)
    print(
        "\nfull-load power df-4x4-simd8 (W): "
        + ", ".join(f"{k} {v:.4f}" for k, v in p.items())
        + f"\narray {r.array_w:.3f} W vs MLX {r.reference['array_w']} W ({r.array_vs_reference:+.1%}); "
        + f"memory {r.memory_w:.3f} W vs MLX {r.reference['memory_w']} W ({r.memory_vs_reference:+.1%})"
    )


def test_full_fma_load_power_within_30_percent_of_mlx() -> None:
    """Every lane an FMA every cycle (operands from the RF, no NoC / SPM traffic): MLX's 0.41 W +- 30%.
    With the NoC at one link per PE and the SPM at full bandwidth on top, the array draws more (reported by
    `arch show`, not compared: MLX does not say what traffic its 0.41 W carries)."""
    r = full_load_report("df-4x4-simd8")
    assert abs(r.fma_only_array_w / MLX_SIMD8_ARRAY_W - 1) <= TOLERANCE
    assert r.array_w > r.fma_only_array_w


def test_more_lanes_and_pes_cost_more_power() -> None:
    base = full_load_report("df-4x4-simd8").array_w
    assert full_load_report("df-4x4-simd32").array_w > base
    assert full_load_report("df-8x8-simd8").array_w > base
    assert full_load_report("df-8x8-simd8").reference is None


def test_user_table_from_yaml(tmp_path: Any) -> None:
    d = apply_overrides(table_dict(), {"name": "mine", "actions.fma.energy_j": 3.0e-12})
    p = tmp_path / "mine.yaml"
    p.write_text(load_energy_table(TABLE).model_validate(d).to_yaml())
    t = load_energy_table(str(p))
    assert t.name == "mine" and t.action_j("fma") == 3.0e-12
    assert t.source("actions.fma.energy_j").startswith("override:")
    p2 = full_load_power("df-4x4-simd8", table=str(p))
    assert p2["fu"] == pytest.approx(2 * full_load_power("df-4x4-simd8")["fu"])


def _drop(d: dict[str, Any], dotted: str) -> dict[str, Any]:
    d = apply_overrides(d, {})
    *parents, last = dotted.split(".")
    cur = d
    for p in parents:
        cur = cur[p]
    del cur[last]
    return d


BAD_TABLES: list[tuple[str, Any, str]] = [
    (
        "negative energy",
        lambda d: apply_overrides(d, {"actions.fma.energy_j": -1e-12}),
        "actions.fma.energy_j",
    ),
    (
        "string energy",
        lambda d: apply_overrides(d, {"actions.add.energy_j": "0.4 pJ"}),
        "actions.add.energy_j",
    ),
    (
        "unknown scaling class",
        lambda d: apply_overrides(d, {"actions.noc.scales_as": "magic"}),
        "actions.noc.scales_as",
    ),
    ("missing FMA action", lambda d: _drop(d, "actions.fma"), "actions"),
    ("leakage fraction >= 1", lambda d: apply_overrides(d, {"leakage_fraction": 1.5}), "leakage_fraction"),
    ("unknown key", lambda d: apply_overrides(d, {"sram": {**d["sram"], "ports": 3}}), "sram.ports"),
    (
        "SRAM energy decreasing with size",
        lambda d: apply_overrides(
            d,
            {
                "sram.points": [
                    {"capacity_bytes": 8192, "read_j": 2e-11},
                    {"capacity_bytes": 32768, "read_j": 1e-11},
                ]
            },
        ),
        "sram.points",
    ),
    (
        "no reference-node point",
        lambda d: apply_overrides(d, {"scaling.logic": [{"node_nm": 12, "factor": 0.13}]}),
        "scaling.logic",
    ),
    ("float node", lambda d: apply_overrides(d, {"reference_node_nm": 45.0}), "reference_node_nm"),
    ("missing sram", lambda d: _drop(d, "sram"), "sram"),
]


@pytest.mark.parametrize(("what", "make", "field"), BAD_TABLES, ids=[b[0] for b in BAD_TABLES])
def test_bad_energy_table(what: str, make: Any, field: str) -> None:
    with pytest.raises(SpecError) as e:
        parse_energy_table(make(table_dict()), source="t.yaml")
    msg = str(e.value)
    assert field in msg
    for bad in PYDANTIC_INTERNALS:
        assert bad not in msg


def test_unknown_table_lists_tables() -> None:
    with pytest.raises(SpecError) as e:
        load_energy_table("nope")
    assert TABLE in str(e.value)


def test_spm_banks_and_the_instruction_buffer_change_energy_not_cycles():
    # issue 18: every arch field changes the model -- these two set the SRAM size each access reads from (a
    # smaller bank or buffer costs less per access, Horowitz's SRAM curve); the cycle model has no place for
    # them (SPM bandwidth is spm.bytes_per_cycle; a pass template is not limited by the buffer's size)
    base = load_arch("df-4x4-simd8")
    table = load_energy_table(base.energy_table)
    e0 = table.for_arch(base)
    more_banks = table.for_arch(base.with_overrides({"spm.banks": 64}))
    small_ibuf = table.for_arch(base.with_overrides({"pe.instruction_buffer": 8}))
    assert more_banks.spm_read_j_per_byte < e0.spm_read_j_per_byte
    assert small_ibuf.instruction_j < e0.instruction_j


def test_estimate_costs_every_action_and_refuses_an_unknown_one() -> None:
    arch = load_arch("df-4x4-simd8")
    e = estimate(arch, {"fma_lane_ops": 1000, "dram_bytes": 64}, latency_s=1e-6)
    assert set(e.breakdown_j) == {"fu", "dram", "leakage"}
    assert e.total_j == pytest.approx(e.dynamic_j + e.leakage_w * 1e-6)
    assert e.breakdown_j["fu"] > 0 and e.breakdown_j["dram"] > 0
    with pytest.raises(SpecError, match="fma_lane_op"):  # a misspelt count is an error, never 0 J
        estimate(arch, {"fma_lane_op": 1000}, latency_s=1e-6)
    with pytest.raises(SpecError, match="cycles"):
        estimate(arch, {"cycles": 10}, latency_s=1e-6)
