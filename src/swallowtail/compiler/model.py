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


#: Assumptions of the model that admit one value only (the simulator models nothing else), documented here
#: instead of carried as fields that could only ever hold that value:
#: - `dma_dedicated_spm_port`: the DMA engine writes / reads the SPM through its own port, so DMA traffic does
#:   not take bank cycles from the PE array (the design's envelope counts the SPM's 64 B/cycle as PE-side
#:   bandwidth: "6 stages per round trip need ~43 B/cycle of the SPM's 64"). DMA bytes still count in the
#:   SPM traffic and energy.
#: - `coefficient_by_element`: an FMA / MUL names its coefficient as one lane of a register (the NEON-style
#:   "by element" operand): a coefficient register packs `simd_lanes` scalars and the instruction broadcasts
#:   the selected one across the lanes; reading it takes one RF read port.
#: - `compute_dispatch_per_cycle`: one compute vector instruction issues per PE per cycle, whatever FU class
#:   it goes to (the definition of utilization).
FIXED_ASSUMPTIONS: dict[str, object] = {
    "dma_dedicated_spm_port": True,
    "coefficient_by_element": True,
    "compute_dispatch_per_cycle": 1,
}


@dataclass(frozen=True)
class MachineModel:
    """Assumptions of the PE / memory model that the arch spec leaves open and a user may change.

    - `spm_latency_cycles` (assumption): cycles from an SPM bank access to the data being in the RF (loads)
      or visible to a later load (stores). 2 cycles: a banked SRAM read + the crossbar to the PE.

    The assumptions that admit one value only are `FIXED_ASSUMPTIONS` (listed with the model's own).
    """

    spm_latency_cycles: int = 2

    def __post_init__(self) -> None:
        if self.spm_latency_cycles < 1:
            raise SpecError("model.spm_latency_cycles", self.spm_latency_cycles, "an integer >= 1")

    def to_dict(self) -> dict[str, Any]:
        return {**{f.name: getattr(self, f.name) for f in fields(self)}, **FIXED_ASSUMPTIONS}

    def describe(self) -> list[str]:
        return [f"{k} = {v!r}" for k, v in self.to_dict().items()]


DEFAULT_MODEL = MachineModel()
