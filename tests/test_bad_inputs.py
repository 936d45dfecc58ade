"""Bad input, as a user types it: every case is a clean one-line error naming the field, exit status 2.

A table of (command line, text the message must contain). Files the commands read are written by the
`files` fixture first ({tmp} in a command is the folder). Each case checks: exit status 2, no traceback, the
named field in the message, and a message of one line.
"""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from swallowtail.cli import app

runner = CliRunner()


def _bomb(levels: int = 12, width: int = 10) -> str:
    lines = [f"a0: &a0 [{', '.join(['x'] * width)}]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * width)}]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


def _arch_yaml(**fields: str) -> str:
    """df-4x4-simd8 as YAML with some top-level lines replaced."""
    from swallowtail.arch import load_arch

    text = load_arch("df-4x4-simd8").to_yaml()
    for key, value in fields.items():
        head, sep, _ = key.partition(".")
        if sep:  # a nested key: replace the first `  <sub>:` line after `<head>:`
            i = text.index(f"\n{head}:")
            j = text.index(f"\n  {key.split('.', 1)[1]}:", i)
            k = text.index("\n", j + 1)
            text = text[:j] + f"\n  {key.split('.', 1)[1]}: {value}" + text[k:]
        else:
            i = text.index(f"\n{key}:")
            k = text.index("\n", i + 1)
            text = text[:i] + f"\n{key}: {value}" + text[k:]
    return text


FILES: dict[str, str] = {
    "broken.yaml": "name: [\n",
    "bomb.yaml": _bomb(),
    "dupkey.yaml": "n_layers: 2\nn_layers: 3\n",
    "not-a-mapping.yaml": "- 1\n- 2\n",
    "unknown-field.yaml": "preset: fnet\nwarp_drive: 9\n",
    "clock.yaml": _arch_yaml(clock_hz="1.0e+300"),
    "huge-array.yaml": _arch_yaml(**{"array.rows": "1000000"}),
    "lanes.yaml": _arch_yaml(**{"pe.simd_lanes": "1000000"}),
    "spm.yaml": _arch_yaml(**{"spm.size_bytes": "1125899906842624"}),
    "node.yaml": _arch_yaml(tech_node_nm="1000000"),
    "zero-clock.yaml": _arch_yaml(clock_hz="0.0"),
    "nan-clock.yaml": _arch_yaml(clock_hz=".nan"),
    "string-clock.yaml": _arch_yaml(clock_hz="fast"),
    "big.yaml": "a: 1\n" + "#" * (1 << 20) + "\n",
    "a-file": "not a folder\n",
}

CASES: list[tuple[str, str]] = [
    # ---- YAML files ------------------------------------------------------------------------------------
    ("model summary {tmp}/broken.yaml --seq-len 128", "YAML syntax error"),
    ("model summary {tmp}/bomb.yaml --seq-len 128", "aliases"),
    ("model summary {tmp}/dupkey.yaml --seq-len 128", "duplicate key"),
    ("model summary {tmp}/not-a-mapping.yaml --seq-len 128", "mapping"),
    ("model summary {tmp}/unknown-field.yaml --seq-len 128", "warp_drive"),
    ("model summary {tmp}/no-such-file.yaml --seq-len 128", "config"),
    ("model summary {tmp}/big.yaml --seq-len 128", "bytes"),
    ("arch show {tmp}/broken.yaml", "YAML syntax error"),
    ("arch show {tmp}/bomb.yaml", "aliases"),
    ("arch show {tmp}/no-such-file.yaml", "path"),
    # ---- physical ranges of an architecture --------------------------------------------------------------
    ("arch show {tmp}/clock.yaml", "clock_hz"),
    ("arch show {tmp}/huge-array.yaml", "array.rows"),
    ("arch show {tmp}/lanes.yaml", "pe.simd_lanes"),
    ("arch show {tmp}/spm.yaml", "spm.size_bytes"),
    ("arch show {tmp}/node.yaml", "tech_node_nm"),
    ("arch show {tmp}/zero-clock.yaml", "clock_hz"),
    ("arch show {tmp}/nan-clock.yaml", "clock_hz"),
    ("arch show {tmp}/string-clock.yaml", "clock_hz"),
    ("roofline --arch {tmp}/clock.yaml --model fnet --seq-len 128", "clock_hz"),
    ("arch show no-such-arch", "arch"),
    # ---- options -----------------------------------------------------------------------------------------
    ("baseline --target sanger --model fabnet-base --seq-len 128 --top -1", "--top"),
    ("baseline --target no-such-backend --model fabnet-base --seq-len 128", "backend"),
    ("baseline --target sanger --model no-such-model --seq-len 128", "preset"),
    ("baseline --target sanger --model fabnet-base --seq-len 0", "seq_len"),
    ("baseline --target sanger --model fabnet-base --seq-len 128 --batch 0", "batch"),
    ("baseline --target sanger --model fabnet-base --seq-len 128 -o bogus", "--option"),
    ("baseline --target sanger --model fabnet-base --seq-len 128 -o warp=9", "warp"),
    ("baseline --target jetson --model fabnet-base --seq-len 128 -o stack=no-such-stack", "stack"),
    ("baseline --target jetson --model fabnet-base --seq-len 128 -o arch=xavier-nx-99w", "arch"),
    ("baseline --target jetson --model fabnet-base --seq-len 128 -o gemm_efficiency=2", "gemm_efficiency"),
    ("baseline --target jetson --model fabnet-base --seq-len 128 -o power_mode=99w", "power_mode"),
    ("baseline --target xavier-nx --model fabnet-base --seq-len 128 -o fusion=all", "fusion"),
    ("roofline --arch no-such-arch --model fnet --seq-len 128", "arch"),
    ("roofline --arch df-4x4-simd8 --model fnet --seq-len 999999", "seq_len"),
    ("workload show no-such-model --seq-len 128", "preset"),
    ("workload show fnet --seq-len -5", "seq_len"),
    ("model summary no-such-preset --seq-len 128", "preset"),
    ("kernel --op butterfly --n 1024 --rows 1000000000", "--force"),
    ("kernel --op gemm --n 100000 --gemm-k 100000 --rows 100000", "--rows"),
    ("train --task listops --steps 1 --seq-len 1000000000", "seq_len"),
    # ---- output paths ------------------------------------------------------------------------------------
    ("reproduce --quick --out {tmp}/a-file", "--out"),
    ("train --task listops --steps 1 --out {tmp}/a-file", "--out"),
    ("accuracy-sweep --task listops --out {tmp}/a-file", "--out"),
]


@pytest.fixture(scope="module")
def tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("bad")
    for name, text in FILES.items():
        (d / name).write_text(text)
    return d


@pytest.mark.parametrize(("command", "field"), CASES, ids=[c for c, _ in CASES])
def test_bad_input_is_one_clean_line(command: str, field: str, tmp: Path) -> None:
    out = runner.invoke(app, shlex.split(command.format(tmp=tmp)))
    text = out.output.strip()
    assert out.exit_code == 2, (out.exit_code, text, out.exception)
    assert "Traceback" not in text and not isinstance(out.exception, (MemoryError, RecursionError))
    assert field in text, text
    lines = [line for line in text.splitlines() if line.strip() and line.strip()[0] not in "╭╰"]
    assert len(lines) <= 3, text  # one message (typer's own usage errors add a usage line and a hint)


def test_version() -> None:
    from swallowtail import __version__

    out = runner.invoke(app, ["--version"])
    assert out.exit_code == 0 and out.output.strip() == f"swallowtail {__version__}"


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"pe.register_file.entries": 8}, "pe.register_file.entries"),
        ({"spm.size_bytes": 1024, "spm.banks": 16}, "spm.size_bytes"),
        ({"pe.active_tags": 1}, "pe.active_tags"),
        ({"array.rows": 2}, "array.rows"),
    ],
)
def test_a_program_runs_only_on_an_arch_of_its_structure(override: dict, field: str) -> None:
    """run() on an arch whose structure differs from the compile arch is a clear error (it used to simulate
    it silently); an arch that differs only in rates runs (the static order replays)."""
    from swallowtail.arch import load_arch
    from swallowtail.compiler import compile as compile_op
    from swallowtail.errors import SpecError
    from swallowtail.sim import run
    from swallowtail.workload import Butterfly

    base = load_arch("df-4x4-simd8")
    program = compile_op(Butterfly("b", n=64, rows=8), base)
    with pytest.raises(SpecError, match=field.replace(".", r"\.")):
        run(program, base.with_overrides(override))
    assert run(program, base.with_overrides({"noc.link_bytes_per_cycle": 16})).stats.cycles > 0
