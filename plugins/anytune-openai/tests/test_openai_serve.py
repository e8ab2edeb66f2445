"""The OpenAI provider through anytune's own lifecycle (submit -> follow -> retrieve), with ``anytune serve``
as the endpoint: what a team does when it moves off OpenAI onto its own GPUs."""

from __future__ import annotations

import json

import openai
import pytest
from anytune_openai.provider import OpenAIProvider

from anytune import jobs
from anytune.data import prepare


def test_an_upload_the_endpoint_lost_is_sent_again(serve_spec, serve_options, serve, tmp_path):
    provider = OpenAIProvider(serve_options)
    prepared = prepare(serve_spec, tmp_path / "data")
    first = provider.upload(serve_spec, prepared)
    assert first.bytes_sent > 0 and set(first.uris) == {"train", "validation"}
    client = openai.OpenAI(base_url=serve.url, api_key=serve.key)
    assert client.files.content(first.uris["train"]).text.startswith('{"messages":')
    client.files.delete(first.uris["train"])
    second = provider.upload(serve_spec, prepared)
    assert second.uris["validation"] == first.uris["validation"]  # still there: reused
    assert second.uris["train"] != first.uris["train"] and second.bytes_sent > 0  # gone: uploaded again


@pytest.mark.slow
def test_submit_follow_retrieve_through_anytune_serve(serve_spec, tmp_path):
    sub = jobs.submit(serve_spec)
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
    out = serve_spec.output_path(rec.id)  # output_dir has no {job_id}: tmp_path / "out"
    model = json.loads((out / "model.json").read_text())
    assert model["fine_tuned_model"] == artifact.remote_model_id and "weights cannot be downloaded" in model["note"]
    checkpoints = json.loads((out / "checkpoints.json").read_text())
    assert [c["step_number"] for c in checkpoints] == [6]
    (csv_name,) = model["result_files"]
    assert (out / csv_name).read_text().startswith("step,epoch,train_loss")
    assert {f.path for f in artifact.files} == {"model.json", "checkpoints.json", csv_name}
