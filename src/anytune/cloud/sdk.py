"""Importing a vendor SDK lazily, with one clear error when it is missing (the extra to install)."""

from __future__ import annotations

import importlib
from types import ModuleType

from ..errors import ProviderUnavailable


def require(module: str, *, provider: str) -> ModuleType:
    """Import ``module`` now; if it is not installed, raise ProviderUnavailable naming ``anytune[provider]``
    (not retryable: the dispatcher falls back to the next provider)."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ProviderUnavailable(f"{module} cannot be imported ({exc}); install it with: "
                                  f"pip install 'anytune[{provider}]'", provider=provider, operation="import",
                                  retryable=False) from exc
