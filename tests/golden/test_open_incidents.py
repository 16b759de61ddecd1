"""The golden incident logs agree with the golden window summaries and metrics on violation time.

For every rule whose peak is in seconds, an incident's violation time is end - start once it
is closed, and its peak while it is still open at the end of the data (the last UPDATED
record reaches the run's last violating fix). Summed per zone and rule, that is what the
summaries' ``violation_s_by_rule`` and ``pilotzone_violation_seconds_total`` count. Before
open incidents carried their figures up to the last fix, the log said "for 0 s" and "301 s"
where the summaries counted 899 s and 423 s.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from pilotzone.pipelines.metrics.export import parse_rfc3339_ms
from pilotzone.zones.kinds import KINDS

EXPECTED = Path(__file__).parent / "expected"


def rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def seconds_in_the_log(folder: Path) -> dict[tuple[str, str], float]:
    """Violation seconds per (zone, rule) from the incident log, for run kinds with a peak in seconds.

    Restricted-area crossings (two fixes outside, the segment between them inside) count no
    violation time: they are told apart by their explanation.
    """
    found: dict[tuple[str, str], float] = defaultdict(float)
    for incident in rows(folder / "incidents.jsonl"):
        kind = KINDS[incident["kind"]]
        if kind.evaluation != "run" or kind.peak_unit != "s" or incident["explanation"].startswith("crossed"):
            continue
        if incident["end_time"] is None:
            held = incident["peak_value"]
        else:
            held = (parse_rfc3339_ms(incident["end_time"]) - parse_rfc3339_ms(incident["start_time"])) / 1000
        found[(incident["pilot_zone"], incident["rule_id"])] += held
    return dict(found)


def seconds_in_the_summaries(folder: Path, rules: set[tuple[str, str]]) -> dict[tuple[str, str], float]:
    found: dict[tuple[str, str], float] = defaultdict(float)
    for summary in rows(folder / "summaries.jsonl"):
        for rule, held in summary["violation_s_by_rule"].items():
            if (summary["pilot_zone"], rule) in rules:
                found[(summary["pilot_zone"], rule)] += held
    return dict(found)


@pytest.mark.parametrize("name", ["demo", "bad-uploads", "benchmark-zone"])
def test_the_log_counts_the_violation_time_the_summaries_count(name: str) -> None:
    log = seconds_in_the_log(EXPECTED / name)
    assert log, "every golden run has incidents of seconds-peak kinds"
    summaries = seconds_in_the_summaries(EXPECTED / name, set(log))
    assert {key: round(value, 3) for key, value in log.items()} == {
        key: round(value, 3) for key, value in summaries.items()
    }


@pytest.mark.parametrize("name", ["demo", "bad-uploads"])
def test_the_log_counts_the_violation_time_the_metrics_count(name: str) -> None:
    log = seconds_in_the_log(EXPECTED / name)
    metrics: dict[tuple[str, str], float] = defaultdict(float)
    text = (EXPECTED / name / "metrics.txt").read_text(encoding="utf-8")
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "pilotzone_violation_seconds_total":
                key = (sample.labels["pilot_zone"], sample.labels["rule"])
                if key in log:
                    metrics[key] += sample.value
    assert {key: round(value, 3) for key, value in log.items()} == {
        key: round(value, 3) for key, value in metrics.items()
    }


def test_the_open_incidents_of_the_demo_carry_their_figures_up_to_the_last_fix() -> None:
    still_open = {
        row["incident_id"]: (row["peak_value"], row["explanation"].split(" where ")[0])
        for row in rows(EXPECTED / "demo" / "incidents.jsonl")
        if row["end_time"] is None and row["kind"] in {"permit", "dwell"}
    }
    assert still_open["e815bbf4ac8a9592a209"] == (
        899.0,
        "operator gwangju-shuttle-b (permitted for SHUTTLE, BUS) running a CAR for 899 s",
    )
    assert still_open["df0f96904110b4214411"] == (423.0, "stopped (below 1 km/h) for 423 s")
