"""The ``/metrics`` endpoint's HTTP(S) server: no client can keep the others from scraping.

The standard recipe (wrap the listening socket in TLS, serve with ``ThreadingMixIn``) runs the
TLS handshake inside ``accept()`` on the one serving thread: a client that opens a TCP
connection and sends nothing blocks every other scrape for as long as it stays connected.
Here the serving thread only accepts; each connection gets its own thread, which does the
handshake and reads the request under limits:

* ``max_connections`` connections at once; one more is closed at once (the others are served);
* ``io_timeout_s`` for any single read or write (a client that goes quiet);
* ``connection_deadline_s`` for a whole connection, handshake included: a reaper closes a
  connection that is still open after it, so a client trickling one byte at a time
  ("slow loris") cannot hold a thread for ever either.

HTTP basic authentication compares credentials in constant time; the file that holds them is
checked when the endpoint is configured, with an error that says what to fix.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hmac
import logging
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import make_wsgi_app

LOG = logging.getLogger("pilotzone.metrics")

DEFAULT_PORT = 9464
"""The metrics port: 9464 is the port the Prometheus wiki's default-port list gives to
OpenTelemetry-style application exporters, and is free of Prometheus's own components."""


class AuthFileError(ValueError):
    """The basic-authentication file cannot be used; the message says what to fix."""


@dataclass(frozen=True)
class BasicAuth:
    """One user and password that scrapes must present (HTTP basic authentication)."""

    user: str
    password: str = field(repr=False)

    @classmethod
    def from_file(cls, path: Path) -> BasicAuth:
        """Read ``user:password`` from the first line of ``path``; secrets stay off the command line.

        Raises ``AuthFileError`` for a file that is unreadable, not UTF-8, empty, or without a
        user, a colon or a password; warns when others than its owner may read it.
        """
        expected = "write one line 'user:password' into it"
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise AuthFileError(
                f"{path}: cannot read the metrics authentication file ({exc.strerror or exc})"
            ) from exc
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise AuthFileError(
                f"{path}: the metrics authentication file is not UTF-8 text; {expected}"
            ) from exc
        lines = text.splitlines()
        line = lines[0] if lines else ""
        if not line.strip():
            raise AuthFileError(f"{path}: the metrics authentication file is empty; {expected}")
        user, colon, password = line.partition(":")
        if not colon:
            raise AuthFileError(f"{path}: no ':' between user and password; {expected}")
        if not user or not password:
            raise AuthFileError(f"{path}: the user and the password must both be non-empty; {expected}")
        mode = path.stat().st_mode
        if mode & 0o044:
            LOG.warning(
                "%s holds the metrics password and is readable by %s (mode %04o): chmod 600 it",
                path,
                "group and others" if mode & 0o044 == 0o044 else "group" if mode & 0o040 else "others",
                mode & 0o777,
            )
        return cls(user, password)

    def allows(self, header: str | None) -> bool:
        """Whether an ``Authorization`` header carries these credentials.

        The scheme is case-insensitive (RFC 9110), the comparison constant-time.
        """
        if header is None:
            return False
        scheme, _, token = header.strip().partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            given = base64.b64decode(token.strip(), validate=True)
        except (binascii.Error, ValueError):
            return False
        return hmac.compare_digest(given, f"{self.user}:{self.password}".encode())


def with_basic_auth(app: Any, auth: BasicAuth) -> Any:
    """The WSGI ``app`` behind a 401 for requests without ``auth``'s credentials."""

    def guarded(environ: dict[str, Any], start_response: Any) -> Any:
        if auth.allows(environ.get("HTTP_AUTHORIZATION")):
            return app(environ, start_response)
        start_response(
            "401 Unauthorized",
            [("WWW-Authenticate", 'Basic realm="pilotzone metrics"'), ("Content-Type", "text/plain")],
        )
        return [b"authentication required\n"]

    return guarded


@dataclass(frozen=True)
class EndpointOptions:
    """Where and how the metrics endpoint listens, and how long a client may hold it."""

    port: int = DEFAULT_PORT
    host: str = "127.0.0.1"
    tls_cert: Path | None = None
    tls_key: Path | None = None
    basic_auth: BasicAuth | None = None
    max_connections: int = 32
    """Connections served at once; Prometheus needs one per scrape, a few replicas a few."""
    io_timeout_s: float = 10.0
    """Longest wait for one read or write (Prometheus's default scrape timeout is 10 s)."""
    connection_deadline_s: float = 30.0
    """Longest life of one connection, handshake, request and answer included."""


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Scrapes every few seconds would flood the pipeline's log."""


