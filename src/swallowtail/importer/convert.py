"""`from_torch`: a PyTorch module and example inputs -> the Workload of one inference, as typed ops."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn
from torch._subclasses.fake_tensor import FakeTensorDeviceMismatchError
from torch.export.graph_signature import InputKind
from torch.fx.experimental.symbolic_shapes import GuardOnDataDependentSymNode

from swallowtail.errors import SpecError, check_choice
from swallowtail.importer.aten import Builder, shape
from swallowtail.importer.rules import Rule, RuleFn, resolve_rules
from swallowtail.importer.trace import Capture, capture
from swallowtail.workload.graph import Workload
from swallowtail.workload.ops import DTYPE_BYTES


def _on_meta(module: nn.Module) -> bool:
    tensors = [*module.parameters(), *module.buffers()]
    return bool(tensors) and all(t.is_meta for t in tensors)


def _inputs(
    module: nn.Module, example_inputs: Any, kwargs: Mapping[str, Any] | None
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """The positional arguments (a tensor, or a tuple / list of arguments) and the keyword arguments. For a
    model on the meta device, floating-point inputs go to meta too (their values cannot matter to a model
    without weights); integer inputs (token ids) keep their values, so that a branch on them is decided."""
    args = tuple(example_inputs) if isinstance(example_inputs, tuple | list) else (example_inputs,)
    kw = dict(kwargs or {})
    if not any(isinstance(a, torch.Tensor) for a in (*args, *kw.values())):
        raise SpecError(
            "example_inputs", type(example_inputs).__name__, "a tensor or a tuple of arguments with tensors"
        )
    if _on_meta(module):

        def meta(a: Any) -> Any:
            floating = isinstance(a, torch.Tensor) and (a.dtype.is_floating_point or a.dtype.is_complex)
            return torch.empty(a.shape, dtype=a.dtype, device="meta") if floating else a

        args, kw = tuple(meta(a) for a in args), {k: meta(v) for k, v in kw.items()}
    return args, kw


class InputDtypeError(SpecError):
    """Integer inputs (token ids, indices: kept on the CPU with their values) that the model computes with as
    floating-point numbers (a matmul, an add with its weights). `inputs`: (position, or keyword, and dtype) of
    each integer input that may be the one; `expected`: the floating-point dtype the model computes in."""

    def __init__(self, inputs: list[tuple[int | str, str]], expected: str) -> None:
        self.inputs, self.expected = inputs, expected
        names = ", ".join(
            f"example_inputs[{k}]" if isinstance(k, int) else f"kwargs[{k!r}]" for k, _ in inputs
        )
        dtypes = [d for _, d in inputs]
        super().__init__(
            f"{names} dtype" if len(inputs) == 1 else f"dtype of {names} (one or more)",
            dtypes[0] if len(dtypes) == 1 else dtypes,
            f"a floating-point dtype ({expected}): {INPUT_DTYPE_WHY}",
        )


#: why an integer input cannot be what the model computes with (InputDtypeError's and the CLI's messages)
INPUT_DTYPE_WHY = (
    "the model computes with this input as floating-point numbers; an integer input is for token ids or "
    "indices (an embedding, a gather)"
)


def _integer_inputs(args: tuple[Any, ...], kw: dict[str, Any]) -> list[tuple[int | str, str]]:
    """(position or keyword, dtype) of the integer (and bool) tensor inputs that hold values (not meta)."""
    keyed: list[tuple[int | str, Any]] = [*enumerate(args), *kw.items()]
    return [
        (k, str(t.dtype).removeprefix("torch."))
        for k, t in keyed
        if isinstance(t, torch.Tensor)
        and not t.is_meta
        and not (t.dtype.is_floating_point or t.dtype.is_complex)
    ]


def _float_dtype(module: nn.Module, args: tuple[Any, ...], kw: dict[str, Any]) -> str:
    """The floating-point dtype the model computes in, in words: its weights', else its floating-point
    inputs'."""

    def names(tensors: Any) -> str:
        found = {str(t.dtype).removeprefix("torch.") for t in tensors if isinstance(t, torch.Tensor)}
        return " or ".join(sorted(d for d in found if getattr(torch, d).is_floating_point))

    if weights := names([*module.parameters(), *module.buffers()]):
        return f"{weights}, the dtype of its weights"
    if inputs := names([*args, *kw.values()]):
        return f"{inputs}, the dtype of its floating-point inputs"
    return "e.g. float32"


def _device_mismatch(
    module: nn.Module, args: tuple[Any, ...], kw: dict[str, Any], rules: dict[type, Rule], exc: Exception
) -> SpecError:
    """Why an export met tensors on the CPU and on the meta device in one op. A model on the meta device
    keeps its integer inputs on the CPU (their values decide branches): when the export runs with them on
    meta too, they were what met the weights, as numbers -- an InputDtypeError; else the model makes a CPU
    tensor of its own during forward."""
    ints = _integer_inputs(args, kw)
    if ints and _on_meta(module):

        def meta(a: Any) -> Any:
            return torch.empty(a.shape, dtype=a.dtype, device="meta") if isinstance(a, torch.Tensor) else a

        try:
            capture(module, tuple(meta(a) for a in args), {k: meta(v) for k, v in kw.items()}, rules)
        except (Exception, SystemExit):
            pass  # not (only) the inputs: the general error below
        else:
            return InputDtypeError(ints, _float_dtype(module, args, kw))
    hint = (
        " (a tensor the model makes during forward without device= is on the CPU, its weights on the meta "
        "device: make it with device=x.device)"
        if _on_meta(module)
        else ""
    )
    return SpecError(
        "module",
        type(module).__name__,
        f"a module torch.export can trace on these example inputs; it raised {_first_line(exc)}{hint}",
    )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


