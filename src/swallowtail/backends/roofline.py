"""The roofline backend: the floor every simulator and baseline model is tested against.

For any architecture (Williams, Waterman & Patterson, "Roofline", CACM 2009):

    latency = max(FLOPs / peak FLOP/s, compulsory DRAM bytes / DRAM bandwidth)

with the workload's compulsory DRAM traffic (weights once + input once + output once: what any machine
must move, however much it keeps on chip). Each op also gets its own bound,
max(op FLOPs / peak, op minimum bytes / bandwidth), and the name of the bound that binds ("compute" or
"dram"); op bounds are per-op floors when the op runs alone and do not add up to the workload's latency.

Energy, a lower bound:
- dataflow array: FLOPs / 2 FMA-equivalent lane ops at the energy table's FMA energy, + compulsory DRAM
  bytes at the DRAM energy, + (if `include_leakage`) the table's leakage power over the bound latency
  (the real latency is no shorter, so this stays a floor). Caveat: an add costs less than half an FMA
  (Horowitz: 0.4 vs 1.5 pJ at 45 nm), so for add-only arithmetic the FU term is FMA-equivalent, not exact.
- GPU: the power mode's board power x latency.

`utilization` is the compute fraction: compute time / latency (= FLOP efficiency for this model).
"""

from __future__ import annotations

import math
from typing import Any

from swallowtail.arch.specs import ArchSpec, DataflowArch, GPUArch, load_arch
from swallowtail.energy.tables import load_energy_table
from swallowtail.errors import SpecError, check_bool
from swallowtail.flops import FLOPS_PER_FMA
from swallowtail.result import OpResult, Result
from swallowtail.workload import Workload, check_workload

#: the architecture a bare `get_backend("roofline")` uses
DEFAULT_ARCH = "df-4x4-simd8"
#: relative slack when rounding a latency to whole cycles (float noise must not add a cycle)
CYCLE_ROUND_EPS = 1e-9


def _cycles(latency_s: float, clock_hz: float) -> int:
    return math.ceil(latency_s * clock_hz * (1 - CYCLE_ROUND_EPS))


