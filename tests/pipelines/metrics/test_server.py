"""The metrics endpoint's server: scrapes keep working beside idle and slow clients, and the
basic-authentication file is checked with errors that say what to fix."""

from __future__ import annotations

import base64
import logging
import socket
import ssl
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from pilotzone.pipelines.cli import main
from pilotzone.pipelines.metrics.export import Exporter, ExportSettings
from pilotzone.pipelines.metrics.server import AuthFileError, BasicAuth, EndpointOptions
from pilotzone.zones import Zone
from tests.factories import track, write_container
from tests.pipelines.fleets import EVERY_KIND_ZONE

# -- the authentication file ------------------------------------------------------------------


def auth_file(tmp_path: Path, data: bytes, mode: int = 0o600) -> Path:
    path = tmp_path / "auth"
    path.write_bytes(data)
    path.chmod(mode)
    return path


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"", "the metrics authentication file is empty"),
        (b"\n\n", "the metrics authentication file is empty"),
        (b"just-a-user\n", "no ':' between user and password"),
        (b":password\n", "the user and the password must both be non-empty"),
        (b"user:\n", "the user and the password must both be non-empty"),
        (b"user:\xff\xfepass\n", "the metrics authentication file is not UTF-8 text"),
    ],
)
def test_an_unusable_auth_file_says_what_to_fix(tmp_path: Path, data: bytes, problem: str) -> None:
    path = auth_file(tmp_path, data)
    with pytest.raises(AuthFileError) as refused:
        BasicAuth.from_file(path)
    assert str(refused.value) == f"{path}: {problem}; write one line 'user:password' into it"


def test_a_missing_auth_file_says_so(tmp_path: Path) -> None:
    with pytest.raises(
        AuthFileError, match=r"auth: cannot read the metrics authentication file \(No such file"
    ):
        BasicAuth.from_file(tmp_path / "auth")


def test_the_first_line_holds_user_and_password(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="pilotzone.metrics"):
        auth = BasicAuth.from_file(auth_file(tmp_path, "prometheus:s3cret:pass wörd\nignored\n".encode()))
    assert (auth.user, auth.password) == ("prometheus", "s3cret:pass wörd")
    assert caplog.records == [], "a file only its owner reads is no cause for a warning"
    assert "s3cret" not in repr(auth)


@pytest.mark.parametrize(
    ("mode", "readers"), [(0o640, "group"), (0o604, "others"), (0o644, "group and others")]
)
def test_an_auth_file_others_may_read_is_warned_about(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, mode: int, readers: str
) -> None:
    path = auth_file(tmp_path, b"prometheus:s3cret\n", mode)
    with caplog.at_level(logging.WARNING, logger="pilotzone.metrics"):
        BasicAuth.from_file(path)
    assert [r.getMessage() for r in caplog.records] == [
        f"{path} holds the metrics password and is readable by {readers} (mode {mode:04o}): chmod 600 it"
    ]


def basic(credentials: bytes, scheme: str = "Basic") -> str:
    return f"{scheme} {base64.b64encode(credentials).decode()}"


@pytest.mark.parametrize(
    ("header", "allowed"),
    [
        (basic(b"prometheus:s3cret"), True),
        (basic(b"prometheus:s3cret", "basic"), True),
        (basic(b"prometheus:s3cret", "BASIC"), True),
        ("  " + basic(b"prometheus:s3cret", "bAsIc") + " ", True),
        (basic(b"prometheus:s3cre"), False),
        (basic(b"prometheus:s3cret", "Bearer"), False),
        ("Basic not*base64", False),
        ("Basic", False),
        (None, False),
    ],
)
def test_the_basic_scheme_is_case_insensitive(header: str | None, allowed: bool) -> None:
    assert BasicAuth("prometheus", "s3cret").allows(header) is allowed


