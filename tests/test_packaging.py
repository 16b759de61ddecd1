"""The wheel installs everything under ``pilotzone.`` and lives beside other distributions.

A distribution with its own top-level ``schemas`` package is installed next to ours; both must
import, ours must find its package data (schemas, shipped zones) from site-packages, and
uninstalling ours must leave the other's files alone.
"""

from __future__ import annotations

import base64
import hashlib
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REPOSITORY = Path(__file__).resolve().parents[1]
OURS = ("pilotzone", "__editable__.pilotzone", "__editable___pilotzone")
"""Names of this project's own entries in a site-packages folder (package, metadata, finder)."""


def record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def other_wheel(folder: Path) -> Path:
    """A minimal wheel of another distribution that owns a top-level ``schemas`` package."""
    files = {
        "schemas/__init__.py": b'OWNER = "other-distribution"\n',
        "other_schemas-1.0.dist-info/METADATA": b"Metadata-Version: 2.1\nName: other-schemas\nVersion: 1.0\n",
        "other_schemas-1.0.dist-info/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = [record_line(name, data) for name, data in files.items()]
    record.append("other_schemas-1.0.dist-info/RECORD,,")
    path = folder / "other_schemas-1.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as wheel:
        for name, data in files.items():
            wheel.writestr(name, data)
        wheel.writestr("other_schemas-1.0.dist-info/RECORD", "\n".join(record) + "\n")
    return path


def pip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pip", "-q", *args], check=True, capture_output=True, text=True
    )


@pytest.fixture(scope="module")
def environment(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment with our built wheel and the other distribution installed.

    Third-party dependencies come from this interpreter's site-packages, through a folder of
    links to everything there except this project (however it is installed: as a wheel or in
    development mode), named in a ``.pth`` path line.
    """
    work = tmp_path_factory.mktemp("packaging")
    pip("wheel", "--no-deps", "--wheel-dir", str(work / "dist"), str(REPOSITORY))
    (ours,) = (work / "dist").glob("pilotzone_monitor-*.whl")
    dependencies = work / "dependencies"
    dependencies.mkdir()
    for entry in Path(sysconfig.get_path("purelib")).iterdir():
        if not entry.name.startswith(OURS):
            (dependencies / entry.name).symlink_to(entry)
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    purelib = Path(
        subprocess.check_output(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], text=True
        ).strip()
    )
    (purelib / "dependencies.pth").write_text(f"{dependencies}\n")
    pip("--python", str(python), "install", "--no-deps", str(ours), str(other_wheel(work)))
    return venv


def run_in(venv: Path, code: str) -> str:
    result = subprocess.run(
        [str(venv / "bin" / "python"), "-c", code], check=False, capture_output=True, text=True, cwd=venv
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_both_distributions_import_side_by_side(environment: Path) -> None:
    code = (
        "import schemas, pilotzone.schemas.contract as c, pilotzone.zones as z, pilotzone.pipelines.cli;"
        "print(schemas.OWNER, c.schema_dict('telemetry_sample')['name'], len(list(z.SHIPPED_CONFIGS.glob('*.yaml'))),"
        f" c.SCHEMA_DIR.is_relative_to({str(environment)!r}))"
    )
    assert run_in(environment, code) == "other-distribution TelemetrySample 3 True"


def test_the_installed_command_loads_a_shipped_zone(environment: Path) -> None:
    shipped = run_in(environment, "import pilotzone.zones as z; print(z.SHIPPED_CONFIGS)")
    result = subprocess.run(
        [str(environment / "bin" / "pilotzone"), "zones", "check", shipped],
        check=False,
        capture_output=True,
        text=True,
        cwd=environment,
    )
    assert result.returncode == 0, result.stderr + result.stdout


def test_uninstalling_ours_leaves_the_other_schemas_package(environment: Path) -> None:
    pip("--python", str(environment / "bin" / "python"), "uninstall", "-y", "pilotzone-monitor")
    assert run_in(environment, "import schemas; print(schemas.OWNER)") == "other-distribution"
    assert (
        run_in(environment, "import importlib.util; print(importlib.util.find_spec('pilotzone.zones'))")
        == "None"
    )
