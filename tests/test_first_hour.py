"""A newcomer's first hour (issue 14): each stumble found by trying the README as a new user, pinned."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from anytune.testing.imports import run_blocking

ROOT = Path(__file__).resolve().parents[1]
JOB = str(ROOT / "examples" / "quickstart" / "job.yaml")
SDKS = ("boto3", "botocore", "sagemaker", "google.cloud", "google.auth", "google.api_core", "azure", "openai", "ray")


def cli_without_sdks(*args: str) -> object:
    code = f"import sys; sys.argv = ['anytune', *{list(args)!r}]\nfrom anytune.cli import main\nmain()\n"
    return run_blocking(code, SDKS, env={**os.environ, "COLUMNS": "250"}, timeout=180)


def test_compare_shows_every_built_in_provider_without_any_cloud_sdk():
    r = cli_without_sdks("compare", JOB, "--json")
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)["providers"]
    assert {row["provider"] for row in rows} == {"local", "sagemaker", "vertex", "azureml", "openai", "ray"}
    assert all(row["fits"] for row in rows)


def test_a_missing_sdk_is_named_with_its_install_command_in_providers_and_at_dispatch():
    r = cli_without_sdks("providers", "--check")
    assert r.returncode == 0, r.stderr
    for name in ("sagemaker", "vertex", "azureml", "openai", "ray"):
        assert f"pip install 'anytune[{name}]'" in r.stdout, (name, r.stdout)
    r = cli_without_sdks("estimate", JOB, "-p", "sagemaker,local")
    assert r.returncode == 0, r.stderr
    assert "skipped: not ready: the boto3 package is not installed: pip install 'anytune[sagemaker]'" in r.stdout
    r = cli_without_sdks("estimate", JOB, "-p", "sagemaker")
    assert r.returncode == 1 and "pip install 'anytune[sagemaker]'" in r.stdout + r.stderr
    assert "Traceback" not in r.stderr


def _job(tmp_path, base_model: str, provider: str = "local") -> Path:
    data = tmp_path / "train.jsonl"
    data.write_text("".join(json.dumps({"prompt": f"q{i}", "completion": f"a{i}"}) + "\n" for i in range(30)))
    job = tmp_path / "job.yaml"
    job.write_text(f"name: t\nbase_model: {base_model}\ndata: {{train: {data}}}\nprovider: {provider}\n")
    return job


@pytest.mark.parametrize("base, says", [
    ("meta-llama/Llama-3.2-1B", "is not in this machine's Hugging Face cache and cannot be downloaded"),
    ("./no/such/model", "no such folder, and not a Hugging Face model id"),
])
def test_a_base_model_the_job_cannot_load_is_refused_before_launch(tmp_path, monkeypatch, base, says):
    pytest.importorskip("anytune_local")
    from typer.testing import CliRunner

    from anytune.cli import app
    from anytune.store import JobStore

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # no request leaves the machine in this test
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    for command in ("submit", "estimate"):
        r = CliRunner().invoke(app, [command, str(_job(tmp_path, base))])
        assert r.exit_code == 2 and isinstance(r.exception, SystemExit), (command, r.output)  # one line, no traceback
        assert says in " ".join(r.output.split()), (command, r.output)
    assert JobStore().list() == []


def test_a_folder_without_config_and_a_cached_hub_id(tmp_path, monkeypatch):
    from anytune.basemodel import locate
    from anytune.errors import ConfigError

    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="holds no config.json"):
        locate(str(tmp_path / "empty"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    snap = tmp_path / "hub" / "models--org--tiny" / "snapshots" / "abc123"
    snap.mkdir(parents=True)
    (snap / "config.json").write_text("{}")
    assert locate("org/tiny").kind == "cached" and locate("org/other").kind == "hub"


def test_a_cloud_fetches_hub_ids_itself_so_an_uncached_id_is_not_refused(tmp_path, monkeypatch, with_fake):
    from anytune import dispatch, jobs
    from anytune.spec import load_spec

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    spec = load_spec(_job(tmp_path, "Qwen/Qwen2.5-0.5B", provider="fake"))
    plan = dispatch.plan(spec, jobs.prepare_data(spec).stats)
    assert [c.name for c in plan.viable] == ["fake"]


def test_status_of_a_failed_job_exits_1(tmp_path, with_fake):
    from typer.testing import CliRunner

    from anytune import jobs
    from anytune.cli import app
    from anytune.spec import load_spec

    spec = load_spec(_job(tmp_path, "org/tiny", provider="fake"))
    spec = spec.updated(provider_options={"fake": {"end_state": "failed", "steps": 1}})
    rec = jobs.submit(spec).record
    jobs.follow(rec.id, interval=0)
    r = CliRunner().invoke(app, ["status", rec.id])
    assert r.exit_code == 1 and "failed" in r.output


@pytest.mark.parametrize("prompt, answer", [("question", "answer"), ("Question", "Answer"), ("input", "output"),
                                            ("instruction", "response"), ("prompt", "response"),
                                            ("Prompt", "Completion")])
@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_common_column_pairs_are_detected_and_reported(tmp_path, prompt, answer, suffix):
    from anytune.data import DataOptions, validate

    rows = {prompt: [f"How do I fix thing {i}?" for i in range(20)], answer: [f"Restart thing {i}." for i in range(20)]}
    path = tmp_path / f"d{suffix}"
    if suffix == ".csv":
        path.write_text(f"{prompt},{answer}\n" + "".join(f"{q},{a}\n" for q, a in zip(*rows.values(), strict=True)))
    else:
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.table(rows), path)
    report = validate(DataOptions(train=str(path), origin="cli"))
    assert report.ok, [d.text() for d in report.diagnostics.errors]
    assert report.examples == 20 and report.format == "prompt_completion"
    assert report.columns == {"prompt": prompt, "completion": answer}


def test_a_mapped_column_that_is_missing_names_the_real_columns_and_the_closest_in_the_users_syntax(tmp_path):
    from anytune.data import DataOptions, validate

    path = tmp_path / "d.csv"
    path.write_text("Question,Answer\n" + "".join(f"q{i},a{i}\n" for i in range(20)))
    cli = validate(DataOptions(train=str(path), columns={"prompt": "questoin", "completion": "answer"}, origin="cli"))
    text = " ".join(d.text() for d in cli.diagnostics.errors)
    assert "its columns: Question, Answer" in text and "did you mean 'Question' (-c prompt=Question)" in text
    spec = validate(DataOptions(train=str(path), columns={"prompt": "questoin", "completion": "answer"}))
    assert "(data.columns: {prompt: Question})" in " ".join(d.text() for d in spec.diagnostics.errors)
    ok = validate(DataOptions(train=str(path), columns={"prompt": "question", "completion": "answer"}))
    assert ok.ok and ok.examples == 20  # names match case-insensitively


def test_data_validate_on_a_missing_file_does_not_talk_about_a_job_spec(tmp_path):
    from typer.testing import CliRunner

    from anytune.cli_data import app

    r = CliRunner().invoke(app, ["validate", str(tmp_path / "nope.csv")])
    assert r.exit_code == 2 and "no such file or folder" in r.output and "spec" not in r.output


def test_jobs_shows_method_hyperparameters_losses_and_score_with_json(tmp_path, with_fake):
    from typer.testing import CliRunner

    from anytune import jobs
    from anytune.cli import app
    from anytune.spec import load_spec

    spec = load_spec(_job(tmp_path, "org/tiny", provider="fake"))
    spec = spec.updated(method="lora", hyperparameters={"epochs": 3, "learning_rate": 2e-4, "lora": {"r": 16}},
                        output_dir=str(tmp_path / "out" / "{job_id}"))
    rec = jobs.submit(spec).record
    jobs.follow(rec.id, interval=0)
    artifact = jobs.retrieve(rec.id)
    (Path(artifact.path) / "metrics.json").write_text(json.dumps({  # as the trainer writes it
        "eval_loss_after": 0.4321, "test_loss": 0.5, "evaluation": {"metrics": {"rouge_l": {"tuned": 0.71}}}}))
    r = CliRunner().invoke(app, ["jobs", "--json"])
    assert r.exit_code == 0, r.output
    (row,) = json.loads(r.output)
    assert row["name"] == "t" and row["method"] == "lora" and row["eval_loss"] == 0.4321
    assert row["hyperparameters"] == {"epochs": 3.0, "learning_rate": 2e-4, "batch_size": 16, "lora_r": 16}
    assert row["evaluation"] == {"rouge_l": 0.71} and row["test_loss"] == 0.5
    r = CliRunner().invoke(app, ["jobs"])
    for cell in ("lora r=16", "3 · 2e-04 · 16", "0.4321", "rouge_l 0.710"):
        assert cell in r.output, cell


def test_sdk_chatter_and_warnings_go_to_the_log_file_not_the_terminal(tmp_path):
    import subprocess
    import sys

    code = """
