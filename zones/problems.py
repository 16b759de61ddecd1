"""What is wrong with a zone config, located precisely enough to fix it.

Every step of loading (YAML, schema, cross-references, geometry) reports into one list of
``ConfigProblem``; ``ZoneConfigError`` carries them all, so one run shows every problem of
every file instead of the first one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class ConfigProblem:
    """One thing wrong with a zone config, located precisely enough to fix it.

    ``line`` is the 1-based line in ``file`` when it is known (YAML errors and fields that
    exist in the YAML); a missing field has the line of the mapping it is missing from.
    """

    file: str
    location: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        return f"{where}: {self.location}: {self.message}" if self.location else f"{where}: {self.message}"


class ZoneConfigError(ValueError):
    """Zone configs that cannot be loaded; ``problems`` holds every problem found, in file order."""

    def __init__(self, problems: Sequence[ConfigProblem]) -> None:
        self.problems: list[ConfigProblem] = list(problems)
        super().__init__("\n".join(str(problem) for problem in self.problems))


__all__ = ["ConfigProblem", "ZoneConfigError"]
