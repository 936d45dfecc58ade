"""The rate cache of the block-level simulator: what its cycle-level probes measured, as an object.

    cache = RateCache()                                   # or RateCache(dense_cost_model="analytic")
    run = simulate_network(workload, arch, "multilayer", cache=cache)
    cache.hits, cache.misses                              # lookups answered / probes run
    pickle.dumps(cache)                                   # contents and counts travel with it

A probe (`swallowtail.sim.network.probes`) costs cycle-level simulations; its result depends only on the
arch, the op's shape without rows and the dataflow, so a design sweep can own one cache per process, share
it between runs and backends, and persist it (`save` / `load`). Four tables, each keyed as its probe says:

- `kernels`: butterfly / FFT steady rates (`KernelRate`) by (arch, kernel shape, dataflow);
- `dense`: dense-op steady rates (`DenseRate`) by (arch, dense spec without rows);
- `whole`: cycles of an op alone, DRAM to DRAM, simulated whole, by its full shape;
- `alone`: (fill / drain, cycles per unit) of a larger op alone, by (arch, dense spec without rows).

The cache also carries the *dense cost model*: how a non-fused dense op is costed -- "cycle" (its dense
Program on the cycle-level simulator) or "analytic" (the per-PE models of `swallowtail.compiler.dense`, for
comparison). It does not change what the tables hold, only whether the dense tables are consulted.
"""

from __future__ import annotations

import dataclasses
import io
import pickle
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from swallowtail.atomicio import write_atomic
from swallowtail.errors import SpecError, check_choice

#: how non-fused dense ops are costed: "cycle" (dense Programs on the cycle-level simulator, `dense_rate`)
#: or "analytic" (the per-PE models of swallowtail.compiler.dense, for comparison)
DENSE_COST_MODELS = ("cycle", "analytic")
#: the dense cost model of a RateCache made without one
DEFAULT_DENSE_COST_MODEL = "cycle"
#: the tables of a RateCache, in the order `stats` lists them
TABLES = ("kernels", "dense", "whole", "alone")

V = TypeVar("V")


@dataclass(eq=True)
class RateCache:
    """Memoised probe results of the block-level simulator, with hit / miss counts (picklable)."""

    dense_cost_model: str = DEFAULT_DENSE_COST_MODEL
    kernels: dict[tuple, Any] = field(default_factory=dict)
    dense: dict[tuple, Any] = field(default_factory=dict)
    whole: dict[tuple, int] = field(default_factory=dict)
    alone: dict[tuple, tuple[float, float]] = field(default_factory=dict)
    hits: int = 0
    misses: int = 0

    def __post_init__(self) -> None:
        check_choice("dense_cost_model", self.dense_cost_model, DENSE_COST_MODELS)

    def lookup(self, table: str, key: tuple, compute: Callable[[], V]) -> V:
        """The entry `key` of `table` (a hit), or `compute()` stored there (a miss; nothing is stored when it
        raises)."""
        store = self._table(table)
        if key in store:
            self.hits += 1
            return store[key]
        self.misses += 1
        value = compute()
        store[key] = value
        return value

    def peek(self, table: str, key: tuple) -> Any:
        """The entry without counting a lookup (for notes about what a run used)."""
        return self._table(table)[key]

    def clear(self) -> None:
        """Forget every entry and reset the counts (a changed simulator; tests)."""
        for t in TABLES:
            self._table(t).clear()
        self.hits = self.misses = 0

    def stats(self) -> dict[str, int]:
        """Entries per table, hits and misses."""
        return {**{t: len(self._table(t)) for t in TABLES}, "hits": self.hits, "misses": self.misses}

    def keys(self) -> dict[str, set[tuple]]:
        """The keys of every table (a snapshot, for `entries_since`)."""
        return {t: set(self._table(t)) for t in TABLES}

    def entries_since(self, keys: Mapping[str, set[tuple]] | None) -> RateCache:
        """A RateCache of the entries whose key is not in the snapshot `keys` (None: every entry), with this
        cache's dense cost model and no counts: what this cache probed since, to send to other processes."""
        new = RateCache(dense_cost_model=self.dense_cost_model)
        for t in TABLES:
            seen = () if keys is None else keys.get(t, ())
            new._table(t).update((k, v) for k, v in self._table(t).items() if k not in seen)
        return new

    def merge(self, other: RateCache) -> None:
        """Add the entries of `other` (probed elsewhere, or its `entries_since`), which must have this cache's
        dense cost model; an entry already here is kept (a probe's value depends only on its key). Counts
        unchanged."""
        if not isinstance(other, RateCache):
            raise SpecError("RateCache.merge", type(other).__name__, "a RateCache")
        if other.dense_cost_model != self.dense_cost_model:
            raise SpecError(
                "RateCache.dense_cost_model",
                other.dense_cost_model,
                f"{self.dense_cost_model!r} (the cache merged into)",
            )
        for t in TABLES:
            store = self._table(t)
            for k, v in other._table(t).items():
                store.setdefault(k, v)

    def __len__(self) -> int:
        return sum(len(self._table(t)) for t in TABLES)

    def save(self, path: str | Path) -> None:
        """Persist the cache (pickle): contents, counts and dense cost model."""
        data = pickle.dumps(self)
        write_atomic(path, lambda fh: fh.write(data), mode="wb")

    @classmethod
    def load(cls, path: str | Path) -> RateCache:
        """A cache written by `save`; a SpecError naming the file for anything else (`loads`)."""
        try:
            return cls.loads(Path(path).read_bytes())
        except ValueError as exc:
            raise SpecError("RateCache file", str(path), f"a RateCache that `save` wrote ({exc})") from None

    @classmethod
    def loads(cls, blob: bytes) -> RateCache:
        """A cache pickled by `save` or a store. Only swallowtail's dataclasses (the cache and its rate
        records) are rebuilt, never a callable, so a tampered file cannot run code; anything else is a
        ValueError."""
        try:
            obj = _RecordUnpickler(io.BytesIO(blob)).load()
        except (pickle.UnpicklingError, EOFError, AttributeError, ImportError, TypeError, IndexError) as exc:
            raise ValueError(f"not a pickled RateCache: {exc}") from None
        if not isinstance(obj, cls):
            raise ValueError(f"not a pickled RateCache: a {type(obj).__name__}")
        return obj

    def _table(self, table: str) -> dict:
        if table not in TABLES:
            raise KeyError(f"no RateCache table {table!r}: one of {list(TABLES)}")
        return getattr(self, table)


class _RecordUnpickler(pickle.Unpickler):
    """An unpickler that rebuilds swallowtail's dataclasses only (what a RateCache holds), never a function
    or any other class: loading a cache cannot run code."""

    def find_class(self, module: str, name: str) -> Any:
        if module.split(".")[0] == "swallowtail":
            obj = super().find_class(module, name)
            if isinstance(obj, type) and dataclasses.is_dataclass(obj):
                return obj
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} (not a swallowtail record)")


#: the cache of runs and backends given none: one per process, as the memo was before RateCache
_DEFAULT_CACHE = RateCache()


def default_cache() -> RateCache:
    """The process-wide RateCache that `simulate_network` and the dataflow backends use when given none."""
    return _DEFAULT_CACHE


def clear_memo() -> None:
    """Forget the default cache's probes (tests; a changed simulator)."""
    _DEFAULT_CACHE.clear()