class RooflineBackend:
    """Roofline floor on one architecture. `run(workload) -> Result`."""

    def __init__(
        self,
        arch: ArchSpec | str | None = None,
        energy_table: str | None = None,
        include_leakage: bool = True,
        power_mode: str | None = None,
    ) -> None:
        self.arch: ArchSpec = load_arch(DEFAULT_ARCH if arch is None else arch)
        if not isinstance(self.arch, DataflowArch | GPUArch):
            raise SpecError("arch", self.arch.name, "a dataflow array or a GPU spec (kind: dataflow or gpu)")
        self.include_leakage = check_bool("include_leakage", include_leakage)
        self.name = "roofline"
        self.power_mode: str | None = None
        if isinstance(self.arch, GPUArch):
            mode = self.arch.default_mode if power_mode is None else power_mode
            if mode not in self.arch.power_modes:
                raise SpecError("power_mode", mode, f"one of {sorted(self.arch.power_modes)}")
            self.power_mode = mode
        elif power_mode is not None:
            raise SpecError("power_mode", power_mode, "only for a GPU architecture")
        self.energies = None
        if isinstance(self.arch, DataflowArch):
            table = load_energy_table(energy_table or self.arch.energy_table)
            self.energies = table.for_arch(self.arch)
        elif energy_table is not None:
            raise SpecError("energy_table", energy_table, "only for a dataflow array")

    # ---- peaks -----------------------------------------------------------------------------------------
    @property
    def peak_ops_per_s(self) -> float:
        if isinstance(self.arch, GPUArch) and self.power_mode is not None:
            unit = self.arch.PEAK_UNIT if self.arch.tensor_cores else self.arch.PEAK_UNIT_NO_TENSOR
            return self.arch.peak_flops_at(unit, self.power_mode)
        return self.arch.peak_ops_per_s

    @property
    def clock_hz(self) -> float | None:
        if isinstance(self.arch, DataflowArch):
            return self.arch.clock_hz
        if isinstance(self.arch, GPUArch) and self.power_mode is not None:
            return self.arch.power_modes[self.power_mode].gpu_clock_hz
        return None

    def bound(self, flops: float, dram_bytes: float) -> tuple[float, float, float]:
        """(latency, compute time, memory time) of `flops` and `dram_bytes`."""
        t_c = flops / self.peak_ops_per_s
        t_m = dram_bytes / self.arch.dram_bytes_per_s
        return max(t_c, t_m), t_c, t_m

    # ---- run ------------------------------------------------------------------------------------------
    def run(self, workload: Workload) -> Result:
        flops = check_workload(workload).flops
        dram = workload.compulsory_dram_bytes
        latency, t_c, t_m = self.bound(flops, dram)
        clock = self.clock_hz
        dataflow = isinstance(self.arch, DataflowArch)

        breakdown: dict[str, float] = {}
        notes = [
            f"roofline floor on {self.arch.name}: latency = max(FLOPs / {self.peak_ops_per_s:.4g} FLOP/s, "
            f"compulsory DRAM bytes / {self.arch.dram_bytes_per_s:.4g} B/s) = max({t_c:.4g} s, {t_m:.4g} s)",
            f"bound: {'compute' if t_c >= t_m else 'dram'}",
        ]
        if dataflow:
            e = self.energies
            assert e is not None
            breakdown["fu"] = flops / FLOPS_PER_FMA * e.fma_j
            breakdown["dram"] = dram * e.dram_j_per_byte
            if self.include_leakage:
                breakdown["leakage"] = e.leakage_total_w * latency
            notes.append(
                f"energy lower bound ({e.table} at {e.node_nm} nm): FLOPs/2 FMA lane ops"
                " + compulsory DRAM bytes"
                + (" + leakage over the bound latency" if self.include_leakage else " (no leakage)")
            )
        else:
            assert isinstance(self.arch, GPUArch) and self.power_mode is not None
            power = self.arch.power_modes[self.power_mode].board_power_w
            breakdown["board"] = power * latency
            notes.append(f"energy = board power {power:g} W ({self.power_mode} mode) x latency")

        ops = [self._op_result(op) for op in workload.ops]
        return Result(
            backend=self.name,
            arch=self.arch.name,
            workload=workload.name,
            latency_s=latency,
            energy_j=sum(breakdown.values()),
            useful_ops=flops,
            peak_ops_per_s=self.peak_ops_per_s,
            cycles=_cycles(latency, clock) if dataflow and clock else None,
            clock_hz=clock,
            utilization=(t_c / latency) if latency > 0 else 0.0,
            energy_breakdown_j=breakdown,
            traffic_bytes={"dram": dram},
            ops=ops,
            notes=notes,
        )

    def _op_result(self, op: Any) -> OpResult:
        latency, t_c, t_m = self.bound(op.flops, op.min_bytes)
        energy = None
        if self.energies is not None:
            energy = op.flops / FLOPS_PER_FMA * self.energies.fma_j
        clock = self.clock_hz
        return OpResult(
            name=op.name,
            kind=op.kind,
            flops=op.flops,
            latency_s=latency,
            cycles=_cycles(latency, clock) if isinstance(self.arch, DataflowArch) and clock else None,
            utilization=(t_c / latency) if latency > 0 else 0.0,
            bytes={"dram": op.min_bytes},
            energy_j=energy,  # arithmetic only (FMA-equivalent); the op's DRAM share is not separable
            bound="compute" if t_c >= t_m else "dram",
        )


def make_roofline(arch: ArchSpec | str | None = None, **options: Any) -> RooflineBackend:
    """Factory registered as `roofline`: options `energy_table`, `include_leakage`, `power_mode`."""
    allowed = {"energy_table", "include_leakage", "power_mode"}
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise SpecError("roofline option", unknown[0], f"one of {sorted(allowed | {'arch'})}")
    return RooflineBackend(arch, **options)
