"""Where the trainer finds its inputs and puts its outputs on each platform (the env contract).

Explicit command-line paths always win. Missing ones come from the platform the trainer runs on:

- SageMaker (``SM_MODEL_DIR`` or ``SM_HPS`` set): data from ``SM_CHANNEL_TRAIN`` / ``_VALIDATION`` / ``_TEST``,
  model to ``SM_MODEL_DIR``, checkpoints in ``/opt/ml/checkpoints`` (synced to S3 when the job has a
  CheckpointConfig), TensorBoard to ``/opt/ml/output/tensorboard``, status.json to ``SM_OUTPUT_DATA_DIR``.
  ``SM_HPS`` (JSON): ``spec`` holds the job spec (inline JSON or a path) when ``--spec`` is not given; every
  other key named like a spec hyperparameter (``epochs``, ``learning_rate``, ...) overrides it, which is
  how SageMaker hyperparameter tuning sets values.
- Vertex AI (``AIP_MODEL_DIR`` set): model to ``AIP_MODEL_DIR``, checkpoints to ``AIP_CHECKPOINT_DIR``,
  TensorBoard to ``AIP_TENSORBOARD_LOG_DIR``, data from ``AIP_TRAINING_DATA_URI`` / ``_VALIDATION_`` / ``_TEST_``
  when set; ``gs://bucket/x`` is read through the Cloud Storage FUSE mount as ``/gcs/bucket/x``.
- Azure ML, and anywhere else: command-line arguments only (Azure passes ``${{inputs.*}}``/``${{outputs.*}}``).

Without a platform: output defaults to the spec's ``output_dir`` (``{job_id}`` = ``$ANYTUNE_JOB_ID`` or
``latest``); checkpoints, TensorBoard logs and
status.json go next to it (``<output>-checkpoints/``, ``<output>-logs/``, ``<output>/../status.json``).
Several machines (and several GPUs on one) meet through :func:`rendezvous`, which reads each platform's own
variables and gives the torchrun command that starts this machine's processes.
Pure functions of (args, env): no torch import, unit-tested without any cloud.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError, DataError

SAGEMAKER_CHECKPOINTS = "/opt/ml/checkpoints"
SAGEMAKER_TENSORBOARD = "/opt/ml/output/tensorboard"


@dataclass(frozen=True)
class RunPaths:
    platform: str  # "sagemaker" | "vertex" | "local"
    train: Path
    validation: Path | None
    test: Path | None
    output: Path
    checkpoints: Path
    logs: Path
    status: Path


@dataclass(frozen=True)
class Args:
    """The trainer's command-line paths (None = not given)."""

    spec: str | None = None
    train: str | None = None
    validation: str | None = None
    test: str | None = None
    output: str | None = None
    checkpoints: str | None = None
    logs: str | None = None
    status: str | None = None


def processes(env: Mapping[str, str]) -> tuple[int, int]:
    """(this process's rank, how many processes train together), as torchrun and accelerate set them; (0, 1)
    for a process on its own. Rank 0 alone writes status, summary, tracker runs and the model."""
    return int(env.get("RANK", "0")), int(env.get("WORLD_SIZE", "1"))


DEFAULT_MASTER_PORT = 29500  # torchrun's own default; ANYTUNE_MASTER_PORT overrides it


@dataclass(frozen=True)
class Rendezvous:
    """Where this machine's processes meet the others': what torchrun needs, read from the platform."""

    platform: str  # sagemaker | vertex | torch (MASTER_ADDR/RANK/WORLD_SIZE per node) | local
    nodes: int
    node_rank: int
    master_addr: str
    master_port: int
    procs_per_node: int
    network_interface: str | None = None  # SageMaker's SM_NETWORK_INTERFACE_NAME, for NCCL and gloo

    def command(self, argv: list[str]) -> list[str]:
        """torchrun starting ``procs_per_node`` trainers here with ``argv`` (each trains in place)."""
        cmd = [sys.executable, "-m", "torch.distributed.run", f"--nnodes={self.nodes}",
               f"--nproc-per-node={self.procs_per_node}"]
        if self.nodes == 1:
            cmd.append("--standalone")
        else:
            cmd += [f"--node-rank={self.node_rank}", f"--master-addr={self.master_addr}",
                    f"--master-port={self.master_port}"]
        # torchrun's parser takes --logs (even after the module) for its own --logs-specs: use the alias
        args = ["--tensorboard-dir" if a == "--logs" else
                "--tensorboard-dir=" + a[len("--logs="):] if a.startswith("--logs=") else a for a in argv]
        return [*cmd, "-m", "anytune.trainer", *args]

    def env(self) -> dict[str, str]:
        """Variables the processes need besides torchrun's own."""
        if not self.network_interface:
            return {}
        return {"NCCL_SOCKET_IFNAME": self.network_interface, "GLOO_SOCKET_IFNAME": self.network_interface}

    def describe(self) -> str:
        where = f"machine {self.node_rank + 1} of {self.nodes}, " if self.nodes > 1 else ""
        return f"{where}{self.procs_per_node} process(es) here ({self.platform})"


