"""A base model given as a local folder travels with the job, content-addressed like the data: the
folder's hash covers every file's path, SHA-256 and size, so an unchanged model is uploaded once."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..spec import JobSpec


def local_model_dir(spec: JobSpec) -> Path | None:
    """The folder ``base_model`` names, or None when it is a hub id."""
    path = Path(spec.base_model).expanduser()
    return path.resolve() if path.is_dir() else None


def model_files(folder: Path) -> list[tuple[str, Path]]:
    """(relative posix path, file) for every file of the folder, sorted; hidden files and caches left out."""
    out = []
    for p in sorted(folder.rglob("*")):
        rel = p.relative_to(folder)
        if p.is_file() and not any(part.startswith(".") or part == "__pycache__" for part in rel.parts):
            out.append((rel.as_posix(), p))
    return out


def folder_hash(entries: Iterable[tuple[str, str, int]]) -> str:
    """Hash of a folder from its (relative path, sha256 hex, size) entries."""
    h = hashlib.sha256()
    for rel, sha, size in sorted(entries):
        h.update(f"{rel}\t{sha}\t{size}\n".encode())
    return h.hexdigest()
