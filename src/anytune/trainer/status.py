"""status.json: the trainer's progress, rewritten atomically so a provider can read it at any moment.

    {"state": "loading|evaluating|training|saving|succeeded|failed", "step": 12, "total_steps": 150,
     "epoch": 0.08, "loss": 2.31, "eval_loss": null, "message": "", "updated_at": 1732170000.0, "pid": 4242}
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any


class Terminated(BaseException):
    """SIGTERM arrived (cancel, spot interruption, platform stop). The message says what was saved."""


class StatusFile:
    def __init__(self, path: Path | None, *, min_interval: float = 1.0):
        self.path = path
        self.min_interval = min_interval
        self.data: dict[str, Any] = {"state": "loading", "step": 0, "total_steps": 0, "epoch": 0.0,
                                     "loss": None, "eval_loss": None, "eval_step": None, "message": "", "pid": os.getpid()}
        self._last = 0.0

    def update(self, *, force: bool = True, **fields: Any) -> None:
        self.data.update(fields)
        now = time.time()
        if self.path is None or (not force and now - self._last < self.min_interval):
            return
        self._last = now
        self.data["updated_at"] = now
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(json.dumps(self.data))
        os.replace(tmp, self.path)


def read_status(path: Path) -> dict[str, Any] | None:
    """The last status written, or None if there is none yet (or it is being replaced right now)."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
