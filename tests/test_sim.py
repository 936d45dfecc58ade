"""The cycle-level simulator: values verified against PyTorch, poisoned outputs, fast-forward exactness,
stall accounting, the Result, the CLI command."""

from __future__ import annotations

import copy
import json
import math

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from swallowtail.arch import load_arch
from swallowtail.compiler import compile as compile_kernel
from swallowtail.compiler.isa import OP_ST
from swallowtail.sim import run, simulate_kernel
from swallowtail.sim.timing import simulate_timing
from swallowtail.sim.values import error_bound, execute, random_data, verify
from swallowtail.workload.ops import FFT, Butterfly

ARCH = "df-4x4-simd8"


def _op(kind: str, n: int, rows: int):
    return Butterfly("b", n=n, rows=rows) if kind == "butterfly" else FFT("f", n=n, rows=rows)


# ---- functional: outputs within the fp16 bound of PyTorch ------------------------------------------------
@pytest.mark.parametrize("kind", ["butterfly", "fft"])
@pytest.mark.parametrize("n", [2**k for k in range(4, 14)])
def test_values_rows7_multilayer(kind, n):
    out = simulate_kernel(_op(kind, n, 7), ARCH, "multilayer", verify=True, seed=n)
    assert out.verify is not None and out.verify.ok, out.verify.describe()


@pytest.mark.parametrize("kind", ["butterfly", "fft"])
@pytest.mark.parametrize("n", [16, 128, 1024, 8192])
def test_values_rows7_single_layer(kind, n):
    out = simulate_kernel(_op(kind, n, 7), ARCH, "single-layer", verify=True, seed=n + 1)
    assert out.verify.ok, out.verify.describe()


@pytest.mark.parametrize(
    ("kind", "n", "rows", "dataflow"),
    [
        ("butterfly", 16, 1, "multilayer"),
        ("fft", 2048, 1, "multilayer"),
        ("butterfly", 512, 1, "single-layer"),
        ("fft", 256, 64, "multilayer"),
        ("butterfly", 1024, 64, "single-layer"),
        ("fft", 32, 64, "single-layer"),
    ],
)
def test_values_rows_1_and_64(kind, n, rows, dataflow):
    out = simulate_kernel(_op(kind, n, rows), ARCH, dataflow, verify=True, seed=7)
    assert out.verify.ok, out.verify.describe()


def test_complex_butterfly_and_decreasing_stride_and_real_fft():
    for op in (
        Butterfly("c", n=256, rows=9, complex=True),
        Butterfly("d", n=512, rows=9, increasing_stride=False),
        Butterfly("s", n=1024, rows=5, stages=7),
        FFT("r", n=256, rows=5, real_input=True, real_output=True),
    ):
        out = simulate_kernel(op, ARCH, verify=True, seed=3)
        assert out.verify.ok, (op.describe(), out.verify.describe())


def test_fp32_accumulate_is_tighter():
    op = FFT("f", n=1024, rows=8)
    b16, c16 = error_bound(compile_kernel(op, ARCH), "fp16")
    b32, c32 = error_bound(compile_kernel(op, ARCH), "fp32-acc")
    assert b32 < b16 and c32 < c16
    out = simulate_kernel(op, ARCH, verify=True, precision="fp32-acc")
    assert out.verify.ok and out.verify.max_rel_err <= b32


def test_error_bound_is_c_log2n_u():
    p = compile_kernel(Butterfly("b", n=4096, rows=1), ARCH)
    bound, c = error_bound(p, "fp16")
    assert c == 2
    assert bound == pytest.approx(c * 12 * 2**-11, rel=0.02)


def test_random_inputs_differ_per_seed():
    p = compile_kernel(Butterfly("b", n=64, rows=2), ARCH)
    assert not np.array_equal(random_data(p, 0).x, random_data(p, 1).x)


