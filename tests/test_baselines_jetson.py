"""The Jetson GPU model: boards x power modes x software stacks, hand counts, fusion, scenarios."""

from __future__ import annotations

import math
from types import SimpleNamespace
from typing import Any

import pytest

from swallowtail.arch import load_arch
from swallowtail.arch.specbase import validate_model
from swallowtail.arch.specs import GPUArch, list_gpu_presets
from swallowtail.backends import get_backend
from swallowtail.baselines.jetson import list_stacks, load_stack
from swallowtail.baselines.scenarios import (
    Harness,
    LengthDistribution,
    list_harnesses,
    load_harness,
    offline,
    single_stream,
    weighted_quantile,
)
from swallowtail.errors import SpecError
from swallowtail.workload import FFT, GEMM, Butterfly, Elementwise, Softmax, Workload
from swallowtail.workload.named import named_workload

CLOCK = 1.10925e9  # Xavier NX 15 W mode GPU clock
SMS = 6
FP16_TENSOR = 1024 * SMS * CLOCK  # 8 tensor cores x 64 FMA x 2 per SM per clock
FP32_CUDA = 128 * SMS * CLOCK
DRAM = 51.2e9 * 0.8  # 1600 MHz x 2 x 16 B, x dram_efficiency
LAUNCH = 5e-6
L2_BW = 19.5 * SMS * CLOCK
BOARDS = ("xavier-nx-15w", "xavier-nx-20w", "agx-xavier-maxn", "orin-nx-16gb-maxn", "agx-orin-maxn")
STACKS = ("tensorrt-int8", "tensorrt-fp16", "pytorch-eager-fp16", "pytorch-eager-fp32")


def one(op: Any) -> Workload:
    return Workload(op.name, (op,))


def trt(**options: Any) -> Any:
    """Xavier NX 15 W, TensorRT FP16, with a GEMM efficiency of 0.8 and a 5 us launch (not the fitted values)
    for hand counts."""
    hand = {"gemm_efficiency": 0.8, "per_op_overhead_s": LAUNCH}
    return get_backend("xavier-nx", stack="tensorrt-fp16", **(hand | options))


# ---- presets ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", BOARDS)
def test_board_presets_are_sourced_and_self_consistent(name: str) -> None:
    g = load_arch(name)
    assert isinstance(g, GPUArch) and g.name == name and name in list_gpu_presets()
    assert g.missing_sources() == []
    # bandwidth = EMC clock x 2 (DDR) x bus width; peaks = per-SM rate x SMs x the mode's clock
    assert g.dram_bytes_per_s == pytest.approx(g.mode.emc_clock_hz * 2 * g.dram_bus_bits / 8)
    for unit, per_sm in g.flops_per_clk_per_sm.items():
        assert g.peak_flops[unit] == pytest.approx(per_sm * g.sms * g.clock_hz)
    assert g.cuda_cores % g.sms == 0 and g.tensor_cores % g.sms == 0
    assert g.peak_flops["int8_tensor"] == pytest.approx(2 * g.peak_flops["fp16_tensor"])


def test_published_bandwidths_and_peaks() -> None:
    assert load_arch("xavier-nx-15w").dram_bytes_per_s == pytest.approx(51.2e9)  # data sheet
    assert load_arch("xavier-nx-20w").dram_bytes_per_s == pytest.approx(59.7e9, rel=1e-3)  # MLPerf v1.1
    assert load_arch("agx-xavier-maxn").dram_bytes_per_s == pytest.approx(136.5e9, rel=1e-3)
    assert load_arch("agx-orin-maxn").dram_bytes_per_s == pytest.approx(204.8e9, rel=1e-3)
    assert load_arch("agx-xavier-maxn").peak_flops["int8_tensor"] == pytest.approx(22.6e12, rel=0.01)
    assert load_arch("agx-orin-maxn").peak_flops["int8_tensor"] == pytest.approx(85e12, rel=0.01)


