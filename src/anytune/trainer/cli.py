"""``python -m anytune.trainer``: the one training entry point, locally and in every cloud container.

    python -m anytune.trainer --spec SPEC.json [--train PATH] [--validation PATH] [--test PATH]
                              [--output DIR] [--checkpoints DIR] [--logs DIR] [--status FILE]

(``--tensorboard-dir`` is ``--logs`` under another name, for ``torchrun``, whose own parser reads ``--logs``
as an abbreviation of its ``--logs-specs``.)

SPEC.json is ``JobSpec.model_dump_json()``. Each PATH is a JSONL file (canonical records, see
anytune.data) or a folder holding one. Missing paths come from the platform's env contract
(:mod:`anytune.trainer.platform`). Exit codes: 0 trained, 2 bad input, 1 training failed,
143 stopped by SIGTERM (during training: after the current step and a checkpoint, so that a
restart with the same checkpoints folder resumes there; a second SIGTERM stops at once). With
more than one visible GPU, or on one of several machines (SageMaker SM_HOSTS, Vertex AI CLUSTER_SPEC,
node-level MASTER_ADDR/RANK/WORLD_SIZE), the trainer restarts itself under ``torchrun`` (one process per
GPU; :func:`anytune.trainer.platform.rendezvous`); set ``CUDA_VISIBLE_DEVICES`` to use fewer.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import traceback
from collections.abc import Mapping

from ..errors import AnytuneError, ConfigError
from ..spec import Hyperparameters, JobSpec, parse_spec
from . import platform
from .status import StatusFile, Terminated
from .threads import choose_wait_policy


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m anytune.trainer", description=__doc__.split("\n\n")[0])
    p.add_argument("--spec", help="job spec JSON file (JobSpec.model_dump_json())")
    for name in ("train", "validation", "test"):
        p.add_argument(f"--{name}", help=f"{name} split: a JSONL file or a folder holding one")
    p.add_argument("--output", help="where the model/adapter, tokenizer, metrics.json and manifest go")
    p.add_argument("--checkpoints", help="checkpoint folder; the run resumes from the latest one in it")
    p.add_argument("--logs", "--tensorboard-dir", dest="logs",
                   help="TensorBoard event files (under torchrun use --tensorboard-dir: torchrun reads --logs as "
                   "its own --logs-specs)")
    p.add_argument("--status", help="status.json kept fresh while training (default <output>/../status.json)")
    return p


def parse_args(argv: list[str]) -> platform.Args:
    return platform.Args(**vars(parser().parse_args(argv)))


def load_spec(args: platform.Args, env: Mapping[str, str]) -> JobSpec:
    text = platform.spec_text(args, env)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"the job spec is not valid JSON: {exc}") from None
    overrides = platform.hyperparameter_overrides(env, set(Hyperparameters.model_fields))
    if overrides and isinstance(data, dict):
        data["hyperparameters"] = {**(data.get("hyperparameters") or {}), **overrides}
    return parse_spec(data, source=args.spec or "SM_HPS")


def _gpu_count() -> int:
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def _log(line: str) -> None:
    print(line, flush=True)


def _on_sigterm(signum, frame):
    raise Terminated()


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # Before torch loads OpenMP: spin on free cores, sleep on shared ones (anytune.trainer.threads).
    threads = choose_wait_policy(os.environ)
    args = parse_args(argv)
    env = os.environ
    status = StatusFile(None)  # no file until the paths are known
    main_thread = threading.current_thread() is threading.main_thread()
    # SIGTERM checkpoints once and stops; a trainer run in a thread (Ray Train's workers) cannot take
    # signals, and is stopped by its launcher instead
    previous = signal.signal(signal.SIGTERM, _on_sigterm) if main_thread else None
    try:
        spec = load_spec(args, env)
        default_output = spec.output_path(env.get("ANYTUNE_JOB_ID", "latest"))
        paths = platform.resolve(args, env, default_output=str(default_output))
        rank0 = platform.processes(env)[0] == 0  # under torchrun/accelerate: one writer of status and summary
        status = StatusFile(paths.status if rank0 else None)
        from ..logs import route_to_file

        route_to_file(paths.logs / "trainer-warnings.log", logging.WARNING)  # library warnings, not the job log
        meeting = platform.rendezvous(env, _gpu_count())
        if meeting:
            command = meeting.command(argv)
            _log(f"distributed: {meeting.describe()}: starting {' '.join(command[1:7])} ...")
            return subprocess.call(command, env={**env, **meeting.env()})
        from .loop import describe, run

        _log(f"anytune trainer: job {spec.name} on {paths.platform}, data {paths.train}")
        if threads:
            _log(f"threads: {threads}")
        metrics = run(spec, paths, log=_log, status=status)
        if rank0:
            _log(describe(metrics, paths.output))
        return 0
    except AnytuneError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        status.update(state="failed", message=str(exc))
        return exc.exit_code
    except Terminated as exc:
        message = str(exc) or "stopped by SIGTERM"
        print(message, file=sys.stderr, flush=True)
        status.update(state="cancelled", message=message)
        return 143
    except Exception as exc:
        traceback.print_exc()
        status.update(state="failed", message=f"{type(exc).__name__}: {exc}")
        return 1
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, previous)
