"""``objective: dpo``: the trainer trains preference pairs with TRL's DPOTrainer (LoRA: the base is the
reference; full: TRL's frozen copy), with the same outputs, evaluation and manifest as supervised runs."""

from __future__ import annotations

import json
import random

import pytest

from anytune.artifacts import verify_manifest
from anytune.spec import JobSpec
from anytune.testing.tiny_model import SUPPORT_ANSWERS
from anytune.trainer.cli import main

pytestmark = pytest.mark.slow


def _pairs(folder, n: int, seed: int):
    rng = random.Random(seed)
    path = folder / f"pairs{seed}.jsonl"
    with open(path, "w") as f:
        for i in range(n):
            topic = rng.choice(sorted(SUPPORT_ANSWERS))
            other = rng.choice([t for t in SUPPORT_ANSWERS if t != topic])
            f.write(json.dumps({"prompt": f"Ticket {i}: my {topic} does not work", "chosen": SUPPORT_ANSWERS[topic],
                                "rejected": SUPPORT_ANSWERS[other]}) + "\n")
    return path


@pytest.mark.parametrize("method, lr, files", [("lora", 5e-3, {"adapter_model.safetensors"}),
                                               ("full", 1e-3, {"model.safetensors"})])
def test_dpo_trains_preference_pairs_and_writes_verified_outputs(tmp_path, tiny_model, method, lr, files):
    spec = JobSpec(name="dpo", base_model=str(tiny_model), data={"train": "x"}, method=method, objective="dpo",
                   hyperparameters={"epochs": 3, "batch_size": 8, "learning_rate": lr, "beta": 0.1},
                   evaluation={"max_new_tokens": 8})
    (tmp_path / "spec.json").write_text(spec.model_dump_json())
    out = tmp_path / "out"
    assert main(["--spec", str(tmp_path / "spec.json"), "--train", str(_pairs(tmp_path, 64, 0)),
                 "--validation", str(_pairs(tmp_path, 16, 1)), "--output", str(out),
                 "--checkpoints", str(tmp_path / "ck")]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    print({k: metrics.get(k) for k in ("eval_loss_before", "eval_loss_after", "dpo")})
    assert metrics["objective"] == "dpo" and metrics["eval_loss_before"] == pytest.approx(0.6931, abs=1e-3)  # ln 2
    if method == "full":  # LoRA barely moves a randomly initialised model; full DPO learns the preference
        assert metrics["eval_loss_after"] < metrics["eval_loss_before"]
    assert "accuracies" in metrics["dpo"] and metrics["train"]
    listed = {f.path for f in verify_manifest(out)}
    assert files | {"eval.json", "samples.jsonl", "metrics.json"} <= listed
    assert not (out / "ref").exists()  # TRL's reference adapter is not part of the model


def test_preference_data_without_objective_dpo_is_refused_with_the_fix(tmp_path, tiny_model):
    spec = JobSpec(name="sft", base_model=str(tiny_model), data={"train": "x"}, method="lora")
    (tmp_path / "spec.json").write_text(spec.model_dump_json())
    code = main(["--spec", str(tmp_path / "spec.json"), "--train", str(_pairs(tmp_path, 16, 0)),
                 "--output", str(tmp_path / "out")])
    assert code == 2
