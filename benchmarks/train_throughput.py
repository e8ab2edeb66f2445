"""Benchmark: anytune's trainer (``python -m anytune.trainer``, as every provider runs it) against the plain
Transformers script a competent user writes (benchmarks/plain_trainer.py): same model, data, hyperparameters
and steps, interleaved A/B in one run so a noisy machine hurts both alike.

    python benchmarks/train_throughput.py                          # CPU: a ~12M Llama-shaped model, full + lora
    python benchmarks/train_throughput.py --device cuda --size 0.6b --methods lora,qlora --packing both
    python benchmarks/train_throughput.py --device cuda --methods lora --liger     # Liger's kernels, anytune side

Each run is its own process. Prints per run: non-padding tokens/s of the training loop, wall time of the
whole process, peak memory (GPU: torch's max allocated; CPU: the process's max RSS) and the final training
loss; then the median ratio anytune/plain per configuration (> 1 = anytune faster). On CUDA it adds MFU:
non-padding tokens/s × training FLOPs per token (anytune.estimation.workload.flops_per_token) / the GPU's
peak dense bf16 FLOP/s from anytune's catalog. The model is built from a config (random weights) and the
tokenizer trained on the fly: nothing is downloaded. ``--json FILE`` writes every figure. On CUDA it also
prints what anytune's estimate planned for each run (measured/planned); ``--plan-for H200`` prints only that,
without training (to set beside an earlier GPU run).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SHAPES = {  # name -> LlamaConfig keywords (vocab 8192 for cpu, 32000 for the GPU shapes)
    "cpu": dict(hidden_size=384, num_hidden_layers=6, num_attention_heads=6, num_key_value_heads=2,
                intermediate_size=1024, vocab_size=8192),
    "0.6b": dict(hidden_size=1536, num_hidden_layers=24, num_attention_heads=12, num_key_value_heads=4,
                 intermediate_size=4096, vocab_size=32000),
}


def build_model(folder: Path, shape: str, bf16: bool) -> Path:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from anytune.testing.tiny_model import tiny_corpus, train_tokenizer

    tok = train_tokenizer(tiny_corpus(4000, seed=1), vocab_size=2048)
    cfg = LlamaConfig(**SHAPES[shape], max_position_embeddings=4096, tie_word_embeddings=True,
                      pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id, bos_token_id=None)
    torch.manual_seed(0)
    model = LlamaForCausalLM(cfg).to(torch.bfloat16 if bf16 else torch.float32)
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


def write_data(path: Path, n: int, max_words: int, seed: int = 0) -> None:
    """Support-ticket-like pairs with a long-tailed length spread (log-normal), as real SFT data has."""
    from anytune.testing.tiny_model import _WORDS

    rng = random.Random(seed)

    def text(mean: float) -> str:
        k = max(3, min(max_words, int(rng.lognormvariate(0, 0.7) * mean)))
        return " ".join(rng.choice(_WORDS) for _ in range(k)).capitalize() + "."

    with open(path, "w", encoding="utf-8") as f:
        for _ in range(n):
            f.write(json.dumps({"prompt": text(max_words / 6), "completion": text(max_words / 4)}) + "\n")


def process(cmd: list[str], env: dict, folder: Path) -> tuple[str, float, float]:
    """Run ``cmd`` to its end: (stdout, wall seconds, the process's peak RSS in GB, from os.wait4)."""
    started = time.perf_counter()
    with open(folder / "stdout", "w") as out, open(folder / "stderr", "w") as err:
        p = subprocess.Popen(cmd, env=env, stdout=out, stderr=err)
        _, status, usage = os.wait4(p.pid, 0)
    wall = time.perf_counter() - started
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode:
        sys.exit(f"{' '.join(cmd[:4])} failed ({p.returncode}):\n{(folder / 'stdout').read_text()[-2000:]}\n"
                 f"{(folder / 'stderr').read_text()[-3000:]}")
    return (folder / "stdout").read_text(), wall, usage.ru_maxrss / 1e6  # ru_maxrss is KiB on Linux


def anytune_side(model: Path, data: Path, work: Path, cfg: dict, env: dict) -> dict:
    out = work / "anytune-out"
    spec = _bench_spec(model, data, cfg)
    (work / "spec.json").write_text(spec.model_dump_json())
    cmd = [sys.executable, "-m", "anytune.trainer", "--spec", str(work / "spec.json"), "--train", str(data),
           "--output", str(out), "--checkpoints", str(work / "ckpt"), "--logs", str(work / "logs"),
           "--status", str(work / "status.json")]
    stdout, wall, rss = process(cmd, env, work)
    m = json.loads((out / "metrics.json").read_text())
    setup = next((line for line in stdout.splitlines() if line.startswith("trainer: ")), "")
    threads = next((line for line in stdout.splitlines() if line.startswith("threads: ")), "")
    return {"threads": threads.removeprefix("threads: "), "tokens_per_second": m["tokens_per_second"], "train_runtime_s": m["train_runtime_s"],
            "train_loss": m["train_loss"], "steps": m["steps"], "wall_s": wall, "peak_rss_gb": rss,
            "peak_gpu_memory_gb": m.get("peak_gpu_memory_gb"), "setup": setup.removeprefix("trainer: ").removeprefix("anytune's trainer: ")}


def plain_side(model: Path, data: Path, work: Path, cfg: dict, env: dict) -> dict:
    cmd = [sys.executable, str(HERE / "plain_trainer.py"), "--model", str(model), "--data", str(data),
           "--out", str(work / "plain-out"), "--method", cfg["method"], "--epochs", str(cfg["epochs"]),
           "--batch-size", str(cfg["batch"]), "--lr", "2e-4", "--max-len", str(cfg["max_len"]), "--seed", "42"]
    stdout, wall, rss = process(cmd, env, work)
    return {**json.loads(stdout.strip().splitlines()[-1]), "wall_s": wall, "peak_rss_gb": rss}


def _bench_spec(model: Path, data: Path, cfg: dict):
    from anytune.spec import JobSpec

    return JobSpec.model_validate({
        # the whole file trains (the trainer is given it as --train; the estimate must count all of it)
        "name": "bench", "base_model": str(model), "method": cfg["method"],
        "data": {"train": str(data), "split": [1.0, 0.0, 0.0]}, "evaluation": {"enabled": False},
        "hyperparameters": {"epochs": cfg["epochs"], "batch_size": cfg["batch"], "learning_rate": 2e-4,
                            "max_seq_length": cfg["max_len"], "seed": 42, "packing": cfg["packing"],
                            "liger": cfg.get("liger", False),
                            "lora": {"r": 8, "alpha": 16, "dropout": 0.05}}})


def planned(model: Path, data: Path, cfg: dict, gpu: str, work: Path) -> tuple[float, str]:
    """What anytune's estimate plans for this run on one ``gpu`` (uncalibrated): training tokens/s, and how."""
    from decimal import Decimal

    from anytune.data import prepare
    from anytune.estimation import plan_machine

    spec = _bench_spec(model, data, cfg)
    stats = prepare(spec, work / f"prepared-{cfg['method']}").stats
    est = plan_machine(spec, stats, Decimal(0), gpu, 1, provider="bench")
    how = next((a for a in est.assumptions if a.startswith("throughput: ")), "")
    return stats.train.tokens * cfg["epochs"] / (est.hours * 3600), how.removeprefix("throughput: ")


def mfu(result: dict, model: Path, method: str, mean_tokens: float, peak_tflops: float) -> float:
    from anytune.estimation.model_size import from_folder
    from anytune.estimation.workload import flops_per_token

    per_token = flops_per_token(from_folder(model), method, mean_tokens)
    return result["tokens_per_second"] * per_token / (peak_tflops * 1e12)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    ap.add_argument("--size", choices=sorted(SHAPES), default=None, help="model shape (default: cpu / 0.6b)")
    ap.add_argument("--methods", default=None, help="comma-separated (default: full,lora on CPU; lora on CUDA)")
    ap.add_argument("--packing", choices=["off", "on", "both"], default="off", help="anytune side only")
    ap.add_argument("--liger", action="store_true", help="anytune side with hyperparameters.liger (CUDA, "
                    "liger-kernel installed); the plain script stays without it")
    ap.add_argument("--examples", type=int, default=None, help="default: 160 (CPU), 2048 (CUDA)")
    ap.add_argument("--batch-size", type=int, default=None, help="default: 8 (CPU), 16 (CUDA)")
    ap.add_argument("--max-len", type=int, default=None, help="default: 256 (CPU), 1024 (CUDA)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--omp-wait-policy", default=None, help="set OMP_WAIT_POLICY for both sides (default: each "
                    "side's own behaviour: anytune's trainer decides; the plain script gets the OpenMP default)")
    ap.add_argument("--anytune-omp", default=None, help="OMP_WAIT_POLICY for the anytune side only (e.g. PASSIVE: "
                    "the trainer's fixed default before it chose by the machine)")
    ap.add_argument("--warmup", type=int, default=None, help="untimed plain runs first (default: 1 on CUDA, 0 on "
                    "CPU): the first process on a fresh GPU machine pays its start-up")
    ap.add_argument("--load", type=int, default=0, help="busy processes to run alongside (a shared CPU)")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--plan-for", default=None, metavar="GPU", help="train nothing: print what anytune's estimate "
                    "plans for these runs on one GPU (e.g. H200), to set beside a measured run")
    args = ap.parse_args()
    cuda = args.device == "cuda"
    size = args.size or ("0.6b" if cuda else "cpu")
    methods = (args.methods or ("lora" if cuda else "full,lora")).split(",")
    examples = args.examples or (2048 if cuda else 160)
    batch = args.batch_size or (16 if cuda else 8)
    max_len = args.max_len or (1024 if cuda else 256)
    if args.liger and not cuda and not args.plan_for:
        sys.exit("--liger needs --device cuda: Liger's kernels are Triton kernels for CUDA GPUs")
    packings = {"off": [False], "on": [True], "both": [False, True]}[args.packing]

    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    env.update(HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false",
               PYTHONPATH=os.pathsep.join([str(HERE.parent / "src"), env.get("PYTHONPATH", "")]))
    if args.omp_wait_policy:
        env["OMP_WAIT_POLICY"] = args.omp_wait_policy
    work = Path(tempfile.mkdtemp(prefix="anytune-bench-"))
    model = build_model(work / "model", size, bf16=cuda)
    data = work / "train.jsonl"
    write_data(data, examples, max_words=max_len // 3)
    from anytune.estimation.model_size import from_folder

    print(f"model {size}: {from_folder(model).params / 1e6:.1f}M parameters; {examples} examples, batch {batch}, "
          f"max_len {max_len}, 1 epoch; device {args.device}; OMP_WAIT_POLICY "
          f"{args.omp_wait_policy or 'as each side leaves it'}"
          + (f" (anytune side: {args.anytune_omp})" if args.anytune_omp else ""))
    if args.plan_for:
        for method in methods:
            for packing in packings:
                cfg = {"method": method, "packing": packing, "epochs": 1, "batch": batch, "max_len": max_len,
                       "liger": args.liger}
                tps, how = planned(model, data, cfg, args.plan_for, work)
                print(f"  {method}{' packed' if packing else ''}: planned {tps:,.0f} tok/s on one {args.plan_for} "
                      f"({how})")
        return
    peak = None
    if cuda:
        import torch

        from anytune.estimation.hardware import get_gpu

        name = torch.cuda.get_device_name()
        gpu = get_gpu(name)
        peak = gpu.peak_tflops if gpu else None
        print(f"GPU {name}: peak {peak} TFLOP/s dense bf16 (anytune's catalog)")
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model)
    rows = [json.loads(x) for x in data.read_text().splitlines()]
    mean_tokens = statistics.mean(
        min(max_len, len(tok.apply_chat_template([{"role": "user", "content": r["prompt"]},
                                                  {"role": "assistant", "content": r["completion"]}])))
        for r in rows)

    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.load)]
    if hogs:
        print(f"{len(hogs)} busy process(es) alongside")
    try:
        for i in range(args.warmup if args.warmup is not None else int(cuda)):
            (work / f"warmup-{i}").mkdir()
            plain_side(model, data, work / f"warmup-{i}", {"method": methods[0], "epochs": 1, "batch": batch,
                                                          "max_len": max_len}, env)
            print("warm-up run done (not counted)", flush=True)
        common = {"epochs": 1, "batch": batch, "max_len": max_len, **({"liger": True} if args.liger else {})}
        results = measure(args, methods, packings, cfg_common=common,
                          model=model, data=data, work=work, env=env, peak=peak, mean_tokens=mean_tokens, cuda=cuda)
    finally:
        for h in hogs:
            h.kill()
    if args.json:
        args.json.write_text(json.dumps({"model": size, "device": args.device, "load": args.load,
                                         "results": results}, indent=1))