def test_poisoned_outputs_catch_an_unwritten_element():
    """Redirect one store onto another's slot: one output is never written and stays NaN (poisoned)."""
    p = compile_kernel(Butterfly("b", n=256, rows=8), ARCH)
    t = p.templates[-1] = copy.deepcopy(p.templates[-1])  # templates are shared and read-only
    sts = np.nonzero(t.op[0] == OP_ST)[0]
    t.slot[0, sts[1]] = t.slot[0, sts[0]]
    data = random_data(p, 0)
    out = execute(p, data)
    rep = verify(p, data, out, "fp16", 0)
    assert not rep.ok and rep.unwritten > 0


def test_wrong_coefficient_is_caught():
    p = compile_kernel(FFT("f", n=64, rows=8), ARCH)
    t = p.templates[0] = copy.deepcopy(p.templates[0])  # templates are shared and read-only
    k = int(np.nonzero(t.coef[0] >= 0)[0][3])
    t.lane[0, k] = (t.lane[0, k] + 1) % p.lanes
    data = random_data(p, 0)
    assert not verify(p, data, execute(p, data), "fp16", 0).ok


# ---- timing ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("op", "dataflow", "knobs"),
    [
        (Butterfly("b", n=1024, rows=100), "multilayer", {"block": 64}),
        (FFT("f", n=512, rows=120), "single-layer", {}),
        (Butterfly("b", n=4096, rows=48), "multilayer", {}),
        (FFT("f", n=256, rows=64), "multilayer", {}),
    ],
)
def test_fast_forward_is_exact(op, dataflow, knobs):
    arch = load_arch(ARCH)
    p = compile_kernel(op, arch, dataflow, **knobs)
    a = simulate_timing(p, arch, fast_forward=True)
    b = simulate_timing(p, arch, fast_forward=False)
    assert a.cycles == b.cycles and a.stalls == b.stalls
    assert b.skipped_iterations == 0


#: SIMD4 with the memory system scaled down with it (what a balanced design sweep makes): its passes have
#: different tag windows, so iterations after a skip read tag history further back than the skipped pass did
SIMD4 = {
    "pe.simd_lanes": 4,
    "pe.register_file.bytes_per_entry": 8,
    "spm.bytes_per_cycle": 32,
    "spm.banks": 8,
    "spm.size_bytes": 1 << 20,
    "noc.link_bytes_per_cycle": 4,
}


@pytest.mark.parametrize("rows", [16, 24])
def test_fast_forward_keeps_the_deepest_tag_window(rows):
    # was a numba TypingError (a None tag history) in the pass after a skip
    arch = load_arch(ARCH).with_overrides(SIMD4)
    p = compile_kernel(Butterfly("b", n=4096, rows=rows, stages=12), arch, rows_per_batch=8)
    a = simulate_timing(p, arch, fast_forward=True)
    b = simulate_timing(p, arch, fast_forward=False)
    assert a.cycles == b.cycles and a.stalls == b.stalls


def test_fast_forward_skips_the_steady_state():
    arch = load_arch(ARCH)
    p = compile_kernel(Butterfly("b", n=1024, rows=100), arch, block=64)
    a = simulate_timing(p, arch)
    # measured: 107 of 416 iterations skipped (the coefficient-prefetch windows of each batch are not
    # periodic, and round-robin arbitration takes a few periods to settle after each)
    assert a.skipped_iterations > len(p.schedule) // 5


def test_stalls_and_issues_account_for_every_pe_cycle():
    out = simulate_kernel(FFT("f", n=2048, rows=40), ARCH)
    st = out.stats
    compute_issues = st.timing.compute_issues
    n_active = out.program.n_active
    assert sum(st.stalls.values()) + compute_issues == n_active * st.cycles


def test_result_fields():
    out = simulate_kernel(Butterfly("b", n=1024, rows=64), ARCH, verify=True)
    r = out.result
    arch = load_arch(ARCH)
    assert r.backend == "dataflow-multilayer" and r.arch == ARCH
    assert r.cycles == out.stats.cycles and r.latency_s == pytest.approx(r.cycles / arch.clock_hz)
    assert 0 < r.utilization <= 1
    assert r.flop_efficiency <= 0.75 * r.utilization + 1e-12  # MUL + FMA: 3 FLOPs in 2 slots
    assert set(r.traffic_bytes) == {"dram", "spm", "noc", "rf"}
    assert r.traffic_bytes["dram"] >= Butterfly("b", n=1024, rows=64).min_bytes
    assert {"operand", "noc", "spm", "dma", "tag_window", "drain"} <= set(r.stalls)
    for k in (
        "fma_lane_ops",
        "add_lane_ops",
        "rf_read_bytes",
        "noc_byte_hops",
        "spm_read_bytes",
        "dram_bytes",
    ):
        assert out.stats.actions[k] > 0
    assert out.stats.actions["fma_lane_ops"] + out.stats.actions["add_lane_ops"] == out.stats.lane_ops
    assert r.energy_j > 0 and sum(r.energy_breakdown_j.values()) == pytest.approx(r.energy_j)
    assert any("verify PASS" in n for n in r.notes)
    json.dumps(r.to_dict())


