"""The dataflow-array backends: `dataflow-multilayer` and `dataflow-single-layer`.

    get_backend("dataflow-multilayer", arch="df-4x4-simd8").run(lower("fabnet-base", 1024))

Both run the block-level simulator (`swallowtail.sim.network`) on the same machine; they differ only in the
mapping (multilayer: stages folded into blocks, intermediates streamed on chip; single-layer: one stage per
SPM round trip, every op's output back to DRAM). Kernel probes are memoised per process.
"""

from __future__ import annotations

from typing import Any

from swallowtail.arch.specs import ArchSpec, DataflowArch, load_arch
from swallowtail.errors import SpecError
from swallowtail.result import Result
from swallowtail.sim.network import NetworkRun, simulate_network
from swallowtail.workload import Workload

#: the architecture a bare `get_backend("dataflow-multilayer")` uses
DEFAULT_ARCH = "df-4x4-simd8"


class DataflowBackend:
    """The simulated dataflow array with one dataflow. `run(workload) -> Result`."""

    def __init__(self, dataflow: str, arch: ArchSpec | str | None = None) -> None:
        a = load_arch(DEFAULT_ARCH if arch is None else arch)
        if not isinstance(a, DataflowArch):
            raise SpecError("arch", a.name, "a dataflow array (kind: dataflow)")
        self.arch = a
        self.dataflow = dataflow
        self.name = f"dataflow-{dataflow}"

    def simulate(self, workload: Workload, progress: Any = None) -> NetworkRun:
        """The Result plus the timeline and the residency plan."""
        return simulate_network(workload, self.arch, self.dataflow, progress=progress)

    def run(self, workload: Workload) -> Result:
        return self.simulate(workload).result


def _make(dataflow: str, arch: ArchSpec | str | None, options: dict[str, Any]) -> DataflowBackend:
    if options:
        raise SpecError(f"dataflow-{dataflow} option", sorted(options)[0], "no options other than 'arch'")
    return DataflowBackend(dataflow, arch)


def make_multilayer(arch: ArchSpec | str | None = None, **options: Any) -> DataflowBackend:
    """Factory registered as `dataflow-multilayer`."""
    return _make("multilayer", arch, options)


def make_single_layer(arch: ArchSpec | str | None = None, **options: Any) -> DataflowBackend:
    """Factory registered as `dataflow-single-layer`."""
    return _make("single-layer", arch, options)
