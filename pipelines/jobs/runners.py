"""The execution engines the commands accept, by the names operators type.

One table for both jobs: a replay runs in-process (the FnApiRunner, named explicitly because
Beam's DirectRunner picks an engine on its own, Prism when it can download it); a stream runs
on a streaming engine: Prism (Beam's local streaming runner, from the engine cache that
``deploy/engines/install-engines.sh`` fills), Flink or Dataflow. The FnApiRunner stays a
stream choice for tests of the wiring only: it is not a streaming engine (everything after the
first GroupByKey waits for the source to end). Plain data, no Beam import, so the CLI can list the choices
without loading Beam.
"""

from __future__ import annotations

RUNNERS = {
    "direct": "FnApiRunner",
    "direct-multiprocess": "FnApiRunner",
    "prism": "PrismRunner",
    "flink": "FlinkRunner",
    "dataflow": "DataflowRunner",
}
"""Our runner names, mapped to Beam's."""

REPLAY_RUNNERS = ("direct", "direct-multiprocess")
"""What ``pilotzone run`` accepts; distributed runners for replays come in deploy/."""

STREAM_RUNNERS = ("dataflow", "direct", "flink", "prism")
"""What ``pilotzone stream`` accepts."""

DEFAULT_STREAM_RUNNER = "prism"
"""The embedded streaming engine for a live monitor on one machine."""


def prism_binary() -> str:
    """The Prism binary from the engine cache; Beam would otherwise try to download one."""
    from pilotzone.pipelines.live.engines import Engines, EnginesMissingError

    try:
        return str(Engines.locate().prism())
    except EnginesMissingError as exc:
        raise ValueError(f"--runner prism: {exc}") from None
