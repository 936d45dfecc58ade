"""Progress for long commands: a rich bar on a terminal, plain periodic lines anywhere else.

A rich `Progress` redraws one line in place; written to a file or a CI log it shows nothing until the end.
`progress(*columns, console=...)` returns the rich bar when the console is a terminal and otherwise a
`PlainProgress` with the same small API (`add_task`, `update`, `remove_task`, `start`, `stop`, a context
manager) that prints `description: done/total (elapsed)` lines, at most one per `PLAIN_INTERVAL_S` for a
task, and the last state when a task finishes or the progress stops.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.progress import Progress, ProgressColumn

#: seconds between two plain progress lines of one task
PLAIN_INTERVAL_S = 10.0


@dataclass
class _Task:
    description: str
    total: float | None
    completed: float = 0.0
    info: str = ""
    started: float = field(default_factory=time.monotonic)
    printed: float = -1e9
    last_line: str = ""


class PlainProgress:
    """Plain-line progress for a non-terminal console (the subset of rich.Progress swallowtail uses)."""

    def __init__(self, console: Console, interval_s: float = PLAIN_INTERVAL_S) -> None:
        self.console, self.interval_s = console, interval_s
        self.tasks: dict[int, _Task] = {}

    def __enter__(self) -> PlainProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        """Nothing to draw before the first update."""

    def stop(self) -> None:
        for task_id in list(self.tasks):
            self._emit(task_id, force=True)

    def add_task(
        self, description: str, total: float | None = None, completed: float = 0, **fields: Any
    ) -> int:
        task_id = len(self.tasks)
        self.tasks[task_id] = _Task(description, total, completed, str(fields.get("info", "")))
        return task_id

    def update(
        self,
        task_id: int,
        *,
        completed: float | None = None,
        total: float | None = None,
        advance: float | None = None,
        description: str | None = None,
        **fields: Any,
    ) -> None:
        t = self.tasks[task_id]
        if total is not None:
            t.total = total
        if completed is not None:
            t.completed = completed
        if advance is not None:
            t.completed += advance
        if description is not None:
            t.description = description
        if "info" in fields:
            t.info = str(fields["info"])
        self._emit(task_id, force=t.total is not None and t.completed >= t.total)

    def remove_task(self, task_id: int) -> None:
        self._emit(task_id, force=True)
        del self.tasks[task_id]

    def _emit(self, task_id: int, force: bool = False) -> None:
        t = self.tasks[task_id]
        now = time.monotonic()
        if not force and now - t.printed < self.interval_s:
            return
        done = f"{t.completed:g}" + (f"/{t.total:g}" if t.total is not None else "")
        line = f"{t.description}: {done}{' ' + t.info if t.info else ''} ({now - t.started:.0f} s)"
        if line != t.last_line:
            self.console.print(line, highlight=False, markup=False, soft_wrap=True)
            t.last_line = line
        t.printed = now


def progress(*columns: str | ProgressColumn, console: Console, **options: Any) -> Progress | PlainProgress:
    """A rich Progress on a terminal console, plain periodic lines otherwise."""
    if console.is_terminal:
        return Progress(*columns, console=console, **options)
    return PlainProgress(console)


__all__ = ["PLAIN_INTERVAL_S", "PlainProgress", "progress"]
