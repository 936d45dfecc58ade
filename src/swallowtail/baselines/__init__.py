"""swallowtail.baselines: the machines the paper compares against (docs/architecture.md).

Every baseline answers `run(workload) -> Result` (the one result type) and is found by name in the backend
registry of `swallowtail.backends`, which registers the table below lazily (each factory is a
"module:callable" string, imported on first use):

    from swallowtail.backends import get_backend
    get_backend("sanger", same_peak_as="df-4x4-simd8").run(workload)

| name | model | module |
|---|---|---|
| `jetson` | Jetson boards (`arch=<board>-<mode>`) x software stacks (`stack=...`), validated | `jetson` |
| `xavier-nx` | `jetson` on `xavier-nx-15w` by default | `jetson` |
| `fabnet-be40`, `fabnet-be120`, `fabnet-be120-ddr3` | FABNet's butterfly accelerator (MICRO'22) | `fabnet` |
| `sanger`, `spatten` | attention accelerators, scalable to a peak (`same_peak_as=...`) | `attention_accels` |
| `systolic` | output-stationary systolic array, GEMM cycles = SCALE-Sim v3 | `systolic` |

This module imports nothing heavy: the models load when a backend is first requested.
"""

from __future__ import annotations

#: name -> ("module:callable" factory, one-line description)
BACKENDS: dict[str, tuple[str, str]] = {
    "jetson": (
        "swallowtail.baselines.jetson:make_jetson",
        "Jetson GPU boards (arch=<board>-<mode>) x software stacks (stack=tensorrt-int8|tensorrt-fp16|"
        "pytorch-eager-fp16|pytorch-eager-fp32): kernel-level model, energy = power under load x time",
    ),
    "xavier-nx": (
        "swallowtail.baselines.jetson:make_xavier",
        "Jetson Xavier NX (xavier-nx-15w unless arch= names another board) x a software stack (stack=...)",
    ),
    "fabnet-be40": (
        "swallowtail.baselines.fabnet:make_fabnet_be40",
        "FABNet butterfly accelerator, 40 butterfly engines, HBM (memory='ddr3' for DDR3)",
    ),
    "fabnet-be120": (
        "swallowtail.baselines.fabnet:make_fabnet_be120",
        "FABNet butterfly accelerator, 120 butterfly engines, HBM (memory='ddr3' for DDR3)",
    ),
    "fabnet-be120-ddr3": (
        "swallowtail.baselines.fabnet:make_fabnet_be120_ddr3",
        "FABNet butterfly accelerator, 120 butterfly engines, DDR3",
    ),
    "sanger": (
        "swallowtail.baselines.attention_accels:make_sanger",
        "Sanger (MICRO'21) sparse-attention accelerator; same_peak_as=ARCH scales it to a peak",
    ),
    "spatten": (
        "swallowtail.baselines.attention_accels:make_spatten",
        "SpAtten (HPCA'21) token/head-pruning attention accelerator; same_peak_as=ARCH scales it to a peak",
    ),
    "systolic": (
        "swallowtail.baselines.systolic:make_systolic",
        "Output-stationary systolic array (TPU-like, 256 GOPS by default), GEMM cycles = SCALE-Sim v3",
    ),
}


__all__ = ["BACKENDS"]
