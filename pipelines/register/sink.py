"""``WriteToRegister``: the Beam sink that upserts incident records into the register.

The replay hands it each incident's final state, the stream every lifecycle record as it
comes; the register's upsert keeps the state that got furthest (``store``), so both leave
the same rows, and a bundle retried by the runner, or a whole replay run again, changes
nothing. Each bundle is one transaction: the records of a failed bundle are written again
when the runner retries it.
"""

from __future__ import annotations

from collections.abc import Iterator

import apache_beam as beam
from apache_beam.metrics import Metrics

from pilotzone.pipelines.register.store import Register
from pilotzone.pipelines.transforms.decode import METRICS_NAMESPACE
from pilotzone.zones.evaluate import IncidentRecord


class UpsertIncidentsFn(beam.DoFn):
    """Buffers a bundle's incident records and upserts them in one transaction."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.register: Register | None = None
        self.pending: list[IncidentRecord] = []

    def setup(self) -> None:
        self.register = Register.connect(self.url)
        self.register.migrate()

    def start_bundle(self) -> None:
        self.pending = []

    def process(self, record: IncidentRecord) -> Iterator[None]:
        self.pending.append(record)
        return iter(())

    def finish_bundle(self) -> None:
        if self.pending and self.register is not None:
            written = self.register.upsert(self.pending)
            Metrics.counter(METRICS_NAMESPACE, "register_upserts").inc(written)
        self.pending = []

    def teardown(self) -> None:
        if self.register is not None:
            self.register.close()
            self.register = None


@beam.typehints.with_input_types(IncidentRecord)
class WriteToRegister(beam.PTransform):
    """Incident records → upserted into the register at ``url`` (SQLite file or PostgreSQL)."""

    def __init__(self, url: str) -> None:
        super().__init__()
        self.url = url

    def expand(self, incidents: beam.PCollection) -> beam.PCollection:
        return incidents | "Upsert" >> beam.ParDo(UpsertIncidentsFn(self.url))
