"""A single-node Kafka broker (KRaft: broker and controller in one JVM) on 127.0.0.1.

Operators try live mode on a laptop and tests need a real broker, not a mock: KafkaIO's
consumer and the publisher must agree on framing, keys and timestamps as they will in
production. The broker runs from the engine cache's jars (``java -cp 'lib/*' kafka.Kafka``),
with no ZooKeeper and no scripts, and listens on loopback only.
"""

from __future__ import annotations

import base64
import shutil
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from types import TracebackType

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from pilotzone.pipelines.live.engines import Engines, java_executable
from pilotzone.pipelines.live.process import LOCALHOST, ProcessStartError, ServerProcess, free_port

PROPERTIES_FILE = "server.properties"
LOG_FILE = "broker.log"
LOG_DIRS = "kraft-logs"


def new_cluster_id() -> str:
    """A cluster id as Kafka's ``StorageTool random-uuid`` makes one, without starting a JVM for it.

    Kafka ids are 16 random bytes in URL-safe base64 without padding; Kafka never hands out
    one starting with ``-`` because a command line would read it as an option.
    """
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not cluster_id.startswith("-"):
            return cluster_id


def server_properties(port: int, controller_port: int, log_dirs: Path) -> str:
    """The broker's configuration: one node that is its own controller, all on 127.0.0.1.

    Replication factors are 1 because there is one node; ``group.initial.rebalance.delay.ms=0``
    lets a consumer that joins a fresh group read at once instead of after 3 s.
    """
    return "\n".join(
        [
            "process.roles=broker,controller",
            "node.id=1",
            f"controller.quorum.voters=1@{LOCALHOST}:{controller_port}",
            f"listeners=PLAINTEXT://{LOCALHOST}:{port},CONTROLLER://{LOCALHOST}:{controller_port}",
            f"advertised.listeners=PLAINTEXT://{LOCALHOST}:{port}",
            "controller.listener.names=CONTROLLER",
            "inter.broker.listener.name=PLAINTEXT",
            "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            f"log.dirs={log_dirs}",
            "num.partitions=1",
            "offsets.topic.replication.factor=1",
            "transaction.state.log.replication.factor=1",
            "transaction.state.log.min.isr=1",
            "share.coordinator.state.topic.replication.factor=1",
            "share.coordinator.state.topic.min.isr=1",
            "group.initial.rebalance.delay.ms=0",
            "",
        ]
    )


