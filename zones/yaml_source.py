"""A zone config's YAML: parsed with YAML 1.2 scalars, with every value's line kept.

A problem is only useful if it says where to look, so the loader keeps the YAML node tree
next to the data: ``YamlDocument.problem`` turns a field path (``["rules", 2, "limit_kmh"]``)
into a ``ConfigProblem`` with the line and a readable location (``rules[2] (speed-school).limit_kmh``).

Parsing is bounded (``zones.limits``): the file's size, the nesting depth (PyYAML composes
recursively, so a 100,000-deep ``[[[`` would end in RecursionError) and the number of values
the document expands to with every alias use counted as a copy (a few hundred bytes of
nested aliases, "billion laughs", expand to hundreds of millions of values that every later
step would walk). The counts are kept while composing, so a bomb stops at the first node
that crosses the bound, long before anything walks it.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from yaml.composer import Composer
from yaml.constructor import SafeConstructor
from yaml.resolver import Resolver

from pilotzone.zones.config_files import RefusedFileError, read_bounded
from pilotzone.zones.limits import MAX_CONFIG_BYTES, MAX_YAML_DEPTH, MAX_YAML_NODES
from pilotzone.zones.problems import ConfigProblem

FieldPath = Sequence[str | int]
"""Keys and list positions from the document's root to one value."""


_libyaml: Any
try:
    _libyaml = importlib.import_module("yaml._yaml")
except ImportError:  # PyYAML built without libyaml: the pure-Python scanner and parser
    _libyaml = None


if _libyaml is not None and not TYPE_CHECKING:

    class _SafeLoader(Composer, _libyaml.CParser, SafeConstructor, Resolver):
        """``yaml.SafeLoader`` with libyaml's scanner and parser and PyYAML's Python composer.

        The composer stays in Python so ``ConfigYamlLoader`` can bound it; the scanner and
        parser in C read a config about eight times faster (the benchmark zone: 0.2 s instead
        of 1 s). Syntax errors carry the same lines and columns, in libyaml's words.
        """

        def __init__(self, stream: str) -> None:
            _libyaml.CParser.__init__(self, stream)
            Composer.__init__(self)
            SafeConstructor.__init__(self)
            Resolver.__init__(self)

else:
    _SafeLoader = yaml.SafeLoader


