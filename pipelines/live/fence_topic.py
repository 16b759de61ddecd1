"""Emergency fences on a compacted Kafka topic: where a Kafka-fed monitor learns of them.

A monitor that reads telemetry from Kafka reads its fences from a topic next to it
(``pilotzone stream --source kafka --fences-topic TOPIC``), from the beginning every time it
starts: the topic *is* the fence history, so a restarted monitor knows every fence, and a
replay given the same documents gives the same incidents.

**Compacted, keyed by fence id and digest.** A compacted topic keeps the newest record of
every key forever (a topic deleting by age would forget a fence still in force after its
retention). The key is ``<fence id>@<digest>``:

* Republishing the same document gives the same key and value: compaction keeps one of
  them, and the monitor, which knows fences by digest, enforces nothing new. Publishing is
  idempotent, so a regulator whose publish timed out simply publishes again.
* An amendment (same id, different content, ``zones.fences.versions``) has another key, so
  compaction cannot drop the earlier version: the history stays whole, and with it what was
  in force before the amendment. Keyed by fence id alone, compaction would keep only the
  latest version and a restarted monitor (or a replay from the topic) would judge the past
  by the amendment.

A topic that exists but does not compact (or also deletes, ``compact,delete``) is refused
rather than changed: its retention would silently drop fences, and changing someone else's
topic configuration is not a publisher's call.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from confluent_kafka import KafkaError, KafkaException, Message, Producer
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic

from pilotzone.zones.fences import Fence

COMPACTED = "compact"
"""The ``cleanup.policy`` of a fence topic."""

_URL = re.compile(r"^kafka://(?P<bootstrap>[^/\s]+:\d+)/(?P<topic>[A-Za-z0-9._-]{1,249})$")


class FenceTopicError(RuntimeError):
    """The fence topic cannot be used as given (unreachable, not compacted, bad address)."""


@dataclass(frozen=True)
class FenceTopic:
    """A fence topic: ``bootstrap`` servers (``HOST:PORT``) and the topic's name."""

    bootstrap: str
    topic: str

    @staticmethod
    def parse(url: str) -> FenceTopic:
        """``kafka://HOST:PORT/TOPIC``; ``FenceTopicError`` saying what is wrong otherwise."""
        match = _URL.match(url)
        if match is None:
            raise FenceTopicError(
                f"{url} is not kafka://HOST:PORT/TOPIC (a topic name is letters, digits, '.', '_' and '-')"
            )
        return FenceTopic(match["bootstrap"], match["topic"])

    def __str__(self) -> str:
        return f"kafka://{self.bootstrap}/{self.topic}"


@dataclass(frozen=True)
class Published:
    """Where the broker stored a fence record."""

    key: str
    partition: int
    offset: int
    created_topic: bool


def record_key(fence: Fence) -> str:
    """``<fence id>@<digest>``: one record per version, the same one for the same document
    (module docstring)."""
    return f"{fence.fence_id}@{fence.digest}"


def ensure_compacted_topic(where: FenceTopic, *, timeout_s: float = 15.0) -> bool:
    """Create the topic compacted if it is missing (True), or check that it compacts (False).

    ``FenceTopicError`` when the broker does not answer within ``timeout_s`` or the topic
    exists with another cleanup policy.
    """
    admin = AdminClient({"bootstrap.servers": where.bootstrap})
    try:
        metadata = admin.list_topics(timeout=timeout_s)
    except KafkaException as exc:
        raise FenceTopicError(
            f"no Kafka broker answered at {where.bootstrap} within {timeout_s:g} s ({exc})"
        ) from None
    if where.topic not in metadata.topics:
        future = admin.create_topics(
            [
                NewTopic(
                    where.topic, num_partitions=1, replication_factor=-1, config={"cleanup.policy": COMPACTED}
                )
            ]
        )[where.topic]
        error = future.exception(timeout_s)
        if error is None:
            return True
        detail = error.args[0] if error.args else None
        # Created meanwhile by someone else: check it like any existing topic.
        if not (isinstance(detail, KafkaError) and detail.code() == KafkaError.TOPIC_ALREADY_EXISTS):
            raise FenceTopicError(f"cannot create topic {where.topic} on {where.bootstrap}: {error}")
    resource = ConfigResource(ConfigResource.Type.TOPIC, where.topic)
    try:
        configs = admin.describe_configs([resource])[resource].result(timeout_s)
    except KafkaException as exc:
        raise FenceTopicError(f"cannot read the configuration of topic {where.topic}: {exc}") from None
    policy = configs["cleanup.policy"].value if "cleanup.policy" in configs else ""
    if policy != COMPACTED:
        raise FenceTopicError(
            f"topic {where.topic} has cleanup.policy={policy}, not {COMPACTED}: its retention would drop "
            f"fences still in force; name a compacted topic (or a new one, which is created compacted)"
        )
    return False


def publish_fence(
    where: FenceTopic, fence: Fence, document: bytes, *, created_topic: bool, timeout_s: float = 30.0
) -> Published:
    """Send the fence's ``document`` keyed by ``record_key`` and wait for the broker's ack
    (``acks=all``); ``FenceTopicError`` if it is not acknowledged.

    No idempotent producer: acquiring its producer id cost ~0.5 s of a ~0.65 s publish here,
    and a send retried twice can only duplicate the same key and value, which compaction and
    the monitor's digest check already make harmless."""
    producer = Producer({"bootstrap.servers": where.bootstrap, "acks": "all"})
    outcome: list[tuple[KafkaError | None, Message]] = []
    key = record_key(fence)
    producer.produce(
        where.topic, document, key.encode("utf-8"), on_delivery=lambda err, msg: outcome.append((err, msg))
    )
    left = producer.flush(timeout_s)
    if left or not outcome:
        raise FenceTopicError(
            f"the broker at {where.bootstrap} did not acknowledge the fence within {timeout_s:g} s"
        )
    error, message = outcome[0]
    if error is not None:
        raise FenceTopicError(f"the broker refused the fence: {error.str()}")
    partition, offset = message.partition(), message.offset()
    assert partition is not None and offset is not None
    return Published(key, partition, offset, created_topic)


__all__ = [
    "COMPACTED",
    "FenceTopic",
    "FenceTopicError",
    "Published",
    "ensure_compacted_topic",
    "publish_fence",
    "record_key",
]
