"""swallowtail.arch: architecture specs (*on what* a workload runs) and their YAML presets.

See `swallowtail.arch.specs` for the models and `presets/` for the shipped specs; docs/architecture.md
for the reconstruction of the paper's array and its sources.
"""

from swallowtail.arch import accelerators as _accelerators  # noqa: F401  (registers the baseline kinds)
from swallowtail.arch.specbase import ASSUMPTION_PREFIX, Problem, SpecProblems
from swallowtail.arch.specs import (
    ARCH_KINDS,
    ArchBase,
    ArchSpec,
    ArrayGeom,
    DataflowArch,
    DMASpec,
    FUSpec,
    GPUArch,
    NoCSpec,
    PESpec,
    PowerMode,
    RFSpec,
    SPMSpec,
    dump_arch,
    list_archs,
    load_arch,
    parse_arch,
    register_arch_kind,
)

__all__ = [
    "ARCH_KINDS",
    "ASSUMPTION_PREFIX",
    "ArchBase",
    "ArchSpec",
    "ArrayGeom",
    "DMASpec",
    "DataflowArch",
    "FUSpec",
    "GPUArch",
    "NoCSpec",
    "PESpec",
    "PowerMode",
    "Problem",
    "RFSpec",
    "SPMSpec",
    "SpecProblems",
    "dump_arch",
    "list_archs",
    "load_arch",
    "parse_arch",
    "register_arch_kind",
]
