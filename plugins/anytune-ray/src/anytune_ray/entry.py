"""``python -m anytune_ray.entry --workers N --use-gpu auto|yes|no -- TRAINER ARGS``: the Ray job's entrypoint,
run by the Ray Jobs API as the driver on the cluster's head node.

It starts one Ray Train ``TorchTrainer`` with N workers; Ray Train sets up the process group (gloo on
CPUs, NCCL on GPUs) and the torchrun variables (RANK, LOCAL_RANK, WORLD_SIZE), and every worker runs
anytune's own trainer in place with the same arguments. Rank 0 alone writes status, checkpoints, metrics,
the manifest and the model, to the job's folder under the provider's storage path. Nothing here decides
how to train: the spec and the trainer do, as on every other provider.
"""

from __future__ import annotations

import argparse
import os
import sys


def _train_loop(config: dict) -> None:
    from anytune.trainer.cli import main

    code = main(list(config["argv"]))
    if code != 0:
        raise RuntimeError(f"anytune trainer exited with code {code}")


def parse(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    if "--" not in argv:
        raise SystemExit("usage: python -m anytune_ray.entry --workers N [--use-gpu auto|yes|no] -- TRAINER ARGS")
    cut = argv.index("--")
    parser = argparse.ArgumentParser(prog="anytune_ray.entry")
    parser.add_argument("--workers", type=int, required=True)
    parser.add_argument("--use-gpu", choices=("auto", "yes", "no"), default="auto")
    parser.add_argument("--name", default="anytune")
    return parser.parse_args(argv[:cut]), argv[cut + 1:]


def main(argv: list[str] | None = None) -> int:
    args, trainer_argv = parse(list(sys.argv[1:] if argv is None else argv))
    # this driver prints the workers' lines into the job's log: each whole, not folded into a coloured
    # "[repeated Nx across cluster]" (read when ray is imported)
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    import ray
    from ray.train import RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    ray.init()  # inside a Ray job: joins its cluster
    use_gpu = ray.cluster_resources().get("GPU", 0) > 0 if args.use_gpu == "auto" else args.use_gpu == "yes"
    print(f"anytune on Ray: {args.workers} Ray Train worker(s), {'GPU' if use_gpu else 'CPU'} each", flush=True)
    trainer = TorchTrainer(
        _train_loop, train_loop_config={"argv": trainer_argv},
        scaling_config=ScalingConfig(num_workers=args.workers, use_gpu=use_gpu,
                                     resources_per_worker=None if use_gpu else {"CPU": 1}),
        run_config=RunConfig(name=args.name))
    trainer.fit()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
