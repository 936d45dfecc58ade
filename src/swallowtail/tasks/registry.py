"""`load_task(name, **params)`: every task by name, parameters checked against what its loader takes;
`task_shape(name, **params)`: what that load would give (split sizes, length, generated or read), known
without loading -- so a caller can size the work before it starts."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import swallowtail.tasks.image as image
import swallowtail.tasks.listops as listops
import swallowtail.tasks.pathfinder as pathfinder
import swallowtail.tasks.text as text
from swallowtail.errors import SpecError, check_choice
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


def _check_params(name: str, params: dict[str, Any]) -> None:
    allowed = task_params(name)
    for key, value in params.items():
        if key not in allowed:
            raise SpecError(f"{name}.{key}", value, f"a parameter of task {name!r}: one of {allowed}")


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
