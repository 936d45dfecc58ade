"""The paper's evaluation as data: which workloads run on which backends (`swallowtail reproduce`).

A `Suite` is a list of `WorkloadSpec` (a network preset at a sequence length, plus its dense-Transformer
twin of the same shape) and a list of `Target` (a registered backend with its factory options, the
network it runs -- the hybrid butterfly network or the dense twin -- and, for the simulated dataflow
array, a fallback). Nothing here runs anything; `swallowtail.experiments.runner` does.

The full suite follows the paper's abstract (arXiv 2411.00734): the Long Range Arena tasks at their
sequence lengths (ListOps 2K, Text 4K, Retrieval 4K, Image 1K, Pathfinder 1K; Tay et al. 2021) and the
FABNet BERT-shaped networks (fabnet-base, fabnet-large) at L = 128 .. 4096, each on

- the dataflow array `df-4x4-simd8` with the multilayer and the single-layer dataflow (the simulator
  backends `dataflow-multilayer` / `dataflow-single-layer`; when a build does not register them, the
  array's roofline floor stands in -- labelled as such, never as a simulation),
- the Jetson Xavier NX running the same hybrid network, running it as PyTorch eager would (unfused
  butterfly kernels: a sensitivity point for the GPU kernel-fusion assumption), and running the dense
  Transformer of the same shape,
- FABNet's butterfly accelerator (BE-40, BE-120),
- the attention accelerators Sanger and SpAtten scaled to the array's peak ("same peak performance"),
- an output-stationary systolic array of the same peak.

`--quick` keeps every target (so every figure kind appears) on a subset of the workloads.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from swallowtail.nn.config import HybridConfig, get_preset

#: the reconstructed paper array every "same peak" comparison is scaled to
ARRAY_ARCH = "df-4x4-simd8"
#: backend names of the whole-network array simulator (compile + simulate + energy)
MULTILAYER_BACKEND = "dataflow-multilayer"
SINGLE_LAYER_BACKEND = "dataflow-single-layer"
#: what stands in for the array when its simulator is not registered: the roofline floor of the array
FLOOR_BACKEND = "roofline"
FLOOR_LABEL = f"{ARRAY_ARCH} roofline floor"

#: Long Range Arena task presets at their sequence lengths (Tay et al. 2021)
LRA_WORKLOADS: tuple[tuple[str, int], ...] = (
    ("lra-listops", 2048),
    ("lra-text", 4096),
    ("lra-retrieval", 4096),
    ("lra-image", 1024),
    ("lra-pathfinder", 1024),
)
#: the BERT-shaped FABNet networks and the sequence lengths they are swept over
FABNET_PRESETS: tuple[str, ...] = ("fabnet-base", "fabnet-large")
FABNET_SEQ_LENS: tuple[int, ...] = (128, 256, 512, 1024, 2048, 4096)
#: `--quick`: two LRA configs and fabnet-base at two lengths (every target, every figure kind)
QUICK_LRA: tuple[tuple[str, int], ...] = (("lra-listops", 2048), ("lra-image", 1024))
QUICK_FABNET: tuple[tuple[str, int], ...] = (("fabnet-base", 128), ("fabnet-base", 512))

#: network variants a target can run
HYBRID = "hybrid"
DENSE = "dense"
#: names of the dense twins of the BERT-shaped presets (the brief: `transformer` for fabnet-base, the
#: 24 x 1024 / 4096 / 16-head Transformer for fabnet-large); an LRA preset's twin is "<preset>-dense"
DENSE_TWIN_NAMES = {"fabnet-base": "transformer", "fabnet-large": "transformer-large"}
#: group of a workload in tables and figures
GROUP_LRA = "LRA"


def dense_twin(config: HybridConfig) -> HybridConfig:
    """The dense Transformer of the same shape: every block keeps dense softmax attention and a dense FFN."""
    return config.replace(attention_layers=config.n_layers, layout="top", attention="dense", ffn="dense")


@dataclass(frozen=True)
class WorkloadSpec:
    """One workload of the suite: `preset` at `seq_len` (batch 1), and its dense twin's name."""

    preset: str
    seq_len: int
    group: str

    @property
    def name(self) -> str:
        """The name `swallowtail.workload.lower` gives the hybrid workload."""
        return f"{self.preset}@L{self.seq_len}"

    @property
    def dense_label(self) -> str:
        return DENSE_TWIN_NAMES.get(self.preset, f"{self.preset}-dense")

    @property
    def dense_name(self) -> str:
        return f"{self.dense_label}@L{self.seq_len}"

    def config(self, network: str = HYBRID) -> HybridConfig:
        cfg = get_preset(self.preset)
        return dense_twin(cfg) if network == DENSE else cfg

    def label(self, network: str = HYBRID) -> str:
        return self.dense_label if network == DENSE else self.preset

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "preset": self.preset,
            "seq_len": self.seq_len,
            "group": self.group,
            "dense_twin": self.dense_name,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> WorkloadSpec:
        return cls(d["preset"], d["seq_len"], d["group"])