def _json(env: Mapping[str, str], name: str) -> Any:
    try:
        return json.loads(env[name])
    except (KeyError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{name} is not valid JSON: {exc}") from None


def rendezvous(env: Mapping[str, str], local_gpus: int) -> Rendezvous | None:
    """How to start the distributed run from this machine's environment, or None when this process should
    train itself (one process in all, or already one of torchrun's, accelerate's or Azure ML's processes,
    which set LOCAL_RANK; or ANYTUNE_NO_RELAUNCH=1).

    - SageMaker: ``SM_HOSTS`` (JSON list; the first is the master), ``SM_CURRENT_HOST``, ``SM_NUM_GPUS``,
      ``SM_NETWORK_INTERFACE_NAME``.
    - Vertex AI: ``CLUSTER_SPEC`` (JSON: ``cluster.workerpool0`` is the chief, ``workerpool1`` the workers,
      ``task.type``/``task.index`` this one).
    - Node-level ``MASTER_ADDR``, ``MASTER_PORT``, ``RANK`` and ``WORLD_SIZE`` (Vertex's PyTorch containers,
      plain launchers): RANK is this machine's, WORLD_SIZE the machines'.
    - Otherwise this machine alone, one process per visible GPU.
    """
    if "LOCAL_RANK" in env or "TORCHELASTIC_RUN_ID" in env or env.get("ANYTUNE_NO_RELAUNCH") == "1":
        return None
    procs = max(local_gpus, 1)
    port = int(env.get("ANYTUNE_MASTER_PORT") or env.get("MASTER_PORT") or DEFAULT_MASTER_PORT)
    if env.get("SM_HOSTS"):
        hosts, current = _json(env, "SM_HOSTS"), env.get("SM_CURRENT_HOST", "")
        if not isinstance(hosts, list) or current not in hosts:
            raise ConfigError(f"SM_CURRENT_HOST {current!r} is not one of SM_HOSTS {hosts!r}")
        procs = int(env.get("SM_NUM_GPUS") or 0) or procs
        r = Rendezvous("sagemaker", len(hosts), hosts.index(current), hosts[0], port, procs,
                       env.get("SM_NETWORK_INTERFACE_NAME") or None)
    elif env.get("CLUSTER_SPEC"):
        spec = _json(env, "CLUSTER_SPEC")
        try:
            cluster, task = spec["cluster"], spec["task"]
            chief, workers = list(cluster["workerpool0"]), list(cluster.get("workerpool1", []))
            rank = 0 if task["type"] == "workerpool0" else 1 + int(task["index"])
            addr, _, listed = chief[0].rpartition(":")
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise ConfigError(f"CLUSTER_SPEC has no chief and task this trainer understands: {exc!r}") from None
        port = int(env.get("ANYTUNE_MASTER_PORT") or env.get("MASTER_PORT") or listed or DEFAULT_MASTER_PORT)
        r = Rendezvous("vertex", len(chief) + len(workers), rank, addr, port, procs)
    elif env.get("MASTER_ADDR") and env.get("WORLD_SIZE") and "RANK" in env:
        r = Rendezvous("torch", int(env["WORLD_SIZE"]), int(env["RANK"]), env["MASTER_ADDR"], port, procs)
    else:
        r = Rendezvous("local", 1, 0, "127.0.0.1", port, procs)
    if r.nodes * r.procs_per_node < 2:
        return None
    if not 0 <= r.node_rank < r.nodes:
        raise ConfigError(f"{r.platform}: machine rank {r.node_rank} is outside 0..{r.nodes - 1}")
    return r


def detect(env: Mapping[str, str]) -> str:
    if env.get("SM_MODEL_DIR") or env.get("SM_HPS") or env.get("SM_TRAINING_ENV"):
        return "sagemaker"
    if env.get("AIP_MODEL_DIR"):
        return "vertex"
    return "local"


def gcs_fuse(uri: str | None) -> str | None:
    """``gs://bucket/path`` -> ``/gcs/bucket/path`` (Vertex mounts buckets there); other values unchanged."""
    if uri and uri.startswith("gs://"):
        return "/gcs/" + uri[len("gs://"):]
    return uri


def sagemaker_hps(env: Mapping[str, str]) -> dict[str, Any]:
    raw = env.get("SM_HPS")
    if not raw:
        return {}
    try:
        hps = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"SM_HPS is not valid JSON: {exc}") from None
    if not isinstance(hps, dict):
        raise ConfigError("SM_HPS must be a JSON object")
    return hps


