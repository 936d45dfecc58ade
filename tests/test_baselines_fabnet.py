"""The FABNet baseline: hand counts of the BE cycle formula, the row-tile pipeline, both memories."""

from __future__ import annotations

import math
from typing import Any

import pytest

from swallowtail.arch import load_arch
from swallowtail.backends import get_backend
from swallowtail.errors import SpecError
from swallowtail.workload import FFT, GEMM, Butterfly, LayerNorm, Workload
from swallowtail.workload.lower import lower

CLOCK = 200e6


def one(op: Any) -> Workload:
    return Workload(op.name, (op,))


def pipeline(tiles: int, load: int, compute: int, store: int, coef: int = 0) -> int:
    return max(load, coef) + compute + store + (tiles - 1) * max(load, compute, store)


def test_butterfly_layer_hand_count_hbm() -> None:
    # BE-120, HBM: n = 1024 (10 stages), 240 rows -> 2 tiles of 120 rows (one per BE)
    compute = math.ceil(1024 / (2 * 4) * 10 / 0.85)  # N / (2 BU) x log2 N / efficiency = 1506
    load = 120 * 1024 * 16 // 2048  # 120 rows of 1024 FP16 words over 2048 bits per cycle = 960
    store = 120 * 1024 * 16 // 2048  # 960
    coef = 10 * 512 * 4 * 2 * 8 // 256  # 10 stages x 512 pairs x 4 coefficients, FP16, 256 bits/cycle = 1280
    cycles = pipeline(2, load, compute, store, coef)
    assert (compute, cycles) == (1506, 5252)
    r = get_backend("fabnet-be120").run(one(Butterfly("b", n=1024, rows=240)))
    assert r.cycles == cycles
    assert r.latency_s == pytest.approx(cycles / CLOCK)
    assert r.ops[0].bound == "compute"
    assert r.traffic_bytes["dram"] == 240 * 1024 * 2 * 2 + 10 * 512 * 4 * 2
    assert r.energy_j == pytest.approx((5.0 + 0.15 * 120) * cycles / CLOCK)  # 23 W x time
    assert r.clock_hz == CLOCK
    mults = 240 * 512 * 10 * 4
    assert r.utilization == pytest.approx(mults / ((120 * 4 * 4 + 256) * cycles))


def test_butterfly_layer_hand_count_ddr3() -> None:
    compute = 1506
    load = 120 * 1024 * 16 // 64  # 30720
    store = 120 * 1024 * 16 // 128  # 15360
    coef = 40960 * 8 // 64  # 5120
    cycles = pipeline(2, load, compute, store, coef)
    w = one(Butterfly("b", n=1024, rows=240))
    r = get_backend("fabnet-be120-ddr3").run(w)
    assert r.cycles == cycles == 78306
    assert r.ops[0].bound == "dram-in"
    # the same machine through the option
    r2 = get_backend("fabnet-be120", memory="ddr3").run(w)
    assert (r2.cycles, r2.energy_j) == (r.cycles, r.energy_j)


def test_complex_butterfly_takes_four_bu_cycles_per_pair() -> None:
    # 16 real multiplies per output pair / 4 multipliers per BU = 4 cycles per pair
    r = get_backend("fabnet-be40", efficiency=1.0).run(one(Butterfly("b", n=16, rows=40, complex=True)))
    compute = 16 // 2 * 4 * 4 // 4  # N/2 pairs x stages x 4 cycles / 4 BUs = 32
    load = 40 * 32 * 16 // 2048 + (40 * 32 * 16 % 2048 > 0)  # 40 rows x 32 words (complex)
    coef = math.ceil(4 * 8 * 4 * 2 * 2 * 8 / 256)  # 4 stages x 8 pairs x 4 complex coefficients
    assert r.cycles == pipeline(1, load, compute, load, coef)


