"""Shared machinery of every spec file: strict pydantic models, source notes, YAML I/O, clean errors.

Used by the architecture specs (`swallowtail.arch.specs`) and the energy tables (`swallowtail.energy`).

- **Strict models.** `extra="forbid"` (an unknown key is an error, never silently ignored), pydantic strict
  mode (a float is not an integer, a string is not a number), frozen instances.
- **Source notes.** Every spec has a `sources:` mapping from a dotted field path (`pe.simd_lanes`,
  `power_modes.15w.gpu_clock_hz`) to a note saying where the value comes from; a note that starts with
  `assumption:` marks an assumed value. A note on a parent path covers its children. Keys must name real
  fields, so a typo in `sources` is an error too.
- **Clean errors.** pydantic's `ValidationError` becomes a `SpecProblems` (a `SpecError`, hence a
  `ValueError`): one line per problem, `field = value is not allowed: what is allowed`, naming the dotted
  field path, with none of pydantic's internals (no error-type codes, no documentation URLs).
- **YAML.** A safe loader that also reads `1e9` as a float (YAML 1.1 would read it as a string), refuses
  duplicate keys (PyYAML silently keeps the last one) and reports parse errors as `file:line:col`.
"""

from __future__ import annotations

import copy
import functools
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, ClassVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import PydanticCustomError

from swallowtail.errors import SpecError, field_text, is_real
from swallowtail.yamlio import YAMLInputError, is_file, load_yaml, read_yaml_text

#: a source note that starts with this marks an assumed (not sourced) value
ASSUMPTION_PREFIX = "assumption:"
#: longest repr of an offending value shown in an error message
MAX_VALUE_REPR = 60
#: the pydantic custom-error type raised by our own cross-field validators
SPEC_ERROR_TYPE = "spec"

# ---- the constrained field types of every spec (one definition each) -------------------------------------
PosInt = Annotated[int, Field(gt=0)]
NonNegInt = Annotated[int, Field(ge=0)]
PosFloat = Annotated[float, Field(gt=0, allow_inf_nan=False)]

# ---- physical ranges every spec shares: past them a value is a typo, not a design, and the models would
# overflow, allocate per unit or run for ever (bounds of the tool, not sources) ----------------------------
#: units of one kind (PEs, multipliers, engines, SMs, cores, banks, vector lanes): at most 2^20
MAX_COUNT = 2**20
#: an efficiency, a derate or a kept share is at least a millionth (a smaller one is a typo, and the times it
#: divides run past 2^63 cycles)
MIN_FRACTION = 1e-6
#: a power of at most a megawatt
MAX_POWER_W = 1e6

#: a number of units of one kind: 1 to MAX_COUNT
Count = Annotated[int, Field(gt=0, le=MAX_COUNT)]
NonNegCount = Annotated[int, Field(ge=0, le=MAX_COUNT)]
#: an efficiency, a derate or a kept share: [MIN_FRACTION, 1]
Fraction = Annotated[float, Field(ge=MIN_FRACTION, le=1, allow_inf_nan=False)]
#: a power in W: (0, MAX_POWER_W] (NonNegPowerW: [0, MAX_POWER_W])
PowerW = Annotated[float, Field(gt=0, le=MAX_POWER_W, allow_inf_nan=False)]
NonNegPowerW = Annotated[float, Field(ge=0, le=MAX_POWER_W, allow_inf_nan=False)]
#: the leakage share of a power: [0, 1)
LeakFraction = Annotated[float, Field(ge=0, lt=1, allow_inf_nan=False)]


# ---- errors ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a spec: the dotted field path, the offending value and what is allowed."""

    field: str
    value: Any
    allowed: str
    kind: str = "value"  # "value" | "missing" | "unknown" | "message"

    def line(self) -> str:
        field = field_text(self.field)
        if self.kind == "message":
            return f"{field}: {self.allowed}"
        if self.kind == "missing":
            return f"{field} is missing: {self.allowed}"
        if self.kind == "unknown":
            return f"{field} is not a known field: {self.allowed}"
        return f"{field} = {_short_repr(self.value)} is not allowed: {self.allowed}"


