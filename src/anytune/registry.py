"""Lazy, fault-tolerant provider registry over pluggy and the ``anytune`` entry-point group.

Plugins are loaded once, on first use. A plugin that fails to import or register is recorded and
reported (``anytune providers``), never fatal to the others. Provider classes are imported only
when a provider is asked for by name.
"""

from __future__ import annotations

import importlib
import threading
from dataclasses import dataclass, field

import pluggy

from . import entry_points, hookspecs
from .errors import PluginError

ENTRY_POINT_GROUP = "anytune"

@dataclass
class Registration:
    name: str
    target: str  # "package.module:Class"
    plugin: str  # entry point / plugin name that registered it
    dist: str  # distribution (package) that ships the plugin


@dataclass
class Registry:
    providers: dict[str, Registration] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)  # broken plugins, duplicates
    failed: dict[str, str] = field(default_factory=dict)  # entry-point name -> why it did not load
    duplicates: dict[str, list[Registration]] = field(default_factory=dict)
    manager: pluggy.PluginManager | None = None

    def names(self) -> list[str]:
        return sorted(self.providers)

    def get_class(self, name: str):
        if name in self.duplicates:
            who = " and ".join(f"{r.dist} ({r.target})" for r in self.duplicates[name])
            raise PluginError(f"provider {name!r} is registered twice: by {who}; uninstall one of them")
        reg = self.providers.get(name)
        if reg is None:
            if name in self.failed:  # installed, and broken: say what broke, not "install it"
                raise PluginError(f"provider {name!r} is installed but its plugin failed to load: {self.failed[name]}")
            installed = ", ".join(self.names()) or "none"
            broken = f"; plugins that failed to load: {'; '.join(self.problems)}" if self.failed else ""
            raise PluginError(f"unknown provider {name!r} (installed: {installed}); anytune's own providers come "
                              f"with `pip install 'anytune[<name>]'`, others with their plugin's package{broken}")
        module_name, _, attr = reg.target.partition(":")
        try:
            module = importlib.import_module(module_name)
            cls = getattr(module, attr)
        except ImportError as exc:  # the plugin is there and broken (its SDK is imported lazily, not here)
            raise PluginError(f"provider {name!r} ({reg.dist}) cannot be imported from {reg.target}: "
                              f"{type(exc).__name__}: {exc}") from exc
        except AttributeError as exc:
            raise PluginError(f"provider {name!r}: {reg.target} does not exist ({reg.dist})") from exc
        if not getattr(cls, "name", None):
            raise PluginError(f"provider {name!r}: {reg.target} is not a Provider subclass")
        return cls


_lock = threading.Lock()
_registry: Registry | None = None


def load(extra_plugins: tuple[object, ...] = ()) -> Registry:
    """Discover plugins and collect their registrations."""
    reg = Registry()
    pm = pluggy.PluginManager(ENTRY_POINT_GROUP)
    pm.add_hookspecs(hookspecs)
    reg.manager = pm
    sources: list[tuple[object, str, str]] = []
    for ep in entry_points.group(ENTRY_POINT_GROUP):
        dist = ep.dist
        try:
            plugin = ep.load()
        except Exception as exc:  # a broken plugin must not stop the others
            why = f"{type(exc).__name__}: {exc}"
            reg.failed[ep.name] = f"{ep.value} from {dist}: {why}"
            reg.problems.append(f"plugin {ep.name!r} from {dist} failed to load: {why}")
            continue
        sources.append((plugin, ep.name, dist))
    for plugin in extra_plugins:
        sources.append((plugin, getattr(plugin, "__name__", repr(plugin)), "(in-process)"))

    for plugin, plugin_name, dist in sources:
        found: list[tuple[str, str]] = []

        def register(name: str, target: str, _found=found) -> None:
            if not isinstance(name, str) or not isinstance(target, str) or ":" not in target:
                raise PluginError(f"register() takes a name and a 'module:Class' string, got {name!r}, {target!r}")
            _found.append((name, target))

        impl = getattr(plugin, "anytune_register_providers", None)
        if impl is None:
            reg.problems.append(f"plugin {plugin_name!r} from {dist} has no anytune_register_providers hook")
            continue
        try:
            # pluggy validates the hook's signature; call only this plugin's implementation so a
            # failure is attributed to it and the others still register.
            pm.register(plugin, name=f"{dist}:{plugin_name}")
            pm.subset_hook_caller("anytune_register_providers", remove_plugins=[
                p for p in pm.get_plugins() if p is not plugin
            ])(register=register)
        except Exception as exc:
            reg.problems.append(f"plugin {plugin_name!r} from {dist} failed to register: {type(exc).__name__}: {exc}")
            continue
        for name, target in found:
            new = Registration(name, target, plugin_name, dist)
            old = reg.providers.get(name) or (reg.duplicates.get(name) or [None])[0]
            if old is not None and old.target != target:
                reg.duplicates.setdefault(name, [old]).append(new)
                reg.providers.pop(name, None)
                reg.problems.append(f"provider {name!r} registered by both {old.dist} and {dist}")
            else:
                reg.providers[name] = new
    return reg


def get_registry() -> Registry:
    """The process-wide registry, loaded once."""
    global _registry
    with _lock:
        if _registry is None:
            _registry = load()
        return _registry


def reset(registry: Registry | None = None) -> None:
    """Replace (or drop) the cached registry; for tests and long-lived processes."""
    global _registry
    with _lock:
        _registry = registry


def create(name: str, options=None):
    """Instantiate a provider by name with its options (validated by the provider's own schema)."""
    return get_registry().get_class(name)(options)
