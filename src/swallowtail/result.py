"""One Result type for every backend.

Every backend -- the roofline bound, the dataflow array with either dataflow, the GPU model, each accelerator
model -- answers `run(workload) -> Result`. The CLI's `--json` prints exactly `Result.to_dict()`.
Fields are the same for every backend; a backend that has no notion of cycles leaves `cycles` as None.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from typing import Any

SCHEMA_VERSION = 1


@dataclass
class OpResult:
    """What one operator of the workload cost on a backend."""

    name: str
    kind: str
    flops: int
    latency_s: float
    cycles: int | None = None
    utilization: float | None = None
    bytes: dict[str, int] = field(default_factory=dict)  # traffic by level
    energy_j: float | None = None
    bound: str | None = None  # what limits this op: "compute", "dram", "spm", "noc", "latency", ...


@dataclass
class Result:
    """The outcome of running one workload on one backend (an architecture + a mapping/dataflow)."""

    backend: str
    arch: str
    workload: str
    latency_s: float
    energy_j: float
    useful_ops: int  # the workload's FLOPs (an FMA counts 2)
    peak_ops_per_s: float
    cycles: int | None = None
    clock_hz: float | None = None
    utilization: float | None = None  # useful lane-ops / (peak lane-ops x cycles), where the backend knows it
    energy_breakdown_j: dict[str, float] = field(default_factory=dict)
    traffic_bytes: dict[str, int] = field(default_factory=dict)  # by level: dram / spm / noc / rf
    stalls: dict[str, int] = field(default_factory=dict)  # stall cycles by cause
    ops: list[OpResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    schema_version: int = SCHEMA_VERSION

    # ---- derived -------------------------------------------------------------------------------------
    @property
    def flop_efficiency(self) -> float:
        """Workload FLOPs / (peak FLOP/s x time)."""
        if self.latency_s <= 0 or self.peak_ops_per_s <= 0:
            return 0.0
        return self.useful_ops / (self.peak_ops_per_s * self.latency_s)

    @property
    def throughput_ops_per_s(self) -> float:
        return self.useful_ops / self.latency_s if self.latency_s > 0 else math.inf

    # ---- serialisation -------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["flop_efficiency"] = self.flop_efficiency
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Result:
        d = dict(d)
        version = d.pop("schema_version", SCHEMA_VERSION)
        if version != SCHEMA_VERSION:
            raise ValueError(
                f"schema_version = {version!r} is not allowed: this swallowtail reads {SCHEMA_VERSION}"
            )
        d.pop("flop_efficiency", None)
        d["ops"] = [OpResult(**o) for o in d.get("ops", [])]
        return cls(**d)