import logging, sys, warnings
import anytune.cli as cli
def app():
    logging.getLogger("azure.identity._credentials.chained").warning("DefaultAzureCredential failed to retrieve a token")
    warnings.warn("`is_gradient_checkpointing` is deprecated", FutureWarning)
    print("the one line")
cli.app = app
cli.main()
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                       env={**os.environ, "ANYTUNE_HOME": str(tmp_path)})
    assert r.returncode == 0 and r.stdout == "the one line\n" and r.stderr == "", r.stderr
    log = (tmp_path / "logs" / "anytune.log").read_text()
    assert "DefaultAzureCredential failed" in log and "is_gradient_checkpointing" in log


@pytest.mark.slow
def test_trainer_log_has_one_clean_line_per_event(tmp_path, tiny_model, tiny_data):
    import subprocess
    import sys

    from anytune.spec import JobSpec

    spec = JobSpec(name="t", base_model=str(tiny_model), data={"train": "x"}, method="lora",
                   hyperparameters={"epochs": 1, "batch_size": 8, "warmup_ratio": 0.2}, evaluation={"max_new_tokens": 4})
    (tmp_path / "spec.json").write_text(spec.model_dump_json())
    r = subprocess.run([sys.executable, "-m", "anytune.trainer", "--spec", str(tmp_path / "spec.json"),
                        "--train", str(tiny_data["train"]), "--validation", str(tiny_data["validation"]),
                        "--output", str(tmp_path / "out" / "model")], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    log = r.stdout + r.stderr
    assert "step 0/0" not in log and "before training: eval loss" in log
    assert "Warning" not in log and "model saved to" not in log, log
    assert "step 1/8 epoch 0.12 loss" in log and "lr 0.00e+00 (warmup starts at 0)" in log


def test_estimate_prints_no_none(tmp_path):
    pytest.importorskip("anytune_local")
    r = cli_without_sdks("estimate", JOB)
    assert r.returncode == 0, r.stderr
    assert "None" not in r.stdout, r.stdout


@pytest.mark.parametrize("provider, placeholders", [
    ("sagemaker", ["bucket = <bucket>", "role_arn = arn:aws:iam::<account>:role/<role_arn>", "region = us-east-1"]),
    ("vertex", ["staging_bucket = <staging_bucket>"]),
    ("azureml", ["subscription_id = <subscription_id>", "resource_group = <resource_group>",
                 "workspace = <workspace>"]),
])
def test_a_cloud_dry_run_without_settings_shows_the_request_with_marked_placeholders(provider, placeholders,
                                                                                   monkeypatch, tmp_path):
    from anytune import jobs
    from anytune.errors import AnytuneError
    from anytune.registry import get_registry
    from anytune.spec import load_spec

    if get_registry().get_class(provider).missing_sdk():
        pytest.skip(f"{provider}'s SDK is not installed")
    for var in ("AWS_REGION", "AWS_DEFAULT_REGION", "AZURE_SUBSCRIPTION_ID"):
        monkeypatch.delenv(var, raising=False)
    # No request may leave the machine: no cloud metadata servers, no credentials to find.
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("NO_GCE_CHECK", "True")
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "gcloud"))
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "none.json"))
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "my-project")
    sub = jobs.submit(load_spec(JOB), provider=provider, dry_run=True)
    assert sub.missing_settings == [f"provider_options.{provider}.{p}" for p in placeholders]
    from urllib.parse import unquote

    request = unquote(json.dumps(sub.dry_run, default=str))  # Azure's ARM path is URL-encoded
    for p in placeholders:
        value = p.split(" = ")[1]
        assert value in request, value
    with pytest.raises(AnytuneError, match="not set|missing"):  # a real submit still refuses
        jobs.submit(load_spec(JOB), provider=provider)


def test_openai_row_marks_a_substitute_model_and_says_why_the_learning_rate_is_not_sent():
    r = cli_without_sdks("compare", JOB, "--json")
    assert r.returncode == 0, r.stderr
    row = next(x for x in json.loads(r.stdout)["providers"] if x["provider"] == "openai")
    assert row["substitute"] == "gpt-4.1-mini-2025-04-14"
    notes = " ".join(row["notes"])
    assert "is not an OpenAI model: fine-tuning gpt-4.1-mini instead" in notes
    assert "learning_rate 0.002 is not sent" in notes and "learning_rate_multiplier" in notes
    local = next(x for x in json.loads(r.stdout)["providers"] if x["provider"] == "local")
    assert local["substitute"] is None
    table = cli_without_sdks("compare", JOB)
    assert "other model" in table.stdout
