"""Energy of a network run: action counts x the energy table + leakage x time (`swallowtail.energy`).

Each op's actions are its array-side counts (from its cost) plus what the pipeline moved for it: DRAM bytes
(weights, spilled inputs and outputs), written into or read out of the SPM by the DMA.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from swallowtail.arch.specs import DataflowArch
from swallowtail.energy.tables import estimate, load_energy_table
from swallowtail.sim import PE_ACTIONS
from swallowtail.sim.network.pipeline import DramTraffic


@dataclass
class NetworkEnergy:
    """Per-op actions and dynamic energy, the totals and the run's energy by component."""

    op_actions: list[dict[str, float]]
    op_dynamic_j: list[float]
    actions: dict[str, float]  # summed over ops
    breakdown_j: dict[str, float]  # by component, leakage x latency included
    leakage_w: float
    note: str

    @property
    def total_j(self) -> float:
        """The run's energy: every component's, leakage included."""
        return sum(self.breakdown_j.values())

    def op_energy_j(self, i: int, wall_cycles: float, clock_hz: float) -> float:
        """Op i's dynamic energy + leakage over its wall time."""
        return self.op_dynamic_j[i] + self.leakage_w * wall_cycles / clock_hz


def op_actions(array_actions: dict[str, float], traffic: DramTraffic, i: int) -> dict[str, float]:
    """Op i's actions: its array-side counts + its DRAM bytes through the SPM (loads written, stores read)."""
    acts = dict(array_actions)
    acts["dram_bytes"] = traffic.total(i)
    acts["spm_write_bytes"] = acts.get("spm_write_bytes", 0.0) + traffic.weights[i] + traffic.inputs[i]
    acts["spm_read_bytes"] = acts.get("spm_read_bytes", 0.0) + traffic.outputs[i]
    return acts


def network_energy(
    array_actions: Sequence[dict[str, float]], traffic: DramTraffic, arch: DataflowArch, latency_s: float
) -> NetworkEnergy:
    """Energy of the ops with these array-side actions and DRAM traffic over a run of `latency_s`."""
    e = load_energy_table(arch.energy_table).for_arch(arch)
    total: dict[str, float] = {k: 0.0 for k in (*PE_ACTIONS, "dram_bytes")}
    per_op: list[dict[str, float]] = []
    dyn: list[float] = []
    for i, a in enumerate(array_actions):
        acts = op_actions(a, traffic, i)
        for k, v in acts.items():
            total[k] = total.get(k, 0.0) + v
        per_op.append(acts)
        dyn.append(sum(e.cost(acts).values()))
    est = estimate(arch, total, latency_s)
    return NetworkEnergy(per_op, dyn, total, est.breakdown_j, est.leakage_w, est.note)
