"""Where a provider keeps things in its object store, relative to one prefix.

    <prefix>/datasets/<content-hash>/<split>.jsonl   prepared data, keyed by its content hash
    <prefix>/code/<bundle-sha256>/<file>             the trainer bundle, keyed by its own hash
    <prefix>/models/<folder-hash>/<path>             a base model given as a local folder (see .model)
    <prefix>/output/                                 job outputs (the platform adds the job name)
    <prefix>/checkpoints/<job-name>/                 checkpoints that survive spot interruptions
    <prefix>/logs/<job-name>/                        TensorBoard event files

Keys are content-addressed, so "is it already there?" is one lookup and an unchanged dataset or
bundle is never sent twice.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_HEX = re.compile(r"^[0-9a-f]{8,128}$")
_SPLIT = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
_SEGMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def _hex(value: str, what: str) -> str:
    if not _HEX.match(value):
        raise ValueError(f"{what} must be a lowercase hex digest, got {value!r}")
    return value


def _name(job_name: str) -> str:
    if not _SEGMENT.match(job_name):
        raise ValueError(f"job name {job_name!r} is not valid")
    return job_name


@dataclass(frozen=True)
class StorageLayout:
    prefix: str = "anytune"

    def __post_init__(self) -> None:
        clean = self.prefix.strip("/")
        if clean and not all(_SEGMENT.match(part) for part in clean.split("/")):
            raise ValueError(f"storage prefix {self.prefix!r} may hold only letters, digits, '.', '_', '-' and '/'")
        object.__setattr__(self, "prefix", clean)

    def _join(self, *parts: str) -> str:
        return "/".join(p for p in (self.prefix, *parts) if p)

    def dataset(self, content_hash: str, split: str) -> str:
        if not _SPLIT.match(split):
            raise ValueError(f"split name {split!r} is not valid")
        return self._join("datasets", _hex(content_hash, "content hash"), f"{split}.jsonl")

    def code(self, bundle_sha256: str, filename: str) -> str:
        if not _SEGMENT.match(filename) or "/" in filename:
            raise ValueError(f"bundle file name {filename!r} is not valid")
        return self._join("code", _hex(bundle_sha256, "bundle hash"), filename)

    def model(self, folder_hash: str, relpath: str = "") -> str:
        parts = relpath.split("/") if relpath else []
        if not all(_SEGMENT.match(p) for p in parts):
            raise ValueError(f"model file path {relpath!r} is not valid")
        return self._join("models", _hex(folder_hash, "model folder hash"), *parts) + ("" if parts else "/")

    def output(self) -> str:
        return self._join("output")

    def checkpoints(self, job_name: str) -> str:
        return self._join("checkpoints", _name(job_name))

    def logs(self, job_name: str) -> str:
        return self._join("logs", _name(job_name))
