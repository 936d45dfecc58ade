"""Errors a user can cause. Each names the field, the value and what is allowed.

`SpecError` subclasses `ValueError`, so library users can catch either; the CLI prints its message and
exits with status 2 instead of showing a traceback.

The checks every module shares live here, once: `is_int` / `is_real` (a bool is not a number here),
`check_int` (an int in a range), `check_positive_int` ("a positive integer") and `check_choice` ("one of
[...]").
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeGuard


def field_text(field: str) -> str:
    """A field name as a message shows it: quoted when a control character or an edge space would hide it
    (a key typed with a newline keeps its message on one line)."""
    field = str(field)
    return field if field.isprintable() and field == field.strip() else repr(field)


class SpecError(ValueError):
    """Bad user input: a field with a value that is not allowed."""

    def __init__(self, field: str, value: Any, allowed: str, hint: str | None = None) -> None:
        self.field = field
        self.value = value
        self.allowed = allowed
        self.hint = hint
        msg = f"{field_text(field)} = {value!r} is not allowed: {allowed}"
        if hint:
            msg += f" ({hint})"
        super().__init__(msg)


# ---- the checks every module uses (one each; the messages are what tests and users read) -----------------
def is_int(value: object) -> TypeGuard[int]:
    """An int that is not a bool: True or 2.0 is a mistake in a size, not a size."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_real(value: object) -> TypeGuard[int | float]:
    """An int or a float that is not a bool (no finiteness check: callers that need it say so)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def check_int(
    field: str, value: object, minimum: int = 0, maximum: int | None = None, allowed: str | None = None
) -> int:
    """`value` if it is an int (not a bool) in [minimum, maximum] (no upper bound when `maximum` is None);
    SpecError naming `field` otherwise, saying `allowed` (default: "an integer >= minimum", or "an integer in
    [minimum, maximum]")."""
    if not is_int(value) or value < minimum or (maximum is not None and value > maximum):
        if allowed is None:
            allowed = (
                f"an integer >= {minimum}" if maximum is None else f"an integer in [{minimum}, {maximum}]"
            )
        raise SpecError(field, value, allowed)
    return value


def check_choice(field: str, value: Any, allowed: Iterable[str]) -> Any:
    """`value` if it is one of `allowed`; SpecError(field, value, "one of [...]") otherwise."""
    allowed = tuple(allowed)
    if value not in allowed:
        raise SpecError(field, value, f"one of {list(allowed)}")
    return value


def check_positive_int(field: str, value: object) -> int:
    """`value` if it is an int >= 1 (not a bool); SpecError(field, value, "a positive integer") otherwise."""
    return check_int(field, value, 1, allowed="a positive integer")


def check_bool(field: str, value: object) -> bool:
    """`value` if it is true or false (a bool, not a number or text); SpecError otherwise."""
    if not isinstance(value, bool):
        raise SpecError(field, value, "true or false")
    return value
