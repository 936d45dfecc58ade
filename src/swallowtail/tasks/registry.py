"""`load_task(name, **params)`: every task by name, parameters checked against what its loader takes;
`task_shape(name, **params)`: what that load would give (split sizes, length, generated or read), known
without loading -- so a caller can size the work before it starts."""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable
from typing import Any

import swallowtail.tasks.image as image
import swallowtail.tasks.listops as listops
import swallowtail.tasks.pathfinder as pathfinder
import swallowtail.tasks.text as text
from swallowtail.errors import SpecError, check_bool, check_choice
from swallowtail.tasks.base import TaskData, TaskShape

#: task name -> loader (keyword-only parameters)
TASKS: dict[str, Callable[..., TaskData]] = {
    "listops": listops.load,
    "pathfinder": pathfinder.load,
    "image": image.load,
    "text": text.load_text,
    "retrieval": text.load_retrieval,
}
#: task name -> its shape function (the same keyword-only parameters as its loader)
SHAPES: dict[str, Callable[..., TaskShape]] = {
    "listops": listops.shape,
    "pathfinder": pathfinder.shape,
    "image": image.shape,
    "text": text.text_shape,
    "retrieval": text.retrieval_shape,
}


def task_params(name: str) -> list[str]:
    """The parameters `load_task(name, ...)` accepts."""
    return list(inspect.signature(_loader(name)).parameters)


def _loader(name: str) -> Callable[..., TaskData]:
    check_choice("task", name, sorted(TASKS))
    return TASKS[name]


def text_params(name: str) -> list[str]:
    """The parameters of `load_task(name, ...)` that are text: names, folders (a command line keeps their
    values as typed: a folder named 2024 is not the number 2024)."""
    params = inspect.signature(_loader(name)).parameters
    return [k for k, p in params.items() if str(p.annotation).startswith("str")]


def _check_params(name: str, params: dict[str, Any]) -> None:
    """Each key a parameter of the loader, of its type (`_check_type`)."""
    signature = inspect.signature(_loader(name)).parameters
    for key, value in params.items():
        if key not in signature:
            allowed = list(signature)
            raise SpecError(f"{name}.{key}", value, f"a parameter of task {name!r}: one of {allowed}")
        _check_type(key, value, str(signature[key].annotation))


def _check_type(key: str, value: Any, kind: str) -> None:
    """A flag a bool (not a truthy "maybe"), a folder a path, a name text: a SpecError here, not a TypeError
    deep in a loader (numbers are checked by the loaders, with their ranges)."""
    if value is None and kind.endswith("None"):
        return
    if kind == "bool":
        check_bool(key, value)
    elif "Path" in kind and not isinstance(value, str | os.PathLike):
        raise SpecError(key, value, "a folder (a path)")
    elif kind.startswith("str") and "Path" not in kind and not isinstance(value, str):
        raise SpecError(key, value, "text")


def load_task(name: str, **params: Any) -> TaskData:
    """Load (read or generate) a task by name; an unknown name or parameter raises SpecError."""
    loader = _loader(name)
    _check_params(name, params)
    return loader(**params)


def task_shape(name: str, **params: Any) -> TaskShape:
    """What `load_task(name, **params)` would give, without loading it; the same SpecErrors."""
    _loader(name)
    _check_params(name, params)
    return SHAPES[name](**params)
