"""Safe YAML for every spec and config file a user hands in: the one loader, with limits.

- safe (no Python objects), `1e9` read as a float (YAML 1.1 would read it as a string), duplicate keys an
  error;
- bounded: a text over `MAX_YAML_BYTES` or with more than `MAX_YAML_ALIASES` aliases is refused before it is
  built (an alias "bomb" -- a few lines of anchors referring to anchors -- would otherwise expand into a
  structure that exhausts memory when it is walked or copied);
- a syntax error is a `YAMLInputError` (a `SpecError`) naming `source:line:column`, never a parser traceback;
- a file (`read_yaml_text`) is read only up to the size limit, so a huge file (or a device) is refused
  without being read, and bytes that are not UTF-8 are a `YAMLInputError` too.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from swallowtail.errors import SpecError

#: the largest YAML text read (spec and config files are a few kB)
MAX_YAML_BYTES = 1 << 20
#: the most aliases (`*name`) a document may use
MAX_YAML_ALIASES = 100


class YAMLInputError(SpecError):
    """A YAML text that cannot be read: `where` (source:line:column) and what is wrong."""

    def __init__(self, where: str, what: str) -> None:
        super().__init__(where, None, what)
        self.where, self.what = where, what

    def __str__(self) -> str:
        return f"{self.where}: {self.what}"


class SafeSpecLoader(yaml.SafeLoader):
    """Safe loader; `1e9` is a float; duplicate keys are errors; aliases counted."""

    def __init__(self, stream: Any) -> None:
        super().__init__(stream)
        self.aliases = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            self.aliases += 1
            if self.aliases > MAX_YAML_ALIASES:
                event = self.peek_event()
                raise yaml.composer.ComposerError(
                    None, None, f"more than {MAX_YAML_ALIASES} aliases (an alias bomb?)", event.start_mark
                )
        return super().compose_node(parent, index)


_FLOAT_RE = re.compile(
    r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
    |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
    |\.[0-9_]+(?:[eE][-+][0-9]+)?
    |[-+]?\.(?:inf|Inf|INF)
    |\.(?:nan|NaN|NAN))$""",
    re.X,
)
SafeSpecLoader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:float"]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
SafeSpecLoader.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT_RE, list("-+0123456789."))


#: the tag of a merge key (`<<: *base`)
MERGE_TAG = "tag:yaml.org,2002:merge"


def _construct_mapping(loader: SafeSpecLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: dict[Any, Any] = {}
    for key_node, _ in node.value:
        if key_node.tag == MERGE_TAG:  # PyYAML's merge copies its base per use: nested, an exponential bomb
            raise yaml.constructor.ConstructorError(
                "while reading a mapping",
                node.start_mark,
                "a merge key '<<' (not supported: write the keys out; a plain alias '*name' is fine)",
                key_node.start_mark,
            )
        key = loader.construct_object(key_node, deep=deep)
        try:
            hash(key)
        except TypeError:  # `? [1, 2]\n: x` -- a list or mapping as a key
            raise yaml.constructor.ConstructorError(
                "while reading a mapping",
                node.start_mark,
                f"a key that is a {type(key).__name__} (keys are names or numbers)",
                key_node.start_mark,
            ) from None
        if key in seen:
            raise yaml.constructor.ConstructorError(
                "while reading a mapping",
                node.start_mark,
                f"duplicate key {key!r} (each key may appear once)",
                key_node.start_mark,
            )
        seen[key] = True
    return loader.construct_mapping(node, deep=deep)


SafeSpecLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load_yaml(text: str, source: str = "<string>") -> Any:
    """Parse YAML text within the limits; any problem is a `YAMLInputError` naming `source:line:col`."""
    if len(text.encode("utf-8", errors="replace")) > MAX_YAML_BYTES:
        raise YAMLInputError(source, f"a YAML text of at most {MAX_YAML_BYTES} bytes")
    try:
        return yaml.load(text, Loader=SafeSpecLoader)  # noqa: S506 -- a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        raise YAMLInputError(
            where, f"YAML syntax error: {exc.problem or exc.context or 'invalid YAML'}"
        ) from None
    except yaml.reader.ReaderError as exc:  # a character YAML does not allow (NUL, most control characters)
        line = text.count("\n", 0, exc.position) + 1
        column = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
        ch = f"#x{exc.character:04x}" if isinstance(exc.character, int) else repr(exc.character)
        raise YAMLInputError(
            f"{source}:{line}:{column}", f"YAML syntax error: character {ch} is not allowed"
        ) from None
    except (yaml.YAMLError, RecursionError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise YAMLInputError(source, f"YAML error: {first}") from None


def read_yaml_text(path: Path, source: str | None = None) -> str:
    """The text of a YAML file, read within the limits: at most `MAX_YAML_BYTES` are read (a larger file is
    refused without being read whole), and it must be UTF-8; any problem is a `YAMLInputError`."""
    source = str(path) if source is None else source
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_YAML_BYTES + 1)
    except OSError as exc:
        raise YAMLInputError(source, f"a readable YAML file ({exc.strerror or exc})") from None
    if len(data) > MAX_YAML_BYTES:
        raise YAMLInputError(source, f"a YAML text of at most {MAX_YAML_BYTES} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise YAMLInputError(
            f"{source}: byte {exc.start}", f"UTF-8 text (found byte {data[exc.start]:#04x})"
        ) from None


def is_file(path: str | Path) -> bool:
    """Whether `path` names a regular file; False, not an OSError, for a name the OS cannot even look up (too
    long, a NUL byte), so a bad preset name gets the preset list instead of an errno."""
    try:
        return Path(path).is_file()
    except (OSError, ValueError):
        return False


__all__ = [
    "MAX_YAML_ALIASES",
    "MAX_YAML_BYTES",
    "SafeSpecLoader",
    "YAMLInputError",
    "is_file",
    "load_yaml",
    "read_yaml_text",
]
