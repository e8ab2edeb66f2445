"""A local Azure ML control plane for the tests: an HTTPS server on 127.0.0.1 (a certificate made for the
test run, trusted through ``REQUESTS_CA_BUNDLE``) that answers the ARM calls the real ``MLClient`` makes
(``AZUREML_DEV_URL_MFE`` points every operations client here; the bearer tokens are the tests' own):

    PUT  .../workspaces/{ws}/jobs/{name}          create; the body is checked against the SDK's REST models
    GET  .../workspaces/{ws}/jobs/{name}          NotStarted -> Queued -> Running, one step per GET; then the
                                                  state the test sets with complete() (or Canceled after cancel)
    GET  .../workspaces/{ws}/jobs                 list
    POST .../workspaces/{ws}/jobs/{name}/cancel   CancelRequested, then Canceled
    GET  .../workspaces/{ws}                      the workspace
    GET  .../workspaces/{ws}/datastores/{name}    the blob datastores (pointing at Azurite's account)
    GET  .../workspaces/{ws}/computes/{name}      clusters the test defines
    GET  /discovery                               the workspace's discovery document (its discoveryUrl)
    GET  /history/v1.0/.../runs/{name}/details    run history: a failed job's error (set with complete())

``fail(...)`` scripts error answers (status + ARM error body) for the error-translation tests.
"""

from __future__ import annotations

import datetime as dt
import enum
import http.server
import ipaddress
import json
import re
import ssl
import sys
import threading
import typing
from pathlib import Path
from typing import Any

JOBS = re.compile(r"^/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)/providers/"
                  r"Microsoft\.MachineLearningServices/workspaces/(?P<ws>[^/]+)(?P<rest>/.*)?$")
PROGRESSION = ("NotStarted", "Queued", "Running")
ISSUER = "anytune-tests"
IDENTITY_PATH, IDENTITY_SECRET = "/msi/token", "anytune-identity-header"


class FakeCredential:
    """An azure-core TokenCredential handing out unsigned tokens of the tests' issuer for the scope asked
    (the SDK reads the audience of the Azure ML token it attaches to user-identity jobs). The server
    accepts only these."""

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        import time

        from anytune_azureml._sdk import unsigned_jwt
        from azure.core.credentials import AccessToken

        audience = scopes[0].removesuffix("/.default") if scopes else ""
        return AccessToken(unsigned_jwt({"aud": audience, "iss": ISSUER}), int(time.time()) + 3600)


def token_issuer(authorization: str) -> str | None:
    """The ``iss`` claim of a ``Bearer <jwt>`` header, unverified (None when it is not one)."""
    import base64

    try:
        payload = authorization.removeprefix("Bearer ").split(".")[1]
        return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))).get("iss")
    except (IndexError, ValueError, AttributeError):
        return None


# --- checking bodies against the SDK's REST models ---------------------------------------------------


def _models():
    from azure.ai.ml._restclient.arm_ml_service import models

    return models


def _fields(cls) -> dict[str, tuple[str, Any]]:
    cls()  # the SDK computes a model's field table on first construction
    return {rf._rest_name: (attr, rf) for attr, rf in cls._attr_to_rest_field.items()}


def _hints(cls) -> dict[str, Any]:
    return typing.get_type_hints(cls, globalns={**vars(sys.modules[cls.__module__]), "_models": _models()})


def _unwrap(hint: Any) -> tuple[Any, bool]:
    """(the type inside Optional[...], whether None is allowed)."""
    args = typing.get_args(hint)
    if typing.get_origin(hint) is typing.Union and type(None) in args:
        rest = [a for a in args if a is not type(None)]
        return (rest[0] if len(rest) == 1 else typing.Union[tuple(rest)]), True  # noqa: UP007
    return hint, False


def validate(cls, data: Any, where: str = "body") -> list[str]:
    """Problems of ``data`` as a request body of REST model ``cls``: unknown or read-only fields, missing
    required fields, unknown discriminators and enum values, recursively."""
    from azure.ai.ml._restclient.arm_ml_service._utils.model_base import Model

    if not isinstance(data, dict):
        return [f"{where}: expected an object, got {type(data).__name__}"]
    fields = _fields(cls)
    discriminator = next((name for name, (_, rf) in fields.items() if rf._is_discriminator), None)
    mapping = getattr(cls, "__mapping__", None)
    if discriminator and mapping:
        sub = mapping.get(data.get(discriminator))
        if sub is None:
            return [f"{where}.{discriminator}: unknown kind {data.get(discriminator)!r} (known: {sorted(mapping)})"]
        if sub is not cls:
            return validate(sub, data, where)
    hints, problems = _hints(cls), []
    for key in data:
        if key not in fields:
            problems.append(f"{where}.{key}: not a field of {cls.__name__}")
        elif "create" not in (fields[key][1]._visibility or ["create"]):
            problems.append(f"{where}.{key}: read-only, must not be sent")
    for key, (attr, rf) in fields.items():
        inner, optional = _unwrap(hints[attr])
        creatable = "create" in (rf._visibility or ["create"])
        if key not in data:
            if creatable and not optional and not rf._is_discriminator:
                problems.append(f"{where}.{key}: required by {cls.__name__}")
            continue
        value = data[key]
        if value is None:
            continue
        origin, args = typing.get_origin(inner), typing.get_args(inner)
        if isinstance(inner, type) and issubclass(inner, Model):
            problems += validate(inner, value, f"{where}.{key}")
        elif origin is dict and args and isinstance(args[1], type) and issubclass(args[1], Model):
            problems += [p for k, v in (value or {}).items() for p in validate(args[1], v, f"{where}.{key}.{k}")]
        elif origin is list and args and isinstance(args[0], type) and issubclass(args[0], Model):
            problems += [p for i, v in enumerate(value or []) for p in validate(args[0], v, f"{where}.{key}[{i}]")]
        else:
            enums = [a for a in (args or (inner,)) if isinstance(a, type) and issubclass(a, enum.Enum)]
            if enums and origin is not typing.Literal and value not in {e.value for e in enums[0]}:
                problems.append(f"{where}.{key}: {value!r} is not one of {sorted(e.value for e in enums[0])}")
    return problems


