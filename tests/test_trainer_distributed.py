"""The trainer under torchrun: two CPU processes (gloo; DDP, and FSDP and DeepSpeed ZeRO-3 sharding the model
between them) train like one process with the same global batch, and rank 0 alone writes the checkpoints, the
metrics and the model; two "machines" (two trainers started as SageMaker starts one per instance, SM_HOSTS
naming both) meet through the rendezvous layer. Accelerate enables FSDP on GPU back ends only, so the trainer
refuses it on CPU processes (never silently DDP); the FSDP runs here go through tests/fsdp_on_cpu.py, which
opens that one gate of accelerate's and runs the same trainer."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from anytune.spec import JobSpec
from anytune.testing.tiny_model import write_tiny_data

LR = 3e-3  # the learning rate of both runs


def train(tmp_path: Path, tiny_model, data, name: str, *, procs: int, batch: int, strategy: str = "auto",
          evaluation: bool = True, method: str = "full", **hyperparameters) -> Path:
    spec = JobSpec(name="dist", base_model=str(tiny_model), data={"train": "unused.jsonl"}, method=method,
                   compute={"strategy": strategy}, evaluation={"enabled": evaluation},
                   hyperparameters={"epochs": 2, "batch_size": batch, "learning_rate": LR, "seed": 5,
                                    **hyperparameters})
    (tmp_path / f"{name}.json").write_text(spec.model_dump_json())
    out = tmp_path / name
    launcher = ([sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={procs}"]
                if procs > 1 else [sys.executable])
    cmd = [*launcher, *_entry(strategy), "--spec", str(tmp_path / f"{name}.json"), "--train",
           str(data["train"]), "--validation", str(data["validation"]), "--output", str(out / "model"),
           "--checkpoints", str(out / "ckpt"), "--status", str(out / "status.json"),
           "--tensorboard-dir", str(out / "tb")]  # torchrun would read --logs as its own --logs-specs
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-5000:]
    (out / "stdout").write_text(r.stdout)
    return out


def _entry(strategy: str) -> list[str]:
    """The trainer, as torchrun starts it; FSDP on CPU processes through tests/fsdp_on_cpu.py."""
    return [str(Path(__file__).with_name("fsdp_on_cpu.py"))] if strategy == "fsdp" else ["-m", "anytune.trainer"]


@pytest.fixture(scope="module")
def single(tmp_path_factory, tiny_model):
    tmp = tmp_path_factory.mktemp("single")
    data = write_tiny_data(tmp / "data", train=64, validation=16, test=0)
    return train(tmp, tiny_model, data, "single", procs=1, batch=8), data


def _zero3_or_skip(strategy: str) -> None:
    if strategy == "deepspeed_zero3":
        from importlib.util import find_spec

        if find_spec("deepspeed") is None:
            pytest.skip("DeepSpeed is not installed (pip install 'anytune[deepspeed]')")


@pytest.mark.slow
@pytest.mark.parametrize("strategy", ["ddp", "auto", "fsdp", "deepspeed_zero3"])
def test_two_processes_train_like_one_with_the_same_global_batch(strategy, single, tiny_model, tmp_path):
    """ddp: each process holds the model; fsdp (PyTorch FSDP2 through accelerate) and deepspeed_zero3
    (DeepSpeed ZeRO-3) on gloo shard the weights, gradients and Adam's states over the two processes, gather
    the whole model for the save, and rank 0 runs the generation evaluation on the model it saved."""
    _zero3_or_skip(strategy)
    one, data = single
    sharded = strategy in ("fsdp", "deepspeed_zero3")
    two = train(tmp_path, tiny_model, data, strategy, procs=2, batch=4, strategy=strategy)
    a = json.loads((one / "model" / "metrics.json").read_text())
    b = json.loads((two / "model" / "metrics.json").read_text())
    assert a["steps"] == b["steps"] == 16  # 64 examples / global batch 8 × 2 epochs
    curve_a = [e["loss"] for e in a["train"]]
    curve_b = [e["loss"] for e in b["train"]]
    assert len(curve_a) == len(curve_b) and curve_a[0] - curve_a[-1] > 0.3  # it learned
    # The same steps on the same 8 examples: the same losses and gradient norms at every step, to float
    # rounding. (Until the evaluation before training stopped disabling DDP, the two processes trained apart,
    # gradients never averaged: step 1's gradient norm was already 9 % off and the curve 1.4 %.)
    assert curve_b == pytest.approx(curve_a, rel=1e-4), (curve_a, curve_b)
    assert [e["grad_norm"] for e in b["train"]] == pytest.approx([e["grad_norm"] for e in a["train"]], rel=1e-3)
    assert b["eval_loss_after"] == pytest.approx(a["eval_loss_after"], rel=1e-4)
    assert b["eval_loss_before"] == pytest.approx(a["eval_loss_before"], rel=1e-5)
    assert [e["step"] for e in b["eval"]] == [e["step"] for e in a["eval"]]  # the loss before is not a curve point
    # auto: the tiny model fits one process, so ddp
    assert b["distributed"] == {"world_size": 2, "strategy": strategy if sharded else "ddp"}
    from safetensors.torch import load_file

    weights_a, weights_b = (load_file(run / "model" / "model.safetensors") for run in (one, two))
    assert sorted(weights_a) == sorted(weights_b)  # the whole model, gathered from the shards
    assert all(torch_close(weights_a[k], weights_b[k]) for k in weights_a)
    # the generation evaluation ran (on rank 0; sharded: on the model it saved) over the same 16 prompts
    assert b["evaluation"]["examples"] == a["evaluation"]["examples"] == 16
    assert _answers(two) == _answers(one) and len(_answers(two)) == 16
    from anytune.artifacts import verify_manifest

    assert {f.path for f in verify_manifest(two / "model")} >= {"eval.json", "samples.jsonl", "metrics.json"}
    # rank 0 alone wrote: one checkpoint set, one model, one manifest
    assert sorted(p.name for p in (two / "ckpt").iterdir() if p.name.startswith("checkpoint-")) == \
        sorted(p.name for p in (one / "ckpt").iterdir() if p.name.startswith("checkpoint-"))
    assert (two / "model" / "model.safetensors").exists() and not list(two.glob("model-rank*"))
    assert (two / "stdout").read_text().count("eval loss:") == 1
    if strategy == "deepspeed_zero3":  # DeepSpeed's own checkpoint: each rank's shard of the states
        assert len(list((two / "ckpt").glob("checkpoint-16/global_step16/*optim_states.pt"))) == 2
        _assert_loaded_partitioned(two, b["total_parameters"])
    if strategy == "fsdp":  # wrapped by fully_shard: each rank held its half; accelerate's FSDP checkpoint
        held = re.findall(r"fsdp: rank (\d) holds ([\d,]+) of ([\d,]+) parameter elements", (two / "stdout").read_text())
        assert {r for r, _, _ in held} == {"0", "1"}, held  # (the evaluation before training wraps it first)
        assert all(_n(whole) == b["total_parameters"] and _n(mine) <= 0.55 * _n(whole) for _, mine, whole in held)
        assert (two / "ckpt" / "checkpoint-16" / "pytorch_model_fsdp.bin").exists()
    assert list((two / "tb").glob("events.out.tfevents.*"))


@pytest.mark.slow
@pytest.mark.parametrize("strategy", ["fsdp", "deepspeed_zero3"])
def test_lora_sharded_saves_the_adapter_one_process_would(strategy, tiny_model, tmp_path):
    """The adapter's weights are sharded too; rank 0 saves only the adapter, gathered whole, and evaluates it
    on its base model. Dropout 0: each process draws its own dropout masks, so with dropout the curves differ
    by design."""
    _zero3_or_skip(strategy)
    from safetensors.torch import load_file

    data = write_tiny_data(tmp_path / "data", train=64, validation=16, test=0)
    runs = [train(tmp_path, tiny_model, data, name, procs=procs, batch=8 // procs, strategy=strategy,
                  method="lora", lora={"dropout": 0.0})
            for name, procs, strategy in (("one", 1, "auto"), ("sharded", 2, strategy))]
    a, b = (json.loads((run / "model" / "metrics.json").read_text()) for run in runs)
    assert [e["loss"] for e in b["train"]] == pytest.approx([e["loss"] for e in a["train"]], rel=1e-4)
    assert b["eval_loss_after"] == pytest.approx(a["eval_loss_after"], rel=1e-4)
    assert b["eval_loss_after"] < b["eval_loss_before"]
    assert not (runs[1] / "model" / "model.safetensors").exists()  # the adapter, not the base model
    adapter_a, adapter_b = (load_file(run / "model" / "adapter_model.safetensors") for run in runs)
    assert sorted(adapter_a) == sorted(adapter_b) and len(adapter_a) > 0
    assert all(torch_close(adapter_a[k], adapter_b[k]) for k in adapter_a)
    assert b["evaluation"]["examples"] == 16 and _answers(runs[1]) == _answers(runs[0])  # adapter on its base
    assert b["trainable_parameters"] == a["trainable_parameters"] and b["total_parameters"] == a["total_parameters"]
    if strategy == "deepspeed_zero3":
        _assert_loaded_partitioned(runs[1], b["total_parameters"], whole=b["trainable_parameters"])


def _n(figure: str) -> int:
    return int(figure.replace(",", ""))


def _assert_loaded_partitioned(run: Path, total: int, whole: int = 0) -> None:
    """Each process built the model under zero.Init: it held its half of the weights (each tensor's share,
    rounded up) from the load on, never the whole model; ``whole``: parameters added after the load (LoRA's),
    partitioned later by the engine."""
    held = [(_n(a), _n(b)) for a, b in re.findall(
        r"this process holds ([\d,]+) of its ([\d,]+) parameters", (run / "stdout").read_text())]
    base = total - whole
    assert len(held) == 2 and all(t == total and base / 2 <= h - whole < 0.55 * base for h, t in held), held


def _answers(run: Path) -> list[tuple[str, str]]:
    """(tuned, base) answers of the generation evaluation. (The tiny model, barely trained, mostly answers
    with its end token at once: this pins that the evaluation ran on the same model, not answer quality.)"""
    rows = [json.loads(line) for line in (run / "model" / "samples.jsonl").read_text().splitlines()]
    return [(row["tuned"], row.get("base")) for row in rows]


def torch_close(a, b) -> bool:
    import torch

    return torch.allclose(a, b, rtol=1e-4, atol=1e-5)


def test_fsdp_on_cpu_processes_is_refused_with_what_to_do(monkeypatch, tiny_model):
    from anytune.errors import ConfigError
    from anytune.trainer.loop import _strategy

    spec = JobSpec(name="d", base_model=str(tiny_model), data={"train": "t.jsonl"}, compute={"strategy": "fsdp"})
    monkeypatch.setenv("WORLD_SIZE", "1")
    assert _strategy(spec, cuda=False) is None  # one process: nothing to share
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(ConfigError, match="compute.strategy: fsdp shards the model across GPUs") as err:
        _strategy(spec, cuda=False)
    assert "compute.strategy: ddp" in " ".join(err.value.problems)
    assert _strategy(spec.model_copy(update={"compute": spec.compute.model_copy(update={"strategy": "ddp"})}),
                     cuda=False) == "ddp"


@pytest.mark.parametrize("strategy", ["fsdp", "deepspeed_zero3"])
def test_qlora_is_never_sharded(strategy, monkeypatch, tiny_model):
    from anytune.errors import ConfigError
    from anytune.trainer.loop import _strategy

    spec = JobSpec(name="d", base_model=str(tiny_model), data={"train": "t.jsonl"}, method="qlora",
                   compute={"strategy": strategy})
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(ConfigError, match=f"{strategy}: anytune's trainer does not shard QLoRA") as err:
        _strategy(spec, cuda=True)
    assert "compute.strategy: ddp" in " ".join(err.value.problems)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_two_machines_meet_by_sagemaker_hosts_and_train_like_one(single, tiny_model, tmp_path):
    """What SageMaker does with InstanceCount 2: it starts the trainer once per instance, each with SM_HOSTS
    and its own SM_CURRENT_HOST. Here both "instances" are this machine (127.0.0.1 and localhost); each
    trainer restarts itself under torchrun with its machine rank, and only machine 0's rank 0 writes."""
    one, data = single
    spec = JobSpec(name="nodes", base_model=str(tiny_model), data={"train": "unused.jsonl"}, method="full",
                   compute={"nodes": 2, "strategy": "ddp"},
                   hyperparameters={"epochs": 2, "batch_size": 4, "learning_rate": LR, "seed": 5})
    (tmp_path / "spec.json").write_text(spec.model_dump_json())
    hosts, port = ["127.0.0.1", "localhost"], _free_port()
    procs = []
    for host in hosts:
        out = tmp_path / host
        cmd = [sys.executable, "-m", "anytune.trainer", "--spec", str(tmp_path / "spec.json"), "--train",
               str(data["train"]), "--validation", str(data["validation"]), "--output", str(out / "model"),
               "--checkpoints", str(out / "ckpt"), "--status", str(out / "status.json"), "--logs", str(out / "tb")]
        env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "SM_HOSTS": json.dumps(hosts),
               "SM_CURRENT_HOST": host, "ANYTUNE_MASTER_PORT": str(port)}
        procs.append(subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env))
    outputs = [p.communicate(timeout=600)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs[0][-3000:] + outputs[1][-3000:]
    assert "distributed: machine 1 of 2, 1 process(es) here (sagemaker)" in outputs[0]
    assert "distributed: machine 2 of 2" in outputs[1]
    chief, worker = tmp_path / hosts[0], tmp_path / hosts[1]
    a = json.loads((one / "model" / "metrics.json").read_text())
    b = json.loads((chief / "model" / "metrics.json").read_text())
    assert b["distributed"] == {"world_size": 2, "strategy": "ddp"} and b["steps"] == a["steps"] == 16
    curve_a, curve_b = [e["loss"] for e in a["train"]], [e["loss"] for e in b["train"]]
    assert curve_b == pytest.approx(curve_a, rel=1e-4), (curve_a, curve_b)
    # machine 0 holds the model and the checkpoints; machine 1 wrote no model, no status, no summary
    assert (chief / "model" / "model.safetensors").exists() and (chief / "status.json").exists()
    assert not (worker / "model" / "model.safetensors").exists() and not (worker / "status.json").exists()
    assert any(p.name.startswith("checkpoint-") for p in (chief / "ckpt").iterdir())


def _rank_pids(parent: int) -> dict[int, int]:
    """{RANK: pid} of the trainer processes under ``parent`` (torchrun's workers), from /proc/<pid>/environ."""
    found = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            env = dict(item.split("=", 1) for item in (proc / "environ").read_text().split("\0") if "=" in item)
        except OSError:
            continue
        if "RANK" in env and "LOCAL_RANK" in env and _descends(int(proc.name), parent):
            found[int(env["RANK"])] = int(proc.name)
    return found


def _descends(pid: int, ancestor: int) -> bool:
    """Whether ``ancestor`` is an ancestor of ``pid`` (parent links from /proc/<pid>/stat)."""
    while pid > 1:
        try:
            pid = int((Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except OSError:
            return False
        if pid == ancestor:
            return True
    return False


@pytest.mark.slow
@pytest.mark.parametrize("strategy", ["ddp", "fsdp", "deepspeed_zero3"])
def test_sigterm_to_one_rank_stops_both_at_one_step_and_the_rerun_resumes_there(strategy, tiny_model, tmp_path):
    """A spot machine reclaimed in a 2-process run: only rank 1 gets SIGTERM. Both stop after the same step
    and save one checkpoint together (not rank 0 waiting on rank 1's gradients forever); the same command
    again resumes there (under ZeRO-3 from each rank's own shard of the states), with the first run's loss
    before training."""
    import signal
    import time

    _zero3_or_skip(strategy)
    data = write_tiny_data(tmp_path / "data", train=64, validation=8, test=0)
    spec = JobSpec(name="term", base_model=str(tiny_model), data={"train": "unused.jsonl"}, method="full",
                   compute={"strategy": strategy}, evaluation={"enabled": strategy == "ddp"},
                   hyperparameters={"epochs": 40, "batch_size": 4, "learning_rate": LR, "seed": 5})
    (tmp_path / "spec.json").write_text(spec.model_dump_json())
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2", *_entry(strategy),
           "--spec", str(tmp_path / "spec.json"), "--train", str(data["train"]),
           "--validation", str(data["validation"]), "--output", str(out / "model"), "--checkpoints",
           str(out / "ckpt"), "--status", str(out / "status.json"), "--tensorboard-dir", str(out / "tb")]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    run = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    deadline = time.monotonic() + 300
    while True:  # until training is under way (status.json, rank 0's, shows steps)
        try:
            step = json.loads((out / "status.json").read_text()).get("step", 0)
        except (OSError, ValueError):
            step = 0
        if step >= 3 or run.poll() is not None or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    ranks = _rank_pids(run.pid)
    assert sorted(ranks) == [0, 1], ranks
    os.kill(ranks[1], signal.SIGTERM)
    output = run.communicate(timeout=300)[0]
    assert run.returncode != 0, output[-3000:]  # stopped, not finished: 320 steps were asked for
    stops = [line for line in output.splitlines() if "stopped by SIGTERM at step" in line]
    assert stops and len({line.split("at step ")[1].split()[0] for line in stops}) == 1, output[-3000:]
    step = int(stops[0].split("at step ")[1].split()[0])
    saved = out / "ckpt" / f"checkpoint-{step}"
    assert (saved / "model.safetensors").exists() and (saved / "anytune-complete").exists()
    assert step < 320 and not (out / "model" / "model.safetensors").exists()

    again = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert f"resuming from {saved}" in again.stdout
    metrics = json.loads((out / "model" / "metrics.json").read_text())
    assert metrics["resumed_from"].endswith(f"checkpoint-{step}") and metrics["steps"] == 320
    # the loss before training, measured by the first run, survives the stop (ZeRO-3: recorded at step 0)
    assert metrics["eval_loss_before"] > metrics["eval_loss_after"] > 0
    assert metrics["eval"] and metrics["eval"][0]["step"] > 0
