"""The incident register: one row per incident in SQLite (embedded) or PostgreSQL (deployments).

``Register.open(url)`` connects and brings the schema up to date (``migrations``);
``upsert`` records incident states, idempotent on the incident id; ``file_report`` records a
report filed with the zone authority; ``entries`` and ``entry`` read incidents back with their
filing. The SQL is the same for both engines, with ``?`` placeholders rewritten for psycopg.

Why an upsert keeps the furthest state rather than the last one written: the stream writes
every lifecycle record as it comes, and records of one incident can reach the register out of
order (different workers, retried bundles), twice, or from a replay of part of the same
telemetry after the whole. Each row carries how far its state has got (lifecycle rank, end,
peak, latest fix, the order ``FinalIncidentStates`` uses), and a state that has got less far
never replaces it. So the register after any number of writes, in any order, holds what the
replay's incident log holds.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pilotzone.pipelines.register.migrations import MIGRATIONS, Migration
from pilotzone.zones.evaluate import STATUSES, IncidentRecord


class RegisterError(ValueError):
    """A register that cannot be used as asked (bad URL, unknown incident, database refused);
    the message says what to fix."""


@dataclass(frozen=True)
class Filing:
    """A report filed with the zone authority for one incident."""

    reference: str
    filed_by: str
    filed_at_ms: int


@dataclass(frozen=True)
class RegisterEntry:
    """One incident as the register holds it: its latest state and its filing, if any."""

    record: IncidentRecord
    filing: Filing | None


INCIDENT_COLUMNS = (
    "incident_id",
    "lifecycle_status",
    "pilot_zone",
    "area",
    "rule_id",
    "kind",
    "severity",
    "vehicle_id",
    "operator_id",
    "vehicle_class",
    "start_ms",
    "end_ms",
    "peak_value",
    "latitude",
    "longitude",
    "config_version",
    "report_deadline_ms",
    "explanation",
    "progress_rank",
    "progress_end_ms",
    "progress_peak",
    "progress_observed_ms",
)

PROGRESS = ("progress_rank", "progress_end_ms", "progress_peak", "progress_observed_ms")

_UPSERT = (
    f"INSERT INTO incidents ({', '.join(INCIDENT_COLUMNS)}) VALUES ({', '.join('?' * len(INCIDENT_COLUMNS))}) "
    "ON CONFLICT (incident_id) DO UPDATE SET "
    + ", ".join(f"{column} = excluded.{column}" for column in INCIDENT_COLUMNS[1:])
    + f" WHERE ({', '.join('excluded.' + c for c in PROGRESS)}) >= ({', '.join('incidents.' + c for c in PROGRESS)})"
)

_SELECT = (
    "SELECT "
    + ", ".join(f"i.{column}" for column in INCIDENT_COLUMNS[:18])
    + ", f.reference, f.filed_by, f.filed_at_ms FROM incidents i "
    "LEFT JOIN report_filings f ON f.incident_id = i.incident_id"
)


def progress(record: IncidentRecord) -> tuple[int, int, float, int]:
    """How far an incident state has got: the order of ``FinalIncidentStates``, without ties
    broken by text, so a repeated or equal state simply rewrites the row."""
    return (
        STATUSES.index(record.status),
        record.end_ms or 0,
        record.peak_value or 0.0,
        record.observed_until_ms or 0,
    )


def _row_of(record: IncidentRecord) -> tuple[Any, ...]:
    return (
        record.incident_id,
        record.status,
        record.pilot_zone,
        record.area,
        record.rule_id,
        record.kind,
        record.severity,
        record.vehicle_id,
        record.operator_id,
        record.vehicle_class,
        record.start_ms,
        record.end_ms,
        record.peak_value,
        record.latitude,
        record.longitude,
        record.config_version,
        record.report_deadline_ms,
        record.explanation,
        *progress(record),
    )


def _entry_of(row: Sequence[Any]) -> RegisterEntry:
    (incident, status, zone, area, rule, kind, severity, vehicle, operator, cls) = row[:10]
    (start, end, peak, lat, lon, version, deadline, explanation) = row[10:18]
    record = IncidentRecord(
        incident_id=incident,
        status=status,
        pilot_zone=zone,
        area=area,
        rule_id=rule,
        kind=kind,
        severity=severity,
        vehicle_id=vehicle,
        operator_id=operator,
        start_ms=int(start),
        end_ms=None if end is None else int(end),
        peak_value=None if peak is None else float(peak),
        latitude=float(lat),
        longitude=float(lon),
        config_version=version,
        report_deadline_ms=None if deadline is None else int(deadline),
        explanation=explanation,
        vehicle_class=cls,
    )
    reference, filed_by, filed_at = row[18:21]
    filing = None if reference is None else Filing(reference, filed_by, int(filed_at))
    return RegisterEntry(record, filing)


def sqlite_path(url: str) -> Path | None:
    """The file of a SQLite register URL (``sqlite:///relative.db``, ``sqlite:////abs.db``, or
    a plain path), None for a PostgreSQL URL; a URL of any other scheme is an error."""
    if url.startswith(("postgresql://", "postgres://")):
        return None
    if url.startswith("sqlite:///"):
        return Path(url.removeprefix("sqlite:///"))
    if "://" in url:
        raise RegisterError(
            f"register URL {url!r}: use sqlite:///FILE (relative), sqlite:////FILE (absolute) or postgresql://..."
        )
    return Path(url)


class Register:
    """A connection to the register. Use ``Register.open(url)`` (a context manager)."""

    def __init__(self, connection: Any, *, postgres: bool) -> None:
        self._connection = connection
        self.postgres = postgres

    @classmethod
    @contextmanager
    def open(cls, url: str, *, migrate: bool = True) -> Iterator[Register]:
        """Connect to ``url``, apply the migrations not yet applied, close at the end."""
        register = cls.connect(url)
        try:
            if migrate:
                register.migrate()
            yield register
        finally:
            register.close()

    @classmethod
    def connect(cls, url: str) -> Register:
        """Connect without migrating (``open`` is the usual way in)."""
        path = sqlite_path(url)
        if path is None:
            try:
                import psycopg
            except ImportError as exc:
                raise RegisterError(
                    "a PostgreSQL register needs psycopg: pip install 'pilotzone-monitor[postgres]'"
                ) from exc
            try:
                return cls(psycopg.connect(url, connect_timeout=10, autocommit=True), postgres=True)
            except psycopg.Error as exc:
                raise RegisterError(f"cannot connect to the register {_redacted(url)}: {exc}") from exc
        if not path.parent.exists():
            raise RegisterError(f"register {path}: folder {path.parent} does not exist")
        try:
            # Autocommit mode: transactions are begun explicitly (BEGIN IMMEDIATE takes the write
            # lock at once, so two writers wait for each other instead of failing mid-way).
            connection = sqlite3.connect(path, timeout=60, isolation_level=None)
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA foreign_keys=ON")
        except sqlite3.Error as exc:
            raise RegisterError(f"cannot open the register {path}: {exc}") from exc
        return cls(connection, postgres=False)

    def close(self) -> None:
        """Close the connection."""
        self._connection.close()

    # --- SQL -----------------------------------------------------------------------------

    def _sql(self, statement: str) -> str:
        return re.sub(r"\?", "%s", statement) if self.postgres else statement

    @contextmanager
    def _transaction(self, *, write: bool = True) -> Iterator[Any]:
        """A cursor inside one transaction, committed at the end, rolled back on error.

        On SQLite a writing transaction takes the write lock at once (``BEGIN IMMEDIATE``), so
        two writers queue instead of one failing half-way; a reading one does not, so scrapes
        and listings never wait for a pipeline's upserts (WAL mode lets them read meanwhile).
        """
        errors = self._errors()
        try:
            if self.postgres:
                with self._connection.transaction(), self._connection.cursor() as cursor:
                    yield cursor
                return
            cursor = self._connection.cursor()
            cursor.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                yield cursor
            except BaseException:
                cursor.execute("ROLLBACK")
                raise
            cursor.execute("COMMIT")
        except errors as exc:
            raise RegisterError(f"the register refused: {exc}") from exc

    def _errors(self) -> tuple[type[Exception], ...]:
        if self.postgres:
            import psycopg

            return (psycopg.Error,)
        return (sqlite3.Error,)

    # --- schema --------------------------------------------------------------------------

    def migrate(self) -> list[Migration]:
        """Apply the migrations not applied yet, in order, each in its own transaction."""
        applied: list[Migration] = []
        with self._transaction() as cursor:
            self._lock_schema(cursor)
            cursor.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL)"
            )
        for migration in MIGRATIONS:
            with self._transaction() as cursor:
                self._lock_schema(cursor)
                cursor.execute(
                    self._sql("SELECT 1 FROM schema_migrations WHERE version = ?"), (migration.version,)
                )
                if cursor.fetchone() is not None:
                    continue
                for statement in migration.statements:
                    cursor.execute(statement)
                cursor.execute(
                    self._sql("INSERT INTO schema_migrations (version, name) VALUES (?, ?)"),
                    (migration.version, migration.name),
                )
                applied.append(migration)
        return applied

    def _lock_schema(self, cursor: Any) -> None:
        """Two monitors starting at once must not both change the schema: on PostgreSQL even
        ``CREATE TABLE IF NOT EXISTS`` races. (SQLite's ``BEGIN IMMEDIATE`` already serialises.)"""
        if self.postgres:
            cursor.execute("SELECT pg_advisory_xact_lock(7215)")

    def schema_versions(self) -> list[int]:
        """The migrations applied so far."""
        with self._transaction(write=False) as cursor:
            cursor.execute("SELECT version FROM schema_migrations ORDER BY version")
            return [int(row[0]) for row in cursor.fetchall()]

    # --- writing -------------------------------------------------------------------------

    def upsert(self, records: Iterable[IncidentRecord]) -> int:
        """Record incident states (see the module docstring); returns how many were offered."""
        rows = [_row_of(record) for record in records]
        if rows:
            with self._transaction() as cursor:
                cursor.executemany(self._sql(_UPSERT), rows)
        return len(rows)

    def file_report(self, incident_id: str, filing: Filing) -> RegisterEntry:
        """Record that the report on ``incident_id`` was filed.

        Refused for an unknown incident, one whose rule requires no report, or one already
        filed under another reference (filing the same reference again changes nothing).
        """
        if not filing.reference.strip() or not filing.filed_by.strip():
            raise RegisterError("a filing needs a non-empty --reference and --by")
        with self._transaction() as cursor:
            cursor.execute(self._sql(_SELECT + " WHERE i.incident_id = ?"), (incident_id,))
            row = cursor.fetchone()
            if row is None:
                raise RegisterError(f"no incident {incident_id!r} in the register")
            entry = _entry_of(row)
            if entry.record.report_deadline_ms is None:
                raise RegisterError(
                    f"incident {incident_id} ({entry.record.rule_id}) requires no report: its rule has no report_within_h"
                )
            if entry.filing is not None:
                if entry.filing.reference == filing.reference:
                    return entry
                raise RegisterError(
                    f"incident {incident_id} was already filed as {entry.filing.reference!r} by "
                    f"{entry.filing.filed_by}"
                )
            cursor.execute(
                self._sql(
                    "INSERT INTO report_filings (incident_id, reference, filed_by, filed_at_ms) VALUES (?, ?, ?, ?)"
                ),
                (incident_id, filing.reference, filing.filed_by, filing.filed_at_ms),
            )
        return RegisterEntry(entry.record, filing)

    # --- reading -------------------------------------------------------------------------

    def entries(self, *, pilot_zone: str | None = None, operator: str | None = None) -> list[RegisterEntry]:
        """Every incident (optionally of one zone and operator), by start time then id."""
        where, values = [], []
        for column, value in (("pilot_zone", pilot_zone), ("operator_id", operator)):
            if value is not None:
                where.append(f"i.{column} = ?")
                values.append(value)
        statement = (
            _SELECT
            + (" WHERE " + " AND ".join(where) if where else "")
            + " ORDER BY i.start_ms, i.incident_id"
        )
        with self._transaction(write=False) as cursor:
            cursor.execute(self._sql(statement), values)
            return [_entry_of(row) for row in cursor.fetchall()]

    def entry(self, incident_id: str) -> RegisterEntry | None:
        """One incident, None if the register does not hold it."""
        with self._transaction(write=False) as cursor:
            cursor.execute(self._sql(_SELECT + " WHERE i.incident_id = ?"), (incident_id,))
            row = cursor.fetchone()
        return None if row is None else _entry_of(row)


def _redacted(url: str) -> str:
    """The URL without its password, for messages."""
    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", url)
