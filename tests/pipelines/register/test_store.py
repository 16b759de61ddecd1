"""The register on SQLite files: schema, upserts, filings, URLs (the same checks as PostgreSQL's)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from pilotzone.pipelines.register.migrations import statements_of
from pilotzone.pipelines.register.store import Register, RegisterError, sqlite_path
from tests.pipelines.register import registers


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'register.db'}"


def test_migrations_apply_once_in_order(url: str) -> None:
    registers.check_migrations_apply_once_in_order(url)


def test_upsert_is_idempotent_and_keeps_the_furthest_state(url: str) -> None:
    registers.check_upsert_is_idempotent_and_keeps_the_furthest_state(url)


def test_equal_peaks_are_ordered_by_the_latest_fix(url: str) -> None:
    registers.check_equal_peaks_are_ordered_by_the_latest_fix(url)


def test_filing_a_report(url: str) -> None:
    registers.check_filing_a_report(url)


def test_entries_filter_and_order(url: str) -> None:
    registers.check_entries_filter_and_order(url)


def test_register_urls() -> None:
    assert sqlite_path("sqlite:///out/register.db") == Path("out/register.db")
    assert sqlite_path("sqlite:////var/lib/register.db") == Path("/var/lib/register.db")
    assert sqlite_path("register.db") == Path("register.db")
    assert sqlite_path("postgresql://monitor@db/register") is None
    with pytest.raises(RegisterError, match=r"use sqlite:///FILE \(relative\)"):
        sqlite_path("mysql://db/register")


def test_a_register_in_a_missing_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(RegisterError, match=f"folder {tmp_path / 'missing'} does not exist"):
        Register.connect(str(tmp_path / "missing" / "register.db"))


def test_a_file_that_is_not_a_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("not a database\n" * 200)
    with pytest.raises(RegisterError, match="file is not a database"):
        Register.open(str(path)).__enter__()


def test_the_migration_files_split_into_statements() -> None:
    text = (
        "-- a comment; with a semicolon\nCREATE TABLE a (x TEXT);\n\n  -- another\nCREATE INDEX i ON a (x);\n"
    )
    assert statements_of(text) == ("CREATE TABLE a (x TEXT)", "CREATE INDEX i ON a (x)")


def test_the_schema_is_what_the_migrations_say(url: str, tmp_path: Path) -> None:
    with Register.open(url):
        pass
    with sqlite3.connect(tmp_path / "register.db") as connection:
        tables = sorted(
            row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        )
        versions = connection.execute(
            "SELECT version, name FROM schema_migrations ORDER BY version"
        ).fetchall()
    assert tables == ["incidents", "report_filings", "schema_migrations"]
    assert versions == [(1, "incidents"), (2, "report_filings")]
