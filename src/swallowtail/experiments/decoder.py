"""The decoder study of `swallowtail reproduce`: Llama-shaped decoders with structured MLPs on the array and
on the GPU stacks (the workloads of the paper's successor, MLX).

The prefill of the `llama` family (`swallowtail.workload.decoder`) -- the dense SiLU-gated MLP, its Monarch
version and the block-sparse ones (blocks of 16, 32, 64: the block size sweep) -- on the dataflow array
(`DECODER_ARRAYS`: the reconstruction and its balanced 4x larger preset) and on Jetson (board, stack)
pairs (`DECODER_GPUS`). Per (model, target): latency, energy, the backend's own utilization and the FLOP
efficiency of the MLP projections alone (their FLOPs over peak x their time): a structured MLP only pays
off where its kernels keep the machine busy.

Nothing is fitted here; every number comes from the backends as they are.
"""

from __future__ import annotations

from collections.abc import Callable

from swallowtail.backends import get_backend
from swallowtail.experiments.records import DecoderRow, DecoderStudy
from swallowtail.result import Result
from swallowtail.workload.decoder import LLAMA_VARIANTS
from swallowtail.workload.lower import lower

#: the decoder models of the full study: Llama-2-7B's shape, every MLP, causal attention
DECODER_MODELS = ("llama-7b", "llama-7b-monarch", "llama-7b-bs16", "llama-7b-bs32", "llama-7b-bs64")
#: the prefill length of the full study (MLX's and issue 17's 2048-token prefill)
DECODER_SEQ_LEN = 2048
#: `--quick`: the small decoder (no bs64: its MLP width 1376 is not a multiple of 64) at 512 tokens
QUICK_DECODER_MODELS = ("llama-small", "llama-small-monarch", "llama-small-bs16", "llama-small-bs32")
QUICK_DECODER_SEQ_LEN = 512
#: the array targets: (label, backend, options)
DECODER_ARRAYS = (
    ("array df-4x4-simd8", "dataflow-multilayer", {"arch": "df-4x4-simd8"}),
    ("array df-8x8-simd8", "dataflow-multilayer", {"arch": "df-8x8-simd8"}),
)
#: the GPU targets: Xavier NX (20 W, the board of the validated MLPerf points) with TensorRT and eager
#: PyTorch, and AGX Orin with TensorRT (a current board)
DECODER_GPUS = (
    ("xavier-nx-20w / tensorrt-fp16", "jetson", {"arch": "xavier-nx-20w", "stack": "tensorrt-fp16"}),
    (
        "xavier-nx-20w / pytorch-eager-fp16",
        "jetson",
        {"arch": "xavier-nx-20w", "stack": "pytorch-eager-fp16"},
    ),
    ("agx-orin-maxn / tensorrt-fp16", "jetson", {"arch": "agx-orin-maxn", "stack": "tensorrt-fp16"}),
)
#: the ops of the MLP projections (a Monarch's two stages, a block-sparse op's nonzero-block GEMM)
MLP_PROJECTIONS = (".mlp.gate", ".mlp.up", ".mlp.down")


def mlp_efficiency(result: Result) -> float:
    """FLOPs of the MLP projections over peak x their time (comparable across machines)."""
    ops = [o for o in result.ops if any(p in o.name for p in MLP_PROJECTIONS)]
    t = sum(o.latency_s for o in ops)
    return sum(o.flops for o in ops) / (result.peak_ops_per_s * t) if t > 0 else 0.0


def _row(model: str, label: str, result: Result) -> DecoderRow:
    return DecoderRow(
        model=model,
        mlp=LLAMA_VARIANTS[model].mlp,
        target=label,
        latency_s=result.latency_s,
        energy_j=result.energy_j,
        flops=result.useful_ops,
        utilization=result.utilization,
        mlp_efficiency=mlp_efficiency(result),
    )


def run_decoder(quick: bool, progress: Callable[[int, int], None] | None = None) -> DecoderStudy:
    """Every decoder model on every target (models outer), at the study's prefill length."""
    models = QUICK_DECODER_MODELS if quick else DECODER_MODELS
    seq_len = QUICK_DECODER_SEQ_LEN if quick else DECODER_SEQ_LEN
    targets = DECODER_ARRAYS + DECODER_GPUS
    rows: list[DecoderRow] = []
    for model in models:
        w = lower(model, seq_len)
        for label, backend, options in targets:
            rows.append(_row(model, label, get_backend(backend, **options).run(w)))
            if progress:
                progress(len(rows), len(models) * len(targets))
    return DecoderStudy(
        seq_len=seq_len,
        models=models,
        arrays=tuple(t[0] for t in DECODER_ARRAYS),
        gpus=tuple(t[0] for t in DECODER_GPUS),
        rows=tuple(rows),
    )


__all__ = ["DECODER_ARRAYS", "DECODER_GPUS", "DECODER_MODELS", "mlp_efficiency", "run_decoder"]
