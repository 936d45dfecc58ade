"""Every snippet in the README runs: python blocks are executed, `$ swallowtail ...` lines are invoked."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from swallowtail.cli import app

README = Path(__file__).resolve().parents[1] / "README.md"
TEXT = README.read_text()
PYTHON_BLOCKS = re.findall(r"```python\n(.*?)```", TEXT, flags=re.S)
COMMANDS = re.findall(r"^\$ swallowtail (.+)$", TEXT, flags=re.M)


def test_readme_has_the_two_commands() -> None:
    assert "make demo" in TEXT and "make test" in TEXT


@pytest.mark.parametrize("block", PYTHON_BLOCKS, ids=[f"python{i}" for i in range(len(PYTHON_BLOCKS))])
def test_python_snippet_runs(block: str) -> None:
    exec(compile(block, str(README), "exec"), {"__name__": "readme"})


@pytest.mark.parametrize("command", COMMANDS)
def test_cli_snippet_runs(command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    out = CliRunner().invoke(app, shlex.split(command))
    assert out.exit_code == 0, out.output
