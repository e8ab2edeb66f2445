"""Registers the local provider. Imports nothing heavy: the provider class loads only when used."""

from anytune.hookspecs import hookimpl


@hookimpl
def anytune_register_providers(register):
    register("local", "anytune_local.provider:LocalProvider")