def test_run_refuses_an_unusable_auth_file_before_replaying(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_container(tmp_path / "in.avro", track(3, operator_id="op-taxi"))
    path = auth_file(tmp_path, b"no colon here\n")
    status = main(["run", "--zones", str(EVERY_KIND_ZONE), "--input", str(tmp_path / "in.avro"),
                   "--incidents", str(tmp_path / "out" / "incidents.jsonl"), "--quiet",
                   "--metrics-port", "0", "--metrics-auth-file", str(path)])  # fmt: skip
    assert status == 2
    assert capsys.readouterr().err == (
        f"pilotzone: {path}: no ':' between user and password; write one line 'user:password' into it\n"
    )
    assert not (tmp_path / "out").exists(), "nothing was replayed"


# -- scrapes beside idle and slow clients, over TLS -------------------------------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return cert, key


@pytest.fixture
def tls_endpoint(
    certificate: tuple[Path, Path], every_kind_zones: list[Zone], request: pytest.FixtureRequest
) -> Iterator[tuple[str, int, ssl.SSLContext]]:
    cert, key = certificate
    limits = getattr(request, "param", {})
    options = EndpointOptions(port=0, tls_cert=cert, tls_key=key, basic_auth=BasicAuth("prometheus", "s3cret"),
                              **limits)  # fmt: skip
    exporter = Exporter(every_kind_zones, ExportSettings(endpoint=options))
    exporter.start()
    assert exporter.endpoint is not None
    try:
        yield exporter.endpoint.url, exporter.endpoint.port, ssl.create_default_context(cafile=str(cert))
    finally:
        exporter.close()


def scrape(url: str, context: ssl.SSLContext) -> float:
    """Seconds one authenticated scrape takes; fails unless it answers with the running flag."""
    started = time.monotonic()
    request = urllib.request.Request(url, headers={"Authorization": basic(b"prometheus:s3cret", "basic")})
    with urllib.request.urlopen(request, context=context, timeout=5) as response:
        body = response.read().decode()
    assert "pilotzone_pipeline_running 1.0" in body
    return time.monotonic() - started


class SlowLoris:
    """A TLS client that sends its request one byte every ``every_s``, never finishing it."""

    def __init__(self, port: int, context: ssl.SSLContext, every_s: float = 0.3) -> None:
        raw = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.connection = context.wrap_socket(raw, server_hostname="127.0.0.1")
        self.stop = threading.Event()
        self.bytes_sent = 0
        self.thread = threading.Thread(target=self.trickle, args=(every_s,), daemon=True)
        self.thread.start()

    def trickle(self, every_s: float) -> None:
        request = b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n" + b"X-Padding: " + b"a" * 10_000
        for byte in request:
            if self.stop.wait(every_s):
                return
            try:
                self.connection.send(bytes([byte]))
            except OSError:
                return
            self.bytes_sent += 1

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=5)
        self.connection.close()


@pytest.mark.integration
def test_scrapes_answer_while_idle_and_slow_clients_hold_connections(
    tls_endpoint: tuple[str, int, ssl.SSLContext],
) -> None:
    url, port, context = tls_endpoint
    idle = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(10)]
    loris = SlowLoris(port, context)
    try:
        time.sleep(0.5)  # the idle ones are accepted and waiting for a handshake that never comes
        durations = [scrape(url, context) for _ in range(5)]
        assert max(durations) < 1.0, durations
        assert loris.bytes_sent > 0, "the slow client was still talking during the scrapes"
    finally:
        loris.close()
        for connection in idle:
            connection.close()


@pytest.mark.integration
@pytest.mark.parametrize(
    "tls_endpoint", [{"connection_deadline_s": 1.5, "io_timeout_s": 60.0}], indirect=True
)
def test_a_connection_is_closed_at_its_deadline_however_slowly_it_talks(
    tls_endpoint: tuple[str, int, ssl.SSLContext],
) -> None:
    url, port, context = tls_endpoint
    idle = socket.create_connection(("127.0.0.1", port), timeout=5)
    loris = SlowLoris(port, context, every_s=0.1)
    try:
        started = time.monotonic()
        assert idle.recv(1) == b"", "the server closed the silent connection"
        assert 1.0 < time.monotonic() - started < 3.0
        loris.thread.join(timeout=5)
        assert not loris.thread.is_alive(), "the trickling client's connection was closed under it"
        assert scrape(url, context) < 1.0
    finally:
        loris.close()
        idle.close()


@pytest.mark.integration
@pytest.mark.parametrize(
    "tls_endpoint", [{"max_connections": 3, "connection_deadline_s": 1.5}], indirect=True
)
def test_connections_beyond_the_limit_are_refused_until_slots_free(
    tls_endpoint: tuple[str, int, ssl.SSLContext],
) -> None:
    url, port, context = tls_endpoint
    held = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(3)]
    try:
        time.sleep(0.3)
        extra = socket.create_connection(("127.0.0.1", port), timeout=5)
        assert extra.recv(1) == b"", "a fourth connection is closed at once"
        extra.close()
        time.sleep(1.6)  # the three reach their deadline
        assert scrape(url, context) < 1.0
    finally:
        for connection in held:
            connection.close()
