"""`swallowtail model ...`: list the network presets and summarise a network's exact per-layer counts."""

from __future__ import annotations

from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from swallowtail.cli._common import console, emit_json, user_errors
from swallowtail.errors import check_int
from swallowtail.yamlio import is_file

app = typer.Typer(help="Hybrid butterfly networks: presets and exact per-layer counts.", no_args_is_help=True)

YAML_SUFFIXES = (".yaml", ".yml")


def load_config(spec: str) -> Any:
    """A preset name, or the path of a YAML file of HybridConfig fields (`preset: NAME` + overrides too)."""
    from swallowtail.nn.config import HybridConfig, get_preset

    if spec.endswith(YAML_SUFFIXES) or is_file(spec):
        return HybridConfig.from_yaml(spec)
    return get_preset(spec)


@app.command("list")
@user_errors
def list_cmd(json_out: bool = typer.Option(False, "--json", help="Print JSON instead of a table.")) -> None:
    """List the network presets."""
    from swallowtail.nn.config import list_presets
    from swallowtail.workload.named import NAMED_WORKLOADS

    presets = list_presets()
    if json_out:
        emit_json(presets)
        return
    table = Table(title="network presets")
    table.add_column("preset", style="bold")
    table.add_column("description")
    for name, desc in presets.items():
        table.add_row(name, desc)
    console.print(table)
    console.print(
        f"named workloads (not HybridConfigs, see `swallowtail workload list`): {', '.join(NAMED_WORKLOADS)}",
        highlight=False,
    )


@app.command("summary")
@user_errors
def summary(
    preset: str = typer.Argument(
        ..., help="A preset name (see `swallowtail model list`) or a YAML config path."
    ),
    seq_len: int | None = typer.Option(
        None, "--seq-len", help="Sequence length (default: the config's max_len)."
    ),
    batch: int = typer.Option(1, "--batch", help="Batch size."),
    json_out: bool = typer.Option(
        False, "--json", help="Print JSON (layers with their ops, totals, config)."
    ),
) -> None:
    """Exact parameters and FLOPs per layer of a network at one sequence length."""
    from swallowtail.nn.counts import model_counts
    from swallowtail.workload.graph import MAX_BATCH

    config = load_config(preset)
    check_int("batch", batch, 1, MAX_BATCH)  # the bound of every workload (`workload show --batch`)
    counts = model_counts(config, config.max_len if seq_len is None else seq_len, batch)
    if json_out:
        emit_json(counts)
        return
    total = counts.flops
    table = Table(title=f"{escape(preset)}: seq_len {counts.seq_len}, batch {counts.batch}")
    for col in ("layer", "kind", "params", "FLOPs", "share"):
        table.add_column(col, justify="left" if col in ("layer", "kind") else "right")
    for layer in counts.layers:
        share = layer.flops / total if total else 0.0
        table.add_row(layer.name, layer.kind, f"{layer.params:,}", f"{layer.flops:,}", f"{share:.1%}")
    table.add_section()
    table.add_row("total", "", f"{counts.params:,}", f"{total:,}", "100.0%", style="bold")
    console.print(table)