def test_fft_hand_count_and_padding() -> None:
    # FFT over the sequence, n = 512, 768 rows, real part kept: 7 tiles of 120 rows
    compute = math.ceil(512 / 8 * 9 / 0.85)  # 678
    load = 120 * 512 * 2 * 16 // 2048  # complex input: 960
    store = 120 * 512 * 1 * 16 // 2048  # real output: 480
    r = get_backend("fabnet-be120").run(one(FFT("f", n=512, rows=768, real_output=True)))
    assert r.cycles == pipeline(7, load, compute, store) == 7878
    assert r.ops[0].bound == "dram-in"
    # a length that is not a power of two runs padded: 768 -> 1024 points, 10 stages
    r = get_backend("fabnet-be120").run(one(FFT("f", n=768, rows=120, real_input=True)))
    compute = math.ceil(1024 / 8 * 10 / 0.85)
    load = math.ceil(120 * 768 * 16 / 2048)
    store = math.ceil(120 * 768 * 2 * 16 / 2048)
    assert r.cycles == pipeline(1, load, compute, store)


def test_sequence_fft_is_costed_at_the_sequence_length() -> None:
    b = get_backend("fabnet-be120")
    for seq in (256, 512, 2048):
        w = lower("fabnet-base", seq)
        op = w.op("layer0.mix.fft_seq")
        assert op.n == seq and op.rows == 768
        got = b.op_cost(op).cycles
        compute = math.ceil(seq / 8 * math.log2(seq) / 0.85)
        load = math.ceil(120 * seq * 2 * 16 / 2048)
        store = math.ceil(120 * seq * 16 / 2048)
        assert got == pipeline(math.ceil(768 / 120), load, compute, store)
        # not at the hidden length (768, padded to 1024)
        hidden = math.ceil(1024 / 8 * 10 / 0.85)
        assert got != pipeline(math.ceil(768 / 120), load, hidden, store)


def test_dense_ops_on_attention_and_post_processing_units() -> None:
    # GEMM 2 x (64x64 @ 64x64) on the attention processor: 256 MACs x 0.85 per cycle
    r = get_backend("fabnet-be120").run(one(GEMM("g", m=64, k=64, n=64, batch=2)))
    macs = 2 * 64 * 64 * 64
    load = math.ceil(2 * 2 * 64 * 64 * 2 * 8 / 2048)
    store = math.ceil(2 * 64 * 64 * 2 * 8 / 2048)
    assert r.cycles == max(math.ceil(macs / (256 * 0.85)), load, store) == 2410
    assert r.ops[0].bound == "attention"
    # LayerNorm 100 x 64 on 64 elements per cycle
    r = get_backend("fabnet-be120").run(one(LayerNorm("ln", rows=100, n=64)))
    assert r.cycles == max(100, math.ceil((6400 + 128) * 16 / 2048), math.ceil(6400 * 16 / 2048)) == 100


def test_presets_and_power() -> None:
    be40, be120 = load_arch("fabnet-be40-hbm"), load_arch("fabnet-be120-hbm")
    assert be40.butterfly_engines == 40 and be120.butterfly_engines == 120
    assert be40.power_w == pytest.approx(11.0) and be120.power_w == pytest.approx(23.0)
    assert be120.dram_bytes_per_s == (2048 + 256 + 2048) / 8 * 200e6
    assert load_arch("fabnet-be120-ddr3").dram_bytes_per_s == (64 + 64 + 128) / 8 * 200e6
    # FFT mode: each BU one radix-2 butterfly (10 FLOPs) per cycle; + the attention processor
    assert be120.peak_ops_per_s == pytest.approx(480 * 10 * 200e6 + 256 * 2 * 200e6)
    assert "power" in " ".join(be40.assumptions().values()) or be40.assumptions()


def test_bad_options_name_the_field() -> None:
    with pytest.raises(SpecError, match="memory"):
        get_backend("fabnet-be120", memory="hbm3")
    with pytest.raises(SpecError, match="efficiency"):
        get_backend("fabnet-be40", efficiency=1.5)
    with pytest.raises(SpecError, match="fabnet-be40 option"):
        get_backend("fabnet-be40", engines=3)
    with pytest.raises(SpecError, match="arch"):
        get_backend("fabnet-be40", arch="sanger")
