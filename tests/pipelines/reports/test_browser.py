"""The reports as a reader sees them: laid out by Debian's Chromium, printed to PDF, read back with
poppler (pdftotext, pdftoppm). Each test starts Chromium headless on local files only and waits
for it with a timeout; nothing listens on a port.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pilotzone.pipelines.cli import main
from pilotzone.pipelines.reports.pdf import chromium_args, find_chromium
from pilotzone.pipelines.reports.svgmap import SEVERITY_COLOURS
from pilotzone.zones import Zone
from tests.pipelines.fleets import EVERY_KIND_ZONE
from tests.pipelines.reports.runs import incident, replay_folder, summary

pytestmark = [pytest.mark.integration, pytest.mark.slow]

INSTALL_HINT = "run deploy/install-test-tools.sh (Debian's chromium and poppler-utils)"

# Injected into a copy of the report only: the report itself has no script. It records what
# the browser laid out: every incident marker drawn with a size inside the map, and the text
# of every incident table row as rendered.
PROBE = """<script>
window.addEventListener('load', () => {
  const map = document.querySelector('svg.zone-map').getBoundingClientRect();
  const markers = [...document.querySelectorAll('circle.incident-marker')].filter(c => {
    const r = c.getBoundingClientRect();
    return r.width > 0 && r.left >= map.left && r.right <= map.right && r.top >= map.top && r.bottom <= map.bottom;
  }).map(c => c.dataset.incident);
  const rows = [...document.querySelectorAll('tr.incident-row')].map(
    tr => [...tr.querySelectorAll('td')].map(td => td.innerText.replace(/\\s+/g, ' ').trim()));
  const pre = document.createElement('pre');
  pre.id = 'probe';
  pre.textContent = JSON.stringify({markers, rows, text: document.body.innerText});
  document.body.appendChild(pre);
});
</script>"""


def tool(name: str) -> str:
    path = shutil.which(name)
    assert path is not None, f"{name} is not installed: {INSTALL_HINT}"
    return path


def rendered(html: Path) -> dict[str, Any]:
    """What Chromium laid out for ``html`` (see PROBE)."""
    probe = html.with_name("probe.html")
    probe.write_text(html.read_text(encoding="utf-8").replace("</body>", PROBE + "</body>"), encoding="utf-8")
    with tempfile.TemporaryDirectory(prefix="pilotzone-test-chromium-") as profile:
        done = subprocess.run(
            [*chromium_args(find_chromium(), Path(profile)), "--dump-dom", probe.resolve().as_uri()],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
    match = re.search(r'<pre id="probe">(.*?)</pre>', done.stdout, re.S)
    assert match is not None, done.stdout[-2000:]
    text = (
        match.group(1).replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", '"').replace("&amp;", "&")
    )
    result: dict[str, Any] = json.loads(text)
    return result


def pdf_text(pdf: Path, *pages: int) -> str:
    first_last = ["-f", str(pages[0]), "-l", str(pages[-1])] if pages else []
    return subprocess.run(
        [tool("pdftotext"), *first_last, "-layout", str(pdf), "-"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout


def page_count(pdf: Path) -> int:
    info = subprocess.run(
        [tool("pdfinfo"), str(pdf)], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    match = re.search(r"^Pages:\s+(\d+)", info, re.M)
    assert match is not None
    return int(match.group(1))


def raster(pdf: Path, page: int, dpi: int = 192) -> np.ndarray:
    """One page as an RGB array, rasterised by pdftoppm (binary PPM)."""
    data = subprocess.run(
        [tool("pdftoppm"), "-f", str(page), "-l", str(page), "-r", str(dpi), str(pdf)],
        capture_output=True,
        timeout=60,
        check=True,
    ).stdout
    header = re.match(rb"P6\s+(\d+)\s+(\d+)\s+(\d+)\s", data)
    assert header is not None
    width, height = int(header.group(1)), int(header.group(2))
    return np.frombuffer(data[header.end() :], dtype=np.uint8).reshape(height, width, 3)


def blobs(image: np.ndarray, colour: str, min_pixels: int) -> int:
    """Connected areas of (nearly) one colour with at least ``min_pixels`` pixels."""
    rgb = np.array([int(colour[i : i + 2], 16) for i in (1, 3, 5)])
    mask = np.abs(image.astype(int) - rgb).sum(axis=2) <= 30
    seen = np.zeros_like(mask)
    count = 0
    for y, x in zip(*np.nonzero(mask), strict=True):
        if seen[y, x]:
            continue
        stack, size = [(y, x)], 0
        seen[y, x] = True
        while stack:
            cy, cx = stack.pop()
            size += 1
            for ny, nx in ((cy + 1, cx), (cy - 1, cx), (cy, cx + 1), (cy, cx - 1)):
                if 0 <= ny < mask.shape[0] and 0 <= nx < mask.shape[1] and mask[ny, nx] and not seen[ny, nx]:
                    seen[ny, nx] = True
                    stack.append((ny, nx))
        count += size >= min_pixels
    return count


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("demo")
    assert main(["demo", "--out", str(out), "--quiet", "--metrics-port", "0", "--metrics-linger", "0"]) == 0
    return out


def test_the_demo_report_shows_what_the_run_folder_holds(demo_run: Path, tmp_path: Path) -> None:
    status = main(["report", str(demo_run), "--out", str(tmp_path), "--as-of", "2026-11-23T12:00Z"])
    assert status == 0
    incidents = read_jsonl(demo_run / "incidents.jsonl")
    summaries = read_jsonl(demo_run / "summaries.jsonl")

    seen = rendered(tmp_path / "gwangju-report.html")
    assert seen["markers"] == [str(n) for n in range(1, len(incidents) + 1)]
    assert [row[1] for row in seen["rows"]] == [i["incident_id"] for i in incidents]
    assert [(row[4], row[5], row[6], row[8], row[9]) for row in seen["rows"]] == [
        (i["kind"], i["rule_id"], i["severity"], i["vehicle_id"], i["operator_id"]) for i in incidents
    ]
    assert [row[3] == "open" for row in seen["rows"]] == [i["end_time"] is None for i in incidents]
    with_deadline = [row[11] for row, i in zip(seen["rows"], incidents, strict=True) if i["report_deadline"]]
    assert with_deadline == ["not recorded"] * len(with_deadline)

    samples = sum(row["samples"] for row in summaries)
    km = sum(sum(row["distance_m_by_mode"].values()) for row in summaries) / 1000
    ratio = 1 - sum(sum(r["violation_s_by_rule"].values()) for r in summaries) / sum(
        r["vehicle_seconds"] for r in summaries
    )
    headline = f"{samples:,} samples, {km:,.1f} km driven"
    assert headline in seen["text"]
    text = pdf_text(tmp_path / "gwangju-report.pdf")
    assert headline in text
    assert f"compliance ratio {ratio:.4f}" in text
    for row in incidents:
        assert row["incident_id"] in text
    assert "Rules in force" in text and "sha256:" in text


@pytest.fixture
def separated_run(tmp_path: Path, every_kind_zones: list[Zone]) -> Path:
    """Three incidents far apart (markers cannot touch): two MINOR, one CRITICAL."""
    version = every_kind_zones[0].version
    return replay_folder(
        tmp_path / "run",
        [
            incident(1, version=version, lon=126.836, lat=35.144),
            incident(
                2,
                severity="CRITICAL",
                kind="vehicle_event",
                rule_id="collisions",
                version=version,
                lon=126.874,
                lat=35.146,
                deadline="2026-11-23T02:01:02.000Z",
            ),
            incident(3, version=version, lon=126.845, lat=35.171),
        ],
        [summary(0, "op-taxi", "ROBOTAXI", incidents={"speed_limit/MINOR": 2, "vehicle_event/CRITICAL": 1})],
    )


def test_the_printed_map_has_one_marker_per_incident(separated_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert main(["report", str(separated_run), "--out", str(out), "--zones", str(EVERY_KIND_ZONE)]) == 0
    pdf = out / "test-every-kind-report.pdf"
    map_pages = [
        page for page in range(1, page_count(pdf) + 1) if "incident markers, numbered" in pdf_text(pdf, page)
    ]
    assert len(map_pages) == 1
    image = raster(pdf, map_pages[0])
    # A marker is a disc of 9 px (css) across: ~250 pixels at 192 dpi; its number label is far smaller.
    found = Counter({sev: blobs(image, SEVERITY_COLOURS[sev], 150) for sev in ("CRITICAL", "MINOR")})
    assert found == Counter({"MINOR": 2, "CRITICAL": 1})


def test_the_public_report_as_read_names_no_vehicle(demo_run: Path, tmp_path: Path) -> None:
    assert main(["report", str(demo_run), "--out", str(tmp_path), "--public"]) == 0
    seen = rendered(tmp_path / "gwangju-public-report.html")
    assert seen["markers"] == []
    assert seen["rows"] == []
    incidents = read_jsonl(demo_run / "incidents.jsonl")
    source = (tmp_path / "gwangju-public-report.html").read_text()
    text = pdf_text(tmp_path / "gwangju-public-report.pdf")
    for row in incidents:
        for secret in (
            row["vehicle_id"],
            row["incident_id"],
            f"{row['latitude']:.4f}",
            f"{row['longitude']:.4f}",
        ):
            assert secret not in source
            assert secret not in seen["text"]
            assert secret not in text
    assert "suppressed" in text
    assert "Public version" in text
