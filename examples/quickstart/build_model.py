"""Build the quickstart's base model offline: a small Llama-shaped model (~1M parameters, ~4 MB), its
byte-level BPE tokenizer (with a chat template) trained on the generated corpus in corpus.py, briefly
pretrained with anytune's own trainer on that corpus: plain paragraphs plus general chat exchanges, so
the model knows its chat format before the quickstart teaches it the help desk.

    python examples/quickstart/build_model.py       # writes examples/quickstart/model/ (about 1 minute on 2 cores)

The result is committed, so the quickstart needs no build step; this script is how it was made.
Seeded: with the same library versions it rebuilds the committed files byte for byte (checked with
torch 2.13 / transformers 5.23 / tokenizers 0.23 on 1 and 2 threads; other CPUs or versions may differ
in the last bits of the weights). Nothing is downloaded.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))

from corpus import dialogues, paragraphs  # noqa: E402

SHAPE = {"vocab_size": 2048, "hidden_size": 128, "layers": 4, "heads": 4, "kv_heads": 2,
         "intermediate_size": 384, "max_positions": 512}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=HERE / "model")
    parser.add_argument("--paragraphs", type=int, default=3000, help="plain-text paragraphs to pretrain on")
    parser.add_argument("--dialogues", type=int, default=2000, help="general chat exchanges to pretrain on")
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as the trainer does: see anytune/trainer/cli.py

    from anytune.spec import JobSpec
    from anytune.testing.tiny_model import build_tiny_model
    from anytune.trainer.loop import run
    from anytune.trainer.platform import RunPaths

    started = time.time()
    if (args.out / "config.json").exists():
        shutil.rmtree(args.out)  # a previous build: replaced
    texts = [{"text": t} for t in paragraphs(args.paragraphs + 200, seed=args.seed)]
    chats = [{"messages": m} for m in dialogues(args.dialogues + 200, seed=args.seed + 1)]
    train, held_out = texts[:-200] + chats[:-200], texts[-200:] + chats[-200:]
    random.Random(args.seed).shuffle(train)
    tokenizer_text = [r["text"] for r in texts[:-200]] + [m["content"] for r in chats[:-200] for m in r["messages"]]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        init = build_tiny_model(tmp / "init", corpus=tokenizer_text, seed=args.seed, **SHAPE)
        for name, records in (("train", train), ("validation", held_out)):
            with open(tmp / f"{name}.jsonl", "w", encoding="utf-8") as f:
                f.writelines(json.dumps(r) + "\n" for r in records)
        spec = JobSpec(name="quickstart-base", base_model=str(init), data={"train": str(tmp / "train.jsonl")},
                       method="full", hyperparameters={"epochs": args.epochs, "learning_rate": 3e-3, "batch_size": 32,
                                                       "max_seq_length": 256, "warmup_ratio": 0.05,
                                                       "seed": args.seed})
        paths = RunPaths(platform="local", train=tmp / "train.jsonl", validation=tmp / "validation.jsonl", test=None,
                         output=args.out, checkpoints=tmp / "checkpoints", logs=tmp / "logs",
                         status=tmp / "status.json")
        metrics = run(spec, paths, log=lambda line: print(line, flush=True))
    # The folder is a base model now: drop the run's bookkeeping, keep weights, config and tokenizer.
    for name in ("metrics.json", "anytune-manifest.json"):
        (args.out / name).unlink(missing_ok=True)
    size = sum(p.stat().st_size for p in args.out.iterdir()) / 2**20
    print(f"pretraining loss on held-out text: {metrics['eval_loss_before']:.3f} -> {metrics['eval_loss_after']:.3f}")
    print(f"built {args.out} ({size:.1f} MB, {metrics['total_parameters']:,} parameters) "
          f"in {time.time() - started:.0f} s")


if __name__ == "__main__":
    main()
