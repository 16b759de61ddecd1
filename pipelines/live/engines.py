"""Where the local streaming engines are: the cache ``deploy/engines/install-engines.sh`` fills.

Live mode runs a Kafka broker, Beam's Java expansion service and Prism from jars and binaries
fetched once by the install script. Nothing here downloads: a missing piece is an error that
names the script, because a silent download at run time would make a live run depend on the
network and on registries that (as the install script documents) do not serve every version.
"""

from __future__ import annotations

import importlib.metadata
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

ENGINES_VARIABLE = "PILOTZONE_ENGINES"
"""Environment variable that moves the cache (the install script reads the same one)."""

DEFAULT_ENGINES_DIR = Path("~/.cache/pilotzone/engines")
"""The cache when ``PILOTZONE_ENGINES`` is not set (expanded against the user's home)."""

ENV_FILE = "engines.env"
"""The install script's record of what it installed (shell syntax, ``NAME='value'`` lines)."""

DEFAULT_KAFKA_VERSION = "4.1.1"
INSTALL_HINT = "run deploy/engines/install-engines.sh (it fetches the engines once, about 2 minutes)"


class EnginesMissingError(FileNotFoundError):
    """A part of the engine cache (or Java) is not there; the message says how to install it."""


def _sdk_beam_version() -> str:
    """The installed Python SDK's version: Prism and the Java side must be the same Beam release."""
    try:
        return importlib.metadata.version("apache-beam")
    except importlib.metadata.PackageNotFoundError:
        return "2.73.0"


def read_env_file(path: Path) -> dict[str, str]:
    """The ``NAME='value'`` lines of ``engines.env``; an absent or unreadable file reads as empty."""
    values: dict[str, str] = {}
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return values
    for line in text.splitlines():
        name, sep, raw = line.strip().partition("=")
        if sep and name and not name.startswith("#"):
            values[name] = raw.strip().strip("'\"")
    return values


@dataclass(frozen=True)
class Engines:
    """The engine cache: paths of its parts, each checked when asked for.

    Build it with ``Engines.locate()``. Accessors raise ``EnginesMissingError`` rather than
    return a path that does not exist, so a caller fails before starting half a system.
    """

    root: Path
    beam_version: str
    kafka_version: str

    @classmethod
    def locate(cls, root: str | Path | None = None) -> Engines:
        """The cache at ``root``, else ``$PILOTZONE_ENGINES``, else ``~/.cache/pilotzone/engines``.

        The Beam version is the installed Python SDK's; the Kafka version is what the install
        script recorded in ``engines.env`` (it may have been run with another ``KAFKA_VERSION``).
        """
        if root is None:
            root = os.environ.get(ENGINES_VARIABLE) or DEFAULT_ENGINES_DIR
        path = Path(root).expanduser()
        recorded = read_env_file(path / ENV_FILE)
        return cls(
            root=path,
            beam_version=_sdk_beam_version(),
            kafka_version=recorded.get("PILOTZONE_KAFKA_VERSION", DEFAULT_KAFKA_VERSION),
        )

    @property
    def beam_dir(self) -> Path:
        return self.root / f"beam-{self.beam_version}"

    def kafka_lib(self) -> Path:
        """Folder of the Kafka broker's jars (``java -cp 'lib/*' kafka.Kafka``)."""
        lib = self.root / f"kafka-{self.kafka_version}" / "lib"
        return self._jars(lib, f"kafka_2.13-{self.kafka_version}.jar", f"Kafka {self.kafka_version}")

    def expansion_lib(self) -> Path:
        """Folder of the Java expansion service's jars (KafkaIO and the Java SDK harness)."""
        lib = self.beam_dir / "expansion-service" / "lib"
        jar = f"beam-sdks-java-expansion-service-{self.beam_version}.jar"
        return self._jars(lib, jar, f"Beam {self.beam_version} expansion service")

    def prism(self) -> Path:
        """The Prism runner binary of the SDK's Beam version (``--prism_location``)."""
        return self._executable(self.beam_dir / "bin" / "prism", f"Prism {self.beam_version}")

    def java_worker(self) -> Path:
        """The PROCESS-environment command that runs Beam's Java SDK harness without Docker."""
        return self._executable(
            self.beam_dir / "bin" / "beam-java-worker", f"Beam {self.beam_version} Java worker"
        )

    def problems(self) -> list[str]:
        """Everything missing, each as one line; empty when live mode can start."""
        found: list[str] = []
        for accessor in (java_executable, self.kafka_lib, self.expansion_lib, self.prism, self.java_worker):
            try:
                accessor()
            except EnginesMissingError as exc:
                found.append(str(exc))
        return found

    def _jars(self, lib: Path, marker_jar: str, what: str) -> Path:
        if not (lib / marker_jar).is_file():
            raise EnginesMissingError(
                f"{what} is not in the engine cache ({lib / marker_jar} missing): {INSTALL_HINT}"
            )
        return lib

    def _executable(self, path: Path, what: str) -> Path:
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise EnginesMissingError(f"{what} is not in the engine cache ({path} missing): {INSTALL_HINT}")
        return path


def java_executable() -> str:
    """The ``java`` on PATH; the broker and the expansion service need Java 17 or newer."""
    java = shutil.which("java")
    if java is None:
        raise EnginesMissingError("java is not on PATH: install a Java 17+ runtime, then " + INSTALL_HINT)
    return java
