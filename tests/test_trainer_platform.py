"""The trainer's platform env contract (SageMaker SM_*, Vertex AIP_*, plain args), the multi-GPU
relaunch rule, light imports, and one real run the way a SageMaker container starts it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from anytune.errors import ConfigError, DataError
from anytune.spec import JobSpec
from anytune.testing.imports import run_blocking
from anytune.trainer import check_method
from anytune.trainer.cli import load_spec
from anytune.trainer.platform import Args, detect, find_jsonl, gcs_fuse, rendezvous, resolve


def _channel(root: Path, name: str, file: str = "data.jsonl") -> Path:
    d = root / name
    d.mkdir(parents=True)
    (d / file).write_text('{"text": "x"}\n')
    return d


def test_sagemaker_env_contract(tmp_path):
    env = {"SM_MODEL_DIR": "/opt/ml/model", "SM_CHANNEL_TRAIN": str(_channel(tmp_path, "train")),
           "SM_CHANNEL_VALIDATION": str(_channel(tmp_path, "validation", "validation.jsonl")),
           "SM_OUTPUT_DATA_DIR": "/opt/ml/output/data", "SM_HPS": "{}"}
    paths = resolve(Args(), env, default_output="runs/x")
    assert paths.platform == "sagemaker"
    assert paths.train == tmp_path / "train" / "data.jsonl"
    assert paths.validation == tmp_path / "validation" / "validation.jsonl"
    assert paths.test is None
    assert paths.output == Path("/opt/ml/model")
    assert paths.checkpoints == Path("/opt/ml/checkpoints")
    assert paths.logs == Path("/opt/ml/output/tensorboard")
    assert paths.status == Path("/opt/ml/output/data/status.json")
    # Command-line arguments win over the env.
    other = _channel(tmp_path, "other")
    paths = resolve(Args(train=str(other), output=str(tmp_path / "m"), checkpoints="/ck"), env, "runs/x")
    assert paths.train == other / "data.jsonl" and paths.output == tmp_path / "m"
    assert paths.checkpoints == Path("/ck")


def test_vertex_env_contract_maps_gcs_uris_to_the_fuse_mount(tmp_path):
    env = {"AIP_MODEL_DIR": "gs://bkt/job/model/", "AIP_CHECKPOINT_DIR": "gs://bkt/job/checkpoints/",
           "AIP_TENSORBOARD_LOG_DIR": "gs://bkt/job/logs/"}
    paths = resolve(Args(train=str(_channel(tmp_path, "train"))), env, "runs/x")
    assert paths.platform == "vertex"
    assert paths.output == Path("/gcs/bkt/job/model")
    assert paths.checkpoints == Path("/gcs/bkt/job/checkpoints")
    assert paths.logs == Path("/gcs/bkt/job/logs")
    assert gcs_fuse("gs://b/x/y.jsonl") == "/gcs/b/x/y.jsonl" and gcs_fuse("/local") == "/local"


def test_local_defaults_sit_next_to_the_output(tmp_path):
    train = _channel(tmp_path, "train") / "data.jsonl"
    paths = resolve(Args(train=str(train)), {}, default_output=str(tmp_path / "runs" / "job"))
    assert detect({}) == "local" and paths.platform == "local"
    assert paths.output == tmp_path / "runs" / "job"
    assert paths.checkpoints == tmp_path / "runs" / "job-checkpoints"
    assert paths.logs == tmp_path / "runs" / "job-logs"
    assert paths.status == tmp_path / "runs" / "status.json"
    with pytest.raises(ConfigError, match="--train"):
        resolve(Args(), {}, "runs/x")


def test_channel_folder_must_hold_one_jsonl(tmp_path):
    d = _channel(tmp_path, "c", "a.jsonl")
    (d / "b.jsonl").write_text("{}\n")
    with pytest.raises(DataError, match="2 .jsonl files"):
        find_jsonl(d, "train")
    (d / "train.jsonl").write_text("{}\n")
    assert find_jsonl(d, "train") == d / "train.jsonl"
    with pytest.raises(DataError, match="does not exist"):
        find_jsonl(tmp_path / "nothing", "train")


def test_spec_from_sm_hps_with_hyperparameter_overrides(tmp_path):
    spec = JobSpec(name="hp", base_model="m", data={"train": "t.jsonl"}, hyperparameters={"epochs": 3})
    env = {"SM_HPS": json.dumps({"spec": spec.model_dump_json(), "learning_rate": "0.001", "epochs": 1,
                                 "sagemaker_program": "ignored"})}
    loaded = load_spec(Args(), env)
    assert loaded.hyperparameters.learning_rate == 0.001 and loaded.hyperparameters.epochs == 1
    assert loaded.name == "hp"
    # A spec file path in SM_HPS works too, and a bad override is a ConfigError naming the field.
    (tmp_path / "spec.json").write_text(spec.model_dump_json())
    env = {"SM_HPS": json.dumps({"spec": str(tmp_path / "spec.json"), "batch_size": 0})}
    with pytest.raises(ConfigError, match="batch_size"):
        load_spec(Args(), env)
    with pytest.raises(ConfigError, match="--spec"):
        load_spec(Args(), {})


def test_several_gpus_on_one_machine_restart_under_torchrun_standalone():
    meet = rendezvous({}, local_gpus=4)
    cmd = meet.command(["--spec", "s.json", "--logs", "tb"])
    assert cmd[1:3] == ["-m", "torch.distributed.run"] and "--standalone" in cmd and "--nproc-per-node=4" in cmd
    # torchrun would take --logs for its own --logs-specs: the trainer gets the alias
    assert cmd[-6:] == ["-m", "anytune.trainer", "--spec", "s.json", "--tensorboard-dir", "tb"]
    assert rendezvous({}, local_gpus=1) is None  # one process: it trains itself
    assert rendezvous({}, local_gpus=0) is None  # CPU, one machine
    assert rendezvous({"LOCAL_RANK": "0", "WORLD_SIZE": "4"}, local_gpus=4) is None  # already one of them
    assert rendezvous({"ANYTUNE_NO_RELAUNCH": "1"}, local_gpus=4) is None


def test_sagemaker_hosts_give_each_machine_its_rank_and_the_first_host_as_master():
    env = {"SM_HOSTS": json.dumps(["algo-1", "algo-2", "algo-3"]), "SM_CURRENT_HOST": "algo-2",
           "SM_NUM_GPUS": "8", "SM_NETWORK_INTERFACE_NAME": "eth0"}
    meet = rendezvous(env, local_gpus=0)
    assert (meet.platform, meet.nodes, meet.node_rank, meet.master_addr, meet.procs_per_node) == \
        ("sagemaker", 3, 1, "algo-1", 8)
    cmd = meet.command([])
    assert "--nnodes=3" in cmd and "--node-rank=1" in cmd and "--master-addr=algo-1" in cmd
    assert "--standalone" not in cmd
    assert meet.env() == {"NCCL_SOCKET_IFNAME": "eth0", "GLOO_SOCKET_IFNAME": "eth0"}
    one = rendezvous({**env, "SM_HOSTS": '["algo-1"]', "SM_CURRENT_HOST": "algo-1", "SM_NUM_GPUS": "1"}, 1)
    assert one is None  # one instance with one GPU
    with pytest.raises(ConfigError, match="SM_CURRENT_HOST"):
        rendezvous({**env, "SM_CURRENT_HOST": "algo-9"}, 8)
    with pytest.raises(ConfigError, match="SM_HOSTS is not valid JSON"):
        rendezvous({**env, "SM_HOSTS": "algo-1,algo-2"}, 8)


def test_vertex_cluster_spec_puts_the_chief_first_and_the_workers_after_it():
    cluster = {"workerpool0": ["cmle-chief-0:2222"], "workerpool1": ["cmle-w-0:2222", "cmle-w-1:2222"]}
    chief = rendezvous({"CLUSTER_SPEC": json.dumps({"cluster": cluster, "task": {"type": "workerpool0", "index": 0}})}, 4)
    worker = rendezvous({"CLUSTER_SPEC": json.dumps({"cluster": cluster, "task": {"type": "workerpool1", "index": 1}}),
                         # Vertex's PyTorch containers also set these per machine; CLUSTER_SPEC wins
                         "WORLD_SIZE": "3", "RANK": "2", "MASTER_ADDR": "cmle-chief-0", "MASTER_PORT": "2222"}, 4)
    assert (chief.platform, chief.nodes, chief.node_rank, chief.master_addr, chief.master_port) == \
        ("vertex", 3, 0, "cmle-chief-0", 2222)
    assert (worker.nodes, worker.node_rank, worker.procs_per_node) == (3, 2, 4)
    with pytest.raises(ConfigError, match="CLUSTER_SPEC"):
        rendezvous({"CLUSTER_SPEC": json.dumps({"cluster": {}, "task": {}})}, 1)


def test_node_level_master_addr_rank_and_world_size_count_machines():
    env = {"MASTER_ADDR": "10.0.0.4", "MASTER_PORT": "6000", "RANK": "1", "WORLD_SIZE": "2"}
    meet = rendezvous(env, local_gpus=0)  # CPU machines: one process each
    assert (meet.platform, meet.nodes, meet.node_rank, meet.master_addr, meet.master_port, meet.procs_per_node) == \
        ("torch", 2, 1, "10.0.0.4", 6000, 1)
    with pytest.raises(ConfigError, match="outside"):
        rendezvous({**env, "RANK": "2"}, 0)


def test_check_method():
    assert check_method("full", cuda=False) is None
    assert check_method("lora", cuda=False) is None
    assert "CUDA GPU" in check_method("qlora", cuda=False)
    assert "unknown training method" in check_method("dpo", cuda=True)


def test_importing_the_trainer_package_is_light():
    proc = run_blocking("import anytune.trainer, anytune.trainer.platform, anytune.trainer.cli, "
                        "anytune.data.template\nprint(anytune.trainer.check_method('qlora', cuda=False))")
    assert proc.returncode == 0, proc.stderr
    assert "trainer needs torch" in proc.stdout  # blocked modules count as missing, without importing them


@pytest.mark.slow
def test_runs_as_a_sagemaker_container_starts_it(tmp_path):
    """SM_* env only: spec in SM_HPS, data in channel folders, model to SM_MODEL_DIR (checkpoint and
    TensorBoard paths passed as arguments, since /opt/ml is not writable here)."""
    from anytune.testing.tiny_model import build_tiny_model, write_tiny_data

    model = build_tiny_model(tmp_path / "base")
    files = write_tiny_data(tmp_path / "src", train=32, validation=8, test=0)
    channels = {}
    for split, f in files.items():
        channels[split] = tmp_path / "input" / "data" / split
        channels[split].mkdir(parents=True)
        f.rename(channels[split] / f"{split}.jsonl")
    spec = JobSpec(name="sm", base_model=str(model), data={"train": "x"}, method="full",
                   hyperparameters={"epochs": 1, "batch_size": 8, "learning_rate": 3e-3})
    env = {**os.environ, "SM_MODEL_DIR": str(tmp_path / "model"), "SM_OUTPUT_DATA_DIR": str(tmp_path / "output"),
           "SM_CHANNEL_TRAIN": str(channels["train"]), "SM_CHANNEL_VALIDATION": str(channels["validation"]),
           "SM_HPS": json.dumps({"spec": spec.model_dump_json(), "epochs": 2}), "SM_NUM_GPUS": "0",
           "CUDA_VISIBLE_DEVICES": ""}
    proc = subprocess.run([sys.executable, "-m", "anytune.trainer", "--checkpoints", str(tmp_path / "ck"),
                           "--logs", str(tmp_path / "tb")], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "on sagemaker" in proc.stdout and "eval loss:" in proc.stdout
    metrics = json.loads((tmp_path / "model" / "metrics.json").read_text())
    assert metrics["epochs"] == 2  # the SM_HPS override reached the run
    assert metrics["eval_loss_after"] < metrics["eval_loss_before"]
    assert (tmp_path / "model" / "anytune-manifest.json").exists()
    assert json.loads((tmp_path / "output" / "status.json").read_text())["state"] == "succeeded"


def test_no_hyperparameter_is_named_like_a_trainer_argument():
    """SageMaker's toolkit passes every hyperparameter as `--<name> <value>` and the bundle's entry drops those
    (anytune_sagemaker.container_entry): a hyperparameter named like one of the trainer's own arguments would
    take that argument away (a `checkpoints` hyperparameter once dropped `--checkpoints PATH`)."""
    from anytune.spec import Hyperparameters
    from anytune.trainer.cli import parser

    flags = {opt.lstrip("-") for opt in parser()._option_string_actions} | {"base-model"}  # + cloud.entry's
    names = set(Hyperparameters.model_fields) | {n.replace("_", "-") for n in Hyperparameters.model_fields}
    assert "checkpoints" in flags and not names & flags, names & flags
