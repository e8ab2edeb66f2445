"""Cloud Storage transfers through google-cloud-storage, checked end to end with CRC32C.

An object is sent only when the bucket does not already hold it with the same size and CRC32C (keys are
content-addressed, so an unchanged dataset, bundle or model is never sent twice). Uploads hand the
file's CRC32C to Cloud Storage, which refuses an object that does not match it; files over 8 MiB go as
resumable uploads; the library retries (generation preconditions make that safe) and checks the CRC32C
Cloud Storage reports. Downloads are validated by the library against the object's CRC32C.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from anytune import errors
from anytune.cloud.transfer import transfer_progress

from ._errors import PROVIDER, translate

MiB = 1024 * 1024
CHUNK_SIZE = 16 * MiB  # resumable upload chunk (a multiple of 256 KiB)


@dataclass(frozen=True)
class LocalObject:
    """A file to put at ``key``, with its SHA-256 (hex) and its CRC32C as Cloud Storage reports it (base64)."""

    path: Path
    key: str
    size: int
    sha256: str
    crc32c: str

    @classmethod
    def of(cls, path: Path, key: str) -> LocalObject:
        import google_crc32c

        sha, crc = hashlib.sha256(), google_crc32c.Checksum()
        with open(path, "rb") as f:
            while block := f.read(MiB):
                sha.update(block)
                crc.update(block)
        return cls(Path(path), key, Path(path).stat().st_size, sha.hexdigest(), base64.b64encode(crc.digest()).decode())


def split_gs(uri: str) -> tuple[str, str]:
    if not uri.startswith("gs://"):
        raise errors.ConfigError(f"not a Cloud Storage URI: {uri!r}")
    bucket, _, key = uri[len("gs://"):].partition("/")
    return bucket, key


def _no_bucket(name: str, operation: str) -> errors.NotFound:
    return errors.NotFound(f"Cloud Storage bucket gs://{name} does not exist (set provider_options.vertex."
                           "staging_bucket to one you own, e.g. from terraform/gcp)", provider=PROVIDER,
                           operation=operation)


def probe_bucket(google: Any, name: str, operation: str) -> None:
    """Fail clearly when the bucket is missing or closed to us. Lists one object, so it needs only the
    object permissions a least-privilege launcher has (roles/storage.objectUser), not buckets.get."""
    try:
        with translate(operation):
            list(google.storage.list_blobs(name, max_results=1, retry=google.retry(), timeout=google.timeout()))
    except errors.NotFound:
        raise _no_bucket(name, operation) from None
    except errors.PermissionDenied:
        raise errors.PermissionDenied(f"no access to the objects of gs://{name} with these credentials",
                                      provider=PROVIDER, operation=operation) from None


def put_missing(google: Any, bucket: Any, objects: list[LocalObject], *, description: str, operation: str,
                content_type: str = "application/octet-stream", kms_key_name: str | None = None) -> int:
    """Upload what the bucket does not hold with the same size and CRC32C; return the bytes sent."""
    pending: list[tuple[LocalObject, int]] = []
    for obj in objects:
        with translate(operation):
            there = bucket.get_blob(obj.key, retry=google.retry(), timeout=google.timeout())
        if there is None or there.size != obj.size or there.crc32c != obj.crc32c:
            pending.append((obj, there.generation if there is not None else 0))
    if not pending:
        return 0
    with transfer_progress(description, sum(o.size for o, _ in pending)) as counter:
        for obj, generation in pending:
            blob = bucket.blob(obj.key, chunk_size=CHUNK_SIZE, kms_key_name=kms_key_name)
            blob.metadata = {"anytune-sha256": obj.sha256}
            try:
                with translate(operation):
                    # if_generation_match: create only if absent (0), or replace exactly the object we saw.
                    blob.upload_from_filename(str(obj.path), content_type=content_type, checksum="crc32c",
                                              crc32c_checksum_value=obj.crc32c, if_generation_match=generation,
                                              retry=google.retry(), timeout=google.timeout())
            except errors.NotFound:  # an upload only 404s when the bucket is not there
                raise _no_bucket(bucket.name, operation) from None
            if blob.size != obj.size or blob.crc32c != obj.crc32c:
                raise errors.ProviderError(f"gs://{bucket.name}/{obj.key} does not match the CRC32C of {obj.path} "
                                           "after upload", provider=PROVIDER, operation=operation, retryable=True)
            counter(obj.size)
    return counter.total


def _relative(name: str, prefix: str) -> str | None:
    """The object's path below ``prefix``, or None for a folder placeholder. Refuses names that would
    leave the destination folder."""
    rel = name[len(prefix):]
    if not rel or rel.endswith("/"):
        return None
    if any(part in ("..", ".", "") for part in rel.split("/")):
        raise errors.ProviderError(f"refused to download {name!r}: unsafe path", provider=PROVIDER,
                                   operation="retrieve")
    return rel


def download_prefix(google: Any, bucket_name: str, prefix: str, dest: Path, *, operation: str = "retrieve") -> int:
    """Download every object under ``prefix`` into ``dest`` (paths relative to the prefix); the bytes."""
    with translate(operation):
        blobs = list(google.storage.list_blobs(bucket_name, prefix=prefix, retry=google.retry(),
                                               timeout=google.timeout()))
    wanted = [(b, rel) for b in blobs if (rel := _relative(b.name, prefix)) is not None]
    if not wanted:
        raise errors.NotFound(f"nothing under gs://{bucket_name}/{prefix}", provider=PROVIDER, operation=operation)
    with transfer_progress(f"downloading gs://{bucket_name}/{prefix}", sum(b.size or 0 for b, _ in wanted)) as counter:
        for blob, rel in wanted:
            target = Path(dest) / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            with translate(operation):
                blob.download_to_filename(str(target), checksum="crc32c", retry=google.retry(),
                                          timeout=google.timeout())
            counter(target.stat().st_size)
    return counter.total


def read_json(google: Any, uri: str, *, operation: str) -> dict[str, Any] | None:
    """A small JSON object (e.g. the trainer's status.json), or None when absent or not JSON."""
    bucket_name, key = split_gs(uri)
    try:
        with translate(operation):
            blob = google.storage.bucket(bucket_name).blob(key)
            raw = blob.download_as_bytes(retry=google.retry(), timeout=google.timeout())
    except errors.NotFound:  # not written yet, or being replaced right now
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


class GcsStore:
    """One bucket, as :class:`anytune.cloud.provider.ObjectStore`; objects are written with ``kms_key_name``."""

    def __init__(self, google: Any, name: str, kms_key_name: str | None):
        self.google, self.name, self.kms_key_name = google, name, kms_key_name

    def require(self, operation: str) -> None:
        probe_bucket(self.google, self.name, operation)

    def put_missing(self, files: list[LocalObject], *, description: str, operation: str,
                    content_type: str = "application/octet-stream") -> int:
        return put_missing(self.google, self.google.storage.bucket(self.name), files, description=description,
                           operation=operation, content_type=content_type, kms_key_name=self.kms_key_name)
