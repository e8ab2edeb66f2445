"""Uploads through boto3's transfer manager to moto over HTTP: content-addressed keys, multipart with
SHA-256 checksums compared to S3's, nothing sent twice, a changed object sent again, SSE-KMS, and a
missing bucket reported before anything is sent."""

from __future__ import annotations

import hashlib
import os

import pytest
from anytune_sagemaker._s3 import PART_SIZE, LocalObject
from anytune_sagemaker.provider import SageMakerProvider

from anytune import errors
from anytune.data import PreparedData
from anytune.types import DataStats, SplitStats


def fake_prepared(folder, sizes: dict[str, int]) -> PreparedData:
    folder.mkdir(parents=True, exist_ok=True)
    files, digest = {}, hashlib.sha256()
    for split, size in sizes.items():
        files[split] = folder / f"{split}.jsonl"
        files[split].write_bytes(os.urandom(size))
        digest.update(files[split].read_bytes())
    stats = DataStats(splits={s: SplitStats(examples=1, tokens=1) for s in sizes})
    return PreparedData(directory=folder, content_hash=digest.hexdigest(), format="text", files=files,
                        stats=stats, redaction={}, warnings=())


def test_multipart_upload_is_verified_and_sent_once(provider, spec, options, aws, tmp_path):
    data = fake_prepared(tmp_path / "d", {"train": 2 * PART_SIZE + 123, "validation": 1000})
    first = provider.upload(spec, data)
    assert first.bytes_sent == 2 * PART_SIZE + 123 + 1000
    head = aws("s3").head_object(Bucket=options["bucket"], Key=f"teams/ml/datasets/{data.content_hash}/train.jsonl",
                                 ChecksumMode="ENABLED")
    assert head["ETag"].endswith('-3"'), "sent as a 3-part multipart upload"
    assert head["ChecksumSHA256"].split("-")[0] == LocalObject.of(data.files["train"], "k").s3_checksum
    assert head["Metadata"]["anytune-sha256"] == hashlib.sha256(data.files["train"].read_bytes()).hexdigest()
    assert provider.upload(spec, data).bytes_sent == 0

    # An object that no longer matches (overwritten, truncated) is sent again; the others are not.
    aws("s3").put_object(Bucket=options["bucket"], Key=f"teams/ml/datasets/{data.content_hash}/validation.jsonl",
                         Body=b"something else")
    assert provider.upload(spec, data).bytes_sent == 1000


def test_sse_kms(options, spec, aws, tmp_path):
    key = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    provider = SageMakerProvider({**options, "kms_key_arn": key})
    data = fake_prepared(tmp_path / "d", {"train": 500})
    ref = provider.upload(spec, data)
    bucket, _, obj = ref.uris["train"].removeprefix("s3://").partition("/")
    head = aws("s3").head_object(Bucket=bucket, Key=obj)
    assert head["ServerSideEncryption"] == "aws:kms" and head["SSEKMSKeyId"] == key


def test_missing_bucket_is_reported_before_any_upload(options, spec, tmp_path):
    provider = SageMakerProvider({**options, "bucket": "no-such-bucket-anywhere"})
    data = fake_prepared(tmp_path / "d", {"train": 500})
    with pytest.raises(errors.NotFound, match="bucket 'no-such-bucket-anywhere' does not exist"):
        provider.upload(spec, data)
    ready = provider.check(spec)
    assert not ready.ready and "no-such-bucket-anywhere" in ready.reason


def test_checksums_of_single_and_multipart_objects(tmp_path):
    small = tmp_path / "small"
    small.write_bytes(b"x" * 10)
    obj = LocalObject.of(small, "k")
    assert obj.matches({"ContentLength": 10, "ChecksumSHA256": obj.s3_checksum})
    assert not obj.matches({"ContentLength": 11, "ChecksumSHA256": obj.s3_checksum})
    assert not obj.matches({"ContentLength": 10})  # no checksum stored: uploaded by something else
    assert not obj.matches(None)
    big = LocalObject.of(_big(tmp_path / "big"), "k")
    assert big.matches({"ContentLength": big.size, "ChecksumSHA256": big.s3_checksum + "-2"})  # AWS adds "-<parts>"
    assert big.s3_checksum != obj.s3_checksum


def _big(path):
    path.write_bytes(b"y" * (PART_SIZE + 1))
    return path