def test_board_name_alone_is_its_default_mode_and_bad_modes_are_named() -> None:
    assert load_arch("xavier-nx").name == "xavier-nx-15w"
    with pytest.raises(SpecError, match="arch"):
        load_arch("xavier-nx-99w")
    with pytest.raises(SpecError, match="power_mode"):
        get_backend("jetson", power_mode="99w")


@pytest.mark.parametrize("name", STACKS)
def test_stacks_are_sourced(name: str) -> None:
    s = load_stack(name)
    assert name in list_stacks()
    assert s.missing_sources() == []
    assert s.assumptions(), "the unsourced values are marked as assumptions"


# ---- hand counts (Xavier NX 15 W, TensorRT FP16) -----------------------------------------------------------


def test_single_gemm_hand_count() -> None:
    # fp16 256 x 256 x 256 on 6 SMs, one tile per SM at a time, 0.8 of the SM's tensor peak
    per_sm = FP16_TENSOR / SMS * 0.8
    t128 = (1 * 2 * 128 * 128 * 256 / per_sm, 4 * (128 + 128) * 256 * 2 / L2_BW)  # 4 tiles: one wave
    t64 = (3 * 2 * 64 * 64 * 256 / per_sm, 16 * (64 + 64) * 256 * 2 / L2_BW)  # 16 tiles: 3 waves
    t128x64 = (2 * 2 * 128 * 64 * 256 / per_sm, 8 * (128 + 64) * 256 * 2 / L2_BW)  # 8 tiles: 2 waves
    body = min(max(t) for t in (t128, t64, t128x64))
    dram = 3 * 256 * 256 * 2 / DRAM  # A, B, C once
    expected = max(body, dram) + LAUNCH
    r = trt().run(one(GEMM("g", m=256, k=256, n=256)))
    assert r.latency_s == pytest.approx(expected)
    assert r.ops[0].bound == "dram"
    assert r.traffic_bytes == {"dram": 3 * 256 * 256 * 2}
    assert r.energy_j == pytest.approx(13.5 * expected)  # measured power under load x time
    assert r.cycles == round(expected * CLOCK) and r.clock_hz == CLOCK


def test_small_gemm_is_wave_quantised() -> None:
    # a 64 x 64 x 64 GEMM is one tile on one of 6 SMs: 1/6 of the GPU's tensor peak at best
    r = trt(per_op_overhead_s=0.0, dram_efficiency=1.0).run(one(GEMM("g", m=64, k=64, n=64)))
    compute = 2 * 64 * 64 * 64 / (FP16_TENSOR / SMS * 0.8)
    l2 = (64 + 64) * 64 * 2 / L2_BW
    dram = 3 * 64 * 64 * 2 / 51.2e9
    assert r.latency_s == pytest.approx(max(compute, l2, dram))


def test_the_stack_sets_the_precision() -> None:
    g = GEMM("g", m=512, k=512, n=512, dtype="fp16")
    int8 = get_backend("jetson", stack="tensorrt-int8").run(one(g))
    fp32 = get_backend("jetson", stack="pytorch-eager-fp32").run(one(g))
    assert int8.traffic_bytes["dram"] == 3 * 512 * 512 and fp32.traffic_bytes["dram"] == 3 * 512 * 512 * 4
    assert int8.peak_ops_per_s == pytest.approx(2 * FP16_TENSOR) and fp32.peak_ops_per_s == pytest.approx(
        FP32_CUDA
    )


def test_butterfly_hand_count() -> None:
    op = Butterfly("b", n=1024, rows=512)  # 10 stages, one fused kernel (<= 14 stages)
    flops = 512 * 10 * 1024 * 3
    compute = flops / (FP32_CUDA * 0.75)  # FP32 CUDA peak x shuffle-bound efficiency
    io = 2 * 512 * 1024 * 2  # read + write the activations once
    coef = 10 * 512 * 4 * 2
    r = trt().run(one(op))
    assert r.latency_s == pytest.approx(max(compute, (io + coef) / DRAM) + LAUNCH)
    assert r.ops[0].bound == "dram"
    # at most 4 stages per kernel: ceil(10 / 4) = 3 passes over memory, 3 launches
    r = trt(butterfly_max_stages_per_kernel=4).run(one(op))
    assert r.traffic_bytes["dram"] == 3 * io + coef
    assert r.latency_s == pytest.approx(max(compute, (3 * io + coef) / DRAM) + 3 * LAUNCH)


