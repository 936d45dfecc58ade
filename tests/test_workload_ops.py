"""Typed workload ops and the Workload graph: FLOPs by hand, bytes, validation."""

from __future__ import annotations

import pytest

from swallowtail.backends import get_backend
from swallowtail.errors import SpecError
from swallowtail.result import OpResult, Result
from swallowtail.workload import FFT, GEMM, Butterfly, Elementwise, LayerNorm, Softmax, Workload
from swallowtail.workload.structured import block_layout


def test_butterfly_flops_and_bytes_by_hand() -> None:
    op = Butterfly("b", n=8, rows=4)
    assert op.stages == 3
    assert op.flops == 4 * 3 * 8 * 3  # rows x stages x n x (mul + FMA)
    # in 4x8, out 4x8, twiddles 3 stages x 4 pairs x 4 coefficients; fp16
    assert op.min_bytes == (32 + 32 + 48) * 2
    c = Butterfly("c", n=8, rows=1, stages=2, complex=True)
    assert c.flops == 1 * 2 * 8 * 14
    assert c.weight_elems == 2 * 4 * 4 * 2


def test_fft_gemm_softmax_layernorm_elementwise_flops() -> None:
    assert FFT("f", n=1024, rows=3).flops == 3 * 5 * 1024 * 10
    assert FFT("f", n=1024, rows=3, real_input=True).flops == 3 * 5 * 1024 * 10 // 2
    g = GEMM("g", m=4, k=5, n=6, batch=2)
    assert g.flops == 2 * 2 * 4 * 5 * 6
    assert g.min_bytes == (2 * 4 * 5 + 2 * 5 * 6 + 2 * 4 * 6) * 2
    w = GEMM("w", m=4, k=5, n=6, batch=2, b_is_weight=True)
    assert w.min_bytes == (2 * 4 * 5 + 5 * 6 + 2 * 4 * 6) * 2
    assert Softmax("s", rows=3, n=7).flops == 5 * 21
    assert LayerNorm("l", rows=3, n=7).flops == 7 * 21
    assert Elementwise("e", op="gelu", numel=10).flops == 80
    assert Elementwise("a", op="add", numel=10, operands=2).min_bytes == 30 * 2


@pytest.mark.parametrize(
    ("make", "field"),
    [
        (lambda: Butterfly("b", n=12, rows=1), "b.n"),
        (lambda: Butterfly("b", n=8, rows=0), "b.rows"),
        (lambda: Butterfly("b", n=8, rows=1, stages=4), "b.stages"),
        (lambda: GEMM("g", m=1, k=2.5, n=1), "g.k"),  # type: ignore[arg-type]
        (lambda: Elementwise("e", op="tanh", numel=3), "e.op"),
        (lambda: Softmax("s", rows=1, n=4, dtype="fp8"), "s.dtype"),
    ],
)
def test_bad_ops_name_the_field(make, field: str) -> None:
    with pytest.raises(ValueError, match=field.replace(".", r"\.")):
        make()


def test_workload_graph_checks_order_and_names() -> None:
    a = Butterfly("a", n=8, rows=2)
    b = Elementwise("b", op="gelu", numel=16, deps=("a",))
    w = Workload("w", (a, b), input_elems=16, output_elems=16)
    assert w.flops == a.flops + b.flops
    assert w.compulsory_dram_bytes == (a.weight_elems + 32) * 2
    assert w.flops_by_kind() == {"butterfly": a.flops, "elementwise": b.flops}
    with pytest.raises(ValueError, match="deps"):
        Workload("w", (b, a))
    with pytest.raises(ValueError, match="unique"):
        Workload("w", (a, a))


def test_result_json_round_trip() -> None:
    r = Result(
        backend="x",
        arch="y",
        workload="z",
        latency_s=2e-3,
        energy_j=1e-3,
        useful_ops=10**9,
        peak_ops_per_s=1e12,
        ops=[OpResult(name="a", kind="gemm", flops=10**9, latency_s=2e-3)],
    )
    d = r.to_dict()
    assert d["flop_efficiency"] == pytest.approx(0.5)
    assert Result.from_dict(d) == r
    with pytest.raises(ValueError, match="schema_version"):
        Result.from_dict({**d, "schema_version": 99})


@pytest.mark.parametrize(
    ("make", "field"),
    [  # found by a bad-input hunt: accepted, and a backend then reported negative energy and traffic
        (lambda: Elementwise("e", "relu", 16, weight=-1), "e.weight"),
        (lambda: Elementwise("e", "relu", 16, weight=float("nan")), "e.weight"),
        (lambda: Elementwise("e", "relu", 16, operands=True), "e.operands"),
        (lambda: Elementwise(None, "relu", 16), "op.name"),  # type: ignore[arg-type]
        (lambda: Elementwise("e", "relu", 16, deps=["a"]), "e.deps"),  # type: ignore[arg-type]
        (lambda: Elementwise("e", "relu", 16, layer=1.5), "e.layer"),  # type: ignore[arg-type]
        (lambda: Butterfly("b", n=16, rows=2, stages=True), "b.stages"),
        (lambda: Workload("w", "abc"), "w.ops"),  # type: ignore[arg-type]
        (lambda: Workload("w", (), elem_bytes=-1), "w.elem_bytes"),
        (lambda: Workload("w", (), elem_bytes=True), "w.elem_bytes"),
        (lambda: Workload("w", (), input_elems=-5), "w.input_elems"),
        (lambda: Workload("w", (), meta="abc"), "w.meta"),  # type: ignore[arg-type]
        (lambda: Workload("", ()), "workload.name"),
        (lambda: block_layout("butterfly", 0, 64, 32), "k"),  # was a ZeroDivisionError
        (lambda: block_layout("butterfly", 64, 64, 0), "block"),
        (lambda: block_layout("dense", float("nan"), 64, 32), "k"),  # type: ignore[arg-type]
        (lambda: block_layout("butterfly", 10**18, 10**18, 1), "block"),  # was a hang
    ],
)
def test_ops_and_workloads_refuse_fields_of_the_wrong_kind(make, field):
    with pytest.raises(SpecError) as e:
        make()
    assert e.value.field == field


@pytest.mark.parametrize(
    "backend", ["roofline", "jetson", "systolic", "sanger", "fabnet-be40", "dataflow-multilayer"]
)
@pytest.mark.parametrize("value", [None, "fabnet-base"])
def test_a_backend_given_no_workload_says_so(backend, value):
    """Found by a bad-input hunt: an AttributeError from deep inside each backend."""
    with pytest.raises(SpecError, match="a Workload") as e:
        get_backend(backend).run(value)
    assert e.value.field == "workload"


def test_a_network_given_no_config_says_so():
    from swallowtail.nn.model import HybridTransformer

    with pytest.raises(SpecError, match="a HybridConfig"):
        HybridTransformer("fabnet-base")  # type: ignore[arg-type]