def _unsupported_error(module: nn.Module, unsupported: list[tuple[str, str, str, str]]) -> SpecError:
    lines = []
    for path, cls, op, why in unsupported:
        where = path or "(the model)"
        lines.append(f"  {where} ({cls}): {op} [{why}] -> @workload_rule({cls})")
    return SpecError(
        "module",
        type(module).__name__,
        f"a module whose every op has a mapping or a workload rule; {len(unsupported)} ops have none:\n"
        + "\n".join(lines)
        + "\nwrite a rule for the module that holds each (a function (module, call) -> ops, registered with "
        "@workload_rule(Class) from swallowtail.importer, or passed as from_torch(..., rules={Class: fn})), "
        "or allow unknown ops (allow_unknown=True; CLI: --allow-unknown) to cost each as an element-wise "
        "placeholder named <path>.unsupported.<op>",
    )


def from_torch(
    module: nn.Module,
    example_inputs: Any,
    rules: Mapping[type, RuleFn | Rule] | None = None,
    allow_unknown: bool = False,
    *,
    kwargs: Mapping[str, Any] | None = None,
    dtype: str = "fp16",
    name: str | None = None,
) -> Workload:
    """The Workload of one inference of `module(*example_inputs, **kwargs)` (in eval mode), as the typed ops
    `swallowtail.workload.lower` produces: the graph comes from `torch.export` (non-strict, fake tensors),
    its shapes from the exported graph; nothing is computed. Build a big model on the meta device
    (`with torch.device("meta"): model = MyModel()`) and no weight is ever materialised.

    Modules with a workload rule -- swallowtail's ButterflyLinear and FourierMixing, and whatever
    `@workload_rule(Class)` registers or `rules={Class: fn}` adds for this call -- are leaves: their rule
    gives their ops. Every other op maps by the table of `swallowtail.importer.aten`. An op with neither
    is a SpecError that lists every such op with its module path and the rule to write; with
    `allow_unknown=True` each becomes an element-wise placeholder (one FLOP per output element) named
    `<path>.unsupported.<op>`, listed in the workload's `meta["unsupported"]`.

    `dtype`: the storage dtype the machine computes in ("fp16", as `lower`), not the model's torch dtype.
    `name`: the workload's name (default: the module's class name).
    """
    if not isinstance(module, nn.Module):
        raise SpecError("module", type(module).__name__, "a torch.nn.Module")
    check_choice("dtype", dtype, DTYPE_BYTES)
    if not isinstance(allow_unknown, bool):
        raise SpecError("allow_unknown", allow_unknown, "True or False")
    args, kw = _inputs(module, example_inputs, kwargs)
    cap = _capture(module, args, kw, resolve_rules(rules))
    program = cap.program
    user_inputs = {s.arg.name for s in program.graph_signature.input_specs if s.kind == InputKind.USER_INPUT}
    builder = Builder(dtype, cap.calls, allow_unknown)
    builder.run(program.graph, user_inputs)
    if builder.unsupported and not allow_unknown:
        raise _unsupported_error(module, builder.unsupported)
    if not builder.ops:
        raise SpecError(
            "module", type(module).__name__, "a module that computes something: no op of its graph has FLOPs"
        )
    out_node = next(n for n in program.graph.nodes if n.op == "output")
    outputs = [a for a in torch.utils._pytree.tree_leaves(out_node.args) if isinstance(a, torch.fx.Node)]
    output_elems = sum(math.prod(shape(a)) for a in outputs if isinstance(a.meta.get("val"), torch.Tensor))
    return Workload(
        name=name or type(module).__name__,
        ops=tuple(builder.ops),
        input_elems=builder.input_elems,
        output_elems=output_elems,
        elem_bytes=DTYPE_BYTES[dtype],
        meta=_meta(module, args, cap, builder),
    )


def _capture(
    module: nn.Module, args: tuple[Any, ...], kw: dict[str, Any], resolved: dict[type, Rule]
) -> Capture:
    """`capture` of the module's graph; whatever torch.export raises, as a SpecError saying what to change."""
    try:
        return capture(module, args, kw, resolved)
    except SpecError:
        raise
    except GuardOnDataDependentSymNode as exc:
        raise SpecError(
            "module",
            type(module).__name__,
            "a module whose control flow the example inputs decide; it branches on a value computed from "
            "the weights or from a floating-point input (give integer inputs real values; make the module "
            f"that branches a leaf with a workload rule): {_first_line(exc)}",
        ) from exc
    except FakeTensorDeviceMismatchError as exc:  # CPU and meta tensors in one op
        raise _device_mismatch(module, args, kw, resolved, exc) from exc
    except (Exception, SystemExit) as exc:  # torch.export's errors, a sys.exit() in forward: cannot trace
        raise SpecError(
            "module",
            type(module).__name__,
            f"a module torch.export can trace on these example inputs; it raised {_first_line(exc)}",
        ) from exc


def _meta(module: nn.Module, args: tuple[Any, ...], cap: Capture, builder: Builder) -> dict[str, Any]:
    """What the workload says of where it came from: the module, its inputs, the placeholders."""
    meta: dict[str, Any] = {
        "source": "torch.export",
        "module": f"{type(module).__module__}.{type(module).__qualname__}",
        "inputs": [
            {"shape": list(a.shape), "dtype": str(a.dtype).removeprefix("torch.")}
            for a in args
            if isinstance(a, torch.Tensor)
        ],
    }
    if cap.real_tensor_retry:
        meta["decided_by_input_values"] = True
    if builder.placeholders:
        meta["unsupported"] = list(builder.placeholders)
    return meta


__all__ = ["InputDtypeError", "from_torch"]
