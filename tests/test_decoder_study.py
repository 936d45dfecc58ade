"""The decoder study of `reproduce` (issue 17): Llama prefill with dense / Monarch / block-sparse MLPs on the
array and the GPU stacks -- its rows, the JSON round trip, the report's section and figure."""

from __future__ import annotations

import json

import pytest

from swallowtail.experiments.decoder import DECODER_ARRAYS, DECODER_GPUS, QUICK_DECODER_MODELS, run_decoder
from swallowtail.experiments.records import DecoderStudy
from swallowtail.experiments.report_decoder import block_sweep_rows, decoder_lines, decoder_rows, fig_decoder


@pytest.fixture(scope="module")
def study() -> DecoderStudy:
    return run_decoder(quick=True)


def test_every_model_on_every_target(study):
    targets = {t[0] for t in DECODER_ARRAYS + DECODER_GPUS}
    assert {(r.model, r.target) for r in study.rows} == {
        (m, t) for m in QUICK_DECODER_MODELS for t in targets
    }
    assert all(r.latency_s > 0 and r.energy_j > 0 and 0 < r.mlp_efficiency <= 1 for r in study.rows)
    assert {r.mlp for r in study.rows} == {"dense", "monarch", "bs16", "bs32"}


def test_structured_mlps_cut_flops_and_array_time(study):
    """A structured MLP does less work, and on the array (which keeps its kernels busy) it is faster."""
    array = study.arrays[0]
    dense = study.row("llama-small", array)
    for m in QUICK_DECODER_MODELS[1:]:
        r = study.row(m, array)
        assert r.flops < dense.flops and r.latency_s < dense.latency_s
        assert r.mlp_efficiency > 0.8


def test_eager_never_faster_than_tensorrt(study):
    for m in study.models:
        assert study.row(m, study.gpus[1]).latency_s >= study.row(m, study.gpus[0]).latency_s


def test_round_trip_and_report(study):
    again = DecoderStudy.from_dict(json.loads(json.dumps(study.to_dict())))
    assert again == study
    head, rows = decoder_rows(study)
    assert len(rows) == len(study.models) and len(head) == len(rows[0])
    head, rows = block_sweep_rows(study)
    assert len(rows) == len(study.models) and len(head) == len(rows[0])
    assert any("speedup over the dense MLP" in line for line in decoder_lines(study))
    fig = fig_decoder(study)
    assert len(fig.axes) == 2
