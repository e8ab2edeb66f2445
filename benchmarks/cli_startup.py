"""Startup time of `anytune compare JOB` against a process that only imports the providers' SDKs.

Each measurement is a new process (cold interpreter). The two commands run interleaved, after one
warm-up each (which writes bytecode caches and fills the OS file cache, as any second use would), and
the medians are compared. The first `compare` in a fresh ANYTUNE_HOME also prepares the data (token
counts, cached by content) and caches the installed entry points; it is reported on its own line.

    python benchmarks/cli_startup.py [--runs 9] [--job examples/quickstart/job.yaml]

Targets (issue 4): compare median <= 0.5 s and >= 10x faster than the SDK-import baseline.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SDKS = ["boto3", "sagemaker.core", "google.cloud.aiplatform", "azure.ai.ml", "openai", "torch"]


def _installed(module: str) -> bool:
    """Whether ``module`` can be imported. ``find_spec("google.cloud.aiplatform")`` raises, not answers None,
    when a parent package is missing (``google`` is a namespace without ``google.cloud`` where only [local]
    is installed)."""
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


def _temporary_job(folder: Path) -> Path:
    """A small job (tiny model folder: config + tokenizer; 64 chat examples) while the quickstart is missing."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    from anytune.testing.tiny_model import CHAT_TEMPLATE, SPECIAL_TOKENS, tiny_corpus, write_tiny_data

    model = folder / "model"
    model.mkdir(parents=True)
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(tiny_corpus(), trainer=trainers.BpeTrainer(
        vocab_size=512, special_tokens=SPECIAL_TOKENS, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False))
    tok.save(str(model / "tokenizer.json"))
    (model / "tokenizer_config.json").write_text(json.dumps({"chat_template": CHAT_TEMPLATE, "eos_token": "<|im_end|>"}))
    (model / "config.json").write_text(json.dumps(
        {"model_type": "llama", "hidden_size": 256, "num_hidden_layers": 4, "num_attention_heads": 4,
         "num_key_value_heads": 2, "intermediate_size": 688, "vocab_size": 512, "tie_word_embeddings": True}))
    write_tiny_data(folder / "data")
    job = folder / "job.yaml"
    job.write_text("name: startup-bench\nbase_model: model\nmethod: lora\ndata:\n  train: data/train.jsonl\n"
                   "  validation: data/validation.jsonl\n  test: data/test.jsonl\n"
                   "hyperparameters: {epochs: 3, batch_size: 8, max_seq_length: 512}\nprovider: local\n")
    return job


def _compare_command(job: Path) -> list[str]:
    exe = shutil.which("anytune") or str(Path(sys.executable).parent / "anytune")
    probe = subprocess.run([exe, "compare", "--help"], capture_output=True, text=True)
    if probe.returncode == 0:
        return [exe, "compare", str(job)]
    # `compare` not mounted in anytune.cli yet: the same command function through typer directly
    code = "import sys, typer; from anytune.cli_cost import compare_cmd; typer.run(compare_cmd)"
    return [sys.executable, "-c", code, str(job)]


class Failed(Exception):
    pass


def _time(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds user+sys) of one run of ``cmd`` in a new process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    res = subprocess.run(cmd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if res.returncode != 0:
        raise Failed(f"command failed ({res.returncode}): {' '.join(cmd)}\n{res.stderr[-2000:]}")
    return elapsed, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=9)
    ap.add_argument("--job", type=Path, default=ROOT / "examples" / "quickstart" / "job.yaml")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env.update(ANYTUNE_HOME=str(tmp / "home"), ANYTUNE_CONFIG_DIR=str(tmp / "config"), COLUMNS="120")
        present = [m for m in SDKS if _installed(m)]
        missing = [m for m in SDKS if m not in present]
        baseline = [sys.executable, "-c", "import " + ", ".join(present)]
        job, why = args.job, ""
        try:
            if not job.is_file():
                raise Failed(f"{job} not found")
            compare = _compare_command(job)
            first, _ = _time(compare, env)  # fresh ANYTUNE_HOME: prepares the data, caches its statistics and the entry points
        except Failed as exc:
            why = str(exc).splitlines()[-1]
            job = _temporary_job(tmp / "job")
            compare = _compare_command(job)
            first, _ = _time(compare, env)
        _time(baseline, env)  # warm-up
        wall: dict[str, list[float]] = {"compare": [], "baseline": []}
        cpu: dict[str, list[float]] = {"compare": [], "baseline": []}
        for _ in range(args.runs):
            for name, cmd in (("compare", compare), ("baseline", baseline)):
                w, c = _time(cmd, env)
                wall[name].append(w)
                cpu[name].append(c)

    med = {k: statistics.median(v) for k, v in wall.items()}
    med_cpu = {k: statistics.median(v) for k, v in cpu.items()}
    load = os.getloadavg()[0]
    print(f"job: {job}" + (f"  (temporary spec: {args.job} could not be compared: {why})" if why else ""))
    print(f"compare command: {' '.join(compare[:2])} ...")
    print(f"baseline imports: {', '.join(present)}" + (f"  (not installed: {', '.join(missing)})" if missing else ""))
    print(f"runs: {args.runs} each, interleaved, new process each; {os.cpu_count()} CPUs, load average {load:.1f}\n")
    print(f"compare, first run (fills caches)   : {first:6.3f} s")
    print(f"{'':35s}   wall median (min..max)      CPU median (user+sys)")
    for name, label in (("compare", "compare"), ("baseline", "SDK-import baseline")):
        print(f"{label:35s}: {med[name]:6.3f} s ({min(wall[name]):.3f}..{max(wall[name]):.3f})   "
              f"{med_cpu[name]:6.3f} s")
    ratio, ratio_cpu = med["baseline"] / med["compare"], med_cpu["baseline"] / med_cpu["compare"]
    print(f"{'ratio baseline / compare':35s}: {ratio:6.1f}x wall   {ratio_cpu:6.1f}x CPU")
    print(f"\ntarget compare median <= 0.5 s : {'met' if med['compare'] <= 0.5 else 'NOT met'} (wall)")
    print(f"target >= 10x faster            : {'met' if ratio >= 10 else 'NOT met'} (wall)")
    if load > (os.cpu_count() or 1):
        print(f"note: the machine was oversubscribed (load {load:.1f} on {os.cpu_count()} CPUs); wall times are "
              "inflated, CPU times less so")


if __name__ == "__main__":
    main()
