"""Where anytune keeps its state: ``ANYTUNE_HOME`` (job store, prepared datasets) and the config dir (profiles)."""

from __future__ import annotations

import os
from pathlib import Path


def home() -> Path:
    """``$ANYTUNE_HOME``, else the XDG data dir (``~/.local/share/anytune``)."""
    env = os.environ.get("ANYTUNE_HOME")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(xdg) / "anytune"


def config_dir() -> Path:
    """``$ANYTUNE_CONFIG_DIR``, else the XDG config dir (``~/.config/anytune``)."""
    env = os.environ.get("ANYTUNE_CONFIG_DIR")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(xdg) / "anytune"


def datasets_dir() -> Path:
    return home() / "datasets"


def jobs_dir() -> Path:
    return home() / "jobs"
