"""Benchmark: anytune's streaming data pipeline against the naive way, on a generated 1,000,000-example
chat JSONL (about 0.6 GB, written to a temp dir and deleted afterwards).

    python benchmarks/data_pipeline.py [--examples 1000000] [--skip-naive] [--keep DIR]

Measured, each in a fresh subprocess so peak memory is its own:
  anytune  validate + redact + split + hash, writing the canonical splits (``prepare``, tokens not counted)
  tokens   the same with o200k token counting (bpe-openai), reported separately
  naive    pandas.read_json(lines=True) + per-row Python doing the same checks, redaction (same regexes,
           no pre-filter), duplicate detection, split, hash and writing — the way OpenAI's old
           ``prepare_data`` tool worked
Peak memory is the whole process tree's (main + workers), sampled every 0.1 s: RSS, and PSS (pages
shared between forked workers counted once), which is the honest total.

pandas and psutil are needed by this script only (benchmark-only dependencies).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

WORDS = ("the model data train answer question river mountain city history language science music number "
         "because although however system value function return example simple quickly carefully result "
         "table chair window garden coffee morning evening travel paper letter market price energy light "
         "water forest ocean island bridge street school teacher student friend family doctor health").split()


def generate(path: Path, n: int, seed: int = 0) -> None:
    """Chat examples of ~600 bytes; ~1% hold an e-mail or phone number, ~0.5% repeat an earlier one."""
    rng = random.Random(seed)
    kept: list[str] = []
    with open(path, "w", encoding="utf-8") as f:
        for i in range(n):
            if kept and rng.random() < 0.005:
                f.write(rng.choice(kept))
                continue
            q = " ".join(rng.choices(WORDS, k=rng.randint(15, 40)))
            a = " ".join(rng.choices(WORDS, k=rng.randint(40, 90)))
            r = rng.random()
            if r < 0.005:
                q += f" Write to user{i}@example.com please."
            elif r < 0.01:
                a += f" Call me on +44 20 7946 {i % 10000:04d}."
            elif r < 0.05:
                q += f" In {1900 + i % 120} the price was {i % 997}.{i % 100:02d} dollars."
            rec = {"messages": [{"role": "system", "content": "You are a helpful assistant."},
                                {"role": "user", "content": f"{q}?"}, {"role": "assistant", "content": f"{a}."}]}
            line = json.dumps(rec) + "\n"
            if len(kept) < 1000 and rng.random() < 0.01:
                kept.append(line)
            f.write(line)


# --- the runs (each in its own process) --------------------------------------------------------------------


def run_anytune(path: str, out: str, tokens: bool) -> dict:
    from anytune.data import DataOptions, prepare

    opts = DataOptions(train=path, count_tokens=tokens, base_model="gpt-4o-mini" if tokens else None)
    t = time.perf_counter()
    p = prepare(opts, Path(out))
    secs = time.perf_counter() - t
    n = sum(s.examples for s in p.stats.splits.values())
    return {"seconds": secs, "examples": n, "hash": p.content_hash, "redacted": p.redaction,
            "tokens": p.stats.train.tokens}


def run_naive(path: str, out: str) -> dict:
    """The straightforward way: load everything with pandas, then loop over rows in Python."""
    import hashlib
    from collections import Counter

    import pandas as pd

    from anytune.data import pii

    detectors = [("EMAIL", pii.EMAIL, None), ("IBAN", pii.IBAN, pii._iban_span),
                 ("CREDIT_CARD", pii.CARD, pii._card_ok), ("IP_ADDRESS", pii.IPV6, pii._ipv6_ok),
                 ("IP_ADDRESS", pii.IPV4, None), ("PHONE", pii.PHONE, pii._phone_ok)]
    counts: Counter[str] = Counter()

    def redact(text: str) -> str:
        for name, rx, check in detectors:
            text = pii._sub(rx, text, name, counts, check)
        return text

    t = time.perf_counter()
    df = pd.read_json(path, lines=True)
    errors = 0
    rows, seen, norm_seen = [], {}, {}
    for i, messages in enumerate(df["messages"]):
        if not isinstance(messages, list) or not messages:
            errors += 1
            continue
        ok = True
        for m in messages:
            if not isinstance(m, dict) or m.get("role") not in ("system", "user", "assistant") \
                    or not isinstance(m.get("content"), str) or not m["content"].strip():
                ok = False
        if not ok or not any(m["role"] == "assistant" for m in messages):
            errors += 1
            continue
        rec = {"messages": [{"role": m["role"], "content": redact(m["content"])} for m in messages]}
        line = json.dumps(rec, ensure_ascii=False, separators=(",", ":"))
        digest = hashlib.sha256(line.encode()).hexdigest()
        norm = " ".join(" ".join(m["content"].lower().split()) for m in rec["messages"])
        seen.setdefault(digest, i)
        norm_seen.setdefault(norm, i)
        rows.append((norm, line))
    groups = sorted(set(n for n, _ in rows))
    random.Random(42).shuffle(groups)
    cut1, cut2 = int(len(groups) * 0.8), int(len(groups) * 0.9)
    where = {g: (0 if k < cut1 else 1 if k < cut2 else 2) for k, g in enumerate(groups)}
    h = hashlib.sha256()
    files = [open(os.path.join(out, f"{s}.jsonl"), "w", encoding="utf-8") for s in ("train", "validation", "test")]
    for norm, line in rows:
        files[where[norm]].write(line + "\n")
        h.update(line.encode())
    for f in files:
        f.close()
    secs = time.perf_counter() - t
    return {"seconds": secs, "examples": len(rows), "errors": errors, "hash": h.hexdigest(), "redacted": counts,
            "duplicates": len(rows) - len(seen)}


def child(args) -> None:
    import resource

    out = tempfile.mkdtemp(dir=args.tmp)
    result = run_naive(args.path, out) if args.child == "naive" else run_anytune(args.path, out, args.child == "tokens")
    shutil.rmtree(out, ignore_errors=True)
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    result["cpu_seconds"] = me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime
    print(json.dumps(result))


# --- the driver ---------------------------------------------------------------------------------------------


def measure(kind: str, path: Path, tmp: Path) -> dict:
    """Run one kind in a subprocess; sample the process tree's RSS and PSS every 0.1 s."""
    import psutil

    proc = subprocess.Popen([sys.executable, __file__, "--child", kind, "--path", str(path), "--tmp", str(tmp)],
                            stdout=subprocess.PIPE, text=True)
    peak = {"rss": 0, "pss": 0}
    stop = threading.Event()

    def sample():
        root = psutil.Process(proc.pid)
        while not stop.is_set():
            try:
                procs = [root, *root.children(recursive=True)]
                rss = pss = 0
                for p in procs:
                    try:
                        info = p.memory_full_info()
                        rss += info.rss
                        pss += getattr(info, "pss", info.rss)
                    except (psutil.NoSuchProcess, psutil.AccessDenied):
                        pass
                peak["rss"], peak["pss"] = max(peak["rss"], rss), max(peak["pss"], pss)
            except psutil.NoSuchProcess:
                return
            stop.wait(0.1)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    stdout, _ = proc.communicate()
    stop.set()
    thread.join()
    if proc.returncode:
        raise SystemExit(f"{kind} run failed with exit code {proc.returncode}")
    result = json.loads(stdout.strip().splitlines()[-1])
    result.update(peak_rss_mb=peak["rss"] / 2**20, peak_pss_mb=peak["pss"] / 2**20)
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--examples", type=int, default=1_000_000)
    ap.add_argument("--skip-naive", action="store_true")
    ap.add_argument("--skip-tokens", action="store_true")
    ap.add_argument("--keep", help="keep the generated file in this folder (and reuse it next time)")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--path", help=argparse.SUPPRESS)
    ap.add_argument("--tmp", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return child(args)

    tmp = Path(tempfile.mkdtemp(prefix="anytune-bench-"))
    try:
        path = Path(args.keep) / f"chat-{args.examples}.jsonl" if args.keep else tmp / "chat.jsonl"
        if not path.exists():
            t = time.perf_counter()
            generate(path, args.examples)
            print(f"generated {args.examples:,} examples, {path.stat().st_size / 1e6:,.0f} MB in "
                  f"{time.perf_counter() - t:.0f} s", flush=True)
        size_mb = path.stat().st_size / 1e6
        load = os.getloadavg()[0]
        print(f"input: {size_mb:,.0f} MB, {args.examples:,} chat examples; {os.cpu_count()} CPU cores, "
              f"load average {load:.1f} at start\n", flush=True)
        results = {"anytune": measure("anytune", path, tmp)}
        _line("anytune (validate+redact+split+hash)", results["anytune"], args.examples, size_mb)
        if not args.skip_tokens:
            results["tokens"] = measure("tokens", path, tmp)
            _line("anytune + o200k token counting", results["tokens"], args.examples, size_mb)
        if not args.skip_naive:
            results["naive"] = measure("naive", path, tmp)
            _line("naive (pandas + per-row Python)", results["naive"], args.examples, size_mb)
            ratio = results["naive"]["seconds"] / results["anytune"]["seconds"]
            cpu = results["naive"]["cpu_seconds"] / results["anytune"]["cpu_seconds"]
            print(f"\nthroughput ratio anytune / naive: {ratio:.1f}x wall-clock (target >= 3x); "
                  f"{cpu:.1f}x less CPU time")
            print(f"peak memory anytune {results['anytune']['peak_pss_mb']:.0f} MB PSS vs naive "
                  f"{results['naive']['peak_pss_mb']:.0f} MB (target < 500 MB)")
            a, b = results["anytune"]["redacted"], results["naive"]["redacted"]
            print(f"same redactions: {a == b} ({a}); examples kept: anytune {results['anytune']['examples']:,}, "
                  f"naive {results['naive']['examples']:,}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _line(name: str, r: dict, n: int, size_mb: float) -> None:
    print(f"{name:38s} {r['seconds']:6.1f} s wall {n / r['seconds']:>8,.0f} ex/s {size_mb / r['seconds']:5.1f} MB/s | "
          f"CPU {r['cpu_seconds']:6.1f} s | peak RSS {r['peak_rss_mb']:5.0f} MB, PSS {r['peak_pss_mb']:5.0f} MB", flush=True)


if __name__ == "__main__":
    main()
