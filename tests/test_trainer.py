"""The trainer end to end on a tiny Llama model (built offline): full fine-tuning and LoRA, eval loss
before/after, outputs with a valid manifest, TensorBoard events, status.json, resume, bad input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from anytune.artifacts import ChecksumMismatch, verify_manifest
from anytune.spec import JobSpec
from anytune.testing.tiny_model import build_tiny_model, write_tiny_data
from anytune.trainer.cli import main


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "model")


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory) -> dict[str, Path]:
    return write_tiny_data(tmp_path_factory.mktemp("data"))


def _spec_file(tmp_path: Path, model: Path, method: str, **hp) -> Path:
    hyper = {"epochs": 2, "batch_size": 8, "learning_rate": 3e-3 if method == "full" else 3e-2, **hp}
    spec = JobSpec(name="tiny", base_model=str(model), data={"train": "unused.jsonl"}, method=method,
                   hyperparameters=hyper)
    path = tmp_path / "spec.json"
    path.write_text(spec.model_dump_json())
    return path


def _run(tmp_path: Path, spec: Path, data: dict[str, Path], *extra: str) -> int:
    args = ["--spec", str(spec), "--train", str(data["train"]), "--output", str(tmp_path / "out" / "model"),
            "--checkpoints", str(tmp_path / "ckpt"), "--logs", str(tmp_path / "tb"), *extra]
    if "validation" in data:
        args += ["--validation", str(data["validation"])]
    if "test" in data:
        args += ["--test", str(data["test"])]
    return main(args)


@pytest.mark.slow
def test_full_finetune_learns_and_writes_verified_outputs(tmp_path, tiny_model, tiny_data):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    assert _run(tmp_path, _spec_file(tmp_path, tiny_model, "full"), tiny_data) == 0
    out = tmp_path / "out" / "model"
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["eval_loss_after"] < metrics["eval_loss_before"] - 0.3, metrics
    assert metrics["test_loss"] < metrics["eval_loss_before"]
    assert metrics["steps"] == metrics["total_steps"] == 16  # 64 examples / batch 8 * 2 epochs
    assert [e["epoch"] for e in metrics["eval"]] == [1.0, 2.0]  # each epoch (before: eval_loss_before)
    assert metrics["train"] and metrics["tokens_per_second"] > 0

    listed = {f.path for f in verify_manifest(out)}
    assert {"model.safetensors", "config.json", "tokenizer.json", "metrics.json"} <= listed
    assert not list(out.glob("*.bin")), "weights are safetensors only"
    AutoModelForCausalLM.from_pretrained(out)
    assert AutoTokenizer.from_pretrained(out).chat_template

    assert list((tmp_path / "tb").glob("events.out.tfevents.*"))
    status = json.loads((tmp_path / "out" / "status.json").read_text())
    assert status["state"] == "succeeded" and status["step"] == status["total_steps"] == 16

    (out / "config.json").write_text("{}")
    with pytest.raises(ChecksumMismatch, match="config.json"):
        verify_manifest(out)


@pytest.mark.slow
def test_lora_adapter_and_resume_from_checkpoint(tmp_path, tiny_model, tiny_data):
    spec = _spec_file(tmp_path, tiny_model, "lora")
    data = {k: tiny_data[k] for k in ("train", "validation")}
    assert _run(tmp_path, spec, data) == 0
    out = tmp_path / "out" / "model"
    first = json.loads((out / "metrics.json").read_text())
    assert first["eval_loss_after"] < first["eval_loss_before"]
    assert first["trainable_parameters"] < first["total_parameters"]
    assert {"adapter_model.safetensors", "adapter_config.json"} <= {f.path for f in verify_manifest(out)}
    assert not (out / "model.safetensors").exists()

    # Lose the last checkpoint (as if the machine died in epoch 2) and run the same job again.
    checkpoints = sorted((tmp_path / "ckpt").glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))
    assert [p.name for p in checkpoints] == ["checkpoint-8", "checkpoint-16"]
    shutil.rmtree(checkpoints[-1])
    assert _run(tmp_path, spec, data) == 0
    second = json.loads((out / "metrics.json").read_text())
    assert second["resumed_from"].endswith("checkpoint-8")
    assert second["eval_loss_before"] == first["eval_loss_before"]  # kept from the first run
    assert second["eval_loss_after"] == pytest.approx(first["eval_loss_after"], rel=1e-4)  # same result
    verify_manifest(out)


def _size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


@pytest.mark.slow
def test_weights_only_checkpoints_are_a_third_of_the_size_and_still_resume(tmp_path, tiny_model, tiny_data, capsys):
    data = {k: tiny_data[k] for k in ("train", "validation")}
    full_dir, weights_dir = tmp_path / "full", tmp_path / "weights"
    full_dir.mkdir(), weights_dir.mkdir()
    assert _run(full_dir, _spec_file(full_dir, tiny_model, "full"), data) == 0
    assert _run(weights_dir, _spec_file(weights_dir, tiny_model, "full", checkpoint_weights_only=True), data) == 0
    full, light = full_dir / "ckpt" / "checkpoint-16", weights_dir / "ckpt" / "checkpoint-16"
    assert (full / "optimizer.pt").exists() and not (light / "optimizer.pt").exists()
    assert (light / "model.safetensors").exists()
    ratio = _size(light) / _size(full)
    sizes = f"checkpoint-16: full {_size(full) / 1e6:.2f} MB, weights only {_size(light) / 1e6:.2f} MB ({ratio:.2f}x)"
    assert ratio < 0.4, ratio  # fp32 weights (4 bytes a parameter) without Adam's m and v (8)
    # a machine lost in epoch 2: the weights-only checkpoint of epoch 1 resumes, and says what it restarts
    shutil.rmtree(light)
    capsys.readouterr()
    assert _run(weights_dir, _spec_file(weights_dir, tiny_model, "full", checkpoint_weights_only=True), data) == 0
    assert "a weights-only checkpoint: the optimizer and the learning-rate schedule start again" in \
        capsys.readouterr().out
    resumed = json.loads((weights_dir / "out" / "model" / "metrics.json").read_text())
    assert resumed["resumed_from"].endswith("checkpoint-8")
    assert resumed["eval_loss_after"] < resumed["eval_loss_before"]
    print(sizes)


@pytest.mark.slow
def test_compile_trains_the_same_model_through_torch_compile(tmp_path, tiny_model, tiny_data, capsys):
    """hyperparameters.compile: Transformers' torch_compile (inductor; on this CPU ~50 s of compiling for the
    tiny model), the same losses as eager, and the trainer says it compiles."""
    data = {k: tiny_data[k] for k in ("train", "validation")}
    runs = {}
    for compiled in (False, True):
        folder = tmp_path / f"compile-{compiled}"
        folder.mkdir()
        capsys.readouterr()
        assert _run(folder, _spec_file(folder, tiny_model, "full", epochs=1, compile=compiled), data) == 0
        runs[compiled] = (json.loads((folder / "out" / "model" / "metrics.json").read_text()), capsys.readouterr().out)
    assert "torch.compile" in runs[True][1] and "torch.compile" not in runs[False][1]
    assert runs[True][0]["eval_loss_after"] == pytest.approx(runs[False][0]["eval_loss_after"], rel=1e-4)


@pytest.mark.slow
def test_eval_steps_evaluate_every_n_steps_and_each_epoch(tmp_path, tiny_model, tiny_data):
    data = {k: tiny_data[k] for k in ("train", "validation")}
    assert _run(tmp_path, _spec_file(tmp_path, tiny_model, "full", eval_steps=3), data) == 0
    metrics = json.loads((tmp_path / "out" / "model" / "metrics.json").read_text())
    assert [e["step"] for e in metrics["eval"]] == [3, 6, 8, 9, 12, 15, 16]  # 8 steps per epoch
    assert sorted(p.name for p in (tmp_path / "ckpt").glob("checkpoint-*")) == ["checkpoint-15", "checkpoint-16"]


@pytest.mark.slow
def test_checkpoints_of_another_job_are_refused(tmp_path, tiny_model, tiny_data, capsys):
    data = {"train": tiny_data["train"]}
    assert _run(tmp_path, _spec_file(tmp_path, tiny_model, "full", epochs=1), data) == 0
    assert _run(tmp_path, _spec_file(tmp_path, tiny_model, "full", epochs=1, learning_rate=1e-3), data) == 2
    assert "belong to another job" in capsys.readouterr().err


def test_bad_input_exits_2_with_one_clear_message(tmp_path, tiny_model, tiny_data, capsys):
    spec = _spec_file(tmp_path, tiny_model, "full")
    assert _run(tmp_path, spec, {"train": tmp_path / "missing.jsonl"}) == 2
    err = capsys.readouterr().err
    assert "missing.jsonl" in err and "Traceback" not in err

    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"messages": []}\n{not json\n')
    assert _run(tmp_path, spec, {"train": bad}) == 2
    assert "bad.jsonl:2" in capsys.readouterr().err

    foreign = tmp_path / "out" / "model"
    foreign.mkdir(parents=True)
    (foreign / "precious.txt").write_text("mine")
    assert _run(tmp_path, spec, {"train": tiny_data["train"]}) == 2
    assert "not empty" in capsys.readouterr().err and (foreign / "precious.txt").exists()

    assert main(["--spec", str(tmp_path / "nope.json"), "--train", str(tiny_data["train"])]) == 2
    assert "nope.json" in capsys.readouterr().err


def test_unloadable_base_model_is_bad_input(tmp_path, tiny_data, capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert _run(tmp_path, _spec_file(tmp_path, tmp_path / "no-such-model", "full"), {"train": tiny_data["train"]}) == 2
    err = capsys.readouterr().err
    assert "cannot load the base model" in err and "no-such-model" in err and "Traceback" not in err


def test_qlora_without_cuda_is_a_clear_error(tmp_path, tiny_model, tiny_data, capsys):
    assert _run(tmp_path, _spec_file(tmp_path, tiny_model, "qlora"), {"train": tiny_data["train"]}) == 2
    assert "QLoRA needs a CUDA GPU" in capsys.readouterr().err
    status = json.loads((tmp_path / "out" / "status.json").read_text())
    assert status["state"] == "failed" and "QLoRA" in status["message"]


@pytest.mark.slow
def test_sigterm_saves_a_checkpoint_mid_epoch_and_the_rerun_resumes_there(tmp_path, tiny_model, tiny_data):
    """A spot VM being reclaimed sends SIGTERM: the step in progress ends, a checkpoint is saved, exit 143."""
    import os
    import signal
    import subprocess
    import sys

    spec = _spec_file(tmp_path, tiny_model, "lora", batch_size=2)  # 32 steps an epoch, 64 in all
    data = {k: tiny_data[k] for k in ("train", "validation")}
    args = ["--spec", str(spec), "--train", str(data["train"]), "--validation", str(data["validation"]),
            "--output", str(tmp_path / "out" / "model"), "--checkpoints", str(tmp_path / "ckpt"),
            "--logs", str(tmp_path / "tb")]
    proc = subprocess.Popen([sys.executable, "-m", "anytune.trainer", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    for line in proc.stdout:  # the first training loss line ("step 1/64 epoch 0.03 loss 6.1 lr 3e-02")
        if line.startswith("step ") and " lr " in line:
            proc.send_signal(signal.SIGTERM)
            break
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 143, err
    saved = [int(p.name.split("-")[1]) for p in (tmp_path / "ckpt").glob("checkpoint-*")]
    assert len(saved) == 1 and 0 < saved[0] < 32, saved  # mid-epoch: no epoch checkpoint would exist yet
    assert f"stopped by SIGTERM at step {saved[0]} of 64" in err
    assert "a restart with the same checkpoints folder resumes there" in err
    status = json.loads((tmp_path / "out" / "status.json").read_text())
    assert status["state"] == "cancelled" and f"checkpoint-{saved[0]}" in status["message"]
    assert not (tmp_path / "out" / "model").exists()

    assert main(args) == 0
    metrics = json.loads((tmp_path / "out" / "model" / "metrics.json").read_text())
    assert metrics["resumed_from"].endswith(f"checkpoint-{saved[0]}") and metrics["steps"] == 64
    verify_manifest(tmp_path / "out" / "model")


@pytest.mark.slow
def test_lora_runs_with_one_seed_give_one_result(tmp_path, tiny_model, tiny_data):
    """The adapter's random init happens under the spec's seed (it used to come before the Trainer set it)."""
    data = {k: tiny_data[k] for k in ("train", "validation")}
    losses = []
    for run in ("a", "b"):
        folder = tmp_path / run
        assert _run(folder, _spec_file(tmp_path, tiny_model, "lora", epochs=1, seed=7), data) == 0
        losses.append(json.loads((folder / "out" / "model" / "metrics.json").read_text())["eval_loss_after"])
    assert losses[0] == losses[1], losses
