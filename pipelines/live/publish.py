"""A simulated fleet, driven live: its telemetry sent to Kafka in event-time order, at a chosen pace.

``pilotzone simulate`` writes what vehicles upload after the fact (container files per slice).
Live mode needs the same samples the way a connected fleet sends them: one message per sample,
as it happens. The publisher reads a simulation folder, orders every sample of every vehicle
by event time, and sends each as a Confluent-framed Avro message keyed by vehicle id (so one
vehicle's samples stay in one partition, in order) with the Kafka timestamp set to the sample's
event time (so KafkaIO's event-time policies see when it happened, not when it was sent).

Pacing keeps event time advancing at ``speed_up`` times real time, against absolute deadlines
so that a late send does not delay the rest. The wall-clock send times are reported, because
end-to-end latency (sample sent to incident out) is measured against them.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

from confluent_kafka import KafkaError, Message, Producer

from pilotzone.pipelines.live.framing import TIMESTAMP_FIELD, TelemetryEncoder
from pilotzone.pipelines.simulator import TELEMETRY_DIR
from pilotzone.schemas.decode import DeadLetter, TelemetryDecoder

SLEEP_THRESHOLD_S = 0.001
"""Shorter waits are not slept: ``sleep`` overshoots them, and deadlines are absolute anyway."""

QUEUE_FULL_PATIENCE_S = 60.0
"""How long a full local queue may refuse messages before publishing gives up (the broker is gone)."""


class PublishError(RuntimeError):
    """Publishing cannot go on: the broker stopped taking messages, or there is nothing to send."""


class NoTelemetryError(PublishError):
    """The folder is not a simulation folder: it holds no telemetry files."""


@dataclass(frozen=True, order=True)
class Sample:
    """One telemetry sample ready to send, ordered by event time, then vehicle, then sequence."""

    event_ms: int
    vehicle_id: str
    sequence_number: int
    body: bytes = field(compare=False, repr=False)
    """The Avro binary encoding of the record, without framing."""


@dataclass(frozen=True)
class FleetTelemetry:
    """Every readable sample of a simulation folder, in sending order."""

    samples: list[Sample]
    files: int
    unreadable: int
    """Records the decoder could not read (dead letters); they are not sent."""


def load_fleet(folder: str | Path, encoder: TelemetryEncoder | None = None) -> FleetTelemetry:
    """Read ``folder/telemetry/**/*.avro`` (as ``pilotzone simulate`` writes it) and sort by event time.

    Records are decoded with the monitor's own decoder, so a file it cannot read is not sent
    either. Memory holds every sample's encoded body (about 150 bytes each).
    """
    encoder = encoder or TelemetryEncoder()
    root = Path(folder) / TELEMETRY_DIR
    paths = sorted(root.rglob("*.avro")) if root.is_dir() else []
    if not paths:
        raise NoTelemetryError(
            f"{folder} holds no telemetry ({root}/**/*.avro): point at a `pilotzone simulate` --out folder"
        )
    decoder = TelemetryDecoder()
    samples: list[Sample] = []
    unreadable = 0
    for path in paths:
        for block in decoder.decode(path.read_bytes(), str(path)):
            if isinstance(block, DeadLetter):
                unreadable += block.records
                continue
            samples.extend(
                Sample(
                    int(record[TIMESTAMP_FIELD]),
                    str(record["vehicle_id"]),
                    int(record["sequence_number"]),
                    encoder.body(record),
                )
                for record in block.records
            )
    samples.sort()
    return FleetTelemetry(samples, len(paths), unreadable)


class Clock(Protocol):
    """Time as the publisher sees it: injected so pacing is tested without waiting."""

    def wall(self) -> float:
        """Seconds since the epoch (for reported send times)."""

    def monotonic(self) -> float:
        """Seconds on a clock that never jumps (for pacing)."""

    def sleep(self, seconds: float) -> None:
        """Wait."""


class SystemClock:
    """The real clocks."""

    def wall(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


DeliveryCallback = Callable[[KafkaError | None, Message], None]


class MessageSink(Protocol):
    """What the publisher needs of a Kafka producer (``confluent_kafka.Producer`` is one)."""

    def produce(
        self, topic: str, value: bytes, key: bytes, *, on_delivery: DeliveryCallback, timestamp: int
    ) -> None:
        """Queue one message; raises ``BufferError`` while the local queue is full."""

    def poll(self, timeout: float) -> int:
        """Serve delivery callbacks."""

    def flush(self, timeout: float) -> int:
        """Wait for queued messages; returns how many are still queued."""


RealtimeStart = dt.datetime | Literal["now"] | None


@dataclass(frozen=True)
class PublishSettings:
    """How to publish.

    ``speed_up``: event time advances this many times faster than real time; 0 or infinity
    sends as fast as the broker takes it. ``realtime_start``: move every timestamp by one
    offset so the first sample happens at this instant (``"now"``: when publishing starts),
    which makes a recorded fleet look live to a pipeline that compares event and processing
    time; durations between samples are unchanged, so rule outcomes are too.
    """

    topic: str
    speed_up: float = 1.0
    realtime_start: RealtimeStart = None
    record_send_times: bool = False
    flush_timeout_s: float = 60.0

    @property
    def paced(self) -> bool:
        return 0 < self.speed_up < float("inf")


@dataclass
class PublishReport:
    """What was sent, and when."""

    messages: int = 0
    delivered: int = 0
    failed: int = 0
    first_error: str | None = None
    vehicles: int = 0
    files: int = 0
    unreadable: int = 0
    shift_ms: int = 0
    first_event_ms: int | None = None
    last_event_ms: int | None = None
    first_send_wall: float | None = None
    last_send_wall: float | None = None
    elapsed_s: float = 0.0
    send_times: dict[tuple[str, int], float] | None = None
    """``(vehicle_id, event_ms as sent) -> wall-clock send time``; only with ``record_send_times``."""

    @property
    def rate(self) -> float:
        """Messages per second of wall time."""
        return self.messages / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def summary(self) -> str:
        """One line for operators."""
        span = (
            0.0
            if self.first_event_ms is None or self.last_event_ms is None
            else self.last_event_ms - self.first_event_ms
        )
        text = (
            f"{self.messages:,} messages from {self.vehicles} vehicles ({span / 1000:,.1f} s of event time) "
            f"in {self.elapsed_s:,.1f} s, {self.rate:,.0f}/s; delivered {self.delivered:,}, failed {self.failed:,}"
        )
        if self.unreadable:
            text += f"; {self.unreadable:,} unreadable records not sent"
        if self.first_error:
            text += f"; first error: {self.first_error}"
        return text


def resolve_shift_ms(realtime_start: RealtimeStart, first_event_ms: int, now_wall: float) -> int:
    """The offset that moves ``first_event_ms`` to ``realtime_start`` (0 without one)."""
    if realtime_start is None:
        return 0
    if realtime_start == "now":
        start_ms = round(now_wall * 1000)
    else:
        if realtime_start.tzinfo is None:
            raise ValueError("realtime_start needs a timezone offset: it is compared with epoch event times")
        start_ms = round(realtime_start.timestamp() * 1000)
    return start_ms - first_event_ms


def send_samples(
    samples: Sequence[Sample],
    sink: MessageSink,
    settings: PublishSettings,
    *,
    encoder: TelemetryEncoder | None = None,
    clock: Clock | None = None,
    progress: Callable[[PublishReport], None] | None = None,
    progress_every_s: float = 10.0,
) -> PublishReport:
    """Send ``samples`` (already in event-time order) to ``settings.topic`` and flush.

    Raises ``PublishError`` if the producer's queue stays full for ``QUEUE_FULL_PATIENCE_S``
    (the broker is unreachable); undelivered messages after the flush count as failed.
    """
    encoder = encoder or TelemetryEncoder()
    clock = clock or SystemClock()
    report = PublishReport(send_times={} if settings.record_send_times else None)
    if not samples:
        return report

    def delivered(error: KafkaError | None, _message: Message) -> None:
        if error is None:
            report.delivered += 1
        else:
            report.failed += 1
            report.first_error = report.first_error or str(error)

    started = clock.monotonic()
    report.shift_ms = resolve_shift_ms(settings.realtime_start, samples[0].event_ms, clock.wall())
    first_event = samples[0].event_ms
    last_progress = started
    vehicles: set[str] = set()
    for sample in samples:
        if settings.paced:
            delay = started + (sample.event_ms - first_event) / 1000.0 / settings.speed_up - clock.monotonic()
            if delay > SLEEP_THRESHOLD_S:
                sink.poll(0)
                clock.sleep(delay)
        event_ms = sample.event_ms + report.shift_ms
        value = encoder.frame(encoder.shifted(sample.body, report.shift_ms))
        _produce(
            sink,
            settings.topic,
            value,
            sample.vehicle_id.encode(),
            timestamp_ms=event_ms,
            on_delivery=delivered,
            clock=clock,
        )
        sent_at = clock.wall()
        if report.send_times is not None:
            report.send_times.setdefault((sample.vehicle_id, event_ms), sent_at)
        if report.first_send_wall is None:
            report.first_send_wall, report.first_event_ms = sent_at, event_ms
        report.last_send_wall, report.last_event_ms = sent_at, event_ms
        report.messages += 1
        vehicles.add(sample.vehicle_id)
        sink.poll(0)
        if progress is not None and clock.monotonic() - last_progress >= progress_every_s:
            last_progress = clock.monotonic()
            report.elapsed_s = last_progress - started
            progress(report)
    report.vehicles = len(vehicles)
    still_queued = sink.flush(settings.flush_timeout_s)
    report.elapsed_s = clock.monotonic() - started
    if still_queued:
        report.failed += still_queued
        report.first_error = (
            report.first_error or f"{still_queued} messages still queued after {settings.flush_timeout_s:g} s"
        )
    return report


def _produce(
    sink: MessageSink,
    topic: str,
    value: bytes,
    key: bytes,
    *,
    timestamp_ms: int,
    on_delivery: DeliveryCallback,
    clock: Clock,
) -> None:
    """Queue one message, waiting while the local queue is full (a burst faster than the broker)."""
    deadline = clock.monotonic() + QUEUE_FULL_PATIENCE_S
    while True:
        try:
            sink.produce(topic, value, key, on_delivery=on_delivery, timestamp=timestamp_ms)
            return
        except BufferError:
            if clock.monotonic() > deadline:
                raise PublishError(
                    f"the producer's queue stayed full for {QUEUE_FULL_PATIENCE_S:g} s: is the broker reachable?"
                ) from None
            sink.poll(0.05)


def producer_config(bootstrap: str) -> dict[str, str | int | bool]:
    """A producer for live telemetry.

    Idempotence keeps each vehicle's samples in order through retries; ``murmur2_random`` is the
    Java client's partitioner, so a vehicle lands in the same partition whichever client sends;
    a 5 ms linger batches bursts without adding noticeable latency.
    """
    return {
        "bootstrap.servers": bootstrap,
        "enable.idempotence": True,
        "partitioner": "murmur2_random",
        "linger.ms": 5,
    }


def publish_fleet(
    folder: str | Path,
    bootstrap: str,
    settings: PublishSettings,
    *,
    clock: Clock | None = None,
    progress: Callable[[PublishReport], None] | None = None,
) -> PublishReport:
    """Read a simulation folder and publish it to ``bootstrap`` (``HOST:PORT``) as ``settings`` say."""
    encoder = TelemetryEncoder()
    fleet = load_fleet(folder, encoder)
    producer = Producer(producer_config(bootstrap))
    report = send_samples(fleet.samples, producer, settings, encoder=encoder, clock=clock, progress=progress)
    report.files = fleet.files
    report.unreadable = fleet.unreadable
    return report
