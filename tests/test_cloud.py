"""Provider-neutral cloud mechanics (anytune.cloud): job names, storage layout, the trainer bundle,
local model folders, byte counting."""

from __future__ import annotations

import json
import re
import tarfile
import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st

from anytune.cloud.bundle import build_bundle, trainer_requirements
from anytune.cloud.layout import StorageLayout
from anytune.cloud.model import folder_hash, local_model_dir, model_files
from anytune.cloud.names import attempt_name, job_name
from anytune.cloud.retry import RetryPolicy
from anytune.cloud.transfer import transfer_progress
from anytune.spec import JobSpec

SAGEMAKER_NAME = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}")  # from SageMaker's service model


def test_job_names_are_the_id_when_it_fits():
    assert job_name("support-bot-20261121054000-a1b2c3") == "anytune-support-bot-20261121054000-a1b2c3"


def test_job_names_that_had_to_change_carry_a_hash():
    changed = job_name("My_Job.v2")
    assert changed.startswith("anytune-my-job-v2-") and len(changed) == len("anytune-my-job-v2-") + 8
    assert job_name("My_Job.v2") == changed != job_name("my-job-v2")
    long = job_name("x" * 200)
    assert len(long) == 63 and long != job_name("x" * 199)


@given(st.text(min_size=1, max_size=120))
def test_job_names_are_valid_and_deterministic(job_id):
    name = job_name(job_id)
    assert SAGEMAKER_NAME.fullmatch(name) and len(name) <= 63 and name == job_name(job_id)


def test_attempt_names_of_a_resumed_job():
    assert attempt_name("support-bot-1a2b3c4d") == job_name("support-bot-1a2b3c4d") == "anytune-support-bot-1a2b3c4d"
    assert attempt_name("support-bot-1a2b3c4d", 2) == "anytune-support-bot-1a2b3c4d-r2"
    with pytest.raises(ValueError):
        attempt_name("support-bot-1a2b3c4d", 0)


@given(st.text(min_size=1, max_size=120), st.integers(min_value=2, max_value=999))
def test_attempt_names_are_valid_and_distinct(job_id, attempt):
    name = attempt_name(job_id, attempt)
    assert SAGEMAKER_NAME.fullmatch(name) and len(name) <= 63 and name.endswith(f"-r{attempt}")
    assert name not in (job_name(job_id), attempt_name(job_id, attempt + 1))


@given(st.lists(st.text(min_size=1, max_size=80), min_size=2, max_size=12, unique=True))
def test_different_ids_get_different_names(ids):
    assert len({job_name(i) for i in ids}) == len(ids)


def test_layout():
    layout = StorageLayout("/teams/ml/")
    h = "ab" * 32
    assert layout.prefix == "teams/ml"
    assert layout.dataset(h, "train") == f"teams/ml/datasets/{h}/train.jsonl"
    assert layout.code(h, "sourcedir.tar.gz") == f"teams/ml/code/{h}/sourcedir.tar.gz"
    assert layout.model(h) == f"teams/ml/models/{h}/"
    assert layout.model(h, "sub/config.json") == f"teams/ml/models/{h}/sub/config.json"
    assert layout.output() == "teams/ml/output"
    assert layout.checkpoints("anytune-j") == "teams/ml/checkpoints/anytune-j"
    assert StorageLayout("").dataset(h, "test") == f"datasets/{h}/test.jsonl"
    for bad in (lambda: layout.dataset("../x", "train"), lambda: layout.dataset(h, "../train"),
                lambda: layout.model(h, "../up"), lambda: StorageLayout("a/../b"), lambda: layout.logs("a/b")):
        with pytest.raises(ValueError):
            bad()


@pytest.fixture
def spec(tmp_path):
    return JobSpec(name="bundle", base_model="some/model-1B", data={"train": "t.jsonl"},
                   provider_options={"sagemaker": {"bucket": "private-bucket"}})


