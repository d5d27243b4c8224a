"""HTTP serving shared by the exporter, the sink and the analyzer.

Reads the Prometheus exporter-toolkit web configuration file (``--web.config.file``): TLS with
optional client certificates, and basic-auth users with bcrypt password hashes. Serves a
``BaseHTTPRequestHandler`` subclass behind TLS, basic auth and a bound on concurrent requests.
"""

from __future__ import annotations

import base64
import http.server
import signal
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import bcrypt
import yaml

CLIENT_AUTH_TYPES = {
    "NoClientCert": ssl.CERT_NONE,
    "RequestClientCert": ssl.CERT_OPTIONAL,
    "RequireAnyClientCert": ssl.CERT_REQUIRED,
    "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL,
    "RequireAndVerifyClientCert": ssl.CERT_REQUIRED,
}
TLS_VERSIONS = {"TLS10": ssl.TLSVersion.TLSv1, "TLS11": ssl.TLSVersion.TLSv1_1, "TLS12": ssl.TLSVersion.TLSv1_2,
                "TLS13": ssl.TLSVersion.TLSv1_3}


class WebConfigError(ValueError):
    """A web configuration file is invalid; the message names the file and the field."""


@dataclass(frozen=True)
class TLSConfig:
    """tls_server_config of the exporter-toolkit format."""

    cert_file: Path
    key_file: Path
    client_auth_type: str = "NoClientCert"
    client_ca_file: Path | None = None
    min_version: str = "TLS12"


@dataclass(frozen=True)
class WebConfig:
    """A parsed web configuration file."""

    tls: TLSConfig | None = None
    basic_auth_users: dict[str, bytes] = field(default_factory=dict)  # user -> bcrypt hash

    def ssl_context(self) -> ssl.SSLContext | None:
        """The server TLS context, or None for plain HTTP."""
        if self.tls is None:
            return None
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = TLS_VERSIONS[self.tls.min_version]
        ctx.load_cert_chain(str(self.tls.cert_file), str(self.tls.key_file))
        ctx.verify_mode = CLIENT_AUTH_TYPES[self.tls.client_auth_type]
        if self.tls.client_ca_file:
            ctx.load_verify_locations(str(self.tls.client_ca_file))
        return ctx

    def check_basic_auth(self, header: str | None) -> bool:
        """Whether an Authorization header carries a configured user and password."""
        if not self.basic_auth_users:
            return True
        if not header or not header.startswith("Basic "):
            return False
        try:
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return False
        hashed = self.basic_auth_users.get(user)
        if hashed is None:
            # spend the time of a real check so that user names cannot be probed by timing
            bcrypt.checkpw(password.encode(), next(iter(self.basic_auth_users.values())))
            return False
        return bcrypt.checkpw(password.encode(), hashed)


def load_web_config(path: str | Path | None) -> WebConfig | None:
    """Parse a web configuration file; None when no file is given."""
    if path is None:
        return None
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise WebConfigError(f"{path}: cannot read web config: {exc}") from exc
    if not isinstance(raw, dict):
        raise WebConfigError(f"{path}: expected a mapping at the top level")
    unknown = set(raw) - {"tls_server_config", "basic_auth_users", "http_server_config"}
    if unknown:
        raise WebConfigError(f"{path}: unknown fields {sorted(unknown)}")
    tls = None
    if raw.get("tls_server_config"):
        t = raw["tls_server_config"]
        for key in ("cert_file", "key_file"):
            if not t.get(key):
                raise WebConfigError(f"{path}: tls_server_config.{key}: required when TLS is configured")
            if not (path.parent / t[key]).exists():
                raise WebConfigError(f"{path}: tls_server_config.{key}: no such file {t[key]!r}")
        auth = t.get("client_auth_type", "NoClientCert")
        if auth not in CLIENT_AUTH_TYPES:
            raise WebConfigError(f"{path}: tls_server_config.client_auth_type: expected one of "
                                 f"{sorted(CLIENT_AUTH_TYPES)}, got {auth!r}")
        if auth in ("RequireAndVerifyClientCert", "VerifyClientCertIfGiven") and not t.get("client_ca_file"):
            raise WebConfigError(f"{path}: tls_server_config.client_ca_file: required for {auth}")
        version = t.get("min_version", "TLS12")
        if version not in TLS_VERSIONS:
            raise WebConfigError(f"{path}: tls_server_config.min_version: expected one of {sorted(TLS_VERSIONS)}")
        tls = TLSConfig(cert_file=path.parent / t["cert_file"], key_file=path.parent / t["key_file"],
                        client_auth_type=auth,
                        client_ca_file=(path.parent / t["client_ca_file"]) if t.get("client_ca_file") else None,
                        min_version=version)
    users: dict[str, bytes] = {}
    for user, hashed in (raw.get("basic_auth_users") or {}).items():
        if not isinstance(hashed, str) or not hashed.startswith("$2"):
            raise WebConfigError(f"{path}: basic_auth_users.{user}: expected a bcrypt hash ($2y$...)")
        users[str(user)] = hashed.replace("$2y$", "$2b$", 1).encode()
    return WebConfig(tls=tls, basic_auth_users=users)


