"""A simulated fleet published to a real broker reads back as the same records, keys and event times."""

from __future__ import annotations

import time
from pathlib import Path

import fastavro
import pytest

from pilotzone.pipelines.live.broker import KafkaBroker
from pilotzone.pipelines.live.publish import NoTelemetryError, PublishSettings, load_fleet, publish_fleet
from pilotzone.schemas.decode import DecodedBlock, TelemetryDecoder
from tests.pipelines.live.kafka_clients import consume


def simulated_records(folder: Path) -> list[dict[str, object]]:
    """Every record the simulator wrote, read with fastavro directly (timestamps as epoch ms)."""
    records = []
    for path in sorted((folder / "telemetry").rglob("*.avro")):
        with path.open("rb") as stream:
            for record in fastavro.reader(stream, return_record_name=False):
                assert isinstance(record, dict)
                stamp = record["current_location_timestamp"]
                record["current_location_timestamp"] = round(stamp.timestamp() * 1000)
                records.append(record)
    return records


def key(record: dict[str, object]) -> tuple[object, ...]:
    return (record["current_location_timestamp"], record["vehicle_id"], record["sequence_number"])


@pytest.mark.integration
def test_published_messages_decode_to_the_simulated_records(broker: KafkaBroker, tiny_fleet: Path) -> None:
    broker.create_topic("telemetry-all", partitions=3)
    report = publish_fleet(
        tiny_fleet, broker.bootstrap, PublishSettings("telemetry-all", speed_up=0, record_send_times=True)
    )
    expected = sorted(simulated_records(tiny_fleet), key=key)
    assert (report.messages, report.delivered, report.failed, report.unreadable) == (
        len(expected),
        len(expected),
        0,
        0,
    )
    assert report.vehicles == 4

    messages = consume(broker.bootstrap, "telemetry-all", len(expected))
    decoder = TelemetryDecoder()
    received = []
    for message in messages:
        value = message.value()
        assert value is not None
        decoded = decoder.decode_message(value, "kafka")
        assert isinstance(decoded, DecodedBlock), decoded
        (record,) = decoded.records
        assert message.key() == str(record["vehicle_id"]).encode()
        assert message.timestamp()[1] == record["current_location_timestamp"]
        received.append(record)
    assert sorted(received, key=key) == expected
    # One vehicle's samples share a partition and arrive in event-time order.
    by_vehicle: dict[bytes | None, set[int]] = {}
    for message in messages:
        by_vehicle.setdefault(message.key(), set()).add(message.partition())
    assert all(len(partitions) == 1 for partitions in by_vehicle.values())
    assert report.send_times is not None
    assert set(report.send_times) == {(r["vehicle_id"], r["current_location_timestamp"]) for r in expected}


@pytest.mark.integration
def test_pacing_follows_the_speed_up(broker: KafkaBroker, tiny_fleet: Path) -> None:
    speed_up = 40.0
    broker.create_topic("telemetry-paced")
    fleet = load_fleet(tiny_fleet)
    span_s = (fleet.samples[-1].event_ms - fleet.samples[0].event_ms) / 1000
    started = time.monotonic()
    report = publish_fleet(
        tiny_fleet, broker.bootstrap, PublishSettings("telemetry-paced", speed_up=speed_up)
    )
    wall_s = time.monotonic() - started
    assert report.delivered == len(fleet.samples)
    expected_s = span_s / speed_up
    # Deadlines are absolute, so it never finishes early; a loaded 2-core machine may add a few seconds.
    assert expected_s - 0.05 <= report.elapsed_s <= expected_s + 5.0, (report.elapsed_s, expected_s)
    assert report.last_send_wall is not None and report.first_send_wall is not None
    assert report.last_send_wall - report.first_send_wall == pytest.approx(expected_s, abs=5.0)
    assert wall_s < expected_s + 15.0


@pytest.mark.integration
def test_realtime_start_now_stamps_the_first_sample_with_the_send_time(
    broker: KafkaBroker, tiny_fleet: Path
) -> None:
    broker.create_topic("telemetry-now")
    before_ms = time.time() * 1000
    report = publish_fleet(
        tiny_fleet, broker.bootstrap, PublishSettings("telemetry-now", speed_up=0, realtime_start="now")
    )
    messages = consume(broker.bootstrap, "telemetry-now", report.messages)
    first = min(message.timestamp()[1] for message in messages)
    assert before_ms - 1 <= first <= time.time() * 1000
    assert first == report.first_event_ms


def test_a_folder_without_telemetry_is_refused(tmp_path: Path) -> None:
    with pytest.raises(NoTelemetryError, match="pilotzone simulate"):
        load_fleet(tmp_path)
