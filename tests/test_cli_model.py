"""`swallowtail model list | summary`: tables, stable JSON, YAML configs, clean errors with exit code 2."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from swallowtail.cli.model import app
from swallowtail.nn.config import get_preset, list_presets
from swallowtail.nn.counts import model_counts

runner = CliRunner()


def test_list():
    result = runner.invoke(app, ["list"])
    assert result.exit_code == 0, result.output
    for name in list_presets():
        assert name in result.stdout
    as_json = json.loads(runner.invoke(app, ["list", "--json"]).stdout)
    assert as_json == list_presets()


def test_summary_json_matches_model_counts():
    result = runner.invoke(app, ["summary", "lra-text", "--seq-len", "1024", "--batch", "2", "--json"])
    assert result.exit_code == 0, result.output
    d = json.loads(result.stdout)
    counts = model_counts(get_preset("lra-text"), 1024, 2)
    assert d == json.loads(json.dumps(counts.to_dict()))
    assert (d["flops"], d["params"], d["seq_len"], d["batch"]) == (counts.flops, counts.params, 1024, 2)
    assert [layer["name"] for layer in d["layers"]] == [
        "embed",
        "layer0",
        "layer1",
        "layer2",
        "layer3",
        "head",
    ]
    assert {"name", "kind", "flops", "params", "dims"} <= set(d["layers"][4]["ops"][0])
    assert d["config"]["vocab_size"] == get_preset("lra-text").vocab_size
    again = runner.invoke(app, ["summary", "lra-text", "--seq-len", "1024", "--batch", "2", "--json"])
    assert again.stdout == result.stdout  # stable


def test_summary_table_defaults_to_max_len():
    result = runner.invoke(app, ["summary", "lra-image"])
    assert result.exit_code == 0, result.output
    counts = model_counts(get_preset("lra-image"), 1024)
    assert "seq_len 1024" in result.stdout
    for text in ("embed", "layer0", "layer1", "head", "total", f"{counts.flops:,}", f"{counts.params:,}"):
        assert text in result.stdout


def test_summary_of_yaml_config(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("preset: fabnet-base\nn_layers: 4\nattention_layers: 1\nlayout: [2]\n")
    result = runner.invoke(app, ["summary", str(path), "--seq-len", "128", "--json"])
    assert result.exit_code == 0, result.output
    d = json.loads(result.stdout)
    assert [layer["kind"] for layer in d["layers"]] == ["embed", "fbfly", "fbfly", "abfly", "fbfly", "head"]


def test_errors_are_clean():
    cases = [
        (["summary", "bert"], "preset = 'bert'"),
        (["summary", "lra-image", "--seq-len", "2048"], "seq_len = 2048"),
        (["summary", "lra-image", "--batch", "0"], "batch = 0"),
        (["summary", "missing.yaml"], "does not exist"),
    ]
    for args, message in cases:
        result = runner.invoke(app, args)
        assert result.exit_code == 2, (args, result.output)
        assert message in result.stderr
        assert "Traceback" not in result.output


def test_summary_title_prints_the_path_as_text(tmp_path):
    """A config path with `[/]` in it is text, not rich markup (it was a MarkupError traceback)."""
    folder = tmp_path / "a[" / "]b"
    folder.mkdir(parents=True)
    path = folder / "mine.yaml"
    path.write_text("preset: lra-image\n")
    result = runner.invoke(app, ["summary", str(path)])
    assert result.exit_code == 0, result.output
    assert "a[/]b" in result.stdout
