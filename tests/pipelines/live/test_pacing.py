"""The publisher's order, keys, timestamps and pacing, against a fake producer and a fake clock."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import pytest

from pilotzone.pipelines.live.framing import TelemetryEncoder
from pilotzone.pipelines.live.publish import (
    PublishSettings,
    Sample,
    resolve_shift_ms,
    send_samples,
)
from pilotzone.schemas.decode import DecodedBlock, TelemetryDecoder
from tests.factories import T0_MS, sample

WALL0 = 2_000_000_000.0


@dataclass
class FakeClock:
    """Time that moves only when slept (and by a fixed cost per message sent)."""

    now: float = 0.0
    slept: list[float] = field(default_factory=list)

    def wall(self) -> float:
        return WALL0 + self.now

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@dataclass
class FakeSink:
    """Records what was produced and when; refuses the first ``full`` produce calls like a full queue."""

    clock: FakeClock
    full: int = 0
    sent: list[dict[str, Any]] = field(default_factory=list)
    pending: list[Any] = field(default_factory=list)

    def produce(self, topic: str, value: bytes, key: bytes, *, on_delivery: Any, timestamp: int) -> None:
        if self.full:
            self.full -= 1
            raise BufferError("queue full")
        self.sent.append(
            {"topic": topic, "value": value, "key": key, "timestamp": timestamp, "at": self.clock.now}
        )
        self.pending.append(on_delivery)

    def poll(self, timeout: float) -> int:
        served = len(self.pending)
        for callback in self.pending:
            callback(None, None)
        self.pending.clear()
        return served

    def flush(self, timeout: float) -> int:
        self.poll(0)
        return 0


ENCODER = TelemetryEncoder()


def samples(*rows: tuple[int, str, int]) -> list[Sample]:
    """Samples at (ms after T0, vehicle, sequence), sorted as ``load_fleet`` sorts them."""
    return sorted(
        Sample(
            T0_MS + offset,
            vehicle,
            seq,
            ENCODER.body(
                sample(vehicle_id=vehicle, sequence_number=seq, current_location_timestamp=T0_MS + offset)
            ),
        )
        for offset, vehicle, seq in rows
    )


FLEET = samples((0, "B", 1), (0, "A", 5), (1000, "A", 6), (1000, "B", 2), (2000, "A", 7), (10_000, "B", 3))


def test_samples_sort_by_event_time_then_vehicle_then_sequence() -> None:
    assert [(s.event_ms - T0_MS, s.vehicle_id, s.sequence_number) for s in FLEET] == [
        (0, "A", 5),
        (0, "B", 1),
        (1000, "A", 6),
        (1000, "B", 2),
        (2000, "A", 7),
        (10_000, "B", 3),
    ]


def test_each_message_is_keyed_by_vehicle_and_stamped_with_its_event_time() -> None:
    clock = FakeClock()
    sink = FakeSink(clock)
    report = send_samples(FLEET, sink, PublishSettings("t", speed_up=0), encoder=ENCODER, clock=clock)
    decoder = TelemetryDecoder()
    for sent, expected in zip(sink.sent, FLEET, strict=True):
        assert (sent["topic"], sent["key"], sent["timestamp"]) == (
            "t",
            expected.vehicle_id.encode(),
            expected.event_ms,
        )
        decoded = decoder.decode_message(sent["value"], "m")
        assert isinstance(decoded, DecodedBlock)
        assert decoded.records[0]["sequence_number"] == expected.sequence_number
    assert (report.messages, report.delivered, report.failed, report.vehicles) == (6, 6, 0, 2)
    assert clock.slept == []


@pytest.mark.parametrize("speed_up", [1.0, 10.0])
def test_event_time_advances_speed_up_times_faster_than_wall_time(speed_up: float) -> None:
    clock = FakeClock()
    sink = FakeSink(clock)
    report = send_samples(FLEET, sink, PublishSettings("t", speed_up=speed_up), encoder=ENCODER, clock=clock)
    sent_at = [sent["at"] for sent in sink.sent]
    assert sent_at == pytest.approx([(s.event_ms - T0_MS) / 1000 / speed_up for s in FLEET])
    assert report.elapsed_s == pytest.approx(10.0 / speed_up)
    assert (report.first_send_wall, report.last_send_wall) == (WALL0, pytest.approx(WALL0 + 10.0 / speed_up))


def test_a_late_send_does_not_delay_the_following_deadlines() -> None:
    clock = FakeClock()

    class SlowSink(FakeSink):
        def produce(self, topic: str, value: bytes, key: bytes, *, on_delivery: Any, timestamp: int) -> None:
            super().produce(topic, value, key, on_delivery=on_delivery, timestamp=timestamp)
            if len(self.sent) == 1:
                clock.now += 1.5  # the first send stalls past the next two deadlines

    sink = SlowSink(clock)
    send_samples(FLEET, sink, PublishSettings("t", speed_up=1.0), encoder=ENCODER, clock=clock)
    assert [sent["at"] for sent in sink.sent] == pytest.approx([0.0, 1.5, 1.5, 1.5, 2.0, 10.0])


def test_realtime_start_now_moves_every_timestamp_by_one_offset() -> None:
    clock = FakeClock()
    sink = FakeSink(clock)
    settings = PublishSettings("t", speed_up=0, realtime_start="now", record_send_times=True)
    report = send_samples(FLEET, sink, settings, encoder=ENCODER, clock=clock)
    start_ms = round(WALL0 * 1000)
    assert report.shift_ms == start_ms - T0_MS
    assert [sent["timestamp"] for sent in sink.sent] == [s.event_ms - T0_MS + start_ms for s in FLEET]
    decoder = TelemetryDecoder()
    for sent in sink.sent:
        decoded = decoder.decode_message(sent["value"], "m")
        assert isinstance(decoded, DecodedBlock)
        assert decoded.records[0]["current_location_timestamp"] == sent["timestamp"]
    assert report.send_times == {(s.vehicle_id, s.event_ms + report.shift_ms): WALL0 for s in FLEET}


def test_realtime_start_at_an_instant() -> None:
    instant = dt.datetime(2030, 1, 1, 9, 0, tzinfo=dt.timezone(dt.timedelta(hours=9)))
    assert resolve_shift_ms(instant, T0_MS, WALL0) == round(instant.timestamp() * 1000) - T0_MS
    assert resolve_shift_ms(None, T0_MS, WALL0) == 0
    with pytest.raises(ValueError, match="offset"):
        resolve_shift_ms(dt.datetime(2030, 1, 1), T0_MS, WALL0)


def test_a_full_queue_is_waited_out() -> None:
    clock = FakeClock()
    sink = FakeSink(clock, full=3)
    report = send_samples(FLEET, sink, PublishSettings("t", speed_up=0), encoder=ENCODER, clock=clock)
    assert (report.messages, len(sink.sent), report.delivered) == (6, 6, 6)


def test_send_times_are_only_kept_when_asked() -> None:
    clock = FakeClock()
    report = send_samples(
        FLEET, FakeSink(clock), PublishSettings("t", speed_up=0), encoder=ENCODER, clock=clock
    )
    assert report.send_times is None


def test_nothing_to_send_sends_nothing() -> None:
    clock = FakeClock()
    sink = FakeSink(clock)
    report = send_samples([], sink, PublishSettings("t"), encoder=ENCODER, clock=clock)
    assert (report.messages, sink.sent) == (0, [])
