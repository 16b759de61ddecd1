"""``pilotzone broker`` in its own process, and ``pilotzone publish`` against it."""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from confluent_kafka import Producer

from pilotzone.pipelines.cli import main
from pilotzone.pipelines.cli.broker import BOOTSTRAP_LINE
from pilotzone.pipelines.live.broker import KafkaBroker
from pilotzone.pipelines.live.process import free_port
from tests.pipelines.live.kafka_clients import consume, engines_or_skip


def read_bootstrap(process: subprocess.Popen[str], timeout_s: float) -> str:
    """The address from the broker's 'bootstrap:' line, waiting at most ``timeout_s``."""
    assert process.stdout is not None
    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if selector.select(timeout=0.5):
            line = process.stdout.readline()
            if line.startswith(BOOTSTRAP_LINE):
                return line[len(BOOTSTRAP_LINE) :].strip()
            assert line, f"pilotzone broker exited with {process.wait(5)} before printing its address"
    raise AssertionError(f"no '{BOOTSTRAP_LINE}' line within {timeout_s:g} s")


@pytest.mark.integration
def test_pilotzone_broker_serves_until_sigterm(tmp_path: Path) -> None:
    engines_or_skip()
    port = free_port()
    command = [sys.executable, "-m", "pilotzone.pipelines.cli", "broker", "--port", str(port)]
    command += ["--data-dir", str(tmp_path / "kafka"), "--topic", "cli-probe", "--partitions", "2"]
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        bootstrap = read_bootstrap(process, timeout_s=120)
        assert bootstrap == f"127.0.0.1:{port}"
        producer = Producer({"bootstrap.servers": bootstrap})
        producer.produce("cli-probe", value=b"hello", key=b"k")
        assert producer.flush(30) == 0
        del producer
        assert [m.value() for m in consume(bootstrap, "cli-probe", 1)] == [b"hello"]
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        assert process.wait(60) == 0
        assert time.monotonic() - started < 40
        assert process.stderr is not None
        assert "stopped" in process.stderr.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
    assert (tmp_path / "kafka" / "kraft-logs" / "meta.properties").is_file()


@pytest.mark.integration
def test_pilotzone_publish_sends_the_fleet(
    tiny_fleet: Path, broker: KafkaBroker, capsys: pytest.CaptureFixture[str]
) -> None:
    broker.create_topic("cli-telemetry")
    argv = ["publish", str(tiny_fleet), "--kafka-bootstrap", broker.bootstrap, "--topic", "cli-telemetry"]
    assert main([*argv, "--speed-up", "0", "--quiet"]) == 0
    summary = capsys.readouterr().err
    count = int(summary.split("publish: ")[1].split(" messages")[0].replace(",", ""))
    assert len(consume(broker.bootstrap, "cli-telemetry", count)) == count
    assert "failed 0" in summary


@pytest.mark.parametrize(
    ("options", "message"),
    [(["--realtime-start", "yesterday"], "'now' or an instant"), (["--speed-up", "-1"], "--speed-up")],
)
def test_pilotzone_publish_refuses_bad_options(
    tmp_path: Path, options: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["publish", str(tmp_path), "--kafka-bootstrap", "127.0.0.1:1", "--topic", "t", *options]
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_pilotzone_publish_refuses_a_folder_without_telemetry(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["publish", str(tmp_path), "--kafka-bootstrap", "127.0.0.1:1", "--topic", "t"]) == 2
    assert "holds no telemetry" in capsys.readouterr().err
