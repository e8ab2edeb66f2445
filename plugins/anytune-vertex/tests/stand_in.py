"""A local stand-in for the Google endpoints the Vertex provider calls, on 127.0.0.1 (Vertex AI has no
emulator). The real SDKs talk to it over HTTP:

- ``POST /token``: the OAuth token endpoint of the test's Application Default Credentials (a
  service-account key whose ``token_uri`` points here). Every other request must carry its access
  token, or a JWT the service account signed itself (as GAPIC clients send); signatures are verified.
- Vertex AI REST v1 (``aiplatform_v1`` with ``transport="rest"``): the location GET
  (``/ui/{name=projects/*/locations/*}``), and ``customJobs`` create / get / list (``labels.k="v"``
  filters) / ``:cancel``. Bodies are parsed with the API's own message types (``CustomJob.from_json``,
  enums arrive as integers), so a malformed request is answered 400 and fails the test; the API's
  required fields are checked too. Jobs move QUEUED -> RUNNING -> SUCCEEDED / FAILED, or
  CANCELLING -> CANCELLED, in a thread per job; while RUNNING the job's ``runner`` (the test playing the
  container) runs. With ``hold`` set, jobs stay QUEUED until ``release()``.
- Cloud Logging ``POST /v2/entries:list`` with the filter grammar the provider uses, paged.

``script(pattern, replies)`` answers the next requests whose "METHOD path" matches ``pattern`` with the
given (status, JSON) replies first, for errors (quota, stockout, throttling) a local server cannot cause.
"""

from __future__ import annotations

import datetime as dt
import http.server
import itertools
import json
import re
import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

TOKEN = "stand-in-access-token"
_LABEL = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
_LABEL_VALUE = re.compile(r"^[a-z0-9_-]{0,63}$")
_JOBS = re.compile(r"^/v1/(projects/[^/]+/locations/[^/]+)/customJobs$")
_JOB = re.compile(r"^/v1/(projects/[^/]+/locations/[^/]+/customJobs/[^/:]+)(:cancel)?$")
_LOCATION = re.compile(r"^/(?:ui|v1)/projects/([^/]+)/locations/([^/]+)$")
_TERM = re.compile(r'^\s*([a-z_.]+)\s*(=|>=|>)\s*"([^"]*)"\s*$')


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def google_error(status: int, code: str, message: str, reason: str | None = None) -> tuple[int, dict]:
    """A Google JSON error body, with an ErrorInfo detail when ``reason`` is given."""
    error: dict[str, Any] = {"code": status, "message": message, "status": code}
    if reason:
        error["details"] = [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": reason,
                             "domain": "googleapis.com", "metadata": {"service": "aiplatform.googleapis.com"}}]
    return status, {"error": error}


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class BadRequest(Exception):
    pass


