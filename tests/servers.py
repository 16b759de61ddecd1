"""Real servers (Prometheus, Pushgateway) started on 127.0.0.1 for tests, with bounded waits, and their tools."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

INSTALL_HINT = (
    "run deploy/install-test-tools.sh (Debian's prometheus, prometheus-pushgateway, prometheus-alertmanager)"
)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def executable(name: str) -> str:
    """The path of a server binary; fails (not skips) with how to install it."""
    path = shutil.which(name)
    assert path is not None, f"{name} is not installed: {INSTALL_HINT}"
    return path


def run_tool(*args: str | Path) -> str:
    """Run a Prometheus or Alertmanager tool (promtool, amtool); fail with its output unless it exits 0."""
    command = [executable(str(args[0])), *map(str, args[1:])]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    output = f"{result.stdout}\n{result.stderr}".strip()
    assert result.returncode == 0, f"{' '.join(command)} exited {result.returncode}:\n{output}"
    return output


def wait_for(check: Callable[[], Any], timeout_s: float, what: str, every_s: float = 0.25) -> Any:
    """Poll ``check`` until it returns something truthy, at most ``timeout_s``; fail naming ``what``."""
    deadline = time.monotonic() + timeout_s
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            result = check()
        except (OSError, ValueError, KeyError, AssertionError) as exc:
            last_error, result = exc, None
        if result:
            return result
        time.sleep(every_s)
    raise AssertionError(f"timed out after {timeout_s:g} s waiting for {what} (last error: {last_error})")


def http_get(url: str, timeout_s: float = 5.0) -> bytes:
    """GET ``url`` and return the body (raises on HTTP errors)."""
    with urllib.request.urlopen(url, timeout=timeout_s) as response:
        return bytes(response.read())


@contextmanager
def server(command: list[str], ready_url: str, log: Path, timeout_s: float = 30.0) -> Iterator[None]:
    """Run ``command`` until the block ends; ready once ``ready_url`` answers 200."""
    with log.open("wb") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
        try:

            def ready() -> bool:
                assert process.poll() is None, (
                    f"{command[0]} exited: {log.read_text(errors='replace')[-2000:]}"
                )
                return bool(http_get(ready_url, timeout_s=2.0) is not None)

            wait_for(ready, timeout_s, f"{command[0]} at {ready_url}")
            yield
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


@contextmanager
def pushgateway(folder: Path) -> Iterator[str]:
    """A Pushgateway on 127.0.0.1; yields its base URL."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with server(pushgateway_command(folder, port), f"{url}/-/ready", folder / "pushgateway.log"):
        yield url


def pushgateway_command(folder: Path, port: int) -> list[str]:
    """The Pushgateway's command line: it persists into ``folder``.

    Debian's build defaults ``--persistence.file`` to ``/var/lib/prometheus/pushgateway.data``;
    a test must not write test figures into the system's Pushgateway, so the file is named here.
    """
    return [
        executable("prometheus-pushgateway"),
        f"--web.listen-address=127.0.0.1:{port}",
        f"--persistence.file={folder / 'pushgateway.data'}",
    ]


@contextmanager
def prometheus(folder: Path, config: dict[str, Any], retention: str | None = None) -> Iterator[str]:
    """A Prometheus on 127.0.0.1 with ``config`` (YAML is a superset of JSON); yields its URL.

    ``retention`` keeps older data (backfilled history) that the default 15 days would delete.
    """
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    (folder / "prometheus.yml").write_text(json.dumps(config), encoding="utf-8")
    command = prometheus_command(folder, port, retention)
    with server(command, f"{url}/-/ready", folder / "prometheus.log"):
        yield url


def prometheus_command(folder: Path, port: int, retention: str | None = None) -> list[str]:
    """Prometheus's command line: its database (and its active-query log) live in ``folder``."""
    command = [
        executable("prometheus"),
        f"--config.file={folder / 'prometheus.yml'}",
        f"--storage.tsdb.path={folder / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
    ]
    if retention is not None:
        command.append(f"--storage.tsdb.retention.time={retention}")
    return command


