"""`swallowtail arch ...`: list the architecture presets, show one with every value's source, dump it.

`show` prints every field with its value and source note, the derived quantities (peak, on-chip bytes,
DRAM bytes/cycle) and, for a dataflow array, the full-FMA-load power by component from its energy table
compared with MLX's reported power (0.41 W array + 0.11 W memory for the SIMD8 4x4 array at 12 nm).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from swallowtail.cli._common import check_out_file, console, emit_json, user_errors
from swallowtail.errors import SpecError

app = typer.Typer(help="Architecture specs: presets, every value with its source.", no_args_is_help=True)

GIGA = 1e9


def _peak_text(ops_per_s: float) -> str:
    return f"{ops_per_s / 1e12:.3g} TOPS" if ops_per_s >= 1e12 else f"{ops_per_s / GIGA:.4g} GOPS"


@app.command("list")
@user_errors
def list_cmd(json_out: bool = typer.Option(False, "--json", help="Print JSON instead of a table.")) -> None:
    """List the architecture presets: name, kind, peak, DRAM bandwidth, description."""
    from swallowtail.arch import list_archs, load_arch

    rows = []
    for name in list_archs():
        a = load_arch(name)
        rows.append(
            {
                "name": a.name,
                "kind": a.kind,
                "peak_ops_per_s": a.peak_ops_per_s,
                "dram_bytes_per_s": a.dram_bytes_per_s,
                "description": a.description,
            }
        )
    if json_out:
        emit_json(rows)
        return
    table = Table(title="architecture presets")
    for col, style in (("name", "bold"), ("kind", ""), ("peak", ""), ("DRAM BW", ""), ("description", "")):
        table.add_column(col, style=style or None)
    for r in rows:
        table.add_row(
            r["name"],
            r["kind"],
            _peak_text(r["peak_ops_per_s"]),
            f"{r['dram_bytes_per_s'] / GIGA:.4g} GB/s",
            r["description"],
        )
    console.print(table)


def show_dict(name_or_path: str) -> dict[str, Any]:
    """The stable dict `arch show --json` prints."""
    from swallowtail.arch import DataflowArch, load_arch

    a = load_arch(name_or_path)
    out: dict[str, Any] = {
        "name": a.name,
        "kind": a.kind,
        "spec": a.to_dict(),
        "fields": [{"field": p, "value": v, "source": s} for p, v, s in a.field_table()],
        "derived": a.derived(),
        "assumptions": a.assumptions(),
        "missing_sources": a.missing_sources(),
        "full_load_power": None,
        "energy_per_action_j": None,
        "area_mm2": None,
    }
    if isinstance(a, DataflowArch):
        from swallowtail.energy import full_load_report, load_energy_table

        out["full_load_power"] = full_load_report(a).to_dict()
        table = load_energy_table(a.energy_table)
        e = table.for_arch(a).to_dict()
        out["energy_per_action_j"] = {k: v for k, v in e.items() if isinstance(v, float)}
        out["area_mm2"] = table.area_mm2(a)
    return out


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)


@app.command("show")
@user_errors
def show(
    name_or_path: str = typer.Argument(
        ..., help="A preset name (see `swallowtail arch list`) or a YAML path."
    ),
    json_out: bool = typer.Option(False, "--json", help="Print JSON (spec, sources, derived, power)."),
) -> None:
    """Every field with its value and source, derived quantities, and (arrays) full-load power."""
    d = show_dict(name_or_path)
    if json_out:
        emit_json(d)
        return
    table = Table(title=f"{d['name']} ({d['kind']})")
    table.add_column("field", style="bold")
    table.add_column("value")
    table.add_column("source")
    for row in d["fields"]:  # keys, values and notes are the user's text, not rich markup
        src = row["source"]
        if src is None:
            src_text = "" if not isinstance(row["value"], int | float | list) else "[red](no source)[/]"
        elif src.lower().startswith("assumption:"):
            src_text = f"[yellow]{escape(src)}[/]"
        else:
            src_text = escape(src)
        table.add_row(escape(row["field"]), escape(_fmt(row["value"])), src_text)
    console.print(table)

    der = Table(title="derived")
    der.add_column("quantity", style="bold")
    der.add_column("value")
    for k, v in d["derived"].items():
        der.add_row(k, _fmt(v))
    console.print(der)

    flp = d["full_load_power"]
    if flp is not None:
        pw = Table(title=f"full-load power ({flp['table']} at {flp['node_nm']} nm)")
        pw.add_column("component", style="bold")
        pw.add_column("W", justify="right")
        for c, w in flp["components_w"].items():
            pw.add_row(c, f"{w:.4f}")
        pw.add_row("array (fu+rf+noc+control, with leakage)", f"{flp['array_w']:.4f}")
        pw.add_row("array at full FMA load only (no NoC / SPM traffic)", f"{flp['fma_only_array_w']:.4f}")
        pw.add_row("memory (spm, with leakage)", f"{flp['memory_w']:.4f}")
        console.print(pw)
        console.print(flp["statement"], style="dim")
        ref = flp["reference"]
        if ref:
            console.print(
                f"MLX (12 nm): array {ref['array_w']:g} W -> ours at full FMA load "
                f"{flp['fma_only_array_w']:.3f} W ({flp['fma_only_vs_reference']:+.0%}), with NoC and SPM "
                f"streaming {flp['array_w']:.3f} W ({flp['array_vs_reference']:+.0%}); "
                f"memory {ref['memory_w']:g} W -> ours "
                f"{flp['memory_w']:.3f} W ({flp['memory_vs_reference']:+.0%})"
            )
        else:
            console.print("MLX reports no power for this geometry: no comparison.", style="dim")
    if d["missing_sources"]:
        console.print(f"[red]fields without a source note:[/] {escape(', '.join(d['missing_sources']))}")


@app.command("dump")
@user_errors
def dump(
    name_or_path: str = typer.Argument(..., help="A preset name or a YAML path."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Write to this file instead of stdout."),
) -> None:
    """Print (or write) a spec as YAML: a starting point for your own architecture."""
    from swallowtail.arch import dump_arch, load_arch

    spec = load_arch(name_or_path)
    if out is not None:
        check_out_file(out, "--out")
    try:
        text = dump_arch(spec, out)
    except OSError as exc:
        raise SpecError("--out", str(out), f"a file path that can be written ({exc.strerror})") from None
    if out is None:
        typer.echo(text, nl=False)
    else:
        console.print(f"wrote {out}")
