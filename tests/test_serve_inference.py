"""``anytune serve`` answers with what it trains: the official openai client fine-tunes the tiny model through
the server, then chats with the ``ft:`` model; streaming, adapters over one base, deletion, completions, errors."""

from __future__ import annotations

import openai
import pytest

from anytune.serve import config as cfg
from anytune.serve.testing import TEST_KEY, serve_thread, wait_job
from anytune.testing.tiny_model import write_tiny_adapter, write_tiny_data

pytestmark = pytest.mark.slow
QUESTION = "Ticket 77: my printer does not work, what should I do?"


def wait(client, job_id: str, timeout: float = 300):
    return wait_job(client, job_id, timeout)


@pytest.fixture(scope="module")
def served(tmp_path_factory, tiny_model):
    root = tmp_path_factory.mktemp("serve")
    config = cfg.ServeConfig(home=root / "serve", api_keys=(TEST_KEY,), models={"tiny": tiny_model}, method="full",
                             learning_rate=1e-2, poll_interval=0.2)
    data = write_tiny_data(root / "data", train=64, validation=8, test=0)
    with serve_thread(config) as url:
        client = openai.OpenAI(base_url=url, api_key=TEST_KEY, max_retries=0)
        train = client.files.create(file=open(data["train"], "rb"), purpose="fine-tune")
        job = client.fine_tuning.jobs.create(model="tiny", training_file=train.id, suffix="chat", seed=42, method={
            "type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 16, "batch_size": 8}}})
        done = wait(client, job.id)
        assert done.status == "succeeded", done.error
        yield client, done.fine_tuned_model, config, url, train.id


def test_train_then_chat_with_the_fine_tuned_model(served):
    client, ft, *_ = served
    reply = client.chat.completions.create(model=ft, messages=[{"role": "user", "content": QUESTION}],
                                           temperature=0, max_tokens=40)
    text = reply.choices[0].message.content
    print(f"{ft}: {text}")
    assert text.startswith("Switch the printer off and on"), text  # SUPPORT_ANSWERS["printer"], learned
    assert reply.choices[0].finish_reason == "stop" and reply.object == "chat.completion"
    assert reply.usage.prompt_tokens > 10 and 5 < reply.usage.completion_tokens <= 40
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + reply.usage.completion_tokens
    base = client.chat.completions.create(model="tiny", messages=[{"role": "user", "content": QUESTION}],
                                          temperature=0, max_tokens=12)
    assert base.choices[0].message.content != text and base.choices[0].finish_reason == "length"


def test_streaming_chunks_join_to_the_same_text(served):
    client, ft, *_ = served
    messages = [{"role": "user", "content": "Ticket 5: my vpn does not work, what should I do?"}]
    whole = client.chat.completions.create(model=ft, messages=messages, temperature=0, max_tokens=40)
    chunks = list(client.chat.completions.create(model=ft, messages=messages, temperature=0, max_tokens=40,
                                                 stream=True, stream_options={"include_usage": True}))
    pieces = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert len(pieces) > 3 and "".join(pieces) == whole.choices[0].message.content
    assert chunks[-1].usage is not None and chunks[-1].usage.prompt_tokens == whole.usage.prompt_tokens
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"


def test_two_adapters_over_one_loaded_base_answer_differently_and_delete_removes_one(served, tmp_path, tiny_model):
    client, _, config, url, _ = served
    import httpx

    from anytune.serve.db import ServeDB

    db = ServeDB(config.db_path)
    for seed in (1, 2):
        db.add_model(f"ft:tiny:anytune:a{seed}:x", str(write_tiny_adapter(tiny_model, tmp_path / f"a{seed}", seed=seed)),
                     "ftjob-x")
    answers = [client.chat.completions.create(model=f"ft:tiny:anytune:a{s}:x", temperature=0, max_tokens=12,
                                              messages=[{"role": "user", "content": QUESTION}]).choices[0].message.content
               for s in (1, 2)]
    assert answers[0] != answers[1]
    listed = {m.id for m in client.models.list()}
    assert {"tiny", "ft:tiny:anytune:a1:x", "ft:tiny:anytune:a2:x"} <= listed
    loaded = httpx.get(url.removesuffix("/v1") + "/health").json()["loaded"]
    assert [m for m in loaded if m["model"] == "tiny"] == [{"model": "tiny", "adapters": 2}]  # one base, two adapters
    deleted = client.models.delete("ft:tiny:anytune:a1:x")
    assert deleted.deleted and deleted.id == "ft:tiny:anytune:a1:x"
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="ft:tiny:anytune:a1:x", messages=[{"role": "user", "content": "hi"}])
    with pytest.raises(openai.PermissionDeniedError):
        client.models.delete("tiny")


def test_completions_and_n(served):
    client, ft, *_ = served
    r = client.completions.create(model="tiny", prompt="The printer", max_tokens=5, temperature=0)
    assert r.object == "text_completion" and r.choices[0].text and r.usage.completion_tokens == 5
    many = client.chat.completions.create(model=ft, n=3, temperature=0, max_tokens=8,
                                          messages=[{"role": "user", "content": QUESTION}])
    assert len(many.choices) == 3 and len({c.message.content for c in many.choices}) == 1  # greedy: the same


def test_bad_requests_in_openai_shape(served):
    client, ft, config, url, _ = served
    msg = [{"role": "user", "content": "hi"}]
    with pytest.raises(openai.NotFoundError) as e:
        client.chat.completions.create(model="gpt-9", messages=msg)
    assert e.value.code == "model_not_found"
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model=ft, messages=msg, max_tokens=100_000)
    assert e.value.param == "max_tokens"
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model=ft, messages=[{"role": "user", "content": "word " * 600}], max_tokens=50)
    assert e.value.code == "context_length_exceeded"
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model=ft, messages=[{"role": "robot", "content": "hi"}])
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model=ft, messages=[])
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=url, api_key="sk-wrong", max_retries=0).chat.completions.create(model=ft, messages=msg)


