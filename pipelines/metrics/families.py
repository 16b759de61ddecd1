"""An empty Prometheus metric family for a catalog entry: type, help and unit from the catalog.

Every exporter module builds its families through this one function, so a family's metadata
can only come from the catalog (``pilotzone.pipelines.metrics.catalog``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    InfoMetricFamily,
    Metric,
)

from pilotzone.pipelines.metrics.catalog import BY_NAME, COUNTER, GAUGE, HISTOGRAM, INFO


def catalog_family(name: str) -> Any:
    """An empty family for catalog entry ``name``."""
    spec = BY_NAME[name]
    unit = spec.unit if spec.family.endswith(f"_{spec.unit}") else ""
    kinds: dict[str, Callable[..., Metric]] = {
        COUNTER: CounterMetricFamily,
        GAUGE: GaugeMetricFamily,
        HISTOGRAM: HistogramMetricFamily,
    }
    if spec.type == INFO:
        return InfoMetricFamily(spec.family, spec.help, labels=spec.labels)
    return kinds[spec.type](spec.family, spec.help, labels=spec.labels, unit=unit)
