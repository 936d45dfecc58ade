"""Kernel measurements (`experiments.kernels`) and the model checked against them (`kernel_check`).

No GPU here: the measuring code runs on the CPU at tiny shapes; the check is tested on measurements made by
the model itself, which it must recover exactly (the fitted values) and predict exactly (everything else).
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.util
import os
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from swallowtail.arch.specs import load_arch
from swallowtail.baselines.jetson import JetsonBackend, load_stack, stack_with_overrides
from swallowtail.cli import app
from swallowtail.errors import SpecError
from swallowtail.experiments.kernel_check import (
    DEFAULT_STACKS,
    FUSED_BUTTERFLY_FIELDS,
    FUSED_BUTTERFLY_STACK,
    check_kernels,
    preset_for,
)
from swallowtail.experiments.kernels import (
    FORMAT,
    KernelMeasurements,
    KernelTiming,
    LaunchRow,
    Timer,
    kernel_cases,
    load_measurements,
    measure_kernels,
    measurement_plan,
    write_measurements,
)
from swallowtail.workload import GEMM, Butterfly, Softmax
from swallowtail.workload.lower import resolve_config

SMALL = "lra-listops"  # d 256, 4 heads: every kind of case, fast on a CPU
ARCH = "h100-sxm-max"
#: the values the synthetic "GPU" runs at (none is a stack's shipped value)
TRUE = {"per_op_overhead_s": 3.5e-6, "dram_efficiency": 0.72, "gemm_efficiency": {"hopper": 0.61}}


@pytest.fixture(scope="module")
def cpu_measurement() -> KernelMeasurements:
    return measure_kernels(SMALL, (64,), device="cpu", reps=2, stream_numel=4096)


def test_cases_cover_the_network_and_fit_cases_come_first() -> None:
    cases = kernel_cases("fabnet-base", 1024)
    names = [c.name for c in cases]
    assert names[:2] == ["dense-linear", "stream"] and len(set(names)) == len(names)
    assert {c.role for c in cases[:2]} == {"fit"} and {c.role for c in cases[2:]} == {"predict"}
    kinds = {type(op) for c in cases for op in c.ops}
    assert {GEMM, Butterfly, Softmax} <= kinds
    assert not any(op.layer == "head" for c in cases for op in c.ops)
    (sdpa,) = [c for c in cases if c.fused_attention]
    # the scores and probabilities never reach memory: 2 x (12 x 1024 x 1024) x 2 bytes each fewer
    assert sum(o.min_bytes for o in sdpa.ops) - sdpa.min_bytes == 2 * 2 * 12 * 1024 * 1024 * 2


def test_a_network_without_attention_has_no_sdpa_case() -> None:
    assert not any(c.fused_attention for c in kernel_cases("fnet", 256))


def test_cpu_measurement_writes_a_file_that_reads_back(cpu_measurement: KernelMeasurements, tmp_path) -> None:
    m = cpu_measurement
    assert m.device_type == "cpu" and m.sms is None and m.format == FORMAT
    assert all((r.time_s is None) != (r.error is None) for r in m.kernels)
    assert any(r.time_s for r in m.kernels if r.case == "dense-linear")
    # the stream case does not depend on L: once per dtype
    assert sum(r.case == "stream" for r in m.kernels) == len(m.dtypes)
    graph = next(r for r in m.launch if r.mode == "cuda-graph")
    assert graph.per_op_s is None and "CUDA" in (graph.error or "")
    path = write_measurements(m, tmp_path / "k.yaml")
    assert load_measurements(path) == m


def test_timer_on_the_cpu_is_positive_and_eager() -> None:
    import torch

    t, how = Timer(torch.device("cpu"), reps=2, flush_bytes=1024).time(lambda: torch.ones(8).sum())
    assert t > 0 and how == "eager"


@functools.cache
def _synthetic(seq_lens: tuple[int, ...] = (64, 128)) -> KernelMeasurements:
    """A measurement of the model itself on ARCH at the TRUE values, timed as CUDA graphs (frozen: cached)."""
    arch = load_arch(ARCH)
    rows = []
    for case, dtype in measurement_plan(SMALL, seq_lens, ("fp16", "fp32"), 4096):
        c = case.in_dtype(dtype)
        ov = dict(TRUE)
        if c.fused_attention:
            ov["attention_fusion_max_seq"] = c.seq_len
        if c.fused_butterfly:  # checked against the TensorRT stacks' fused-butterfly assumptions
            fused = load_stack(FUSED_BUTTERFLY_STACK)
            ov |= {f: getattr(fused, f) for f in FUSED_BUTTERFLY_FIELDS}
        stack = stack_with_overrides(load_stack(DEFAULT_STACKS[dtype]), ov)
        t = JetsonBackend(arch, stack).run(c.workload()).latency_s
        rows.append(
            KernelTiming(
                case=c.name,
                kind=c.kind,
                seq_len=c.seq_len,
                dtype=dtype,
                role=c.role,
                flops=c.flops,
                min_bytes=c.min_bytes,
                time_s=t,
                timed_as="cuda-graph",
            )  # fmt: skip
        )
    return KernelMeasurements(
        format=FORMAT, device="NVIDIA H100 80GB HBM3", device_type="cuda", sms=132, torch="x", cuda="12",
        swallowtail="x", host="x", date="2026-12-07", model=SMALL, config=resolve_config(SMALL).to_dict(),
        seq_lens=list(seq_lens), dtypes=["fp16", "fp32"], reps=1, flush_bytes=0, stream_numel=4096,
        launch_chain=64,
        launch=[
            LaunchRow(mode="eager", per_op_s=2e-5),
            LaunchRow(mode="cuda-graph", per_op_s=TRUE["per_op_overhead_s"]),
        ],
        kernels=rows,
    )  # fmt: skip


def test_the_check_recovers_the_true_values_and_predicts_the_model_exactly() -> None:
    report = check_kernels(_synthetic())
    assert report.arch == ARCH  # found from the device's name and SM count
    fitted = {(f.dtype, f.parameter): f.value for f in report.fitted}
    for dtype in ("fp16", "fp32"):
        assert fitted[(dtype, "per_op_overhead_s (cuda-graph)")] == TRUE["per_op_overhead_s"]
        assert fitted[(dtype, "dram_efficiency")] == pytest.approx(TRUE["dram_efficiency"], rel=1e-9)
        assert fitted[(dtype, "gemm_efficiency.hopper")] == pytest.approx(0.61, rel=1e-9)
    predicted = report.predicted()
    assert len(predicted) > 20 and report.within_target() == len(predicted)
    assert max(abs(c.error) for c in predicted if c.error is not None) < 1e-9
    # dense-linear is fitted at the longest L only; the shorter one is predicted
    roles = {(c.case, c.seq_len, c.dtype): c.role for c in report.checks}
    assert roles[("dense-linear", 128, "fp16")] == "fit" and roles[("dense-linear", 64, "fp16")] == "predict"
    assert all(c.measured_vs_gemm == pytest.approx(c.model_vs_gemm) for c in predicted)


def test_a_wrong_assumption_shows_as_a_prediction_error() -> None:
    m = _synthetic((64,))
    slow = [
        r.model_copy(update={"time_s": r.time_s * 2}) if r.kind == "butterfly" and r.time_s else r
        for r in m.kernels
    ]
    report = check_kernels(m.model_copy(update={"kernels": slow}), ARCH)
    errors = {c.kind: c.error for c in report.predicted()}
    assert errors["butterfly"] == pytest.approx(-0.5)
    assert abs(errors["softmax"]) < 1e-9


def test_check_refuses_a_preset_with_other_sms_and_a_case_it_does_not_know() -> None:
    m = _synthetic((64,))
    with pytest.raises(SpecError, match="--arch.*132 SMs"):
        check_kernels(m, "h100-pcie-max")
    with pytest.raises(SpecError, match="--arch.*Jetson|--arch.*a GPU preset named"):
        check_kernels(m.model_copy(update={"device": "Tesla V100"}))
    bad = [m.kernels[0].model_copy(update={"case": "nope"}), *m.kernels[1:]]
    with pytest.raises(SpecError, match=r"kernels\[0\]\.case"):
        check_kernels(m.model_copy(update={"kernels": bad}), ARCH)
    skew = [m.kernels[0].model_copy(update={"flops": 1}), *m.kernels[1:]]
    with pytest.raises(SpecError, match="as this version of swallowtail builds it"):
        check_kernels(m.model_copy(update={"kernels": skew}), ARCH)


def test_preset_for_names_each_datacenter_gpu() -> None:
    m = _synthetic((64,))
    for device, sms, preset in (
        ("NVIDIA H100 80GB HBM3", 132, "h100-sxm-max"),
        ("NVIDIA H100 PCIe", 114, "h100-pcie-max"),
        ("NVIDIA H200", 132, "h200-sxm-max"),
        ("NVIDIA H100 SXM5 80GB", 132, "h100-sxm-max"),
    ):
        assert preset_for(m.model_copy(update={"device": device, "sms": sms})) == preset
    # a Grace Hopper superchip (132 SMs, other memory) is not an H200 for having "h200" inside "GH200"
    with pytest.raises(SpecError, match="--arch.*no preset"):
        preset_for(m.model_copy(update={"device": "NVIDIA GH200 480GB", "sms": 132}))


def test_a_failed_case_is_recorded_and_shown_not_raised(cpu_measurement: KernelMeasurements) -> None:
    failed = {(r.case, r.dtype): r.error for r in cpu_measurement.kernels if r.error}
    fft16 = {k for k in failed if k[1] == "fp16" and "fft" in k[0]}
    assert fft16  # the CPU's FFT has no FP16
    fused = set(failed) - fft16
    assert fused and all(k[0].endswith(".fused") for k in fused)  # a Triton kernel needs CUDA (or Triton)
    assert all("Triton" in str(failed[k]) for k in fused)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--device", "cuda"], "--device"),
        (["--dtype", "bf16"], "--dtype"),
        (["-L", "100000"], "--seq-len"),
        (["-m", "no-such-net"], "no-such-net"),
        (["-m", "resnet-50"], "--model = 'resnet-50' is not allowed: one of the network presets"),  # not "or
        # the named workloads", which it listed and refused
        (["--dtype", "fp32", "--dtype", "fp32"], "--dtype"),
        (["-L", "64", "-L", "64"], "--seq-len"),
    ],
)
def test_measure_kernels_cli_refuses_bad_input_before_writing(
    args: list[str], message: str, tmp_path
) -> None:
    out = tmp_path / "k.yaml"
    length = [] if "-L" in args else ["-L", "64"]
    model = [] if "-m" in args else ["-m", SMALL]
    cmd = ["baseline", "measure-kernels", "-o", str(out), *model, *length, *args]
    res = CliRunner().invoke(app, cmd)
    assert res.exit_code != 0 and message in res.output and not out.exists()


def test_cli_measures_and_checks(tmp_path) -> None:
    out = tmp_path / "k.yaml"
    r = CliRunner().invoke(
        app,
        [
            "baseline",
            "measure-kernels",
            "-o",
            str(out),
            "-m",
            SMALL,
            "-L",
            "64",
            "--reps",
            "1",
            "--device",
            "cpu",
        ],
    )
    assert r.exit_code == 0, r.output
    write_measurements(_synthetic((64,)), out)
    r = CliRunner().invoke(app, ["baseline", "check-kernels", str(out), "--json"])
    assert r.exit_code == 0, r.output
    assert '"arch": "h100-sxm-max"' in r.output
    r = CliRunner().invoke(app, ["baseline", "check-kernels", str(out)])
    assert (
        r.exit_code == 0 and "predicted cases within 20%" in r.output and "gemm_efficiency.hopper" in r.output
    )
    bad = tmp_path / "bad.yaml"
    bad.write_text(out.read_text().replace("format:", "formatt:"))
    r = CliRunner().invoke(app, ["baseline", "check-kernels", str(bad)])
    assert r.exit_code != 0 and "formatt" in r.output


def test_case_dtype_changes_only_the_dtype() -> None:
    c = kernel_cases(SMALL, 64)[0]
    c32 = c.in_dtype("fp32")
    assert c32.flops == c.flops and c32.min_bytes == 2 * c.min_bytes
    assert [dataclasses.replace(o, dtype="fp16") for o in c32.ops] == list(c.ops)


FUSED_CHECK = """
import torch
from swallowtail.experiments.triton_butterfly import butterfly_fused
from swallowtail.nn.butterfly import butterfly_multiply
g = torch.Generator().manual_seed(0)
for n in (2, 16, 256):
    for inc in (True, False):
        tw = torch.randn(1, n.bit_length() - 1, n // 2, 2, 2, generator=g)
        x = torch.randn(3, n, generator=g)
        want = butterfly_multiply(tw, x[:, None, :], inc)[:, 0, :]
        assert torch.allclose(butterfly_fused(tw, x, inc), want, rtol=1e-4, atol=1e-4), (n, inc)
print("ok")
"""


@pytest.mark.skipif(
    importlib.util.find_spec("triton") is None, reason="Triton is not installed (CPU PyTorch)"
)
def test_the_fused_triton_butterfly_is_the_butterfly_in_the_interpreter() -> None:
    env = {**os.environ, "TRITON_INTERPRET": "1"}
    out = subprocess.run(
        [sys.executable, "-c", FUSED_CHECK], env=env, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0 and "ok" in out.stdout, out.stderr[-2000:]


def _edit_row(m: KernelMeasurements, i: int, **update) -> KernelMeasurements:
    rows = list(m.kernels)
    rows[i] = rows[i].model_copy(update=update)
    return m.model_copy(update={"kernels": rows})


@pytest.mark.parametrize(
    ("edit", "field"),
    [
        (lambda m: m.model_copy(update={"dtypes": ["fp16", "fp16", "fp32"]}), "dtypes"),
        (lambda m: m.model_copy(update={"seq_lens": [64, 64]}), "seq_lens"),
        (lambda m: m.model_copy(update={"seq_lens": [64, 128]}), r"seq_lens\[1\]"),
        (
            lambda m: m.model_copy(update={"kernels": [r for r in m.kernels if r.dtype == "fp32"]}),
            r"dtypes\[0\] = 'fp16'",
        ),
        (lambda m: m.model_copy(update={"dtypes": ["fp16"]}), r"kernels\[1\]\.dtype"),
        (lambda m: m.model_copy(update={"kernels": [*m.kernels, m.kernels[0]]}), r"kernels\[\d+\] = 'dense"),
        (lambda m: m.model_copy(update={"launch": [*m.launch, m.launch[0]]}), "launch.mode"),
        (lambda m: _edit_row(m, 3, time_s=None, timed_as=None), r"kernels\[3\]\.time_s"),
        (lambda m: _edit_row(m, 3, error="boom"), r"kernels\[3\]\.time_s"),
        (lambda m: _edit_row(m, 0, timed_as=None), r"kernels\[0\]\.timed_as"),
        (lambda m: _edit_row(m, 0, seq_len=128), r"kernels\[0\]\.seq_len"),
        (lambda m: _edit_row(m, 0, kind="fft"), r"kernels\[0\]\.kind = 'fft'.*'gemm'"),
        (lambda m: _edit_row(m, 0, role="predict"), r"kernels\[0\]\.role"),
        # a model name its config is not: checked as one network, shown as another
        (lambda m: m.model_copy(update={"model": "fabnet-base"}), r"model = 'fabnet-base'.*d_model 256"),
        (lambda m: m.model_copy(update={"config": {**m.config, "d_ff": 512}}), r"lra-listops'.*d_ff 512"),
        (lambda m: m.model_copy(update={"model": "nope"}), r"model = 'nope'.*one of"),
    ],
)
def test_check_refuses_a_file_whose_parts_disagree(edit, field: str) -> None:
    with pytest.raises(SpecError, match=field):
        check_kernels(edit(_synthetic((64,))), ARCH)


def test_load_names_the_file_of_a_duplicated_row(tmp_path) -> None:
    m = _synthetic((64,))
    twice = m.model_copy(update={"kernels": [*m.kernels, m.kernels[0]]})
    path = write_measurements(twice, tmp_path / "k.yaml")
    with pytest.raises(SpecError, match=r"k\.yaml: kernels\[\d+\]"):
        load_measurements(path)


def test_load_refuses_a_launch_time_no_stack_can_take(tmp_path) -> None:
    """A per-launch time over a second was fitted into the stack and refused as its per_op_overhead_s (not
    naming the file); it is refused as the file's field when read."""
    m = _synthetic((64,))
    launch = [m.launch[0], m.launch[1].model_copy(update={"per_op_s": 1e300})]
    path = write_measurements(m.model_copy(update={"launch": launch}), tmp_path / "k.yaml")
    with pytest.raises(SpecError, match=r"k\.yaml: launch\.1\.per_op_s = 1e\+300 is not allowed: a number"):
        load_measurements(path)


@pytest.mark.parametrize(
    ("case", "parameter"), [("dense-linear", "gemm_efficiency.hopper"), ("stream", "dram_efficiency")]
)
def test_a_fit_below_the_smallest_efficiency_is_reported_not_raised(case: str, parameter: str) -> None:
    m = _synthetic((64,))
    slow = [r.model_copy(update={"time_s": 10.0}) if r.case == case else r for r in m.kernels]
    report = check_kernels(m.model_copy(update={"kernels": slow}), ARCH)
    fitted = {(f.dtype, f.parameter): f for f in report.fitted}
    assert fitted[("fp16", parameter)].value is None and "1e-06" in fitted[("fp16", parameter)].note


def test_a_cuda_device_index_beyond_the_devices_is_refused(monkeypatch) -> None:
    import torch

    from swallowtail.experiments.kernels import resolve_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert resolve_device("cuda:0") == torch.device("cuda:0")
    with pytest.raises(SpecError, match=r"--device = 'cuda:1'.*cuda:0 to cuda:0 \(1 CUDA devices"):
        resolve_device("cuda:1")


def test_benchmark_script_reports_bad_input_in_one_line(tmp_path) -> None:
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    script = root / "benchmarks" / "gpu_kernels.py"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root / "src"), os.environ.get("PYTHONPATH", "")])}
    cpu = _synthetic((64,)).model_copy(update={"device": "x86_64", "device_type": "cpu", "sms": None})
    path = write_measurements(cpu, tmp_path / "k.yaml")
    cmd = [sys.executable, str(script), "--check", str(path)]
    res = subprocess.run(cmd, capture_output=True, text=True, env=env)
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert res.stderr.startswith("error: --arch") and "name one" in res.stderr


