"""Time the hybrid networks' kernels on this machine's GPU and check the GPU model's kernel assumptions.

    .venv/bin/python benchmarks/gpu_kernels.py                      # CUDA if present; kernels-<date>.yaml
    .venv/bin/python benchmarks/gpu_kernels.py --out k.yaml --arch h100-sxm-max --seq-len 1024
    .venv/bin/python benchmarks/gpu_kernels.py --check k.yaml       # only check a file already written
    .venv/bin/python benchmarks/gpu_kernels.py --seq-len 256 --model lra-listops --arch h100-sxm-max  # CPU

The same as `swallowtail baseline measure-kernels` followed by `check-kernels`
(`swallowtail.experiments.kernels`, `swallowtail.experiments.kernel_check`): every distinct op of fabnet-base
at L = 1024 and 4096, FP16 and FP32 (each butterfly also fused into one Triton kernel), timed alone (CUDA
graph, L2 flushed, median of 30); three values fitted on it (per-launch time, DRAM efficiency, GEMM
efficiency), every other case predicted by the model on the GPU's preset with the PyTorch-eager stacks'
assumptions (a fused butterfly with the TensorRT stacks'). On a CPU it runs, but the times say nothing about a
GPU: use it there only to see that the script works (`--seq-len 256 --model lra-listops`, and `--arch`: no
preset describes a CPU). Bad input is one line on stderr and exit status 2, as in the CLI.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import time
from pathlib import Path

from swallowtail.errors import SpecError
from swallowtail.experiments.kernel_check import TARGET_ERROR, check_kernels
from swallowtail.experiments.kernels import (
    DEFAULT_MODEL,
    DEFAULT_SEQ_LENS,
    load_measurements,
    measure_kernels,
    write_measurements,
)


def _us(s: float | None) -> str:
    return "-" if s is None else f"{s * 1e6:.1f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, help="measurement file to write (default kernels-<date>.yaml)")
    ap.add_argument("--check", type=Path, help="check this measurement file instead of measuring")
    ap.add_argument("--arch", help="the GPU's preset (default: found from the device name and SM count)")
    ap.add_argument("--model", default=DEFAULT_MODEL)
    ap.add_argument("--seq-len", type=int, action="append", help="repeatable (default 1024, 4096)")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--reps", type=int, default=30)
    ap.add_argument("--json", action="store_true", help="print the check as JSON")
    args = ap.parse_args()
    try:
        run(args)
    except SpecError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def run(args: argparse.Namespace) -> None:
    t0 = time.perf_counter()
    if args.check is not None:
        m = load_measurements(args.check)
    else:
        seq_lens = tuple(args.seq_len or DEFAULT_SEQ_LENS)
        m = measure_kernels(args.model, seq_lens, device=args.device, reps=args.reps)
        out = args.out or Path(f"kernels-{datetime.date.today().isoformat()}.yaml")
        write_measurements(m, out)
        print(f"wrote {out} ({m.device}, torch {m.torch}, CUDA {m.cuda}) in {time.perf_counter() - t0:.0f} s")
    report = check_kernels(m, args.arch)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
        return
    print(f"{m.device} as {report.arch}; stacks {report.stacks}")
    for row in m.launch:
        print(
            f"  launch {row.mode:<13} {_us(row.per_op_s):>8} us/op ({m.launch_chain} in a chain) "
            f"{row.error or ''}"
        )
    for f in report.fitted:
        shipped = "-" if f.shipped is None else f"{f.shipped:.4g}"
        value = "-" if f.value is None else f"{f.value:.4g}"
        print(f"  fitted {f.dtype} {f.parameter:<31} {value:>10} (stack: {shipped}) on {f.case} {f.note}")
    print(
        f"{'case':<24} {'L':>5} {'dtype':<5} {'meas us':>10} {'model us':>10} {'error':>8} {'role':<7} "
        f"{'meas/GEMM':>9} {'model/GEMM':>10} model kernels, bound"
    )
    for c in report.checks:
        err = "" if c.error is None else f"{c.error:+.1%}"
        mg = "-" if c.measured_vs_gemm is None else f"{c.measured_vs_gemm:.3g}"
        dg = "-" if c.model_vs_gemm is None else f"{c.model_vs_gemm:.3g}"
        print(
            f"{c.case:<24} {c.seq_len:>5} {c.dtype:<5} {_us(c.measured_s):>10} {_us(c.model_s):>10} {err:>8} "
            f"{c.role:<7} {mg:>9} {dg:>10} {c.model_kernels} {c.bound or c.note}"
        )
    print(f"{report.within_target()} of {len(report.predicted())} predicted cases within {TARGET_ERROR:.0%}")


if __name__ == "__main__":
    main()
