"""Validation of telemetry files against the contract, as a vehicle maker runs it.

Decodes every file or framed message with the same decoder the pipeline uses, applies the
record and stream checks of ``schemas.checks``, and returns a report that is both readable
and machine-readable. It never raises on bad input: unreadable bytes become findings.

Stream checks run per vehicle over all given files together, in the order given, because
a vehicle's feed is usually split over many uploaded files.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pilotzone.schemas.batch import TelemetryBatch
from pilotzone.schemas.checks import (
    RECORD_CHECKS,
    Finding,
    record_findings,
    shown_id,
    stream_findings,
    unusable_rows,
)
from pilotzone.schemas.contract import TELEMETRY, schema_dict
from pilotzone.schemas.decode import HEADER_ERRORS, DeadLetter, Framing, TelemetryDecoder, detect_framing
from pilotzone.schemas.decode import read_container_header as _read_header
from pilotzone.schemas.limits import MAX_SCHEMA_DEPTH
from pilotzone.schemas.registry import avro_fingerprint
from pilotzone.schemas.shape import json_depth

TELEMETRY_SUFFIXES = (".avro", ".bin", ".msg")
"""Files picked up when a folder is given: containers and single framed messages."""


@dataclass
class Issue:
    """One finding in the report, located by file, byte offset and record number."""

    file: str
    check: str
    severity: str
    message: str
    offset: int | None = None
    record: int | None = None
    vehicle_id: str | None = None
    sequence_number: int | None = None
    records: int = 1


@dataclass
class FileReport:
    """What was read from one file."""

    path: str
    framing: str
    codec: str | None = None
    writer_schema: str | None = None
    writer_fingerprint: str | None = None
    records_read: int = 0
    records_decoded: int = 0
    records_undecodable: int = 0
    records_failing_checks: int = 0


@dataclass
class ValidationReport:
    """The whole validation: per-file summaries, counts per check, and the findings."""

    schema: dict[str, Any]
    files: list[FileReport] = field(default_factory=list)
    issues: list[Issue] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        """Findings per check or dead-letter reason, weighted by the records each stands for."""
        counts: Counter[str] = Counter()
        for issue in self.issues:
            counts[issue.check] += issue.records
        return dict(sorted(counts.items()))

    @property
    def ok(self) -> bool:
        """True when nothing at all was found: the files meet the contract."""
        return not self.issues

    def to_json(self, max_issues: int | None = None) -> dict[str, Any]:
        """The machine-readable report (``pilotzone validate --json``)."""
        shown = self.issues if max_issues is None else self.issues[:max_issues]
        return {
            "ok": self.ok,
            "schema": self.schema,
            "summary": {
                "files": len(self.files),
                "records_read": sum(f.records_read for f in self.files),
                "records_decoded": sum(f.records_decoded for f in self.files),
                "records_undecodable": sum(f.records_undecodable for f in self.files),
                "records_failing_checks": sum(f.records_failing_checks for f in self.files),
                "findings": self.counts,
            },
            "files": [asdict(f) for f in self.files],
            "issues": [asdict(i) for i in shown],
            "issues_omitted": len(self.issues) - len(shown),
        }

    def to_text(self, max_per_check: int = 5) -> str:
        """A readable summary: totals, then the first few findings of each check."""
        summary = self.to_json(max_issues=0)["summary"]
        lines = [
            f"{'OK' if self.ok else 'NOT OK'}: {summary['files']} file(s), {summary['records_read']} record(s) read, "
            f"{summary['records_decoded']} decoded, {summary['records_undecodable']} undecodable, "
            f"{summary['records_failing_checks']} failing record checks",
            f"contract: {self.schema['name']} version {self.schema['version']}",
        ]
        for file in self.files:
            details = ", ".join(
                part
                for part in (
                    file.framing,
                    f"codec {file.codec}" if file.codec else "",
                    f"writer {file.writer_schema}" if file.writer_schema else "",
                )
                if part
            )
            lines.append(f"  {file.path}: {file.records_decoded}/{file.records_read} decoded ({details})")
        by_check: dict[str, list[Issue]] = {}
        for issue in self.issues:
            by_check.setdefault(issue.check, []).append(issue)
        for check, issues in sorted(by_check.items()):
            lines.append(f"{check} ({self.counts[check]}, {issues[0].severity}):")
            for issue in issues[:max_per_check]:
                where = f"{issue.file}"
                if issue.offset is not None:
                    where += f" @ byte {issue.offset}"
                if issue.record is not None:
                    where += f" record {issue.record}"
                if issue.vehicle_id is not None:
                    where += f" vehicle {issue.vehicle_id} seq {issue.sequence_number}"
                lines.append(f"  {where}: {issue.message}")
            if len(issues) > max_per_check:
                lines.append(f"  ... and {len(issues) - max_per_check} more")
        return "\n".join(lines)


def expand_paths(paths: Iterable[str | Path]) -> list[Path]:
    """Files to validate: files as given, folders searched recursively for telemetry suffixes."""
    expanded: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            expanded.extend(
                sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in TELEMETRY_SUFFIXES)
            )
        else:
            expanded.append(path)
    return expanded


def validate_files(paths: Iterable[str | Path], decoder: TelemetryDecoder | None = None) -> ValidationReport:
    """Validate files (and folders of files) against the telemetry contract."""
    decoder = decoder or TelemetryDecoder()
    contract = schema_dict(TELEMETRY)
    report = ValidationReport(
        schema={
            "name": f"{contract['namespace']}.{contract['name']}",
            "version": contract["pilotzone.schema_version"],
            "fingerprint": avro_fingerprint(contract).hex(),
        }
    )
    batches: list[TelemetryBatch] = []
    origins: list[tuple[int, np.ndarray]] = []  # per batch: file index, block offset per row
    for path in expand_paths(paths):
        file_report = FileReport(path=str(path), framing=Framing.UNKNOWN.value)
        report.files.append(file_report)
        try:
            data = path.read_bytes()
        except OSError as exc:
            report.issues.append(
                Issue(str(path), "unreadable_file", "error", f"cannot read: {exc.strerror or exc}")
            )
            file_report.records_read = 1
            file_report.records_undecodable = 1
            continue
        _describe_file(file_report, data, decoder)
        for item in decoder.decode(data, str(path)):
            if isinstance(item, DeadLetter):
                report.issues.append(
                    Issue(
                        str(path),
                        item.reason.value,
                        "error",
                        item.message,
                        offset=item.offset,
                        records=item.records,
                    )
                )
                file_report.records_read += item.records
                file_report.records_undecodable += item.records
            else:
                batch = TelemetryBatch.from_records(item.records, item.first_record)
                batches.append(batch)
                origins.append((len(report.files) - 1, np.full(len(batch), item.offset, dtype=np.int64)))
                file_report.records_read += len(batch)
                file_report.records_decoded += len(batch)
    if batches:
        _check_batches(report, batches, origins)
    return report


def _describe_file(file_report: FileReport, data: bytes, decoder: TelemetryDecoder) -> None:
    """Fill in framing, codec and writer schema, where they can be read."""
    framing = detect_framing(data)
    file_report.framing = framing.value
    if framing is not Framing.CONTAINER:
        return
    try:
        header, _ = _read_header(data)
        if json_depth(header["meta"]["avro.schema"]) > MAX_SCHEMA_DEPTH:
            return  # the decoder reports the schema; json.loads would exhaust its recursion
        writer = json.loads(header["meta"]["avro.schema"])
        file_report.codec = header["meta"].get("avro.codec", b"null").decode()
        file_report.writer_schema = f"{writer.get('namespace', '')}.{writer.get('name', '?')}".lstrip(".")
        file_report.writer_fingerprint = avro_fingerprint(writer).hex()
    except HEADER_ERRORS:
        return  # the decoder reports the unreadable header as a finding


def _check_batches(
    report: ValidationReport, batches: list[TelemetryBatch], origins: list[tuple[int, Any]]
) -> None:
    """Run record and stream checks over all decoded samples and add their findings."""
    batch = TelemetryBatch.concat(batches)
    file_of_row = np.concatenate([np.full(len(offsets), index) for index, offsets in origins])
    offset_of_row = np.concatenate([offsets for _, offsets in origins])
    per_record = record_findings(batch)
    unusable = unusable_rows(per_record, len(batch))
    for index, count in Counter(int(file_of_row[r]) for r in np.flatnonzero(unusable)).items():
        report.files[index].records_failing_checks = count
    report.issues.extend(
        _issues(report, batch, per_record + stream_findings(batch, skip=unusable), file_of_row, offset_of_row)
    )


def _issues(
    report: ValidationReport,
    batch: TelemetryBatch,
    findings: list[Finding],
    file_of_row: Any,
    offset_of_row: Any,
) -> Iterator[Issue]:
    for finding in findings:
        row = finding.row
        yield Issue(
            file=report.files[int(file_of_row[row])].path,
            check=finding.check.value,
            severity="error" if finding.check in RECORD_CHECKS else "warning",
            message=finding.message,
            offset=int(offset_of_row[row]),
            record=int(batch.record_index[row]),
            vehicle_id=shown_id(str(batch.vehicle_id[row])),
            sequence_number=int(batch.sequence_number[row]),
        )