def test_preset_for_refuses_a_form_factor_without_a_preset() -> None:
    m = _synthetic((64,))
    with pytest.raises(SpecError, match="no preset match"):  # 132 SMs, but 3.9 TB/s: not the SXM module
        preset_for(m.model_copy(update={"device": "NVIDIA H100 NVL"}))


def test_a_gemm_fit_where_the_model_is_not_compute_bound_says_so() -> None:
    m = _synthetic((64,))  # L = 64, d = 256: a GEMM far too small to be compute-bound on an H100
    report = check_kernels(m, ARCH)
    (gemm16,) = [f for f in report.fitted if f.parameter.startswith("gemm") and f.dtype == "fp16"]
    assert gemm16.value is not None and "smallest efficiency that fits" in gemm16.note


def test_a_cpu_measurement_over_the_memory_budget_is_refused_before_it_runs(tmp_path, monkeypatch) -> None:
    out = tmp_path / "k.yaml"
    cmd = ["baseline", "measure-kernels", "-o", str(out), "-m", SMALL, "-L", "64", "--device", "cpu"]
    r = CliRunner().invoke(app, [*cmd, "--stream-numel", str(2**32)])  # 32 GiB a tensor: was killed by the OS
    assert r.exit_code == 2 and "--force" in r.output and "memory" in r.output and not out.exists()
    monkeypatch.setenv("SWALLOWTAIL_MEMORY_BUDGET", "64M")  # below what any measurement holds
    r = CliRunner().invoke(app, [*cmd, "--stream-numel", "4096"])
    assert r.exit_code == 2 and not out.exists()
