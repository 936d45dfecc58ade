"""The Jetson Xavier NX kernel-level model: MLPerf calibration, hand counts, fusion, parameters."""

from __future__ import annotations

import math
from typing import Any

import pytest

from swallowtail.arch import load_arch
from swallowtail.backends import get_backend
from swallowtail.baselines.xavier import (
    CALIBRATION_TOLERANCE,
    MLPERF_BERT_LARGE,
    bert_large_workload,
    calibration,
    load_kernel_model,
)
from swallowtail.errors import SpecError
from swallowtail.workload import FFT, GEMM, Butterfly, Elementwise, Workload

CLOCK = 1.10925e9  # 15 W mode GPU clock
SMS = 6
DRAM = 51.2e9 * 0.8  # bandwidth x dram_efficiency
LAUNCH = 5e-6
L2_BW = 19.5 * SMS * CLOCK


def one(op: Any) -> Workload:
    return Workload(op.name, (op,))


def test_bert_large_calibration_within_25_percent() -> None:
    w = bert_large_workload()
    assert len([op for op in w.ops if op.name.endswith("attn.scores")]) == 24
    assert w.op("layer0.ffn.fc1").describe() == "GEMM(384x1024 @ 1024x4096)"
    assert w.op("layer0.attn.scores").batch == 16 and w.ops[0].dtype == "int8"
    c = calibration()
    assert c["published_s"] == MLPERF_BERT_LARGE["mean_latency_s"] == 35.8e-3
    assert abs(c["ratio"] - 1) <= CALIBRATION_TOLERANCE == 0.25, c
    r = get_backend("xavier-nx").run(w)
    assert r.peak_ops_per_s == 12e12  # INT8 tensor cores
    assert r.latency_s == pytest.approx(c["model_s"])


def test_single_gemm_hand_count() -> None:
    # fp16 256 x 256 x 256 on 6 SMs, one tile per SM at a time, 0.8 of the SM's tensor peak (6 TFLOPS / 6)
    per_sm = 6e12 / SMS * 0.8
    t128 = (1 * 2 * 128 * 128 * 256 / per_sm, 4 * (128 + 128) * 256 * 2 / L2_BW)  # 4 tiles: one wave
    t64 = (3 * 2 * 64 * 64 * 256 / per_sm, 16 * (64 + 64) * 256 * 2 / L2_BW)  # 16 tiles: 3 waves
    t128x64 = (2 * 2 * 128 * 64 * 256 / per_sm, 8 * (128 + 64) * 256 * 2 / L2_BW)  # 8 tiles: 2 waves
    body = min(max(t) for t in (t128, t64, t128x64))
    dram = 3 * 256 * 256 * 2 / DRAM  # A, B, C once
    expected = max(body, dram) + LAUNCH
    r = get_backend("xavier-nx").run(one(GEMM("g", m=256, k=256, n=256)))
    assert r.latency_s == pytest.approx(expected)
    assert r.ops[0].bound == "dram"
    assert r.traffic_bytes == {"dram": 3 * 256 * 256 * 2}
    assert r.energy_j == pytest.approx(13.5 * expected)  # measured power under load x time
    assert r.cycles == round(expected * CLOCK) and r.clock_hz == CLOCK


def test_small_gemm_is_wave_quantised() -> None:
    # a 64 x 64 x 64 GEMM is one tile on one of 6 SMs: 1/6 of the GPU's tensor peak at best
    r = get_backend("xavier-nx", kernel_launch_s=0.0, dram_efficiency=1.0).run(
        one(GEMM("g", m=64, k=64, n=64))
    )
    compute = 2 * 64 * 64 * 64 / (6e12 / SMS * 0.8)
    l2 = (64 + 64) * 64 * 2 / L2_BW
    dram = 3 * 64 * 64 * 2 / 51.2e9
    assert r.latency_s == pytest.approx(max(compute, l2, dram))


def test_butterfly_hand_count() -> None:
    op = Butterfly("b", n=1024, rows=512)  # 10 stages, one fused kernel (<= 14 stages)
    flops = 512 * 10 * 1024 * 3
    compute = flops / (0.85e12 * 0.75)  # FP32 CUDA peak x shuffle-bound efficiency
    io = 2 * 512 * 1024 * 2  # read + write the activations once
    coef = 10 * 512 * 4 * 2
    r = get_backend("xavier-nx").run(one(op))
    assert r.latency_s == pytest.approx(max(compute, (io + coef) / DRAM) + LAUNCH)
    assert r.ops[0].bound == "dram"
    # at most 4 stages per kernel: ceil(10 / 4) = 3 passes over memory
    r = get_backend("xavier-nx", butterfly_max_stages_per_kernel=4).run(one(op))
    assert r.traffic_bytes["dram"] == 3 * io + coef
    assert r.latency_s == pytest.approx(max(compute, (3 * io + coef) / DRAM) + LAUNCH)


