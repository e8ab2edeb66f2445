"""``init_adapter``: continue fine-tuning a tuned model (the adapter trains further, with the LoRA settings
it was made with; ``full`` folds it in first), and preference prompts given as conversations (OpenAI's
``input.messages``)."""

from __future__ import annotations

import json

import pytest

from anytune.errors import ConfigError
from anytune.spec import JobSpec
from anytune.testing.tiny_model import SUPPORT_ANSWERS, write_tiny_adapter, write_tiny_data
from anytune.trainer.cli import main

pytestmark = pytest.mark.slow


def _train(tmp_path, spec: JobSpec, train, validation=None):
    (tmp_path / "spec.json").write_text(spec.model_dump_json())
    out = tmp_path / "out"
    argv = ["--spec", str(tmp_path / "spec.json"), "--train", str(train), "--output", str(out),
            "--checkpoints", str(tmp_path / "ck")]
    assert main(argv + (["--validation", str(validation)] if validation else [])) == 0
    return out, json.loads((out / "metrics.json").read_text())


def _lora_b(folder):
    from safetensors.torch import load_file

    return {k: v for k, v in load_file(folder / "adapter_model.safetensors").items() if "lora_B" in k}


def test_lora_continues_the_given_adapter_with_its_own_settings(tmp_path, tiny_model):
    start = write_tiny_adapter(tiny_model, tmp_path / "start", seed=3)  # r=4 on q/v
    data = write_tiny_data(tmp_path / "data", train=32, validation=8, test=0)
    spec = JobSpec(name="more", base_model=str(tiny_model), init_adapter=str(start), data={"train": "x"},
                   method="lora", hyperparameters={"epochs": 1, "batch_size": 8, "learning_rate": 1e-2,
                                                   "lora": {"r": 16}}, evaluation={"enabled": False})
    out, metrics = _train(tmp_path, spec, data["train"], data["validation"])
    config = json.loads((out / "adapter_config.json").read_text())
    assert config["r"] == 4 and sorted(config["target_modules"]) == ["q_proj", "v_proj"]  # the adapter's, not r=16
    assert config["base_model_name_or_path"] == str(tiny_model)
    before, after = _lora_b(start), _lora_b(out)
    assert before.keys() == after.keys()
    changed = [k for k in before if not before[k].equal(after[k])]
    assert changed and all((after[k] - before[k]).abs().max() < 0.5 for k in before)  # trained from, not reset
    assert metrics["init_adapter"] == str(start) and metrics["trainable_parameters"] > 0


def test_full_folds_the_adapter_in_then_trains_every_weight(tmp_path, tiny_model):
    start = write_tiny_adapter(tiny_model, tmp_path / "start", seed=3)
    data = write_tiny_data(tmp_path / "data", train=16, validation=0, test=0)
    spec = JobSpec(name="full", base_model=str(tiny_model), init_adapter=str(start), data={"train": "x"},
                   method="full", hyperparameters={"epochs": 1, "batch_size": 8}, evaluation={"enabled": False})
    out, metrics = _train(tmp_path, spec, data["train"])
    assert (out / "model.safetensors").is_file() and not (out / "adapter_config.json").exists()
    assert metrics["trainable_parameters"] == metrics["total_parameters"]


def test_dpo_takes_prompts_given_as_conversations(tmp_path, tiny_model):
    path = tmp_path / "pairs.jsonl"
    topics = sorted(SUPPORT_ANSWERS)
    with open(path, "w") as f:
        for i in range(24):
            topic, other = topics[i % 4], topics[(i + 1) % 4]
            f.write(json.dumps({"prompt": [{"role": "system", "content": "You are the help desk."},
                                           {"role": "user", "content": f"Ticket {i}: my {topic} does not work"}],
                                "chosen": SUPPORT_ANSWERS[topic], "rejected": SUPPORT_ANSWERS[other]}) + "\n")
    spec = JobSpec(name="dpo", base_model=str(tiny_model), data={"train": "x"}, method="full", objective="dpo",
                   hyperparameters={"epochs": 1, "batch_size": 8, "learning_rate": 1e-3},
                   evaluation={"enabled": False})
    _, metrics = _train(tmp_path, spec, path)
    assert metrics["objective"] == "dpo" and metrics["examples"]["train"] == 24


def test_init_adapter_must_be_an_adapter_and_a_provider_that_trains_here(tmp_path, tiny_model):
    from anytune.dispatch import plan
    from anytune.types import DataStats, SplitStats

    spec = JobSpec(name="x", base_model=str(tiny_model), init_adapter=str(tmp_path), data={"train": "x"})
    with pytest.raises(ConfigError, match="holds no adapter_config.json"):
        plan(spec, DataStats(splits={"train": SplitStats(examples=10, tokens=1000)}))
    start = write_tiny_adapter(tiny_model, tmp_path / "start")
    cloud = spec.updated(init_adapter=str(start), provider="sagemaker")
    with pytest.raises(ConfigError, match="init_adapter: the cloud job receives"):
        plan(cloud, DataStats(splits={"train": SplitStats(examples=10, tokens=1000)}))


def test_a_checkpoint_cut_short_is_not_resumed_from(tmp_path):
    """A process killed while the Trainer was saving leaves a checkpoint folder without the mark: the newest
    marked one is chosen, and the torn one after it is removed."""
    from anytune.trainer.checkpoints import COMPLETE, latest_complete

    for step, whole in ((5, True), (10, True), (15, False)):
        folder = tmp_path / f"checkpoint-{step}"
        folder.mkdir()
        (folder / "model.safetensors").write_bytes(b"x")
        if whole:
            (folder / COMPLETE).touch()
    assert latest_complete(tmp_path) == tmp_path / "checkpoint-10"
    assert (tmp_path / "checkpoint-15").exists()
    assert latest_complete(tmp_path, remove_torn=True) == tmp_path / "checkpoint-10"
    assert not (tmp_path / "checkpoint-15").exists() and (tmp_path / "checkpoint-5").exists()
    assert latest_complete(tmp_path / "none") is None