def test_inference_while_a_training_job_runs(served):
    client, ft, _, _, train_id = served
    job = client.fine_tuning.jobs.create(model="tiny", training_file=train_id, method={
        "type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 4, "batch_size": 8}}})
    seen_running = False
    for _ in range(20):
        reply = client.chat.completions.create(model=ft, messages=[{"role": "user", "content": QUESTION}],
                                               temperature=0, max_tokens=40)
        assert reply.choices[0].message.content.startswith("Switch the printer off and on")
        seen_running |= client.fine_tuning.jobs.retrieve(job.id).status == "running"
        if seen_running:
            break
    assert seen_running
    assert wait(client, job.id).status == "succeeded"


def _preference_file(path, n: int = 24):
    """OpenAI's preference format: input.messages, preferred_output, non_preferred_output."""
    import json

    from anytune.testing.tiny_model import SUPPORT_ANSWERS

    topics = sorted(SUPPORT_ANSWERS)
    with open(path, "w") as f:
        for i in range(n):
            topic, other = topics[i % 4], topics[(i + 1) % 4]
            f.write(json.dumps({
                "input": {"messages": [{"role": "user", "content": f"Ticket {i}: my {topic} does not work"}]},
                "preferred_output": [{"role": "assistant", "content": SUPPORT_ANSWERS[topic]}],
                "non_preferred_output": [{"role": "assistant", "content": SUPPORT_ANSWERS[other]}]}) + "\n")
    return path


def test_a_dpo_job_trains_from_the_fine_tuned_model_and_its_model_answers(served, tmp_path):
    """DPO (beta given) continues from the server's own ft: model, as OpenAI allows; the result answers."""
    client, ft, *_ = served
    pref = client.files.create(file=open(_preference_file(tmp_path / "pref.jsonl"), "rb"), purpose="fine-tune")
    job = client.fine_tuning.jobs.create(model=ft, training_file=pref.id, suffix="dpo", method={
        "type": "dpo", "dpo": {"hyperparameters": {"n_epochs": 2, "batch_size": 8, "beta": 0.2,
                                                "learning_rate_multiplier": 0.05}}})
    done = wait(client, job.id)
    assert done.status == "succeeded", done.error
    assert done.method.type == "dpo" and done.method.dpo.hyperparameters.beta == 0.2
    losses = [e.data["train_loss"] for e in client.fine_tuning.jobs.list_events(job.id, limit=100).data
              if e.type == "metrics"]
    print(f"dpo from {ft}: training loss per step (newest first) {losses}")
    assert losses and all(0 < x < 5 for x in losses)
    assert done.fine_tuned_model.startswith("ft:tiny:anytune:dpo:")  # named for the first base, as at OpenAI
    reply = client.chat.completions.create(model=done.fine_tuned_model, temperature=0, max_tokens=40,
                                           messages=[{"role": "user", "content": QUESTION}])
    print(f"{done.fine_tuned_model}: {reply.choices[0].message.content}")
    assert reply.choices[0].message.content.startswith("Switch the printer")  # still what it learned before


def test_continuing_from_a_lora_ft_model_trains_its_adapter_further(served, tmp_path, tiny_model):
    """A LoRA ft: model is continued as an adapter over the same base (init_adapter), not a new copy."""
    client, _, config, _, train_id = served
    from anytune.serve.db import ServeDB

    adapter = write_tiny_adapter(tiny_model, tmp_path / "lora", seed=5)
    ServeDB(config.db_path).add_model("ft:tiny:anytune:lora:y", str(adapter), "ftjob-gone")  # its job is gone
    job = client.fine_tuning.jobs.create(model="ft:tiny:anytune:lora:y", training_file=train_id, method={
        "type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 1, "batch_size": 8}}})
    done = wait(client, job.id)
    assert done.status == "succeeded", done.error
    # the server trains "full": the adapter was folded into its base, then every weight trained
    folder = ServeDB(config.db_path).model(done.fine_tuned_model)["path"]
    from pathlib import Path

    assert (Path(folder) / "model.safetensors").is_file()


def test_an_old_openai_model_name_can_be_served_by_a_retrained_model(tmp_path, tiny_model):
    """Applications keep their model string: --model 'ft:gpt-4o-mini-...=FOLDER' (here a LoRA adapter) answers
    under that name, over the shared base, through the same client call."""
    old_name = "ft:gpt-4o-mini-2024-07-18:acme:support:AbC123"
    adapter = write_tiny_adapter(tiny_model, tmp_path / "retrained", seed=9)
    models = cfg.parse_model_aliases([f"tiny={tiny_model}", f"{old_name}={adapter}"])
    config = cfg.ServeConfig(home=tmp_path / "serve", api_keys=(TEST_KEY,), models=models, run_jobs=False)
    with serve_thread(config) as url:
        client = openai.OpenAI(base_url=url, api_key=TEST_KEY, max_retries=0)
        assert {"tiny", old_name} <= {m.id for m in client.models.list()}
        msg = [{"role": "user", "content": QUESTION}]
        mine = client.chat.completions.create(model=old_name, messages=msg, temperature=0, max_tokens=12)
        base = client.chat.completions.create(model="tiny", messages=msg, temperature=0, max_tokens=12)
        assert mine.model == old_name and mine.choices[0].message.content != base.choices[0].message.content
        import httpx

        loaded = httpx.get(url.removesuffix("/v1") + "/health").json()["loaded"]
        assert loaded == [{"model": "tiny", "adapters": 1}]  # the adapter rides on the one loaded base
