"""Emitter: appends typed ops in execution order while lowering a network, tracking the op that produced the
current activation (its name is the default dependency of the next op). Shared by every lowering
(`swallowtail.workload.hybrid` for the hybrid Transformers, `swallowtail.workload.cnn` for CNNs).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from swallowtail.nn.sizes import linear_counts
from swallowtail.workload.ops import GEMM, Butterfly, Elementwise, Op
from swallowtail.workload.structured import Monarch


@dataclass
class Emitter:
    """Appends ops in execution order, tracking the op that produced the current activation."""

    dtype: str
    ops: list[Op] = field(default_factory=list)
    layer: str = ""
    prefix: str = ""
    last: str | None = None

    def emit(self, op_cls: type[Op], local: str, *, deps: tuple[str | None, ...] | None = None, **kw) -> str:
        name = f"{self.prefix}.{local}" if self.prefix else local
        deps = (self.last,) if deps is None else deps
        op = op_cls(name, deps=tuple(d for d in deps if d), dtype=self.dtype, layer=self.layer, **kw)
        self.ops.append(op)
        self.last = name
        return name

    # ---- network pieces ---------------------------------------------------------------------------------
    def linear(self, local: str, kind: str, d_in: int, d_out: int, rows: int, bias: bool = True) -> str:
        """A linear layer of HybridConfig kind dense | butterfly | monarch over `rows` vectors."""
        if kind == "dense":
            self.emit(GEMM, local, m=rows, k=d_in, n=d_out, b_is_weight=True)
        else:
            c = linear_counts(d_in, d_out, kind=kind, bias=bias)
            n, nstacks = c.n, c.nstacks
            if kind == "butterfly":
                self.emit(Butterfly, local, n=n, rows=rows * nstacks)
            else:  # monarch: R (block diagonal), the regrouping, L (block diagonal): one first-class op
                self.emit(Monarch, local, rows=rows, n=n, stacks=nstacks)
        if bias:
            self.emit(Elementwise, f"{local}.bias", op="add", numel=rows * d_out, weight=d_out)
        return self.last  # type: ignore[return-value]

    def residual(self, local: str, skip: str | None, numel: int) -> str:
        return self.emit(Elementwise, local, op="add", numel=numel, operands=2, deps=(self.last, skip))
