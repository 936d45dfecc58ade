"""The multilayer / single-layer dataflow compiler: plans, templates, knobs and the errors users can cause."""

from __future__ import annotations

import numpy as np
import pytest

from swallowtail.arch import load_arch
from swallowtail.compiler import compile as compile_kernel
from swallowtail.compiler.butterfly.kernels import kernel_spec
from swallowtail.compiler.butterfly.plan import batch_groups
from swallowtail.compiler.isa import COMPUTE_OPS, OP_LD, OP_ST, OP_XFER
from swallowtail.errors import SpecError
from swallowtail.workload.ops import FFT, Butterfly

ARCH = "df-4x4-simd8"


@pytest.fixture(scope="module")
def arch():
    return load_arch(ARCH)


def test_multilayer_folds_stages_into_few_passes(arch):
    p = compile_kernel(Butterfly("b", n=4096, rows=256), arch, "multilayer")
    assert len(p.plan.passes) == 2  # 12 stages, k <= log2 B
    assert all(pp.k <= p.plan.block.bit_length() - 1 for pp in p.plan.passes)
    assert sum(pp.k for pp in p.plan.passes) == 12
    s = p.summary()
    for needle in ("block B", "stages per pass", "rows per batch", "instructions", "SPM footprint", "why:"):
        assert needle in s


def test_single_layer_is_one_stage_per_pass(arch):
    p = compile_kernel(FFT("f", n=1024, rows=8), arch, "single-layer")
    assert [pp.k for pp in p.plan.passes] == [1] * 10


def test_every_stage_position_pair_is_covered_once(arch):
    """Each pass's blocks partition the positions; stage bits are block bits; in == out positions."""
    for op in (
        Butterfly("b", n=2048, rows=8),
        FFT("f", n=512, rows=8),
        Butterfly("c", n=64, rows=8, complex=True),
    ):
        p = compile_kernel(op, arch)
        for t in p.templates:
            pp = t.plan
            qj = np.zeros(pp.n_instances, dtype=np.int64)
            for i, b in enumerate(pp.instance_bits):
                qj |= ((np.arange(pp.n_instances) >> i) & 1) << b
            for qb in (t.qb_in, t.qb_out):
                allq = (qj[:, None] + qb.reshape(-1)[None, :]).reshape(-1)
                assert np.array_equal(np.sort(allq), np.arange(op.n))
            assert set(pp.stage_bits) <= set(pp.block_bits)


def test_lane_op_count_is_exact(arch):
    for op in (
        Butterfly("b", n=256, rows=7),
        FFT("f", n=128, rows=9),
        Butterfly("c", n=32, rows=3, complex=True),
    ):
        for df in ("multilayer", "single-layer"):
            p = compile_kernel(op, arch, df)
            assert p.lane_ops() == kernel_spec(op).lane_ops
    # the op's own convention: real butterfly 2 lane-ops per output per stage, FFT 8 per radix-2 butterfly
    assert kernel_spec(Butterfly("b", n=64, rows=3)).lane_ops == 3 * 6 * 64 * 2
    assert kernel_spec(FFT("f", n=64, rows=3)).lane_ops == 3 * 6 * 32 * 8


def test_templates_are_well_formed(arch):
    p = compile_kernel(FFT("f", n=2048, rows=16), arch)
    for t in p.templates:
        assert t.op.shape == t.dst.shape == t.slot.shape
        ld = t.op == OP_LD
        st = t.op == OP_ST
        assert (t.slot[ld | st] >= 0).all() and (t.slot[~(ld | st)] == -1).all()
        assert (t.peer[t.op == OP_XFER] >= 0).all()
        assert np.isin(t.op, (OP_LD, OP_ST, OP_XFER, *COMPUTE_OPS)).all()
        # no stage inside a pass touches the SPM: loads first, stores last
        kinds = [k for k, _, _ in t.steps]
        assert kinds[0] == "ld" and kinds[-1] == "st" and "ld" not in kinds[1:] and "st" not in kinds[:-1]
    assert p.spm.used_bytes <= load_arch(ARCH).spm.size_bytes


def test_dump_lists_one_pe_stream(arch):
    p = compile_kernel(Butterfly("b", n=256, rows=16), arch)
    text = p.dump(pe=(1, 2), limit=20)
    assert "PE (1, 2)" in text and "LD" in text and "more" in text
    with pytest.raises(ValueError, match="pe"):
        p.dump(pe=(9, 9))


def test_dma_moves_at_least_the_compulsory_bytes(arch):
    for op in (Butterfly("b", n=512, rows=33), FFT("f", n=256, rows=5)):
        p = compile_kernel(op, arch)
        assert sum(d.dram_bytes for d in p.dma) >= op.min_bytes


def test_batches_ramp_up_and_down():
    g = batch_groups(32, 8)
    assert sum(g) == 32 and g[0] == 1 and g[-1] == 1 and max(g) == 8
    assert batch_groups(3, 8) == [1, 1, 1]


def test_knobs_are_honoured(arch):
    p = compile_kernel(
        Butterfly("b", n=4096, rows=64), arch, block=64, stages_per_block=4, placement="stride"
    )
    assert p.plan.block == 64 and [pp.k for pp in p.plan.passes] == [4, 4, 4] and p.plan.placement == "stride"
    assert "block=64" in p.summary()


# ---- errors a user can cause ---------------------------------------------------------------------------
def test_fft_needs_a_power_of_two(arch):
    with pytest.raises(SpecError, match="power of two"):
        compile_kernel(FFT("f", n=1000, rows=4), arch)


def test_rows_must_be_positive():
    with pytest.raises(SpecError, match="rows"):
        Butterfly("b", n=64, rows=0)


def test_block_the_rf_cannot_hold(arch):
    with pytest.raises(SpecError, match="block") as exc:
        compile_kernel(Butterfly("b", n=8192, rows=8), arch, block=8192)
    assert "RF" in str(exc.value) or "register" in str(exc.value)


def test_arch_whose_rf_cannot_hold_one_block():
    tiny = load_arch(ARCH).with_overrides({"pe.register_file.entries": 2})
    with pytest.raises(SpecError, match="register_file.entries"):
        compile_kernel(Butterfly("b", n=256, rows=8), tiny)


def test_k_larger_than_log2_block(arch):
    with pytest.raises(SpecError, match="stages_per_block"):
        compile_kernel(Butterfly("b", n=1024, rows=8), arch, block=64, stages_per_block=7)


def test_single_layer_rejects_k(arch):
    with pytest.raises(SpecError, match="stages_per_block"):
        compile_kernel(Butterfly("b", n=1024, rows=8), arch, "single-layer", stages_per_block=3)


@pytest.mark.parametrize(
    ("knobs", "field"),
    [
        ({"block": 48}, "block"),
        ({"block": 4096}, "block"),
        ({"placement": "diagonal"}, "placement"),
        ({"rows_per_batch": 12}, "rows_per_batch"),
        ({"buffers": 5}, "buffers"),
        ({"warp": 3}, "knob"),
    ],
)
def test_bad_knobs_name_the_knob(arch, knobs, field):
    with pytest.raises(SpecError, match=field):
        compile_kernel(Butterfly("b", n=1024, rows=64), arch, **knobs)


def test_bad_dataflow_and_arch_kind(arch):
    with pytest.raises(SpecError, match="dataflow"):
        compile_kernel(Butterfly("b", n=64, rows=8), arch, "tiled")
    with pytest.raises(SpecError, match="arch"):
        compile_kernel(Butterfly("b", n=64, rows=8), "xavier-nx-15w")