def test_fft_hand_count() -> None:
    op = FFT("f", n=8192, rows=64)  # 13 stages: ceil(13 / 12) = 2 passes
    io = (64 * 8192 * 2 + 64 * 8192 * 2) * 2  # complex in + complex out, fp16
    compute = 5 * 8192 * 13 * 64 / (FP32_CUDA * 0.5)
    r = trt().run(one(op))
    assert r.traffic_bytes["dram"] == 2 * io
    assert r.latency_s == pytest.approx(max(compute, 2 * io / DRAM) + 2 * LAUNCH)
    r = trt().run(one(FFT("f", n=768, rows=512, real_input=True)))
    assert r.traffic_bytes["dram"] == (512 * 768 + 512 * 768 * 2) * 2  # one pass


def test_epilogue_fusion() -> None:
    w = Workload(
        "gemm+bias",
        (
            GEMM("g", m=256, k=256, n=256, b_is_weight=True),
            Elementwise("g.bias", op="add", numel=256 * 256, weight=256, deps=("g",)),
        ),
    )
    fused = trt().run(w)
    unfused = trt(fusion="none").run(w)
    assert [o.bound for o in fused.ops][1] == "fused"
    assert fused.traffic_bytes["dram"] == w.ops[0].min_bytes + 256 * 2  # + the bias vector only
    assert unfused.traffic_bytes["dram"] == w.min_bytes_unfused
    assert fused.latency_s < unfused.latency_s
    bias_s = (2 * 256 * 256 * 2 + 256 * 2) / DRAM + LAUNCH  # memory-bound, plus a launch
    assert unfused.ops[1].latency_s == pytest.approx(bias_s)
    for r in (fused, unfused):
        assert sum(o.latency_s for o in r.ops) == pytest.approx(r.latency_s, rel=1e-12)


def test_fused_attention_keeps_the_scores_on_chip() -> None:
    h, L, d = 4, 256, 64
    w = Workload(
        "attn",
        (
            GEMM("s", m=L, k=d, n=L, batch=h),
            Softmax("p", rows=h * L, n=L, deps=("s",)),
            GEMM("o", m=L, k=L, n=d, batch=h, deps=("p",)),
        ),
        meta={"seq_len": L},
    )
    fused = trt().run(w)
    unfused = trt(attention_fusion_max_seq=0).run(w)
    qkvo = 4 * h * L * d * 2
    assert fused.traffic_bytes["dram"] == qkvo  # Q, K, V in; the output out; no score matrix
    assert unfused.traffic_bytes["dram"] == w.min_bytes_unfused
    assert [o.bound for o in fused.ops][1:] == ["fused", "fused"] and fused.latency_s < unfused.latency_s
    assert trt(attention_fusion_max_seq=L - 1).run(w).traffic_bytes == unfused.traffic_bytes


# ---- stacks and boards against each other ------------------------------------------------------------------


@pytest.mark.parametrize("board", BOARDS)
@pytest.mark.parametrize("model", ["fabnet-base", "bert-large", "resnet-50"])
def test_eager_is_never_faster_than_tensorrt(board: str, model: str) -> None:
    w = named_workload(model, 128) if model != "fabnet-base" else _lower("fabnet-base", 256)
    for precision in ("fp16",):
        fast = get_backend("jetson", arch=board, stack=f"tensorrt-{precision}").run(w)
        eager = get_backend("jetson", arch=board, stack=f"pytorch-eager-{precision}").run(w)
        assert eager.latency_s > fast.latency_s
    assert get_backend("jetson", arch=board, stack="pytorch-eager-fp32").run(w).latency_s > fast.latency_s


