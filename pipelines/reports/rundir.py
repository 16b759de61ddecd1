"""Read the folder a replay, a demo or a stream wrote, into the rows a report is made from.

Two layouts exist. A replay (``pilotzone run``, ``pilotzone demo``) writes ``incidents.jsonl``,
``summaries.jsonl``, ``dead-letters.jsonl`` and ``metrics.txt`` side by side, each row final.
A stream (``--incidents-dir``) writes folders of bundle files, ``incidents/``, ``summaries/``
and ``dead-letters/``, where an incident appears once per lifecycle state and a summary row is
a running total that later rows of its key supersede. Both are read into the same
``RunFolder``: one row per incident in its latest state, one row per summary key.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pilotzone.pipelines.jobs.latest import latest_incidents, latest_summaries
from pilotzone.zones.fences import FENCE_KIND


class RunFolderError(ValueError):
    """A folder that is not a run's output, or a file in it that cannot be read; says what to fix."""


@dataclass(frozen=True)
class RunFolder:
    """What one run wrote: incidents (latest state each), window summaries, dead letters."""

    path: Path
    layout: str
    """``replay`` (a replay or demo) or ``stream`` (a stream's ``--incidents-dir``)."""
    incidents: list[dict[str, Any]]
    summaries: list[dict[str, Any]]
    dead_letters: Counter[str]
    """Records dead-lettered, by reason."""
    config_versions: dict[str, set[str]]
    """Zone id -> the config versions the run recorded (summaries, incidents and ``metrics.txt``)."""

    @property
    def zone_ids(self) -> list[str]:
        """Every zone the run has a summary or an incident for, sorted."""
        return sorted(
            {row["pilot_zone"] for row in self.summaries} | {i["pilot_zone"] for i in self.incidents}
        )


_CONFIG_INFO = re.compile(
    r'^pilotzone_zone_config_info\{(?=[^}]*config_version="(?P<version>[^"]+)")'
    r'(?=[^}]*pilot_zone="(?P<zone>[^"]+)")[^}]*\}'
)


def _rows(path: Path) -> list[dict[str, Any]]:
    rows = []
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise RunFolderError(
                    f"{path}, line {number}: not JSON ({exc.msg}); is this a run's output?"
                ) from None
            if not isinstance(row, dict):
                raise RunFolderError(f"{path}, line {number}: expected a JSON object per line")
            rows.append(row)
    return rows


def _folder_rows(folder: Path) -> list[dict[str, Any]]:
    if not folder.is_dir():
        return []
    # Bundle files still being written have a temporary name; only renamed files are whole.
    return [row for path in sorted(folder.glob("*.jsonl")) for row in _rows(path)]


def _config_versions(
    incidents: list[dict[str, Any]], summaries: list[dict[str, Any]], metrics: Path
) -> dict[str, set[str]]:
    versions: dict[str, set[str]] = {}
    for row in [*summaries, *incidents]:
        # A fence incident names its fence's digest, and older summaries name no version.
        if "config_version" in row and row.get("kind") != FENCE_KIND:
            versions.setdefault(row["pilot_zone"], set()).add(row["config_version"])
    if metrics.exists():
        for line in metrics.read_text(encoding="utf-8").splitlines():
            match = _CONFIG_INFO.match(line)
            if match:
                versions.setdefault(match["zone"], set()).add(match["version"])
    return versions


def read_run_folder(path: Path) -> RunFolder:
    """The run's rows; ``RunFolderError`` if ``path`` holds neither layout or a file is unreadable."""
    if not path.is_dir():
        raise RunFolderError(f"{path} is not a folder: give the folder a replay, demo or stream wrote")
    try:
        if (path / "incidents.jsonl").exists():
            incidents = _rows(path / "incidents.jsonl")
            summaries = _rows(path / "summaries.jsonl") if (path / "summaries.jsonl").exists() else []
            dead_path = path / "dead-letters.jsonl"
            dead = Counter(row["reason"] for row in (_rows(dead_path) if dead_path.exists() else []))
            layout = "replay"
        elif (path / "incidents").is_dir() or (path / "summaries").is_dir():
            incidents = latest_incidents(_folder_rows(path / "incidents"))
            summaries = latest_summaries(_folder_rows(path / "summaries"))
            dead = Counter()
            for row in _folder_rows(path / "dead-letters"):
                dead[row["reason"]] += int(row.get("records", 1))
            layout = "stream"
        else:
            raise RunFolderError(
                f"{path} holds neither incidents.jsonl (what a replay or demo writes) nor incidents/ "
                "(a stream's --incidents-dir): give the folder a run wrote"
            )
    except KeyError as exc:
        raise RunFolderError(f"{path}: a row lacks the field {exc}; is this a run's output?") from None
    return RunFolder(
        path, layout, incidents, summaries, dead, _config_versions(incidents, summaries, path / "metrics.txt")
    )