# --- the server ------------------------------------------------------------------------------------


def self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1, valid for a day, and its key: (cert.pem, key.pem)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "anytune test control plane")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    folder.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def _error(status: int, code: str, message: str, inner: str | None = None) -> tuple[int, dict]:
    error: dict[str, Any] = {"code": code, "message": message}
    if inner:
        error["innerError"] = {"code": inner}
    return status, {"error": error}


class ArmServer:
    def __init__(self, *, workspace: str, account: str, containers: dict[str, str], certificate: tuple[Path, Path],
                 location: str = "eastus"):
        self.workspace, self.account, self.containers, self.location = workspace, account, containers, location
        self.jobs: dict[str, dict[str, Any]] = {}
        self.computes: dict[str, dict[str, Any]] = {}
        self.requests: list[tuple[str, str, Any]] = []
        self.failures: list[tuple[str, re.Pattern, int, dict, dict[str, str]]] = []
        self.lock = threading.Lock()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                body = json.loads(raw) if raw else None
                path = self.path.split("?", 1)[0]
                with outer.lock:
                    outer.requests.append((self.command, path, body))
                    if path == IDENTITY_PATH:
                        status, reply, headers = outer.identity_token(self.path, self.headers)
                    else:
                        status, reply, headers = outer.answer(self.command, path, body,
                                                              self.headers.get("Authorization", ""))
                data = json.dumps(reply).encode() if reply is not None else b""
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_PUT = do_POST = do_DELETE = do_PATCH = _serve

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(*certificate)
        self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        self.url = f"https://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # --- test controls ---

    def fail(self, method: str, path_regex: str, status: int, code: str, message: str = "scripted",
             inner: str | None = None, times: int = 1, headers: dict[str, str] | None = None) -> None:
        """The next ``times`` requests matching answer with this ARM error."""
        for _ in range(times):
            self.failures.append((method, re.compile(path_regex), *_error(status, code, message, inner),
                                  headers or {}))

    def complete(self, name: str, status: str = "Completed", error: tuple[str, str, str | None] | None = None) -> None:
        """The job ends in ``status`` after it ran; a failed one with ``error`` (code, message, inner code)
        in its run history, as Azure ML records why a job failed."""
        self.jobs[name]["final"] = status
        if error:
            self.jobs[name]["error"] = _error(400, *error[:2], inner=error[2])[1]

    def job_body(self, name: str) -> dict[str, Any]:
        return self.jobs[name]["body"]

    def puts(self) -> list[tuple[str, Any]]:
        return [(p, b) for m, p, b in self.requests if m == "PUT"]

    # --- answers ---

    def _resource(self, base: str, kind: str, name: str, properties: dict) -> dict[str, Any]:
        return {"id": f"{base}/{kind}/{name}", "name": name,
                "type": f"Microsoft.MachineLearningServices/workspaces/{kind}", "properties": properties}

    def _job_view(self, base: str, name: str) -> dict[str, Any]:
        job = self.jobs[name]
        view = self._resource(base, "jobs", name, {**job["body"]["properties"], "status": job["status"]})
        view["systemData"] = {"createdAt": job["created"], "createdBy": "tests", "createdByType": "User"}
        return view

    def _advance(self, name: str) -> None:
        job = self.jobs[name]
        if job["status"] == "CancelRequested":
            job["status"] = "Canceled"
        elif job["status"] in PROGRESSION[:-1]:
            job["status"] = PROGRESSION[PROGRESSION.index(job["status"]) + 1]
        elif job["status"] == "Running" and job.get("final"):
            job["status"] = job["final"]

    def identity_token(self, url: str, headers: Any) -> tuple[int, Any, dict[str, str]]:
        """A managed identity's token, as App Service's identity endpoint hands it out (azure-identity's
        ManagedIdentityCredential asks it when IDENTITY_ENDPOINT and IDENTITY_HEADER are set): what a
        process that gets no credential object (the CLI) authenticates with here."""
        import time
        from urllib.parse import parse_qs, urlsplit

        from anytune_azureml._sdk import unsigned_jwt

        if headers.get("X-IDENTITY-HEADER") != IDENTITY_SECRET:
            return 401, {"error": "invalid_request", "error_description": "bad X-IDENTITY-HEADER"}, {}
        resource = parse_qs(urlsplit(url).query).get("resource", [""])[0]
        return 200, {"access_token": unsigned_jwt({"aud": resource, "iss": ISSUER}), "resource": resource,
                     "expires_on": str(int(time.time()) + 3600), "token_type": "Bearer"}, {}

    def answer(self, method: str, path: str, body: Any, auth: str) -> tuple[int, Any, dict[str, str]]:
        if method == "GET" and path == "/discovery":  # read without a token, as the SDK does
            return 200, dict.fromkeys(("api", "catalog", "experimentation", "history", "modelmanagement",
                                       "pipelines"), self.url), {}
        if not auth.startswith("Bearer ") or token_issuer(auth) != ISSUER:
            return (*_error(401, "InvalidAuthenticationToken", "The access token is invalid."), {})
        for i, (m, pattern, status, reply, headers) in enumerate(self.failures):
            if m == method and pattern.search(path):
                del self.failures[i]
                return status, reply, headers
        history = path.startswith("/history/v1.0/")
        m = JOBS.match(path.removeprefix("/history/v1.0") if history else path)
        if history and m:
            return self._run_details(method, m["rest"] or "")
        if not m:
            return (*_error(404, "NotFound", f"no route {method} {path}"), {})
        if m["ws"] != self.workspace:
            return (*_error(404, "ResourceNotFound", f"workspace {m['ws']} not found"), {})
        base = path[: len(path) - len(m["rest"] or "")]
        parts = [p for p in (m["rest"] or "").split("/") if p]
        if not parts and method == "GET":
            return 200, {**self._resource(base.rsplit("/workspaces/", 1)[0], "workspaces", m["ws"], {
                "friendlyName": m["ws"], "storageAccount": f"{base}/storage/{self.account}",
                "discoveryUrl": f"{self.url}/discovery"}),
                "location": self.location, "type": "Microsoft.MachineLearningServices/workspaces"}, {}
        kind, name, action = (parts + [None, None, None])[:3]
        if kind == "jobs":
            return self._jobs(method, base, name, action, body)
        if kind == "datastores" and method == "GET" and name in self.containers:
            return 200, self._resource(base, "datastores", name, {
                "datastoreType": "AzureBlob", "accountName": self.account, "containerName": self.containers[name],
                "endpoint": "core.windows.net", "protocol": "https", "isDefault": name == "workspaceblobstore",
                "credentials": {"credentialsType": "AccountKey"}}), {}
        if kind == "computes" and method == "GET" and name in self.computes:
            return 200, {**self._resource(base, "computes", name, self.computes[name]), "location": self.location}, {}
        return (*_error(404, "UserError", f"{kind}/{name} not found", inner="NotFound"), {})

    def _run_details(self, method: str, rest: str):
        parts = [p for p in rest.split("/") if p]
        if method != "GET" or len(parts) != 3 or parts[0] != "runs" or parts[2] != "details":
            return (*_error(404, "NotFound", f"no run-history route {method} {rest}"), {})
        job = self.jobs.get(parts[1])
        if job is None:
            return (*_error(404, "UserError", f"Run {parts[1]} not found", inner="NotFound"), {})
        return 200, {"runId": parts[1], "status": job["status"], **({"error": job["error"]} if "error" in job else {})}, {}

    def _jobs(self, method: str, base: str, name: str | None, action: str | None, body: Any):
        if name is None and method == "GET":
            return 200, {"value": [self._job_view(base, n) for n in self.jobs]}, {}
        if method == "PUT" and action is None:
            if name in self.jobs:
                return (*_error(409, "UserError", f"a job named {name} exists", inner="Conflict"), {})
            problems = validate(_models().JobBase, body)
            if problems:
                return (*_error(400, "UserError", "; ".join(problems), inner="BadArgument"), {})
            created = dt.datetime.now(dt.UTC).isoformat()
            self.jobs[name] = {"body": body, "status": "NotStarted", "created": created}
            return 201, self._job_view(base, name), {}
        if name not in self.jobs:
            return (*_error(404, "UserError", f"Job {name} not found", inner="NotFound"), {})
        if method == "GET" and action is None:
            self._advance(name)
            return 200, self._job_view(base, name), {}
        if method == "POST" and action == "cancel":
            job = self.jobs[name]
            if job["status"] in ("Completed", "Failed", "Canceled"):
                return (*_error(400, "UserError", f"job {name} has ended", inner="JobInTerminalState"), {})
            job["status"] = "CancelRequested"
            return 202, None, {"Location": f"{self.url}{base}/jobs/{name}/operationResults/cancel"}
        return (*_error(405, "UserError", f"{method} not supported here"), {})