def test_fft_hand_count() -> None:
    op = FFT("f", n=8192, rows=64)  # 13 stages: ceil(13 / 12) = 2 passes
    io = (64 * 8192 * 2 + 64 * 8192 * 2) * 2  # complex in + complex out, fp16
    compute = 5 * 8192 * 13 * 64 / (0.85e12 * 0.5)
    r = get_backend("xavier-nx").run(one(op))
    assert r.traffic_bytes["dram"] == 2 * io
    assert r.latency_s == pytest.approx(max(compute, 2 * io / DRAM) + LAUNCH)
    r = get_backend("xavier-nx").run(one(FFT("f", n=768, rows=512, real_input=True)))
    assert r.traffic_bytes["dram"] == (512 * 768 + 512 * 768 * 2) * 2  # one pass


def test_epilogue_fusion() -> None:
    w = Workload(
        "gemm+bias",
        (
            GEMM("g", m=256, k=256, n=256, b_is_weight=True),
            Elementwise("g.bias", op="add", numel=256 * 256, weight=256, deps=("g",)),
        ),
    )
    fused = get_backend("xavier-nx").run(w)
    unfused = get_backend("xavier-nx", fusion="none").run(w)
    assert [o.bound for o in fused.ops][1] == "fused"
    assert fused.traffic_bytes["dram"] == w.ops[0].min_bytes + 256 * 2  # + the bias vector only
    assert unfused.traffic_bytes["dram"] == w.min_bytes_unfused
    assert fused.latency_s < unfused.latency_s
    # the unfused bias kernel is memory-bound: 3 x 128 KB + the bias, plus a launch
    bias_s = (2 * 256 * 256 * 2 + 256 * 2) / DRAM + LAUNCH
    assert unfused.ops[1].latency_s == pytest.approx(bias_s)
    for r in (fused, unfused):
        assert sum(o.latency_s for o in r.ops) == pytest.approx(r.latency_s, rel=1e-12)


def test_eager_parameter_set() -> None:
    from swallowtail.workload.lower import lower

    w = lower("fabnet-base", 256)
    fast = get_backend("xavier-nx").run(w)
    eager = get_backend("xavier-nx", params="xavier-nx-eager").run(w)
    assert eager.latency_s > 2 * fast.latency_s  # per-stage butterfly kernels, no fusion


@pytest.mark.parametrize("name", ["xavier-nx-kernels", "xavier-nx-eager"])
def test_parameter_files_have_sources(name: str) -> None:
    p = load_kernel_model(name)
    assert p.missing_sources() == []
    assert p.assumptions(), "the unsourced values are marked as assumptions"
    gpu = load_arch("xavier-nx-15w")
    assert gpu.peak_flops["int8_tensor"] == 12e12 and gpu.power_modes["15w"].measured_power_w == 13.5


def test_bad_options_name_the_field() -> None:
    with pytest.raises(SpecError, match="gemm_efficiency"):
        get_backend("xavier-nx", gemm_efficiency=1.5)
    with pytest.raises(SpecError, match="fusion"):
        get_backend("xavier-nx", fusion="all")
    with pytest.raises(SpecError, match="xavier-nx option"):
        get_backend("xavier-nx", tensor_core_magic=2)
    with pytest.raises(SpecError, match="power_mode"):
        get_backend("xavier-nx", power_mode="30w")
    with pytest.raises(SpecError, match="butterfly_unit"):
        get_backend("xavier-nx", butterfly_unit="fp64_cuda")
    with pytest.raises(SpecError, match="params"):
        get_backend("xavier-nx", params="no-such-params")
    with pytest.raises(SpecError, match="arch"):
        get_backend("xavier-nx", arch="df-4x4-simd8")


def test_power_mode_scales_clock_and_peak() -> None:
    w = one(GEMM("g", m=1024, k=1024, n=1024))
    r15 = get_backend("xavier-nx").run(w)
    r10 = get_backend("xavier-nx", power_mode="10w").run(w)
    assert r10.peak_ops_per_s == pytest.approx(6e12 * 8.0325e8 / CLOCK)
    assert r10.latency_s > r15.latency_s
    assert math.isclose(r10.energy_j, 10.0 * r10.latency_s)  # no measured power in 10 W mode: the budget


def test_overrides_are_noted() -> None:
    b = get_backend("xavier-nx", gemm_efficiency=0.7, gemm_tiles=[{"m": 64, "n": 64, "k": 32}])
    assert b.params.gemm_efficiency == 0.7 and len(b.params.gemm_tiles) == 1
    assert b.params.sources["gemm_efficiency"].startswith("override")
    assert b.params.sources["gemm_tiles"].startswith("override")
    assert b.params.missing_sources() == []
