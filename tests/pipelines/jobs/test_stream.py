"""``pilotzone stream``: sources, options, and a watched folder giving the replay's incidents."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from pilotzone.pipelines.cli import build_parser, main
from pilotzone.pipelines.cli.stream import beam_arguments
from pilotzone.pipelines.jobs.report import read_jsonl
from pilotzone.pipelines.jobs.stream import ReadPayloads, SourceOptions, kafka_consumer_config, kafka_source
from pilotzone.pipelines.live.demo import final_states
from pilotzone.pipelines.transforms.decode import DecodeTelemetry
from tests.factories import confluent_message, track
from tests.pipelines.fleets import EVERY_KIND_ZONE
from tests.pipelines.live.feeding import latest_summaries, rows_in
from tests.pipelines.metrics.exposition import samples_of
from tests.servers import http_get, pushgateway


@pytest.mark.integration
@pytest.mark.slow
def test_watched_folder_stream_gives_the_replays_incidents_summaries_and_metrics(
    tmp_path: Path, small_fleet: Path
) -> None:
    pattern = str(small_fleet / "telemetry" / "**" / "*.avro")
    common = ["--zones", str(EVERY_KIND_ZONE), "--allowed-lateness", "3600", "--quiet"]
    replay = tmp_path / "replay"
    assert main(["run", *common, "--input", pattern, "--incidents", str(replay / "incidents.jsonl"),
                 "--metrics-file", str(replay / "metrics.txt")]) == 0  # fmt: skip
    with pushgateway(tmp_path) as gateway:
        status = main(
            ["stream", *common, "--source", "folder", "--watch", pattern, "--poll", "1", "--run-for", "3",
             "--incidents-dir", str(tmp_path / "stream"), "--pushgateway", gateway, "--pipeline-name", "gw"]
        )  # fmt: skip
        pushed = samples_of(http_get(f"{gateway}/metrics").decode())
    assert status == 0
    lifecycle = rows_in(tmp_path / "stream" / "incidents")
    assert {row["status"] for row in lifecycle} >= {"OPENED", "CLOSED"}
    # Draining the stream flushes every vehicle but opens no gap: stopping is not silence.
    assert final_states(lifecycle) == {
        row["incident_id"]: row for row in read_jsonl(replay / "incidents.jsonl")
    }
    assert latest_summaries(rows_in(tmp_path / "stream" / "summaries")) == latest_summaries(
        read_jsonl(replay / "summaries.jsonl")
    )
    expected = samples_of((replay / "metrics.txt").read_text())
    for name in ("pilotzone_incidents_total", "pilotzone_samples_total", "pilotzone_distance_meters_total",
                 "pilotzone_violation_seconds_total", "pilotzone_dead_letters_total", "pilotzone_records_read_total"):  # fmt: skip
        ours = {labels: v for (n, labels), v in expected.items() if n == name}
        theirs = {
            tuple(sorted(set(labels) - {("instance", ""), ("job", "pilotzone"), ("pipeline", "gw")})): v
            for (n, labels), v in pushed.items()
            if n == name and ("pipeline", "gw") in labels
        }
        assert theirs == pytest.approx(ours), name
    assert any(n == "pilotzone_pipeline_running" and v == 0 for (n, _), v in pushed.items())


def test_broker_payloads_decode_like_files() -> None:
    """A Kafka or Pub/Sub message holds one Confluent-framed record; it decodes as uploaded."""
    records = track(3, vehicle_id="veh-k", operator_id="op-taxi")
    messages = [confluent_message(record, schema_id=1) for record in records]  # id 1: telemetry v1

    def vehicles(chunk: tuple[str, Any]) -> Iterator[tuple[str, int]]:
        yield chunk[0], len(chunk[1])

    with TestPipeline(runner="FnApiRunner") as pipeline:
        payloads = (
            pipeline
            | beam.Create([(b"key", m) for m in messages])
            | beam.Map(lambda kv: ("kafka://t", kv[1]))
        )
        decoded = payloads | DecodeTelemetry()
        assert_that(decoded.chunks | beam.FlatMap(vehicles), equal_to([("veh-k", 1)] * 3))


def test_kafka_source_is_configured_for_resumable_create_time_reads() -> None:
    options = SourceOptions(
        kind="kafka", kafka_bootstrap="127.0.0.1:9092", kafka_topic="telemetry", kafka_group="gj"
    )
    assert kafka_consumer_config(options) == {
        "bootstrap.servers": "127.0.0.1:9092",
        "group.id": "gj",
        "auto.offset.reset": "earliest",
    }
    source = kafka_source(options)
    assert type(source).__name__ == "ReadFromKafka"
    payload = source._payload  # the configuration the expansion service receives
    assert b"telemetry" in payload and b"CreateTime" in payload and b"127.0.0.1:9092" in payload


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        (SourceOptions(kind="folder"), "--source folder needs --watch GLOB"),
        (SourceOptions(kind="kafka", kafka_topic="t"), "--source kafka needs --kafka-bootstrap HOST:PORT"),
        (
            SourceOptions(kind="pubsub"),
            "--source pubsub needs --pubsub-subscription projects/P/subscriptions/S",
        ),
        (SourceOptions(kind="mqtt"), "unknown source 'mqtt': choose one of folder, kafka, pubsub"),
    ],
)
def test_missing_source_settings_are_named(options: SourceOptions, problem: str) -> None:
    assert options.problems() == [problem]
    with pytest.raises(ValueError, match=problem.split(" needs", maxsplit=1)[0].replace("'", ".")):
        ReadPayloads(options)


def test_stream_reports_missing_options_before_starting(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(["stream", "--zones", str(EVERY_KIND_ZONE), "--source", "kafka", "--kafka-topic", "t",
                   "--incidents-dir", str(tmp_path), "--incidents-topic", "inc"])  # fmt: skip
    assert status == 2
    assert capsys.readouterr().err == (
        "pilotzone stream: --source kafka needs --kafka-bootstrap HOST:PORT; "
        "--incidents-topic needs --kafka-bootstrap HOST:PORT\n"
    )


def test_stream_refuses_a_negative_tick_and_no_shards(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(["stream", "--zones", str(EVERY_KIND_ZONE), "--source", "kafka", "--kafka-topic", "t",
                   "--kafka-bootstrap", "127.0.0.1:9", "--incidents-dir", str(tmp_path),
                   "--tick", "-1", "--shards", "0"])  # fmt: skip
    assert status == 2
    assert (
        capsys.readouterr().err
        == "pilotzone stream: --tick -1: give 0 or more seconds; --shards 0: give 1 or more\n"
    )


def test_runner_options_name_the_engine(tmp_path: Path) -> None:
    parse = build_parser().parse_args
    base = ["stream", "--zones", "z", "--source", "folder", "--watch", "x", "--incidents-dir", "o"]
    flink = parse([*base, "--runner", "flink", "--flink-master", "jm:8081", "--environment-type", "EXTERNAL",
                   "--environment-config", "localhost:50000"])  # fmt: skip
    assert beam_arguments(flink) == [
        "--runner=FlinkRunner", "--streaming", "--flink_master=jm:8081",
        "--environment_type=EXTERNAL", "--environment_config=localhost:50000",
    ]  # fmt: skip
    dataflow = parse([*base, "--runner", "dataflow", "--", "--project=p", "--region=asia-northeast3"])
    assert beam_arguments(dataflow) == [
        "--runner=DataflowRunner",
        "--streaming",
        "--project=p",
        "--region=asia-northeast3",
    ]
    with pytest.raises(ValueError, match="--flink-master"):
        beam_arguments(parse([*base, "--runner", "flink"]))


def test_options_come_from_the_environment_and_flags_win(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PILOTZONE_ZONES", "a.yaml,b.yaml")
    monkeypatch.setenv("PILOTZONE_SOURCE", "kafka")
    monkeypatch.setenv("PILOTZONE_KAFKA_TOPIC", "telemetry")
    monkeypatch.setenv("PILOTZONE_INCIDENTS_DIR", "/data/out")
    monkeypatch.setenv("PILOTZONE_METRICS_PORT", "9464")
    monkeypatch.setenv("PILOTZONE_QUIET", "true")
    args = build_parser().parse_args(["stream", "--kafka-topic", "from-flag"])
    assert [str(p) for p in args.zones] == ["a.yaml", "b.yaml"]
    assert (args.source, args.kafka_topic, args.incidents_dir, args.metrics_port, args.quiet) == (
        "kafka", "from-flag", "/data/out", 9464, True,
    )  # fmt: skip
    assert (
        "PILOTZONE_KAFKA_TOPIC"
        in build_parser()._subparsers._group_actions[0].choices["stream"].format_help()
    )


def test_watching_a_missing_folder_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(["stream", "--zones", str(EVERY_KIND_ZONE), "--source", "folder", "--watch",
                   str(tmp_path / "nowhere" / "**" / "*.avro"), "--incidents-dir", str(tmp_path / "out")])  # fmt: skip
    assert status == 2
    nowhere = tmp_path / "nowhere"
    assert capsys.readouterr().err == (
        f"pilotzone stream: --watch {nowhere / '**' / '*.avro'}: "
        f"folder {nowhere} does not exist (create it, or fix the path)\n"
    )


def test_pubsub_source_builds_into_the_same_decode_step() -> None:
    pipeline = beam.Pipeline(runner="FnApiRunner")
    payloads = pipeline | ReadPayloads(
        SourceOptions(kind="pubsub", pubsub_subscription="projects/pilot-zones/subscriptions/telemetry")
    )
    _ = payloads | DecodeTelemetry()
    labels = [t.full_label for t in pipeline._current_transform().parts[0].parts]
    assert any("PubSub" in label for label in labels) and any("Payload" in label for label in labels)
