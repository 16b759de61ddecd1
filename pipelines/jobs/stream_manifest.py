"""The run manifest of a stream that has ended (drained, or stopped by a signal).

A stream writes many files, named with its run id, into the sub-folders of ``--incidents-dir``,
and rewrites the metrics file as it goes. When the job has ended, the driver lists this run's
files and takes the counts from the metrics file's final figures (which the stream's collector
computes as records read = evaluated + dead-lettered), and writes ``run-manifest.json`` into
``--incidents-dir`` (``pilotzone.pipelines.jobs.manifest``). A stream's input is messages or
uploads arriving over time, not a set of files known in advance: its manifest names the source
and records no input digests. No Apache Beam here.
"""

from __future__ import annotations

from pathlib import Path

from prometheus_client.openmetrics.parser import text_string_to_metric_families

STREAM_OUTPUT_FOLDERS = ("incidents", "summaries", "dead-letters", "fence-enforcement")
"""The sub-folders of ``--incidents-dir`` a stream writes its JSON Lines files into."""


def stream_outputs(incidents_dir: Path, run_id: str) -> list[Path]:
    """This run's output files (their names carry its run id; temporary files start with a dot)."""
    return sorted(
        path
        for folder in STREAM_OUTPUT_FOLDERS
        for path in (incidents_dir / folder).glob(f"*-{run_id}-*.jsonl")
        if not path.name.startswith(".")
    )


def counters_from_metrics_file(path: Path) -> dict[str, int]:
    """The run counters (as ``replay.runner_totals`` names them) from a stream's metrics file.

    An absent file (a stream that ended before its first publication) gives zeros.
    """
    counters = {"records_read": 0, "records_decoded": 0, "records_dead_lettered": 0}
    if not path.exists():
        return counters
    for family in text_string_to_metric_families(path.read_text(encoding="utf-8")):
        for sample in family.samples:
            value = round(sample.value)
            if sample.name == "pilotzone_records_read_total":
                counters["records_read"] = value
            elif sample.name == "pilotzone_samples_total":
                counters["records_decoded"] += value
            elif sample.name == "pilotzone_dead_letters_total":
                counters[f"dead_letters_{sample.labels['reason']}"] = value
                counters["records_dead_lettered"] += value
    return counters