def _lower(preset: str, seq_len: int) -> Workload:
    from swallowtail.workload.lower import lower

    return lower(preset, seq_len)


def test_faster_mode_and_bigger_board_are_faster() -> None:
    w = named_workload("bert-large", 384)
    t = {b: get_backend("jetson", arch=b, stack="tensorrt-int8").run(w).latency_s for b in BOARDS}
    assert (
        t["xavier-nx-20w"] < t["xavier-nx-15w"] < get_backend("jetson", arch="xavier-nx-10w").run(w).latency_s
    )
    assert t["agx-xavier-maxn"] < t["xavier-nx-20w"] and t["agx-orin-maxn"] < t["orin-nx-16gb-maxn"]
    r10 = get_backend("xavier-nx", power_mode="10w").run(w)
    assert math.isclose(r10.energy_j, 10.0 * r10.latency_s)  # no measured power in 10 W mode: the budget


# ---- scenarios ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("board", ["xavier-nx-15w", "agx-orin-maxn"])
def test_throughput_rises_with_batch_and_saturates(board: str) -> None:
    b = get_backend("jetson", arch=board, stack="tensorrt-int8")
    res = offline(b.run, lambda n: named_workload("bert-large", 32, batch=n), [1, 2, 4, 8, 16, 32, 64, 128])
    lat = [t for _, t, _ in res.per_batch]
    thr = [s for _, _, s in res.per_batch]
    assert all(b2 > b1 for b1, b2 in zip(lat, lat[1:], strict=False))  # a bigger batch takes longer...
    assert lat[1] < 2 * lat[0]  # ...but less than linearly while the GPU is not full
    assert all(t2 >= t1 * 0.999 for t1, t2 in zip(thr, thr[1:], strict=False))  # throughput rises
    assert thr[-1] / thr[-2] < 1.1 < thr[1] / thr[0]  # and saturates
    assert res.samples_per_s == max(thr)
    assert res.per_batch[[n for n, _, _ in res.per_batch].index(res.best_batch)][2] == res.samples_per_s


def test_single_stream_statistics() -> None:
    dist = LengthDistribution(name="d", lengths=[64, 128, 384], weights=[5, 4, 1], sources={"lengths": "t"})
    b = get_backend("jetson", stack="tensorrt-int8")
    ss = single_stream(b.run, lambda n: named_workload("bert-large", n), dist)
    per = dict(ss.per_length)
    assert ss.max_s == per[384] and ss.statistic("p90") == per[128]  # 90% of queries are <= 128 tokens
    assert ss.min_s == per[64] == ss.statistic("min")  # the shortest length: the fastest query
    assert ss.statistic("p50") == per[64] and ss.statistic("p99") == per[384]  # nearest-rank percentiles
    with pytest.raises(SpecError, match="statistic"):
        ss.statistic("p95")
    assert ss.mean_s == pytest.approx(0.5 * per[64] + 0.4 * per[128] + 0.1 * per[384])
    assert weighted_quantile([3.0, 1.0, 2.0], [0.2, 0.5, 0.3], 0.5) == 1.0
    with pytest.raises(SpecError, match="weights"):
        validate_model(LengthDistribution, {"name": "d", "lengths": [1, 2], "weights": [1.0]})


