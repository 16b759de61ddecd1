"""``import-mds`` and ``export-mds`` on files: read, convert, write, and check what was written.

Every zone config written by an import is loaded back with the zone loader before the run
reports success, so "imported" means "the monitor accepts it", and every exported document
is checked against the MDS schema before it is written.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from pilotzone.zones.loader import load_zone
from pilotzone.zones.mds.documents import MdsGeography, read_geographies, read_policies
from pilotzone.zones.mds.exporter import export_zone
from pilotzone.zones.mds.importer import ImportOptions, import_policy, slug
from pilotzone.zones.mds.report import ImportReport, ZoneExport
from pilotzone.zones.mds.schema import schema_errors
from pilotzone.zones.problems import ZoneConfigError
from pilotzone.zones.zone import Zone


def read_json(path: Path) -> Any:
    """A JSON file, or ``ValueError`` saying which file is not JSON."""
    try:
        return json.loads(path.read_text("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: cannot read JSON: {exc}") from None


def import_documents(
    policy_data: Any,
    geography_data: Sequence[tuple[str, Any]],
    options: ImportOptions,
    *,
    policy_source: str = "policy",
    lenient: bool = False,
) -> tuple[ImportReport, list[tuple[str, dict[str, Any], dict[str, Any]]]]:
    """Policies and geographies (parsed JSON) as zone configs; raises ``MdsDocumentError``
    (strict) for a document that breaks its schema. Returns the report and, per imported
    policy, (zone id, config, GeoJSON)."""
    policies, reading = read_policies(policy_data, policy_source, lenient=lenient)
    geographies: dict[str, MdsGeography] = {}
    report = ImportReport(policy_source, [name for name, _ in geography_data], reading.version)
    report.forgiven.extend(f"{policy_source}: {item}" for item in reading.forgiven)
    for name, data in geography_data:
        found, geo_reading = read_geographies(data, name, lenient=lenient)
        report.forgiven.extend(f"{name}: {item}" for item in geo_reading.forgiven)
        for geography_id, geography in found.items():
            geographies.setdefault(geography_id, geography)
    if options.zone_id and len(policies) > 1:
        raise ValueError(f"--zone-id names one zone, but the document holds {len(policies)} policies")
    zones = []
    used: set[str] = set()
    for policy in policies:
        zone_id = options.zone_id or slug(policy.name)
        if zone_id in used:
            zone_id = f"{zone_id}-{slug(policy.policy_id)[:8]}"
        used.add(zone_id)
        imported, outcome = import_policy(policy, geographies, options, zone_id)
        report.policies.append(outcome)
        if imported is not None:
            zones.append((zone_id, imported.config, imported.geojson))
    return report, zones


def write_zone(
    out_dir: Path, zone_id: str, config: dict[str, Any], geojson: dict[str, Any]
) -> tuple[list[Path], Zone]:
    """Write a zone config and its GeoJSON, then load it back (``ZoneConfigError`` if refused)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    yaml_path, geojson_path = out_dir / f"{zone_id}.yaml", out_dir / f"{zone_id}.geojson"
    source = config.get("source") or {}
    header = (
        f"# Imported from MDS policy {source.get('policy_id')} by `pilotzone zones import-mds`.\n"
        "# Rule ids are the MDS rule_ids; `source` keeps the policy as published. See the import\n"
        "# report for every rule that was approximated or not imported.\n"
    )
    yaml_path.write_text(
        header + yaml.safe_dump(config, sort_keys=False, allow_unicode=True, width=100), "utf-8"
    )
    geojson_path.write_text(json.dumps(geojson, separators=(",", ":")) + "\n", "utf-8")
    return [yaml_path, geojson_path], load_zone(yaml_path)


def import_files(
    policy_path: Path,
    geography_paths: Sequence[Path],
    out_dir: Path,
    options: ImportOptions,
    *,
    lenient: bool = False,
) -> ImportReport:
    """``import-mds``: read, convert, write and load back; the report has every outcome."""
    geography_data = [(str(p), read_json(p)) for p in geography_paths]
    report, zones = import_documents(
        read_json(policy_path), geography_data, options, policy_source=str(policy_path), lenient=lenient
    )
    by_zone = {p.zone_id: p for p in report.policies if p.zone_id}
    for zone_id, config, geojson in zones:
        outcome = by_zone[zone_id]
        try:
            written, _ = write_zone(out_dir, zone_id, config, geojson)
        except ZoneConfigError as exc:
            outcome.status = "refused"
            outcome.notes.append(f"the zone loader refused the converted config: {exc}")
            continue
        outcome.files = [str(p) for p in written]
    return report


def export_files(zones: Sequence[Zone], out_dir: Path, published_ms: int) -> list[ZoneExport]:
    """``export-mds``: per zone, ``<zone>.policy.json`` and ``<zone>.geographies.json``, each
    checked against the MDS 2.0 schema first (``ValueError`` with the errors if not valid)."""
    reports = []
    out_dir.mkdir(parents=True, exist_ok=True)
    for zone in zones:
        policy, geographies, report = export_zone(zone, published_ms)
        errors = export_schema_errors(policy, geographies)
        if errors:
            raise ValueError(
                f"zone {zone.zone_id}: the export breaks the MDS schema:\n  " + "\n  ".join(errors)
            )
        for suffix, document in (("policy", policy), ("geographies", geographies)):
            path = out_dir / f"{zone.zone_id}.{suffix}.json"
            path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", "utf-8")
            report.files.append(str(path))
        reports.append(report)
    return reports


def export_schema_errors(policy: dict[str, Any], geographies: dict[str, Any]) -> list[str]:
    """Schema errors of an exported Policy and Geographies document pair (MDS 2.0)."""
    version = str(policy.get("version"))
    unwrapped = {
        "version": geographies.get("version"),
        "updated": geographies.get("updated"),
        **geographies.get("data", {}),
    }
    return [f"policy: {e}" for e in schema_errors(policy, "policies", version)] + [
        f"geographies: {e}" for e in schema_errors(unwrapped, "geographies", version)
    ]


__all__ = [
    "export_files",
    "export_schema_errors",
    "import_documents",
    "import_files",
    "read_json",
    "write_zone",
]