class StandIn:
    def __init__(self, *, tick: float = 0.05):
        from google.cloud import aiplatform_v1

        self.v1 = aiplatform_v1
        self.tick = tick
        self.hold = False
        self.runner: Callable[[Any, threading.Event, Callable[[str], None]], int] | None = None
        self.fail_with: dict[str, Any] | None = None  # {"code": 8, "message": ...}: jobs fail at start
        self.log_page = 50
        self.jobs: dict[str, Any] = {}
        self.log_entries: dict[str, list[dict]] = {}
        self.requests: list[tuple[str, str, Any]] = []  # (method, path with query, parsed body)
        self.states: dict[str, list[str]] = {}  # job name -> every state it went through
        self.token_subjects: list[str] = []  # who asked the token endpoint for a token
        self.service_accounts: dict[str, Any] = {}  # email -> public key (the test's ADC key)
        self._scripts: list[tuple[re.Pattern, list[tuple[int, dict | None]]]] = []
        self._events: dict[str, tuple[threading.Event, threading.Event]] = {}  # name -> (release, cancel)
        self._threads: list[threading.Thread] = []
        self._ids = itertools.count(7_100_000_000_000_000_001)
        self._stamps = itertools.count(1)
        self._lock = threading.RLock()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status, body = outer.answer(self.command, self.path, raw, self.headers.get("Authorization"))
                data = json.dumps(body).encode() if body is not None else b""
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _handle

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    # --- test controls ---------------------------------------------------------------------------

    def script(self, pattern: str, replies: list[tuple[int, dict | None]]) -> None:
        self._scripts.append((re.compile(pattern), list(replies)))

    def release(self) -> None:
        self.hold = False
        for release, _ in list(self._events.values()):
            release.set()

    def calls(self, pattern: str) -> list[tuple[str, str, Any]]:
        """The requests whose "METHOD path" (no query) matches ``pattern``."""
        return [r for r in self.requests if re.search(pattern, f"{r[0]} {urlsplit(r[1]).path}")]

    def log(self, job_name: str, line: str) -> None:
        """Write one Cloud Logging entry for the job, as Vertex AI does for its container's output."""
        numeric = job_name.rsplit("/", 1)[-1]
        n = next(self._stamps)
        stamp = (dt.datetime(2026, 11, 21, tzinfo=dt.UTC) + dt.timedelta(microseconds=n)).strftime(
            "%Y-%m-%dT%H:%M:%S.%f000Z")
        entry = {"logName": f"projects/{job_name.split('/')[1]}/logs/workerpool0-0", "insertId": f"i{n:08d}",
                 "timestamp": stamp, "textPayload": line.rstrip("\n"), "severity": "INFO",
                 "resource": {"type": "ml_job", "labels": {"job_id": numeric, "task_name": "workerpool0-0"}}}
        with self._lock:
            self.log_entries.setdefault(numeric, []).append(entry)

    def close(self) -> None:
        for _, cancel in list(self._events.values()):
            cancel.set()
        for thread in self._threads:
            thread.join(timeout=60)
        self.server.shutdown()
        self.server.server_close()

    # --- dispatch --------------------------------------------------------------------------------

    def answer(self, method: str, target: str, raw: bytes, auth: str | None) -> tuple[int, dict | None]:
        url = urlsplit(target)
        body = json.loads(raw) if raw.strip() and url.path != "/token" else raw.decode()
        with self._lock:
            self.requests.append((method, target, body))
            for pattern, replies in self._scripts:
                if replies and pattern.search(f"{method} {url.path}"):
                    return replies.pop(0)
        if url.path == "/token":
            return self._token(body)
        if not self._authorized(auth):
            return google_error(401, "UNAUTHENTICATED", "Request had invalid authentication credentials.",
                                "ACCESS_TOKEN_TYPE_UNSUPPORTED")
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        try:
            if method == "GET" and (m := _LOCATION.match(url.path)):
                return 200, {"name": f"projects/{m[1]}/locations/{m[2]}", "locationId": m[2]}
            if method == "POST" and (m := _JOBS.match(url.path)):
                return self._create(m[1], raw)
            if method == "GET" and (m := _JOBS.match(url.path)):
                return self._list(m[1], query)
            if (m := _JOB.match(url.path)) and (method, bool(m[2])) in (("GET", False), ("POST", True)):
                return self._cancel(m[1]) if m[2] else self._get(m[1])
            if method == "POST" and url.path == "/v2/entries:list":
                return self._entries(body)
        except BadRequest as exc:
            return google_error(400, "INVALID_ARGUMENT", str(exc))
        return google_error(404, "NOT_FOUND", f"no route {method} {url.path}")

    def _claims(self, jwt: str) -> dict | None:
        """The claims of a JWT signed (RS256) by a known service account's key, else None."""
        import base64

        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        def b64(part: str) -> bytes:
            return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))

        try:
            head, body, signature = jwt.split(".")
            claims = json.loads(b64(body))
            key = self.service_accounts[claims["iss"]]
            key.verify(b64(signature), f"{head}.{body}".encode(), padding.PKCS1v15(), hashes.SHA256())
        except (ValueError, KeyError, TypeError, InvalidSignature):
            return None
        return claims

    def _authorized(self, header: str | None) -> bool:
        """Google accepts its OAuth access tokens and, from service accounts, self-signed JWTs (which the
        GAPIC clients send)."""
        token = (header or "").removeprefix("Bearer ")
        if token == TOKEN:
            return True
        claims = self._claims(token)
        return bool(claims and claims.get("sub") == claims.get("iss"))

    def _token(self, form: str) -> tuple[int, dict]:
        """Google's OAuth token endpoint for a service-account key: a signed JWT for an access token."""
        fields = {k: v[0] for k, v in parse_qs(form).items()}
        claims = self._claims(fields.get("assertion", ""))
        if fields.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer" or claims is None \
                or claims.get("aud") != "https://oauth2.googleapis.com/token":
            return 400, {"error": "invalid_grant", "error_description": "Invalid grant: bad assertion."}
        self.token_subjects.append(claims["iss"])
        return 200, {"access_token": TOKEN, "expires_in": 3600, "token_type": "Bearer"}

    # --- Vertex AI customJobs --------------------------------------------------------------------

    def _json(self, job: Any) -> dict:
        return json.loads(self.v1.CustomJob.to_json(job, use_integers_for_enums=True))

    def _validate(self, job: Any) -> None:
        """The API's own checks on a CustomJob (the ones anytune's requests could get wrong)."""
        if not job.display_name:
            raise BadRequest("display_name is required")
        pools = job.job_spec.worker_pool_specs
        if not pools or any(not p.machine_spec.machine_type or p.replica_count < 1 for p in pools):
            raise BadRequest("each worker pool needs a machine type and replica_count >= 1")
        for pool in pools:
            if not (pool.container_spec.image_uri or pool.python_package_spec.executor_image_uri):
                raise BadRequest("a worker pool needs a container_spec or a python_package_spec")
            accel = pool.machine_spec
            if bool(accel.accelerator_type) != bool(accel.accelerator_count):
                raise BadRequest("accelerator_type and accelerator_count go together")
        for key, value in job.labels.items():
            if not _LABEL.match(key) or not _LABEL_VALUE.match(value):
                raise BadRequest(f"invalid label {key}={value}")
        base = job.job_spec.base_output_directory.output_uri_prefix
        if base and not base.startswith("gs://"):
            raise BadRequest("base_output_directory must be a gs:// URI")

    def _create(self, parent: str, raw: bytes) -> tuple[int, dict]:
        try:
            job = self.v1.CustomJob.from_json(raw.decode())
        except Exception as exc:  # json_format.ParseError
            raise BadRequest(f"invalid CustomJob: {exc}") from None
        self._validate(job)
        name = f"{parent}/customJobs/{next(self._ids)}"
        with self._lock:
            job.name, job.state = name, self.v1.JobState.JOB_STATE_QUEUED
            job.create_time = job.update_time = _now()
            self.jobs[name] = job
            self.states[name] = ["JOB_STATE_QUEUED"]
            self._events[name] = (threading.Event(), threading.Event())
            thread = threading.Thread(target=self._run, args=(name,), daemon=True)
            self._threads.append(thread)
        thread.start()
        return 200, self._json(job)

    def _set(self, name: str, state: str, **fields: Any) -> None:
        with self._lock:
            job = self.jobs[name]
            job.state = self.v1.JobState[state]
            job.update_time = _now()
            for key, value in fields.items():
                setattr(job, key, value)
            self.states[name].append(state)

    def _run(self, name: str) -> None:
        release, cancel = self._events[name]
        while self.hold and not release.is_set() and not cancel.is_set():
            release.wait(self.tick)
        cancel.wait(self.tick)
        if cancel.is_set():
            return self._set(name, "JOB_STATE_CANCELLED", end_time=_now())
        if self.fail_with:
            self.log(name, f"Job failed: {self.fail_with['message']}")
            return self._set(name, "JOB_STATE_FAILED", end_time=_now(), error=self.fail_with)
        self._set(name, "JOB_STATE_RUNNING", start_time=_now())
        rc = self.runner(self.jobs[name], cancel, lambda line: self.log(name, line)) if self.runner else 0
        if cancel.is_set():
            self._set(name, "JOB_STATE_CANCELLED", end_time=_now())
        elif rc == 0:
            self.log(name, "Job completed successfully.")
            self._set(name, "JOB_STATE_SUCCEEDED", end_time=_now())
        else:
            self._set(name, "JOB_STATE_FAILED", end_time=_now(),
                      error={"code": 13, "message": f"The replica workerpool0-0 exited with a non-zero status of {rc}."})

    def _get(self, name: str) -> tuple[int, dict]:
        with self._lock:
            job = self.jobs.get(name)
            if job is None:
                return google_error(404, "NOT_FOUND", f'The CustomJob "{name}" does not exist.')
            return 200, self._json(job)

    def _list(self, parent: str, query: dict[str, str]) -> tuple[int, dict]:
        unknown = set(query) - {"filter", "pageSize", "pageToken", "readMask", "$alt"}
        if unknown:
            raise BadRequest(f"unknown list parameters {sorted(unknown)}")
        wanted = {}
        for term in filter(None, query.get("filter", "").split(" AND ")):
            m = _TERM.match(term)
            if not m or m[2] != "=" or not m[1].startswith("labels."):
                raise BadRequest(f"unsupported filter term {term!r}")
            wanted[m[1][len("labels."):]] = m[3]
        with self._lock:
            jobs = [j for n, j in self.jobs.items() if n.startswith(parent + "/")
                    and all(j.labels.get(k) == v for k, v in wanted.items())]
            return 200, {"customJobs": [self._json(j) for j in jobs]}

    def _cancel(self, name: str) -> tuple[int, dict | None]:
        with self._lock:
            job = self.jobs.get(name)
            if job is None:
                return google_error(404, "NOT_FOUND", f'The CustomJob "{name}" does not exist.')
            state = self.v1.JobState(job.state).name
            if state in ("JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED", "JOB_STATE_CANCELLED"):
                return google_error(400, "FAILED_PRECONDITION", f"Cannot cancel {name} in state {state}.")
            self._set(name, "JOB_STATE_CANCELLING")
            self._events[name][1].set()
        return 200, {}

    # --- Cloud Logging ---------------------------------------------------------------------------

    def _entries(self, body: dict) -> tuple[int, dict]:
        unknown = set(body) - {"resourceNames", "filter", "orderBy", "pageSize", "pageToken"}
        if unknown or not body.get("resourceNames") or body.get("orderBy", "timestamp asc") != "timestamp asc":
            raise BadRequest(f"unsupported entries:list request {sorted(body)}")
        job_id, after, kind = None, "", None
        for term in body.get("filter", "").split(" AND "):
            m = _TERM.match(term)
            if not m:
                raise BadRequest(f"unsupported filter term {term!r}")
            key, op, value = m.groups()
            if key == "resource.type" and op == "=":
                kind = value
            elif key == "resource.labels.job_id" and op == "=":
                job_id = value
            elif key == "timestamp" and op == ">=":
                after = value
            else:
                raise BadRequest(f"unsupported filter term {term!r}")
        if kind != "ml_job" or job_id is None:
            raise BadRequest("filter on resource.type=ml_job and resource.labels.job_id")
        with self._lock:
            entries = [e for e in self.log_entries.get(job_id, []) if e["timestamp"] >= after]
        start = int(body.get("pageToken") or 0)
        size = min(int(body.get("pageSize", 50)), self.log_page)
        page: dict[str, Any] = {"entries": entries[start:start + size]}
        if start + size < len(entries):
            page["nextPageToken"] = str(start + size)
        return 200, page
