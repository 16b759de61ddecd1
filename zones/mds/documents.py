"""Reading MDS Policy and Geography JSON: the envelopes, the version, the schema check.

Strict by default: a document must be what its declared MDS version's schema says, because
a rule read from a malformed document may not be the rule the city meant. The spec's own
examples fail their schema (``"updated": 0``, ``publish_date`` for ``published_date``, an
unknown ``rate_recurrence``), and mds-core's fixtures are bare lists without an envelope;
``lenient=True`` reads them anyway and lists every thing it forgave, so nothing is forgiven
silently.

Envelopes read: MDS 1.2 and 2.0 ``{"version", "updated", "data": {"policies": [...]}}``,
1.2 geographies ``{"version", "updated", "geographies": [...]}`` (2.0 wraps them in
``data``), a single ``{"version", "geography": {...}}``; leniently also a bare list or a
bare object.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pilotzone.zones.mds.schema import Document, schema_errors

SUPPORTED_VERSIONS = ("1.2", "2.0")


class MdsDocumentError(ValueError):
    """A document that cannot be read (strictly), with every problem found."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        lines = "\n".join(f"  {problem}" for problem in problems)
        super().__init__(f"{source}: not a valid MDS document ({len(problems)} problem(s)):\n{lines}")


@dataclass(frozen=True)
class MdsPolicy:
    """One MDS policy, as given (``raw``), with the fields the importer reads."""

    raw: dict[str, Any]
    version: str

    @property
    def policy_id(self) -> str:
        return str(self.raw.get("policy_id", ""))

    @property
    def name(self) -> str:
        return str(self.raw.get("name") or self.policy_id)

    @property
    def rules(self) -> list[dict[str, Any]]:
        rules = self.raw.get("rules")
        return [r for r in rules if isinstance(r, dict)] if isinstance(rules, list) else []


@dataclass(frozen=True)
class MdsGeography:
    """One MDS geography: its id, name, type and GeoJSON features."""

    geography_id: str
    name: str
    geography_type: str | None
    features: list[dict[str, Any]]
    raw: dict[str, Any] = field(repr=False)


@dataclass
class Reading:
    """What reading a document found: its MDS version and what lenient mode forgave."""

    source: str
    lenient: bool
    version: str = ""
    forgiven: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def problem(self, text: str) -> None:
        if self.lenient:
            self.forgiven.append(text)
        else:
            self.problems.append(text)

    def finish(self) -> None:
        if self.problems:
            self.problems.append(
                "fix the document, or pass --lenient to read it anyway and list what was forgiven"
            )
            raise MdsDocumentError(self.source, self.problems)


def _version(data: Any, reading: Reading) -> str:
    version = data.get("version") if isinstance(data, dict) else None
    if not isinstance(version, str):
        reading.problem('no MDS envelope with a "version": read as MDS 1.2')
        return "1.2.0"
    if version[:3] not in SUPPORTED_VERSIONS:
        reading.problem(
            f"MDS version {version!r} is not one this importer reads (1.2.x, 2.0.x): read as MDS 1.2"
        )
        return "1.2.0"
    return version


def _check(data: Any, document: Document, reading: Reading, *, enveloped: bool) -> None:
    if not enveloped:
        return
    for error in schema_errors(data, document, reading.version):
        reading.problem(f"schema {reading.version}: {error}")


def read_policies(data: Any, source: str, *, lenient: bool = False) -> tuple[list[MdsPolicy], Reading]:
    """The policies of a Policy document; raises ``MdsDocumentError`` (strict) on any problem."""
    reading = Reading(source, lenient)
    enveloped = isinstance(data, dict) and isinstance(data.get("data"), dict) and "policies" in data["data"]
    reading.version = _version(data, reading)
    _check(data, "policies", reading, enveloped=enveloped)
    if enveloped:
        items = data["data"]["policies"]
    elif isinstance(data, list):
        reading.problem(
            "a bare list of policies, without the MDS envelope {version, updated, data: {policies}}"
        )
        items = data
    elif isinstance(data, dict) and "rules" in data:
        reading.problem("a bare policy object, without the MDS envelope {version, updated, data: {policies}}")
        items = [data]
    else:
        reading.problems.append("no policies found: expected {version, updated, data: {policies: [...]}}")
        raise MdsDocumentError(source, reading.problems)
    policies = []
    for index, item in enumerate(items if isinstance(items, list) else []):
        if not isinstance(item, dict):
            reading.problems.append(f"policies[{index}] is not an object")
            continue
        policies.append(MdsPolicy(_normalised_policy(item, index, reading), reading.version))
    if not policies:
        reading.problems.append("the document holds no policies")
    reading.finish()
    return policies, reading


