"""The Workload: a named, topologically ordered operator graph plus what it must move at minimum."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from swallowtail.errors import SpecError, check_int, is_int
from swallowtail.workload.ops import DTYPE_BYTES, Op

#: the most inputs one inference may batch (a million: far past any accelerator's batch, so a larger one is a
#: typo; the op sizes it would give overflow what the cost models handle meaningfully)
MAX_BATCH = 1 << 20
#: the most tokens of context a decoder workload may hold (16 M: far past published long-context models)
MAX_CONTEXT = 1 << 24
#: the largest image side a CNN workload may take (64 k pixels)
MAX_IMAGE_SIZE = 1 << 16


@dataclass(frozen=True)
class Workload:
    """What is computed. `ops` are in a valid execution order (every dep precedes its user).

    `input_elems` / `output_elems` are the workload's external input and output (tokens' embeddings in,
    logits out); with every op's weights they form the compulsory DRAM traffic: what any machine must move
    at least once, however much it keeps on chip.
    """

    name: str
    ops: tuple[Op, ...]
    input_elems: int = 0
    output_elems: int = 0
    elem_bytes: int = 2
    meta: dict[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise SpecError("workload.name", self.name, "a non-empty string")
        if not isinstance(self.ops, tuple) or not all(isinstance(op, Op) for op in self.ops):
            raise SpecError(f"{self.name}.ops", type(self.ops).__name__, "a tuple of workload ops")
        check_int(f"{self.name}.input_elems", self.input_elems, 0)
        check_int(f"{self.name}.output_elems", self.output_elems, 0)
        sizes = sorted(set(DTYPE_BYTES.values()))
        if not is_int(self.elem_bytes) or self.elem_bytes not in sizes:
            raise SpecError(f"{self.name}.elem_bytes", self.elem_bytes, f"one of {sizes} (bytes per element)")
        if not isinstance(self.meta, dict):
            raise SpecError(f"{self.name}.meta", self.meta, "a dict")
        seen: set[str] = set()
        for op in self.ops:
            if op.name in seen:
                raise SpecError("op.name", op.name, "unique within a workload")
            for d in op.deps:
                if d not in seen:
                    raise SpecError(f"{op.name}.deps", d, "names of ops that come earlier in the workload")
            seen.add(op.name)

    def __iter__(self) -> Iterator[Op]:
        return iter(self.ops)

    def __len__(self) -> int:
        return len(self.ops)

    @property
    def flops(self) -> int:
        return sum(op.flops for op in self.ops)

    @property
    def weight_bytes(self) -> int:
        return sum(op.weight_elems * op.elem_bytes for op in self.ops)

    @property
    def compulsory_dram_bytes(self) -> int:
        """Weights once + the external input once + the final output once."""
        return self.weight_bytes + (self.input_elems + self.output_elems) * self.elem_bytes

    @property
    def min_bytes_unfused(self) -> int:
        """Sum of every op's own minimum bytes: the traffic if no intermediate ever stays on chip."""
        return sum(op.min_bytes for op in self.ops)

    def flops_by_kind(self) -> dict[str, int]:
        out: dict[str, int] = defaultdict(int)
        for op in self.ops:
            out[op.kind] += op.flops
        return dict(out)

    def flops_by_layer(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for op in self.ops:
            out[op.layer] = out.get(op.layer, 0) + op.flops
        return out

    def op(self, name: str) -> Op:
        for o in self.ops:
            if o.name == name:
                return o
        raise SpecError("op", name, "the name of an op in this workload")

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "flops": self.flops,
            "weight_bytes": self.weight_bytes,
            "compulsory_dram_bytes": self.compulsory_dram_bytes,
            "min_bytes_unfused": self.min_bytes_unfused,
            "input_elems": self.input_elems,
            "output_elems": self.output_elems,
            "meta": self.meta,
            "ops": [
                {
                    "name": op.name,
                    "kind": op.kind,
                    "layer": op.layer,
                    "describe": op.describe(),
                    "flops": op.flops,
                    "min_bytes": op.min_bytes,
                    "weight_bytes": op.weight_elems * op.elem_bytes,
                    "deps": list(op.deps),
                }
                for op in self.ops
            ],
        }


def check_workload(value: object, field: str = "workload") -> Workload:
    """`value` if it is a Workload; a SpecError naming `field` otherwise (a backend given None, a network
    name or a config, not a deep AttributeError)."""
    if not isinstance(value, Workload):
        raise SpecError(
            field,
            type(value).__name__,
            "a Workload (swallowtail.workload: lower a network with swallowtail.workload.lower.lower)",
        )
    return value
