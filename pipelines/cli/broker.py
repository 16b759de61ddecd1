"""``pilotzone broker``: a local Kafka broker in the foreground, for trying live mode on one machine."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from types import FrameType
from typing import Any

from pilotzone.pipelines.live.broker import KafkaBroker
from pilotzone.pipelines.live.engines import EnginesMissingError
from pilotzone.pipelines.live.process import ProcessStartError

BOOTSTRAP_LINE = "bootstrap: "
"""Start of the line that announces the address; scripts and tests wait for it on stdout."""


def add_parser(subparsers: Any) -> None:
    """Register ``broker`` and its options."""
    parser = subparsers.add_parser(
        "broker",
        help="run a local single-node Kafka broker (KRaft) until Ctrl-C",
        description=(
            "Run a single-node Kafka broker on 127.0.0.1 from the local engine cache "
            "(deploy/engines/install-engines.sh), create topics, and print 'bootstrap: 127.0.0.1:PORT'. "
            "Ctrl-C or SIGTERM shuts it down cleanly. For trying live mode; not a production cluster."
        ),
    )
    parser.add_argument(
        "--port", type=int, default=9092, metavar="PORT", help="client port (9092; 0 = any free)"
    )
    parser.add_argument(
        "--data-dir",
        metavar="DIR",
        help="keep topics and messages here across runs (default: a temporary folder, removed on exit)",
    )
    parser.add_argument(
        "--topic", action="append", default=[], metavar="NAME", help="create this topic (repeatable)"
    )
    parser.add_argument(
        "--partitions", type=int, default=1, metavar="N", help="partitions of each --topic (1)"
    )
    parser.add_argument("--heap", default="512m", metavar="SIZE", help="broker JVM heap (512m)")
    parser.add_argument(
        "--start-timeout", type=float, default=90.0, metavar="SECONDS", help="give up starting after (90)"
    )
    parser.set_defaults(func=run_broker)


def run_broker(args: argparse.Namespace) -> int:
    """Run until a signal; 0 after a clean stop, 1 if the broker failed, 2 if it cannot start."""
    if args.partitions < 1:
        print("pilotzone broker: --partitions must be at least 1", file=sys.stderr)
        return 2
    stop = threading.Event()

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        broker = KafkaBroker(
            port=args.port, data_dir=args.data_dir, heap=args.heap, start_timeout_s=args.start_timeout
        )
        try:
            broker.start()
        except (EnginesMissingError, ProcessStartError, OSError) as exc:
            print(f"pilotzone broker: cannot start: {exc}", file=sys.stderr)
            return 2
        try:
            for topic in args.topic:
                created = broker.create_topic(topic, args.partitions)
                print(f"topic {topic}: {'created' if created else 'exists'}", file=sys.stderr)
            print(f"{BOOTSTRAP_LINE}{broker.bootstrap}", flush=True)
            print(
                f"pilotzone broker: up in {broker.start_seconds:.1f} s, data in {broker.data_dir}; Ctrl-C stops it",
                file=sys.stderr,
            )
            # Wake up now and then to notice a broker that died on its own.
            while not stop.wait(0.5):
                if not broker.running:
                    print(f"pilotzone broker: the broker exited:\n{broker.log_tail()}", file=sys.stderr)
                    return 1
        finally:
            code = broker.stop()
        print(f"pilotzone broker: stopped (exit code {code})", file=sys.stderr)
        return 0
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
