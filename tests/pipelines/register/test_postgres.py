"""The register on a real PostgreSQL (Debian's server on 127.0.0.1): the same checks as SQLite's,
plus two monitors migrating one database at once."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import psycopg
import pytest

from pilotzone.pipelines.register.store import Register, RegisterError
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
