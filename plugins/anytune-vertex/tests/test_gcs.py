"""Cloud Storage transfers against gcp-storage-emulator: CRC32C-keyed skipping, a resumable upload,
replacing a changed object, downloads that stay inside their folder."""

from __future__ import annotations

import base64
import os

import google_crc32c
import pytest
from anytune_vertex import _gcs

from anytune import errors


@pytest.fixture
def google(provider):
    return provider.google


def test_a_large_file_goes_resumable_and_is_sent_once(google, bucket, gcs, tmp_path):
    path = tmp_path / "big.bin"
    path.write_bytes(os.urandom(9 * _gcs.MiB))  # over the library's 8 MiB single-request limit
    obj = _gcs.LocalObject.of(path, "models/x/big.bin")
    assert obj.crc32c == base64.b64encode(google_crc32c.Checksum(path.read_bytes()).digest()).decode()
    target = google.storage.bucket(bucket)
    assert _gcs.put_missing(google, target, [obj], description="big", operation="upload") == obj.size
    assert _gcs.put_missing(google, target, [obj], description="big", operation="upload") == 0
    there = gcs.bucket(bucket).get_blob("models/x/big.bin")
    assert there.size == obj.size and there.crc32c == obj.crc32c and there.metadata["anytune-sha256"] == obj.sha256


def test_a_changed_object_is_replaced(google, bucket, gcs, tmp_path):
    path = tmp_path / "train.jsonl"
    path.write_text('{"text": "one"}\n')
    gcs.bucket(bucket).blob("d/train.jsonl").upload_from_string(b'{"text": "partial')  # e.g. a broken copy
    obj = _gcs.LocalObject.of(path, "d/train.jsonl")
    assert _gcs.put_missing(google, google.storage.bucket(bucket), [obj], description="d", operation="upload") == obj.size
    assert gcs.bucket(bucket).blob("d/train.jsonl").download_as_bytes() == path.read_bytes()


def test_downloads_stay_in_their_folder(google, bucket, gcs, tmp_path):
    for name in ("out/model/a.json", "out/model/sub/b.bin", "out/model/"):
        gcs.bucket(bucket).blob(name).upload_from_string(b"x")
    sent = _gcs.download_prefix(google, bucket, "out/model/", tmp_path / "dest")
    assert sent == 2 and sorted(p.relative_to(tmp_path / "dest").as_posix()
                                for p in (tmp_path / "dest").rglob("*") if p.is_file()) == ["a.json", "sub/b.bin"]
    with pytest.raises(errors.NotFound, match="nothing under"):
        _gcs.download_prefix(google, bucket, "out/none/", tmp_path / "none")
    for bad in ("out/model/../../etc/x", "out/model//abs", "out/model/./x"):
        with pytest.raises(errors.ProviderError, match="unsafe path"):
            _gcs._relative(bad, "out/model/")


def test_read_json(google, bucket, gcs):
    gcs.bucket(bucket).blob("s/status.json").upload_from_string(b'{"step": 1}')
    gcs.bucket(bucket).blob("s/broken.json").upload_from_string(b'{"step": ')
    assert _gcs.read_json(google, f"gs://{bucket}/s/status.json", operation="status") == {"step": 1}
    assert _gcs.read_json(google, f"gs://{bucket}/s/broken.json", operation="status") is None
    assert _gcs.read_json(google, f"gs://{bucket}/s/absent.json", operation="status") is None