def test_bundle_is_deterministic_and_complete(spec, tmp_path):
    a = build_bundle(spec, tmp_path / "a", extra_files={"entry.py": "print('hi')\n"})
    b = build_bundle(spec, tmp_path / "b", extra_files={"entry.py": "print('hi')\n"})
    assert a.sha256 == b.sha256 and a.path.read_bytes() == b.path.read_bytes()
    changed = build_bundle(spec.model_copy(update={"method": "full"}), tmp_path / "c",
                           extra_files={"entry.py": "print('hi')\n"})
    assert changed.sha256 != a.sha256
    with tarfile.open(a.path) as tar:
        members = {m.name: m for m in tar.getmembers()}
        spec_json = json.loads(tar.extractfile("spec.json").read())
    assert {"anytune/__init__.py", "anytune/trainer/cli.py", "requirements.txt", "spec.json", "entry.py"} <= set(members)
    assert not any("__pycache__" in n or n.startswith("anytune/testing/") for n in members)
    assert all(m.mtime == 0 and m.uid == 0 for m in members.values())
    assert spec_json["provider_options"] == {}, "provider settings stay out of the container"
    assert spec_json["base_model"] == "some/model-1B"


def test_requirements_leave_torch_to_the_container():
    reqs = trainer_requirements()
    names = {re.split(r"[\[<>=!~ ]", r)[0].lower() for r in reqs}
    assert "torch" not in names
    assert {"transformers", "peft", "accelerate", "pydantic", "pyyaml"} <= names, reqs
    assert not any("@" in r or ";" in r for r in reqs), "no direct references or markers"


def test_a_tracked_spec_brings_the_tracker_clients_into_the_container(spec, tmp_path):
    plain = build_bundle(spec, tmp_path / "a")
    tracked = build_bundle(JobSpec.model_validate({**spec.model_dump(), "tracking": {"wandb": {"project": "p"}}}),
                           tmp_path / "b")
    names = lambda b: {re.split(r"[\[<>=!~ ]", r)[0].lower() for r in b.requirements}  # noqa: E731
    assert not names(plain) & {"mlflow-skinny", "wandb"}
    assert {"mlflow-skinny", "wandb"} <= names(tracked)
    with tarfile.open(tracked.path) as tar:
        assert "wandb" in tar.extractfile("requirements.txt").read().decode()


def test_deepspeed_and_liger_specs_bring_their_packages_into_the_container(spec, tmp_path):
    names = lambda b: {re.split(r"[\[<>=!~ ]", r)[0].lower() for r in b.requirements}  # noqa: E731
    zero3 = JobSpec.model_validate({**spec.model_dump(), "compute": {"gpu_count": 8, "strategy": "deepspeed_zero3"}})
    assert "deepspeed" not in names(build_bundle(spec, tmp_path / "a"))
    assert "deepspeed" in names(build_bundle(zero3, tmp_path / "b"))
    assert "liger-kernel" not in names(build_bundle(spec, tmp_path / "a"))
    liger = JobSpec.model_validate({**spec.model_dump(), "hyperparameters": {"liger": True}})
    assert "liger-kernel" in names(build_bundle(liger, tmp_path / "c"))


def test_local_model_folder(tmp_path):
    model = tmp_path / "model"
    (model / "sub").mkdir(parents=True)
    (model / "config.json").write_text("{}")
    (model / "sub" / "w.bin").write_bytes(b"w")
    (model / ".cache").mkdir()
    (model / ".cache" / "x").write_text("skip")
    spec = JobSpec(name="m", base_model=str(model), data={"train": "t.jsonl"})
    assert local_model_dir(spec) == model.resolve()
    assert local_model_dir(spec.model_copy(update={"base_model": "org/hub-model"})) is None
    assert [rel for rel, _ in model_files(model)] == ["config.json", "sub/w.bin"]
    entries = [("config.json", "aa", 2), ("sub/w.bin", "bb", 1)]
    assert folder_hash(entries) == folder_hash(reversed(entries)) != folder_hash([("config.json", "ab", 2)])


def test_byte_counter_counts_across_threads():
    with transfer_progress("test", 1000) as counter:
        threads = [threading.Thread(target=lambda: [counter(1) for _ in range(250)]) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert counter.total == 1000


def test_retry_policy():
    assert RetryPolicy().attempts >= 1
    with pytest.raises(ValueError):
        RetryPolicy(attempts=0)


def test_bundle_takes_source_and_data_but_not_stray_files(tmp_path):
    from anytune.cloud.bundle import _source_files

    pkg = tmp_path / "anytune"
    for name in ("__init__.py", "data/catalog.json", "cli.py~", ".#cli.py", "cli.py.swp", "__pycache__/cli.pyc",
                 "testing/contract.py", "store.db"):
        (pkg / name).parent.mkdir(parents=True, exist_ok=True)
        (pkg / name).write_text("x")
    assert [name for name, _ in _source_files(pkg)] == ["anytune/__init__.py", "anytune/data/catalog.json"]