@dataclass(frozen=True)
class Target:
    """A backend the suite runs: `get_backend(backend, **options)` on the `network` variant.

    `fallback`: what runs instead when `backend` is not registered in this build (only the array's
    simulator has one); the report names every substitution.
    """

    key: str
    label: str
    backend: str
    role: str
    options: tuple[tuple[str, Any], ...] = ()
    network: str = HYBRID
    fallback: Target | None = None

    @property
    def options_dict(self) -> dict[str, Any]:
        return dict(self.options)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "key": self.key,
            "label": self.label,
            "backend": self.backend,
            "role": self.role,
            "options": self.options_dict,
            "network": self.network,
        }
        if self.fallback is not None:
            d["fallback"] = self.fallback.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Target:
        fallback = d.get("fallback")
        return cls(
            key=d["key"],
            label=d["label"],
            backend=d["backend"],
            role=d["role"],
            options=tuple(d["options"].items()),
            network=d["network"],
            fallback=None if fallback is None else cls.from_dict(fallback),
        )


#: roles of targets (used by the comparisons and the figures)
ROLE_ARRAY = "array"
ROLE_ARRAY_SINGLE = "array-single-layer"
ROLE_GPU = "gpu"
ROLE_GPU_EAGER = "gpu-eager"
ROLE_GPU_DENSE = "gpu-dense"
ROLE_FABNET = "fabnet"
ROLE_SAME_PEAK = "same-peak"
ROLE_SYSTOLIC = "systolic"

_ARRAY_OPTIONS = (("arch", ARRAY_ARCH),)
#: the GPU of the paper's abstract, with the stack a deployment would use and the one FABNet measured with
GPU_ARCH = "xavier-nx-15w"
#: the headline's GPU stack
GPU_STACK = "tensorrt-fp16"
_GPU_TRT = (("arch", GPU_ARCH), ("stack", GPU_STACK))
_GPU_EAGER = (("arch", GPU_ARCH), ("stack", "pytorch-eager-fp32"))
_SAME_PEAK = (("same_peak_as", ARRAY_ARCH),)
ARRAY_FLOOR = Target("array-floor", FLOOR_LABEL, FLOOR_BACKEND, ROLE_ARRAY, _ARRAY_OPTIONS)