class SpecProblems(SpecError):
    """One or more problems in one spec. `str(exc)` is one clean line per problem (prefixed by the file)."""

    def __init__(self, problems: list[Problem], source: str | None = None) -> None:
        if not problems:
            raise ValueError("SpecProblems needs at least one problem")
        first = problems[0]
        super().__init__(first.field, first.value, first.allowed)
        self.problems = list(problems)
        self.source = source
        prefix = f"{source}: " if source else ""
        self.args = ("\n".join(prefix + p.line() for p in problems),)

    def __str__(self) -> str:
        return self.args[0]


def spec_error(field: str, value: Any, allowed: str) -> PydanticCustomError:
    """The error a cross-field validator raises: it carries the dotted sub-field it is about."""
    return PydanticCustomError(
        SPEC_ERROR_TYPE, "{allowed}", {"field": field, "value": value, "allowed": allowed}
    )


def _short_repr(value: Any) -> str:
    r = repr(value)
    return r if len(r) <= MAX_VALUE_REPR else r[: MAX_VALUE_REPR - 3] + "..."


def _dotted(loc: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in loc)


def _model_at(model: type[BaseModel] | None, loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The pydantic model class found by walking `loc` (through nested models and dict values)."""
    cur: Any = model
    for part in loc:
        if cur is None or not (isinstance(cur, type) and issubclass(cur, BaseModel)):
            # a dict of models: the key is skipped
            cur = _dict_value_model(cur)
            if cur is None:
                return None
            continue
        f = cur.model_fields.get(str(part))
        if f is None:
            return None
        cur = _unwrap(f.annotation)
    if isinstance(cur, type) and issubclass(cur, BaseModel):
        return cur
    return None


def _unwrap(ann: Any) -> Any:
    """`dict[str, M]` -> marker for a dict of models; `M | None` -> M; `M` -> M."""
    origin = getattr(ann, "__origin__", None)
    args = getattr(ann, "__args__", ())
    if origin is dict and len(args) == 2:
        return ("dict", args[1])
    if args and type(None) in args:
        rest = [a for a in args if a is not type(None)]
        return rest[0] if len(rest) == 1 else None
    return ann


def _dict_value_model(marker: Any) -> type[BaseModel] | None:
    if isinstance(marker, tuple) and marker and marker[0] == "dict":
        v = marker[1]
        return v if isinstance(v, type) and issubclass(v, BaseModel) else None
    return None


def _is_int_field(model: type[BaseModel] | None, loc: tuple[Any, ...]) -> bool:
    parent = _model_at(model, loc[:-1]) if loc else None
    f = parent.model_fields.get(str(loc[-1])) if parent is not None else None
    return f is not None and f.annotation is int


def _num(x: Any) -> str:
    return f"{x:g}" if isinstance(x, float) else str(x)


#: pydantic's bound errors: (comparison, the ctx key holding the bound)
_BOUNDS = {
    "greater_than": (">", "gt"),
    "greater_than_equal": (">=", "ge"),
    "less_than": ("<", "lt"),
    "less_than_equal": ("<=", "le"),
}


def _allowed_for(err: Mapping[str, Any]) -> str:
    """Plain-words description of what a pydantic error says is allowed."""
    typ = err["type"]
    ctx = err.get("ctx") or {}
    simple = {
        "int_type": "an integer (not a float, a string or a boolean)",
        "int_from_float": "an integer (not a float)",
        "int_parsing": "an integer",
        "float_type": "a number (not a string or a boolean)",
        "float_parsing": "a number",
        "finite_number": "a finite number",
        "string_type": "a string",
        "bool_type": "true or false",
        "dict_type": "a mapping (key: value)",
        "list_type": "a list",
        "model_type": "a mapping of fields",
        "model_attributes_type": "a mapping of fields",
        "string_too_short": "a non-empty string",
        "none_required": "null",
    }
    if typ in simple:
        return simple[typ]
    if typ in _BOUNDS:
        sign, key = _BOUNDS[typ]
        return f"a number {sign} {_num(ctx.get(key))}"
    if typ == "literal_error":
        return f"one of {ctx.get('expected')}"
    if typ == "string_pattern_mismatch":
        return f"a string matching {ctx.get('pattern')}"
    if typ in ("too_short", "too_long"):
        what = "a mapping of" if isinstance(err.get("input"), Mapping) else "a list of"
        return f"{what} {ctx.get('min_length', 1)} to {ctx.get('max_length', 'any number of')} items"
    msg = str(err.get("msg", typ))
    return msg[0].lower() + msg[1:] if msg else typ


def _without_union_tags(loc: tuple[Any, ...], data: Any, missing: bool) -> tuple[tuple[Any, ...], bool]:
    """`loc` without the tags pydantic puts in it for each member of a union (`str`, `BackendAxis`,
    `list[union[int,float,...]]`, `function-after[_check(), ParamRange]`), found by walking `data`: a part is
    kept if it is a key or an index of the data there, or the missing field's name of a `missing` error (its
    last part). Also whether a tag was dropped."""
    out: list[Any] = []
    cur, dropped, last = data, False, len(loc) - 1
    for i, part in enumerate(loc):
        in_map = isinstance(cur, Mapping) and part in cur
        if in_map or (isinstance(cur, list) and type(part) is int and 0 <= part < len(cur)):
            out.append(part)
            cur = cur[part]
        elif isinstance(part, str) and not (missing and i == last and isinstance(cur, Mapping)):
            dropped = True  # a union member's tag: not a field the user wrote
        else:
            out.append(part)
            cur = None
    return tuple(out), dropped


def _merged(problems: list[tuple[Problem, bool]]) -> list[Problem]:
    """The problems of a union's members on one field (each member refused the value) as one problem: what
    each member allows, joined by "or"."""
    out: list[Problem] = []
    index: dict[str, int] = {}
    for p, from_union in problems:
        i = index.get(p.field) if from_union else None
        if i is None:
            if from_union:
                index[p.field] = len(out)
            out.append(p)
        elif p.allowed not in out[i].allowed.split(" or "):
            out[i] = Problem(p.field, out[i].value, f"{out[i].allowed} or {p.allowed}", out[i].kind)
    return out


def problems_from_validation_error(
    exc: ValidationError, model: type[BaseModel] | None, data: Any = None
) -> list[Problem]:
    """Translate pydantic's errors into `Problem`s (dotted path, value, plain-words allowed); with the
    validated `data`, the paths hold only what the user wrote (no union-member tags) and the members' errors
    on one field are one problem."""
    out: list[tuple[Problem, bool]] = []
    for err in exc.errors(include_url=False):
        loc, from_union = tuple(err["loc"]), False
        if data is not None:
            loc, from_union = _without_union_tags(loc, data, err["type"] == "missing")
        typ = err["type"]
        ctx = err.get("ctx") or {}
        if typ == SPEC_ERROR_TYPE:
            field = _dotted(loc + tuple(str(ctx["field"]).split("."))) if ctx.get("field") else _dotted(loc)
            problem = Problem(field, ctx.get("value"), str(ctx.get("allowed")))
        elif typ == "missing":
            problem = Problem(_dotted(loc), None, "a required field", kind="missing")
        elif typ == "extra_forbidden":
            parent = _model_at(model, loc[:-1])
            names = sorted(parent.model_fields) if parent is not None else []
            allowed = f"allowed fields here are {', '.join(names)}" if names else "no such field"
            problem = Problem(_dotted(loc), err.get("input"), allowed, kind="unknown")
        else:
            allowed = _allowed_for(err)
            if typ.startswith(("greater_than", "less_than")) and _is_int_field(model, loc):
                allowed = allowed.replace("a number", "an integer", 1)
            problem = Problem(_dotted(loc) or "(top level)", err.get("input"), allowed)
        out.append((problem, from_union))
    return _merged(out)


# ---- strict models with source notes -----------------------------------------------------------------


class SpecModel(BaseModel):
    """Base of every spec model: unknown keys are errors, no type coercion, immutable."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