def alertmanager_command(folder: Path, port: int, config: Path) -> list[str]:
    """Alertmanager's command line: its silences and notification log in ``folder``, no cluster port.

    Debian's build defaults ``--storage.path`` to ``/var/lib/prometheus/alertmanager/`` and
    gossips on 0.0.0.0:9094 unless told otherwise.
    """
    return [
        executable("prometheus-alertmanager"),
        f"--config.file={config}",
        f"--storage.path={folder / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--cluster.listen-address=",
    ]


def promql(base_url: str, query: str) -> list[dict[str, Any]]:
    """Evaluate an instant PromQL query; the result vector (fails on a query error)."""
    address = f"{base_url}/api/v1/query?" + urllib.parse.urlencode({"query": query})
    try:
        answer = json.loads(http_get(address))
    except urllib.error.HTTPError as exc:
        raise AssertionError(f"PromQL {query!r} failed: {exc.read().decode(errors='replace')}") from exc
    assert answer["status"] == "success", answer
    return list(answer["data"]["result"])


POSTGRES_BIN = "/usr/lib/postgresql/*/bin"
"""Where Debian's ``postgresql`` package puts initdb, pg_ctl and postgres (not on PATH)."""


def postgres_tool(name: str) -> str:
    """A PostgreSQL server program (Debian's newest, else PATH); fails with how to install it."""
    import glob

    found = sorted(glob.glob(f"{POSTGRES_BIN}/{name}"), key=lambda p: int(p.split("/")[4]))
    path = found[-1] if found else shutil.which(name)
    assert path is not None, (
        f"{name} is not installed: run deploy/install-test-tools.sh (Debian's postgresql)"
    )
    return path


@contextmanager
def postgresql(timeout_s: float = 60.0) -> Iterator[str]:
    """A throw-away PostgreSQL on 127.0.0.1; yields a connection URL (trust auth, user ``pilotzone``).

    PostgreSQL refuses to run as root, so under root the cluster belongs to the ``postgres``
    user that Debian's package creates. Its folder is a fresh one under the system's temporary
    folder rather than pytest's, which belongs to root with mode 0700, and is removed afterwards.
    """
    import os
    import pwd
    import tempfile

    owner = "postgres" if os.geteuid() == 0 else None
    folder = Path(tempfile.mkdtemp(prefix="pilotzone-pg-"))
    if owner is not None:
        account = pwd.getpwnam(owner)
        os.chown(folder, account.pw_uid, account.pw_gid)
    data, log = folder / "data", folder / "server.log"
    port = free_port()

    def as_owner(*command: str) -> None:
        # runuser switches the account in the child, not Python's ``user=``: that makes Python
        # fork this whole test process instead of vfork-ing, and gRPC's fork handlers (Beam's
        # channels live in it) then crashed the child with SIGSEGV before initdb ran.
        prefix = ["runuser", "-u", owner, "--"] if owner is not None else []
        result = subprocess.run(
            [*prefix, *command],
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
            cwd=folder,
        )
        assert result.returncode == 0, (
            f"{' '.join(command)} exited {result.returncode}: {result.stderr[-2000:]}"
        )

    try:
        as_owner(postgres_tool("initdb"), "-D", str(data), "-U", "pilotzone", "--auth=trust", "-E", "UTF8")
        options = f"-h 127.0.0.1 -p {port} -k {folder} -c fsync=off -c full_page_writes=off"
        as_owner(
            postgres_tool("pg_ctl"), "-D", str(data), "-o", options, "-l", str(log), "-w", "-t", "30", "start"
        )
        try:
            yield f"postgresql://pilotzone@127.0.0.1:{port}/postgres"
        finally:
            as_owner(postgres_tool("pg_ctl"), "-D", str(data), "-m", "fast", "-w", "-t", "30", "stop")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
