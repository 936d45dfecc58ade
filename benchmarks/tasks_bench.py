"""Generation speed of the LRA-like task generators, on one core: `python benchmarks/tasks_bench.py`.

Prints a table: ListOps examples/s at LRA's lengths (500-2000 tokens) and Pathfinder 32x32 images/s at the
three LRA contour lengths (6, 9, 14). Targets: Pathfinder >= 200 images/s at contour length 14 (the original
generator takes 0.07-0.5 s per image). The process is pinned to one CPU and BLAS/OpenMP to one thread.
"""

from __future__ import annotations

import argparse
import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import time  # noqa: E402

import numpy as np  # noqa: E402

from swallowtail.tasks import listops, pathfinder  # noqa: E402

PATHFINDER_TARGET = 200.0  # images/s at contour length 14, one core


def _pin_one_core() -> str:
    if hasattr(os, "sched_setaffinity"):
        cpu = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpu})
        return f"cpu {cpu}"
    return "not pinned"


def _rate(fn, n: int, repeats: int) -> tuple[float, float]:
    """Best and median items/s over `repeats` runs of fn(seed) that make n items."""
    rates = []
    for r in range(repeats):
        t = time.perf_counter()
        fn(r)
        rates.append(n / (time.perf_counter() - t))
    return max(rates), float(np.median(rates))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--listops-n", type=int, default=2000, help="ListOps examples per run")
    ap.add_argument("--pathfinder-n", type=int, default=1024, help="Pathfinder images per run")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    where = _pin_one_core()

    rows = []
    best, med = _rate(lambda s: listops.generate(args.listops_n, seed=s), args.listops_n, args.repeats)
    rows.append(("ListOps, lengths 500-2000", "examples/s", best, med, None))
    for cl in (6, 9, 14):
        cfg = pathfinder.PathfinderConfig(contour_length=cl)

        def gen(seed: int, c: pathfinder.PathfinderConfig = cfg) -> None:
            pathfinder.generate(args.pathfinder_n, seed=seed, config=c)

        best, med = _rate(gen, args.pathfinder_n, args.repeats)
        target = PATHFINDER_TARGET if cl == 14 else None
        rows.append((f"Pathfinder 32x32, contour {cl}", "images/s", best, med, target))

    print(f"swallowtail.tasks generation speed (one core: {where}; best / median of {args.repeats} runs)")
    print(f"{'generator':<30} {'unit':<11} {'best':>9} {'median':>9}  target")
    for name, unit, b, m, target in rows:
        verdict = "" if target is None else f">= {target:.0f} {'ok' if m >= target else 'MISSED'}"
        print(f"{name:<30} {unit:<11} {b:>9.0f} {m:>9.0f}  {verdict}")


if __name__ == "__main__":
    main()
