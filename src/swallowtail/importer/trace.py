"""Capture: the graph of a PyTorch module by `torch.export`, its rule-bearing submodules kept as leaves.

Every submodule whose class has a workload rule (`swallowtail.importer.rules`) is called, for the length of
the export, through one custom op, `swallowtail_importer::leaf(Tensor[] inputs, int call)`: the graph holds
one node per call, not the module's insides (which may not even be traceable: a hand-written kernel). The
op's kernels compute only the outputs' shapes and dtypes -- the rule's `output` function, or the module's
own forward run on meta tensors -- so nothing of the leaf is computed and no weight is read.

The export is non-strict (the module's Python runs, on fake tensors). A branch on the *values* of an input
(an input check such as `if x.min() < 0`, a padding mask `if keep.all()`) cannot be decided on fake tensors;
the export is then run again with torch's real-tensor propagation (what `torch.export.draft_export` does):
the example inputs' values decide the branch, ops on meta tensors stay on meta. Build big models on the
meta device (`with torch.device("meta"): model = MyModel()`) and nothing is materialised either way.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import logging
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
import torch._functorch.config as functorch_config
from torch import nn
from torch._subclasses.fake_tensor import unset_fake_temporarily
from torch.fx.experimental.symbolic_shapes import GuardOnDataDependentSymNode
from torch.utils import _pytree as pytree

from swallowtail.errors import SpecError
from swallowtail.importer.rules import Rule, rule_for

#: the custom op a leaf module's call becomes in the exported graph
LEAF_NAMESPACE = "swallowtail_importer"
LEAF_NAME = "leaf"
#: torch loggers that report (as warnings) what the real-tensor retry resolves on purpose
#: torch loggers an export silences, and the level each keeps: fake_tensor logs a traceback at ERROR for a
#: shape mismatch that the export then raises (and the import turns into a SpecError)
_QUIET_LOGGERS = {
    "torch.fx.experimental.symbolic_shapes": logging.ERROR,
    "torch._export": logging.ERROR,
    "torch.export": logging.ERROR,
    "torch._subclasses.fake_tensor": logging.CRITICAL,
}


@dataclass
class LeafRecord:
    """One call of a leaf module during the export: the module, its rule, its non-tensor arguments, the
    structure of its arguments and results."""

    module: nn.Module
    rule: Rule
    spec: Any  # pytree spec of (args, kwargs)
    static: list[Any]  # the flattened (args, kwargs), None where a tensor goes
    out_spec: Any = None
    out_static: list[Any] = field(default_factory=list)

    def arguments(self, tensors: list[torch.Tensor]) -> tuple[tuple[Any, ...], dict[str, Any]]:
        it = iter(tensors)
        flat = [next(it) if s is _TENSOR else s for s in self.static]
        args, kwargs = pytree.tree_unflatten(flat, self.spec)
        return args, kwargs

    def results(self, tensors: list[torch.Tensor]) -> Any:
        it = iter(tensors)
        flat = [next(it) if s is _TENSOR else s for s in self.out_static]
        return pytree.tree_unflatten(flat, self.out_spec)


class _TensorSlot:
    """Marks a tensor's place among a call's flattened arguments or results."""

    def __repr__(self) -> str:
        return "<tensor>"


_TENSOR = _TensorSlot()
#: marks a module without a forward of its own instance (the usual case)
_ABSENT = object()
#: call id -> its record, for the length of one capture (the op's integer argument is the id)
_CALLS: dict[int, LeafRecord] = {}
_IDS = itertools.count()
#: ids of modules whose original forward runs (the default `output`: forward on meta tensors)
_BYPASS: set[int] = set()


def _meta_outputs(rec: LeafRecord, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """The module's own forward on meta copies of its arguments and of its parameters and buffers."""

    def meta(t: Any) -> Any:
        return torch.empty(t.shape, dtype=t.dtype, device="meta") if isinstance(t, torch.Tensor) else t

    module = rec.module
    with unset_fake_temporarily(), torch.no_grad():
        state = {n: meta(t) for n, t in itertools.chain(module.named_parameters(), module.named_buffers())}
        margs, mkwargs = pytree.tree_map(meta, (args, kwargs))
        _BYPASS.add(id(module))
        try:
            return torch.func.functional_call(module, state, margs, mkwargs)
        finally:
            _BYPASS.discard(id(module))


