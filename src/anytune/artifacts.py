"""Checksummed artifact manifests: written next to a trained model, verified after every transfer.

``anytune-manifest.json`` = {"files": [{"path": "relative/path", "sha256": "...", "size": N}, ...]}.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

from .errors import ChecksumMismatch
from .types import ArtifactFile, ModelArtifact

MANIFEST = "anytune-manifest.json"


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def describe_files(root: Path, exclude: tuple[str, ...] = (MANIFEST,)) -> tuple[ArtifactFile, ...]:
    root = Path(root)
    return tuple(
        ArtifactFile(path=p.relative_to(root).as_posix(), sha256=sha256_file(p), size=p.stat().st_size)
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name not in exclude
    )


def write_manifest(root: Path) -> tuple[ArtifactFile, ...]:
    files = describe_files(root)
    (Path(root) / MANIFEST).write_text(json.dumps({"files": [f.model_dump() for f in files]}, indent=1))
    return files


def verify_manifest(root: Path) -> tuple[ArtifactFile, ...]:
    """Check every file listed in ``root``'s manifest; raise ChecksumMismatch naming the first bad one."""
    root = Path(root)
    mpath = root / MANIFEST
    if not mpath.exists():
        raise ChecksumMismatch(f"{mpath} is missing: cannot verify the model files")
    listed = tuple(ArtifactFile(**f) for f in json.loads(mpath.read_text())["files"])
    for f in listed:
        p = root / f.path
        if not p.is_file():
            raise ChecksumMismatch(f"{p} is listed in the manifest but missing")
        if p.stat().st_size != f.size or sha256_file(p) != f.sha256:
            raise ChecksumMismatch(f"{p} does not match its manifest checksum (corrupt or partial transfer)")
    return listed


def copy_verified(src: Path, dest: Path) -> ModelArtifact:
    """Copy a trained model folder that has a manifest (the trainer's output, on this machine or a shared
    filesystem) to ``dest``, verified before and after: the manifest is copied last, so a copy cut short is
    never taken for a model (the caller's retrieve writes ``dest`` under a temporary name)."""
    from .crashpoints import crashpoint

    src, dest = Path(src), Path(dest)
    listed = verify_manifest(src)
    for i, f in enumerate(listed):
        if i == len(listed) // 2:
            crashpoint("retrieve:copying")
        (dest / f.path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src / f.path, dest / f.path)
    shutil.copy2(src / MANIFEST, dest / MANIFEST)
    files = verify_manifest(dest)
    kind = "adapter" if (dest / "adapter_config.json").exists() else "full"
    return ModelArtifact(kind=kind, path=str(dest), files=files)
