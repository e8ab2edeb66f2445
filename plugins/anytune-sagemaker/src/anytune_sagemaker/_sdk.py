"""Lazy handles to boto3 and the SageMaker SDK. Importing this module imports neither: each is
imported the first time a verb needs it, with an install hint when it is missing."""

from __future__ import annotations

import threading
from functools import cached_property
from types import ModuleType
from typing import Any

from anytune.cloud.retry import DEFAULT, RetryPolicy
from anytune.cloud.sdk import require as _require
from anytune.errors import ConfigError

from ._errors import translate


def require(module: str) -> ModuleType:
    return _require(module, provider="sagemaker")


def botocore_config(policy: RetryPolicy) -> Any:
    """Retries belong to botocore: adaptive mode backs off on throttling and transient errors and
    rate-limits the client itself."""
    config = require("botocore.config")
    return config.Config(retries={"mode": "adaptive", "total_max_attempts": policy.attempts},
                         connect_timeout=policy.connect_timeout_s, read_timeout=policy.read_timeout_s,
                         user_agent_appid="anytune")


class AWS:
    """One boto3 session and its clients for one provider instance, all made on first use.
    ``endpoint_url`` sends every service to one endpoint (moto, LocalStack); else boto3's own
    resolution applies, including ``AWS_ENDPOINT_URL`` and per-service ``AWS_ENDPOINT_URL_<SERVICE>``."""

    def __init__(self, *, region: str | None, profile: str | None, endpoint_url: str | None,
                 policy: RetryPolicy = DEFAULT):
        self._region, self._profile, self._endpoint = region, profile, endpoint_url
        self._policy = policy
        self._clients: dict[tuple[str, RetryPolicy], Any] = {}
        self._lock = threading.Lock()

    @cached_property
    def session(self) -> Any:
        boto3 = require("boto3")
        with translate("session"):
            return boto3.Session(profile_name=self._profile, region_name=self._region)

    @property
    def region(self) -> str:
        region = self._region or self.session.region_name
        if not region:
            raise ConfigError("no AWS region is set", [
                "set provider_options.sagemaker.region, or AWS_REGION, or a region in your AWS profile"])
        return region

    def client(self, service: str, policy: RetryPolicy | None = None) -> Any:
        key = (service, policy or self._policy)
        with self._lock:  # boto3 sessions are not thread-safe; clients are
            if key not in self._clients:
                with translate("session"):
                    self._clients[key] = self.session.client(service, region_name=self.region,
                                                             endpoint_url=self._endpoint,
                                                             config=botocore_config(key[1]))
            return self._clients[key]


def huggingface_training_image(*, region: str, instance_type: str, transformers_version: str,
                               pytorch_version: str) -> str:
    """The Hugging Face PyTorch training image for ``region``, as the SageMaker SDK knows it."""
    image_uris = require("sagemaker.core.image_uris")
    try:
        return image_uris.retrieve(framework="huggingface", region=region, version=transformers_version,
                                   base_framework_version=f"pytorch{pytorch_version}", image_scope="training",
                                   instance_type=instance_type)
    except ValueError as exc:
        raise ConfigError(f"no Hugging Face training image for transformers {transformers_version} / "
                          f"PyTorch {pytorch_version} in {region}: {exc}",
                          ["set provider_options.sagemaker.image_uri, or other transformers_version/pytorch_version"]
                          ) from None
