"""Lazy handles to the Google Cloud SDKs. Importing this module imports none of them: credentials, the
Vertex AI job client, the Cloud Storage client and an authorized HTTP session are made the first time a
verb needs them, with an install hint when a package is missing.

Credentials are Application Default Credentials (``gcloud auth application-default login``, a
service-account key in GOOGLE_APPLICATION_CREDENTIALS, or the metadata server). The Vertex AI client
talks REST to the regional endpoint ``<location>-aiplatform.googleapis.com`` (``api_endpoint`` replaces
it, e.g. with a local stand-in); Cloud Storage honours ``STORAGE_EMULATOR_HOST``.
"""

from __future__ import annotations

import itertools
import threading
from functools import cached_property
from types import ModuleType
from typing import Any

from anytune.cloud.retry import DEFAULT, RetryPolicy
from anytune.cloud.sdk import require as _require
from anytune.errors import ConfigError

from ._errors import PROVIDER, is_rejected, is_transient, translate

SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)
LOGGING_ENDPOINT = "https://logging.googleapis.com"


def require(module: str) -> ModuleType:
    return _require(module, provider=PROVIDER)


def retry(policy: RetryPolicy, *, create: bool = False) -> Any:
    """google-api-core's ``Retry`` for one call: transient errors (503, throttling) are sent again with
    exponential backoff, at most ``policy.attempts`` tries in all. A create is repeated only when it was
    refused unprocessed (429), so a lost answer never makes a second job."""
    retry_mod = require("google.api_core.retry")
    tries = itertools.count(1)
    transient = is_rejected if create else is_transient

    def predicate(exc: BaseException) -> bool:
        return transient(exc) and next(tries) < policy.attempts

    return retry_mod.Retry(predicate=predicate, initial=policy.initial_backoff_s, maximum=policy.max_backoff_s,
                           multiplier=2.0, timeout=None)


class Google:
    """Credentials and clients for one provider instance, all made on first use."""

    def __init__(self, *, project: str | None, location: str, api_endpoint: str | None,
                 logging_endpoint: str | None, policy: RetryPolicy = DEFAULT):
        self._project, self.location = project, location
        self._api_endpoint, self._logging_endpoint = api_endpoint, logging_endpoint
        self.policy = policy
        self._lock = threading.Lock()

    @cached_property
    def _adc(self) -> tuple[Any, str | None]:
        auth = require("google.auth")
        with translate("credentials"):
            return auth.default(scopes=list(SCOPES))

    @property
    def credentials(self) -> Any:
        return self._adc[0]

    @property
    def project(self) -> str:
        project = self._project or self._adc[1]
        if not project:
            raise ConfigError("no Google Cloud project is set", [
                "set provider_options.vertex.project, or GOOGLE_CLOUD_PROJECT, or `gcloud config set project`"])
        return project

    @property
    def parent(self) -> str:
        return f"projects/{self.project}/locations/{self.location}"

    @property
    def api_endpoint(self) -> str:
        return self._api_endpoint or f"{self.location}-aiplatform.googleapis.com"

    @property
    def logging_endpoint(self) -> str:
        return (self._logging_endpoint or LOGGING_ENDPOINT).rstrip("/")

    def identity(self) -> str:
        """Who the credentials are, in words (no secret): the service account's or user's email where known."""
        creds = self.credentials
        who = getattr(creds, "service_account_email", None) or getattr(creds, "account", None)
        kind = type(creds).__module__.split(".")[-1] + "." + type(creds).__name__
        return f"{who} ({kind})" if who and who != "default" else kind

    @cached_property
    def jobs(self) -> Any:
        """The aiplatform_v1 JobServiceClient (REST transport)."""
        v1 = require("google.cloud.aiplatform_v1")
        with self._lock, translate("connect"):
            return v1.JobServiceClient(credentials=self.credentials, transport="rest",
                                       client_options={"api_endpoint": self.api_endpoint})

    @cached_property
    def storage(self) -> Any:
        storage = require("google.cloud.storage")
        with self._lock, translate("connect"):
            return storage.Client(project=self.project, credentials=self.credentials)

    @cached_property
    def session(self) -> Any:
        """An authorized ``requests`` session, for the one REST call without a client here (Cloud Logging)."""
        transport = require("google.auth.transport.requests")
        with self._lock:
            return transport.AuthorizedSession(self.credentials)

    def retry(self, policy: RetryPolicy | None = None, *, create: bool = False) -> Any:
        return retry(policy or self.policy, create=create)

    def timeout(self, policy: RetryPolicy | None = None) -> float:
        return (policy or self.policy).read_timeout_s

