"""The lifecycle through core with the in-memory provider and the real data pipeline."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from anytune import jobs
from anytune.cli import app
from anytune.errors import (
    BudgetExceeded,
    ConfigError,
    DataError,
    JobFailed,
    JobNotReady,
    PluginError,
    ProviderUnavailable,
)
from anytune.spec import JobSpec
from anytune.store import JobStore
from anytune.testing import fake


def write_data(path, n=40):
    with open(path, "w") as f:
        for i in range(n):
            f.write(json.dumps({"prompt": f"How do I reset password number {i}?",
                                "completion": f"Open settings, choose security, reset it ({i})."}) + "\n")
    return path


@pytest.fixture
def spec(tmp_path, with_fake):
    return JobSpec(name="demo", base_model="tiny", data={"train": str(write_data(tmp_path / "train.jsonl"))},
                   provider="fake", output_dir=str(tmp_path / "out" / "{job_id}"))


def test_submit_follow_retrieve_from_new_store_objects(spec):
    sub = jobs.submit(spec)
    rec = sub.record
    assert rec.state == "queued" and rec.handle.remote_id == f"fake-{rec.id}"
    assert rec.data_hash == sub.prepared.content_hash and rec.spec_hash == spec.spec_hash()
    seen = []
    done = jobs.follow(rec.id, store=JobStore(), interval=0, on_log=seen.append)
    assert done.state == "succeeded" and any("queued" in line for line in seen)
    assert done.actual["basis"] and "seconds" in done.actual
    artifact = jobs.retrieve(rec.id, store=JobStore())
    assert artifact.path == str(spec.output_path(rec.id)) and artifact.files
    assert JobStore().get(rec.id).artifact == artifact
    # what the provider trained on is the prepared, split training data
    trained = json.loads((spec.output_path(rec.id) / "adapter.txt").read_text())["trained_on"]
    assert set(trained) >= {"train", "validation"}


def test_bad_input_writes_nothing(spec, tmp_path):
    store = JobStore()
    missing = spec.updated(data={"train": str(tmp_path / "nope.jsonl")})
    with pytest.raises(DataError):
        jobs.submit(missing)
    unknown = spec.with_provider("no-such-provider")
    with pytest.raises(PluginError, match="unknown provider"):
        jobs.submit(unknown)
    over = spec.updated(budget={"max_usd": 0.5})
    with pytest.raises(BudgetExceeded):
        jobs.submit(over)
    assert store.list() == []


def test_an_unready_single_provider_fails_before_anything_is_recorded(spec):
    s = spec.updated(provider=["fake"], provider_options={"fake": {"unready": "no creds"}})
    with pytest.raises(ProviderUnavailable, match="no creds"):
        jobs.submit(s)
    assert JobStore().list() == []


def test_fallback_is_recorded(spec, two_clouds):
    """A skipped candidate and its reason are on the job record, next to the one that ran."""
    s = spec.updated(provider=["busy", "spare"], provider_options={"busy": {"unready": "no creds"}})
    rec = jobs.submit(s).record
    again = JobStore().get(rec.id)
    assert again.provider == "spare"
    skipped = {c["provider"]: c["skipped"] for c in again.choice}
    assert skipped == {"spare": "", "busy": "not ready: no creds"}


def test_a_capability_the_provider_lacks_is_a_recorded_skip_with_its_reason(spec, two_clouds):
    adapter = Path(spec.data.train).parent / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": "tiny", "peft_type": "LORA"}))
    (adapter / "adapter_model.safetensors").write_bytes(b"x")
    s = spec.updated(provider=["busy", "spare"], init_adapter=str(adapter))
    with pytest.raises(ConfigError, match="init_adapter: the fake provider keeps no files of this machine"):
        jobs.submit(s)  # every candidate lacks it: the spec, not a provider, must change


def test_launch_gets_the_plan_recorded_on_the_job_and_follow_keeps_one_provider(spec, monkeypatch):
    seen = []
    real_launch = fake.FakeProvider.launch
    monkeypatch.setattr(fake.FakeProvider, "launch", lambda self, spec, data, job_id, plan=None: (
        seen.append(plan), real_launch(self, spec, data, job_id, plan))[1])
    rec = jobs.submit(spec).record
    assert seen == [rec.estimate] and rec.estimate.instance == "fake.gpu"
    made = []
    real_for = jobs.provider_for
    monkeypatch.setattr(jobs, "provider_for", lambda r: made.append(r.id) or real_for(r))
    assert jobs.follow(rec.id, interval=0).state == "succeeded"
    assert made == [rec.id], "follow made a new provider per poll"


def test_running_job_over_budget_is_stopped(spec, monkeypatch):
    s = spec.updated(budget={"max_usd": 2.5}, provider_options={"fake": {"steps": 50}})
    rec = jobs.submit(s).record
    # pretend it has been running for two hours at $2/h
    JobStore().update(rec.id, launched_at="2000-01-01T00:00:00+00:00")
    rec, _ = jobs.refresh(rec.id)
    assert "passed the budget" in rec.error
    assert jobs.follow(rec.id, interval=0).state == "cancelled"


def test_cancel_and_retrieve_of_unfinished(spec):
    rec = jobs.submit(spec.updated(provider_options={"fake": {"steps": 50}})).record
    with pytest.raises(JobNotReady, match="wait for it"):
        jobs.retrieve(rec.id)
    assert jobs.cancel(rec.id).state == "stopping"
    assert jobs.follow(rec.id, interval=0).state == "cancelled"
    with pytest.raises(JobFailed, match="ended cancelled"):
        jobs.retrieve(rec.id)


def test_cli_bad_spec_exits_2_without_traceback(tmp_path):
    job = tmp_path / "job.yaml"
    job.write_text("name: x\nbase_model: m\ndata: {train: t.jsonl}\nmethod: lorax\n")
    env = {**os.environ, "ANYTUNE_HOME": str(tmp_path / "h")}
    proc = subprocess.run([sys.executable, "-m", "anytune.cli", "submit", str(job)], capture_output=True,
                          text=True, env=env, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and f"{job}:4: method:" in proc.stderr
    assert not (tmp_path / "h" / "jobs.sqlite").exists()


def test_cli_submit_status_jobs(spec, tmp_path):
    job = tmp_path / "job.yaml"
    import yaml

    job.write_text(yaml.safe_dump(spec.model_dump(mode="json")))
    runner = CliRunner()
    res = runner.invoke(app, ["submit", str(job)])
    assert res.exit_code == 1 and "pass --yes" in res.output and "Traceback" not in res.output, "spending needs a yes"
    assert JobStore().list() == []
    res = runner.invoke(app, ["submit", str(job), "--yes"])
    assert res.exit_code == 0, res.output
    assert "submitted" in res.output
    res = runner.invoke(app, ["status"])
    assert res.exit_code == 0 and "fake" in res.output
    res = runner.invoke(app, ["jobs"])
    assert res.exit_code == 0 and "demo-" in res.output


def test_dry_run_sends_nothing_and_needs_no_credentials(spec):
    sub = jobs.submit(spec.updated(provider_options={"fake": {"unready": "no credentials"}}), dry_run=True)
    assert sub.record is None and sub.dry_run["provider"] == "fake"
    assert fake.FakeProvider.launches == 0 and JobStore().list() == []


@pytest.fixture
def two_clouds(with_fake):
    from anytune import registry

    registry.reset(registry.load(extra_plugins=(fake, fake.more_providers("busy", "spare"))))


def test_a_capacity_failure_after_launch_moves_the_job_to_the_next_candidate(spec, two_clouds):
    """SageMaker reports "CapacityError" as a failed job, not as a launch error: the fallback still applies."""
    s = spec.updated(provider=["busy", "spare"], provider_options={"busy": {"end_state": "capacity"}})
    rec = jobs.submit(s).record
    assert rec.provider == "busy"
    lines = []
    done = jobs.follow(rec.id, store=JobStore(), interval=0, on_log=lines.append)
    assert done.state == "succeeded" and done.provider == "spare" and done.handle.remote_id == f"spare-{rec.id}"
    skipped = {c["provider"]: c["skipped"] for c in done.choice}
    assert skipped == {"busy": "failed after launch: CapacityError: no capacity for fake.gpu", "spare": ""}
    assert lines[0] == "anytune: busy failed after launch: CapacityError: no capacity for fake.gpu; moved to spare"
    assert f"job {rec.id} queued" in lines[1]  # then the new provider's own log, from its start
    assert jobs.retrieve(rec.id).files


def test_a_capacity_failure_with_no_candidate_left_fails_the_job(spec, two_clouds):
    rec = jobs.submit(spec.updated(provider="busy", provider_options={"busy": {"end_state": "capacity"}})).record
    done = jobs.follow(rec.id, interval=0)
    assert done.state == "failed" and done.provider == "busy" and "CapacityError" in done.message
    assert done.choice[0]["skipped"].startswith("failed after launch: CapacityError")


def test_a_candidate_that_is_no_longer_ready_is_not_launched(spec, two_clouds):
    s = spec.updated(provider=["busy", "spare"], provider_options={"busy": {"end_state": "capacity"}})
    rec = jobs.submit(s).record
    # between launch and failure the second cloud's credentials went away
    spare_unready = {**s.provider_options, "spare": {"unready": "no credentials"}}
    JobStore().update(rec.id, spec_json=s.updated(provider_options=spare_unready).model_dump_json())
    done = jobs.follow(rec.id, interval=0)
    assert done.state == "failed" and done.provider == "busy"
    assert done.message.startswith("CapacityError: no capacity") and "no fallback" in done.message
    assert "no credentials" in done.message


def test_multi_node_is_claimed_only_by_a_provider_that_says_so(spec, two_clouds):
    """A provider lists what it cannot do and claims the rest; multi_node is the exception (provider.OPT_IN):
    a plugin written before it existed never listed it, and must not be sent a job for several machines."""
    from anytune.provider import OPT_IN_REASON, Capability, Provider

    class Old(Provider):  # lists what it cannot do, the usual way, and says nothing of machines
        name, unsupported = "old", {Capability.SPOT: "no spot"}

    class Listed(Provider):  # lists what it can do, the older way
        name, capabilities = "listed", frozenset({Capability.LORA, Capability.MULTI_NODE})

    class Claims(Old):
        name, claims = "claims", frozenset({Capability.MULTI_NODE})

    assert Old.unsupported[Capability.MULTI_NODE] == OPT_IN_REASON and Capability.SPOT in Old.unsupported
    assert Capability.MULTI_NODE in Listed.capabilities and Capability.MULTI_NODE in Claims.capabilities
    assert Claims.unsupported == {Capability.SPOT: "no spot"}
    assert Capability.MULTI_NODE not in fake.FakeProvider.capabilities
    two = spec.updated(provider=["busy", "spare"], compute={"nodes": 2})
    assert Old.cannot(two) == [f"compute.nodes: 2: {OPT_IN_REASON}"] and Claims.cannot(two) == []
    with pytest.raises(ConfigError, match="compute.nodes: 2: this provider trains on one machine"):
        jobs.submit(two)  # the fake providers do not claim it: nothing launches
