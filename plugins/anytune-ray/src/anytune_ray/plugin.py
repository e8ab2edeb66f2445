"""Registers the Ray provider. Imports nothing heavy: the provider class (and Ray) load only when used."""

from anytune.hookspecs import hookimpl


@hookimpl
def anytune_register_providers(register):
    register("ray", "anytune_ray.provider:RayProvider")