def spec_text(args: Args, env: Mapping[str, str]) -> str:
    """The job spec as JSON text: ``--spec`` path, else ``SM_HPS['spec']`` (inline JSON or a path)."""
    source = args.spec or sagemaker_hps(env).get("spec")
    if source is None:
        raise ConfigError("no job spec: pass --spec SPEC.json (JobSpec.model_dump_json())")
    if isinstance(source, dict):
        return json.dumps(source)
    source = str(source)
    if source.lstrip().startswith("{"):
        return source
    path = Path(gcs_fuse(source) or source)
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read the job spec {path}: {exc.strerror or exc}") from None


def hyperparameter_overrides(env: Mapping[str, str], names: set[str]) -> dict[str, Any]:
    """SM_HPS keys that name a spec hyperparameter (SageMaker tuning jobs set these)."""
    return {k: v for k, v in sagemaker_hps(env).items() if k in names}


def find_jsonl(path: str | Path, split: str) -> Path:
    """A JSONL file, or the one JSONL file in a folder (a channel); ``<split>.jsonl`` wins if several."""
    p = Path(path)
    if p.is_file():
        return p
    if not p.is_dir():
        raise DataError(f"the {split} data {p} does not exist", hint="pass --" + split + " FILE.jsonl")
    files = sorted(x for x in p.iterdir() if x.is_file() and x.suffix == ".jsonl")
    named = [x for x in files if x.stem == split]
    if named:
        return named[0]
    if len(files) == 1:
        return files[0]
    what = "no .jsonl file" if not files else f"{len(files)} .jsonl files ({', '.join(f.name for f in files)})"
    raise DataError(f"the {split} folder {p} holds {what}", hint=f"put one file there, or name it {split}.jsonl")


def resolve(args: Args, env: Mapping[str, str], default_output: str) -> RunPaths:
    """Every path the trainer needs, from the arguments first and the platform's env contract second."""
    platform = detect(env)
    if platform == "sagemaker":
        plat = {
            "train": env.get("SM_CHANNEL_TRAIN"), "validation": env.get("SM_CHANNEL_VALIDATION"),
            "test": env.get("SM_CHANNEL_TEST"), "output": env.get("SM_MODEL_DIR"),
            "checkpoints": SAGEMAKER_CHECKPOINTS, "logs": SAGEMAKER_TENSORBOARD,
            "status": str(Path(env["SM_OUTPUT_DATA_DIR"]) / "status.json") if env.get("SM_OUTPUT_DATA_DIR") else None,
        }
    elif platform == "vertex":
        plat = {
            "train": gcs_fuse(env.get("AIP_TRAINING_DATA_URI")),
            "validation": gcs_fuse(env.get("AIP_VALIDATION_DATA_URI")),
            "test": gcs_fuse(env.get("AIP_TEST_DATA_URI")), "output": gcs_fuse(env.get("AIP_MODEL_DIR")),
            "checkpoints": gcs_fuse(env.get("AIP_CHECKPOINT_DIR")), "logs": gcs_fuse(env.get("AIP_TENSORBOARD_LOG_DIR")),
            "status": None,
        }
    else:
        plat = dict.fromkeys(("train", "validation", "test", "output", "checkpoints", "logs", "status"))

    def pick(name: str) -> str | None:
        return gcs_fuse(getattr(args, name)) or plat[name]

    train = pick("train")
    if not train:
        raise ConfigError("no training data: pass --train FILE.jsonl (or run where SM_CHANNEL_TRAIN is set)")
    output = Path(pick("output") or default_output)
    validation, test = pick("validation"), pick("test")
    return RunPaths(
        platform=platform,
        train=find_jsonl(train, "train"),
        validation=find_jsonl(validation, "validation") if validation else None,
        test=find_jsonl(test, "test") if test else None,
        output=output,
        checkpoints=Path(pick("checkpoints") or output.parent / f"{output.name}-checkpoints"),
        logs=Path(pick("logs") or output.parent / f"{output.name}-logs"),
        status=Path(pick("status") or output.parent / "status.json"),
    )
