"""Architecture specs: presets, round trips, strict validation with clean errors, source notes, the CLI."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from swallowtail.arch import (
    ArchSpec,
    DataflowArch,
    GPUArch,
    SpecProblems,
    dump_arch,
    list_archs,
    load_arch,
    parse_arch,
)
from swallowtail.arch.specbase import apply_overrides, parse_yaml
from swallowtail.cli.arch import app
from swallowtail.energy import load_energy_table
from swallowtail.energy.tables import TABLE_DIR
from swallowtail.errors import SpecError

PRESETS = [
    "agx-orin-maxn",
    "agx-xavier-maxn",
    "agx-xavier-maxq",
    "agx-xavier-maxq-v11",
    "df-4x4-simd32",
    "df-4x4-simd8",
    "df-8x8-simd8",
    "fabnet-be120-ddr3",
    "fabnet-be120-hbm",
    "fabnet-be40-hbm",
    "h100-pcie-max",
    "h100-sxm-max",
    "h200-sxm-max",
    "orin-nx-16gb-maxn",
    "sanger",
    "spatten",
    "systolic-os-16x16",
    "systolic-os-16x8",
    "xavier-nx-10w",
    "xavier-nx-15w",
    "xavier-nx-20w",
    "xavier-nx-maxq",
    "xavier-nx-maxq-v11-bert-offline",
    "xavier-nx-maxq-v11-resnet50",
]
#: text that must never reach a user: pydantic's internals
PYDANTIC_INTERNALS = ("pydantic", "errors.pydantic.dev", "type=", "For further information", "input_value")


def assert_clean(exc: BaseException, field: str) -> None:
    msg = str(exc)
    assert field in msg, f"{field!r} not named in: {msg}"
    for bad in PYDANTIC_INTERNALS:
        assert bad not in msg, f"pydantic internals {bad!r} in: {msg}"


def df_dict() -> dict[str, Any]:
    return load_arch("df-4x4-simd8").to_dict()


def gpu_dict() -> dict[str, Any]:
    return load_arch("xavier-nx-15w").to_dict()


# ---- presets -----------------------------------------------------------------------------------------


def test_list_archs() -> None:
    assert list_archs() == PRESETS


@pytest.mark.parametrize("name", PRESETS)
def test_preset_round_trip(name: str, tmp_path: Any) -> None:
    arch = load_arch(name)
    assert arch.name == name
    text = dump_arch(arch)
    assert parse_arch(parse_yaml(text)) == arch
    path = tmp_path / f"{name}.yaml"
    dump_arch(arch, path)
    assert load_arch(str(path)) == arch
    assert load_arch(path) == arch


@pytest.mark.parametrize("name", PRESETS)
def test_every_numeric_value_has_a_source(name: str) -> None:
    arch = load_arch(name)
    assert arch.numeric_leaves(), "no numeric fields found"
    assert arch.missing_sources() == []
    # shipped presets note every numeric leaf itself (not only through a parent)
    assert [p for p in arch.numeric_leaves() if p not in arch.sources] == []
    for path, note in arch.sources.items():
        assert note.strip(), path


def test_df_4x4_simd8_is_the_design_table() -> None:
    a = load_arch("df-4x4-simd8")
    assert isinstance(a, DataflowArch)
    assert a.peak_ops_per_s == 256e9
    assert a.n_pes == 16 and a.pe.simd_lanes == 8 and a.peak_lane_ops_per_cycle == 128
    assert a.clock_hz == 1e9 and a.tech_node_nm == 12
    assert a.pe.instruction_buffer == 32 and a.pe.active_tags == 16
    assert a.rf_bytes_per_pe == 256 * 16
    assert a.noc.topology == "skip-hop" and a.noc.hops == [1, 2] and a.noc.link_bytes_per_cycle == 8
    assert a.spm.size_bytes == 2 * 2**20 and a.spm.banks == 16 and a.spm.bytes_per_cycle == 64
    assert a.dram_bytes_per_s == pytest.approx(51.2e9)
    assert a.dram_bytes_per_cycle == pytest.approx(51.2)
    assert a.on_chip_bytes == 2 * 2**20 + 16 * 4096
    assert set(a.pe.fus) >= {"fma", "add", "special"}
    assert "pe.register_file.entries" in a.assumptions()


def test_variants_peaks() -> None:
    assert load_arch("df-4x4-simd32").peak_ops_per_s == 1.024e12
    assert load_arch("df-8x8-simd8").peak_ops_per_s == 1.024e12


def test_xavier_nx() -> None:
    g = load_arch("xavier-nx-15w")
    assert isinstance(g, GPUArch)
    assert (g.sms, g.cuda_cores, g.tensor_cores) == (6, 384, 48)
    assert g.clock_hz == pytest.approx(1.10925e9)
    assert g.peak_ops_per_s == g.peak_flops["fp16_tensor"]
    assert g.peak_flops["fp16_cuda"] == pytest.approx(1.7e12, rel=0.01)
    assert g.peak_flops["fp16_tensor"] == pytest.approx(6.8e12, rel=0.01)  # the data sheet rounds to 6
    assert g.dram_bytes_per_s == pytest.approx(51.2e9)
    assert g.mode.board_power_w == 15.0 and g.mode.measured_power_w == 13.5
    # 10 W mode: peak scales with the GPU clock
    assert g.peak_flops_at("fp16_tensor", "10w") < g.peak_ops_per_s


def test_arch_spec_is_the_common_base() -> None:
    for name in PRESETS:
        assert isinstance(load_arch(name), ArchSpec)


def test_overrides_revalidate_and_mark_the_source() -> None:
    a = load_arch("df-4x4-simd8").with_overrides({"pe.simd_lanes": 32})
    assert a.peak_ops_per_s == 1.024e12
    assert a.source("pe.simd_lanes").startswith("override:")
    with pytest.raises(SpecError) as e:
        load_arch("df-4x4-simd8").with_overrides({"pe.simd_lanes": 0})
    assert_clean(e.value, "pe.simd_lanes")


def test_overrides_of_the_notes_apply_and_bad_overrides_are_named() -> None:
    """`sources` overrides were silently dropped (the old notes were put back); a path that is not a string,
    or overrides that are not a mapping, were an AttributeError."""
    a = load_arch("df-4x4-simd8")
    assert a.with_overrides({"sources": {"clock_hz": "mine"}}).sources == {"clock_hz": "mine"}
    assert a.with_overrides({"sources.pe.simd_lanes": "mine"}).source("pe.simd_lanes") == "mine"
    bads = (({1: 2}, "1"), ([("clock_hz", 1e9)], "overrides"), ({"sources.nope": "x"}, "sources.nope"))
    for bad, field in bads:
        with pytest.raises(SpecError) as e:
            a.with_overrides(bad)  # type: ignore[arg-type]
        assert e.value.field == field
    with pytest.raises(SpecError, match="power_mode"):
        load_arch("xavier-nx-15w").at_mode(["15w"])  # type: ignore[arg-type]


def test_unknown_preset_lists_presets() -> None:
    with pytest.raises(SpecError) as e:
        load_arch("df-9x9")
    for p in PRESETS:
        assert p in str(e.value)


# ---- bad inputs ---------------------------------------------------------------------------------------


def _without(d: dict[str, Any], dotted: str) -> dict[str, Any]:
    d = apply_overrides(d, {})
    parts = dotted.split(".")
    cur = d
    for p in parts[:-1]:
        cur = cur[p]
    del cur[parts[-1]]
    return d


def _with_key(d: dict[str, Any], dotted: str, value: Any) -> dict[str, Any]:
    d = apply_overrides(d, {})
    parts = dotted.split(".")
    cur = d
    for p in parts[:-1]:
        cur = cur[p]
    cur[parts[-1]] = value
    return d


BAD_DATAFLOW: list[tuple[str, Any, str]] = [
    # (description, a function of the good dict -> a bad dict, the field the message must name)
    ("unknown top-level key", lambda d: _with_key(d, "speed", 3), "speed"),
    ("unknown nested key", lambda d: _with_key(d, "pe.bar", 2), "pe.bar"),
    ("unknown key in an FU", lambda d: _with_key(d, "pe.fus.fma.speed", 2), "pe.fus.fma.speed"),
    ("zero lanes", lambda d: apply_overrides(d, {"pe.simd_lanes": 0}), "pe.simd_lanes"),
    (
        "negative bandwidth",
        lambda d: apply_overrides(d, {"dma.gbytes_per_s_per_channel": -1.0}),
        "dma.gbytes_per_s_per_channel",
    ),
    ("float rows", lambda d: apply_overrides(d, {"array.rows": 4.0}), "array.rows"),
    ("non-integer cols", lambda d: apply_overrides(d, {"array.cols": 4.5}), "array.cols"),
    ("string clock", lambda d: apply_overrides(d, {"clock_hz": "1GHz"}), "clock_hz"),
    ("negative clock", lambda d: apply_overrides(d, {"clock_hz": -1e9}), "clock_hz"),
    ("infinite clock", lambda d: apply_overrides(d, {"clock_hz": math.inf}), "clock_hz"),
    ("boolean lanes", lambda d: apply_overrides(d, {"pe.simd_lanes": True}), "pe.simd_lanes"),
    ("hop 4 on a 4x4 mesh", lambda d: apply_overrides(d, {"noc.hops": [1, 4]}), "noc.hops"),
    ("mesh with hops [1, 2]", lambda d: apply_overrides(d, {"noc.topology": "mesh"}), "noc.hops"),
    ("skip-hop without a long hop", lambda d: apply_overrides(d, {"noc.hops": [1]}), "noc.hops"),
    ("hops without 1", lambda d: apply_overrides(d, {"noc.hops": [2]}), "noc.hops"),
    ("hops out of order", lambda d: apply_overrides(d, {"noc.hops": [2, 1]}), "noc.hops"),
    ("unknown topology", lambda d: apply_overrides(d, {"noc.topology": "torus"}), "noc.topology"),
    ("unknown kind", lambda d: apply_overrides(d, {"kind": "tpu"}), "kind"),
    ("missing kind", lambda d: _without(d, "kind"), "kind"),
    ("missing clock", lambda d: _without(d, "clock_hz"), "clock_hz"),
    ("missing nested field", lambda d: _without(d, "spm.banks"), "spm.banks"),
    ("missing special FU", lambda d: _without(d, "pe.fus.special"), "pe.fus"),
    (
        "FMA not 2 FLOPs",
        lambda d: apply_overrides(d, {"pe.fus.fma.ops_per_lane": 1}),
        "pe.fus.fma.ops_per_lane",
    ),
    (
        "two FMA issues",
        lambda d: apply_overrides(d, {"pe.fus.fma.issue_per_cycle": 2}),
        "pe.fus.fma.issue_per_cycle",
    ),
    ("zero FU latency", lambda d: apply_overrides(d, {"pe.fus.add.latency": 0}), "pe.fus.add.latency"),
    ("SPM not divisible into banks", lambda d: apply_overrides(d, {"spm.banks": 3}), "spm.size_bytes"),
    ("negative DMA latency", lambda d: apply_overrides(d, {"dma.latency_cycles": -1}), "dma.latency_cycles"),
    ("unsupported dtype", lambda d: apply_overrides(d, {"pe.dtype": "fp32"}), "pe.dtype"),
    ("a name with a space", lambda d: apply_overrides(d, {"name": "my arch"}), "name"),
    (
        "source for a field that does not exist",
        lambda d: _with_key(d, "sources", {"pe.simd_lane": "x"}),
        "sources.pe.simd_lane",
    ),
    ("empty source note", lambda d: _with_key(d, "sources", {"clock_hz": " "}), "sources.clock_hz"),
    ("not a mapping", lambda d: [1, 2], "(top level)"),
    ("nested not a mapping", lambda d: apply_overrides(d, {"spm": 5}), "spm"),
]

BAD_GPU: list[tuple[str, Any, str]] = [
    ("default mode not a mode", lambda d: apply_overrides(d, {"default_mode": "30w"}), "default_mode"),
    (
        "no fp16 tensor peak",
        lambda d: _without(d, "flops_per_clk_per_sm.fp16_tensor"),
        "flops_per_clk_per_sm",
    ),
    (
        "tensor cores not a multiple of SMs",
        lambda d: apply_overrides(d, {"tensor_cores": 50}),
        "tensor_cores",
    ),
    ("zero bus width", lambda d: apply_overrides(d, {"dram_bus_bits": 0}), "dram_bus_bits"),
    ("cores not a multiple of SMs", lambda d: apply_overrides(d, {"cuda_cores": 385}), "cuda_cores"),
    (
        "negative power",
        lambda d: apply_overrides(d, {"power_modes.15w.board_power_w": -15.0}),
        "power_modes.15w.board_power_w",
    ),
    ("unknown power-mode key", lambda d: _with_key(d, "power_modes.15w.volts", 1.0), "power_modes.15w.volts"),
    ("dataflow field on a GPU", lambda d: _with_key(d, "clock_hz", 1e9), "clock_hz"),
    ("another default mode, the old name", lambda d: apply_overrides(d, {"default_mode": "10w"}), "name"),
    (
        "tensor rates without tensor cores",
        lambda d: apply_overrides(d, {"tensor_cores": 0}),
        "flops_per_clk_per_sm.fp16_tensor",
    ),
    (
        "a mode key with a dot",
        lambda d: {**d, "power_modes": {**d["power_modes"], "10.w": d["power_modes"]["10w"]}},
        "power_modes.10.w",
    ),
    ("no power modes", lambda d: {**d, "power_modes": {}}, "a mapping of 1"),
]


@pytest.mark.parametrize(("what", "make", "field"), BAD_DATAFLOW, ids=[b[0] for b in BAD_DATAFLOW])
def test_bad_dataflow_spec(what: str, make: Any, field: str) -> None:
    with pytest.raises(SpecError) as e:
        parse_arch(make(df_dict()), source="bad.yaml")
    assert isinstance(e.value, ValueError)
    assert_clean(e.value, field)


@pytest.mark.parametrize(("what", "make", "field"), BAD_GPU, ids=[b[0] for b in BAD_GPU])
def test_bad_gpu_spec(what: str, make: Any, field: str) -> None:
    with pytest.raises(SpecError) as e:
        parse_arch(make(gpu_dict()))
    assert_clean(e.value, field)


def test_error_lists_what_is_allowed() -> None:
    with pytest.raises(SpecProblems) as e:
        parse_arch(_with_key(df_dict(), "pe.bar", 1))
    assert "simd_lanes" in str(e.value)  # the allowed fields are listed
    with pytest.raises(SpecProblems) as e:
        parse_arch(apply_overrides(df_dict(), {"noc.hops": [1, 4]}))
    assert "at most 3" in str(e.value)


def test_several_problems_one_line_each() -> None:
    d = apply_overrides(df_dict(), {"pe.simd_lanes": 0, "array.rows": 2.5})
    with pytest.raises(SpecProblems) as e:
        parse_arch(d, source="x.yaml")
    lines = str(e.value).splitlines()
    assert len(lines) == 2 and all(line.startswith("x.yaml: ") for line in lines)


def test_yaml_errors_name_file_and_line(tmp_path: Any) -> None:
    p = tmp_path / "broken.yaml"
    p.write_text("kind: dataflow\nname: x\narray: {rows: 4, cols: [4\n")
    with pytest.raises(SpecError) as e:
        load_arch(str(p))
    assert re.search(rf"{re.escape(str(p))}:\d+:\d+: YAML syntax error", str(e.value)), str(e.value)
    p.write_text("kind: dataflow\nname: a\nname: b\n")
    with pytest.raises(SpecError) as e:
        load_arch(str(p))
    assert f"{p}:3" in str(e.value) and "duplicate key" in str(e.value)


def test_a_merge_key_is_refused_by_name() -> None:
    """`<<: *base` said "could not determine a constructor for the tag ...merge"; it is refused in words
    (PyYAML's merge copies its base at every use: nested merges of 40 aliases would build 2^40 keys)."""
    with pytest.raises(SpecError, match=r"<string>:2:5: .*merge key '<<' \(not supported"):
        parse_yaml("a: &x {k: 1}\nb: {<<: *x, j: 2}\n")


def test_yaml_reads_exponent_floats() -> None:
    assert parse_yaml("x: 1e9\ny: 2.5E-12\nz: 7\n") == {"x": 1e9, "y": 2.5e-12, "z": 7}


# ---- hypothesis ---------------------------------------------------------------------------------------


@st.composite
def valid_dataflow(draw: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    rows = draw(st.integers(1, 16))
    cols = draw(st.integers(1, 16))
    lanes = draw(st.integers(1, 64))
    clock = draw(st.floats(1e8, 4e9, allow_nan=False))
    channels = draw(st.integers(1, 8))
    gbps = draw(st.floats(0.5, 200.0, allow_nan=False))
    span = max(rows, cols)
    long_hops = draw(st.sets(st.integers(2, max(2, span - 1)), max_size=3)) if span > 2 else set()
    hops = [1, *sorted(long_hops)]
    banks = draw(st.sampled_from([1, 2, 4, 8, 16, 32]))
    over = {
        "array.rows": rows,
        "array.cols": cols,
        "pe.simd_lanes": lanes,
        "clock_hz": clock,
        "dma.channels": channels,
        "dma.gbytes_per_s_per_channel": gbps,
        "noc.hops": hops,
        "noc.topology": "skip-hop" if len(hops) > 1 else "mesh",
        "spm.banks": banks,
        "spm.size_bytes": banks * draw(st.integers(1, 1 << 20)),
    }
    return apply_overrides(df_dict(), over), over


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(valid_dataflow())
def test_random_valid_specs_load_with_formula_peaks(case: tuple[dict[str, Any], dict[str, Any]]) -> None:
    d, o = case
    a = parse_arch(d)
    assert isinstance(a, DataflowArch)
    n = o["array.rows"] * o["array.cols"]
    assert a.n_pes == n
    assert a.peak_lane_ops_per_cycle == n * o["pe.simd_lanes"]
    assert a.peak_ops_per_s == pytest.approx(n * o["pe.simd_lanes"] * 2 * o["clock_hz"], rel=1e-12)
    assert a.dram_bytes_per_s == pytest.approx(o["dma.channels"] * o["dma.gbytes_per_s_per_channel"] * 1e9)
    assert a.dram_bytes_per_cycle == pytest.approx(a.dram_bytes_per_s / o["clock_hz"])
    assert parse_arch(parse_yaml(a.to_yaml())) == a


NUMERIC_PATHS = sorted(load_arch("df-4x4-simd8").numeric_leaves())


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from(NUMERIC_PATHS),
    st.sampled_from([-1, -2.5, "many", None, [], {"a": 1}, True]),
)
def test_random_invalid_specs_are_refused(path: str, bad: Any) -> None:
    d = apply_overrides(df_dict(), {path: bad})
    with pytest.raises(SpecError) as e:
        parse_arch(d)
    assert_clean(e.value, path.split(".")[0])


# ---- CLI ----------------------------------------------------------------------------------------------

runner = CliRunner()


def test_cli_list_and_show() -> None:
    r = runner.invoke(app, ["list"])
    assert r.exit_code == 0, r.output
    for p in PRESETS:
        assert p in r.output
    r = runner.invoke(app, ["show", "df-4x4-simd8", "--json"])
    assert r.exit_code == 0, r.output
    import json

    d = json.loads(r.stdout)
    assert d["derived"]["peak_gops"] == 256
    assert d["full_load_power"]["reference"]["array_w"] == 0.41
    assert {f["field"] for f in d["fields"]} >= {"pe.simd_lanes", "noc.hops"}
    r = runner.invoke(app, ["show", "xavier-nx-15w"])
    assert r.exit_code == 0, r.output


def test_cli_bad_yaml_is_one_clean_line(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from swallowtail.cli import _common

    # the runner's terminal is 80 columns: let rich print long lines unwrapped, as a wide terminal would
    monkeypatch.setattr(_common.err_console, "soft_wrap", True)
    bad = apply_overrides(df_dict(), {"pe.simd_lanes": 0})
    p = tmp_path / "bad.yaml"
    p.write_text(dump_arch(parse_arch(df_dict())).replace("simd_lanes: 8", "simd_lanes: 0"))
    assert bad["pe"]["simd_lanes"] == 0
    r = runner.invoke(app, ["show", str(p)])
    assert r.exit_code == 2
    lines = [line for line in r.output.splitlines() if line.strip()]
    assert len(lines) == 1, r.output
    assert "pe.simd_lanes" in lines[0] and "Traceback" not in r.output
    for bad_text in PYDANTIC_INTERNALS:
        assert bad_text not in r.output
    p.write_text("kind: [dataflow\n")
    r = runner.invoke(app, ["show", str(p)])
    assert r.exit_code == 2 and str(p) in r.output and "Traceback" not in r.output
    r = runner.invoke(app, ["show", "no-such-arch"])
    assert r.exit_code == 2 and "df-4x4-simd8" in r.output


def test_a_key_with_a_newline_is_named_on_one_line(tmp_path: Any) -> None:
    """A key typed with a control character is quoted: each problem of a spec stays one line."""
    path = tmp_path / "gpu.yaml"
    path.write_text('kind: gpu\n"a\\nb": 1\n"\\t": 2\n"sms ": 3\n', encoding="utf-8")
    with pytest.raises(SpecError) as e:
        load_arch(str(path))
    lines = str(e.value).splitlines()
    assert any("'a\\nb' is not a known field" in line for line in lines)
    assert any("'\\t' is not a known field" in line for line in lines)
    assert any("'sms ' is not a known field" in line for line in lines)  # an edge space, shown
    assert all(line.startswith(str(path)) for line in lines)


def test_a_name_the_os_cannot_look_up_is_an_unknown_preset() -> None:
    """Too long for a file name (ENAMETOOLONG), or with a NUL byte: the preset list, not an errno."""
    for name in ("a" * 300, "a" * 300 + ".yaml", "xavier\0nx"):
        with pytest.raises(SpecError) as e:
            load_arch(name)
        assert "Errno" not in str(e.value)


def test_cli_show_prints_user_text_as_text(tmp_path: Any) -> None:
    """A note, a description or a name is the user's text: `[/]` is not rich markup, `:x:` not an emoji."""
    d = df_dict()
    d["description"] = "a [blue]b :x: c"
    d["sources"] = {**d["sources"], "clock_hz": "see [/] the paper"}
    p = tmp_path / "markup.yaml"
    p.write_text(dump_arch(parse_arch(d)))
    r = runner.invoke(app, ["show", str(p)])
    assert r.exit_code == 0, r.output
    assert "a [blue]b :x: c" in r.output and "see [/] the paper" in r.output
    r = runner.invoke(app, ["show", "no:x:arch"])
    assert r.exit_code == 2 and "'no:x:arch'" in r.output


def test_a_relative_energy_table_is_read_beside_the_arch_file(tmp_path, monkeypatch):
    """Found by a bad-input hunt: `energy_table: mytable.yaml` next to the arch YAML was looked for in the
    current folder."""
    d = tmp_path / "rel"
    d.mkdir()
    (d / "mytable.yaml").write_text((TABLE_DIR / "horowitz-45nm.yaml").read_text())
    shipped, beside = "energy_table: horowitz-45nm", "energy_table: mytable.yaml"
    text = dump_arch(load_arch("df-4x4-simd8")).replace(shipped, beside)
    assert beside in text
    (d / "arch.yaml").write_text(text)
    monkeypatch.chdir(tmp_path)
    a = load_arch("rel/arch.yaml")
    assert a.energy_table == str(Path("rel") / "mytable.yaml")
    assert load_energy_table(a.energy_table).for_arch(a).fma_j > 0
