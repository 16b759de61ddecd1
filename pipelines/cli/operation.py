"""What every pipeline command shares to be operated: logging and the metrics outputs.

``run``, ``demo`` and ``stream`` register the same log and metrics options here, and turn them
into the exporter's typed ``ExportSettings`` here; nothing past the CLI sees their namespace.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from pilotzone.pipelines.metrics.export import Exporter, ExportSettings
from pilotzone.pipelines.metrics.server import AuthFileError, BasicAuth, EndpointOptions
from pilotzone.zones import Zone


def add_operation_arguments(parser: argparse.ArgumentParser, port: int | None, linger_s: float) -> None:
    """Options every pipeline command shares: log format and the metrics outputs."""
    parser.add_argument(
        "--log-format",
        choices=["text", "json"],
        default="text",
        help="log lines as text or as one JSON object per line for log collectors (text)",
    )
    metrics = parser.add_argument_group(
        "metrics",
        "Prometheus metrics of the run (catalog in the README). The endpoint serves the zone configs' "
        "versions and fleet caps while the pipeline runs and every figure once it is done.",
    )
    metrics.add_argument(
        "--metrics-port",
        type=int,
        default=port,
        metavar="PORT",
        help="serve /metrics on this port" + (f" ({port})" if port else " (off unless given)"),
    )
    metrics.add_argument(
        "--metrics-host", default="127.0.0.1", metavar="ADDR", help="address to listen on (127.0.0.1)"
    )
    metrics.add_argument(
        "--metrics-linger",
        type=float,
        default=linger_s,
        metavar="SECONDS",
        help=f"keep serving the final figures this long after the run, for scrapes ({linger_s:g})",
    )
    metrics.add_argument(
        "--metrics-tls-cert", type=Path, metavar="PEM", help="serve HTTPS with this certificate"
    )
    metrics.add_argument(
        "--metrics-tls-key", type=Path, metavar="PEM", help="private key of --metrics-tls-cert"
    )
    metrics.add_argument(
        "--metrics-auth-file",
        type=Path,
        metavar="FILE",
        help="require HTTP basic authentication; the file holds one line 'user:password' (chmod 600 it)",
    )
    metrics.add_argument(
        "--metrics-file", type=Path, metavar="FILE", help="write the final OpenMetrics text here"
    )
    metrics.add_argument(
        "--pushgateway", metavar="URL", help="push the final figures to this Pushgateway (job=pilotzone)"
    )
    metrics.add_argument(
        "--pipeline-name",
        default="replay",
        metavar="NAME",
        help="the 'pipeline' grouping label on the Pushgateway (replay)",
    )


def start_exporter(zones: Sequence[Zone], args: argparse.Namespace) -> Exporter | None:
    """The run's metrics exporter, its endpoint open; ``None`` (with the reason printed) if the
    authentication file is unusable, the TLS certificate does not load or the port is taken."""
    try:
        settings = export_settings(args)
    except AuthFileError as exc:
        print(f"pilotzone: {exc}", file=sys.stderr)
        return None
    exporter = Exporter(zones, settings)
    try:
        exporter.start()
    except OSError as exc:  # ssl.SSLError (a certificate or key that does not load) is an OSError
        print(
            f"pilotzone: cannot serve metrics on {args.metrics_host}:{args.metrics_port}: {exc}",
            file=sys.stderr,
        )
        return None
    return exporter


def export_settings(args: argparse.Namespace) -> ExportSettings:
    """The metrics outputs the options ask for (raises ``AuthFileError`` for an unusable auth file)."""
    endpoint = None
    if args.metrics_port is not None:
        endpoint = EndpointOptions(
            port=args.metrics_port,
            host=args.metrics_host,
            tls_cert=args.metrics_tls_cert,
            tls_key=args.metrics_tls_key,
            basic_auth=None
            if args.metrics_auth_file is None
            else BasicAuth.from_file(args.metrics_auth_file),
        )
    return ExportSettings(
        endpoint=endpoint,
        metrics_file=args.metrics_file,
        pushgateway=args.pushgateway,
        pipeline=args.pipeline_name,
    )


class JsonLogFormatter(logging.Formatter):
    """One JSON object per line: what log collectors (Loki, Cloud Logging, Elastic) index as is."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": dt.datetime.fromtimestamp(record.created, tz=dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(quiet: bool, log_format: str = "text") -> None:
    """Log to stderr as text or JSON lines; warnings only when ``quiet``."""
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(JsonLogFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING if quiet else logging.INFO)
    # Beam logs every bundle at INFO; keep the operator's terminal for our progress lines.
    logging.getLogger("apache_beam").setLevel(logging.WARNING)
