"""The hooks plugins implement. One registration hook: dispatch to a backend is a registry lookup."""

from __future__ import annotations

from collections.abc import Callable

import pluggy

hookspec = pluggy.HookspecMarker("anytune")
hookimpl = pluggy.HookimplMarker("anytune")


@hookspec
def anytune_register_providers(register: Callable[[str, str], None]) -> None:
    """Register providers by name: ``register("name", "package.module:ProviderClass")``.

    The class is a string so nothing heavy is imported until the provider is used.
    Built-in and third-party providers register through this same hook.
    """