#: every backend of the paper's evaluation, in report order
TARGETS: tuple[Target, ...] = (
    Target(
        "array-ml", "array, multilayer dataflow", MULTILAYER_BACKEND, ROLE_ARRAY, _ARRAY_OPTIONS,
        fallback=ARRAY_FLOOR,
    ),
    Target(
        "array-sl", "array, single-layer dataflow", SINGLE_LAYER_BACKEND, ROLE_ARRAY_SINGLE, _ARRAY_OPTIONS,
        fallback=ARRAY_FLOOR,
    ),
    Target("xavier", "Xavier NX, TensorRT FP16, hybrid net", "jetson", ROLE_GPU, _GPU_TRT),
    Target(
        "xavier-eager", "Xavier NX, PyTorch eager FP32, hybrid net", "jetson", ROLE_GPU_EAGER, _GPU_EAGER,
    ),
    Target(
        "xavier-dense", "Xavier NX, TensorRT FP16, dense Transformer", "jetson", ROLE_GPU_DENSE, _GPU_TRT,
        network=DENSE,
    ),
    Target("fabnet-be40", "FABNet BE-40", "fabnet-be40", ROLE_FABNET),
    Target("fabnet-be120", "FABNet BE-120", "fabnet-be120", ROLE_FABNET),
    Target("sanger", "Sanger @ array peak", "sanger", ROLE_SAME_PEAK, _SAME_PEAK),
    Target("spatten", "SpAtten @ array peak", "spatten", ROLE_SAME_PEAK, _SAME_PEAK),
    Target("systolic", "systolic 16x8 (same peak)", "systolic", ROLE_SYSTOLIC),
)  # fmt: skip


@dataclass(frozen=True)
class Suite:
    """Workloads x targets: what `swallowtail reproduce` runs."""

    name: str
    workloads: tuple[WorkloadSpec, ...]
    targets: tuple[Target, ...] = TARGETS
    description: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "array_arch": ARRAY_ARCH,
            "workloads": [w.to_dict() for w in self.workloads],
            "targets": [t.to_dict() for t in self.targets],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Suite:
        """A suite read back from `to_dict()` (results.json); `array_arch` is this build's, not read."""
        return cls(
            name=d["name"],
            workloads=tuple(WorkloadSpec.from_dict(w) for w in d["workloads"]),
            targets=tuple(Target.from_dict(t) for t in d["targets"]),
            description=d["description"],
        )


def _fabnet_workloads(pairs: tuple[tuple[str, int], ...]) -> tuple[WorkloadSpec, ...]:
    return tuple(WorkloadSpec(p, L, group=p) for p, L in pairs)


def _lra_workloads(pairs: tuple[tuple[str, int], ...]) -> tuple[WorkloadSpec, ...]:
    return tuple(WorkloadSpec(p, L, group=GROUP_LRA) for p, L in pairs)


def full_suite() -> Suite:
    """The paper's evaluation: 5 LRA tasks + fabnet-base / fabnet-large at 6 lengths, every target."""
    fabnet = tuple((p, L) for p in FABNET_PRESETS for L in FABNET_SEQ_LENS)
    return Suite(
        name="full",
        workloads=_lra_workloads(LRA_WORKLOADS) + _fabnet_workloads(fabnet),
        description="LRA ListOps/Text/Retrieval/Image/Pathfinder at their lengths; fabnet-base and "
        f"fabnet-large at L = {', '.join(map(str, FABNET_SEQ_LENS))}; every target",
    )


def quick_suite() -> Suite:
    """A subset for a fast check: 2 LRA configs + fabnet-base at 2 lengths, every target."""
    return Suite(
        name="quick",
        workloads=_lra_workloads(QUICK_LRA) + _fabnet_workloads(QUICK_FABNET),
        description="quick subset: "
        + ", ".join(f"{p}@L{L}" for p, L in QUICK_LRA + QUICK_FABNET)
        + "; every target",
    )


def get_suite(quick: bool = False) -> Suite:
    return quick_suite() if quick else full_suite()


__all__ = [
    "ARRAY_ARCH",
    "DENSE",
    "FLOOR_LABEL",
    "GPU_ARCH",
    "GPU_STACK",
    "HYBRID",
    "TARGETS",
    "Suite",
    "Target",
    "WorkloadSpec",
    "dense_twin",
    "full_suite",
    "get_suite",
    "quick_suite",
]
