"""The installed distributions' entry points for anytune's plugin group, cached between processes.

Finding entry points reads every installed distribution's ``entry_points.txt``: 15-30 ms in an
environment with the cloud SDKs installed, and a command paid it twice, once for anytune's providers
and once for pydantic's plugin group (read on the first model validation). One scan now answers
both and is kept in ``<ANYTUNE_HOME>/cache/entry_points.json``, keyed by the interpreter, ``sys.path``
and the modification time of every ``sys.path`` entry. Installing, upgrading or removing a
distribution adds or removes a ``*.dist-info`` folder, which changes its parent folder's mtime, so
the key changes and the next command scans again (the approach of stevedore's entry-point cache).
Editing an installed ``entry_points.txt`` in place is not seen; reinstall the package, or delete
the cache file.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from . import paths

GROUPS = ("anytune", "pydantic")
_VERSION = 1


@dataclass(frozen=True)
class Found:
    name: str
    value: str  # "module" or "module:attr"
    dist: str  # the distribution that declares it

    def load(self):
        from importlib.metadata import EntryPoint

        return EntryPoint(self.name, self.value, "").load()


def cache_file() -> Path:
    return paths.home() / "cache" / "entry_points.json"


def _key() -> str:
    entries = []
    for p in sys.path:
        try:
            mtime = os.stat(p or ".").st_mtime_ns
        except OSError:
            mtime = None
        entries.append((os.path.abspath(p or "."), mtime))
    raw = json.dumps([_VERSION, sys.executable, sys.version, entries])
    return hashlib.sha256(raw.encode()).hexdigest()


def _scan() -> dict[str, list[Found]]:
    import importlib.metadata as md

    everything = md.entry_points()
    found: dict[str, list[Found]] = {}
    for group in GROUPS:
        found[group] = []
        for ep in everything.select(group=group):
            dist = ep.dist.name if getattr(ep, "dist", None) is not None else ep.value.split(":")[0]
            found[group].append(Found(ep.name, ep.value, dist))
    return found


def _read(path: Path, key: str) -> dict[str, list[Found]] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("key") != key:
            return None
        return {g: [Found(*row) for row in data["groups"][g]] for g in GROUPS}
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _write(path: Path, key: str, found: dict[str, list[Found]]) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        rows = {g: [[f.name, f.value, f.dist] for f in found[g]] for g in GROUPS}
        tmp.write_text(json.dumps({"key": key, "groups": rows}), encoding="utf-8")
        tmp.replace(path)
    except OSError:  # a read-only home only costs the next command a scan
        pass


_memo: tuple[str, dict[str, list[Found]]] | None = None


def installed() -> dict[str, list[Found]]:
    """Entry points of every group in GROUPS, from the cache when the environment has not changed."""
    global _memo
    key = _key()
    if _memo is not None and _memo[0] == key:
        return _memo[1]
    path = cache_file()
    found = _read(path, key)
    if found is None:
        found = _scan()
        _write(path, key, found)
    _memo = (key, found)
    return found


def group(name: str) -> list[Found]:
    return installed()[name]


def skip_pydantic_plugin_scan() -> None:
    """When no pydantic plugin is installed, tell pydantic so, which saves its own scan of every
    distribution (the documented ``PYDANTIC_DISABLE_PLUGINS``). With one installed, nothing changes.
    For the command line only: it sets an environment variable of this process and its children."""
    if "PYDANTIC_DISABLE_PLUGINS" not in os.environ and not group("pydantic"):
        os.environ["PYDANTIC_DISABLE_PLUGINS"] = "__all__"
