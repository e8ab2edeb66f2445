"""Error translation: the real openai SDK talks over a socket to a stand-in server on 127.0.0.1 that
answers with OpenAI's error bodies; each becomes the right anytune error, in one place."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from anytune_openai.provider import OpenAIProvider

from anytune import dispatch
from anytune.errors import (
    AuthError,
    NotFound,
    PermissionDenied,
    ProviderError,
    ProviderUnavailable,
    QuotaExceeded,
    RateLimited,
)
from anytune.spec import DataSpec, JobSpec
from anytune.testing.fake import FakeProvider
from anytune.types import DataRef, JobHandle


def _err(message, code=None, param=None):
    return {"error": {"message": message, "type": "invalid_request_error", "param": param, "code": code}}


class StandIn(ThreadingHTTPServer):
    """Answers (method, path) from ``routes``; anything else is OpenAI's 404."""

    def __init__(self):
        super().__init__(("127.0.0.1", 0), Handler)
        self.routes: dict[tuple[str, str], tuple[int, dict]] = {}
        self.seen: list[tuple[str, str]] = []
        self.requests: list[dict] = []

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server_address[1]}/v1"


class Handler(BaseHTTPRequestHandler):
    def _answer(self):
        length = int(self.headers.get("content-length") or 0)
        self.rfile.read(length)
        path, _, query = self.path.partition("?")
        self.server.seen.append((self.command, path))
        self.server.requests.append({"path": path, "query": query, "headers": dict(self.headers)})
        status, body = self.server.routes.get((self.command, path), (404, _err("Invalid URL")))
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = _answer

    def log_message(self, *args):
        pass


@pytest.fixture
def standin():
    server = StandIn()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def provider(standin, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-proj-abcdefSECRETxyz")
    return OpenAIProvider({"base_url": standin.url, "max_retries": 0, "model": "gpt-4.1-mini"})


SPEC = JobSpec(name="errs", base_model="gpt-4.1-mini", provider=["openai", "fake"], data=DataSpec(train="x.jsonl"))
DATA = DataRef(provider="openai", content_hash="h", uris={"train": "file-abc"})

CASES = [
    (401, _err("Incorrect API key provided: sk-proj-***xyz", "invalid_api_key"), AuthError, "API key was rejected"),
    (403, _err("Your organization can no longer create fine-tuning jobs.", "training_not_available"),
     PermissionDenied, "OpenAI is retiring self-serve fine-tuning"),
    (403, _err("You are not allowed to fine-tune this model."), PermissionDenied, "not allowed to fine-tune"),
    (429, _err("You exceeded your current quota.", "insufficient_quota"), QuotaExceeded, "exceeded your current quota"),
    (429, _err("Rate limit reached for requests.", "rate_limit_exceeded"), RateLimited, "Rate limit reached"),
    (400, _err("Invalid file format: line 3", "invalid_file_format", "training_file"), ProviderError,
     "Invalid file format: line 3 (param training_file)"),
    (404, _err("No such fine-tuning job"), NotFound, "No such fine-tuning job"),
    (500, {"error": {"message": "The server had an error", "type": "server_error", "param": None, "code": None}},
     ProviderUnavailable, "The server had an error"),
]


@pytest.mark.parametrize("status, body, expected, says", CASES)
def test_sdk_errors_become_anytune_errors(standin, provider, status, body, expected, says):
    standin.routes[("GET", "/v1/fine_tuning/jobs/ftjob-1")] = (status, body)
    with pytest.raises(expected) as info:
        provider.status(JobHandle(provider="openai", job_id="j", remote_id="ftjob-1"))
    exc = info.value
    assert type(exc) is expected and says in str(exc) and exc.provider == "openai" and exc.operation == "status"
    assert "SECRET" not in str(exc) and "sk-proj" not in str(exc)  # nothing of the key, ever
    assert type(exc.__cause__).__module__.startswith("openai")  # the SDK's error is kept as the cause


def test_unreachable_endpoint_is_provider_unavailable(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    p = OpenAIProvider({"base_url": "http://127.0.0.1:9/v1", "max_retries": 0, "timeout": 5})
    with pytest.raises(ProviderUnavailable) as info:
        p.status(JobHandle(provider="openai", job_id="j", remote_id="ftjob-1"))
    assert info.value.retryable and info.value.fallback


def test_training_not_available_lets_the_dispatcher_fall_back(standin, provider):
    """An organisation OpenAI no longer lets fine-tune: launch fails with 403 training_not_available, and
    the dispatcher moves on to the next provider in the spec's list."""
    standin.routes[("GET", "/v1/fine_tuning/jobs")] = (200, {"object": "list", "data": [], "has_more": False})
    standin.routes[("POST", "/v1/fine_tuning/jobs")] = (403, _err("Fine-tuning is not available.", "training_not_available"))
    fake = FakeProvider()
    plan = dispatch.Plan(viable=[dispatch.Candidate("openai", provider=provider), dispatch.Candidate("fake", provider=fake)])
    chosen, handle = dispatch.run_with_fallback(plan, lambda c: c.provider.launch(SPEC, DATA, "job-1"))
    assert chosen.name == "fake" and handle.provider == "fake"
    assert "retiring self-serve fine-tuning" in plan.skipped[0].skipped
    assert standin.seen.count(("POST", "/v1/fine_tuning/jobs")) == 1  # a refusal is not retried


def test_missing_key_is_an_auth_error_naming_the_variable():
    p = OpenAIProvider({"api_key_env": "MY_OPENAI_KEY"})
    with pytest.raises(AuthError, match=r"\$MY_OPENAI_KEY"):
        p.status(JobHandle(provider="openai", job_id="j", remote_id="ftjob-1"))


def test_azure_openai_through_the_sdks_azure_client(standin, monkeypatch):
    job = {"id": "ftjob-1", "object": "fine_tuning.job", "created_at": 1, "error": None, "fine_tuned_model": None,
           "finished_at": None, "hyperparameters": {"n_epochs": "auto"}, "model": "gpt-4.1-mini-2025-04-14",
           "organization_id": "org", "result_files": [], "seed": 1, "status": "running", "trained_tokens": None,
           "training_file": "file-a", "validation_file": None}
    standin.routes[("GET", "/openai/fine_tuning/jobs/ftjob-1")] = (200, job)
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "azure-SECRET-key")
    p = OpenAIProvider({"api": "azure", "base_url": standin.url.removesuffix("/v1"), "api_version": "2025-04-01-preview",
                        "max_retries": 0})
    status = p.status(JobHandle(provider="openai", job_id="j", remote_id="ftjob-1"))
    assert status.state.value == "running"
    sent = standin.requests[-1]
    assert sent["query"] == "api-version=2025-04-01-preview" and sent["headers"]["api-key"] == "azure-SECRET-key"
    assert p.endpoint == standin.url.removesuffix("/v1") and "SECRET" not in repr(p.options)


def test_every_openai_exception_is_mapped():
    """Each exception class the openai package defines comes out as an anytune error (a new one in an SDK
    upgrade that nobody mapped fails here, instead of reaching a user as a traceback)."""
    from anytune.openai_errors import SDK_ERROR_MODULES, translate
    from anytune.testing.sdk_errors import exception_classes, unmapped

    assert len(exception_classes(SDK_ERROR_MODULES)) > 15
    assert unmapped(translate, SDK_ERROR_MODULES) == []
