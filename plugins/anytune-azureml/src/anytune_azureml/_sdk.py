"""Lazy handles to azure-ai-ml, azure-storage-blob and azure-identity. Importing this module imports none
of them: each is imported the first time a verb needs it, with an install hint when it is missing.

The ARM endpoint is azure-ai-ml's own: ``https://management.azure.com`` (or the sovereign cloud's), and
``AZUREML_DEV_URL_MFE`` when set, which points every operations client at one server (how the tests reach
their local control plane). Retries belong to azure-core's RetryPolicy, configured from
:class:`anytune.cloud.retry.RetryPolicy`.
"""

from __future__ import annotations

import logging
import time
from types import ModuleType
from typing import Any

from anytune.cloud.retry import RetryPolicy
from anytune.cloud.sdk import require as _require

from ._errors import PROVIDER, translate

MFE_OVERRIDE = "AZUREML_DEV_URL_MFE"


def require(module: str) -> ModuleType:
    return _require(module, provider=PROVIDER)


def retry_kwargs(policy: RetryPolicy) -> dict[str, Any]:
    """azure-core's RetryPolicy and transport settings (they retry 408, 429, 500, 502, 503, 504 and
    connection errors, honouring Retry-After)."""
    # retry_status too: azure-core's own default (3) would cap retries on a 5xx/429 below max_attempts.
    return {"retry_total": policy.attempts - 1, "retry_status": policy.attempts - 1,
            "retry_connect": policy.attempts - 1, "retry_read": policy.attempts - 1,
            "retry_backoff_factor": policy.initial_backoff_s,
            "retry_backoff_max": policy.max_backoff_s, "connection_timeout": policy.connect_timeout_s,
            "read_timeout": policy.read_timeout_s}


def azure_ml() -> ModuleType:
    """``azure.ai.ml``, without the warning it logs for every "experimental" class and field it touches
    (QueueSettings, queue_settings: job tiers are generally available; the SDK still labels them)."""
    for name in ("azure.ai.ml._utils._experimental", "azure.ai.ml._schema.core.fields"):
        logging.getLogger(name).setLevel(logging.ERROR)
    return require("azure.ai.ml")


def default_credential(*, managed_identity_client_id: str | None) -> Any:
    """DefaultAzureCredential: environment (AZURE_TENANT_ID, AZURE_CLIENT_ID, ...), workload identity, managed
    identity, Azure CLI, azd, PowerShell. The interactive browser login is left out: anytune runs unattended."""
    identity = require("azure.identity")
    with translate("credential"):
        return identity.DefaultAzureCredential(exclude_interactive_browser_credential=True,
                                               managed_identity_client_id=managed_identity_client_id)


def ml_client(credential: Any, *, subscription_id: str, resource_group: str, workspace: str,
              policy: RetryPolicy, transport: Any = None) -> Any:
    ml = azure_ml()
    extra = {"transport": transport} if transport is not None else {}
    with translate("session"):
        return ml.MLClient(credential, subscription_id=subscription_id, resource_group_name=resource_group,
                           workspace_name=workspace, enable_telemetry=False, show_progress=False,
                           **retry_kwargs(policy), **extra)


def blob_service(account_url: str, credential: Any, policy: RetryPolicy, *, block_size: int) -> Any:
    """Blob storage has its own retry policy: it retries 408, 5xx (ServerBusy, its throttling answer, is a
    503) and blocks whose MD5 did not match, backing off exponentially."""
    blob = require("azure.storage.blob")
    retry = blob.ExponentialRetry(initial_backoff=policy.initial_backoff_s, increment_base=2,
                                  retry_total=policy.attempts - 1, random_jitter_range=1)
    with translate("session"):
        return blob.BlobServiceClient(account_url, credential=credential, max_block_size=block_size,
                                      max_single_put_size=block_size, retry_policy=retry,
                                      connection_timeout=policy.connect_timeout_s, read_timeout=policy.read_timeout_s)


# --- dry run: the exact request, never sent -----------------------------------------------------


class _Captured(Exception):
    def __init__(self, request: Any):
        super().__init__("captured")
        self.request = request


def unsigned_jwt(claims: dict[str, Any]) -> str:
    """A JWT with no signature: the shape of an Azure AD token, for requests that are never sent."""
    import base64
    import json

    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


class _PlaceholderCredential:
    """Lets the SDK build a request for ``--dry-run`` (it reads the audience of the token it attaches for
    user-identity jobs); the request and the token never leave the process."""

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        from azure.core.credentials import AccessToken

        audience = scopes[0].removesuffix("/.default") if scopes else ""
        return AccessToken(unsigned_jwt({"aud": audience}), int(time.time()) + 3600)


def _capture_transport() -> Any:
    from azure.core.pipeline.transport import HttpTransport

    class CaptureTransport(HttpTransport):
        """An azure-core transport that stops at the first request instead of sending it."""

        def send(self, request: Any, **kwargs: Any) -> Any:
            raise _Captured(request)

        def open(self) -> None: ...

        def close(self) -> None: ...

        def __exit__(self, *args: Any) -> None: ...

    return CaptureTransport()


def rest_body(job: Any, *, subscription_id: str, resource_group: str, workspace: str) -> dict[str, Any]:
    """What ``ml_client.jobs.create_or_update(job)`` would PUT: the method, the ARM path and the JSON body,
    produced by the SDK itself (validation, id resolution, serialisation), stopped before sending."""
    import json
    from urllib.parse import urlsplit

    client = ml_client(_PlaceholderCredential(), subscription_id=subscription_id, resource_group=resource_group,
                       workspace=workspace, policy=RetryPolicy(attempts=1), transport=_capture_transport())
    try:
        with translate("dry_run"):
            client.jobs.create_or_update(job)
    except _Captured as captured:
        request = captured.request
        url = urlsplit(request.url)
        return {"method": request.method, "path": url.path, "query": url.query,
                "body": json.loads(request.body or b"{}")}
    raise AssertionError("the Azure ML SDK sent no request")  # pragma: no cover - the transport always raises
