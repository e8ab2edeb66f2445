"""The provider's blob adapter against Azurite: parallel blocks with per-block MD5, whole-file MD5 and
SHA-256 stored, content-addressed skip, verified downloads that stay inside their folder, ranged reads."""

from __future__ import annotations

import hashlib
import os

import pytest
from anytune_azureml._sdk import blob_service
from anytune_azureml._storage import BlobStore, LocalBlob, safe_relative
from azml_azurite import ACCOUNT, KEY

from anytune import errors
from anytune.cloud.retry import RetryPolicy

KiB = 1024


@pytest.fixture
def store(azurite, arm):
    def make(block_size: int = 64 * KiB) -> BlobStore:
        service = blob_service(azurite.endpoint, {"account_name": ACCOUNT, "account_key": KEY},
                               RetryPolicy(attempts=2), block_size=block_size)
        return BlobStore(service, arm.containers["workspaceblobstore"])

    return make


def test_parallel_blocks_md5_and_skip(store, tmp_path):
    path = tmp_path / "weights.bin"
    path.write_bytes(os.urandom(300 * KiB + 7))
    blob = LocalBlob.of(path, "teams/ml/models/abc/weights.bin")
    s = store(block_size=64 * KiB)
    assert s.put_missing([blob], description="test") == path.stat().st_size
    props = s.client.get_blob_client(blob.key).get_blob_properties()
    assert bytes(props.content_settings.content_md5) == hashlib.md5(path.read_bytes()).digest()
    assert props.metadata["anytune_sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    committed, _ = s.client.get_blob_client(blob.key).get_block_list()
    assert len(committed) == 5, "sent as 64 KiB blocks (each checked with its MD5 by the service)"
    assert s.put_missing([blob], description="test") == 0, "an identical blob is not sent again"

    path.write_bytes(os.urandom(1000))  # same name, other content: sent again
    assert s.put_missing([LocalBlob.of(path, blob.key)], description="test") == 1000


def test_download_is_checked_and_stays_inside(store, tmp_path):
    s = store()
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "a.json").write_text('{"a": 1}')
    (src / "sub" / "b.bin").write_bytes(os.urandom(200 * KiB))
    s.put_missing([LocalBlob.of(p, f"out/job/model/{p.relative_to(src).as_posix()}")
                   for p in src.rglob("*") if p.is_file()], description="test")
    written = s.download_prefix("out/job/model/", tmp_path / "dest")
    assert sorted(p.relative_to(tmp_path / "dest").as_posix() for p in written) == ["a.json", "sub/b.bin"]
    assert (tmp_path / "dest" / "sub" / "b.bin").read_bytes() == (src / "sub" / "b.bin").read_bytes()

    with pytest.raises(errors.NotFound, match="nothing under"):
        s.download_prefix("out/other/", tmp_path / "none")


def test_a_blob_that_does_not_match_its_md5_is_refused(store, tmp_path):
    from azure.storage.blob import ContentSettings

    s = store()
    s.client.upload_blob("out/bad/model/x.bin", b"actual bytes")  # then its recorded MD5 is changed:
    s.client.get_blob_client("out/bad/model/x.bin").set_http_headers(
        ContentSettings(content_md5=hashlib.md5(b"other bytes").digest()))
    with pytest.raises(errors.ProviderError, match="arrived damaged") as info:
        s.download_prefix("out/bad/model/", tmp_path / "dest")
    assert info.value.retryable


@pytest.mark.parametrize("name", ["p/../../etc/passwd", "p/", "p//x/../../y"])
def test_names_that_leave_the_folder_are_refused(name):
    with pytest.raises(errors.ProviderError, match="leaves the destination"):
        safe_relative(name, "p/")


def test_safe_names_keep_their_folders():
    assert safe_relative("out/model/sub/x.json", "out/model/").as_posix() == "sub/x.json"


def test_ranged_reads(store):
    s = store()
    s.client.upload_blob("logs/std_log.txt", b"one\ntwo\n")
    assert s.read_from("logs/std_log.txt", 0, "logs") == b"one\ntwo\n"
    assert s.read_from("logs/std_log.txt", 4, "logs") == b"two\n"
    assert s.read_from("logs/std_log.txt", 8, "logs") == b""
    assert s.read_from("logs/missing.txt", 0, "logs") is None


def test_server_busy_is_retried_by_the_sdk_then_rate_limited():
    """Blob storage throttles with 503 ServerBusy; azure-storage-blob's retry policy tries again, then the
    provider reports RateLimited. A scripted server on 127.0.0.1 plays the busy account."""
    import http.server
    import threading

    seen = []

    class Busy(http.server.BaseHTTPRequestHandler):
        def do_HEAD(self):
            seen.append(self.path)
            self.send_response(503)
            self.send_header("x-ms-error-code", "ServerBusy")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Busy)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/{ACCOUNT}"
        service = blob_service(url, {"account_name": ACCOUNT, "account_key": KEY},
                               RetryPolicy(attempts=2, initial_backoff_s=0), block_size=64 * KiB)
        with pytest.raises(errors.RateLimited, match="ServerBusy") as info:
            BlobStore(service, "data").properties("x.jsonl", "upload")
        assert info.value.retryable and len(seen) == 2
    finally:
        server.shutdown()
        server.server_close()