class KafkaBroker:
    """A local KRaft broker; use it as a context manager, or call ``start`` and ``stop``.

    ``data_dir`` keeps topics across runs (its storage is formatted once, on first use); without
    it the broker lives in a temporary folder removed on stop. ``port`` 0 picks a free port.
    """

    def __init__(
        self,
        *,
        port: int = 0,
        data_dir: str | Path | None = None,
        engines: Engines | None = None,
        heap: str = "512m",
        start_timeout_s: float = 90.0,
        stop_timeout_s: float = 30.0,
    ) -> None:
        self.engines = engines or Engines.locate()
        self.port = port or free_port()
        self.controller_port = free_port()
        self.heap = heap
        self.start_timeout_s = start_timeout_s
        self.stop_timeout_s = stop_timeout_s
        self._given_dir = Path(data_dir) if data_dir is not None else None
        self._temp_dir: Path | None = None
        self._process: ServerProcess | None = None
        self.start_seconds: float | None = None
        """Seconds from launching the JVM until the broker answered a metadata request."""

    @property
    def bootstrap(self) -> str:
        """``bootstrap.servers`` for clients: ``127.0.0.1:PORT``."""
        return f"{LOCALHOST}:{self.port}"

    @property
    def data_dir(self) -> Path:
        folder = self._given_dir or self._temp_dir
        if folder is None:
            raise RuntimeError("the broker has no data folder before it starts")
        return folder

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.running

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    def start(self) -> None:
        """Format the storage if needed, launch the broker and wait (bounded) until it answers."""
        if self._process is not None:
            raise RuntimeError("the broker was started already")
        lib = self.engines.kafka_lib()
        java = java_executable()
        if self._given_dir is None:
            self._temp_dir = Path(tempfile.mkdtemp(prefix="pilotzone-kafka-"))
        folder = self.data_dir
        folder.mkdir(parents=True, exist_ok=True)
        properties = folder / PROPERTIES_FILE
        properties.write_text(
            server_properties(self.port, self.controller_port, (folder / LOG_DIRS).resolve()),
            encoding="utf-8",
        )
        classpath = ["-cp", str(lib / "*")]
        jvm = [java, f"-Xmx{self.heap}", "-XX:+UseG1GC", "-Djava.awt.headless=true", *classpath]
        try:
            self._format(jvm, properties)
            self._process = ServerProcess(
                "Kafka broker", [*jvm, "kafka.Kafka", str(properties)], folder / LOG_FILE
            )
            launched = time.monotonic()
            self._process.start()
            remaining = self.start_timeout_s - self._process.wait_for_port(self.port, self.start_timeout_s)
            self._wait_for_metadata(max(remaining, 5.0))
            self.start_seconds = time.monotonic() - launched
        except BaseException:
            self.stop()
            raise

    def _format(self, jvm: list[str], properties: Path) -> None:
        """Format the log folder for KRaft, unless an earlier run did.

        A formatted folder is skipped rather than passed ``--ignore-formatted``: the tool still
        compares the stored cluster id with the new one and refuses. No ``--standalone``: the
        quorum is declared statically in ``controller.quorum.voters``.
        """
        if (self.data_dir / LOG_DIRS / "meta.properties").is_file():
            return
        command = [
            *jvm,
            "kafka.tools.StorageTool",
            "format",
            "-t",
            new_cluster_id(),
            "-c",
            str(properties),
        ]
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=self.start_timeout_s, check=False
        )
        if result.returncode != 0:
            raise ProcessStartError(f"formatting Kafka storage failed:\n{result.stdout}\n{result.stderr}")

    def _wait_for_metadata(self, timeout_s: float) -> None:
        """An open port is not a ready broker: wait until it returns cluster metadata."""
        admin = AdminClient({"bootstrap.servers": self.bootstrap})
        deadline = time.monotonic() + timeout_s
        last_error: KafkaException | None = None
        while time.monotonic() < deadline:
            try:
                if admin.list_topics(timeout=min(5.0, max(0.5, deadline - time.monotonic()))).brokers:
                    return
            except KafkaException as exc:
                last_error = exc
            time.sleep(0.1)
        raise ProcessStartError(
            f"Kafka broker on {self.bootstrap} answered no metadata within {timeout_s:g} s ({last_error})"
        )

    def create_topic(
        self, name: str, partitions: int = 1, *, compacted: bool = False, timeout_s: float = 30.0
    ) -> bool:
        """Create a topic; False if it exists already (a broker with a kept ``data_dir``).

        ``compacted`` keeps the newest record per key forever instead of deleting by age,
        for topics that hold state (the latest status of each vehicle) rather than a stream.
        """
        config = {"cleanup.policy": "compact"} if compacted else {}
        topic = NewTopic(name, num_partitions=partitions, replication_factor=1, config=config)
        # The client must outlive the future: a collected client cancels its requests.
        admin = AdminClient({"bootstrap.servers": self.bootstrap})
        future = admin.create_topics([topic])[name]
        # ``exception()`` instead of ``result()``: a raised error's traceback would hold this frame,
        # and with it the client, alive until a garbage collection, logging reconnects meanwhile.
        error = future.exception(timeout_s)
        if error is None:
            return True
        detail = error.args[0] if error.args else None
        if isinstance(detail, KafkaError) and detail.code() == KafkaError.TOPIC_ALREADY_EXISTS:
            return False
        raise error

    def stop(self) -> int | None:
        """Controlled shutdown (SIGTERM), SIGKILL after ``stop_timeout_s``; removes a temporary data folder."""
        code = None
        if self._process is not None:
            code = self._process.stop(self.stop_timeout_s)
        if self._temp_dir is not None:
            shutil.rmtree(self._temp_dir, ignore_errors=True)
            self._temp_dir = None
        return code

    def log_tail(self, chars: int = 3000) -> str:
        """The end of the broker's log (empty before it starts)."""
        return "" if self._process is None else self._process.log_tail(chars)

    def __enter__(self) -> KafkaBroker:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()