class ConfigYamlLoader(_SafeLoader):
    """YAML with the 1.2 core scalars: ``22:00`` stays text, ``on``/``no`` stay text.

    PyYAML follows YAML 1.1, where ``22:00`` is the base-60 integer 1320 and ``no`` is
    ``false``; in a file full of clock times and short ids that is a trap.

    Composition is bounded: ``YamlTooComplexError`` once the nesting passes ``MAX_YAML_DEPTH`` or
    the document, aliases expanded, passes ``MAX_YAML_NODES`` values, and for an alias to a
    collection that contains it (a recursive structure no config needs).
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._expanded: dict[int, int] = {}  # id(node) -> values it expands to, once complete
        self._total = 0  # values composed so far, each alias use counted as a copy of its target

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            target = self.anchors.get(event.anchor)
            if target is not None and id(target) not in self._expanded:
                raise YamlTooComplexError(
                    f"alias *{event.anchor} refers to a collection that contains it: "
                    "a config cannot be recursive, write the values out",
                    event.start_mark,
                )
            if target is not None:
                self._count(self._expanded[id(target)], event.start_mark)
            return super().compose_node(parent, index)
        self._depth += 1
        if self._depth > MAX_YAML_DEPTH:
            raise YamlTooComplexError(_TOO_DEEP, self.peek_event().start_mark)
        self._count(1, self.peek_event().start_mark)
        node = super().compose_node(parent, index)
        self._depth -= 1
        expanded = 1
        if isinstance(node, yaml.SequenceNode):
            expanded += sum(self._expanded[id(child)] for child in node.value)
        elif isinstance(node, yaml.MappingNode):
            expanded += sum(self._expanded[id(k)] + self._expanded[id(v)] for k, v in node.value)
        self._expanded[id(node)] = expanded
        return node

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        """The node's value; a value its tag cannot read is a problem at its line, not a crash.

        PyYAML's constructors raise ValueError, KeyError or AttributeError for ``!!int x``, ``!!bool
        maybe``, ``!!timestamp x`` or an integer of more than 4,300 digits (Python's bound on int parsing); the
        message is ours, because theirs quotes the value (which may be megabytes) and gives
        advice for programmers. Integers beyond 64 bits are refused too: they pass the
        schema where a field has no upper bound, then break the version hash.
        """
        kind = node.tag.rsplit(":", 1)[-1]
        try:
            value = super().construct_object(node, deep=deep)
        except (ValueError, TypeError, OverflowError, KeyError, AttributeError, IndexError):
            raise UnreadableYamlError(
                f"this value cannot be read as {kind}: write a plain {kind} of sensible size, or quote it as text",
                node.start_mark,
            ) from None
        if isinstance(value, int) and not isinstance(value, bool) and not -(2**63) <= value < 2**63:
            raise UnreadableYamlError(
                "integer out of range: no zone config value needs more than 64 bits; fix the number",
                node.start_mark,
            )
        return value

    def _count(self, values: int, mark: yaml.Mark) -> None:
        self._total += values
        if self._total > MAX_YAML_NODES:
            raise YamlTooComplexError(
                f"the document expands to more than {MAX_YAML_NODES:,} values (aliases counted as copies): "
                "a YAML alias bomb or a config far larger than any zone needs; write it without nested aliases",
                mark,
            )


_TOO_DEEP = (
    f"values nested more than {MAX_YAML_DEPTH} levels deep: a zone config needs about 8; "
    "check for unclosed or runaway brackets"
)


class UnreadableYamlError(yaml.YAMLError):
    """A YAML document the loader refuses, with a message for the config's author and where."""

    def __init__(self, message: str, mark: yaml.Mark | None) -> None:
        super().__init__(message)
        self.message = message
        self.mark = mark


class YamlTooComplexError(UnreadableYamlError):
    """A YAML document beyond the loader's bounds on nesting and expanded size."""


ConfigYamlLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag.rsplit(":", 1)[-1] not in {"bool", "int", "float"}]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
ConfigYamlLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
ConfigYamlLoader.add_implicit_resolver(
    "tag:yaml.org,2002:int",
    re.compile(r"^(?:[-+]?(?:0|[1-9][0-9_]*)|0x[0-9a-fA-F]+|0o[0-7]+)$"),
    list("-+0123456789"),
)
ConfigYamlLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"^(?:[-+]?(?:\.[0-9]+|[0-9][0-9_]*\.[0-9_]*)(?:[eE][-+]?[0-9]+)?|[-+]?[0-9][0-9_]*[eE][-+]?[0-9]+"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
    ),
    list("-+0123456789."),
)


@dataclass(frozen=True)
class YamlDocument:
    """One parsed YAML file: its data, and the node tree that knows each value's line."""

    path: Path
    root: yaml.Node | None
    data: Any

    def value_at(self, path: FieldPath) -> Any:
        """The value at ``path``; None where the path leaves the data."""
        return value_at(self.data, path)

    def describe(self, path: FieldPath) -> str:
        """``path`` as people read it (see ``describe_path``)."""
        return describe_path(path, self.data)

    def problem(self, path: FieldPath, message: str) -> ConfigProblem:
        """A problem with the field at ``path``, with its line and readable location."""
        return ConfigProblem(
            str(self.path), describe_path(path, self.data), message, line_of(self.root, path)
        )


def read_yaml_document(path: Path) -> YamlDocument | ConfigProblem:
    """The file parsed as one YAML document, or the problem that stops it from being read."""
    try:
        text = read_bounded(path, MAX_CONFIG_BYTES).decode("utf-8")
    except RefusedFileError as exc:
        return ConfigProblem(str(path), "", f"cannot read the config: {exc}")
    except OSError as exc:
        return ConfigProblem(str(path), "", f"cannot read file: {exc.strerror}")
    except UnicodeDecodeError:
        return ConfigProblem(str(path), "", "not UTF-8 text: save the config as UTF-8")
    return parse_yaml_document(text, path)