def test_harness_fixed_time_per_inference() -> None:
    """A harness's fixed time per inference: each SingleStream query pays it, so the mean moves toward the
    tail; an Offline batch pays it once, so batching amortises it."""
    dist = LengthDistribution(name="d", lengths=[64, 128, 384], weights=[5, 4, 1], sources={"lengths": "t"})
    b = get_backend("jetson", arch="xavier-nx-20w", stack="tensorrt-int8")
    build = lambda n: named_workload("bert-large", n)  # noqa: E731
    host = 0.010
    bare, hosted = single_stream(b.run, build, dist), single_stream(b.run, build, dist, host)
    assert hosted.mean_s == pytest.approx(bare.mean_s + host) and hosted.max_s == pytest.approx(
        bare.max_s + host
    )
    assert hosted.mean_s / hosted.max_s > bare.mean_s / bare.max_s  # the mean moves toward the tail
    per_batch = lambda n: named_workload("bert-large", 128, batch=n)  # noqa: E731
    one, eight = (offline(b.run, per_batch, [n], host) for n in (1, 8))
    gpu_one, gpu_eight = (offline(b.run, per_batch, [n]) for n in (1, 8))
    # the host time is paid per batch: batching gains more with it than without it
    assert eight.samples_per_s / one.samples_per_s > gpu_eight.samples_per_s / gpu_one.samples_per_s
    assert one.per_batch[0][1] == pytest.approx(gpu_one.per_batch[0][1] + host)

    h = Harness(name="h", host_cycles_per_inference=2e7, sources={"host_cycles_per_inference": "t"})
    # host cycles at the CPU clock of the board-mode's preset (Xavier NX 20 W: 2 Carmel cores at 1.9072 GHz)
    assert h.fixed_s_per_inference("xavier-nx-20w") == pytest.approx(2e7 / 1.9072e9)
    assert Harness(name="g", host_cycles_per_inference=0).fixed_s_per_inference("any") == 0.0
    with pytest.raises(SpecError, match="cpu_clock_hz"):
        h.fixed_s_per_inference("xavier-nx-10w")  # a mode whose CPU clock no source gives
    with pytest.raises(SpecError, match="GPU board-mode"):
        h.fixed_s_per_inference("df-4x4-simd8")
    with pytest.raises(SpecError, match="fixed_s"):
        single_stream(b.run, build, dist, -1.0)
    with pytest.raises(SpecError, match="host_cycles_per_inference"):
        validate_model(Harness, {"name": "h", "host_cycles_per_inference": -1})
    with pytest.raises(SpecError, match="harness"):
        load_harness("no-such-harness")


def test_harness_dram_bytes_follow_the_mode_bandwidth() -> None:
    """A harness's DRAM bytes per inference take the mode's DRAM bandwidth: Xavier NX 15 W and its MaxQ mode
    share the EMC clock (the same time) though their CPU clocks differ; 20 W's faster EMC takes less."""
    h = Harness(name="h", dram_bytes_per_inference=1e9, sources={"dram_bytes_per_inference": "t"})
    assert h.fixed_s_per_inference("xavier-nx-15w") == pytest.approx(1e9 / 51.2e9)
    assert h.fixed_s_per_inference("xavier-nx-maxq") == h.fixed_s_per_inference("xavier-nx-15w")
    assert h.fixed_s_per_inference("xavier-nx-20w") == pytest.approx(1e9 / 59.712e9)
    # no CPU clock needed for a DRAM-only harness (the 10 W mode gives none)
    assert h.fixed_s_per_inference("xavier-nx-10w") == pytest.approx(1e9 / 51.2e9)
    both = Harness(
        name="b",
        host_cycles_per_inference=1.9072e7,
        dram_bytes_per_inference=1e9,
        sources={"host_cycles_per_inference": "t", "dram_bytes_per_inference": "t"},
    )
    assert both.fixed_s_per_inference("xavier-nx-20w") == pytest.approx(0.01 + 1e9 / 59.712e9)
    with pytest.raises(SpecError, match="dram_bytes_per_inference"):
        validate_model(Harness, {"name": "h", "dram_bytes_per_inference": float("inf")})


@pytest.mark.parametrize("name", list_harnesses())
def test_harnesses_are_sourced(name: str) -> None:
    h = load_harness(name)
    assert h.missing_sources() == []
    for arch in ("xavier-nx-15w", "xavier-nx-20w", "agx-xavier-maxn"):
        assert h.fixed_s_per_inference(arch) < 0.1  # a fixed time, not a model of the GPU


