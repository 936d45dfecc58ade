"""Sanger and SpAtten at the same peak: scaling, hand counts, sparsity and pruning, energy per op."""

from __future__ import annotations

import math
from typing import Any

import pytest

from swallowtail.backends import get_backend
from swallowtail.baselines._common import logic_energy_factor
from swallowtail.errors import SpecError
from swallowtail.workload import FFT, GEMM, Butterfly, Elementwise, Softmax, Workload
from swallowtail.workload.lower import lower

SAME = {"same_peak_as": "df-4x4-simd8"}
DRAM_J = 1.625e-10  # horowitz-45nm DRAM energy per byte
#: Stillmaker-Baas logic curve of the energy table: 45 nm 1, 28 nm 0.51, 12 nm 0.13; beyond 45 nm the
#: 45 -> 28 nm power law
SLOPE = math.log(0.51) / math.log(28 / 45)


def one(op: Any) -> Workload:
    return Workload(op.name, (op,))


def attention_block(heads: int = 2, t: int = 64, hs: int = 32) -> Workload:
    return Workload(
        "attn",
        (
            GEMM("a.scores", m=t, k=hs, n=t, batch=heads),
            Elementwise("a.scale", op="scale", numel=heads * t * t, deps=("a.scores",)),
            Softmax("a.softmax", rows=heads * t, n=t, deps=("a.scale",)),
            GEMM("a.values", m=t, k=t, n=hs, batch=heads, deps=("a.softmax",)),
        ),
    )


def test_scaled_to_the_same_peak() -> None:
    s = get_backend("sanger", **SAME)
    assert s.macs_per_cycle == pytest.approx(128)  # 64 x 16 = 1024 PEs -> 8 x 16
    assert s.peak_ops_per_s == pytest.approx(256e9)
    assert s.dram_bytes_per_s == pytest.approx(128e9 / 8)
    sp = get_backend("spatten", peak_ops_per_s=256e9)
    assert (sp.qk_per_cycle, sp.pv_per_cycle) == pytest.approx((64, 64))
    assert sp.vector_per_cycle == pytest.approx(1)
    assert get_backend("sanger").peak_ops_per_s == 64 * 16 * 2 * 1e9
    r = s.run(one(GEMM("g", m=8, k=8, n=8)))
    assert r.peak_ops_per_s == pytest.approx(256e9) and r.arch == "sanger@256GOPS"


def test_energy_per_op_scaled_to_12nm() -> None:
    assert logic_energy_factor(45, 12) == pytest.approx(0.13)
    assert logic_energy_factor(28, 12) == pytest.approx(0.13 / 0.51)
    f55 = 0.13 / (55 / 45) ** SLOPE
    f40 = 0.13 / (40 / 45) ** SLOPE
    assert logic_energy_factor(55, 12) == pytest.approx(f55)
    s = get_backend("sanger", **SAME)
    assert s.j_per_op == pytest.approx(2.76 / 2.048e12 * f55)
    sp = get_backend("spatten", **SAME)
    assert sp.j_per_op == pytest.approx(8.3 / 1.61e12 * f40)
    assert get_backend("sanger", node_nm=55).j_per_op == pytest.approx(2.76 / 2.048e12)


