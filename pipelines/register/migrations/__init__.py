"""The register's schema as numbered SQL migrations, applied in order and recorded in
``schema_migrations``; each file runs unchanged on SQLite and PostgreSQL.

A change to the schema is a new file ``NNNN_what.sql`` with the next number, never an edit
of a published one: registers already deployed have applied the old text and would not see
the edit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources


@dataclass(frozen=True)
class Migration:
    """One numbered migration: its statements, in file order."""

    version: int
    name: str
    statements: tuple[str, ...]


_NAME = re.compile(r"^(\d{4})_(\w+)\.sql$")


def statements_of(text: str) -> tuple[str, ...]:
    """The statements of a migration file: ``;``-separated, whole-line ``--`` comments dropped."""
    code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("--"))
    return tuple(part.strip() for part in code.split(";") if part.strip())


def load_migrations() -> tuple[Migration, ...]:
    """Every migration shipped with the package, by number; numbers must run 1, 2, 3 ..."""
    found = []
    for item in resources.files(__package__).iterdir():
        match = _NAME.match(item.name)
        if match:
            found.append(Migration(int(match[1]), match[2], statements_of(item.read_text(encoding="utf-8"))))
    found.sort(key=lambda migration: migration.version)
    numbers = [migration.version for migration in found]
    if numbers != list(range(1, len(found) + 1)):
        raise RuntimeError(f"register migrations must be numbered 1..n without gaps, found {numbers}")
    return tuple(found)


MIGRATIONS = load_migrations()
