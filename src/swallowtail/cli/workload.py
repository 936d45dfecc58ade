"""`swallowtail workload show | list`: the operator graph of a network at a sequence length, with FLOPs and
bytes; the networks a `--model` may name.

A `--model` is a HybridConfig preset (`swallowtail model list`), a HybridConfig YAML, or a named workload of
`swallowtail.workload.named` (`bert-large`, `resnet-50`). For an image network `--seq-len` is the image side
in pixels (`resnet-50 --seq-len 224`: 224 x 224 images); a named workload given no `--seq-len` takes its
default (bert-large 384 tokens, resnet-50 224 pixels).
"""

from __future__ import annotations

from typing import Any

import typer
from rich.table import Table

from swallowtail.cli._common import console, emit_json, si, user_errors
from swallowtail.errors import SpecError

app = typer.Typer(help="Workloads: the operator graph of a network (what is computed).", no_args_is_help=True)

#: what --seq-len means, for the help of every command that takes a --model
SEQ_LEN_HELP = "Tokens per input sequence; for an image network (resnet-50) the image side in pixels."


def resolve_model(model: str):
    """A preset name, a named workload (returned as its name, `lower` builds it) or a YAML HybridConfig."""
    from pathlib import Path

    from swallowtail.nn.config import HybridConfig

    if model.endswith((".yaml", ".yml")) or Path(model).is_file():
        return HybridConfig.from_yaml(model), Path(model).stem
    return model, model


def build_workload(
    model: str, seq_len: int | None, batch: int = 1, default_seq_len: int | None = None
) -> Any:
    """The Workload of `model` at `seq_len` x `batch`. No `seq_len`: a named workload's default, else the
    command's `default_seq_len`, else a SpecError (a preset's length must be given)."""
    from swallowtail.workload.lower import lower
    from swallowtail.workload.named import NAMED_WORKLOADS

    cfg, label = resolve_model(model)
    if seq_len is None:
        if isinstance(cfg, str) and cfg in NAMED_WORKLOADS:
            seq_len = NAMED_WORKLOADS[cfg].default_seq_len
        elif default_seq_len is not None:
            seq_len = default_seq_len
        else:
            raise SpecError(
                "--seq-len",
                None,
                "a number of tokens: required for a network preset or config (named workloads have a "
                "default, see `swallowtail workload list`)",
            )
    return lower(cfg, seq_len, batch, name=label)


def _si(x: float) -> str:
    return si(x) + " " if abs(x) < 1e3 else si(x)


@app.command("show")
@user_errors
def show(
    model: str = typer.Argument(
        ..., help="Preset or named workload (see `swallowtail workload list`) or a HybridConfig YAML."
    ),
    seq_len: int | None = typer.Option(
        None, "--seq-len", "-L", help=SEQ_LEN_HELP + " Required for a preset; a named workload's default."
    ),
    batch: int = typer.Option(1, "--batch", "-b", help="Inputs per inference."),
    ops: bool = typer.Option(False, "--ops", help="List every op (default: one line per layer and op kind)."),
    as_json: bool = typer.Option(False, "--json", help="Print the workload as JSON."),
) -> None:
    """Show the operator graph of MODEL at --seq-len: ops, FLOPs, minimum bytes, totals."""
    w = build_workload(model, seq_len, batch)
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


@app.command("list")
@user_errors
def list_cmd(json_out: bool = typer.Option(False, "--json", help="Print JSON instead of a table.")) -> None:
    """List every network a --model may name: the HybridConfig presets and the named workloads."""
    from swallowtail.nn.config import list_presets
    from swallowtail.workload.named import NAMED_WORKLOADS

    rows = {
        name: {"source": "preset", "seq_len": "tokens per sequence (--seq-len required)", "description": desc}
        for name, desc in list_presets().items()
    }
    for name, w in NAMED_WORKLOADS.items():
        rows[name] = {
            "source": "named workload",
            "seq_len": f"{w.seq_len_means} (default {w.default_seq_len})",
            "description": w.description,
        }
    if json_out:
        emit_json(rows)
        return
    table = Table(title="networks (--model)")
    for col in ("name", "source", "--seq-len", "description"):
        table.add_column(col, style="bold" if col == "name" else None)
    for name, r in rows.items():
        table.add_row(name, r["source"], r["seq_len"], r["description"])
    console.print(table)
