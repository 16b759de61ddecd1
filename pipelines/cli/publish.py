"""``pilotzone publish``: drive a simulated fleet live, sending its telemetry to Kafka as it happens."""

from __future__ import annotations

import argparse
import datetime as dt
import math
import sys
from typing import Any

from confluent_kafka import KafkaException

from pilotzone.pipelines.live.publish import (
    NoTelemetryError,
    PublishError,
    PublishReport,
    PublishSettings,
    RealtimeStart,
    publish_fleet,
)


def add_parser(subparsers: Any) -> None:
    """Register ``publish`` and its options."""
    parser = subparsers.add_parser(
        "publish",
        help="send a simulated fleet's telemetry to Kafka in event-time order, paced like a live fleet",
        description=(
            "Read SIM_FOLDER (the --out of `pilotzone simulate`), order every sample by event time and send "
            "each as a Confluent-framed Avro message (the contract's schema id), keyed by vehicle id, with the "
            "Kafka timestamp set to the sample's event time. Event time advances --speed-up times faster than "
            "real time."
        ),
    )
    parser.add_argument("folder", metavar="SIM_FOLDER", help="a `pilotzone simulate` output folder")
    parser.add_argument(
        "--kafka-bootstrap", required=True, metavar="HOST:PORT", help="Kafka bootstrap servers"
    )
    parser.add_argument("--topic", required=True, metavar="T", help="topic to send to")
    parser.add_argument(
        "--speed-up",
        type=float,
        default=1.0,
        metavar="X",
        help="event time runs X times faster than real time (1 = real time; 0 or inf = as fast as possible)",
    )
    parser.add_argument(
        "--realtime-start",
        metavar="now|ISO8601",
        help="move all timestamps so the first sample happens at this instant ('now' = when sending starts)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")
    parser.set_defaults(func=run_publish)


def parse_realtime_start(text: str | None) -> RealtimeStart:
    """``now``, an ISO 8601 instant with an offset, or None; raises ``ValueError`` with what to write."""
    if text is None:
        return None
    if text.strip().lower() == "now":
        return "now"
    try:
        instant = dt.datetime.fromisoformat(text)
    except ValueError:
        instant = None
    if instant is None or instant.tzinfo is None:
        raise ValueError(
            f"--realtime-start {text!r}: write 'now' or an instant with an offset, e.g. 2026-11-23T10:00:00+09:00"
        )
    return instant


def run_publish(args: argparse.Namespace) -> int:
    """Publish; 0 when every message was delivered, 1 if some were not, 2 for unusable options."""
    try:
        start = parse_realtime_start(args.realtime_start)
    except ValueError as exc:
        print(f"pilotzone publish: {exc}", file=sys.stderr)
        return 2
    if math.isnan(args.speed_up) or args.speed_up < 0:
        print("pilotzone publish: --speed-up must be 0 (as fast as possible) or positive", file=sys.stderr)
        return 2
    settings = PublishSettings(topic=args.topic, speed_up=args.speed_up, realtime_start=start)
    try:
        report = publish_fleet(
            args.folder, args.kafka_bootstrap, settings, progress=None if args.quiet else _print_progress
        )
    except NoTelemetryError as exc:
        print(f"pilotzone publish: {exc}", file=sys.stderr)
        return 2
    except (PublishError, KafkaException) as exc:
        print(f"pilotzone publish: {exc}", file=sys.stderr)
        return 1
    print(f"pilotzone publish: {report.summary()}", file=sys.stderr)
    return 0 if report.failed == 0 and report.delivered == report.messages else 1


def _print_progress(report: PublishReport) -> None:
    print(
        f"publish: {report.messages:,} sent, {report.delivered:,} delivered, {report.rate:,.0f}/s",
        file=sys.stderr,
    )
