"""The CLI of the specs: workload show, roofline; JSON on stdout, clean errors."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from swallowtail.cli import app
from swallowtail.result import Result
from swallowtail.workload.lower import lower

runner = CliRunner()


def test_workload_show_json_is_the_lowered_workload() -> None:
    out = runner.invoke(app, ["workload", "show", "fabnet-base", "--seq-len", "1024", "--json"])
    assert out.exit_code == 0, out.output
    d = json.loads(out.stdout)
    w = lower("fabnet-base", 1024, name="fabnet-base")
    assert d == json.loads(json.dumps(w.to_dict()))
    assert d["flops"] == sum(op["flops"] for op in d["ops"])


def test_workload_show_table_and_ops() -> None:
    out = runner.invoke(app, ["workload", "show", "lra-image", "--seq-len", "1024", "--ops"])
    assert out.exit_code == 0, out.output
    assert "layer0.mix.fft_seq" in out.stdout and "total:" in out.stdout


def test_roofline_json_for_array_and_gpu() -> None:
    for arch in ("df-4x4-simd8", "xavier-nx-15w"):
        out = runner.invoke(
            app, ["roofline", "--arch", arch, "--model", "fabnet-base", "--seq-len", "1024", "--json"]
        )
        assert out.exit_code == 0, out.output
        r = Result.from_dict(json.loads(out.stdout))
        assert r.arch == arch and r.backend == "roofline"
        assert r.useful_ops == lower("fabnet-base", 1024).flops
        assert r.latency_s > 0 and r.energy_j > 0


def test_bad_input_is_one_clean_line() -> None:
    cases = [
        ["workload", "show", "no-such-net", "--seq-len", "128"],
        ["workload", "show", "fabnet-base", "--seq-len", "999999"],
        ["roofline", "--arch", "no-such-arch"],
    ]
    for args in cases:
        out = runner.invoke(app, args)
        assert out.exit_code == 2, (args, out.output)
        assert "Traceback" not in out.output
        assert out.output.strip().startswith("error:")


def test_demo_runs() -> None:
    out = runner.invoke(app, ["demo"])
    assert out.exit_code == 0, out.output
    assert "roofline on df-4x4-simd8" in out.stdout and "roofline on xavier-nx-15w" in out.stdout


def test_json_output_is_strict_json(capsys) -> None:
    """--json prints RFC 8259 JSON: a non-finite number (a ratio over an absurd timing, say) is null."""
    from swallowtail.cli._common import emit_json

    emit_json({"ratio": float("inf"), "rows": [(1.0, float("nan"))]})
    out = capsys.readouterr().out
    assert json.loads(out, parse_constant=lambda c: pytest.fail(f"non-standard {c}")) == {
        "ratio": None,
        "rows": [[1.0, None]],
    }
