"""The results store of design sweeps: one SQLite file in WAL mode, safe against crashes and kills.

    store = Store("sweep.db")
    store.done()                       # {(point_id, workload, backend)} already stored: what a rerun skips
    store.write(rows, points, sweep)   # a task's rows, all in one transaction
    store.rows(sweep="around-df")      # StoredRow records

Tables:

- `rows`: one row per (point_id, workload, backend) -- the primary key, so a point is never stored twice --
  with its status, params, metrics (JSON), the full Result JSON, the sweep that wrote it and the package
  version;
- `points`: the machine of every point (its full arch spec as JSON);
- `sweeps`: every sweep spec that wrote to the store (JSON), by name;
- `members`: the points (and reference backends) of every sweep -- including those another sweep had
  already stored, so that the rows *of* a sweep are not only the rows it wrote;
- `rate_cache`: the sweep's shared rate cache (pickled, by dense cost model), so a rerun or a second sweep
  over the same machines probes nothing twice.

Why it survives a SIGKILL: a task's rows go in one transaction (`with conn:`); SQLite's WAL journal makes a
transaction all-or-nothing, so a killed writer leaves either every row of the task or none, and the next
opener rolls the rest back. `INSERT OR IGNORE` on the primary key means a point finished twice (two writers,
a retried task) is stored once. Several processes may write at once (`busy_timeout`).
"""

from __future__ import annotations

import csv
import json
import math
import pickle
import sqlite3
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import swallowtail
from swallowtail.atomicio import finite_json, write_atomic
from swallowtail.dse.evaluate import Row, backend_keys, row_key, workload_keys
from swallowtail.dse.space import DesignPoint
from swallowtail.dse.spec import SweepSpec
from swallowtail.errors import SpecError, is_real
from swallowtail.sim.network import RateCache
from swallowtail.yamlio import is_file

