"""Which checkpoints a run can resume from. Light: no torch or transformers here (the local provider asks).

The Hugging Face Trainer writes a checkpoint file by file; a process killed while saving leaves a
``checkpoint-N`` folder that looks whole and is not (and Trainer refuses it: "Can't find a valid
checkpoint"). anytune marks a checkpoint once every file of it is written (``MarkComplete``, on the
Trainer's ``on_save``); a resume takes the newest marked one.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

COMPLETE = "anytune-complete"
_NAME = re.compile(r"^checkpoint-(\d+)$")


def _steps(folder: Path) -> list[tuple[int, Path]]:
    if not folder.is_dir():
        return []
    found = [(int(m[1]), p) for p in folder.iterdir() if p.is_dir() and (m := _NAME.match(p.name))]
    return sorted(found)


def complete(folder: Path) -> list[Path]:
    """The complete checkpoints under ``folder``, oldest first."""
    return [p for _, p in _steps(folder) if (p / COMPLETE).exists()]


def latest_complete(folder: Path, *, remove_torn: bool = False) -> Path | None:
    """The newest complete checkpoint; with ``remove_torn`` the unfinished ones after it are deleted (the
    resumed run writes those steps again)."""
    done = complete(folder)
    last = done[-1] if done else None
    if remove_torn:
        for step, path in _steps(folder):
            if not (path / COMPLETE).exists() and (last is None or step > int(_NAME.match(last.name)[1])):
                shutil.rmtree(path, ignore_errors=True)
    return last
