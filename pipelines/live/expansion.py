"""Beam's Java expansion service, for KafkaIO's cross-language transforms, without Docker.

``ReadFromKafka`` and ``WriteToKafka`` are Java transforms: the Python SDK asks an expansion
service to build them, and the runner then starts a Java SDK harness to execute them. By
default both steps want Docker images and download jars; here the service runs from the
engine cache's class path and declares a PROCESS environment whose command is the cached
``beam-java-worker``, so Prism starts the Java harness as a plain local process.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path
from types import TracebackType

from pilotzone.pipelines.live.engines import Engines, java_executable
from pilotzone.pipelines.live.process import ServerProcess, free_port

EXPANSION_SERVICE_CLASS = "org.apache.beam.sdk.expansion.service.ExpansionService"

PIPELINE_EXPERIMENTS: tuple[str, ...] = ("disable_jamm_agent",)
"""Experiments a pipeline that uses this service must set. Without ``disable_jamm_agent`` the
Java boot adds ``-javaagent:/opt/apache/beam/jars/jamm.jar``, a file only Beam's Docker image
has, and the harness fails with "Error opening zip file or JAR manifest missing"."""


class ExpansionService:
    """The Java expansion service on ``localhost:PORT``; a context manager, or ``start``/``stop``."""

    def __init__(
        self,
        *,
        port: int = 0,
        engines: Engines | None = None,
        heap: str = "1g",
        start_timeout_s: float = 90.0,
        stop_timeout_s: float = 20.0,
        keep_log: bool = False,
    ) -> None:
        self.engines = engines or Engines.locate()
        self.port = port or free_port()
        self.heap = heap
        self.start_timeout_s = start_timeout_s
        self.stop_timeout_s = stop_timeout_s
        self.keep_log = keep_log
        self.log_path: Path | None = None
        self._process: ServerProcess | None = None
        self.start_seconds: float | None = None
        """Seconds from launching the JVM until the service accepted connections."""

    @property
    def address(self) -> str:
        """What ``ReadFromKafka(..., expansion_service=...)`` takes: ``localhost:PORT``."""
        return f"localhost:{self.port}"

    @property
    def experiments(self) -> tuple[str, ...]:
        """Values for the pipeline's ``--experiments`` option (see ``PIPELINE_EXPERIMENTS``)."""
        return PIPELINE_EXPERIMENTS

    def pipeline_args(self) -> list[str]:
        """The same experiments as pipeline command-line arguments."""
        return [f"--experiments={name}" for name in self.experiments]

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.running

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    def command(self) -> list[str]:
        """The service's command line.

        ``--javaClassLookupAllowlistFile=*`` lets Python name Java classes directly (JavaExternal
        transforms); the service only listens on the loopback of a machine the operator owns.
        """
        environment = json.dumps({"command": str(self.engines.java_worker())})
        return [
            java_executable(),
            f"-Xmx{self.heap}",
            "-cp",
            str(self.engines.expansion_lib() / "*"),
            EXPANSION_SERVICE_CLASS,
            str(self.port),
            "--javaClassLookupAllowlistFile=*",
            "--defaultEnvironmentType=PROCESS",
            f"--defaultEnvironmentConfig={environment}",
        ]

    def start(self) -> None:
        """Launch the service and wait (bounded) until its port accepts connections."""
        if self._process is not None:
            raise RuntimeError("the expansion service was started already")
        command = self.command()
        handle, name = tempfile.mkstemp(prefix="pilotzone-expansion-", suffix=".log")
        os.close(handle)
        self.log_path = Path(name)
        self._process = ServerProcess("Beam expansion service", command, self.log_path)
        launched = time.monotonic()
        try:
            self._process.start()
            self._process.wait_for_port(self.port, self.start_timeout_s)
        except BaseException:
            self.stop()
            raise
        self.start_seconds = time.monotonic() - launched

    def stop(self) -> int | None:
        """SIGTERM, SIGKILL after ``stop_timeout_s``; removes the log unless ``keep_log``."""
        code = None
        if self._process is not None:
            code = self._process.stop(self.stop_timeout_s)
        if self.log_path is not None and not self.keep_log:
            self.log_path.unlink(missing_ok=True)
        return code

    def log_tail(self, chars: int = 3000) -> str:
        """The end of the service's log (empty before it starts or once removed)."""
        if self._process is None or self.log_path is None or not self.log_path.exists():
            return ""
        return self._process.log_tail(chars)

    def __enter__(self) -> ExpansionService:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()
