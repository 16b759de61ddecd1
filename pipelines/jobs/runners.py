"""The execution engines the commands accept, by the names operators type.

One table for both jobs: a replay runs in-process (the FnApiRunner, named explicitly because
Beam's DirectRunner picks an engine on its own, Prism when it can download it), a stream may
also run on Flink or Dataflow. Plain data, no Beam import, so the CLI can list the choices
without loading Beam.
"""

from __future__ import annotations

RUNNERS = {
    "direct": "FnApiRunner",
    "direct-multiprocess": "FnApiRunner",
    "flink": "FlinkRunner",
    "dataflow": "DataflowRunner",
}
"""Our runner names, mapped to Beam's."""

REPLAY_RUNNERS = ("direct", "direct-multiprocess")
"""What ``pilotzone run`` accepts; distributed runners for replays come in deploy/."""

STREAM_RUNNERS = ("dataflow", "direct", "flink")
"""What ``pilotzone stream`` accepts."""
