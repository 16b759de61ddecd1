"""Grafana dashboards for regulators and operators, built with Grafana's own foundation SDK.

The dashboards are code so that every panel query can be checked against the metric catalog
(``pilotzone.pipelines.metrics.catalog``) and evaluated against a real Prometheus in a test; the JSON under
``deploy/grafana/dashboards`` is generated from here by ``pilotzone dashboards`` and committed,
so a reviewer sees what changes on screen. Queries read the raw catalog metrics, never
recording rules, so a dashboard works against any Prometheus that scrapes the monitor.

Every panel reads its data source from the ``datasource`` template variable: a regulator with
several Prometheus servers (one per region, say) switches them in one place. Counters are
only ever read through ``rate()`` or ``increase()``, because their raw value depends on when the
pipeline last restarted. Stat and table panels show the selected time range (``$__range``);
time-series panels show how a figure moved.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from grafana_foundation_sdk.builders import dashboard as dashboard_builders
from grafana_foundation_sdk.cog.encoder import JSONEncoder

from pilotzone.pipelines.dashboards.overview import OVERVIEW_UID, overview
from pilotzone.pipelines.dashboards.pipeline_health import PIPELINE_UID, pipeline_health
from pilotzone.pipelines.dashboards.zone_detail import ZONE_UID, zone_detail

DASHBOARD_UIDS = (OVERVIEW_UID, ZONE_UID, PIPELINE_UID)

BUILDERS: dict[str, Callable[[], dashboard_builders.Dashboard]] = {
    OVERVIEW_UID: overview,
    ZONE_UID: zone_detail,
    PIPELINE_UID: pipeline_health,
}
"""Each dashboard's builder, by uid."""


def dashboard_json(uid: str) -> dict[str, Any]:
    """The dashboard ``uid`` as plain JSON data (what Grafana's provisioning reads)."""
    model = BUILDERS[uid]().build()
    data: dict[str, Any] = json.loads(json.dumps(model, cls=JSONEncoder))
    return data


def all_dashboards() -> dict[str, dict[str, Any]]:
    """Every dashboard by uid."""
    return {uid: dashboard_json(uid) for uid in DASHBOARD_UIDS}


def render(data: Mapping[str, Any]) -> str:
    """Stable text for a dashboard: sorted keys, 2-space indent, trailing newline.

    Stable so that regenerating gives a byte-identical file and a diff shows only real changes.
    """
    return json.dumps(data, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def write_dashboards(out_dir: Path) -> list[Path]:
    """Write ``<uid>.json`` for every dashboard into ``out_dir``; return the paths written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for uid, data in all_dashboards().items():
        path = out_dir / f"{uid}.json"
        path.write_text(render(data), encoding="utf-8")
        written.append(path)
    return written
