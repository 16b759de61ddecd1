"""Helpers for live-mode tests: skip without the engine cache, read a topic back, check a process is gone."""

from __future__ import annotations

import os
import time
import uuid

import pytest
from confluent_kafka import Consumer, Message

from pilotzone.pipelines.live.engines import Engines


def engines_or_skip() -> Engines:
    """The engine cache; the test is skipped (with the fix) only when the cache is incomplete."""
    engines = Engines.locate()
    problems = engines.problems()
    if problems:
        pytest.skip("live-mode engines missing: " + "; ".join(problems))
    return engines


def consume(bootstrap: str, topic: str, expected: int, timeout_s: float = 60.0) -> list[Message]:
    """Read ``topic`` from the start until ``expected`` messages arrived (or fail after ``timeout_s``)."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"test-{uuid.uuid4().hex}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    messages: list[Message] = []
    try:
        consumer.subscribe([topic])
        deadline = time.monotonic() + timeout_s
        while len(messages) < expected and time.monotonic() < deadline:
            for message in consumer.consume(num_messages=1000, timeout=0.5):
                assert message.error() is None, message.error()
                messages.append(message)
    finally:
        consumer.close()
    assert len(messages) == expected, (
        f"read {len(messages)} of {expected} messages from {topic} in {timeout_s:g} s"
    )
    return messages


def assert_gone(pid: int | None) -> None:
    """The process ``pid`` has exited and was reaped (nothing left running or as a zombie)."""
    assert pid is not None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return
    raise AssertionError(f"process {pid} is still there")
