"""`swallowtail workload show`: the operator graph of a network at a sequence length, with FLOPs and bytes."""

from __future__ import annotations

import typer
from rich.table import Table

from swallowtail.cli._common import console, emit_json, si, user_errors

app = typer.Typer(help="Workloads: the operator graph of a network (what is computed).", no_args_is_help=True)


def resolve_model(model: str):
    """A preset name or a path to a YAML HybridConfig."""
    from pathlib import Path

    from swallowtail.nn.config import HybridConfig

    if model.endswith((".yaml", ".yml")) or Path(model).is_file():
        return HybridConfig.from_yaml(model), Path(model).stem
    return model, model


def _si(x: float) -> str:
    return si(x) + " " if abs(x) < 1e3 else si(x)


@app.command("show")
@user_errors
def show(
    model: str = typer.Argument(
        ..., help="Preset name (see `swallowtail model list`) or a HybridConfig YAML."
    ),
    seq_len: int = typer.Option(..., "--seq-len", "-L", help="Tokens per input sequence."),
    batch: int = typer.Option(1, "--batch", "-b", help="Inputs per inference."),
    ops: bool = typer.Option(False, "--ops", help="List every op (default: one line per layer and op kind)."),
    as_json: bool = typer.Option(False, "--json", help="Print the workload as JSON."),
) -> None:
    """Show the operator graph of MODEL at --seq-len: ops, FLOPs, minimum bytes, totals."""
    from swallowtail.workload.lower import lower

    cfg, label = resolve_model(model)
    w = lower(cfg, seq_len, batch, name=label)
    if as_json:
        emit_json(w.to_dict())
        return
    table = Table(title=f"workload {w.name}: {len(w)} ops", show_lines=False)
    for col in ("op / layer", "kind", "shape", "FLOPs", "min bytes", "weights"):
        table.add_column(col, justify="right" if col in ("FLOPs", "min bytes", "weights") else "left")
    if ops:
        for op in w.ops:
            table.add_row(
                op.name,
                op.kind,
                op.describe(),
                _si(op.flops) + "FLOP",
                _si(op.min_bytes) + "B",
                _si(op.weight_elems * op.elem_bytes) + "B",
            )
    else:
        groups: dict[str, list] = {}
        for op in w.ops:
            groups.setdefault(op.layer, []).append(op)
        for layer, group in groups.items():
            kinds = sorted({o.kind for o in group})
            table.add_row(
                layer,
                ", ".join(kinds),
                f"{len(group)} ops",
                _si(sum(o.flops for o in group)) + "FLOP",
                _si(sum(o.min_bytes for o in group)) + "B",
                _si(sum(o.weight_elems * o.elem_bytes for o in group)) + "B",
            )
    console.print(table)
    kinds = ", ".join(
        f"{k} {v / w.flops:.1%}" for k, v in sorted(w.flops_by_kind().items(), key=lambda kv: -kv[1])
    )
    console.print(
        f"total: {_si(w.flops)}FLOP; weights {_si(w.weight_bytes)}B; "
        f"compulsory DRAM traffic {_si(w.compulsory_dram_bytes)}B; "
        f"unfused op traffic {_si(w.min_bytes_unfused)}B"
    )
    console.print(f"FLOPs by kind: {kinds}")
