"""Benchmark: ``anytune serve`` chat completions with 8 concurrent clients against one sequential client, and
time to first token when streaming, on the quickstart model, in one run.

    python benchmarks/serve_inference.py [--requests 32] [--clients 8] [--max-tokens 48] [--rounds 3]
    python benchmarks/serve_inference.py --base-url http://127.0.0.1:8000/v1 --served-model NAME   # a running
        server, e.g. `anytune serve --engine vllm --model NAME=FOLDER`; its key from $ANYTUNE_SERVE_API_KEYS

Without --base-url the server runs in this process on 127.0.0.1 (uvicorn, as ``anytune serve`` runs it,
transformers engine); every client is the
official ``openai`` client over HTTP. Each request is one support question from the quickstart data, answered
greedily. Tokens/s counts the completion tokens the server reports in ``usage``. The rounds alternate
sequential and concurrent so a noisy machine hurts both alike. Prints each round and the medians.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as the trainer and the CLI run
QUICKSTART = Path(__file__).resolve().parents[1] / "examples" / "quickstart"
KEY = "sk-anytune-benchmark-0123456789"


def questions(n: int) -> list[str]:
    with open(QUICKSTART / "support_tickets.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return [r["question"] for r in rows[-n:]]


MODEL = "quickstart"


def ask(api, question: str, max_tokens: int) -> int:
    reply = api.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": question}],
                                        temperature=0, max_tokens=max_tokens)
    return reply.usage.completion_tokens


def run(api, items: list[str], clients: int, max_tokens: int) -> tuple[float, int]:
    """(seconds, completion tokens) for every question, ``clients`` at a time."""
    start = time.perf_counter()
    if clients == 1:
        tokens = sum(ask(api, q, max_tokens) for q in items)
    else:
        with ThreadPoolExecutor(clients) as pool:
            tokens = sum(pool.map(lambda q: ask(api, q, max_tokens), items))
    return time.perf_counter() - start, tokens


def first_token(api, question: str, max_tokens: int) -> tuple[float, float]:
    """(seconds to the first streamed content chunk, seconds to the end) for one streamed request."""
    start = time.perf_counter()
    ttft = None
    for chunk in api.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": question}],
                                             temperature=0, max_tokens=max_tokens, stream=True):
        if ttft is None and chunk.choices and chunk.choices[0].delta.content:
            ttft = time.perf_counter() - start
    return ttft if ttft is not None else float("nan"), time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--requests", type=int, default=32)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--max-tokens", type=int, default=48)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--streams", type=int, default=8, help="streamed requests timed for time to first token")
    ap.add_argument("--model", default=str(QUICKSTART / "model"))
    ap.add_argument("--base-url", help="benchmark this running server instead of starting one")
    ap.add_argument("--served-model", default="quickstart", help="with --base-url: the model id to ask")
    args = ap.parse_args()
    global MODEL
    MODEL = args.served_model

    import openai

    from anytune.serve import config as cfg
    from anytune.serve.testing import serve_thread

    items = questions(args.requests)
    with contextlib.ExitStack() as stack:
        if args.base_url:
            url, key = args.base_url, os.environ.get(cfg.KEYS_ENV, KEY).split(",")[0].strip()
        else:
            home = stack.enter_context(tempfile.TemporaryDirectory())
            url, key = stack.enter_context(serve_thread(cfg.ServeConfig(
                home=Path(home), api_keys=(KEY,), models={MODEL: Path(args.model)}, run_jobs=False))), KEY
        api = openai.OpenAI(base_url=url, api_key=key, max_retries=0, timeout=600)
        ask(api, items[0], args.max_tokens)  # load the model before timing
        seq, conc = [], []
        print(f"{len(items)} requests, max_tokens {args.max_tokens}, model {args.base_url or args.model}, "
              f"{os.cpu_count()} CPUs, python {sys.version.split()[0]}")
        for r in range(args.rounds):
            for label, clients, into in (("sequential", 1, seq), (f"{args.clients} concurrent", args.clients, conc)):
                secs, tokens = run(api, items, clients, args.max_tokens)
                into.append((secs, tokens))
                print(f"round {r + 1} {label:>13}: {len(items) / secs:6.2f} requests/s, {tokens / secs:7.1f} "
                      f"tokens/s ({tokens} tokens in {secs:.2f} s)")
        ttfts = [first_token(api, q, args.max_tokens) for q in items[:args.streams]]
    req = [statistics.median(len(items) / s for s, _ in x) for x in (seq, conc)]
    tok = [statistics.median(t / s for s, t in x) for x in (seq, conc)]
    print(f"median: sequential {req[0]:.2f} req/s {tok[0]:.1f} tok/s; {args.clients} concurrent {req[1]:.2f} req/s "
          f"{tok[1]:.1f} tok/s; concurrent/sequential {req[1] / req[0]:.2f}x requests/s, {tok[1] / tok[0]:.2f}x "
          "tokens/s")
    print(f"streaming, one client: time to first token median {statistics.median(t for t, _ in ttfts) * 1000:.0f} ms "
          f"(whole answer {statistics.median(e for _, e in ttfts) * 1000:.0f} ms), {len(ttfts)} requests")


if __name__ == "__main__":
    main()
