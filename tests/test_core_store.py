import sqlite3

import pytest

from anytune.errors import ConfigError
from anytune.store import JobStore
from anytune.types import CostEstimate, JobHandle


def make(store, **kw):
    jid = JobStore.new_id("My_Job.v2")
    return store.create(id=jid, name="My_Job.v2", provider="fake", spec_json="{}", spec_hash="abc", **kw)


def test_round_trip_from_a_new_store_object(anytune_home):
    rec = make(JobStore())
    assert rec.id.startswith("my-job-v2-") and "_" not in rec.id
    handle = JobHandle(provider="fake", job_id=rec.id, remote_id="r-1", extra={"region": "eu"})
    est = CostEstimate(provider="fake", hours=1.5)
    JobStore().update(rec.id, handle_json=handle.to_json(), estimate_json=est.to_json(), state="running")
    again = JobStore().get(rec.id[:14])  # a unique prefix is enough
    assert again.handle == handle and again.estimate == est and again.state == "running"
    assert (anytune_home / "jobs.sqlite").exists()
    assert JobStore().latest().id == rec.id


def test_unknown_and_ambiguous_ids(anytune_home):
    store = JobStore()
    make(store)
    make(store)
    with pytest.raises(ConfigError, match="ambiguous"):
        store.get("my-job")
    with pytest.raises(ConfigError, match="no job 'zzz'"):
        store.get("zzz")
    with pytest.raises(ValueError, match="unknown job columns"):
        store.update(store.latest().id, nonsense=1)


def test_upload_records(anytune_home):
    store = JobStore()
    assert store.find_upload("openai", "h1") is None
    store.record_upload("openai", "h1", '{"id": "file-1"}')
    assert store.find_upload("openai", "h1") == '{"id": "file-1"}'


def test_schema_is_plain_sqlite(anytune_home):
    make(JobStore())
    with sqlite3.connect(anytune_home / "jobs.sqlite") as db:
        cols = {r[1] for r in db.execute("PRAGMA table_info(jobs)")}
    assert {"spec_hash", "data_hash", "provider", "handle_json", "state", "estimate_json", "artifact_json",
            "error", "created_at", "updated_at"} <= cols
