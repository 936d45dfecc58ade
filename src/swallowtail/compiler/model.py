"""Model assumptions shared by the compiler and the cycle-level simulator.

Every hardware number comes from the architecture spec (`swallowtail.arch.DataflowArch`). What the spec does
not say -- how a PE's ISA reads a coefficient, how many cycles an SPM access takes, whether the DMA engine
shares the SPM banks with the PE array -- is a named, documented assumption here. Each can be overridden by
passing a different `MachineModel` to `compile(...)` / `sim.run(...)`.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from swallowtail.errors import SpecError

#: element size of the PE datapath (fp16)
ELEM_BYTES = 2


@dataclass(frozen=True)
class MachineModel:
    """Assumptions of the PE / memory model that the arch spec leaves open (all overridable).

    - `spm_latency_cycles` (assumption): cycles from an SPM bank access to the data being in the RF (loads)
      or visible to a later load (stores). 2 cycles: a banked SRAM read + the crossbar to the PE.
    - `dma_dedicated_spm_port` (assumption): the DMA engine writes / reads the SPM through its own port, so
      DMA traffic does not take bank cycles from the PE array. the design's envelope counts the SPM's
      64 B/cycle as PE-side bandwidth ("6 stages per round trip need ~43 B/cycle of the SPM's 64"); this
      is the same reading. DMA bytes are still counted in the SPM traffic and energy.
    - `coefficient_by_element` (assumption): an FMA / MUL names its coefficient as one lane of a register
      (the NEON-style "by element" operand): a coefficient register packs `simd_lanes` scalars and the
      instruction broadcasts the selected one across the lanes. Reading it takes one RF read port.
    - `compute_dispatch_per_cycle` (assumption, and the definition of utilization): one compute vector
      instruction issues per PE per cycle, whatever FU class it goes to.
    """

    spm_latency_cycles: int = 2
    dma_dedicated_spm_port: bool = True
    coefficient_by_element: bool = True
    compute_dispatch_per_cycle: int = 1

    def __post_init__(self) -> None:
        if self.spm_latency_cycles < 1:
            raise SpecError("model.spm_latency_cycles", self.spm_latency_cycles, "an integer >= 1")
        if not self.dma_dedicated_spm_port:
            raise SpecError(
                "model.dma_dedicated_spm_port",
                self.dma_dedicated_spm_port,
                "True (a DMA port shared with the PE array's bank arbitration is not modelled)",
            )
        if not self.coefficient_by_element:
            raise SpecError(
                "model.coefficient_by_element",
                self.coefficient_by_element,
                "True (broadcast coefficient registers are not modelled)",
            )
        if self.compute_dispatch_per_cycle != 1:
            raise SpecError(
                "model.compute_dispatch_per_cycle",
                self.compute_dispatch_per_cycle,
                "1 (utilization is defined per one compute issue slot per PE per cycle)",
            )

    def describe(self) -> list[str]:
        return [f"{f.name} = {getattr(self, f.name)!r}" for f in fields(self)]

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


DEFAULT_MODEL = MachineModel()
