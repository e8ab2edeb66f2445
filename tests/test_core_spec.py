import json

import pytest

from anytune.errors import ConfigError
from anytune.spec import ChooseSpec, JobSpec, json_schema, load_spec

GOOD = """\
name: demo
base_model: some/model
data:
  train: train.jsonl
  columns: {prompt: question, completion: answer}
method: lora
hyperparameters:
  epochs: 2
  lora: {r: 4}
provider: {choose: cheapest, candidates: [local, sagemaker]}
provider_options:
  sagemaker: {region: eu-west-1}
"""


def write(tmp_path, text, name="job.yaml"):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_loads_yaml_and_resolves_paths_next_to_the_job_file(tmp_path):
    (tmp_path / "train.jsonl").write_text("{}\n")
    spec = load_spec(write(tmp_path, GOOD))
    assert spec.data.train == str(tmp_path / "train.jsonl")
    assert spec.base_model == "some/model"  # not a path that exists: left as a hub id
    assert spec.hyperparameters.lora.r == 4 and spec.hyperparameters.lora.alpha == 16
    assert isinstance(spec.provider, ChooseSpec) and spec.candidates == ["local", "sagemaker"]
    assert spec.options_for("sagemaker") == {"region": "eu-west-1"}


def test_every_problem_is_reported_with_its_yaml_line(tmp_path):
    bad = GOOD.replace("epochs: 2", "epochs: -2\n  learnig_rate: 1").replace("method: lora", "method: lora2")
    with pytest.raises(ConfigError) as info:
        load_spec(write(tmp_path, bad))
    text = str(info.value)
    assert f"{tmp_path / 'job.yaml'}:6: method:" in text
    assert ":8: hyperparameters.epochs: Input should be greater than 0" in text
    assert ":9: hyperparameters.learnig_rate: unknown key" in text
    assert len(info.value.problems) == 3


def test_python_construction_and_frozen():
    spec = JobSpec(name="x", base_model="m", data={"train": "t.csv"}, provider=["sagemaker", "local"])
    assert spec.candidates == ["sagemaker", "local"] and not spec.choose_cheapest
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="frozen"):
        spec.name = "y"
    assert spec.spec_hash() == JobSpec.model_validate_json(spec.model_dump_json()).spec_hash()


@pytest.mark.parametrize("text, fragment", [
    ("- just\n- a list\n", "must be a mapping"),
    ("name: [unclosed\n", "not valid YAML"),
    ("name: 'bad name!'\nbase_model: m\ndata: {train: t}\n", "name: String should match pattern"),
    ("name: n\nbase_model: m\ndata: {train: t, split: [0.5, 0.1, 0.1]}\n", "sum to 1"),
    ("name: n\nbase_model: m\ndata: {train: t}\nprovider: []\n", "provider"),
])
def test_bad_specs(tmp_path, text, fragment):
    with pytest.raises(ConfigError) as info:
        load_spec(write(tmp_path, text))
    assert fragment in str(info.value)


def test_relative_paths_become_absolute_from_the_job_file_or_the_current_dir(tmp_path, monkeypatch):
    (tmp_path / "jobs").mkdir()
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "t.jsonl").write_text("{}\n")
    monkeypatch.chdir(tmp_path)
    job = tmp_path / "jobs" / "job.yaml"
    job.write_text("name: n\nbase_model: org/model\ndata: {train: data/t.jsonl}\n")
    spec = load_spec("jobs/job.yaml")
    assert spec.data.train == str(tmp_path / "data" / "t.jsonl")
    assert spec.base_model == "org/model"
    assert spec.output_dir == str(tmp_path / "runs" / "{name}" / "{job_id}")


def test_missing_job_file(tmp_path):
    with pytest.raises(ConfigError, match="job file not found"):
        load_spec(tmp_path / "nope.yaml")


def test_schema_is_json_schema_with_all_sections():
    schema = json_schema()
    json.dumps(schema)
    assert schema["additionalProperties"] is False
    assert {"name", "base_model", "data", "method", "provider", "budget", "compute"} <= set(schema["properties"])
