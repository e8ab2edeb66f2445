"""The provider's own transfers to and from the workspace's blob datastores, on azure-storage-blob.

Why not the azure-ai-ml SDK's datastore upload: it builds ``https://<account>.blob.<suffix>`` URLs from
the datastore and fetches the account key, so it cannot reach any other endpoint (Azurite, a private
endpoint alias); this adapter talks to the account URL it is given.

Uploads go in parallel blocks (``max_concurrency``); the service checks each block's MD5 on arrival
(``validate_content``). The whole file's MD5 is stored as the blob's Content-MD5 and its SHA-256 as
metadata. Keys are content-addressed, so "already there?" is one HEAD: a blob whose size and Content-MD5
match the local file is not sent again. Downloads stay inside the destination folder and are checked
against Content-MD5 where the blob has one (the trainer's manifest checks the rest).
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from anytune import errors
from anytune.cloud.transfer import ByteCounter, transfer_progress

from ._errors import PROVIDER, translate

MiB = 1024 * 1024
BLOCK_SIZE = 8 * MiB  # block size, and the largest file sent in one request
CONCURRENCY = 8


def _digests(path: Path) -> tuple[bytes, str]:
    md5, sha = hashlib.md5(usedforsecurity=False), hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(MiB):
            md5.update(block)
            sha.update(block)
    return md5.digest(), sha.hexdigest()


@dataclass(frozen=True)
class LocalBlob:
    """A file to put at blob ``key``, with the digests the service will hold for it."""

    path: Path
    key: str
    size: int
    md5: bytes
    sha256: str

    @classmethod
    def of(cls, path: Path, key: str) -> LocalBlob:
        md5, sha = _digests(path)
        return cls(Path(path), key, Path(path).stat().st_size, md5, sha)

    def matches(self, props: Any) -> bool:
        if props is None:
            return False
        stored = props.content_settings.content_md5
        return props.size == self.size and stored is not None and bytes(stored) == self.md5


def _hook(counter: ByteCounter) -> Callable[[int, int | None], None]:
    """azure-storage reports bytes done so far (from several threads); the counter wants increments."""
    lock, done = threading.Lock(), [0]

    def hook(current: int, total: int | None) -> None:
        with lock:
            step, done[0] = max(current - done[0], 0), max(current, done[0])
        counter(step)

    return hook


def safe_relative(name: str, prefix: str) -> PurePosixPath:
    rel = PurePosixPath(name[len(prefix):].lstrip("/"))
    if not rel.parts or rel.is_absolute() or ".." in rel.parts:
        raise errors.ProviderError(f"refused to download blob {name!r}: its path leaves the destination",
                                   provider=PROVIDER, operation="retrieve")
    return rel


class BlobStore:
    """One container of a storage account (an :class:`anytune.cloud.provider.ObjectStore`)."""

    def __init__(self, service: Any, container: str):
        self.container = container
        self.client = service.get_container_client(container)
        self.url = f"{service.url.rstrip('/')}/{container}"

    def properties(self, name: str, operation: str) -> Any | None:
        try:
            with translate(operation):
                return self.client.get_blob_client(name).get_blob_properties()
        except errors.NotFound:
            return None

    def require(self, operation: str) -> None:
        try:
            with translate(operation):
                self.client.get_container_properties()
        except errors.NotFound:
            raise errors.NotFound(f"blob container {self.url} does not exist (check the workspace's datastore, or "
                                  "provider_options.azureml.container)", provider=PROVIDER, operation=operation) from None

    def put_missing(self, blobs: list[LocalBlob], *, description: str, operation: str = "upload",
                    content_type: str = "application/octet-stream") -> int:
        """Upload the blobs the container does not already hold with the same MD5; return the bytes sent."""
        from azure.storage.blob import ContentSettings

        pending = [b for b in blobs if not b.matches(self.properties(b.key, operation))]
        if not pending:
            return 0
        with transfer_progress(description, sum(b.size for b in pending)) as counter:
            for b in pending:
                settings = ContentSettings(content_type=content_type, content_md5=b.md5)
                with open(b.path, "rb") as data, translate(operation):
                    self.client.upload_blob(b.key, data, length=b.size, overwrite=True, validate_content=True,
                                            max_concurrency=CONCURRENCY, content_settings=settings,
                                            metadata={"anytune_sha256": b.sha256}, progress_hook=_hook(counter))
                if not b.matches(self.properties(b.key, operation)):
                    raise errors.ProviderError(f"{self.url}/{b.key} does not match the MD5 of {b.path} after upload",
                                               provider=PROVIDER, operation=operation, retryable=True)
        return counter.total

    def list(self, prefix: str, operation: str) -> list[Any]:
        """The blobs under ``prefix`` (folder placeholders of hierarchical namespaces left out), by name."""
        with translate(operation):
            found = list(self.client.list_blobs(name_starts_with=prefix, include=["metadata"]))
        return sorted((b for b in found if (b.metadata or {}).get("hdi_isfolder") != "true"), key=lambda b: b.name)

    def download_prefix(self, prefix: str, dest: Path, *, operation: str = "retrieve") -> list[Path]:
        """Every blob under ``prefix`` into ``dest``, at its path relative to the prefix."""
        blobs = self.list(prefix, operation)
        if not blobs:
            raise errors.NotFound(f"nothing under {self.url}/{prefix}", provider=PROVIDER, operation=operation)
        written = []
        with transfer_progress(f"downloading {PurePosixPath(prefix).name or prefix}",
                               sum(b.size for b in blobs)) as counter:
            for b in blobs:
                target = Path(dest, *safe_relative(b.name, prefix).parts)
                target.parent.mkdir(parents=True, exist_ok=True)
                with open(target, "wb") as f, translate(operation):
                    self.client.download_blob(b.name, max_concurrency=CONCURRENCY,
                                              progress_hook=_hook(counter)).readinto(f)
                self._check(b, target, operation)
                written.append(target)
        return written

    def _check(self, blob: Any, path: Path, operation: str) -> None:
        stored = blob.content_settings.content_md5
        size = path.stat().st_size
        if size != blob.size or (stored is not None and bytes(stored) != _digests(path)[0]):
            raise errors.ProviderError(f"{self.url}/{blob.name} arrived damaged (size or MD5 differs); try again",
                                       provider=PROVIDER, operation=operation, retryable=True)

    def read_from(self, name: str, offset: int, operation: str) -> bytes | None:
        """The blob's bytes from ``offset`` on (b"" when nothing is new), or None when there is no such blob."""
        props = self.properties(name, operation)
        if props is None:
            return None
        if props.size <= offset:
            return b""
        with translate(operation):
            return self.client.download_blob(name, offset=offset, length=props.size - offset).readall()

    def read_text(self, name: str, operation: str) -> str | None:
        data = self.read_from(name, 0, operation)
        return None if data is None else data.decode("utf-8", errors="replace")

