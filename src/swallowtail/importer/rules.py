"""Workload rules: module classes the importer keeps as leaves, each with the function that gives its ops.

A rule is a function `rule(module, call) -> iterable of ops` (`swallowtail.workload.ops`), registered for a
module class with `@workload_rule(MyLayer)` (or passed to `from_torch(..., rules={MyLayer: rule})` for one
call). The importer does not trace through a module that has a rule: the exported graph holds one leaf node
per call, and the rule turns it into ops. `call` (a `LeafCall`) says where and on what the module was
called: its module path, the shapes of its tensor inputs and outputs, the workload's dtype.

The ops a rule returns are local: the importer prefixes their names with the module path, sets their layer
and dtype, and chains them -- an op with no `deps` depends on the op before it (the first one on whatever
produced the module's inputs); `deps` may name earlier ops of the same rule by their local names.

The leaf's output shapes come from `output(module, *args, **kwargs)` when the rule gives one (a function of
fake tensors returning tensors of the output's shapes and dtypes, e.g. `x.new_empty(...)`), else from
running the module's own forward on meta tensors (no weights read or written).

Built in: swallowtail's structured layers, so that importing a swallowtail network gives exactly the ops
`swallowtail.workload.lower` emits for it:

  ButterflyLinear (butterfly) -> Butterfly(n, rows * nstacks)            [+ bias add]
  ButterflyLinear (monarch)   -> a Monarch op (R, regrouping, L)         [+ bias add]
  FourierMixing               -> FFT over hidden (real input) -> FFT over sequence (real part kept)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from swallowtail.errors import SpecError
from swallowtail.nn.fourier import FourierMixing
from swallowtail.nn.linear import ButterflyLinear
from swallowtail.workload.emit import Emitter
from swallowtail.workload.ops import FFT, Butterfly, Elementwise, Op


@dataclass(frozen=True)
class LeafCall:
    """One call of a leaf module: where (`path`, its module path in the model, "" for the model itself),
    on what (`inputs`: the shapes of its tensor arguments, in order; `outputs`: of its tensor results) and
    in which storage dtype the workload is costed (`dtype`, "fp16" ...)."""

    path: str
    inputs: tuple[tuple[int, ...], ...]
    outputs: tuple[tuple[int, ...], ...]
    dtype: str

    @property
    def rows(self) -> int:
        """Vectors the first input holds: the product of its leading dims (all but the last)."""
        if not self.inputs or not self.inputs[0]:
            raise SpecError(f"{self.path or 'model'}.inputs", self.inputs, "a first input of rank >= 1")
        return math.prod(self.inputs[0][:-1])


#: a rule: (module, call) -> ops
RuleFn = Callable[[Any, LeafCall], Iterable[Op]]
#: the output of a leaf from fake tensors: (module, *args, **kwargs) -> tensor(s)
OutputFn = Callable[..., Any]


@dataclass(frozen=True)
class Rule:
    """A registered rule: the function giving the ops and, optionally, the function giving the outputs."""

    ops: RuleFn
    output: OutputFn | None = None


def _butterfly_linear(module: ButterflyLinear, call: LeafCall) -> list[Op]:
    """What `Emitter.linear` emits for a ButterflyLinear of this kind over `call.rows` vectors."""
    if module.complex:  # complex twiddles: a complex butterfly, a complex bias (two adds per output)
        ops: list[Op] = [Butterfly("butterfly", n=module.n, rows=call.rows * module.nstacks, complex=True)]
        if module.bias is not None:
            out = 2 * module.out_features
            ops.append(Elementwise("bias", op="add", numel=call.rows * out, weight=out))
        return ops
    e = Emitter(call.dtype)
    e.linear(
        module.kind, module.kind, module.in_features, module.out_features, call.rows, module.bias is not None
    )
    return e.ops


def _linear_output(module: ButterflyLinear, x: Any) -> Any:
    weight = module.twiddle if module.kind == "butterfly" else module.w1
    dtype = torch.promote_types(x.dtype, weight.dtype)
    return x.new_empty((*x.shape[:-1], module.out_features), dtype=dtype)


def _fourier_mixing(module: FourierMixing, call: LeafCall) -> list[Op]:
    """FNet mixing of a (*batch, L, d) input: what `lower_hybrid` emits for an FBfly block's mixing."""
    shape = call.inputs[0]
    if len(shape) < 2:
        raise SpecError(f"{call.path}.input.shape", shape, "(*batch, seq_len, d_model)")
    *batch, seq, d = shape
    seqs = math.prod(batch)
    return [
        FFT("fft_hidden", n=d, rows=seqs * seq, real_input=True),
        FFT("fft_seq", n=seq, rows=seqs * d, real_output=True),
    ]


def _fourier_output(module: FourierMixing, x: Any) -> Any:
    return x.new_empty(x.shape, dtype=x.real.dtype if x.is_complex() else x.dtype)


#: module class -> its rule (the built-in ones, and whatever `workload_rule` registers)
_RULES: dict[type, Rule] = {
    ButterflyLinear: Rule(_butterfly_linear, _linear_output),
    FourierMixing: Rule(_fourier_mixing, _fourier_output),
}


def workload_rule(module_cls: type, *, output: OutputFn | None = None) -> Callable[[RuleFn], RuleFn]:
    """Register `fn(module, call) -> ops` for `module_cls` (and its subclasses without a rule of their own):
    the importer keeps every such module as a leaf. Registering a class again replaces its rule.

    `output(module, *args, **kwargs)`: the leaf's outputs computed from fake tensors (shapes and dtypes
    only, e.g. `lambda m, x: x.new_empty(*x.shape[:-1], m.out_features)`); by default the module's own
    forward runs on meta tensors.

        @workload_rule(BlockSparseLinear)
        def _(module, call):
            return [GEMM("gemm", m=call.rows, k=module.in_features, n=module.out_features, b_is_weight=True)]
    """
    if not isinstance(module_cls, type) or not issubclass(module_cls, nn.Module):
        raise SpecError("module_cls", module_cls, "a subclass of torch.nn.Module")

    def register(fn: RuleFn) -> RuleFn:
        if not callable(fn):
            raise SpecError(f"rule for {module_cls.__name__}", fn, "a function (module, call) -> ops")
        _RULES[module_cls] = Rule(fn, output)
        return fn

    return register


def resolve_rules(extra: Mapping[type, RuleFn | Rule] | None) -> dict[type, Rule]:
    """The registered rules with `extra` (class -> rule function or Rule, this import only) on top."""
    rules = dict(_RULES)
    for cls, rule in (extra or {}).items():
        if not isinstance(cls, type) or not issubclass(cls, nn.Module):
            raise SpecError("rules", cls, "a mapping whose keys are torch.nn.Module subclasses")
        if isinstance(rule, Rule):
            rules[cls] = rule
        elif callable(rule):
            rules[cls] = Rule(rule)
        else:
            raise SpecError(f"rules[{cls.__name__}]", rule, "a function (module, call) -> ops, or a Rule")
    return rules


def rule_for(module: nn.Module, rules: Mapping[type, Rule]) -> Rule | None:
    """The rule of the nearest class in `type(module)`'s MRO that has one, or None."""
    for cls in type(module).__mro__:
        rule = rules.get(cls)
        if rule is not None:
            return rule
    return None
