"""hyperparameters.liger: Liger's Triton kernels through Transformers' use_liger_kernel. CUDA only, so this
machine checks what it can: the spec, the plan's memory for Liger's fused linear cross-entropy, the
arguments the trainer passes, and the refusals that say what to do (on CPU; without the package). The GPU
run itself is benchmarks/gpu_checks.sh's, when a GPU is lent."""

from __future__ import annotations

import pytest

from anytune.errors import ConfigError
from anytune.spec import JobSpec, parse_spec


def spec_for(**hp) -> JobSpec:
    return parse_spec({"name": "l", "base_model": "meta-llama/Llama-2-7b-hf", "method": "lora",
                       "data": {"train": "x.jsonl"}, "hyperparameters": {"batch_size": 16, "max_seq_length": 1024,
                                                                         **hp}})


def test_liger_and_the_chunked_loss_are_one_or_the_other():
    with pytest.raises(ConfigError, match="Liger's fused linear cross-entropy"):
        spec_for(liger=True, loss="chunked")
    assert spec_for(liger=True, loss="full").hyperparameters.liger


def test_the_plan_counts_liger_logits_by_the_hidden_size_not_the_vocabulary():
    """Batch 16 × 1024 tokens of Llama-2-7B (vocab 32,000, hidden 4,096): the full loss holds 12 bytes per
    logit (6.3 GB); Liger's chunks hold at most 2·BT·H bf16 logits and the hidden states' gradient (0.4 GB)."""
    from anytune.estimation.model_size import model_size
    from anytune.estimation.setup import trainer_setup
    from anytune.estimation.workload import memory_per_gpu

    size = model_size("meta-llama/Llama-2-7b-hf")
    full, liger = (trainer_setup(s, vocab=32000, gpu_bytes=143771 * 2**20)
                   for s in (spec_for(), spec_for(liger=True)))
    assert full.loss == "full" and liger.loss == "liger"
    assert "Liger's kernels" in liger.describe()
    mem = {s.loss: memory_per_gpu(size, "lora", seq=1024, batch=16, setup=s) for s in (full, liger)}
    assert mem["full"].logits == pytest.approx(16 * 1024 * 32000 * 12)
    assert mem["liger"].logits == pytest.approx(16 * 1024 * 4096 * 6)
    assert mem["full"].total - mem["liger"].total == pytest.approx(mem["full"].logits - mem["liger"].logits)
    dpo = parse_spec({**spec_for(liger=True).model_dump(), "objective": "dpo"})
    assert trainer_setup(dpo, vocab=32000).loss == "full"  # TRL's own loss: the plan counts it whole


def test_the_trainer_passes_use_liger_kernel(tmp_path):
    from transformers import TrainingArguments

    from anytune.trainer.loop import _training_args
    from anytune.trainer.platform import RunPaths

    paths = RunPaths("local", tmp_path / "t", None, None, tmp_path / "o", tmp_path / "c", tmp_path / "l", tmp_path / "s")
    on, _ = _training_args(spec_for(liger=True), paths, cuda=False, bf16=False, steps_per_epoch=4)
    off, _ = _training_args(spec_for(), paths, cuda=False, bf16=False, steps_per_epoch=4)
    assert on["use_liger_kernel"] is True and off["use_liger_kernel"] is False
    assert TrainingArguments(**on).use_liger_kernel


def test_liger_is_refused_on_cpu_and_without_its_package_with_what_to_do(tmp_path, monkeypatch, tiny_model):
    from importlib.util import find_spec

    from anytune.testing.tiny_model import write_tiny_data
    from anytune.trainer import checks, loop
    from anytune.trainer.platform import RunPaths

    spec = JobSpec(name="l", base_model=str(tiny_model), data={"train": "t.jsonl"}, method="lora",
                   hyperparameters={"liger": True})
    assert "Liger's kernels are Triton kernels for CUDA GPUs" in checks.check_spec(spec, cuda=False)
    assert checks.check_spec(spec.model_copy(update={"hyperparameters": spec.hyperparameters.model_copy(
        update={"liger": False})}), cuda=False) is None
    if find_spec("liger_kernel") is None:
        assert "pip install 'anytune[liger]'" in checks.check_spec(spec, cuda=True)
    monkeypatch.setattr(checks, "_importable", lambda name: name != "liger_kernel")
    assert "pip install 'anytune[liger]'" in checks.check_spec(spec, cuda=True)
    # the trainer refuses before it loads or writes anything
    data = write_tiny_data(tmp_path / "data", train=8, validation=0, test=0)
    paths = RunPaths("local", data["train"], None, None, tmp_path / "out", tmp_path / "ckpt", tmp_path / "logs",
                     tmp_path / "status.json")
    with pytest.raises(ConfigError, match="liger: false"):
        loop.run(spec, paths, log=lambda line: None)
    assert not any(p.exists() for p in (paths.output, paths.checkpoints, paths.status))