def parse_yaml_document(text: str, path: Path) -> YamlDocument | ConfigProblem:
    """Text parsed as one YAML document named ``path`` (a file, or where a message came from),
    or the problem that stops it from being read."""
    loader = ConfigYamlLoader(text)
    try:
        root = loader.get_single_node()
        data = loader.construct_document(root) if root is not None else None
    except UnreadableYamlError as exc:
        line = exc.mark.line + 1 if exc.mark is not None else None
        column = f", column {exc.mark.column + 1}" if exc.mark is not None else ""
        return ConfigProblem(str(path), f"line {line}{column}" if line is not None else "", exc.message, line)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        column = f", column {mark.column + 1}" if mark is not None else ""
        what = " ".join(part for part in (exc.context, exc.problem) if part)
        message = f"YAML syntax error: {what}; fix the YAML (check indentation, colons and quotes)"
        if "maximum nesting depth" in what:  # libyaml's own bound (1,000 levels) met before ours
            message = _TOO_DEEP
        return ConfigProblem(str(path), f"line {line}{column}" if line is not None else "", message, line)
    except yaml.YAMLError as exc:
        return ConfigProblem(str(path), "", f"YAML error: {exc}")
    finally:
        loader.dispose()
    return YamlDocument(path, root, data)


def duplicate_key_problems(document: YamlDocument) -> list[ConfigProblem]:
    """A problem for every key that appears twice in one mapping.

    PyYAML keeps the last of two equal keys silently; a doubled ``limit_kmh`` must be seen.
    """
    problems: list[ConfigProblem] = []

    def visit(node: yaml.Node | None, path: list[str | int]) -> None:
        if isinstance(node, yaml.MappingNode):
            seen: dict[str, int] = {}
            for key_node, value_node in node.value:
                key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
                if key is None or key == "<<":
                    continue
                if key in seen:
                    problems.append(
                        ConfigProblem(
                            str(document.path),
                            document.describe([*path, key]),
                            f"key {key!r} appears twice (first on line {seen[key]}): YAML keeps only the last one, "
                            "delete one of them",
                            key_node.start_mark.line + 1,
                        )
                    )
                else:
                    seen[key] = key_node.start_mark.line + 1
                visit(value_node, [*path, key])
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                visit(item, [*path, index])

    visit(document.root, [])
    return problems


def describe_path(path: FieldPath, raw: Any) -> str:
    """A field path as people read it: ``rules[2] (speed-school).limit_kmh``.

    List items that carry an ``id`` are named by it as well as by position, because a
    position alone is hard to find in a long config.
    """
    text = ""
    node = raw
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
            item = node[part] if isinstance(node, list) and -len(node) <= part < len(node) else None
            if isinstance(item, dict) and isinstance(item.get("id"), str):
                text += f" ({item['id']})"
            node = item
        else:
            text += f".{part}" if text else str(part)
            node = node.get(part) if isinstance(node, dict) else None
    return text


def value_at(raw: Any, path: FieldPath) -> Any:
    """The value at ``path`` in parsed YAML data; None where the path leaves the data."""
    node = raw
    for part in path:
        node = child_of(node, part)
    return node


def child_of(node: Any, part: str | int) -> Any:
    """One step down: a list item by position or a mapping value by key; None if absent."""
    if isinstance(part, int):
        return node[part] if isinstance(node, list) and -len(node) <= part < len(node) else None
    return node.get(part) if isinstance(node, dict) else None


def line_of(root: yaml.Node | None, path: FieldPath) -> int | None:
    """The 1-based line of the field at ``path``: its key's line, or a list item's first line.

    For a missing field this is the line of the deepest part that exists (the mapping the
    field is missing from).
    """
    if root is None:
        return None
    node: yaml.Node = root
    line = int(root.start_mark.line)
    for part in path:
        child: yaml.Node | None = None
        if isinstance(node, yaml.MappingNode) and isinstance(part, str):
            for key_node, value_node in node.value:
                if isinstance(key_node, yaml.ScalarNode) and key_node.value == part:
                    child, line = value_node, int(key_node.start_mark.line)
                    break
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
            child = node.value[part]
            line = int(child.start_mark.line)
        if child is None:
            break
        node = child
    return line + 1


__all__ = [
    "ConfigYamlLoader",
    "FieldPath",
    "UnreadableYamlError",
    "YamlDocument",
    "YamlTooComplexError",
    "child_of",
    "describe_path",
    "duplicate_key_problems",
    "line_of",
    "parse_yaml_document",
    "read_yaml_document",
    "value_at",
]
