"""`swallowtail demo`: the most complete real job that exists, on the embedded defaults.

Today: the hybrid network `fabnet-base` at 1024 tokens -- its per-layer counts, its workload, the roofline
floor on the reconstructed dataflow array and on the Jetson Xavier NX. (`make demo` follows it with the
speed check of the butterfly layers against dense ones on this CPU, benchmarks/nn_bench.py.)
"""

from __future__ import annotations

from swallowtail.cli._common import console

#: the embedded default of the demo
DEMO_MODEL = "fabnet-base"
DEMO_SEQ_LEN = 1024
DEMO_ARCHS = ("df-4x4-simd8", "xavier-nx-15w")


def demo() -> None:
    """Run the main job on the embedded default (a tour of what swallowtail can do today)."""
    from swallowtail.backends import get_backend
    from swallowtail.cli._common import print_result
    from swallowtail.cli.model import summary
    from swallowtail.workload.lower import lower

    console.rule(f"[bold]1. the network: {DEMO_MODEL} at {DEMO_SEQ_LEN} tokens")
    summary(DEMO_MODEL, seq_len=DEMO_SEQ_LEN, batch=1, json_out=False)

    workload = lower(DEMO_MODEL, DEMO_SEQ_LEN, name=DEMO_MODEL)
    for arch in DEMO_ARCHS:
        console.rule(f"[bold]2. the roofline floor on {arch}")
        print_result(get_backend("roofline", arch=arch).run(workload), top_ops=5)
