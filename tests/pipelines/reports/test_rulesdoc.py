"""The rules in force as a document."""

from __future__ import annotations

import re

from pilotzone.pipelines.reports.rulesdoc import rule_entry, rules_section
from pilotzone.zones import Zone


def test_a_reportable_event_rule_reads_in_plain_words(every_kind_zones: list[Zone]) -> None:
    zone = every_kind_zones[0]
    rule = next(r for r in zone.rules if r.id == "collisions")
    entry = rule_entry(zone, rule)
    fields = dict(re.findall(r"<dt>([^<]+)</dt><dd>([^<]*)</dd>", entry))
    assert fields["Reporting"] == "report to the authority within 1 h"
    assert fields["Where"] == "zone-wide"
    assert fields["Who"] == "every vehicle class"
    assert fields["When"] == "always"
    assert "CRITICAL" in entry


def test_the_section_lists_every_rule_and_the_versions(every_kind_zones: list[Zone]) -> None:
    zone = every_kind_zones[0]
    html = rules_section([zone], [zone.version])
    assert sorted(re.findall(r'class="rule" data-rule="([^"]+)"', html)) == sorted(r.id for r in zone.rules)
    assert f"versions the run recorded: <code>{zone.version}</code>" in html
    assert "not recorded by the run" in rules_section([zone], [])


def test_a_scheduled_rule_gives_its_windows_in_local_time() -> None:
    from pilotzone.zones import SHIPPED_CONFIGS, load_zones

    zone = load_zones([SHIPPED_CONFIGS / "seoul-gangnam.yaml"])[0]
    scheduled = [rule for rule in zone.rules if rule.applies.schedule is not None]
    fields = dict(re.findall(r"<dt>([^<]+)</dt><dd>([^<]*)</dd>", rule_entry(zone, scheduled[0])))
    assert fields["When"] == "every day 07:00–21:00 (Asia/Seoul)"
