"""`swallowtail roofline`: the roofline floor of a network on an architecture."""

from __future__ import annotations

import typer

from swallowtail.cli import limits
from swallowtail.cli._common import emit_json, print_result, user_errors
from swallowtail.cli.workload import SEQ_LEN_HELP, build_workload

#: --seq-len of a network preset when none is given
DEFAULT_SEQ_LEN = 1024


@user_errors
def roofline(
    arch: str = typer.Option("df-4x4-simd8", "--arch", "-a", help="Architecture preset or YAML file."),
    model: str = typer.Option(
        "fabnet-base", "--model", "-m", help="Preset, named workload (`workload list`) or HybridConfig YAML."
    ),
    seq_len: int | None = typer.Option(
        None, "--seq-len", "-L", help=SEQ_LEN_HELP + f" Default: {DEFAULT_SEQ_LEN}, a named workload's own."
    ),
    batch: int = typer.Option(1, "--batch", "-b", help="Inputs per inference."),
    as_json: bool = typer.Option(False, "--json", help="Print the Result as JSON."),
    force: bool = typer.Option(False, "--force", help=limits.FORCE_HELP),
) -> None:
    """The roofline bound: max(FLOPs at peak, compulsory DRAM bytes at full bandwidth) -- the floor every
    simulator and model is checked against."""
    from swallowtail.backends import get_backend

    workload = build_workload(model, seq_len, batch, DEFAULT_SEQ_LEN, force=force)
    result = get_backend("roofline", arch=arch).run(workload)
    if as_json:
        emit_json(result)
    else:
        print_result(result)