def _children(obj: Any) -> Iterator[tuple[str, Any]] | None:
    """Named children of a mapping, or of a list of mappings (by index); None for a leaf."""
    if isinstance(obj, Mapping):
        return ((str(k), v) for k, v in obj.items())
    if isinstance(obj, list) and obj and all(isinstance(v, Mapping) for v in obj):
        return ((str(i), v) for i, v in enumerate(obj))
    return None


def iter_leaves(obj: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(dotted path, value) of every leaf of nested mappings (lists of numbers are leaves)."""
    kids = _children(obj)
    if kids is None:
        yield prefix, obj
        return
    for k, v in kids:
        yield from iter_leaves(v, f"{prefix}.{k}" if prefix else k)


def _all_paths(obj: Any, prefix: str = "") -> Iterator[str]:
    kids = _children(obj)
    if kids is None:
        return
    for k, v in kids:
        p = f"{prefix}.{k}" if prefix else k
        yield p
        yield from _all_paths(v, p)


def is_numeric(value: Any) -> bool:
    """A number, or a list of numbers (e.g. `noc.hops`)."""
    if is_real(value):
        return True
    return isinstance(value, list) and bool(value) and all(is_numeric(v) for v in value)


class SourcedSpec(SpecModel):
    """A spec whose values carry source notes (`sources:` maps dotted field paths to notes)."""

    #: fields that are bookkeeping, not values that need a source
    UNSOURCED_FIELDS: ClassVar[tuple[str, ...]] = ("sources",)

    sources: dict[str, str] = {}

    @field_validator("sources")
    @classmethod
    def _notes_not_empty(cls, v: dict[str, str]) -> dict[str, str]:
        for k, note in v.items():
            if not note.strip():
                raise spec_error(k, note, "a non-empty note (a source, or 'assumption: ...')")
        return v

    @model_validator(mode="after")
    def _source_keys_exist(self) -> SourcedSpec:
        paths = set(_all_paths(self._values_dump()))
        for key in self.sources:
            if key not in paths:
                raise spec_error(
                    f"sources.{key}",
                    key,
                    "a dotted path of a field of this spec (e.g. 'clock_hz' or 'pe.simd_lanes')",
                )
        return self

    def _values_dump(self) -> dict[str, Any]:
        d = self.model_dump(mode="python")
        for f in self.UNSOURCED_FIELDS:
            d.pop(f, None)
        return d

    # ---- queries ------------------------------------------------------------------------------------
    def source(self, path: str) -> str | None:
        """The note for a dotted path: its own, or the nearest parent's."""
        parts = path.split(".")
        for i in range(len(parts), 0, -1):
            note = self.sources.get(".".join(parts[:i]))
            if note is not None:
                return note
        return None

    def numeric_leaves(self) -> dict[str, Any]:
        """Dotted path -> value of every numeric value of the spec (numbers and lists of numbers)."""
        return {p: v for p, v in iter_leaves(self._values_dump()) if is_numeric(v)}

    def missing_sources(self) -> list[str]:
        """Numeric fields with no note (neither their own nor a parent's)."""
        return [p for p in self.numeric_leaves() if self.source(p) is None]

    def assumptions(self) -> dict[str, str]:
        """Notes that mark assumptions, by path."""
        return {k: v for k, v in self.sources.items() if v.strip().lower().startswith(ASSUMPTION_PREFIX)}

    def field_table(self) -> list[tuple[str, Any, str | None]]:
        """(dotted path, value, note) for every leaf, in declaration order."""
        return [(p, v, self.source(p)) for p, v in iter_leaves(self._values_dump())]

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def to_yaml(self) -> str:
        return dump_yaml(self.to_dict())


def validate_model(model: type[SpecModel], data: Any, source: str | None = None) -> Any:
    """`model.model_validate(data)`, with errors as `SpecProblems`."""
    if not isinstance(data, Mapping):
        raise SpecProblems([Problem("(top level)", data, "a mapping of fields")], source)
    try:
        return model.model_validate(dict(data))
    except ValidationError as exc:
        raise SpecProblems(problems_from_validation_error(exc, model, data), source) from None


def apply_overrides(data: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Copy of nested `data` with dotted-path overrides applied (`{"pe.simd_lanes": 32}`).

    An overridden value's source note becomes "override: ..." (its old source no longer applies); an override
    of `sources`, or of one note (`sources.pe.simd_lanes`), sets the notes themselves.
    """
    if not isinstance(overrides, Mapping):
        raise SpecProblems([Problem("overrides", overrides, "a mapping of dotted field paths to values")])
    out = _deepcopy(data)
    for path, value in overrides.items():
        if not isinstance(path, str):
            raise SpecProblems([Problem(str(path), value, "a dotted field path (a string)")])
        notes = out.get("sources")
        if path.startswith("sources.") and isinstance(notes, dict) and path[8:] in notes:
            notes[path[8:]] = value  # a note's key is dotted itself
            continue
        old = _set_path(out, path, value)
        notes = out.get("sources")
        if path != "sources" and isinstance(notes, dict):
            for k in [k for k in notes if k == path or k.startswith(path + ".")]:
                del notes[k]
            notes[path] = f"override: set to {value!r} by the user (was {old!r})"
    return out


def _set_path(data: dict[str, Any], path: str, value: Any) -> Any:
    """Set the field at dotted `path` of nested `data` to a copy of `value`; the old value (SpecProblems when
    there is no such field)."""
    *parents, last = path.split(".")
    cur: Any = data
    for p in parents:
        cur = cur.get(p) if isinstance(cur, dict) else None
    if not isinstance(cur, dict) or last not in cur:
        raise SpecProblems([Problem(path, value, "a dotted path of an existing field")])
    old, cur[last] = cur[last], _deepcopy(value)
    return old


def _deepcopy(obj: Any) -> Any:
    if isinstance(obj, Mapping):
        return {k: _deepcopy(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_deepcopy(v) for v in obj]
    return obj


# ---- YAML -------------------------------------------------------------------------------------------


def parse_yaml(text: str, source: str = "<string>") -> Any:
    """Parse YAML text (`swallowtail.yamlio`: safe, bounded); a problem becomes a `SpecProblems` naming
    `source:line:col`."""
    try:
        return load_yaml(text, source)
    except YAMLInputError as exc:
        raise SpecProblems([Problem(exc.where, None, exc.what, kind="message")]) from None


#: parsed YAML texts kept by `read_yaml_file` (the shipped specs are read again and again: a fit reads a board
#: file thousands of times, and parsing was 80 % of its time)
PARSED_YAML_CACHE = 256


@functools.lru_cache(maxsize=PARSED_YAML_CACHE)
def _parsed(text: str, source: str) -> Any:
    return parse_yaml(text, source)


def read_yaml_file(path: Path) -> Any:
    """Read and parse a YAML file (missing file -> SpecError). The file is read every time; its parse is
    remembered by its text, so an edited file is parsed again, and each caller gets its own copy."""
    if not is_file(path):
        raise SpecProblems([Problem("path", str(path), "an existing YAML file")])
    try:
        text = read_yaml_text(path)
    except YAMLInputError as exc:
        raise SpecProblems([Problem(exc.where, None, exc.what, kind="message")]) from None
    return copy.deepcopy(_parsed(text, str(path)))


def load_shipped_spec(model: type[SpecModel], field: str, name_or_path: str | Path, directory: Path) -> Any:
    """A spec shipped in `directory` by name (`<name>.yaml`), or one read from a YAML path; SpecError naming
    `field` and the shipped names when neither exists."""
    s = str(name_or_path)
    path = Path(s) if s.endswith((".yaml", ".yml")) or "/" in s else directory / f"{s}.yaml"
    if not is_file(path):
        shipped = sorted(p.stem for p in directory.glob("*.yaml"))
        raise SpecError(field, s, f"one of {shipped} or a path to a YAML file")
    return validate_model(model, read_yaml_file(path), source=str(path))


class _SpecDumper(yaml.SafeDumper):
    """Block-style mappings; lists of scalars (e.g. `hops: [1, 2]`) on one line."""


def _represent_list(dumper: yaml.SafeDumper, data: list[Any]) -> yaml.Node:
    flow = all(not isinstance(v, dict | list) for v in data)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flow)


_SpecDumper.add_representer(list, _represent_list)


def dump_yaml(data: Any) -> str:
    """YAML text that `parse_yaml` reads back to `data` (key order kept; `sources` last)."""
    if isinstance(data, Mapping) and "sources" in data:
        data = {**{k: v for k, v in data.items() if k != "sources"}, "sources": data["sources"]}
    return yaml.dump(
        data, Dumper=_SpecDumper, sort_keys=False, default_flow_style=False, width=110, allow_unicode=True
    )


def finite(x: float) -> bool:
    return math.isfinite(x)
