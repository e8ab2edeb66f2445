"""The trainer bundle: what a cloud training container needs to run ``python -m anytune.trainer``.

One deterministic ``.tar.gz`` (sorted entries, zero timestamps and owners), so the same code and spec
always give the same bytes and the same sha256, and an unchanged bundle is never uploaded twice:

    anytune/           anytune's own source and package data, copied from the installed package (``testing/``,
                       caches and stray files left out)
    requirements.txt   anytune's runtime and ``[train]`` dependencies, without torch: the container has its own
    spec.json          the job spec the trainer runs (provider options removed: the container does not need them)
    <extra files>      what a platform needs besides, e.g. SageMaker's entry script

It is a source tree, not a wheel: an installed anytune (from a wheel or editable) has no build backend
at hand, and a source tree runs the same way everywhere: from the bundle's root, ``pip install -r
requirements.txt`` then ``python -m anytune.trainer --spec spec.json``.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import io
import tarfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ConfigError

if TYPE_CHECKING:
    from ..spec import JobSpec

BUNDLE_NAME = "sourcedir.tar.gz"
_LEAVE_OUT_DIRS = {"__pycache__", "testing"}
# Source and package data; editor backups, temporary files and caches in a working tree stay out, so the
# bundle (and its hash) depends only on the code.
_SOURCE_SUFFIXES = {".py", ".json", ".yaml", ".yml", ".toml", ".txt", ".jinja", ".typed"}
# The container's deep-learning image brings its own build of these; reinstalling them breaks CUDA.
CONTAINER_PROVIDED = frozenset({"torch"})


@dataclass(frozen=True)
class Bundle:
    path: Path
    sha256: str
    size: int
    members: tuple[str, ...]
    requirements: tuple[str, ...]


def trainer_requirements(dist: str = "anytune", extras: tuple[str, ...] = ("train",)) -> tuple[str, ...]:
    """anytune's dependencies plus those of ``extras``, read from its installed metadata, minus
    :data:`CONTAINER_PROVIDED`. Markers are evaluated here (they only name extras) and dropped."""
    import importlib.metadata as md

    from packaging.requirements import Requirement

    try:
        raw = md.requires(dist) or []
    except md.PackageNotFoundError:
        raise ConfigError(f"{dist} is not installed as a package, so its requirements are unknown",
                          ["install it (pip install -e . in a checkout) before building a trainer bundle"]) from None
    out: list[str] = []
    for line in raw:
        req = Requirement(line)
        if req.name.lower() in CONTAINER_PROVIDED:
            continue
        if req.marker is not None and not any(req.marker.evaluate({"extra": e}) for e in ("", *extras)):
            continue
        if req.url:  # a direct reference (a local plugin checkout) cannot be installed in the container
            continue
        extra = f"[{','.join(sorted(req.extras))}]" if req.extras else ""
        entry = f"{req.name}{extra}{req.specifier}"
        if entry not in out:
            out.append(entry)
    return tuple(out)


def package_root(name: str = "anytune") -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(f"cannot find the {name} package to bundle")
    return Path(next(iter(spec.submodule_search_locations)))


def _source_files(root: Path) -> list[tuple[str, Path]]:
    files = []
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if (path.is_file() and path.suffix in _SOURCE_SUFFIXES and not path.name.startswith(".")
                and not set(rel.parts[:-1]) & _LEAVE_OUT_DIRS):
            files.append(((Path(root.name) / rel).as_posix(), path))
    return files


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = len(data), 0, 0o644
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    tar.addfile(info, io.BytesIO(data))


def build_bundle(spec: JobSpec, out_dir: Path, *, extra_files: Mapping[str, str] | None = None,
                 filename: str = BUNDLE_NAME) -> Bundle:
    """Write the bundle for ``spec`` into ``out_dir`` and return its path, hash and contents."""
    tracked = spec.tracking.mlflow is not None or spec.tracking.wandb is not None
    extras = ("train",) + (("tracking",) if tracked else ()) + (
        ("deepspeed",) if spec.compute.strategy == "deepspeed_zero3" else ()) + (
        ("liger",) if spec.hyperparameters.liger else ())
    requirements = trainer_requirements(extras=extras)
    spec_json = spec.model_copy(update={"provider_options": {}}).model_dump_json(indent=1)
    entries: dict[str, bytes] = {name: path.read_bytes() for name, path in _source_files(package_root())}
    entries["requirements.txt"] = ("\n".join(requirements) + "\n").encode()
    entries["spec.json"] = spec_json.encode()
    for name, text in (extra_files or {}).items():
        entries[name] = text.encode()

    raw = io.BytesIO()
    with gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as gz:
        with tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for name in sorted(entries):
                _add(tar, name, entries[name])
    data = raw.getvalue()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / filename
    path.write_bytes(data)
    return Bundle(path=path, sha256=hashlib.sha256(data).hexdigest(), size=len(data),
                  members=tuple(sorted(entries)), requirements=requirements)