def test_bad_options_name_the_field() -> None:
    with pytest.raises(SpecError, match="gemm_efficiency"):
        get_backend("xavier-nx", gemm_efficiency=1.5)
    with pytest.raises(SpecError, match="fusion"):
        get_backend("xavier-nx", fusion="all")
    with pytest.raises(SpecError, match="xavier-nx option"):
        get_backend("xavier-nx", tensor_core_magic=2)
    with pytest.raises(SpecError, match="butterfly_unit"):
        get_backend("xavier-nx", butterfly_unit="fp64_cuda")
    with pytest.raises(SpecError, match="stack"):
        get_backend("jetson", stack="no-such-stack")
    with pytest.raises(SpecError, match="arch"):
        get_backend("jetson", arch="df-4x4-simd8")
    with pytest.raises(SpecError, match="gemm_efficiency"):  # no value for the board's GPU generation
        get_backend("jetson", arch="agx-orin-maxn", gemm_efficiency={"volta": 0.5})


def test_overrides_are_noted() -> None:
    b = get_backend("xavier-nx", gemm_efficiency=0.7, gemm_tiles=[{"m": 64, "n": 64, "k": 32}])
    assert b.stack.gemm_efficiency == {"volta": 0.7, "ampere": 0.7} and len(b.stack.gemm_tiles) == 1
    assert b.stack.sources["gemm_efficiency"].startswith("override") and b.gemm_efficiency == 0.7
    one_generation = get_backend("jetson", arch="agx-orin-maxn", **{"gemm_efficiency.ampere": 0.25})
    assert one_generation.gemm_efficiency == 0.25 and one_generation.stack.gemm_efficiency["volta"] > 0.25
    assert b.stack.missing_sources() == []


def test_a_generation_the_stack_lacks_is_added_by_an_override() -> None:
    with pytest.raises(SpecError, match="gemm_efficiency.hopper=VALUE"):
        get_backend("jetson", arch="h100-sxm-max")
    b = get_backend("jetson", arch="h100-sxm-max", **{"gemm_efficiency.hopper": 0.6})
    assert (
        b.gemm_efficiency == 0.6
        and b.stack.gemm_efficiency["volta"] == load_stack("tensorrt-fp16").gemm_efficiency["volta"]
    )
    assert (
        b.stack.sources["gemm_efficiency.hopper"].startswith("override") and b.stack.missing_sources() == []
    )
    with pytest.raises(SpecError, match="gemm_efficiency.hopper"):
        get_backend("jetson", arch="h100-sxm-max", **{"gemm_efficiency.hopper": 2})
    with pytest.raises(SpecError, match="gemm_efficiency.hoppr"):  # not a generation: no new key
        get_backend("jetson", arch="h100-sxm-max", **{"gemm_efficiency.hoppr": 0.6})


def test_scenarios_refuse_what_they_cannot_time():
    """Found by a bad-input hunt: a generator of batches was read twice (an empty max()), a zero latency
    divided by zero, a negative or NaN one was accepted, a distribution's name was an AttributeError."""
    b = get_backend("jetson", stack="tensorrt-int8")
    build = lambda n: named_workload("bert-large", 32, batch=n)  # noqa: E731
    gen = offline(b.run, build, (n for n in (1, 2)))
    assert gen.per_batch == offline(b.run, build, [1, 2]).per_batch
    for latency in (0.0, -1.0, float("nan")):
        with pytest.raises(SpecError, match="latency_s"):
            offline(lambda w, t=latency: SimpleNamespace(latency_s=t), build, [1])
    by_name = single_stream(b.run, lambda n: named_workload("bert-large", n), "squad-v1.1-dev-384")
    assert by_name.min_s > 0
    with pytest.raises(SpecError, match="probabilities"):
        weighted_quantile([], [], 0.5)
    with pytest.raises(ValueError, match="lengths"):  # pydantic's: load_lengths names the file
        LengthDistribution(name="d", lengths=[10**30], weights=[1], sources={"lengths": "t"})
