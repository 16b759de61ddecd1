"""A real KRaft broker: it starts, takes a topic, carries messages, and leaves no process behind."""

from __future__ import annotations

from pathlib import Path

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, ConfigResource, ResourceType

from pilotzone.pipelines.live.broker import KafkaBroker, new_cluster_id
from tests.pipelines.live.kafka_clients import assert_gone, consume, engines_or_skip


def test_cluster_ids_look_like_kafkas() -> None:
    ids = {new_cluster_id() for _ in range(200)}
    assert len(ids) == 200
    assert all(len(i) == 22 and not i.startswith("-") for i in ids)


@pytest.mark.integration
def test_a_broker_carries_messages_and_stops_without_a_trace() -> None:
    broker = KafkaBroker(engines=engines_or_skip())
    with broker:
        assert broker.running
        temp_dir = broker.data_dir
        assert broker.create_topic("probe", partitions=3) is True
        assert broker.create_topic("probe") is False
        producer = Producer({"bootstrap.servers": broker.bootstrap})
        for n in range(30):
            producer.produce("probe", value=f"v{n}".encode(), key=f"k{n % 5}".encode(), timestamp=1_000 + n)
        assert producer.flush(30) == 0
        messages = consume(broker.bootstrap, "probe", 30, timeout_s=60)
        assert sorted((m.key(), m.value(), m.timestamp()[1]) for m in messages) == sorted(
            (f"k{n % 5}".encode(), f"v{n}".encode(), 1_000 + n) for n in range(30)
        )
        assert {m.partition() for m in messages} <= {0, 1, 2}
    assert not broker.running
    assert_gone(broker.pid)
    assert not temp_dir.exists()


@pytest.mark.integration
def test_a_compacted_topic_keeps_the_newest_value_per_key() -> None:
    with KafkaBroker(engines=engines_or_skip()) as broker:
        broker.create_topic("latest", compacted=True)
        admin = AdminClient({"bootstrap.servers": broker.bootstrap})
        resource = ConfigResource(ResourceType.TOPIC, "latest")
        config = admin.describe_configs([resource])[resource].result(30)
        assert config["cleanup.policy"].value == "compact"
    assert_gone(broker.pid)


@pytest.mark.integration
def test_a_kept_data_folder_keeps_topics_and_messages_across_restarts(tmp_path: Path) -> None:
    engines = engines_or_skip()
    with KafkaBroker(engines=engines, data_dir=tmp_path / "kafka") as broker:
        broker.create_topic("kept")
        producer = Producer({"bootstrap.servers": broker.bootstrap})
        producer.produce("kept", value=b"survives", key=b"k")
        assert producer.flush(30) == 0
    with KafkaBroker(engines=engines, data_dir=tmp_path / "kafka") as again:
        assert again.create_topic("kept") is False
        assert [m.value() for m in consume(again.bootstrap, "kept", 1)] == [b"survives"]
    assert (tmp_path / "kafka" / "broker.log").exists()
