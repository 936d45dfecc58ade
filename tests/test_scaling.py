"""Issue 16: the larger dataflow presets are balanced (memory scaled with compute) and the compiler shrinks a
streaming batch that does not fit the SPM, so every preset runs the reproduce suite's longest LRA tasks."""

from __future__ import annotations

import pytest

from swallowtail.arch import load_arch
from swallowtail.backends import get_backend
from swallowtail.compiler import compile as compile_kernel
from swallowtail.errors import SpecError
from swallowtail.workload.lower import lower
from swallowtail.workload.ops import FFT

REFERENCE = "df-4x4-simd8"
SCALED = ("df-4x4-simd32", "df-8x8-simd8")
#: the reproduce suite's longest LRA tasks (swallowtail.experiments.suite.LRA_WORKLOADS)
LONG_LRA = (("lra-text", 4096), ("lra-retrieval", 4096))
#: SPM of df-4x4-simd32 before issue 16: two 64-row batches of an n = 4096 FFT did not fit it
OLD_SPM_BYTES = 2 * 1024 * 1024


@pytest.mark.parametrize("name", SCALED)
def test_scaled_presets_keep_the_reference_bytes_per_flop(name):
    ref, a = load_arch(REFERENCE), load_arch(name)
    ratio = a.peak_ops_per_s / ref.peak_ops_per_s
    assert a.dram_bytes_per_s == pytest.approx(ratio * ref.dram_bytes_per_s)
    assert a.spm.bytes_per_cycle == ratio * ref.spm.bytes_per_cycle
    assert a.spm.size_bytes == ratio * ref.spm.size_bytes
    per_pe = (a.pe.simd_lanes * ref.noc.link_bytes_per_cycle) / (
        ref.pe.simd_lanes * a.noc.link_bytes_per_cycle
    )
    assert per_pe == 1  # a link carries the same bytes per FLOP of its PE


@pytest.mark.parametrize("name", SCALED)
@pytest.mark.parametrize(("preset", "seq_len"), LONG_LRA)
def test_scaled_presets_run_the_long_lra_tasks(name, preset, seq_len):
    r = get_backend("dataflow-multilayer", arch=name).run(lower(preset, seq_len))
    assert r.latency_s > 0 and r.cycles


def test_a_batch_that_does_not_fit_shrinks_to_one_that_does():
    a = load_arch("df-4x4-simd32").with_overrides({"spm.size_bytes": OLD_SPM_BYTES})
    lanes = a.pe.simd_lanes
    prog = compile_kernel(
        FFT("f", n=4096, rows=256, real_input=True, real_output=True), a, rows_per_batch=2 * lanes
    )
    assert prog.plan.rows_per_batch == lanes
    assert any("instead of the" in r for r in prog.plan.reasons)
    # the whole network too (its probes ask for 2 row groups per batch)
    assert get_backend("dataflow-multilayer", arch=a).run(lower("lra-text", 4096)).latency_s > 0


def test_the_error_stays_when_not_even_one_row_group_fits():
    a = load_arch("df-4x4-simd32").with_overrides({"spm.size_bytes": 512 * 1024})
    with pytest.raises(SpecError, match="one row group"):
        compile_kernel(FFT("f", n=4096, rows=256), a, rows_per_batch=64)
