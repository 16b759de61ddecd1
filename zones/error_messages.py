"""Schema errors rewritten for the person editing the YAML: what is wrong, and what to do.

pydantic reports ``rules.2.speed_limit.limit_kmh: Input should be greater than 0``: a path
through union tags no one wrote, in words meant for programmers. Here each error gets the
path as it appears in the file, and a message that names the fix (the nearest field name
for a typo, the known rule kinds for an unknown one).
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel

from pilotzone.zones.kinds import RULE_MODELS
from pilotzone.zones.model import RULE_KINDS, ZoneConfig
from pilotzone.zones.yaml_source import FieldPath, child_of, value_at

# Tags pydantic inserts into an error location for union members; they are not YAML keys.
_UNION_TAGS = frozenset({*RULE_KINDS, "GeometrySource", "dict[str,any]"})


def yaml_path(loc: FieldPath, raw: Any) -> list[str | int]:
    """A pydantic error location as a path in the YAML: union tags that are not keys dropped."""
    path: list[str | int] = []
    node = raw
    for part in loc:
        if isinstance(part, str) and part in _UNION_TAGS and not (isinstance(node, dict) and part in node):
            continue
        path.append(part)
        node = child_of(node, part)
    return path


def explain_error(
    error: Mapping[str, Any], path: FieldPath, raw: Any, root: type[BaseModel] = ZoneConfig
) -> str:
    """A pydantic error rewritten for someone editing the YAML: what is wrong, what to do.

    ``root`` is the model of the whole document (a zone config unless told: a fence).
    """
    kind = error["type"]
    message = str(error["msg"])
    value = error.get("input")
    if kind == "missing":
        return f"required field {path[-1]!r} is missing: add it" if path else "required field missing"
    if kind == "extra_forbidden":
        return f"unknown field {path[-1]!r}: {_field_hint(path, raw, root)}"
    if kind == "union_tag_not_found":
        return f"rule has no 'kind': add kind: one of {', '.join(RULE_KINDS)}"
    if kind == "union_tag_invalid":
        tag = (error.get("ctx") or {}).get("tag")
        close = difflib.get_close_matches(str(tag), RULE_KINDS, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return f"unknown rule kind {tag!r}{hint}: use one of {', '.join(RULE_KINDS)}"
    if kind in {"model_type", "dict_type"} and path and path[-1] in {"boundary", "geometry", "polygon"}:
        return (
            "expected a GeoJSON Geometry or Feature mapping, or {file: some.geojson, where: {property: value}}, "
            f"got {type(value).__name__}"
        )
    if kind == "too_long" and path and path[-1] in {"rules", "areas"}:
        ctx = error.get("ctx") or {}
        return (
            f"{ctx.get('actual_length')} {path[-1]}, but a zone config may have at most {ctx.get('max_length')}: "
            "split the zone into several configs, or give rules with the same effect one scope"
        )
    if kind == "value_error":
        message = message.removeprefix("Value error, ")
        return message
    if isinstance(value, str | int | float | bool) or value is None:
        return f"{message} (got {_brief(value)})"
    return message


MAX_ECHO_CHARS = 80
"""Longest value quoted back in a message; a megabyte-long value is cut, not printed."""


def _brief(value: object) -> str:
    shown = repr(value)
    return shown if len(shown) <= MAX_ECHO_CHARS else shown[: MAX_ECHO_CHARS - 1] + "…"


def unknown_area_message(area_id: str, known: set[str]) -> str:
    """For a rule scoped to an area the config does not define: the likely id, or where to add it."""
    if not known:
        return f"unknown area {area_id!r}: the config defines no areas; add it under areas:"
    close = difflib.get_close_matches(area_id, sorted(known), n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    listed = ", ".join(sorted(known)[:8]) + (", ..." if len(known) > 8 else "")
    return f"unknown area {area_id!r}: {hint}known areas: {listed} (define it under areas: or fix the id)"


def _model_at(path: Sequence[str | int], raw: Any, root: type[BaseModel]) -> type[BaseModel] | None:
    """The pydantic model that validates the mapping at ``path`` (for field-name hints)."""
    model: type[BaseModel] | None = root
    for depth, part in enumerate(path):
        if isinstance(part, int):
            continue
        info = model.model_fields.get(part) if model is not None else None
        if info is None:
            return None
        candidates = _models_in(info.annotation)
        if len(candidates) == 1:
            model = candidates[0]
            continue
        # The rules list: each item's model is chosen by its kind.
        item = value_at(raw, path[: depth + 2]) if depth + 1 < len(path) else None
        kind = item.get("kind") if isinstance(item, dict) else None
        model = RULE_MODELS.get(kind) if isinstance(kind, str) else None
    return model


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    found: list[type[BaseModel]] = []
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _models_in(typing.get_args(annotation)[0])
    if origin is not None or isinstance(annotation, types.UnionType):
        for arg in typing.get_args(annotation):
            found.extend(model for model in _models_in(arg) if model not in found)
    return found


def _field_hint(path: Sequence[str | int], raw: Any, root: type[BaseModel]) -> str:
    """For an unknown key: the nearest known field names of the mapping it is in."""
    parent, key = path[:-1], path[-1]
    model = _model_at(parent, raw, root)
    if model is None:
        return "remove it or check its spelling"
    allowed = [name for name, info in model.model_fields.items() if not info.exclude]
    close = difflib.get_close_matches(str(key), allowed, n=1)
    suggestion = f"did you mean {close[0]!r}? " if close else ""
    return f"{suggestion}allowed here: {', '.join(allowed)}"


__all__ = ["explain_error", "unknown_area_message", "yaml_path"]
