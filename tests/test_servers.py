"""The test servers write only under the test's own folder, never into the system's state."""

from __future__ import annotations

import urllib.request
from pathlib import Path

import pytest

from tests.servers import (
    alertmanager_command,
    prometheus_command,
    pushgateway,
    pushgateway_command,
)

WRITING_FLAGS = {"--persistence.file", "--storage.tsdb.path", "--storage.path"}
"""The flags through which Debian's Prometheus, Pushgateway and Alertmanager choose where they write
(each defaults to a folder under /var/lib/prometheus)."""


@pytest.mark.integration
def test_every_server_is_told_to_write_into_the_test_folder(tmp_path: Path) -> None:
    commands = {
        "pushgateway": pushgateway_command(tmp_path, 9091),
        "prometheus": prometheus_command(tmp_path, 9090),
        "alertmanager": alertmanager_command(tmp_path, 9093, tmp_path / "alertmanager.yml"),
    }
    expected = {"pushgateway": "--persistence.file", "prometheus": "--storage.tsdb.path",
                "alertmanager": "--storage.path"}  # fmt: skip
    for name, command in commands.items():
        flags = dict(argument.split("=", 1) for argument in command[1:] if "=" in argument)
        assert set(flags) & WRITING_FLAGS == {expected[name]}, name
        assert Path(flags[expected[name]]).is_relative_to(tmp_path), name


@pytest.mark.integration
def test_pushgateway_persists_into_the_test_folder(tmp_path: Path) -> None:
    with pushgateway(tmp_path) as url:
        request = urllib.request.Request(
            f"{url}/metrics/job/servers-test", data=b"pilotzone_probe 1\n", method="PUT"
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            assert response.status == 200
    # The Pushgateway writes its persistence file when it shuts down.
    assert b"pilotzone_probe" in (tmp_path / "pushgateway.data").read_bytes()