def measure(args, methods, packings, *, cfg_common, model, data, work, env, peak, mean_tokens, cuda) -> list[dict]:
    results, plain_runs = [], {}  # the plain script has no packing: one set of its runs per method
    for method in methods:
        for packing in packings:
            cfg = {"method": method, "packing": packing, **cfg_common}
            label = f"{method}{' packed' if packing else ''}{' liger' if cfg.get('liger') else ''}"
            rounds = {"anytune": [], "plain": []}
            for r in range(args.rounds):
                order = ("anytune", "plain") if r % 2 == 0 else ("plain", "anytune")
                for side in order:
                    if side == "plain" and (method, r) in plain_runs:
                        rounds[side].append(plain_runs[method, r])
                        continue
                    run_dir = work / f"{label.replace(' ', '-')}-{side}-{r}"
                    run_dir.mkdir()
                    if side == "anytune":
                        res = anytune_side(model, data, run_dir, cfg,
                                           {**env, "OMP_WAIT_POLICY": args.anytune_omp} if args.anytune_omp else env)
                    else:
                        res = plain_side(model, data, run_dir, cfg, env)
                    if side == "plain":
                        plain_runs[method, r] = res
                    if peak:
                        res["mfu"] = mfu(res, model, method, mean_tokens, peak)
                    rounds[side].append(res)
                    mem = (f"peak GPU {res['peak_gpu_memory_gb']:.2f} GB" if res.get("peak_gpu_memory_gb")
                           else f"peak RSS {res['peak_rss_gb']:.2f} GB")
                    line = (f"  {label:12s} round {r} {side:7s}: {res['tokens_per_second']:9.0f} tok/s, train "
                            f"{res['train_runtime_s']:6.1f} s, wall {res['wall_s']:6.1f} s, loss "
                            f"{res['train_loss']:.5f}, {mem}")
                    if "mfu" in res:
                        line += f", MFU {res['mfu']:.3f}"
                    if res.get("setup") and r == 0:
                        line += f"  [{res['setup']}{'; ' + res['threads'] if res.get('threads') else ''}]"
                    print(line, flush=True)
            med = {s: statistics.median(x["tokens_per_second"] for x in v) for s, v in rounds.items()}
            wall = {s: statistics.median(x["wall_s"] for x in v) for s, v in rounds.items()}
            key = "peak_gpu_memory_gb" if cuda else "peak_rss_gb"
            mem = {s: statistics.median(x[key] or 0 for x in v) for s, v in rounds.items()}
            ratio = med["anytune"] / med["plain"]
            print(f"{label}: anytune/plain tokens/s {ratio:.2f}x (median {med['anytune']:.0f} vs "
                  f"{med['plain']:.0f}); wall plain/anytune {wall['plain'] / wall['anytune']:.2f}x; peak memory "
                  f"anytune/plain {mem['anytune'] / max(mem['plain'], 1e-9):.2f}x")
            entry = {"config": cfg, "label": label, "ratio_tokens_per_second": ratio, "rounds": rounds}
            if cuda:
                import torch

                tps, how = planned(model, data, cfg, torch.cuda.get_device_name(), work)
                entry["planned_tokens_per_second"] = tps
                print(f"{label}: anytune's estimate planned {tps:.0f} tok/s ({how}): measured/planned "
                      f"{med['anytune'] / tps:.2f}x")
            results.append(entry)
    return results


if __name__ == "__main__":
    main()
