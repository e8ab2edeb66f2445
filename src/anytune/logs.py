"""Where library chatter goes: vendor SDK log records and Python warnings are written to a log file, not to
the terminal, so a user sees one clean line per event (anytune's own messages) and can still read the rest.

``<ANYTUNE_HOME>/logs/anytune.log`` for the CLI; the trainer writes its own next to its TensorBoard logs. The
file is opened only when the first record arrives, so a quiet command writes nothing.
"""

from __future__ import annotations

import logging
from pathlib import Path

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def route_to_file(path: Path, level: int = logging.WARNING) -> None:
    """Send every log record at ``level`` or above, and every Python warning, to ``path`` instead of stderr."""
    root = logging.getLogger()
    if any(getattr(h, "_anytune", False) for h in root.handlers):
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler: logging.Handler = logging.FileHandler(path, delay=True, encoding="utf-8")
    except OSError:  # an unwritable home: drop the chatter rather than print it
        handler = logging.NullHandler()
    handler.setFormatter(logging.Formatter(FORMAT))
    handler._anytune = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(min(root.level or logging.WARNING, level))
    logging.captureWarnings(True)
    # Python warnings to this file alone: a host's own handlers on the root logger (a Ray worker's, to
    # stderr) would print every one again into the job's log
    warned = logging.getLogger("py.warnings")
    warned.addHandler(handler)
    warned.propagate = False


def cli_log() -> Path:
    from .paths import home

    return home() / "logs" / "anytune.log"
