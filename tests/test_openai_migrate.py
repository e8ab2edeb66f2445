"""``anytune openai migrate`` against ``anytune serve`` standing in for OpenAI (the official openai client on
both sides): jobs listed, files downloaded, specs written, the old ft: model's answers recorded as references
and the new model's evaluation scored against them; a job whose file was deleted, a restricted key, a wrong key."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import openai
import pytest

from anytune.serve import config as cfg
from anytune.serve.testing import TEST_KEY, serve_thread, wait_job
from anytune.spec import load_spec
from anytune.testing.tiny_model import SUPPORT_ANSWERS, write_tiny_data

pytestmark = pytest.mark.slow
INFERENCE_ONLY = "sk-anytune-inference-only-0123456789"


def cli(*args: str, key: str = TEST_KEY) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "250", "TEAM_OPENAI_KEY": key}
    return subprocess.run([sys.executable, "-m", "anytune.cli", *args], capture_output=True, text=True,
                          timeout=600, env=env)


@pytest.fixture(scope="module")
def openai_stand_in(tmp_path_factory, tiny_model):
    """Two succeeded jobs on the stand-in: "support" (with a validation file) and "gone" (its training
    file deleted afterwards, as happens at OpenAI)."""
    root = tmp_path_factory.mktemp("oai")
    config = cfg.ServeConfig(home=root / "serve", api_keys=(TEST_KEY, INFERENCE_ONLY), models={"tiny": tiny_model},
                             key_scopes={INFERENCE_ONLY: frozenset({"inference"})}, method="full",
                             learning_rate=1e-2, poll_interval=0.2)
    data = write_tiny_data(root / "data", train=64, validation=8, test=0)
    other = write_tiny_data(root / "other", train=16, validation=0, test=0, seed=1)
    with serve_thread(config) as url:
        api = openai.OpenAI(base_url=url, api_key=TEST_KEY, max_retries=0)
        train = api.files.create(file=open(data["train"], "rb"), purpose="fine-tune")
        valid = api.files.create(file=open(data["validation"], "rb"), purpose="fine-tune")
        gone = api.files.create(file=open(other["train"], "rb"), purpose="fine-tune")
        a = api.fine_tuning.jobs.create(model="tiny", training_file=train.id, validation_file=valid.id, seed=7,
                                        suffix="support", method={"type": "supervised", "supervised": {
                                            "hyperparameters": {"n_epochs": 16, "batch_size": 8,
                                                                "learning_rate_multiplier": 1.0}}})
        b = api.fine_tuning.jobs.create(model="tiny", training_file=gone.id, suffix="gone", method={
            "type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 1, "batch_size": 8}}})
        pref = api.files.create(file=open(_preference_file(root / "pref.jsonl"), "rb"), purpose="fine-tune")
        d = api.fine_tuning.jobs.create(model="tiny", training_file=pref.id, suffix="prefs", method={
            "type": "dpo", "dpo": {"hyperparameters": {"n_epochs": 1, "batch_size": 8, "beta": 0.3}}})
        a, b, d = wait_job(api, a.id), wait_job(api, b.id), wait_job(api, d.id)
        assert a.status == b.status == d.status == "succeeded", (a.error, b.error, d.error)
        api.files.delete(gone.id)
        yield url, a, b, d, tiny_model


def _preference_file(path):
    topics = sorted(SUPPORT_ANSWERS)
    with open(path, "w") as f:
        for i in range(16):
            f.write(json.dumps({"input": {"messages": [{"role": "system", "content": "You are the help desk."},
                                                       {"role": "user", "content": f"my {topics[i % 4]} broke"}]},
                                "preferred_output": [{"role": "assistant", "content": SUPPORT_ANSWERS[topics[i % 4]]}],
                                "non_preferred_output": [{"role": "assistant", "content": "No idea."}]}) + "\n")
    return path


def test_migrate_writes_specs_with_references_and_says_what_did_not_carry(openai_stand_in, tmp_path):
    url, a, b, d, tiny_model = openai_stand_in
    out = tmp_path / "migrated"
    r = cli("openai", "migrate", "--base-model", str(tiny_model), "--method", "full", "--learning-rate", "1e-2",
            "--evaluate", "--max-examples", "8", "--max-tokens", "40", "-o", str(out), "--base-url", url,
            "--api-key-env", "TEAM_OPENAI_KEY")
    print(r.stdout, r.stderr)
    assert r.returncode == 1  # one of the two jobs could not be migrated, and the table says why
    assert a.id in r.stdout and a.fine_tuned_model in r.stdout
    assert b.id in r.stdout and "not written" in r.stdout and b.training_file in r.stdout and "404" in r.stdout
    folder = out / f"support-{a.id.removeprefix('ftjob-')[:8]}"
    assert sorted(p.name for p in folder.iterdir()) == ["job.yaml", "references.jsonl", "train.jsonl",
                                                        "validation.jsonl"]
    prefs = out / f"prefs-{d.id.removeprefix('ftjob-')[:8]}"
    assert sorted(p.name for p in out.iterdir()) == sorted([folder.name, prefs.name])  # none half-written for b
    dpo = load_spec(prefs / "job.yaml")
    assert dpo.objective == "dpo" and dpo.hyperparameters.beta == 0.3 and dpo.data.format == "preference"
    pair = json.loads((prefs / "train.jsonl").read_text().splitlines()[0])
    assert [m["role"] for m in pair["prompt"]] == ["system", "user"] and pair["rejected"] == "No idea."
    assert "anytune eval JOB --data references.jsonl" in r.stderr  # a dpo job's references are for `eval`
    spec = load_spec(folder / "job.yaml")
    assert spec.base_model == str(tiny_model) and spec.method == "full" and spec.provider == "local"
    hp = spec.hyperparameters
    assert (hp.epochs, hp.batch_size, hp.gradient_accumulation, hp.seed, hp.learning_rate) == (16, 8, 1, 7, 1e-2)
    assert spec.data.validation.endswith("validation.jsonl") and spec.data.test.endswith("references.jsonl")
    train = [json.loads(x) for x in (folder / "train.jsonl").read_text().splitlines()]
    assert len(train) == 64 and train[0]["messages"][-1]["role"] == "assistant"
    refs = [json.loads(x) for x in (folder / "references.jsonl").read_text().splitlines()]
    assert len(refs) == 8
    learned = [m["messages"][-1]["content"] for m in refs]
    assert sum(any(t.startswith(v[:20]) for v in SUPPORT_ANSWERS.values()) for t in learned) >= 6, learned
    for f in folder.iterdir():  # the key is never written
        assert TEST_KEY not in f.read_text()


def test_the_migrated_spec_trains_and_is_scored_against_the_old_models_answers(openai_stand_in, tmp_path):
    pytest.importorskip("anytune_local")
    url, a, _, _, tiny_model = openai_stand_in
    out = tmp_path / "migrated"
    r = cli("openai", "migrate", "--job", a.id, "--base-model", str(tiny_model), "--method", "full",
            "--learning-rate", "1e-2", "--evaluate", "--max-examples", "8", "--max-tokens", "40", "-o", str(out),
            "--base-url", url, "--api-key-env", "TEAM_OPENAI_KEY")
    assert r.returncode == 0, r.stdout + r.stderr
    spec_path = next(out.glob("*/job.yaml"))
    run = subprocess.run([sys.executable, "-m", "anytune.cli", "run", str(spec_path), "-y", "-q",
                          "-o", str(tmp_path / "model")], capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr
    result = json.loads((tmp_path / "model" / "eval.json").read_text())
    print(json.dumps({k: v for k, v in result["metrics"].items()}, indent=1))
    assert result["split"] == "test" and result["examples"] == 8
    f1 = result["metrics"]["token_f1"]
    assert f1["tuned"] > 0.8 and f1["tuned"] > f1["base"]  # the new model answers like the one it replaces


def test_a_restricted_key_and_a_wrong_key_say_so_in_one_line(openai_stand_in, tmp_path):
    url, _, _, _, tiny_model = openai_stand_in
    args = ("openai", "migrate", "--base-model", str(tiny_model), "-o", str(tmp_path / "m"), "--base-url", url,
            "--api-key-env", "TEAM_OPENAI_KEY")
    restricted = cli(*args, key=INFERENCE_ONLY)
    assert restricted.returncode != 0 and "permission denied (403)" in restricted.stderr
    assert "Missing scopes: fine_tuning" in restricted.stderr and "Traceback" not in restricted.stderr
    wrong = cli(*args, key="sk-wrong-0123456789abcdef")
    assert wrong.returncode != 0 and "401" in wrong.stderr and "Traceback" not in wrong.stderr
    for r in (restricted, wrong):
        assert INFERENCE_ONLY not in r.stdout + r.stderr and "sk-wrong" not in r.stdout + r.stderr
    assert not (tmp_path / "m").exists()
