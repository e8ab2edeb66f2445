"""The OpenAI provider through anytune's own lifecycle (submit -> follow -> retrieve), with ``anytune serve``
as the endpoint: what a team does when it moves off OpenAI onto its own GPUs."""

from __future__ import annotations

import json

import openai
import pytest
from anytune_openai.provider import OpenAIProvider

from anytune import jobs
from anytune.data import prepare
from anytune.spec import DataSpec, Hyperparameters, JobSpec
from anytune.testing.tiny_model import write_tiny_data


@pytest.fixture
def spec(tiny, tmp_path, serve_options):
    files = write_tiny_data(tmp_path / "source", train=24, validation=8, test=0)
    return JobSpec(name="support-bot", base_model=str(tiny), provider="openai",
                   provider_options={"openai": {**serve_options, "suffix": "helpdesk"}},
                   data=DataSpec(train=str(files["train"]), validation=str(files["validation"]), test="none"),
                   hyperparameters=Hyperparameters(epochs=1, batch_size=4), output_dir=str(tmp_path / "out"))


def test_an_upload_the_endpoint_lost_is_sent_again(spec, serve_options, serve, tmp_path):
    provider = OpenAIProvider(serve_options)
    prepared = prepare(spec, tmp_path / "data")
    first = provider.upload(spec, prepared)
    assert first.bytes_sent > 0 and set(first.uris) == {"train", "validation"}
    client = openai.OpenAI(base_url=serve.url, api_key=serve.key)
    assert client.files.content(first.uris["train"]).text.startswith('{"messages":')
    client.files.delete(first.uris["train"])
    second = provider.upload(spec, prepared)
    assert second.uris["validation"] == first.uris["validation"]  # still there: reused
    assert second.uris["train"] != first.uris["train"] and second.bytes_sent > 0  # gone: uploaded again


@pytest.mark.slow
def test_submit_follow_retrieve_through_anytune_serve(spec, tmp_path):
    sub = jobs.submit(spec)
    rec = sub.record
    assert sub.plan.viable[0].estimate.total.amount == 0  # priced as unknown at a non-OpenAI endpoint
    assert rec.handle.remote_id.startswith("ftjob-")
    lines = []
    done = jobs.follow(rec.id, interval=0.3, on_log=lines.append)
    assert done.state == "succeeded", (done.error, lines)
    assert any("Fine-tuning job started" in line for line in lines)
    assert any("New fine-tuned model created: ft:tiny:anytune:helpdesk:" in line for line in lines)
    provider = jobs.provider_for(done)
    everything = provider.logs(done.handle)
    assert provider.logs(done.handle, everything.cursor).lines == ()  # nothing new after the last event

    artifact = jobs.retrieve(rec.id)
    assert artifact.kind == "remote" and artifact.remote_model_id.startswith("ft:tiny:anytune:helpdesk:")
    assert any("weights cannot be downloaded" in n for n in artifact.notes)
    out = spec.output_path(rec.id)  # output_dir has no {job_id}: tmp_path / "out"
    model = json.loads((out / "model.json").read_text())
    assert model["fine_tuned_model"] == artifact.remote_model_id and "weights cannot be downloaded" in model["note"]
    checkpoints = json.loads((out / "checkpoints.json").read_text())
    assert [c["step_number"] for c in checkpoints] == [6]
    (csv_name,) = model["result_files"]
    assert (out / csv_name).read_text().startswith("step,epoch,train_loss")
    assert {f.path for f in artifact.files} == {"model.json", "checkpoints.json", csv_name}
