"""Benchmark: ``anytune eval``'s batched generation against a plain ``model.generate`` loop, one prompt at a
time (what a user writes by hand), on the quickstart model and questions from its data, in one run.

    python benchmarks/generation.py [--prompts 128] [--max-new-tokens 64] [--batch-size 16] [--rounds 3]

Both sides generate greedily with the same model, prompts (rendered by the same chat template) and token
limit; the rounds alternate A/B so a noisy machine hurts both alike. Tokens/s counts generated tokens up to
and including the end-of-answer token (no padding). Prints each round and the median ratio.
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as the trainer and the CLI run
QUICKSTART = Path(__file__).resolve().parents[1] / "examples" / "quickstart"


def prompts(n: int):
    from anytune.inference import Prompt

    with open(QUICKSTART / "support_tickets.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return [Prompt.chat([{"role": "user", "content": r["question"]}]) for r in rows[-n:]]


def plain_loop(engine, items, max_new_tokens: int) -> int:
    import torch

    eos, tokens = set(engine._eos_ids()), 0
    for p in items:
        ids = torch.tensor([engine._encode(engine.prompt_text(p))])
        with torch.inference_mode():
            out = engine.model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), do_sample=False,
                                        max_new_tokens=max_new_tokens, pad_token_id=engine.tokenizer.pad_token_id,
                                        eos_token_id=sorted(eos))
        new = out[0, ids.shape[1]:].tolist()
        tokens += next((k + 1 for k, t in enumerate(new) if t in eos), len(new))
    return tokens


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--prompts", type=int, default=128)
    ap.add_argument("--max-new-tokens", type=int, default=64)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--model", default=str(QUICKSTART / "model"))
    args = ap.parse_args()

    from anytune.inference import GenerationParams
    from anytune.inference.hf import load

    engine = load(args.model)
    engine.batch_size = args.batch_size
    items = prompts(args.prompts)
    params = GenerationParams(max_new_tokens=args.max_new_tokens)
    engine.generate(items[:args.batch_size], params)  # warm up both paths once
    plain_loop(engine, items[:2], args.max_new_tokens)
    ratios = []
    print(f"{len(items)} prompts, max_new_tokens {args.max_new_tokens}, batch {args.batch_size}, "
          f"model {args.model}, torch threads {__import__('torch').get_num_threads()}")
    for r in range(1, args.rounds + 1):
        t = time.perf_counter()
        batched_tokens = sum(g.completion_tokens for g in engine.generate(items, params))
        batched = batched_tokens / (time.perf_counter() - t)
        t = time.perf_counter()
        plain_tokens = plain_loop(engine, items, args.max_new_tokens)
        plain = plain_tokens / (time.perf_counter() - t)
        ratios.append(batched / plain)
        print(f"round {r}: anytune batched {batched:8.0f} tok/s ({batched_tokens} tokens)   "
              f"plain loop {plain:8.0f} tok/s ({plain_tokens} tokens)   ratio {batched / plain:.2f}x")
    print(f"median ratio (batched / one at a time): {statistics.median(ratios):.2f}x")


if __name__ == "__main__":
    main()
