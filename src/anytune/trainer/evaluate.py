"""Generation evaluation at the end of a training run: the tuned model in memory and its base answer the
held-out split, scored against the references (:mod:`anytune.evaluation`). Runs wherever the trainer runs,
so eval.json and samples.jsonl come back with the model from every cloud."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import DataError
from ..spec import JobSpec
from .dataset import read_jsonl
from .platform import RunPaths

METRIC_MODULES = {"rouge_l": "rouge_score", "bleu": "sacrebleu"}


def require_metrics(spec: JobSpec) -> None:
    """Before training: the metric libraries the evaluation will need, so a missing one fails in seconds."""
    from ..optional import require

    if spec.evaluation.enabled:
        for name in spec.evaluation.metrics:
            if name in METRIC_MODULES:
                require(METRIC_MODULES[name])


def pick_split(spec: JobSpec, paths: RunPaths) -> tuple[str, Path] | None:
    want = spec.evaluation.split
    if want in ("auto", "test") and paths.test:
        return "test", paths.test
    if want in ("auto", "validation") and paths.validation:
        return "validation", paths.validation
    return None


def _base_engine(spec: JobSpec, tuned, tokenizer):
    from ..inference.hf import TransformersEngine, _device_and_dtype, _from_pretrained

    if tuned.is_adapter:
        return tuned.base(label=_base_label(spec))
    device, dtype = _device_and_dtype()
    model = _from_pretrained(spec.base_model, "the base model", dtype=dtype)
    return TransformersEngine(model.to(device), tokenizer, label=_base_label(spec), batch_size=tuned.batch_size)


def _base_label(spec: JobSpec) -> str:
    return f"base ({Path(spec.base_model).name})"


def run_evaluation(spec: JobSpec, paths: RunPaths, model, tokenizer,
                   log: Callable[[str], None]) -> dict[str, Any] | None:
    """eval.json's content (with samples) for the trained ``model``, or None when there is nothing to score."""
    from ..evaluation import evaluate, examples_from
    from ..inference.hf import TransformersEngine

    config = spec.evaluation
    if not config.enabled:
        return None
    chosen = pick_split(spec, paths)
    if chosen is None:
        log(f"generation evaluation skipped: no {config.split if config.split != 'auto' else 'test or validation'} split")
        return None
    split, path = chosen
    try:
        examples = examples_from(read_jsonl(path), limit=config.max_examples, source=str(path))
    except DataError as exc:
        log(f"generation evaluation skipped: {exc}")
        return None
    tuned = TransformersEngine(model, tokenizer, label=f"tuned ({spec.name})", batch_size=config.batch_size)
    base = _base_engine(spec, tuned, tokenizer) if config.compare_base else None
    step = max(1, len(examples) // 4)

    def progress(label: str, done: int, total: int) -> None:
        if done == total or done // step != (done - config.batch_size) // step:
            log(f"evaluating {label}: {done}/{total} answers generated")

    log(f"generation evaluation: {len(examples)} {split} examples, {', '.join(config.metrics)}")
    result = evaluate(examples, tuned, base, config, seed=spec.hyperparameters.seed, split=split, progress=progress)
    for name, row in result["metrics"].items():
        if row.get("base") is not None:
            lo, hi = row["ci95"]
            log(f"  {name}: base {row['base']:.3f} -> tuned {row['tuned']:.3f} ({row['difference']:+.3f}, "
                f"95% CI {lo:+.3f}..{hi:+.3f})")
        else:
            log(f"  {name}: tuned {row['tuned']:.3f}")
    return result
