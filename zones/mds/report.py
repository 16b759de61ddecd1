"""What an import or export did, rule by rule: for people (text) and for machines (JSON).

Every MDS rule gets an outcome, and nothing is left out silently: ``imported`` (the zone
rule means what the MDS rule means), ``approximated`` (imported, and the notes say how the
meaning differs), ``not_imported`` (the notes say why). Export reports the same way per
zone rule.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Status = Literal["imported", "approximated", "not_imported"]
ExportStatus = Literal["exported", "approximated", "not_exported"]


@dataclass
class RuleOutcome:
    """What became of one MDS rule."""

    position: int
    """1-based position in the policy's rule list (MDS's first-match order)."""
    rule_id: str
    name: str
    rule_type: str
    status: Status = "imported"
    imported_as: str | None = None
    """What it became: ``speed_limit rule <id>``, ``fleet cap of every operator`` ..."""
    notes: list[str] = field(default_factory=list)

    def approximate(self, note: str) -> None:
        """Imported, but with a difference in meaning that ``note`` states."""
        if self.status == "imported":
            self.status = "approximated"
        self.notes.append(note)

    def refuse(self, reason: str) -> None:
        """Not imported, because of ``reason``."""
        self.status = "not_imported"
        self.imported_as = None
        self.notes.append(reason)


@dataclass
class PolicyOutcome:
    """What became of one MDS policy: a zone config, or a refusal with reasons."""

    policy_id: str
    name: str
    status: Literal["imported", "refused"] = "imported"
    zone_id: str | None = None
    files: list[str] = field(default_factory=list)
    rules: list[RuleOutcome] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class ImportReport:
    """A whole ``import-mds`` run."""

    policy_source: str
    geography_sources: list[str]
    mds_version: str
    policies: list[PolicyOutcome] = field(default_factory=list)
    forgiven: list[str] = field(default_factory=list)
    """What ``--lenient`` forgave in the documents (empty in strict mode)."""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def text(self) -> str:
        lines = [f"MDS {self.mds_version} policy {self.policy_source}"]
        if self.forgiven:
            lines.append(f"  forgiven (--lenient), {len(self.forgiven)}:")
            lines.extend(f"    - {item}" for item in self.forgiven)
        for policy in self.policies:
            head = f"policy {policy.policy_id} {policy.name!r}: "
            head += (
                f"zone {policy.zone_id} ({', '.join(policy.files)})"
                if policy.status == "imported"
                else "REFUSED"
            )
            lines.append(head)
            lines.extend(f"  note: {note}" for note in policy.notes)
            for rule in policy.rules:
                target = f" -> {rule.imported_as}" if rule.imported_as else ""
                lines.append(
                    f"  rule {rule.position} {rule.rule_id} {rule.name!r} ({rule.rule_type}): {rule.status}{target}"
                )
                lines.extend(f"      - {note}" for note in rule.notes)
        return "\n".join(lines)


@dataclass
class ExportedRule:
    """What became of one zone rule (or fleet cap) on export."""

    rule_id: str
    kind: str
    status: ExportStatus = "exported"
    mds_rule_ids: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class ZoneExport:
    """One zone's export: the files written and every rule's outcome."""

    zone_id: str
    policy_id: str
    files: list[str] = field(default_factory=list)
    rules: list[ExportedRule] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def text(self) -> str:
        lines = [f"zone {self.zone_id}: MDS 2.0 policy {self.policy_id} ({', '.join(self.files)})"]
        lines.extend(f"  note: {note}" for note in self.notes)
        for rule in self.rules:
            target = f" -> {', '.join(rule.mds_rule_ids)}" if rule.mds_rule_ids else ""
            lines.append(f"  {rule.kind} {rule.rule_id}: {rule.status}{target}")
            lines.extend(f"      - {note}" for note in rule.notes)
        return "\n".join(lines)


__all__ = [
    "ExportStatus",
    "ExportedRule",
    "ImportReport",
    "PolicyOutcome",
    "RuleOutcome",
    "Status",
    "ZoneExport",
]
