"""Shared CLI plumbing: JSON output, clean errors, the rich console."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import typer
from rich.console import Console

#: width of tables when stdout is not a terminal (pipes, files, CI logs): wide enough for every table
PIPE_WIDTH = 140

console = Console(width=None if sys.stdout.isatty() else PIPE_WIDTH)
err_console = Console(stderr=True)

F = TypeVar("F", bound=Callable[..., Any])


def emit_json(obj: Any) -> None:
    """Print `obj` as JSON on stdout (sorted keys, stable across runs)."""
    if hasattr(obj, "to_dict"):
        obj = obj.to_dict()
    sys.stdout.write(json.dumps(obj, indent=2, sort_keys=True) + "\n")


def user_errors(fn: F) -> F:
    """Turn user errors (ValueError and friends) into one clean line on stderr and exit status 2."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (ValueError, FileNotFoundError, KeyError) as exc:
            msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
            err_console.print(f"[bold red]error:[/] {msg}", highlight=False, soft_wrap=True)
            raise typer.Exit(code=2) from None

    return wrapper  # type: ignore[return-value]
