"""`swallowtail demo`: the most complete real job that exists, on the embedded defaults."""

from __future__ import annotations

from swallowtail.cli._common import console


def demo() -> None:
    """Run the main job on the embedded default (a tour of what swallowtail can do today)."""
    console.rule("[bold]swallowtail demo")
    console.print("Nothing to run yet.")