class _Connections:
    """The connections being served, with their deadlines; the reaper closes overdue ones."""

    def __init__(self, limit: int, deadline_s: float) -> None:
        self.slots = threading.BoundedSemaphore(limit)
        self.deadline_s = deadline_s
        self.lock = threading.Lock()
        self.open: dict[int, tuple[float, socket.socket]] = {}
        self.stopped = threading.Event()

    def track(self, key: int, connection: socket.socket) -> None:
        """Watch ``connection`` (again, once it is wrapped in TLS) under the deadline set first."""
        with self.lock:
            deadline = self.open.get(key, (time.monotonic() + self.deadline_s, connection))[0]
            self.open[key] = (deadline, connection)

    def forget(self, key: int) -> None:
        with self.lock:
            self.open.pop(key, None)

    def reap(self) -> None:
        """Until stopped: shut down every connection past its deadline, waking its thread."""
        while not self.stopped.wait(0.2):
            now = time.monotonic()
            with self.lock:
                overdue = [connection for deadline, connection in self.open.values() if deadline < now]
            for connection in overdue:
                # The plain socket's shutdown, also for a TLS socket: it ends the blocked read in
                # the connection's thread without touching the TLS state from this one. OSError:
                # its own thread closed it meanwhile.
                with contextlib.suppress(OSError):
                    socket.socket.shutdown(connection, socket.SHUT_RDWR)


class GuardedWSGIServer(WSGIServer):
    """A WSGI server that accepts on one thread and handshakes and serves each connection on
    its own, within the limits of ``EndpointOptions`` (module docstring)."""

    daemon_threads = True

    def __init__(
        self,
        address: tuple[str, int],
        handler: Callable[..., Any],
        *,
        tls: ssl.SSLContext | None,
        options: EndpointOptions,
    ) -> None:
        super().__init__(address, handler)
        self.tls = tls
        self.options = options
        self.connections = _Connections(options.max_connections, options.connection_deadline_s)
        self.reaper = threading.Thread(target=self.connections.reap, name="metrics-reaper", daemon=True)
        self.reaper.start()
        self._refused_logged_at = 0.0

    def process_request(self, request: Any, client_address: Any) -> None:
        """Runs on the accepting thread: hand the connection to a thread of its own, or refuse it."""
        if not self.connections.slots.acquire(blocking=False):
            now = time.monotonic()
            if now - self._refused_logged_at > 60:
                self._refused_logged_at = now
                LOG.warning(
                    "metrics endpoint: %d connections open, refusing more", self.options.max_connections
                )
            self.shutdown_request(request)
            return
        threading.Thread(
            target=self._serve_connection,
            args=(request, client_address),
            name="metrics-connection",
            daemon=True,
        ).start()

    def _serve_connection(self, connection: socket.socket, client_address: Any) -> None:
        key = id(connection)
        try:
            connection.settimeout(self.options.io_timeout_s)
            self.connections.track(key, connection)
            if self.tls is not None:
                connection = self.tls.wrap_socket(connection, server_side=True, do_handshake_on_connect=False)
                self.connections.track(key, connection)
                connection.do_handshake()
            self.finish_request(connection, client_address)
        except (OSError, ValueError) as exc:  # timeouts, resets, bad handshakes: this client's problem only
            LOG.debug("metrics endpoint: connection from %s dropped: %s", client_address, exc)
        finally:
            self.connections.forget(key)
            self.shutdown_request(connection)
            self.connections.slots.release()

    def server_close(self) -> None:
        self.connections.stopped.set()
        super().server_close()
        self.reaper.join(timeout=5)


def tls_context(cert: Path, key: Path | None) -> ssl.SSLContext:
    """A server context for TLS 1.2 and later with the certificate (and key) given."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(str(cert), None if key is None else str(key))
    return context


class MetricsEndpoint:
    """An HTTP(S) ``/metrics`` endpoint for ``registry``, served from background threads."""

    def __init__(self, registry: CollectorRegistry, options: EndpointOptions) -> None:
        app = make_wsgi_app(registry)
        if options.basic_auth is not None:
            app = with_basic_auth(app, options.basic_auth)
        tls = None if options.tls_cert is None else tls_context(options.tls_cert, options.tls_key)
        self.server = GuardedWSGIServer((options.host, options.port), _QuietHandler, tls=tls, options=options)
        self.server.set_app(app)
        self.scheme = "http" if tls is None else "https"
        self.thread = threading.Thread(target=self.server.serve_forever, name="metrics-endpoint", daemon=True)
        self.thread.start()

    @property
    def port(self) -> int:
        """The port actually bound (useful with port 0)."""
        return int(self.server.server_address[1])

    @property
    def url(self) -> str:
        host = self.server.server_address[0]
        host = host.decode() if isinstance(host, bytes) else host
        return f"{self.scheme}://{host}:{self.port}/metrics"

    def close(self) -> None:
        """Stop serving and release the port."""
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)
