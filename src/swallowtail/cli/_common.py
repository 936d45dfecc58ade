"""Shared CLI plumbing: JSON output, clean errors, the rich console."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable, Container
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperCommand, TyperGroup

from swallowtail import plotting
from swallowtail.atomicio import check_writable, check_writable_folder, finite_json
from swallowtail.errors import SpecError

#: width of tables when stdout is not a terminal (pipes, files, CI logs): wide enough for every table
PIPE_WIDTH = 140

#: emoji=False: a `:x:` in a value, a path or a note is text (rich would print an emoji in its place)
console = Console(width=None if sys.stdout.isatty() else PIPE_WIDTH, emoji=False)
err_console = Console(stderr=True, emoji=False)

F = TypeVar("F", bound=Callable[..., Any])


def emit_json(obj: Any) -> None:
    """Print `obj` as strict JSON on stdout (sorted keys, stable across runs; a non-finite number is null)."""
    if hasattr(obj, "to_dict"):
        obj = obj.to_dict()
    sys.stdout.write(json.dumps(finite_json(obj), indent=2, sort_keys=True, allow_nan=False) + "\n")


def check_out_dir(path: Path | None, option: str = "--out") -> Path | None:
    """`path` if it can be an output folder (missing, or a folder) this process can write into; a SpecError
    naming `option` if not -- checked before a command starts its work, not when it writes at the end."""
    return None if path is None else check_writable_folder(path, option)


def check_out_file(path: Path, option: str) -> Path:
    """`path` if a command can write its output file there (`check_writable`: a file, a new path or a stream)
    in a folder that exists: a missing folder is refused, not made -- a typo in a folder name is not a new
    folder. Checked before a command starts its work."""
    target = check_writable(path, option)
    if not target.parent.is_dir():
        raise SpecError(option, str(path), f"a path in an existing folder ({target.parent} does not exist)")
    return target


def print_error(msg: object) -> None:
    """`error: MSG` on stderr, MSG as it is: escaped, so a `[a-z0-9]` in it is text, not rich markup."""
    err_console.print(f"[bold red]error:[/] {escape(str(msg))}", highlight=False, soft_wrap=True)


def user_errors(fn: F) -> F:
    """Turn user errors (ValueError and friends) into one clean line on stderr and exit status 2."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (ValueError, OSError, KeyError) as exc:  # OSError: a path the user gave cannot be used
            msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
            print_error(msg)
            raise typer.Exit(code=2) from None

    return wrapper  # type: ignore[return-value]


def repeated_option(command: Any, args: list[str], stop: Container[str] = ()) -> str | None:
    """The first option of `command` that takes one value and appears twice in `args` (click keeps the
    last silently), or None. Long options as `--name VALUE` or `--name=VALUE`, short ones as `-x VALUE` or
    `-xVALUE`; an option's value is skipped (it may look like an option); nothing after `--` or a word in
    `stop` (a group's sub-command, where it is not a value) counts, and nothing at all with `--help`."""
    takes: dict[str, tuple[str, int, bool]] = {}  # option string -> (its names, values it takes, single)
    for p in command.params:
        if p.param_type_name == "option" and not (p.is_flag or p.count):
            for opt in p.opts:
                takes[opt] = (" / ".join(p.opts), p.nargs, not p.multiple)
    head = args[: args.index("--")] if "--" in args else args
    if "--help" in head:  # help is what was asked for
        return None
    seen: set[str] = set()
    i = 0
    while i < len(head):
        arg = head[i]
        i += 1
        if arg in stop:
            break
        key = arg.split("=", 1)[0] if arg.startswith("--") else arg[:2] if arg.startswith("-") else None
        if key not in takes:
            continue
        name, nargs, single = takes[key]
        attached = "=" in arg if arg.startswith("--") else len(arg) > 2
        if not attached:
            i += nargs  # its value, whatever it looks like
        if single and name in seen:
            return name
        seen.add(name)
    return None


def _refuse_repeats(command: Any, ctx: Any, args: list[str], stop: Container[str] = ()) -> None:
    name = repeated_option(command, args, stop)
    if name is not None:
        raise typer.BadParameter("given twice: give it once (it takes one value)", ctx=ctx, param_hint=name)


class OnceCommand(TyperCommand):
    """A command whose single-value options may each be given once: a repeat is an error, not the last
    value silently winning."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        _refuse_repeats(self, ctx, args)
        return super().parse_args(ctx, args)


class OnceGroup(TyperGroup):
    """A group whose own single-value options may each be given once (its sub-commands check theirs)."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        _refuse_repeats(self, ctx, args, stop=self.commands)
        return super().parse_args(ctx, args)


def once_everywhere(app: typer.Typer) -> None:
    """Make every command of `app` and of its sub-apps an `OnceCommand`, and every sub-app an `OnceGroup`
    (unless one names a class of its own)."""
    for info in app.registered_commands:
        if info.cls in (None, TyperCommand):
            info.cls = OnceCommand
    for group in app.registered_groups:
        group.cls = OnceGroup  # the add_typer entry's class wins over its sub-app's own default
        if group.typer_instance is not None:
            once_everywhere(group.typer_instance)


def si(x: float, unit: str = "") -> str:
    """A number with an SI prefix and 2 decimals, as the CLI's tables print it: si(1.5e9, 'FLOP') ->
    '1.50 GFLOP' (`swallowtail.plotting.si`)."""
    return plotting.si(x, unit, decimals=2)


def print_result(result: Any, top_ops: int = 10) -> None:
    """A Result as a summary table, its energy and traffic breakdowns, and the ops that take longest."""
    from rich.table import Table

    r = result
    t = Table(title=f"{r.backend} on {r.arch}: {r.workload}", show_header=False)
    t.add_column("quantity", style="bold")
    t.add_column("value", justify="right")
    t.add_row("latency", si(r.latency_s, "s"))
    if r.cycles is not None:
        t.add_row("cycles", f"{r.cycles:,}")
    t.add_row("energy", si(r.energy_j, "J"))
    t.add_row("work", si(r.useful_ops, "FLOP"))
    t.add_row("throughput", si(r.throughput_ops_per_s, "FLOP/s"))
    t.add_row("peak", si(r.peak_ops_per_s, "FLOP/s"))
    t.add_row("FLOP efficiency", f"{r.flop_efficiency:.3f}")
    if r.utilization is not None:
        t.add_row("utilization", f"{r.utilization:.3f}")
    for level, b in r.traffic_bytes.items():
        t.add_row(f"traffic {level}", si(b, "B"))
    for comp, j in sorted(r.energy_breakdown_j.items(), key=lambda kv: -kv[1]):
        share = j / r.energy_j if r.energy_j else 0.0
        t.add_row(f"energy {comp}", f"{si(j, 'J')} ({share:.0%})")
    for cause, c in r.stalls.items():
        t.add_row(f"stall {cause}", f"{c:,} cycles")
    console.print(t)
    if r.ops:
        ops = sorted(r.ops, key=lambda o: -o.latency_s)[:top_ops]
        ot = Table(title=f"top {len(ops)} of {len(r.ops)} ops by time")
        for col in ("op", "kind", "time", "share", "bound"):
            ot.add_column(col, justify="right" if col in ("time", "share") else "left")
        total = sum(o.latency_s for o in r.ops) or 1.0
        for o in ops:
            ot.add_row(o.name, o.kind, si(o.latency_s, "s"), f"{o.latency_s / total:.1%}", o.bound or "")
        console.print(ot)
    for note in r.notes:
        console.print(f"note: {note}", style="dim", highlight=False)