def test_single_layer_is_spm_bound():
    out = simulate_kernel(Butterfly("b", n=1024, rows=64), ARCH, "single-layer")
    assert out.result.backend == "dataflow-single-layer"
    assert out.stats.utilization < 0.30
    assert max(out.stats.stalls, key=out.stats.stalls.get) == "spm"


def test_deterministic_bit_for_bit():
    a = simulate_kernel(FFT("f", n=512, rows=24), ARCH, verify=True, seed=5)
    b = simulate_kernel(FFT("f", n=512, rows=24), ARCH, verify=True, seed=5)
    assert a.result.to_dict() == b.result.to_dict()
    assert np.array_equal(a.outputs, b.outputs)


def test_trace_events_cover_compute():
    out = simulate_kernel(Butterfly("b", n=256, rows=16), ARCH, trace=True)
    ev = out.stats.timing.trace.events
    assert (ev[:, 1] == 0).sum() * 1 == out.stats.timing.compute_issues


# ---- CLI ---------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def cli():
    from swallowtail.cli.kernel import kernel

    app = typer.Typer()
    app.command()(kernel)
    return app


def test_cli_json_is_exactly_the_result(cli):
    res = CliRunner().invoke(cli, ["--op", "fft", "--n", "256", "--rows", "16", "--json", "--verify"])
    assert res.exit_code == 0, res.output
    d = json.loads(res.stdout)
    assert d["backend"] == "dataflow-multilayer" and d["cycles"] > 0


def test_cli_table_and_traces(cli, tmp_path):
    png = tmp_path / "t.png"
    res = CliRunner().invoke(
        cli, ["--n", "512", "--rows", "16", "--dataflow", "single-layer", "--trace", str(png)]
    )
    assert res.exit_code == 0, res.output
    assert "utilization" in res.output and png.stat().st_size > 1000
    html = tmp_path / "t.html"
    res = CliRunner().invoke(cli, ["--n", "64", "--rows", "8", "--block", "32", "--trace", str(html)])
    assert res.exit_code == 0, res.output
    assert html.read_text().startswith("<!DOCTYPE html>")


@pytest.mark.parametrize(
    "args",
    [
        ["--op", "fft", "--n", "1000"],
        ["--rows", "0"],
        ["--n", "1024", "--block", "64", "--stages-per-block", "9"],
        ["--op", "conv"],
        ["--trace", "x.svg"],
    ],
)
def test_cli_bad_input_is_a_clean_error(cli, args):
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 2
    assert "Traceback" not in res.output


def test_energy_is_computed():
    out = run(compile_kernel(Butterfly("b", n=64, rows=8), ARCH), ARCH)
    assert out.result.energy_j > 0
    assert math.isfinite(out.result.energy_j)


def test_too_few_rf_read_ports_is_a_clean_error():
    """An FMA reads three registers at once: with two read ports it could never issue (the engine would
    wait forever); the simulator says which arch field to change instead."""
    from swallowtail.compiler import dataflow_arch
    from swallowtail.errors import SpecError

    arch = dataflow_arch(load_arch(ARCH).with_overrides({"pe.register_file.read_ports": 2}))
    program = compile_kernel(Butterfly("b", n=64, rows=8), arch)
    with pytest.raises(SpecError, match=r"read_ports = 2 .* >= 3: the program's FMA"):
        simulate_timing(program, arch)
    with pytest.raises(SpecError, match="read_ports"):
        run(program, arch)
