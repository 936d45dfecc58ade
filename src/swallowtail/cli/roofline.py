"""`swallowtail roofline`: the roofline floor of a network on an architecture."""

from __future__ import annotations

import typer

from swallowtail.cli._common import emit_json, print_result, user_errors
from swallowtail.cli.workload import resolve_model


@user_errors
def roofline(
    arch: str = typer.Option("df-4x4-simd8", "--arch", "-a", help="Architecture preset or YAML file."),
    model: str = typer.Option("fabnet-base", "--model", "-m", help="Network preset or HybridConfig YAML."),
    seq_len: int = typer.Option(1024, "--seq-len", "-L", help="Tokens per input sequence."),
    batch: int = typer.Option(1, "--batch", "-b", help="Inputs per inference."),
    as_json: bool = typer.Option(False, "--json", help="Print the Result as JSON."),
) -> None:
    """The roofline bound: max(FLOPs at peak, compulsory DRAM bytes at full bandwidth) -- the floor every
    simulator and model is checked against."""
    from swallowtail.backends import get_backend
    from swallowtail.workload.lower import lower

    cfg, label = resolve_model(model)
    result = get_backend("roofline", arch=arch).run(lower(cfg, seq_len, batch, name=label))
    if as_json:
        emit_json(result)
    else:
        print_result(result)
