"""anytune serve's API without training: the official openai client against the server on 127.0.0.1,
responses validated with the SDK's own types, and every kind of bad input in OpenAI's error shape."""

from __future__ import annotations

import importlib.util
import json
import os
import stat
import time

import httpx
import openai
import pytest
from openai.types import FileObject
from openai.types.fine_tuning import FineTuningJob, FineTuningJobEvent

from anytune.errors import ConfigError
from anytune.serve import config as cfg
from anytune.serve.runner import micro_batch, resolve_hyperparameters
from anytune.serve.testing import TEST_KEY, serve_thread
from anytune.testing.imports import run_blocking
from anytune.testing.tiny_model import write_tiny_data


@pytest.fixture
def model_dir(tmp_path):
    d = tmp_path / "base-model"
    d.mkdir()
    (d / "config.json").write_text("{}")  # the server only checks that it is a model folder
    return d


@pytest.fixture
def config(tmp_path, model_dir):
    return cfg.ServeConfig(home=tmp_path / "serve", api_keys=(TEST_KEY,), models={"tiny": model_dir},
                           max_upload_bytes=64 * 1024, run_jobs=False)


@pytest.fixture
def server(config):
    with serve_thread(config) as url:
        yield url


@pytest.fixture
def client(server):
    return openai.OpenAI(base_url=server, api_key=TEST_KEY, max_retries=0)


@pytest.fixture
def raw(server):
    with httpx.Client(base_url=server, headers={"Authorization": f"Bearer {TEST_KEY}"}) as c:
        yield c


@pytest.fixture
def train_file(tmp_path):
    return write_tiny_data(tmp_path / "data", train=12, validation=0, test=0)["train"]


def assert_openai_error(resp: httpx.Response, status: int, *, param=None, code=None, says: str = ""):
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}, body
    err = body["error"]
    assert err["type"] == "invalid_request_error" and isinstance(err["message"], str) and err["message"]
    assert err["param"] == param and err["code"] == code, err
    assert says in err["message"], err["message"]
    return err


# --- auth ------------------------------------------------------------------------------------------


def test_wrong_api_key_is_401(server):
    bad = openai.OpenAI(base_url=server, api_key="sk-wrong-key-00000000000", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as info:
        bad.models.list()
    assert info.value.code == "invalid_api_key"
    resp = httpx.get(f"{server}/models", headers={"Authorization": "Bearer sk-wrong-key-00000000000"})
    err = assert_openai_error(resp, 401, code="invalid_api_key", says="Incorrect API key")
    assert "sk-wrong" not in err["message"]  # the key is never echoed


def test_missing_api_key_is_401(server):
    assert_openai_error(httpx.get(f"{server}/fine_tuning/jobs"), 401, says="didn't provide an API key")


# --- files -----------------------------------------------------------------------------------------


def test_file_upload_list_retrieve_content_delete(client, raw, train_file):
    made = client.files.create(file=open(train_file, "rb"), purpose="fine-tune")
    resp = raw.get(f"/files/{made.id}")
    FileObject.model_validate(resp.json())  # the exact shape the SDK declares
    assert resp.json()["bytes"] == train_file.stat().st_size and resp.json()["filename"] == "train.jsonl"
    listed = client.files.list(purpose="fine-tune")
    assert [f.id for f in listed.data] == [made.id]
    assert client.files.content(made.id).read() == train_file.read_bytes()
    assert client.files.delete(made.id).deleted is True
    with pytest.raises(openai.NotFoundError):
        client.files.retrieve(made.id)


def test_malformed_jsonl_is_400_naming_the_line(client, raw, tmp_path):
    bad = tmp_path / "bad.jsonl"
    good = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}
    bad.write_text(json.dumps(good) + "\n" + json.dumps(good) + "\n" + '{"messages": [oops\n')
    with pytest.raises(openai.BadRequestError) as info:
        client.files.create(file=open(bad, "rb"), purpose="fine-tune")
    assert "bad.jsonl:3" in info.value.message and info.value.param == "file"
    resp = raw.post("/files", files={"file": ("bad.jsonl", bad.read_bytes())}, data={"purpose": "fine-tune"})
    assert_openai_error(resp, 400, param="file", code="invalid_file_format", says="bad.jsonl:3: not valid JSON")
    assert client.files.list().data == []  # nothing was kept


