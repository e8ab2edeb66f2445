"""Benchmark: the memory each process holds once the model is loaded, for a 2-process run that loads the
model whole in every process (DDP, and ZeRO-3 before it loaded under zero.Init) against anytune's ZeRO-3
load, which builds the model under ``deepspeed.zero.Init`` so each process holds only its share.

    python benchmarks/zero3_load_memory.py                   # a ~0.3B Llama-shaped model, fp32, 2 CPU processes
    python benchmarks/zero3_load_memory.py --layers 8        # smaller

Each mode is its own ``torchrun --nproc-per-node 2`` run of anytune's own loading code (``trainer.loop``).
Prints per rank: the parameter elements it holds, its resident memory after the load minus before (the
weights it keeps) and its peak resident memory during the load minus before (what a device must have room
for); then the ratio zero3/whole. Under zero.Init rank 0 reads the checkpoint and hands each module's
weights out (Transformers' ZeRO-3 load): on CPU its peak counts the file's pages, which on a GPU machine sit
in host memory, not on the device. The model is built from a config (random weights): nothing is downloaded.
Needs DeepSpeed (``pip install 'anytune[deepspeed]'``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = r"""
import gc, json, os, resource, sys
from pathlib import Path

import deepspeed  # imported before the baseline in both modes: its own memory is not the model's
import psutil
import torch

from anytune.spec import JobSpec
from anytune.trainer import loop
from anytune.trainer.platform import RunPaths

mode, model, work = sys.argv[1], sys.argv[2], Path(sys.argv[3])
me = psutil.Process()
before = me.memory_info().rss
spec = JobSpec(name="load", base_model=model, data={"train": "t.jsonl"}, method="full",
               compute={"strategy": "deepspeed_zero3"})
paths = RunPaths("local", work / "t.jsonl", None, None, work / "out", work / "ckpt", work / "logs", work / "s.json")
# kept alive while the model loads: transformers holds the DeepSpeed config only weakly
zero3_args = loop._zero3_before_loading(spec, paths, False, False, "deepspeed_zero3") if mode == "zero3" else None
m = loop._load_model(spec, False, False)
with torch.no_grad():  # every weight resident (a whole load may map the file's pages without reading them)
    for p in m.parameters():
        (p.ds_tensor if hasattr(p, "ds_tensor") else p).data.mul_(1.0)
gc.collect()
after = me.memory_info().rss
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print("RESULT " + json.dumps({"rank": int(os.environ["RANK"]), "held": loop._held(m), "total": loop._count(m),
                               "kept_gb": (after - before) / 1e9, "peak_gb": (peak - before) / 1e9}), flush=True)
"""


def build(folder: Path, layers: int) -> Path:
    from anytune.testing.tiny_model import build_tiny_model

    return build_tiny_model(folder, vocab_size=8192, hidden_size=1024, layers=layers, heads=16, kv_heads=8,
                            intermediate_size=2816)


def measure(mode: str, model: Path, work: Path) -> list[dict]:
    script = work / "child.py"
    script.write_text(CHILD)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2", str(script), mode,
           str(model), str(work)]
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
    if r.returncode != 0:
        sys.exit(f"{mode} failed:\n{r.stdout[-2000:]}\n{r.stderr[-4000:]}")
    rows = [json.loads(line.split("RESULT ", 1)[1]) for line in r.stdout.splitlines() if "RESULT " in line]
    return sorted(rows, key=lambda row: row["rank"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--layers", type=int, default=24, help="decoder layers (24: ~0.3B parameters)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        model = build(work / "model", args.layers)
        results = {mode: measure(mode, model, work) for mode in ("whole", "zero3")}
    total = results["whole"][0]["total"]
    print(f"model: {total / 1e6:.0f}M parameters, fp32 ({total * 4 / 1e9:.2f} GB of weights); 2 processes")
    print(f"{'mode':<6} {'rank':>4} {'held params':>13} {'kept GB':>8} {'peak GB':>8}")
    for mode, rows in results.items():
        for row in rows:
            print(f"{mode:<6} {row['rank']:>4} {row['held']:>13,} {row['kept_gb']:>8.2f} {row['peak_gb']:>8.2f}")
    for key in ("held", "kept_gb", "peak_gb"):
        ratio = statistics.mean(r[key] for r in results["zero3"]) / statistics.mean(r[key] for r in results["whole"])
        print(f"zero3/whole {key}: {ratio:.2f}")


if __name__ == "__main__":
    main()