def _leaf_kernel(inputs: list[torch.Tensor], call: int) -> list[torch.Tensor]:
    """The leaf op's kernel (real and fake alike): fresh empty tensors shaped like the module's outputs."""
    rec = _CALLS[call]
    if not inputs:
        raise SpecError(f"{type(rec.module).__name__}.inputs", 0, "at least one tensor argument for a leaf")
    args, kwargs = rec.arguments(inputs)
    out = (
        rec.rule.output(rec.module, *args, **kwargs) if rec.rule.output else _meta_outputs(rec, args, kwargs)
    )
    flat, rec.out_spec = pytree.tree_flatten(out)
    rec.out_static = [_TENSOR if isinstance(o, torch.Tensor) else o for o in flat]
    ref = inputs[0]
    return [ref.new_empty(o.shape, dtype=o.dtype) for o in flat if isinstance(o, torch.Tensor)]


_LEAF_OP = torch.library.custom_op(
    f"{LEAF_NAMESPACE}::{LEAF_NAME}",
    _leaf_kernel,
    mutates_args=(),
    schema="(Tensor[] inputs, int call) -> Tensor[]",
)
_LEAF_OP.register_fake(_leaf_kernel)
#: the OpOverload the graph's leaf nodes call
LEAF_TARGET = getattr(getattr(torch.ops, LEAF_NAMESPACE), LEAF_NAME).default


def _leaf_forward(module: nn.Module, rule: Rule) -> Any:
    """A forward for `module` that records the call and returns the leaf op's outputs."""
    original = type(module).forward

    def forward(*args: Any, **kwargs: Any) -> Any:
        if id(module) in _BYPASS:
            return original(module, *args, **kwargs)
        flat, spec = pytree.tree_flatten((args, kwargs))
        tensors = [a for a in flat if isinstance(a, torch.Tensor)]
        for t in tensors:
            if getattr(getattr(t, "real_tensor", None), "is_meta", False):
                # real-tensor retry: a meta "value" is no value -- the leaf op then runs on fake tensors only
                t.real_tensor = None
        rec = LeafRecord(module, rule, spec, [_TENSOR if isinstance(a, torch.Tensor) else a for a in flat])
        call = next(_IDS)
        _CALLS[call] = rec
        return rec.results(list(LEAF_TARGET(tensors, call)))

    return forward


@contextlib.contextmanager
def _leaves(module: nn.Module, rules: dict[type, Rule]) -> Iterator[None]:
    """Patch the outermost rule-bearing submodules (the model itself included) to call the leaf op."""
    patched: list[tuple[nn.Module, Any]] = []
    prefixes: list[str] = []
    try:
        for name, m in module.named_modules():
            if any(name == p or name.startswith(p + ".") or p == "" for p in prefixes):
                continue
            rule = rule_for(m, rules)
            if rule is None:
                continue
            patched.append((m, m.__dict__.get("forward", _ABSENT)))
            m.forward = _leaf_forward(m, rule)  # an instance attribute: nn.Module.__call__ finds it first
            prefixes.append(name)
        yield
    finally:
        for m, before in patched:
            if before is _ABSENT:
                del m.forward
            else:
                m.forward = before


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    loggers = [logging.getLogger(n) for n in _QUIET_LOGGERS]
    levels = [lg.level for lg in loggers]
    for lg, quiet in zip(loggers, _QUIET_LOGGERS.values(), strict=True):
        lg.setLevel(quiet)
    try:
        # torch.export prints the partial graph of a failed export to stderr (then raises): the first
        # attempt may fail on purpose, and a final failure becomes a SpecError that says why
        with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


@contextlib.contextmanager
def _eval(module: nn.Module) -> Iterator[None]:
    """Inference mode for the capture (dropout off, eval-only branches), the modes restored after."""
    modes = [(m, m.training) for m in module.modules()]
    module.eval()
    try:
        yield
    finally:
        for m, training in modes:
            m.training = training


@dataclass
class Capture:
    """An exported program and the leaf calls its leaf nodes stand for (by the op's integer argument)."""

    program: torch.export.ExportedProgram
    calls: dict[int, LeafRecord]
    real_tensor_retry: bool


def capture(
    module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any], rules: dict[type, Rule]
) -> Capture:
    """Export `module(*args, **kwargs)` with its rule-bearing submodules as leaves."""
    first = next(_IDS)
    retried = False
    try:
        with _quiet(), _eval(module), _leaves(module, rules):
            try:
                program = torch.export.export(module, args, kwargs, strict=False)
            except GuardOnDataDependentSymNode:
                retried = True
                with functorch_config.patch(fake_tensor_propagate_real_tensors=True):
                    program = torch.export.export(module, args, kwargs, strict=False)
        calls = {k: v for k, v in _CALLS.items() if k > first}
    finally:
        for k in [k for k in _CALLS if k > first]:
            del _CALLS[k]
    return Capture(program, calls, retried)