def _normalised_policy(policy: dict[str, Any], index: int, reading: Reading) -> dict[str, Any]:
    """The policy with pre-1.0 spellings read as today's (each one reported)."""
    policy = dict(policy)
    where = f"policies[{index}]"
    if not isinstance(policy.get("policy_id"), str):
        reading.problems.append(f"{where} has no policy_id")
    if "publish_date" in policy and "published_date" not in policy:
        reading.problem(f"{where}: publish_date read as published_date")
        policy["published_date"] = policy.pop("publish_date")
    rules = []
    for number, given in enumerate(policy.get("rules") or []):
        if not isinstance(given, dict):
            reading.problems.append(f"{where}.rules[{number}] is not an object")
            continue
        rule = dict(given)
        if not rule.get("states") and isinstance(rule.get("statuses"), dict):
            reading.problem(f"{where}.rules[{number}]: statuses read as states")
            rule["states"] = rule.pop("statuses")
        if not isinstance(rule.get("rule_id"), str):
            reading.problems.append(f"{where}.rules[{number}] has no rule_id")
        rules.append(rule)
    policy["rules"] = rules
    return policy


def read_geographies(
    data: Any, source: str, *, lenient: bool = False
) -> tuple[dict[str, MdsGeography], Reading]:
    """Geography id -> geography, from a Geographies or Geography document (or, leniently, a
    bare list or object); raises ``MdsDocumentError`` (strict) on any problem."""
    reading = Reading(source, lenient)
    reading.version = _version(data, reading)
    items: Any
    if isinstance(data, dict) and "geography" in data:
        _check(data, "geography", reading, enveloped=True)
        items = [data["geography"]]
    elif isinstance(data, dict) and isinstance(data.get("data"), dict) and "geographies" in data["data"]:
        # MDS 2.0 wraps the list in "data"; the 1.2 schema checks the same list unwrapped.
        _check(
            {**{k: v for k, v in data.items() if k != "data"}, **data["data"]},
            "geographies",
            reading,
            enveloped=True,
        )
        items = data["data"]["geographies"]
    elif isinstance(data, dict) and "geographies" in data:
        _check(data, "geographies", reading, enveloped=True)
        items = data["geographies"]
    elif isinstance(data, list):
        reading.problem(
            "a bare list of geographies, without the MDS envelope {version, updated, geographies}"
        )
        items = data
    elif isinstance(data, dict) and "geography_json" in data:
        reading.problem("a bare geography object, without the MDS envelope {version, geography}")
        items = [data]
    else:
        reading.problems.append("no geographies found: expected {version, updated, geographies: [...]}")
        raise MdsDocumentError(source, reading.problems)
    geographies: dict[str, MdsGeography] = {}
    for index, item in enumerate(items if isinstance(items, list) else []):
        geography = _geography(item, index, reading)
        if geography is None:
            continue
        if geography.geography_id in geographies:
            reading.problem(
                f"geographies[{index}]: geography_id {geography.geography_id} is used twice; the first is kept"
            )
            continue
        geographies[geography.geography_id] = geography
    reading.finish()
    return geographies, reading


def _geography(item: Any, index: int, reading: Reading) -> MdsGeography | None:
    where = f"geographies[{index}]"
    if not isinstance(item, dict) or not isinstance(item.get("geography_id"), str):
        reading.problems.append(f"{where} is not a geography with a geography_id")
        return None
    collection = item.get("geography_json")
    if isinstance(collection, dict) and collection.get("type") in {
        "Feature",
        "Polygon",
        "MultiPolygon",
        "Point",
    }:
        reading.problem(f"{where}: geography_json is a {collection['type']}, not a FeatureCollection")
        collection = {
            "type": "FeatureCollection",
            "features": [
                collection
                if collection["type"] == "Feature"
                else {"type": "Feature", "properties": {}, "geometry": collection}
            ],
        }
    if not isinstance(collection, dict) or not isinstance(collection.get("features"), list):
        reading.problems.append(
            f"{where} ({item['geography_id']}): geography_json is not a GeoJSON FeatureCollection"
        )
        return None
    return MdsGeography(
        geography_id=item["geography_id"],
        name=str(item.get("name") or item["geography_id"]),
        geography_type=item.get("geography_type"),
        features=collection["features"],
        raw=item,
    )


__all__ = [
    "SUPPORTED_VERSIONS",
    "MdsDocumentError",
    "MdsGeography",
    "MdsPolicy",
    "Reading",
    "read_geographies",
    "read_policies",
]
