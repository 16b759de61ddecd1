"""``pilotzone fences publish --to kafka://...`` against a real broker: a compacted topic created,
the broker's ack printed, a topic that deletes by age refused, a republication idempotent."""

from __future__ import annotations

from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient, ConfigResource

from pilotzone.pipelines.cli import main
from pilotzone.pipelines.cli.fences import published_document
from pilotzone.pipelines.live.broker import KafkaBroker
from pilotzone.pipelines.transforms.fences import read_fence_record
from pilotzone.zones.fences.judge import FenceJudge
from pilotzone.zones.fences.loader import load_fence
from tests.pipelines.live.kafka_clients import consume
from tests.zones.fences.fence_files import write_fence

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.fences]


def cleanup_policy(bootstrap: str, topic: str) -> str:
    resource = ConfigResource(ConfigResource.Type.TOPIC, topic)
    admin = AdminClient({"bootstrap.servers": bootstrap})  # outlives its future (see KafkaBroker)
    configs = admin.describe_configs([resource])[resource].result(30)
    return str(configs["cleanup.policy"].value)


def test_publish_creates_a_compacted_topic_and_a_republication_enforces_nothing_new(
    tmp_path: Path, broker: KafkaBroker, capsys: pytest.CaptureFixture[str]
) -> None:
    source = write_fence(tmp_path)
    fence = load_fence(source)
    url = f"kafka://{broker.bootstrap}/fences-new"
    assert main(["fences", "publish", str(source), "--to", url]) == 0
    first = capsys.readouterr().out
    assert first.startswith(
        f"published to {url} (created, compacted) partition 0 offset 0, key fire-1@{fence.digest}: fire-1 ("
    )
    assert cleanup_policy(broker.bootstrap, "fences-new") == "compact"
    assert main(["fences", "publish", str(source), "--to", url]) == 0
    assert capsys.readouterr().out.startswith(
        f"published to {url} partition 0 offset 1, key fire-1@{fence.digest}: "
    )

    records = consume(broker.bootstrap, "fences-new", 2)
    assert [(m.key(), m.value()) for m in records] == [
        (f"fire-1@{fence.digest}".encode(), published_document(fence))
    ] * 2
    judge = FenceJudge()
    for message in records:
        for received in read_fence_record("fences-new", (message.key(), message.value())):
            assert judge.add_fence(received) is None
    assert [(known.digest, known.end_ms) for known in judge.fences] == [(fence.digest, fence.end_ms)]


def test_publish_refuses_a_topic_that_deletes_by_age(
    tmp_path: Path, broker: KafkaBroker, capsys: pytest.CaptureFixture[str]
) -> None:
    broker.create_topic("fences-plain")
    source = write_fence(tmp_path)
    assert main(["fences", "publish", str(source), "--to", f"kafka://{broker.bootstrap}/fences-plain"]) == 2
    assert capsys.readouterr().err == (
        "pilotzone fences publish: not published: topic fences-plain has cleanup.policy=delete, not compact: "
        "its retention would drop fences still in force; name a compacted topic (or a new one, which is "
        "created compacted)\n"
    )
    assert consume(broker.bootstrap, "fences-plain", 0, timeout_s=3) == []


def test_publish_refuses_a_bad_fence_before_reaching_the_broker(
    tmp_path: Path, broker: KafkaBroker, capsys: pytest.CaptureFixture[str]
) -> None:
    source = write_fence(tmp_path, vehicle_classes=["HOVERCRAFT"])
    assert main(["fences", "publish", str(source), "--to", f"kafka://{broker.bootstrap}/fences-bad"]) == 2
    assert capsys.readouterr().err.startswith(
        f"pilotzone fences publish: not published, fix these first:\n{source}:"
    )
    metadata = AdminClient({"bootstrap.servers": broker.bootstrap}).list_topics(timeout=30)
    assert "fences-bad" not in metadata.topics
