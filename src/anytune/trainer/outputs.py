"""What the trainer leaves in its output dir: the model (or LoRA adapter) as safetensors, the tokenizer,
metrics.json and anytune-manifest.json (sha256 + size of every file, written last: its presence means
the output is complete)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from ..artifacts import MANIFEST, write_manifest
from ..errors import ConfigError

METRICS = "metrics.json"


def check_output_dir(out: Path, *, resuming: bool) -> None:
    """Refuse to write into a folder holding someone else's files. A previous anytune output (it has a
    manifest) is replaced; so is a partial one when the run resumes from a checkpoint."""
    if out.is_dir() and any(out.iterdir()):
        if not ((out / MANIFEST).exists() or resuming):
            raise ConfigError(f"the output folder {out} is not empty and holds no anytune model",
                              ["pick another output folder (--output) or empty this one"])


def clear_dir(out: Path) -> None:
    """Empty ``out`` (not the folder itself: on SageMaker it is a mount point)."""
    for child in out.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()


def save(model, tokenizer, out: Path, metrics: dict[str, Any], evaluation: dict[str, Any] | None = None,
         state_dict: dict[str, Any] | None = None) -> None:
    """The model, tokenizer, metrics.json and (when there was one) the generation evaluation's eval.json
    and samples.jsonl; the manifest, written last, checksums them all. ``state_dict``: the full weights
    gathered from sharded processes (FSDP, ZeRO-3), else the model's own."""
    out.mkdir(parents=True, exist_ok=True)
    clear_dir(out)
    extra = {}
    if len(getattr(model, "peft_config", {})) > 1:  # e.g. TRL's DPO adds a "ref" adapter: keep the trained one
        extra["selected_adapters"] = ["default"]
    if state_dict is not None:  # gathered copies: a tied weight (lm_head = embeddings) no longer shares storage
        tied = ({n for n, _ in model.named_parameters(remove_duplicate=False)}
                - {n for n, _ in model.named_parameters()})
        extra["state_dict"] = {k: v for k, v in state_dict.items() if k not in tied}
    model.save_pretrained(out, **extra)  # safetensors: model.safetensors, or adapter_model.safetensors for LoRA
    tokenizer.save_pretrained(out)
    (out / METRICS).write_text(json.dumps(metrics, indent=1))
    if evaluation is not None:
        from ..evaluation import write

        write(evaluation, out)
    write_manifest(out)


def add_evaluation(out: Path, metrics: dict[str, Any], evaluation: dict[str, Any]) -> None:
    """The generation evaluation of a model already saved in ``out`` (a sharded run evaluates what it
    saved): the manifest goes first, so until it is written again the folder does not pass for complete."""
    from ..evaluation import write

    (out / MANIFEST).unlink(missing_ok=True)
    (out / METRICS).write_text(json.dumps(metrics, indent=1))
    write(evaluation, out)
    write_manifest(out)
