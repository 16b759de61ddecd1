"""What the evaluator emits: incident lifecycle records, their ids, and one call's output."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from pilotzone.zones.evaluate.summaries import WindowSummary

STATUSES = ("OPENED", "UPDATED", "CLOSED")
"""``IncidentRecord.status`` values, in lifecycle order."""

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def rfc3339_ms(time_ms: int) -> str:
    """UTC time as RFC 3339 with milliseconds and ``Z`` (integer arithmetic, no float rounding)."""
    seconds, millis = divmod(int(time_ms), 1000)
    moment = _EPOCH + dt.timedelta(seconds=seconds)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{millis:03d}Z"


def incident_id(pilot_zone: str, rule_id: str, vehicle_id: str, start_ms: int) -> str:
    """The deterministic incident id: a replay of the same telemetry gives the same ids."""
    key = f"{pilot_zone}|{rule_id}|{vehicle_id}|{start_ms}"
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:20]


@dataclass(frozen=True)
class IncidentRecord:
    """One lifecycle state of an incident (see ``schemas/avro/incident.avsc``)."""

    incident_id: str
    status: str
    pilot_zone: str
    area: str | None
    rule_id: str
    kind: str
    severity: str
    vehicle_id: str
    operator_id: str
    start_ms: int
    end_ms: int | None
    peak_value: float | None
    latitude: float
    longitude: float
    config_version: str
    report_deadline_ms: int | None
    explanation: str
    vehicle_class: str = field(default="OTHER", compare=False)
    """The vehicle's class when the incident started. Not part of the log or the Avro record;
    the pipeline uses it to key corrections of the window summaries."""
    observed_until_ms: int | None = field(default=None, compare=False)
    """The latest fix this record's figures reach (for runs; None for gaps and events). Not
    part of the log either: it orders two UPDATED records of one peak by how far they got."""

    def to_avro(self) -> dict[str, Any]:
        """A record of the ``Incident`` Avro schema (times as integer milliseconds)."""
        return {
            "incident_id": self.incident_id,
            "status": self.status,
            "pilot_zone": self.pilot_zone,
            "area": self.area,
            "rule_id": self.rule_id,
            "kind": self.kind,
            "severity": self.severity,
            "vehicle_id": self.vehicle_id,
            "operator_id": self.operator_id,
            "start_time": self.start_ms,
            "end_time": self.end_ms,
            "peak_value": self.peak_value,
            "latitude": self.latitude,
            "longitude": self.longitude,
            "config_version": self.config_version,
            "report_deadline": self.report_deadline_ms,
            "explanation": self.explanation,
        }

    def to_json(self) -> dict[str, Any]:
        """The incident log's line format: the Avro record's fields in its order, without
        ``status``, times as RFC 3339 UTC strings."""
        line = self.to_avro()
        del line["status"]
        for key in ("start_time", "end_time", "report_deadline"):
            if line[key] is not None:
                line[key] = rfc3339_ms(line[key])
        return line


def _empty_rows() -> npt.NDArray[np.intp]:
    return np.zeros(0, dtype=np.intp)


@dataclass
class EvaluationOutput:
    """What one evaluator call produced; row arrays index the batch passed to ``process``."""

    incidents: list[IncidentRecord] = field(default_factory=list)
    summaries: list[WindowSummary] = field(default_factory=list)
    duplicates: npt.NDArray[np.intp] = field(default_factory=_empty_rows)
    """Rows dropped as duplicates (dead-letter reason ``duplicate``)."""
    unplaced: npt.NDArray[np.intp] = field(default_factory=_empty_rows)
    """Rows of a vehicle in no zone (dead-letter reason ``outside_all_zones``)."""
