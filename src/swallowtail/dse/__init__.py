"""swallowtail.dse: design-space exploration of the dataflow array.

    spec = resolve_sweep("around-df-4x4-simd8")         # a shipped sweep, or a path to a YAML sweep spec
    summary = run_sweep(spec, Store("sweep.db"), executor="local", workers=2)

- `spec`: the strict sweep spec (params, balance, workloads, backends, objectives, constraints, sampling);
- `space`: points -- grid / random draws, balanced machines, stable point ids;
- `evaluate`: a task of points (or one reference backend) -> stored rows with the same metrics for every
  backend, in any process;
- `store`: the SQLite (WAL) results store -- resume, crash safety, the shared rate cache, export;
- `execute`: the driver -- local process pool or Ray, Optuna's NSGA-II / TPE;
- `report`: Pareto fronts, sensitivity and the best points, as HTML.
"""

from __future__ import annotations

from pathlib import Path

from swallowtail.arch.specbase import read_yaml_file
from swallowtail.dse.spec import SweepSpec, load_sweep, parse_sweep
from swallowtail.errors import SpecError
from swallowtail.yamlio import is_file

#: the sweeps shipped with the package
SWEEP_DIR = Path(__file__).parent / "sweeps"


def list_sweeps() -> dict[str, str]:
    """Shipped sweep names and their descriptions."""
    return {p.stem: str(read_yaml_file(p).get("description", "")) for p in sorted(SWEEP_DIR.glob("*.yaml"))}


def resolve_sweep(name_or_path: str | Path) -> SweepSpec:
    """A shipped sweep by name, or a sweep spec file."""
    s = str(name_or_path)
    shipped = SWEEP_DIR / f"{s}.yaml"
    if "/" not in s and not s.endswith((".yaml", ".yml")):
        if is_file(shipped):  # False, not an OSError, for a name too long to look up
            return parse_sweep(read_yaml_file(shipped), source=f"sweep {s}")
        raise SpecError("SWEEP", s, f"a sweep YAML file or one of {sorted(list_sweeps())}")
    return load_sweep(s)


__all__ = ["SWEEP_DIR", "list_sweeps", "resolve_sweep"]
