"""Fence documents shared by the fence tests: a 0.01-degree square near Gwangju."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

SQUARE = {
    "type": "Polygon",
    "coordinates": [[[126.90, 35.14], [126.91, 35.14], [126.91, 35.15], [126.90, 35.15], [126.90, 35.14]]],
}
INSIDE = (126.905, 35.145)
OUTSIDE = (126.92, 35.145)
START = "2026-04-01T00:00:00+00:00"
START_MS = 1775001600000
"""``START`` in milliseconds since 1970."""


def fence_document(**changes: Any) -> dict[str, Any]:
    """A valid fence document, with ``changes`` applied (a value of None removes the key)."""
    document: dict[str, Any] = {
        "id": "fire-1",
        "pilot_zone": "gwangju",
        "polygon": SQUARE,
        "vehicle_classes": ["ROBOTAXI", "SHUTTLE"],
        "effective_from": START,
        "severity": "CRITICAL",
        "reason": "warehouse fire",
    }
    for key, value in changes.items():
        if value is None:
            document.pop(key, None)
        else:
            document[key] = value
    return document


def write_fence(folder: Path, name: str = "fire-1.yaml", **changes: Any) -> Path:
    """Write a fence document into ``folder`` and return its path."""
    path = folder / name
    path.write_text(yaml.safe_dump(fence_document(**changes), sort_keys=False), encoding="utf-8")
    return path
