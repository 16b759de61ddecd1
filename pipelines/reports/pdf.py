"""Print the HTML report to PDF with Chromium, headless, from a local file: no network involved.

Debian's ``chromium`` (installed by ``deploy/install-test-tools.sh``) prints with
``--print-to-pdf``. Each run gets its own throw-away profile folder, so two reports printed at
once do not fight over one profile's lock. Running as root, Chromium refuses to start without
``--no-sandbox``; the page is the report this program just wrote (no script, no link), so the
sandbox protects against nothing there.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

TIMEOUT_S = 120.0


class PdfError(RuntimeError):
    """Chromium is missing or failed; says what to do."""


def find_chromium(explicit: str | None = None) -> str:
    """The Chromium command: ``explicit``, ``PILOTZONE_CHROMIUM``, or ``chromium`` on the PATH."""
    candidate = explicit or os.environ.get("PILOTZONE_CHROMIUM") or "chromium"
    found = shutil.which(candidate)
    if found is None:
        raise PdfError(
            f"no Chromium found ({candidate!r}): install Debian's chromium (deploy/install-test-tools.sh), "
            "give --chromium PATH, or pass --no-pdf for the HTML only"
        )
    return found


def chromium_args(chromium: str, profile: Path) -> list[str]:
    """The headless Chromium command line shared by printing and the tests' rendering."""
    args = [
        chromium,
        "--headless",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-extensions",
        f"--user-data-dir={profile}",
    ]
    if os.geteuid() == 0:
        args.append("--no-sandbox")
    return args


def print_pdf(html_path: Path, pdf_path: Path, chromium: str) -> None:
    """Print ``html_path`` to ``pdf_path`` (A4, no browser header or footer)."""
    pdf_path.unlink(missing_ok=True)  # so a failed print cannot leave an older PDF looking new
    with tempfile.TemporaryDirectory(prefix="pilotzone-chromium-") as profile:
        command = [
            *chromium_args(chromium, Path(profile)),
            "--no-pdf-header-footer",
            f"--print-to-pdf={pdf_path.resolve()}",
            html_path.resolve().as_uri(),
        ]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT_S, check=False)
        except subprocess.TimeoutExpired:
            raise PdfError(f"Chromium did not finish printing {html_path} within {TIMEOUT_S:g} s") from None
    if done.returncode != 0 or not pdf_path.exists():
        tail = "\n".join(done.stderr.strip().splitlines()[-5:])
        raise PdfError(f"Chromium could not print {html_path} (exit {done.returncode}):\n{tail}")
