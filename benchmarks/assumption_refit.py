"""An assumed value of the Jetson GPU model, varied with the fitted values refitted: is it pinned by the
published measurements, and what does it do to the headline?

    .venv/bin/python benchmarks/assumption_refit.py                                   # dram_efficiency
    .venv/bin/python benchmarks/assumption_refit.py --param vector_efficiency --values 0.25,0.5,1
    .venv/bin/python benchmarks/assumption_refit.py --json

For each value: every shipped stack with it (`swallowtail.baselines.validation.refit`), every `role: fit`
point fitted again (under a minute each), then every published point checked -- how many fitted points the
fit could still meet (a fitted parameter that hits its bound cannot), how many predicted points fall within
20 %, the worst -- and the quick suite's headline (the array's geomean speedup against the report's
denominator, xavier-nx-15w with tensorrt-fp16, and the same engine as a CUDA graph). A value that leaves
fitted points unmet or predicted points outside the target is one the published measurements rule out; the
report's table of assumptions (`reproduce`) moves one value with nothing refitted.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from swallowtail.arch.specbase import parse_yaml
from swallowtail.backends import get_backend
from swallowtail.baselines.validation import TARGET_ERROR, Refit, refit, summarize
from swallowtail.errors import SpecError
from swallowtail.experiments import get_suite
from swallowtail.experiments.compare import ArrayRuns, against, array_runs
from swallowtail.experiments.explain import GRAPHS_STACK
from swallowtail.experiments.runner import run_pairs
from swallowtail.experiments.suite import GPU_ARCH, GPU_STACK

#: a fitted point counts as met when the refitted model is this close to it (a fit meets its point to the
#: 4 written digits unless its parameter hits a bound)
MET = 0.005


def _row(param: str, value: float, r: Refit, arrays: ArrayRuns, seconds: float) -> dict[str, object]:
    s = summarize(r.checks)
    fits = [c for c in r.checks if c.point.role == "fit"]
    unmet = [c.point.id for c in fits if abs(c.error) > MET]
    headline = {
        stack: against(get_backend("jetson", arch=GPU_ARCH, stack=r.state.stack(stack)), arrays)[0].geomean
        for stack in (GPU_STACK, GRAPHS_STACK)
    }
    return {
        "param": param,
        "value": value,
        "fitted_met": len(fits) - len(unmet),
        "fitted": len(fits),
        "unmet": unmet,
        "within_target": s.within_target,
        "predicted": s.predicted,
        "worst_id": s.worst_id,
        "worst_error": s.worst_error,
        "fitted_values": {f"{f.stack}:{f.parameter}": f.value for f in r.fitted},
        "headline": headline,
        "seconds": seconds,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--param", default="dram_efficiency", help="a stack field (every shipped stack gets it)")
    ap.add_argument("--values", default="0.5,0.6,0.7,0.8,0.9,1.0", help="comma-separated values")
    ap.add_argument("--json", action="store_true", help="print JSON")
    args = ap.parse_args()
    values = [parse_yaml(v, source="--values") for v in args.values.split(",")]  # 7 an int, 0.7 a float
    arrays = array_runs(run_pairs(get_suite(quick=True)))
    rows = []
    for v in values:
        t0 = time.perf_counter()
        try:
            r = refit({args.param: v})
        except SpecError as exc:  # a value the field does not take: one line, as the CLI says it
            print(f"error: {exc}", file=sys.stderr)
            raise SystemExit(2) from None
        rows.append(_row(args.param, v, r, arrays, time.perf_counter() - t0))
        if not args.json:
            x = rows[-1]
            worst = f"{x['worst_id']} {x['worst_error']:+.1%}"
            h = x["headline"]
            print(
                f"{args.param}={v:<6g} fitted met {x['fitted_met']:>2}/{x['fitted']:<2} predicted within "
                f"{TARGET_ERROR:.0%} {x['within_target']:>2}/{x['predicted']:<2} worst {worst:<45} headline "
                f"{h[GPU_STACK]:.3f}x ({GRAPHS_STACK} {h[GRAPHS_STACK]:.3f}x) {x['seconds']:.0f} s",
                flush=True,
            )
            if x["unmet"]:
                print(f"    unmet fits: {', '.join(x['unmet'])}", flush=True)
    if args.json:
        print(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
