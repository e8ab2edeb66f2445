"""S3 transfers through boto3's transfer manager (multipart, parallel), checked end to end with SHA-256.

Uploads send ``ChecksumAlgorithm=SHA256``: S3 verifies every request (a part or a whole object) on
arrival and stores the checksum. We compute the same checksum locally (the SHA-256 of the file, or for
a multipart object the SHA-256 of its parts' SHA-256s, with the transfer manager's part size) and
compare it with what S3 reports, both to skip objects already there and to confirm each upload.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from anytune import errors
from anytune.cloud.transfer import transfer_progress

from ._errors import PROVIDER, translate

MiB = 1024 * 1024
PART_SIZE = 16 * MiB  # multipart threshold and part size


def transfer_config() -> Any:
    from boto3.s3.transfer import TransferConfig

    # "classic" pins s3transfer (not the CRT client) so part sizes, and with them checksums, are known.
    return TransferConfig(multipart_threshold=PART_SIZE, multipart_chunksize=PART_SIZE, max_concurrency=8,
                          use_threads=True, preferred_transfer_client="classic")


def part_size_for(size: int) -> int:
    from s3transfer.utils import ChunksizeAdjuster

    return ChunksizeAdjuster().adjust_chunksize(PART_SIZE, size)


@dataclass(frozen=True)
class LocalObject:
    """A file to put at ``key``, with the checksums S3 will report for it."""

    path: Path
    key: str
    size: int
    sha256: str  # hex digest of the whole file
    s3_checksum: str  # base64 ChecksumSHA256 as S3 reports it for our upload (without a "-<parts>" suffix)

    @classmethod
    def of(cls, path: Path, key: str) -> LocalObject:
        size = path.stat().st_size
        whole, parts = hashlib.sha256(), []
        with open(path, "rb") as f:
            while block := f.read(part_size_for(size)):
                whole.update(block)
                parts.append(hashlib.sha256(block).digest())
        multipart = size >= PART_SIZE
        digest = hashlib.sha256(b"".join(parts)).digest() if multipart else whole.digest()
        return cls(path, key, size, whole.hexdigest(), base64.b64encode(digest).decode())

    def matches(self, head: dict[str, Any] | None) -> bool:
        if not head:
            return False
        reported = str(head.get("ChecksumSHA256") or "").split("-")[0]
        return head.get("ContentLength") == self.size and reported == self.s3_checksum


def head(s3: Any, bucket: str, key: str, operation: str) -> dict[str, Any] | None:
    """The object's metadata and checksum, or None when there is no such object."""
    try:
        with translate(operation, describing=True):
            return s3.head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
    except errors.NotFound:
        return None


def require_bucket(s3: Any, bucket: str, operation: str) -> None:
    """Fail with a clear message, before anything is sent, when the bucket is missing or closed to us."""
    try:
        with translate(operation):
            s3.head_bucket(Bucket=bucket)
    except errors.NotFound:
        raise errors.NotFound(f"S3 bucket {bucket!r} does not exist (set provider_options.sagemaker.bucket to "
                              "one you own, e.g. from terraform/aws)", provider=PROVIDER, operation=operation) from None
    except errors.PermissionDenied:
        raise errors.PermissionDenied(f"no access to S3 bucket {bucket!r} with these credentials",
                                      provider=PROVIDER, operation=operation) from None


def put_missing(s3: Any, bucket: str, objects: list[LocalObject], *, extra_args: dict[str, Any],
                description: str, operation: str = "upload") -> int:
    """Upload the objects S3 does not already hold with the same checksum; return the bytes sent."""
    from boto3.s3.transfer import ProgressCallbackInvoker, create_transfer_manager

    pending = [o for o in objects if not o.matches(head(s3, bucket, o.key, operation))]
    if not pending:
        return 0
    with transfer_progress(description, sum(o.size for o in pending)) as counter, translate(operation):
        with create_transfer_manager(s3, transfer_config()) as manager:
            futures = [manager.upload(str(o.path), bucket, o.key, subscribers=[ProgressCallbackInvoker(counter)],
                                      extra_args={**extra_args, "ChecksumAlgorithm": "SHA256",
                                                  "Metadata": {"anytune-sha256": o.sha256}})
                       for o in pending]
            for future in futures:
                future.result()
    for o in pending:
        if not o.matches(head(s3, bucket, o.key, operation)):
            raise errors.ProviderError(f"s3://{bucket}/{o.key} does not match the SHA-256 of {o.path} after upload",
                                       provider=PROVIDER, operation=operation, retryable=True)
    return counter.total


def download(s3: Any, bucket: str, key: str, dest: Path, *, operation: str = "retrieve") -> int:
    """Download one object (checksum validated by botocore where S3 holds a whole-object checksum)."""
    from boto3.s3.transfer import ProgressCallbackInvoker, create_transfer_manager

    found = head(s3, bucket, key, operation)
    if found is None:
        raise errors.NotFound(f"s3://{bucket}/{key} does not exist", provider=PROVIDER, operation=operation)
    with transfer_progress(f"downloading {Path(key).name}", int(found["ContentLength"])) as counter, \
            translate(operation):
        with create_transfer_manager(s3, transfer_config()) as manager:
            manager.download(bucket, key, str(dest), extra_args={"ChecksumMode": "ENABLED"},
                             subscribers=[ProgressCallbackInvoker(counter)]).result()
    return counter.total


class S3Store:
    """One bucket, as :class:`anytune.cloud.provider.ObjectStore`: every object is written with ``extra_args``
    (server-side encryption)."""

    def __init__(self, s3: Any, bucket: str, extra_args: dict[str, Any]):
        self.s3, self.bucket, self.extra_args = s3, bucket, extra_args

    def require(self, operation: str) -> None:
        require_bucket(self.s3, self.bucket, operation)

    def put_missing(self, files: list[LocalObject], *, description: str, operation: str,
                    content_type: str = "application/octet-stream") -> int:
        return put_missing(self.s3, self.bucket, files, description=description, operation=operation,
                           extra_args={"ContentType": content_type, **self.extra_args})
