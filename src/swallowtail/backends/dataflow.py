"""The dataflow-array backends: `dataflow-multilayer` and `dataflow-single-layer`.

    get_backend("dataflow-multilayer", arch="df-4x4-simd8").run(lower("fabnet-base", 1024))
    get_backend("dataflow-multilayer", cache=RateCache()).run(workload)     # a cache the caller owns
    get_backend("dataflow-multilayer", residency="dram").run(workload)      # every op's output to DRAM

Both run the block-level simulator (`swallowtail.sim.network`) on the same machine; they differ only in the
mapping (multilayer: stages folded into blocks, intermediates streamed on chip; single-layer: one stage per
SPM round trip, every op's output back to DRAM). Each backend holds the RateCache its runs read and fill:
the one it was given (shared with whatever else holds it: another backend, a design sweep, a file), else the
process-wide `swallowtail.sim.network.default_cache()`, so that backends made one after the other in a
process still probe each kernel shape once.
"""

from __future__ import annotations

from typing import Any

from swallowtail.arch.specs import ArchSpec, DataflowArch, load_arch, wrong_kind
from swallowtail.compiler.dense_cost import split_mixed_radix
from swallowtail.errors import SpecError, check_choice
from swallowtail.result import Result
from swallowtail.sim.network import (
    RESIDENCIES,
    SPM_RESIDENT_FRACTION,
    NetworkRun,
    RateCache,
    check_resident_fraction,
    default_cache,
    simulate_network,
)
from swallowtail.sim.timing.machine import check_engine_fits
from swallowtail.workload import Workload
from swallowtail.workload.ops import FFT

#: the architecture a bare `get_backend("dataflow-multilayer")` uses
DEFAULT_ARCH = "df-4x4-simd8"
#: the options a dataflow backend's factory takes besides `arch`
OPTIONS = ("cache", "residency", "spm_resident_fraction")


class DataflowBackend:
    """The simulated dataflow array with one dataflow. `run(workload) -> Result`."""

    def __init__(
        self,
        dataflow: str,
        arch: ArchSpec | str | None = None,
        cache: RateCache | None = None,
        residency: str = "plan",
        spm_resident_fraction: float = SPM_RESIDENT_FRACTION,
    ) -> None:
        a = load_arch(DEFAULT_ARCH if arch is None else arch)
        if not isinstance(a, DataflowArch):
            raise wrong_kind(arch, a, "a dataflow array (kind: dataflow)")
        check_engine_fits(a)  # its probes simulate kernels on the whole array: refused before any work
        if cache is not None and not isinstance(cache, RateCache):
            raise SpecError(
                f"dataflow-{dataflow} option cache", cache, "a RateCache object (Python API only)"
            )
        self.arch = a
        self.dataflow = dataflow
        self.name = f"dataflow-{dataflow}"
        self.cache = default_cache() if cache is None else cache
        self.residency = check_choice(f"{self.name} option residency", residency, RESIDENCIES)
        self.spm_resident_fraction = check_resident_fraction(
            spm_resident_fraction, f"{self.name} option spm_resident_fraction"
        )

    def check(self, workload: Workload) -> None:
        """A SpecError, before any simulation, for what no mapping of the array can run: an FFT whose length
        is neither 2^k nor 3 x 2^k (a sweep checks its workloads with it)."""
        for op in workload.ops:
            if isinstance(op, FFT):
                split_mixed_radix(op.n)

    def simulate(self, workload: Workload, progress: Any = None) -> NetworkRun:
        """The Result plus the timeline and the residency plan."""
        return simulate_network(
            workload,
            self.arch,
            self.dataflow,
            progress=progress,
            residency=self.residency,
            cache=self.cache,
            spm_resident_fraction=self.spm_resident_fraction,
        )

    def run(self, workload: Workload) -> Result:
        return self.simulate(workload).result


def _make(dataflow: str, arch: ArchSpec | str | None, options: dict[str, Any]) -> DataflowBackend:
    extra = sorted(set(options) - set(OPTIONS))
    if extra:  # cache takes a RateCache object, so it is listed as the Python API's
        cli = ", ".join(repr(o) for o in ("arch", *OPTIONS) if o != "cache")
        raise SpecError(f"dataflow-{dataflow} option", extra[0], f"one of {cli} (and, from Python, 'cache')")
    return DataflowBackend(dataflow, arch, **options)


def make_multilayer(arch: ArchSpec | str | None = None, **options: Any) -> DataflowBackend:
    """Factory registered as `dataflow-multilayer`."""
    return _make("multilayer", arch, options)


def make_single_layer(arch: ArchSpec | str | None = None, **options: Any) -> DataflowBackend:
    """Factory registered as `dataflow-single-layer`."""
    return _make("single-layer", arch, options)
