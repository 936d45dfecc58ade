"""Progress off a terminal: plain lines, at most one per interval a task, and the final state."""

from __future__ import annotations

import io

from rich.console import Console

from swallowtail.progress import PlainProgress, progress


def test_a_file_console_gets_plain_lines() -> None:
    buf = io.StringIO()
    console = Console(file=buf, force_terminal=False)
    bar = progress(console=console)
    assert isinstance(bar, PlainProgress)
    with bar:
        task = bar.add_task("costing", total=100)
        for k in range(1, 101):
            bar.update(task, completed=k)
    lines = buf.getvalue().splitlines()
    assert lines[0].startswith("costing: 1/100") and lines[-1].startswith("costing: 100/100")
    assert len(lines) == 2  # the first update, then the finished state (the 10 s interval never passed)


def test_interval_and_fields() -> None:
    buf = io.StringIO()
    bar = PlainProgress(Console(file=buf, force_terminal=False), interval_s=0.0)
    t = bar.add_task("train", total=3, info="")
    bar.update(t, advance=1, info="loss 2.3")
    bar.update(t, advance=1, description="train (resumed)")
    bar.remove_task(t)
    out = buf.getvalue()
    assert "train: 1/3 loss 2.3" in out and "train (resumed): 2/3" in out and not bar.tasks


def test_a_terminal_gets_the_rich_bar() -> None:
    from rich.progress import Progress

    assert isinstance(progress(console=Console(file=io.StringIO(), force_terminal=True)), Progress)
