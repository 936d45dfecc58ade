"""Errors a user can cause. Each names the field, the value and what is allowed.

`SpecError` subclasses `ValueError`, so library users can catch either; the CLI prints its message and
exits with status 2 instead of showing a traceback.
"""

from __future__ import annotations

from typing import Any


class SpecError(ValueError):
    """Bad user input: a field with a value that is not allowed."""

    def __init__(self, field: str, value: Any, allowed: str, hint: str | None = None) -> None:
        self.field = field
        self.value = value
        self.allowed = allowed
        self.hint = hint
        msg = f"{field} = {value!r} is not allowed: {allowed}"
        if hint:
            msg += f" ({hint})"
        super().__init__(msg)