@pytest.mark.parametrize("line, says", [
    ({"messages": [{"role": "user", "content": "hi", "weight": 1}, {"role": "assistant", "content": "x"}]},
     "weight is allowed on assistant messages only (field messages[0].weight)"),
    ({"messages": [{"role": "robot", "content": "hi"}]}, "role must be one of"),
    ({"messages": [{"role": "user", "content": "only a question"}]}, "an example needs at least one assistant message"),
    ({"text": "plain text"}, "not a fine-tuning example"),
    ([1, 2], "each line must be a JSON object, got list"),
])
def test_invalid_examples_are_400_naming_line_and_field(raw, line, says):
    good = json.dumps({"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]})
    body = (good + "\n" + json.dumps(line) + "\n").encode()
    resp = raw.post("/files", files={"file": ("d.jsonl", body)}, data={"purpose": "fine-tune"})
    assert_openai_error(resp, 400, param="file", code="invalid_file_format", says=f"d.jsonl:2: {says}")


def test_oversized_upload_is_413(client, raw):
    big = b'{"prompt": "' + b"x" * 100_000 + b'", "completion": "y"}\n'
    with pytest.raises(openai.APIStatusError) as info:
        client.files.create(file=("big.jsonl", big), purpose="fine-tune")
    assert info.value.status_code == 413
    assert_openai_error(raw.post("/files", files={"file": ("big.jsonl", big)}, data={"purpose": "fine-tune"}),
                        413, param="file", code="file_too_large", says="larger than this server accepts")


def test_oversized_upload_without_length_is_stopped_while_streaming(raw):
    """Chunked upload (no Content-Length): the server counts bytes as they arrive and stops at the limit."""
    boundary = "anytuneboundary"
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\nfine-tune\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.jsonl\"\r\n"
            "Content-Type: application/octet-stream\r\n\r\n").encode()

    def body():
        yield head
        for _ in range(400):  # 400 × 1 KiB lines = 400 KiB, over the 64 KiB limit
            yield b'{"prompt": "' + b"x" * 1000 + b'", "completion": "y"}\n'
        yield f"\r\n--{boundary}--\r\n".encode()

    resp = raw.post("/files", content=body(), headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert_openai_error(resp, 413, param="file", code="file_too_large")
    assert raw.get("/files").json()["data"] == []  # nothing was kept


def test_upload_needs_fine_tune_purpose(raw, train_file):
    resp = raw.post("/files", files={"file": ("t.jsonl", train_file.read_bytes())}, data={"purpose": "batch"})
    assert_openai_error(resp, 400, param="purpose", says="purpose='fine-tune'")


def test_unknown_file_is_404(client, raw):
    with pytest.raises(openai.NotFoundError):
        client.files.retrieve("file-nope")
    assert_openai_error(raw.get("/files/file-nope/content"), 404, param="id", says="file-nope")
    assert_openai_error(raw.delete("/files/file-nope"), 404, param="id")


# --- jobs ------------------------------------------------------------------------------------------


def test_job_create_list_events_cancel(client, raw, train_file):
    f = client.files.create(file=open(train_file, "rb"), purpose="fine-tune")
    job = client.fine_tuning.jobs.create(model="tiny", training_file=f.id, suffix="demo", seed=7,
                                         metadata={"anytune_job_id": "abc"},
                                         method={"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 2}}})
    got = raw.get(f"/fine_tuning/jobs/{job.id}").json()
    FineTuningJob.model_validate(got)
    assert got["status"] == "queued" and got["seed"] == 7 and got["hyperparameters"]["n_epochs"] == 2
    assert got["method"]["type"] == "supervised" and got["metadata"] == {"anytune_job_id": "abc"}
    other = client.fine_tuning.jobs.create(model="tiny", training_file=f.id)
    assert other.seed is not None and other.hyperparameters.n_epochs == "auto"

    assert [j.id for j in client.fine_tuning.jobs.list(limit=10)] == [other.id, job.id]  # newest first
    assert [j.id for j in client.fine_tuning.jobs.list(metadata={"anytune_job_id": "abc"}).data] == [job.id]
    assert client.fine_tuning.jobs.list(metadata={"anytune_job_id": "zzz"}).data == []
    page = client.fine_tuning.jobs.list(limit=1)
    assert page.has_more and [j.id for j in page.data] == [other.id]
    assert [j.id for j in page.get_next_page().data] == [job.id]

    events = raw.get(f"/fine_tuning/jobs/{job.id}/events").json()
    for e in events["data"]:
        FineTuningJobEvent.model_validate(e)
    assert [e["message"] for e in events["data"]][0] == "Files validated, moving job to queued state"

    with pytest.raises(openai.BadRequestError) as info:  # the file is in use by an unfinished job
        client.files.delete(f.id)
    assert job.id in info.value.message or other.id in info.value.message
    assert client.fine_tuning.jobs.cancel(job.id).status == "cancelled"
    with pytest.raises(openai.BadRequestError):
        client.fine_tuning.jobs.cancel(job.id)
    messages = [e.message for e in client.fine_tuning.jobs.list_events(job.id)]
    assert messages[0] == "Fine-tuning job cancelled"
    assert client.fine_tuning.jobs.checkpoints.list(job.id).data == []


def test_unknown_job_is_404(client, raw):
    for call in (lambda: client.fine_tuning.jobs.retrieve("ftjob-nope"),
                 lambda: client.fine_tuning.jobs.cancel("ftjob-nope"),
                 lambda: client.fine_tuning.jobs.list_events("ftjob-nope"),
                 lambda: client.fine_tuning.jobs.checkpoints.list("ftjob-nope")):
        with pytest.raises(openai.NotFoundError):
            call()
    assert_openai_error(raw.get("/fine_tuning/jobs/ftjob-nope"), 404, param="fine_tuning_job_id", says="ftjob-nope")
    assert_openai_error(raw.get("/no/such/route"), 404, says="Invalid URL (GET /v1/no/such/route)")


def test_job_create_validation(client, raw, train_file, tmp_path):
    f = client.files.create(file=open(train_file, "rb"), purpose="fine-tune")
    few = write_tiny_data(tmp_path / "few", train=3, validation=0, test=0)["train"]
    small = client.files.create(file=open(few, "rb"), purpose="fine-tune")
    cases = [
        ({"model": "gpt-4o-mini", "training_file": f.id}, "model", "model_not_available", "not available"),
        ({"model": "tiny", "training_file": "file-nope"}, "training_file", "invalid_training_file", "file-nope"),
        ({"model": "tiny", "training_file": small.id}, "training_file", "invalid_training_file", "at least 10"),
        ({"model": "tiny", "training_file": f.id, "method": {"type": "dpo"}}, "method.type", None, "needs preference"),
        ({"model": "tiny", "training_file": f.id, "nonsense": 1}, "nonsense", None, "Unrecognized request argument"),
        ({"model": "tiny", "training_file": f.id, "method": {"type": "supervised", "supervised": {
            "hyperparameters": {"n_epochs": 0}}}}, "method.supervised.hyperparameters.n_epochs", None, "greater than"),
        ({"model": "tiny", "training_file": f.id, "suffix": "s" * 65}, "suffix", None, "at most 64"),
        ({"model": "ft:tiny:anytune::x", "training_file": f.id}, "model", "model_not_available", "does not exist"),
        ({"model": "tiny", "training_file": f.id, "method": {"type": "reinforcement"}}, "method.type",
         "unsupported_method", "not supported"),
    ]
    for body, param, code, says in cases:
        assert_openai_error(raw.post("/fine_tuning/jobs", json=body), 400, param=param, code=code, says=says)
    assert_openai_error(raw.post("/fine_tuning/jobs", content=b"{not json", headers={"Content-Type": "application/json"}),
                        400, code="invalid_json")
    assert client.fine_tuning.jobs.list().data == []


def test_model_folder_path_is_accepted(client, train_file, model_dir):
    f = client.files.create(file=open(train_file, "rb"), purpose="fine-tune")
    job = client.fine_tuning.jobs.create(model=str(model_dir), training_file=f.id)
    assert job.model == str(model_dir) and job.status == "queued"


def test_models_list_and_retrieve(client):
    assert [m.id for m in client.models.list()] == ["tiny"]
    assert client.models.retrieve("tiny").owned_by == "anytune"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("ft:none")


def test_restarted_server_keeps_files_and_jobs(config, train_file):
    with serve_thread(config) as url:
        c = openai.OpenAI(base_url=url, api_key=TEST_KEY, max_retries=0)
        f = c.files.create(file=open(train_file, "rb"), purpose="fine-tune")
        job = c.fine_tuning.jobs.create(model="tiny", training_file=f.id)
    with serve_thread(config) as url:  # a new process would find the same: everything is in SQLite + files
        c = openai.OpenAI(base_url=url, api_key=TEST_KEY, max_retries=0)
        again = c.fine_tuning.jobs.retrieve(job.id)
        assert again.status == "queued" and again.training_file == f.id and again.seed == job.seed
        assert c.files.content(f.id).read() == train_file.read_bytes()
        assert len(list(c.fine_tuning.jobs.list_events(job.id))) == 2


# --- pieces ----------------------------------------------------------------------------------------


def test_auto_hyperparameters_follow_openai_rules(config):
    assert resolve_hyperparameters({}, 20, config) == {"n_epochs": 5, "batch_size": 1, "learning_rate_multiplier": 1.0}
    assert resolve_hyperparameters({}, 1000, config)["n_epochs"] == 3
    assert resolve_hyperparameters({}, 50_000, config) == {"n_epochs": 1, "batch_size": 100,
                                                           "learning_rate_multiplier": 1.0}
    assert resolve_hyperparameters({"n_epochs": 2, "batch_size": 12, "learning_rate_multiplier": 0.5}, 20, config) == {
        "n_epochs": 2, "batch_size": 12, "learning_rate_multiplier": 0.5}
    assert micro_batch(12, 8) == (6, 2) and micro_batch(7, 8) == (7, 1) and micro_batch(256, 8) == (8, 32)


def test_keys_from_env_and_file(tmp_path, monkeypatch):
    monkeypatch.setenv(cfg.KEYS_ENV, "sk-aaaaaaaaaaaaaaaaaaaa, sk-bbbbbbbbbbbbbbbbbbbb")
    path = cfg.new_key(tmp_path / "keys")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    keys = cfg.load_keys(path)
    assert len(keys) == 3 and keys[:2] == ("sk-aaaaaaaaaaaaaaaaaaaa", "sk-bbbbbbbbbbbbbbbbbbbb")
    monkeypatch.setenv(cfg.KEYS_ENV, "short")
    with pytest.raises(ConfigError, match="shorter than 16"):
        cfg.load_keys(path)
    monkeypatch.delenv(cfg.KEYS_ENV)
    with pytest.raises(ConfigError, match="at least one API key"):
        cfg.ServeConfig(home=tmp_path, api_keys=cfg.load_keys())
    assert "sk-" not in repr(cfg.ServeConfig(home=tmp_path, api_keys=keys))


def test_restricted_keys_call_only_their_scopes(tmp_path, model_dir):
    text = "sk-full-0123456789abcdef  # everything\nsk-app-0123456789abcdef scopes=models,inference\n"
    keys = cfg.parse_scoped_keys(text)
    assert keys == {"sk-full-0123456789abcdef": None, "sk-app-0123456789abcdef": frozenset({"models", "inference"})}
    with pytest.raises(ConfigError, match="unknown scope"):
        cfg.parse_scoped_keys("sk-x-0123456789abcdef scopes=models,admin")
    config = cfg.ServeConfig(home=tmp_path / "s", api_keys=tuple(keys), run_jobs=False,
                             key_scopes={k: v for k, v in keys.items() if v}, models={"tiny": model_dir})
    with serve_thread(config) as url:
        app = {"Authorization": "Bearer sk-app-0123456789abcdef"}
        assert httpx.get(f"{url}/models", headers=app).status_code == 200
        denied = httpx.get(f"{url}/fine_tuning/jobs", headers=app)
        assert_openai_error(denied, 403, code="insufficient_permissions", says="Missing scopes: fine_tuning")
        assert_openai_error(httpx.get(f"{url}/files", headers=app), 403, code="insufficient_permissions",
                            says="Missing scopes: files")
        full = {"Authorization": "Bearer sk-full-0123456789abcdef"}
        assert httpx.get(f"{url}/fine_tuning/jobs", headers=full).status_code == 200


def test_model_aliases_must_be_model_folders(tmp_path, model_dir):
    assert cfg.parse_model_aliases([f"tiny={model_dir}"]) == {"tiny": model_dir.resolve()}
    with pytest.raises(ConfigError) as info:
        cfg.parse_model_aliases(["nopath", f"x={tmp_path}"])
    assert "alias=path" in str(info.value) and "no config.json" in str(info.value)


def test_serve_command_without_keys_exits_2(tmp_path):
    import subprocess
    import sys

    env = {"PATH": "/usr/bin:/bin", "ANYTUNE_HOME": str(tmp_path / "h"), "ANYTUNE_CONFIG_DIR": str(tmp_path / "c")}
    out = subprocess.run([sys.executable, "-m", "anytune.serve", "--port", "1"], capture_output=True, text=True,
                         env=env, timeout=60)
    assert out.returncode == 2 and "needs at least one API key" in out.stderr and "Traceback" not in out.stderr


def test_cli_and_format_modules_are_light():
    out = run_blocking("import anytune.cli_serve, anytune.serve, anytune.openai_format",
                       blocked=("fastapi", "uvicorn", "starlette", "openai", "torch", "transformers"))
    assert out.returncode == 0, out.stderr


def test_a_file_the_trainer_cannot_use_fails_the_job_like_openai(tmp_path, model_dir):
    """The upload follows OpenAI's rules, but anytune's data pipeline refuses it (tool messages): the job
    fails with OpenAI's error object, code invalid_training_file, and the reason in its events."""
    config = cfg.ServeConfig(home=tmp_path / "serve", api_keys=(TEST_KEY,), models={"tiny": model_dir},
                             poll_interval=0.1, jobs_db=tmp_path / "jobs.sqlite")
    line = {"messages": [{"role": "user", "content": "weather?"},
                         {"role": "assistant", "content": None, "tool_calls": [{"id": "c1", "type": "function",
                          "function": {"name": "weather", "arguments": "{}"}}]},
                         {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
                         {"role": "assistant", "content": "It is sunny."}]}
    data = tmp_path / "tools.jsonl"
    data.write_text((json.dumps(line) + "\n") * 12)
    with serve_thread(config) as url:
        client = openai.OpenAI(base_url=url, api_key=TEST_KEY, max_retries=0)
        f = client.files.create(file=open(data, "rb"), purpose="fine-tune")
        job = client.fine_tuning.jobs.create(model="tiny", training_file=f.id)
        for _ in range(300):
            raw = httpx.get(f"{url}/fine_tuning/jobs/{job.id}", headers={"Authorization": f"Bearer {TEST_KEY}"}).json()
            if raw["status"] not in ("queued", "running"):
                break
            time.sleep(0.1)
        done = FineTuningJob.model_validate(raw)
        assert done.status == "failed" and done.finished_at and done.fine_tuned_model is None
        assert done.error.code == "invalid_training_file" and done.error.param == "training_file"
        assert f"{f.id}:1: " in done.error.message and "every message needs text content" in done.error.message
        events = list(client.fine_tuning.jobs.list_events(job.id))
        assert events[0].level == "error" and events[0].message.startswith("Fine-tuning job failed:")


def test_engine_choice_is_checked_before_the_server_starts(tmp_path):
    import subprocess
    import sys

    for engine, says in (("vllm", "needs vLLM" if importlib.util.find_spec("vllm") is None else "CUDA GPU"),
                         ("tgi", "choose transformers or vllm")):
        r = subprocess.run([sys.executable, "-m", "anytune.cli", "serve", "--engine", engine, "--port", "0"],
                           capture_output=True, text=True, timeout=120, env={**os.environ, cfg.KEYS_ENV: TEST_KEY})
        assert r.returncode == 2 and says in r.stderr and "Traceback" not in r.stderr, r.stderr


def test_gpus_pins_one_job_per_gpu_where_the_provider_can(monkeypatch, with_fake):
    """`--gpus 2` on local: two trainings at once, each given one GPU through its visible_devices option;
    a provider without that option runs one at a time, and says so."""
    from typer.testing import CliRunner

    import anytune.cli_serve as cli_serve
    from anytune.cli import app

    started = []
    monkeypatch.setattr(cli_serve, "run", lambda config, host, port: started.append(config))
    monkeypatch.setenv(cfg.KEYS_ENV, TEST_KEY)
    res = CliRunner().invoke(app, ["serve", "--gpus", "2", "--provider", "local"])
    assert res.exit_code == 0, res.output
    assert (started[-1].slots, started[-1].devices) == (2, ("0", "1"))
    local = with_fake.get_class("local")
    assert [local({"visible_devices": d}).options.visible_devices for d in started[-1].devices] == ["0", "1"]

    res = CliRunner().invoke(app, ["serve", "--gpus", "2", "--provider", "fake"])
    assert res.exit_code == 0, res.output
    assert (started[-1].slots, started[-1].devices) == (1, ())
    assert "cannot pin a job to one GPU" in res.output


def test_hostile_nesting_is_400_not_500(raw):
    """A JSONL upload nested 30,000 deep (within this server's upload limit), and a request body nested as
    deep: refused as bad input."""
    deep = "[" * 30_000 + "]" * 30_000
    resp = raw.post("/files", files={"file": ("deep.jsonl", (deep + "\n").encode())}, data={"purpose": "fine-tune"})
    assert_openai_error(resp, 400, param="file", code="invalid_file_format", says="deep.jsonl:1: JSON nested too deeply")
    body = '{"model": "tiny", "training_file": "file-x", "hyperparameters": ' + deep + "}"
    resp = raw.post("/fine_tuning/jobs", content=body, headers={"Content-Type": "application/json"})
    assert resp.status_code == 400, resp.text
    assert resp.json()["error"]["type"] == "invalid_request_error"
