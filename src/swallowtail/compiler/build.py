"""Old import path (kept for callers outside the compiler package): the butterfly / FFT Program builder and
its coefficient table now live in `swallowtail.compiler.butterfly.build`."""

from __future__ import annotations

from swallowtail.compiler.butterfly.build import build_program, coefficient_table

__all__ = ["build_program", "coefficient_table"]
