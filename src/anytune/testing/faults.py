"""A fault-injecting HTTP proxy for the cloud stand-ins: point a provider's endpoint at it, and a share of
its requests fail the ways real clouds fail. The SDK's own retry mode must carry the verbs through.

    with FaultProxy("http://127.0.0.1:5000", rate=0.2, seed=1) as proxy:
        provider = SageMakerProvider({"endpoint_url": proxy.url, ...})
        ...
        proxy.faults  # Counter: kind -> how many requests got it

Kinds (each faulted request gets one, chosen at random):

    500       answered 500 Internal Server Error; nothing forwarded
    503       answered 503 Service Unavailable; nothing forwarded
    throttle  answered 429 Too Many Requests (Retry-After: 0); nothing forwarded
    reset     the connection is reset (TCP RST) before any answer; nothing forwarded
    applied   forwarded, the stand-in did it, then answered 500: a retry must not do it twice

and one permanent kind, never chosen unless named in ``kinds``:

    denied    answered 403 Forbidden (AccessDenied / PERMISSION_DENIED): retrying cannot help; the
              dispatcher must move to the next candidate at once

Plain HTTP only (the stand-ins that speak TLS get a proxy of their own with ``certificate``).
"""

from __future__ import annotations

import http.client
import http.server
import json
import random
import re
import socket
import ssl
import struct
import threading
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

KINDS = ("500", "503", "throttle", "reset", "applied")  # transient
HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade",
       "content-length"}
DENIED = "injected 403: access denied"


def denied(headers) -> tuple[str, bytes]:
    """A 403 as the API asked words it: AWS's XML APIs (S3; STS and IAM, wrapped in ErrorResponse) in XML,
    the JSON APIs (SageMaker's, Google's, Azure's) in JSON. Content type and body."""
    auth = headers.get("Authorization", "")
    if "aws4_request" in auth and not headers.get("X-Amz-Target"):
        error = f"<Error><Type>Sender</Type><Code>AccessDenied</Code><Message>{DENIED}</Message></Error>"
        body = error if "/s3/aws4_request" in auth else f"<ErrorResponse>{error}</ErrorResponse>"
        return "text/xml", b'<?xml version="1.0" encoding="UTF-8"?>' + body.encode()
    return "application/json", json.dumps({"__type": "AccessDeniedException", "message": DENIED,
                                           "error": {"code": 403, "message": DENIED,
                                                     "status": "PERMISSION_DENIED"}}).encode()


class FaultProxy:
    def __init__(self, upstream: str, *, rate: float = 0.2, seed: int = 0, kinds: tuple[str, ...] = KINDS,
                 spare: tuple[str, ...] = (), only: str | None = None, certificate: tuple[Path, Path] | None = None):
        """``spare``: path prefixes never faulted (e.g. a stand-in's own token route); ``only``: fault just
        the requests whose "METHOD path" matches this regex."""
        up = urlsplit(upstream)
        self.upstream_host, self.upstream_port = up.hostname, up.port or (443 if up.scheme == "https" else 80)
        self.upstream_tls = up.scheme == "https"
        self.rate, self.kinds, self.spare = rate, kinds, spare
        self.only = re.compile(only) if only else None
        self.random = random.Random(seed)
        self.faults: Counter[str] = Counter()
        self.requests = 0
        self.log: list[tuple[str, str, str | None]] = []  # (method, path, fault) of every request
        self.lock = threading.Lock()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self):
                body = self._body()
                fault = outer._choose(self.command, self.path)
                if fault in ("500", "503", "throttle"):
                    status = {"500": 500, "503": 503, "throttle": 429}[fault]
                    return self._answer(status, {"Retry-After": "0", "Content-Type": "text/plain"},
                                        f"injected {fault}".encode())
                if fault == "denied":
                    kind, data = denied(self.headers)
                    return self._answer(403, {"Content-Type": kind}, data)
                if fault == "reset":
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    self.close_connection = True
                    self.connection.close()
                    return None
                status, headers, data = outer._forward(self.command, self.path, self.headers, body)
                if fault == "applied":
                    return self._answer(500, {"Content-Type": "text/plain"}, b"injected: applied, then 500")
                return self._answer(status, headers, data)

            def _body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    chunks = []
                    while True:
                        size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                        chunk = self.rfile.read(size)
                        self.rfile.readline()
                        if size == 0:
                            break
                        chunks.append(chunk)
                    return b"".join(chunks)
                length = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(length) if length else b""

            def _answer(self, status: int, headers: dict[str, str], data: bytes):
                self.send_response(status)
                for k, v in headers.items():
                    if k.lower() not in HOP:
                        self.send_header(k, v)
                length = {k.lower(): v for k, v in headers.items()}.get("content-length")
                self.send_header("Content-Length", length if self.command == "HEAD" and length else str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_PUT = do_POST = do_DELETE = do_PATCH = do_HEAD = _serve

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        scheme = "http"
        if certificate is not None:
            tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            tls.load_cert_chain(*certificate)
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
            scheme = "https"
        self.url = f"{scheme}://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def _choose(self, method: str, path: str) -> str | None:
        with self.lock:
            kind = self._pick(method, path)
            self.log.append((method, path, kind))
            return kind

    def _pick(self, method: str, path: str) -> str | None:
        self.requests += 1
        if any(path.startswith(p) for p in self.spare) or (self.only and not self.only.search(f"{method} {path}")):
            return None
        if self.random.random() >= self.rate:
            return None
        kind = self.random.choice(self.kinds)
        self.faults[kind] += 1
        return kind

    def _forward(self, method: str, path: str, headers, body: bytes) -> tuple[int, dict[str, str], bytes]:
        if self.upstream_tls:
            conn = http.client.HTTPSConnection(self.upstream_host, self.upstream_port, timeout=60,
                                               context=ssl._create_unverified_context())  # noqa: S323 - local
        else:
            conn = http.client.HTTPConnection(self.upstream_host, self.upstream_port, timeout=60)
        try:
            sent = {k: v for k, v in headers.items() if k.lower() not in HOP}
            conn.request(method, path, body=body or None, headers=sent)
            resp = conn.getresponse()
            data = resp.read()
            return resp.status, dict(resp.getheaders()), data
        finally:
            conn.close()

    @property
    def faulted(self) -> int:
        return sum(self.faults.values())

    def __enter__(self) -> FaultProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


def wait_until_ended(provider, handle, timeout: float = 60.0, interval: float = 0.2):
    """Poll ``provider.status`` until the job ends or ``timeout`` passes; the last status."""
    import time

    deadline = time.monotonic() + timeout
    while not (status := provider.status(handle)).state.terminal and time.monotonic() < deadline:
        time.sleep(interval)
    return status
