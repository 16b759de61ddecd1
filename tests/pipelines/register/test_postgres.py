"""The register on a real PostgreSQL (Debian's server on 127.0.0.1): the same checks as SQLite's,
plus two monitors migrating one database at once."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator

import psycopg
import pytest

from pilotzone.pipelines.cli import main
from pilotzone.pipelines.register.store import Register, RegisterError
from pilotzone.zones.evaluate import rfc3339_ms
from tests.factories import T0_MS
from tests.pipelines.register import registers
from tests.servers import postgresql

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with postgresql() as url:
        yield url


@pytest.fixture
def url(server: str, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh database per test on the module's server."""
    name = "t_" + request.node.name.replace("[", "_").replace("]", "").lower()[:50]
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    yield server.rsplit("/", 1)[0] + "/" + name


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


def test_two_monitors_migrating_at_once_apply_each_migration_once(url: str) -> None:
    applied: list[list[int]] = []
    errors: list[BaseException] = []

    def start() -> None:
        try:
            register = Register.connect(url)
            try:
                applied.append([m.version for m in register.migrate()])
            finally:
                register.close()
        except BaseException as exc:  # reported below, not lost in the thread
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert sorted(version for versions in applied for version in versions) == [1, 2]


def test_an_unreachable_server_is_a_clear_error(server: str) -> None:
    wrong = server.rsplit("/", 1)[0] + "/no_such_database"
    with pytest.raises(
        RegisterError,
        match=r"cannot connect to the register postgresql://pilotzone@127\.0\.0\.1:\d+/no_such_database",
    ):
        Register.connect(wrong)


def test_the_operators_desk_on_postgresql(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    with Register.open(url) as register:
        register.upsert([registers.incident("c1"), registers.incident("c2", operator="op-b")])
    filed_at = rfc3339_ms(T0_MS + 2 * registers.HOUR_MS)
    assert main(["incidents", "file", "c1", "--register", url, "--reference", "KOTSA-1", "--by", "kim",
                 "--at", filed_at]) == 0  # fmt: skip
    capsys.readouterr()
    now = rfc3339_ms(T0_MS + 25 * registers.HOUR_MS)
    assert main(["incidents", "list", "--register", url, "--now", now, "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["incident_id"], r["report"]["status"], r["report"]["filed_at"]) for r in rows] == [
        ("c1", "filed", filed_at),
        ("c2", "overdue", None),
    ]