PROBE_PATHS = ("/-/healthy", "/-/ready")  # served without basic auth, for Kubernetes' probes


class GuardedHandler(http.server.BaseHTTPRequestHandler):
    """A request handler that enforces basic auth (but on PROBE_PATHS) and the concurrency bound before
    dispatching.

    Subclasses implement ``handle_get``/``handle_post`` instead of ``do_GET``/``do_POST``.
    """

    protocol_version = "HTTP/1.1"
    server: GuardedServer

    def _guard(self) -> bool:
        cfg = self.server.web_config
        if self.command in ("GET", "HEAD") and self.path in PROBE_PATHS:
            return True  # what a liveness or readiness probe asks says nothing a user may not know
        if cfg is not None and not cfg.check_basic_auth(self.headers.get("Authorization")):
            self.send_plain(401, b"Unauthorized\n", {"WWW-Authenticate": 'Basic realm="gpuhealth"'})
            return False
        return True

    def _dispatch(self, method) -> None:
        if not self.server.slots.acquire(blocking=False):
            self.send_plain(503, b"too many concurrent requests\n", {"Retry-After": "1"})
            return
        try:
            if self._guard():
                method()
        finally:
            self.server.slots.release()

    def do_GET(self) -> None:
        self._dispatch(self.handle_get)

    def do_POST(self) -> None:
        self._dispatch(self.handle_post)

    def handle_get(self) -> None:
        self.send_plain(404, b"not found\n")

    def handle_post(self) -> None:
        self.send_plain(405, b"method not allowed\n")

    def send_plain(self, status: int, body: bytes, headers: dict[str, str] | None = None,
                   content_type: str = "text/plain; charset=utf-8") -> None:
        """Send a complete response."""
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def log_message(self, format: str, *args) -> None:
        pass


class GuardedServer(http.server.ThreadingHTTPServer):
    """A threaded HTTP server with an optional web config and a concurrency bound."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], handler_cls: type[GuardedHandler], web_config: WebConfig | None,
                 max_requests: int) -> None:
        super().__init__(address, handler_cls)
        self.web_config = web_config
        self.slots = threading.BoundedSemaphore(max_requests)
        ctx = web_config.ssl_context() if web_config else None
        if ctx is not None:
            self.socket = ctx.wrap_socket(self.socket, server_side=True, do_handshake_on_connect=False)

    def get_request(self):
        sock, addr = super().get_request()
        if isinstance(sock, ssl.SSLSocket):
            sock.settimeout(10)
        return sock, addr

    def handle_error(self, request, client_address) -> None:
        pass  # a client that speaks plain HTTP to a TLS port, or hangs up, is not our error

    @property
    def url(self) -> str:
        """The base URL of this server."""
        scheme = "https" if self.web_config and self.web_config.tls else "http"
        host, port = self.server_address[:2]
        return f"{scheme}://{host}:{port}"


def parse_listen_address(text: str) -> tuple[str, int]:
    """(host, port) from ':9494', '0.0.0.0:9494' or '[::1]:9494'."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"--web.listen-address: expected HOST:PORT, got {text!r}")
    return host.strip("[]") or "0.0.0.0", int(port)


def make_server(handler_cls: type[GuardedHandler], listen_address: str, web_config: WebConfig | None = None,
                max_requests: int = 40) -> GuardedServer:
    """A server for handler_cls on listen_address with TLS/basic auth from web_config."""
    return GuardedServer(parse_listen_address(listen_address), handler_cls, web_config, max_requests)



def serve_until_stopped(server: GuardedServer, on_stop: Callable[[], None]) -> None:
    """Serve until SIGINT or SIGTERM, then close the socket and run on_stop (stop pollers, loops)."""

    def stop(*_: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        on_stop()