#: the layout this code reads and writes (a store with another refuses to open)
STORE_SCHEMA = 1
#: ms a writer waits for another's lock before giving up
BUSY_TIMEOUT_MS = 60_000
#: export formats
EXPORT_FORMATS = ("csv", "jsonl")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sweeps (name TEXT PRIMARY KEY, spec TEXT NOT NULL, version TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS points (point_id TEXT PRIMARY KEY, arch TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS rows (
    point_id TEXT NOT NULL, workload TEXT NOT NULL, backend TEXT NOT NULL,
    status TEXT NOT NULL, params TEXT NOT NULL, metrics TEXT NOT NULL,
    result TEXT, reason TEXT, sweep TEXT NOT NULL, version TEXT NOT NULL,
    PRIMARY KEY (point_id, workload, backend)
);
CREATE TABLE IF NOT EXISTS members (
    sweep TEXT NOT NULL, point_id TEXT NOT NULL, PRIMARY KEY (sweep, point_id)
);
CREATE TABLE IF NOT EXISTS rate_cache (dense_cost_model TEXT PRIMARY KEY, blob BLOB NOT NULL);
"""


#: the tables a file must have to be read as a sweep store (rate_cache is added when missing)
STORE_TABLES = frozenset({"meta", "sweeps", "points", "rows", "members"})


@dataclass(frozen=True)
class StoredRow:
    """A row as read back: the evaluated Row plus who wrote it."""

    row: Row
    sweep: str
    version: str

    @property
    def key(self) -> tuple[str, str, str]:
        return row_key(self.row)


#: the files SQLite keeps beside a database (name + suffix): its write-ahead log, shared memory, journal
SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")
#: the first bytes of every SQLite 3 database file
SQLITE_HEADER = b"SQLite format 3\x00"


def is_sqlite_file(path: str | Path) -> bool:
    """Whether `path` is a regular file that starts as an SQLite database does (an empty file does not)."""
    p = Path(path)
    if not is_file(p):  # a link to a store is one
        return False
    with p.open("rb") as fh:
        return fh.read(len(SQLITE_HEADER)) == SQLITE_HEADER


class Store:
    """A sweep results store (SQLite, WAL). Open one per process; it is not shared across processes."""

    def __init__(
        self, path: str | Path, field: str = "--store", new_ok: bool = True, read_only: bool = False
    ) -> None:
        """`field`: the option or argument that named `path`, for errors; `new_ok`: whether a new (empty)
        store is what the caller may want (`dse run`) or not (`dse report`, `export`: `what` says so);
        `read_only`: open an existing store only to read it (a store on a read-only file or medium)."""
        if not isinstance(path, str | Path):
            raise SpecError(field, type(path).__name__, "a path to an SQLite sweep store")
        p = Path(path)
        self.field = field
        self.what = "an SQLite sweep store or a new file" if new_ok else "a sweep store written by dse run"
        if p.is_dir():
            raise SpecError(field, str(p), "a file path (an SQLite store), not a folder")
        if p.exists() and not p.is_file():
            raise SpecError(
                field, str(p), "a file path (an SQLite store), not a device or other special file"
            )
        if not p.parent.is_dir():
            raise SpecError(field, str(p), f"a path in an existing folder ({p.parent} does not exist)")
        self.path = p
        try:
            self._connect(read_only)
            schema = self.conn.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            if "locked" in str(exc):
                why = f"a store no other process holds locked (locked for {BUSY_TIMEOUT_MS // 1000} s)"
                raise SpecError(field, str(p), why) from None
            raise SpecError(field, str(p), f"{self.what} ({exc})") from None
        if schema != str(STORE_SCHEMA):
            raise SpecError(field, str(p), f"a store of schema {STORE_SCHEMA} (this one: {schema})")

    def _connect(self, read_only: bool) -> None:
        """Open the database: read-only as it is, or for writing with the store's tables made (WAL)."""
        if read_only:
            uri = f"{self.path.resolve().as_uri()}?mode=ro"
            self.conn = sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
            self._refuse_other_databases()
            return
        self.conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
        self._refuse_other_databases()
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        self.conn.execute("PRAGMA synchronous=NORMAL")
        with self._tx():
            for stmt in filter(str.strip, _SCHEMA.split(";")):
                self.conn.execute(stmt)
            self.conn.execute("INSERT OR IGNORE INTO meta VALUES ('schema', ?)", (str(STORE_SCHEMA),))

    def _refuse_other_databases(self) -> None:
        """An SQLite file with tables is a sweep store only if it has a store's tables and schema row: any
        other database is refused before anything is written into it (tables, WAL mode)."""
        tables = {r[0] for r in self.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if not tables:
            return
        missing = sorted(STORE_TABLES - tables)
        schema = None if missing else self.conn.execute("SELECT 1 FROM meta WHERE key = 'schema'").fetchone()
        if missing or schema is None:
            self.conn.close()
            found = ", ".join(sorted(tables))
            raise SpecError(self.field, str(self.path), f"{self.what} (its tables: {found})")

    def _tx(self) -> _Transaction:
        return _Transaction(self.conn)

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- writing --------------------------------------------------------------------------------------
    def begin_sweep(self, spec: SweepSpec) -> bool:
        """Record `spec` under its name. A stored spec of that name that differs is replaced, and the points
        its runs listed are dropped from the sweep (their rows stay, for any sweep that meets the same
        machine again): `report --sweep` shows the current spec's points only. True if it replaced one."""
        text = spec.model_dump_json()
        with self._tx():
            old = self.conn.execute("SELECT spec FROM sweeps WHERE name = ?", (spec.name,)).fetchone()
            replaced = old is not None and old[0] != text
            if replaced:
                self.conn.execute("DELETE FROM members WHERE sweep = ?", (spec.name,))
            self.conn.execute(
                "INSERT OR REPLACE INTO sweeps VALUES (?, ?, ?)", (spec.name, text, swallowtail.__version__)
            )
        return replaced

    def write(self, rows: Iterable[Row], points: Iterable[DesignPoint], sweep: str) -> int:
        """Store `rows` (and the machines of `points`) in one transaction; rows already stored are kept as
        they are. Returns the rows added."""
        rows = list(rows)
        with self._tx():
            self.conn.executemany(
                "INSERT OR IGNORE INTO points VALUES (?, ?)",
                [(p.point_id, p.arch.model_dump_json()) for p in points],
            )
            self.conn.executemany(
                "INSERT OR IGNORE INTO members VALUES (?, ?)",
                [(sweep, pid) for pid in {r.point_id for r in rows}],
            )
            before = self.conn.total_changes
            self.conn.executemany(
                "INSERT OR IGNORE INTO rows VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [_row_tuple(r, sweep) for r in rows],
            )
            return self.conn.total_changes - before

    def add_members(self, sweep: str, point_ids: Iterable[str]) -> None:
        """Record that these points (already stored, or about to be) belong to `sweep`."""
        with self._tx():
            self.conn.executemany(
                "INSERT OR IGNORE INTO members VALUES (?, ?)", [(sweep, p) for p in point_ids]
            )

    def save_caches(self, caches: Mapping[str, RateCache]) -> None:
        with self._tx():
            for model, cache in caches.items():
                self.conn.execute(
                    "INSERT OR REPLACE INTO rate_cache VALUES (?, ?)", (model, pickle.dumps(cache))
                )

    # ---- reading --------------------------------------------------------------------------------------
    def load_caches(self) -> dict[str, RateCache]:
        """The stored rate caches (`RateCache.loads`: records only, never code); one that cannot be read is
        left out (the sweep probes again what it needs)."""
        out = {}
        for model, blob in self._query("SELECT dense_cost_model, blob FROM rate_cache"):
            try:
                cache = RateCache.loads(blob if isinstance(blob, bytes) else b"")
            except ValueError:
                continue
            if cache.dense_cost_model == model:
                out[model] = cache
        return out

    def _query(self, sql: str, params: Iterable[Any] = ()) -> list[tuple]:
        """The rows of a read; a damaged file (SQLite's DatabaseError) as a SpecError naming the store."""
        try:
            return self.conn.execute(sql, tuple(params)).fetchall()
        except sqlite3.DatabaseError as exc:
            raise SpecError(self.field, str(self.path), f"{self.what} that can be read ({exc})") from None

    def _stored(self, t: tuple) -> StoredRow:
        """A row as read, checked: a row edited or damaged by hand is a SpecError naming it and its column."""
        try:
            return _stored(t)
        except (ValueError, TypeError) as exc:
            key = ", ".join(str(v) for v in t[:3])
            raise SpecError(
                self.field, str(self.path), f"{self.what} whose rows read back: row ({key}): {exc}"
            ) from None

    def done(self) -> set[tuple[str, str, str]]:
        return {tuple(r) for r in self._query("SELECT point_id, workload, backend FROM rows")}

    def rows(self, sweep: str | None = None) -> list[StoredRow]:
        """Every stored row, ordered by key; with `sweep`: the rows of its points, workloads and backends,
        whichever sweep wrote them."""
        if sweep is None:
            return [
                self._stored(r)
                for r in self._query("SELECT * FROM rows ORDER BY point_id, workload, backend")
            ]
        specs = self.sweeps()
        if sweep not in specs:
            raise SpecError("--sweep", sweep, f"a sweep stored in {self.path}: one of {sorted(specs)}")
        spec = specs[sweep]
        workloads = {w.key for w in workload_keys(spec.workloads)}
        backends = {b.key for b in backend_keys(spec.backend_axes)}
        q = (
            "SELECT r.* FROM rows r JOIN members m ON m.point_id = r.point_id AND m.sweep = ? "
            "ORDER BY r.point_id, r.workload, r.backend"
        )
        rows = [self._stored(r) for r in self._query(q, (sweep,))]
        return [s for s in rows if s.row.workload in workloads and s.row.backend in backends]

    def rows_of(self, point_ids: Iterable[str]) -> list[StoredRow]:
        """The stored rows of these points."""
        ids = sorted(set(point_ids))
        out: list[StoredRow] = []
        for i in range(0, len(ids), 500):  # SQLite's bound-parameter limit
            chunk = ids[i : i + 500]
            marks = ",".join("?" * len(chunk))
            q = f"SELECT * FROM rows WHERE point_id IN ({marks}) ORDER BY point_id, workload, backend"
            out.extend(self._stored(r) for r in self._query(q, chunk))
        return out

    def sweeps(self) -> dict[str, SweepSpec]:
        out = {}
        for name, spec, _ in self._query("SELECT * FROM sweeps ORDER BY name"):
            try:
                out[name] = SweepSpec.model_validate_json(spec)
            except (ValueError, TypeError) as exc:  # pydantic's ValidationError is a ValueError
                why = str(exc).splitlines()[0]
                raise SpecError(
                    self.field, str(self.path), f"{self.what} whose sweep {name!r} reads back ({why})"
                ) from None
        return out

    def count(self) -> int:
        return self._query("SELECT COUNT(*) FROM rows")[0][0]

    # ---- export ---------------------------------------------------------------------------------------
    def export(self, path: str | Path, fmt: str = "csv") -> int:
        """Write every row to `path` (csv: one column per param and metric; jsonl: one object per row,
        with the Result). Written to a temp file and renamed, so a reader never sees half a file. Not onto the
        store itself (or its WAL files): the rename would replace the database with its export."""
        out = Path(path)
        for own in (self.path, *(self.path.with_name(self.path.name + s) for s in SQLITE_SIDE_FILES)):
            if out.resolve() == own.resolve() or (out.exists() and own.exists() and out.samefile(own)):
                raise SpecError(
                    "OUT", str(path), f"a file other than the store {self.path} (it would replace it)"
                )
        rows = self.rows()

        def write(f: Any) -> None:
            if fmt == "jsonl":
                for r in rows:
                    f.write(
                        json.dumps(finite_json(_flat(r, with_result=True)), sort_keys=True, allow_nan=False)
                        + "\n"
                    )
                return
            flat = [_flat(r) for r in rows]
            cols = sorted({k for d in flat for k in d}, key=lambda k: (k.count("."), k))
            w = csv.DictWriter(f, fieldnames=cols)
            w.writeheader()
            w.writerows(flat)

        write_atomic(path, write)
        return len(rows)


class _Transaction:
    """BEGIN IMMEDIATE .. COMMIT (ROLLBACK on an exception): one writer's whole change or none of it."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __enter__(self) -> None:
        self.conn.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: Any, *rest: object) -> None:
        self.conn.execute("ROLLBACK" if exc_type else "COMMIT")


def _row_tuple(r: Row, sweep: str) -> tuple:
    return (
        r.point_id,
        r.workload,
        r.backend,
        r.status,
        json.dumps(r.params, sort_keys=True),
        json.dumps(r.metrics, sort_keys=True),
        r.result,
        r.reason,
        sweep,
        swallowtail.__version__,
    )


#: the metrics an ok row must hold as finite numbers (every report and front reads them)
OK_METRICS = ("latency_s", "energy_j", "edp_js")


def _stored(t: tuple) -> StoredRow:
    """A row as read; a ValueError naming the column that is not what `dse run` writes."""
    pid, wl, be, status, params, metrics, result, reason, sweep, version = t
    p, m = _json_object("params", params), _json_object("metrics", metrics)
    bad = [k for k, v in m.items() if v is not None and not is_real(v)]
    if bad:
        raise ValueError(f"metrics.{bad[0]} = {m[bad[0]]!r} is not a number")
    if status == "ok":
        missing = [k for k in OK_METRICS if not (is_real(m.get(k)) and math.isfinite(m[k]))]
        if missing:
            raise ValueError(f"metrics.{missing[0]} is not a finite number in an ok row")
    if result is not None and not isinstance(result, str):
        raise ValueError("result is not JSON text")
    return StoredRow(Row(pid, wl, be, status, p, m, result, reason), sweep, version)


def _json_object(column: str, text: Any) -> dict[str, Any]:
    """The JSON object a column holds; a ValueError naming the column otherwise."""
    try:
        value = json.loads(text)
    except (json.JSONDecodeError, TypeError) as exc:
        raise ValueError(f"{column} is not JSON ({exc})") from None
    if not isinstance(value, dict):
        raise ValueError(f"{column} is not a JSON object")
    return value


def _flat(s: StoredRow, with_result: bool = False) -> dict[str, Any]:
    r = s.row
    d: dict[str, Any] = {
        "point_id": r.point_id,
        "workload": r.workload,
        "backend": r.backend,
        "status": r.status,
        "reason": r.reason,
        "sweep": s.sweep,
        "version": s.version,
    }
    d.update({f"param.{k}": json.dumps(v) if isinstance(v, list) else v for k, v in r.params.items()})
    d.update({f"metric.{k}": v for k, v in r.metrics.items()})
    if with_result:
        try:
            d["result"] = json.loads(r.result) if r.result else None
        except json.JSONDecodeError as exc:
            raise SpecError("result", r.result[:40], f"the Result JSON a stored row holds ({exc})") from None
    return d


def iter_ok(rows: Iterable[StoredRow]) -> Iterator[StoredRow]:
    return (r for r in rows if r.row.status == "ok")


__all__ = [
    "EXPORT_FORMATS",
    "SQLITE_HEADER",
    "STORE_SCHEMA",
    "Store",
    "StoredRow",
    "is_sqlite_file",
    "iter_ok",
]
