"""anytune's trainer under accelerate's FSDP on CPU processes (gloo), for tests/test_trainer_distributed.py.

Accelerate enables FSDP for GPU back ends only: a CPU process state stays MULTI_CPU and the Trainer's `fsdp`
argument is then ignored, so the trainer refuses compute.strategy: fsdp on CPU. PyTorch's FSDP2
(`fully_shard`) itself runs on CPU over gloo. This entry opens that one gate, the distributed type, and
nothing else: accelerate's FSDP plugin from the Trainer's arguments, its `fully_shard` wrapping, its
full-state-dict gathering for the save and anytune's trainer code all run as they would on GPUs. It prints
what each rank holds once the model is wrapped (parameters are DTensors, each rank its local shard).

    torchrun --nproc-per-node 2 tests/fsdp_on_cpu.py --spec ... (the trainer's arguments)
"""

from __future__ import annotations

import os
import sys

from accelerate import accelerator, state
from accelerate.utils import DistributedType


def _fsdp_on_cpu(init):
    def wrapped(self, *args, **kwargs):
        init(self, *args, **kwargs)
        if kwargs.get("fsdp_plugin") is not None and self.distributed_type == DistributedType.MULTI_CPU:
            self.distributed_type = state.PartialState._shared_state["distributed_type"] = DistributedType.FSDP
            self.fsdp_plugin = kwargs["fsdp_plugin"]
    return wrapped


def _report_shards(prepare):
    def wrapped(acc, model):
        model = prepare(acc, model)
        local = sum(p.to_local().numel() if hasattr(p, "to_local") else p.numel() for p in model.parameters())
        whole = sum(p.numel() for p in model.parameters())
        print(f"fsdp: rank {os.environ['RANK']} holds {local:,} of {whole:,} parameter elements", flush=True)
        return model
    return wrapped


state.AcceleratorState.__init__ = _fsdp_on_cpu(state.AcceleratorState.__init__)
accelerator.fsdp2_prepare_model = _report_shards(accelerator.fsdp2_prepare_model)

from anytune.trainer import loop  # noqa: E402

_refusing = loop._strategy


def _strategy(spec, cuda):  # the trainer's own choice, as on GPUs (it refuses fsdp without them)
    return "fsdp" if spec.compute.strategy == "fsdp" and loop.processes(os.environ)[1] > 1 else _refusing(spec, cuda)


loop._strategy = _strategy

from anytune.trainer.cli import main  # noqa: E402

sys.exit(main(sys.argv[1:]))