def test_dense_gemm_hand_count() -> None:
    # 64x128 @ 128x32 on 128 MACs (Sanger at 256 GOPS), dense utilization 1; DRAM 16 B/cycle
    s = get_backend("sanger", **SAME)
    op = GEMM("g", m=64, k=128, n=32, b_is_weight=True)
    macs = 64 * 128 * 32
    dram = (64 * 128 + 128 * 32 + 64 * 32) * 2
    r = s.run(one(op))
    assert r.cycles == max(macs // 128, math.ceil(dram / 16)) == 2048
    assert r.ops[0].bound == "compute"
    assert r.energy_breakdown_j["core"] == pytest.approx(2 * macs * s.j_per_op)
    assert r.energy_breakdown_j["dram"] == pytest.approx(dram * DRAM_J)
    assert r.energy_breakdown_j["leakage"] == pytest.approx(0.1 * s.j_per_op * 256e9 * 2048e-9)


def test_butterfly_runs_as_its_dense_matrix() -> None:
    s = get_backend("sanger", **SAME)  # 128 MACs per cycle, DRAM 16 B per cycle
    op = Butterfly("b", n=256, rows=64)
    r = s.run(one(op))
    assert r.cycles == 64 * 256 * 256 // 128  # (64 x 256) @ (256 x 256): compute-bound
    # the dense 256 x 256 matrix is read from DRAM (not the butterfly's 8 x 512 coefficients)
    assert r.traffic_bytes["dram"] == (64 * 256 + 256 * 256 + 64 * 256) * 2
    fast = {"dram_gbytes_per_s": 1.0e6, **SAME}
    blocks = get_backend("sanger", butterfly_mapping="block", **fast).run(one(op))
    assert blocks.cycles == 64 * 256 * 2 * 8 // 128  # 2 x 2 blocks x 8 levels = 4 x 4 blocks x 4 levels
    # with the real 16 B/cycle every level is a DRAM round trip: 2 levels of 16 x 16 blocks win
    level = (64 * 256 * 2 * 2 + 16 * 16 * 16 * 2) / 16  # activations in + out, 16 blocks of 16 x 16
    assert level > 64 * 256 * 16 / 128
    slow = get_backend("sanger", butterfly_mapping="block", **SAME).run(one(op))
    assert slow.cycles == math.ceil(2 * level) == 9216
    fft = s.run(one(FFT("f", n=64, rows=128, real_input=True)))
    assert fft.cycles == 128 * 64 * 128 // 128  # DFT: (128 x 64) @ (64 x 128)


def test_sanger_sparse_attention_hand_count() -> None:
    s = get_backend("sanger")  # 1024 MACs, 64 exp units, 128 B/cycle, density 0.2, load balance 0.8
    r = s.run(attention_block())
    macs = 2 * 64 * 32 * 64
    qk_compute = macs * 0.2 / (1024 * 0.8)  # 64 cycles
    qk_dram = 2 * (2 * 64 * 32) * 2 / 128  # Q and K in: 128 cycles
    scale = 2 * 64 * 64 * 0.2 / 64  # kept scores only, no DRAM (on chip)
    assert [o.cycles for o in r.ops] == [
        math.ceil(max(qk_compute, qk_dram)),
        math.ceil(scale),
        math.ceil(scale),
        math.ceil(max(macs * 0.2 / (1024 * 0.8), (2 * 64 * 32 + 2 * 64 * 32) * 2 / 128)),
    ]
    assert r.ops[0].bound == "dram" and r.ops[1].bytes == {"dram": 0}
    dense = get_backend("sanger", attention_density=1.0, load_balance=1.0).run(attention_block())
    assert dense.ops[0].cycles == 256  # macs / 1024
    assert get_backend("sanger", prediction_relative_cost=0.25).run(attention_block()).ops[0].cycles == 128


def test_spatten_pipelined_attention_hand_count() -> None:
    sp = get_backend("spatten", head_keep=1.0)  # 512 + 512 multipliers, 8 softmax units, 512 B/cycle
    r = sp.run(attention_block())
    qk = 2 * 64 * 64 * 32 / 512
    pv = 2 * 64 * 64 * 32 / 512
    vec = 2 * (2 * 64 * 64) / 8  # scale and softmax share the softmax units
    kv = (8 + 0.1 * 4) / 8  # bytes per fetched Q / K / V element (MSBs + re-fetched LSBs)
    dram = (2 * 2 * 64 * 32 + 2 * 64 * 32) * kv + 2 * 64 * 32 * 2
    block = max(qk, pv, vec, dram / 512)
    assert block == vec == 2048
    assert sum(o.cycles for o in r.ops) == 2048
    assert {o.bound for o in r.ops} == {"pipelined"}
    assert r.traffic_bytes["dram"] == pytest.approx(dram, abs=4)
    # head pruning: 1 of 2 heads survives at head_keep 0.5
    half = get_backend("spatten", head_keep=0.5).run(attention_block())
    assert sum(o.cycles for o in half.ops) == 1024


def test_spatten_cascade_token_pruning() -> None:
    cfg_workload = lower("transformer", 128)
    keep = get_backend("spatten", token_keep_per_attention_layer=0.5, head_keep=1.0)
    full = get_backend("spatten", token_keep_per_attention_layer=1.0, head_keep=1.0)
    rk, rf = keep.run(cfg_workload), full.run(cfg_workload)
    by_name_k = {o.name: o for o in rk.ops}
    by_name_f = {o.name: o for o in rf.ops}
    # layer 0 runs on every token; after its attention, 64 of 128 tokens are left
    assert by_name_k["layer0.attn.q"].cycles == by_name_f["layer0.attn.q"].cycles
    fc1 = cfg_workload.op("layer0.ffn.fc1")
    assert by_name_k["layer0.ffn.fc1"].cycles == math.ceil(64 * fc1.k * fc1.n / 1024)
    assert by_name_f["layer0.ffn.fc1"].cycles == 128 * fc1.k * fc1.n // 1024
    # after layer 1's attention: 32 tokens; the reported FLOPs stay the workload's
    assert by_name_k["layer1.ffn.fc1"].cycles == math.ceil(32 * fc1.k * fc1.n / 1024)
    assert by_name_k["layer1.ffn.fc1"].flops == fc1.flops
    assert rk.useful_ops == rf.useful_ops == cfg_workload.flops
    assert rk.latency_s < rf.latency_s


def test_bad_options_name_the_field() -> None:
    with pytest.raises(SpecError, match="peak_ops_per_s"):
        get_backend("sanger", peak_ops_per_s=-1)
    with pytest.raises(SpecError, match="peak_ops_per_s"):
        get_backend("sanger", peak_ops_per_s=1e9, same_peak_as="df-4x4-simd8")
    for peak in (1e-300, 1e300):  # was an OverflowError traceback / an energy of 3e279 J
        with pytest.raises(SpecError, match="peak_ops_per_s"):
            get_backend("sanger", peak_ops_per_s=peak)
    with pytest.raises(SpecError, match="attention_density"):
        get_backend("sanger", attention_density=0)
    with pytest.raises(SpecError, match="token_keep_per_attention_layer"):
        get_backend("spatten", token_keep_per_attention_layer=1.5)
    with pytest.raises(SpecError, match="spatten option"):
        get_backend("spatten", density=0.3)
    with pytest.raises(SpecError, match="butterfly_mapping"):
        get_backend("spatten", butterfly_mapping="sparse")
    with pytest.raises(SpecError, match="arch"):
        get_backend("spatten", arch="sanger")
    with pytest.raises(SpecError, match="same_peak_as = 'no-such-arch'"):
        get_backend("sanger", same_peak_as="no-such-arch")
    with pytest.raises(SpecError, match="same_peak_as = 5 "):  # was: arch = '5'
        get_backend("spatten", same_peak_as=5)


def test_spatten_fetches_no_more_bits_than_its_word() -> None:
    """MSBs + LSBs re-fetched are parts of one 12-bit word: 64 + 4 was costed as 68-bit K/V fetches."""
    for opts in ({"kv_fetch_bits": 64}, {"lsb_bits": 64}, {"kv_fetch_bits": 9}):
        with pytest.raises(
            SpecError, match=r"kv_fetch_bits \+ lsb_bits = \d+ is not allowed: at most word_bits = 12"
        ):
            get_backend("spatten", **opts)
    assert get_backend("spatten", kv_fetch_bits=7, lsb_bits=5).run(attention_block()).latency_s > 0


def test_node_and_dram_options() -> None:
    for node in (0, 0.5, 1e30):  # 1e30 nm gave an energy of 4e38 J
        with pytest.raises(SpecError, match="node_nm"):
            get_backend("sanger", node_nm=node)
    with pytest.raises(SpecError, match="dram_gbytes_per_s"):
        get_backend("sanger", dram_gbytes_per_s=-1.0)
    s = get_backend("sanger", dram_gbytes_per_s=51.2, **SAME)  # given: not scaled with the peak
    assert s.dram_bytes_per_s == pytest.approx(51.2e9)


def test_spatten_dense_ops_hand_count() -> None:
    sp = get_backend("spatten")  # linear layers on both units: 1024 multipliers, DRAM 512 B/cycle
    r = sp.run(one(GEMM("g", m=64, k=128, n=32, b_is_weight=True)))
    assert r.cycles == max(64 * 128 * 32 // 1024, math.ceil((64 * 128 + 128 * 32 + 64 * 32) * 2 / 512)) == 256
    r = sp.run(one(Butterfly("b", n=128, rows=64)))
    assert r.cycles == max(64 * 128 * 128 // 1024, math.ceil((64 * 128 * 2 + 128 * 128) * 2 / 512)) == 1024
    r = sp.run(one(Softmax("s", rows=64, n=64)))  # outside an attention block: 8 softmax units
    assert r.cycles == max(64 * 64 // 8, math.ceil(2 * 64 * 64 * 2 / 512)) == 512
