"""The one place the ``openai`` SDK is imported: lazily, when a verb first needs a client."""

from __future__ import annotations

import importlib.util
import os
from typing import Any

from anytune.errors import AuthError, ProviderUnavailable

INSTALL_HINT = "install it with: pip install 'anytune[openai]'"


def available() -> bool:
    try:
        return importlib.util.find_spec("openai") is not None
    except ImportError:
        return False


def key_env(options: Any) -> str:
    """The name of the environment variable that holds the API key (never the key itself)."""
    if options.api_key_env:
        return options.api_key_env
    return "AZURE_OPENAI_API_KEY" if options.api == "azure" else "OPENAI_API_KEY"


def has_credentials(options: Any) -> bool:
    if os.environ.get(key_env(options)):
        return True
    return options.api == "azure" and bool(os.environ.get("AZURE_OPENAI_AD_TOKEN"))


def client(options: Any):
    """An ``openai.OpenAI`` (or ``openai.AzureOpenAI``) client for these options. The key is read from
    the environment here and handed to the SDK only; it is never stored on the provider or logged."""
    try:
        import openai
    except ImportError as exc:
        raise ProviderUnavailable(f"the openai package is not installed; {INSTALL_HINT}", provider="openai",
                                  operation="connect") from exc
    env = key_env(options)
    key = os.environ.get(env)
    common: dict[str, Any] = {"organization": options.organization, "project": options.project,
                              "timeout": options.timeout, "max_retries": options.max_retries}
    if options.api == "azure":
        endpoint = options.base_url or os.environ.get("AZURE_OPENAI_ENDPOINT")
        if not endpoint:
            raise AuthError("Azure OpenAI needs an endpoint: set provider_options.openai.base_url or "
                            "$AZURE_OPENAI_ENDPOINT", provider="openai", operation="connect")
        version = options.api_version or os.environ.get("OPENAI_API_VERSION")
        if not version:
            raise AuthError("Azure OpenAI needs an API version: set provider_options.openai.api_version or "
                            "$OPENAI_API_VERSION", provider="openai", operation="connect")
        ad_token = os.environ.get("AZURE_OPENAI_AD_TOKEN")
        if not key and not ad_token:
            raise AuthError(f"no Azure OpenAI credentials: set ${env} (or $AZURE_OPENAI_AD_TOKEN)",
                            provider="openai", operation="connect")
        return openai.AzureOpenAI(azure_endpoint=endpoint, api_version=version, api_key=key or None,
                                  azure_ad_token=None if key else ad_token, **common)
    if not key:
        raise AuthError(f"no OpenAI API key: set ${env}", provider="openai", operation="connect")
    return openai.OpenAI(api_key=key, base_url=options.base_url or None, **common)
