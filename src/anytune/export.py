"""``anytune export``: a model anyone can load with plain ``transformers`` (no peft, no anytune).

A LoRA adapter is merged into its base (``merge_and_unload``) and saved as safetensors with the tokenizer,
``export.json`` (what was merged, from where) and a checksummed manifest, all into a temporary folder that
takes the destination's place only when complete. A full model is copied the same way.

GGUF (llama.cpp, Ollama): no maintained Hugging Face -> GGUF converter installs from PyPI (the ``gguf``
package reads and writes the format but ships no converter), so anytune does not write one; export
merged, then run llama.cpp's ``convert_hf_to_gguf.py`` on the folder.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

from . import atomic
from .artifacts import MANIFEST, verify_manifest, write_manifest
from .errors import ConfigError

GGUF_HINT = ("GGUF is not written by anytune: no maintained converter installs from PyPI. Export with --merge, "
             "then run llama.cpp's convert_hf_to_gguf.py on the exported folder")
SKIP = {MANIFEST, "metrics.json", "eval.json", "samples.jsonl"}


def default_output(target) -> Path:
    folder = Path(target.path)
    return folder.parent / f"{folder.name}-merged"


def export(target, output: Path, *, merge: bool) -> Path:
    """Write the plain Hugging Face model for ``target`` (an :class:`anytune.models.Target`) to ``output``."""
    from .inference.hf import adapter_base, model_kind

    if target.path is None:
        raise ConfigError(f"{target.label} is hosted by its provider and has no weights to export")
    src = Path(target.path)
    kind = model_kind(src)
    if kind == "adapter" and not merge:
        raise ConfigError(f"{src} is a LoRA adapter", ["pass --merge to merge it into its base model"])
    if output.exists() and any(output.iterdir()) and not (output / MANIFEST).is_file():
        raise ConfigError(f"{output} exists, is not empty and holds no anytune export", ["pick another --output"])
    if (src / MANIFEST).is_file():
        verify_manifest(src)
    with atomic.directory(output) as tmp:
        if kind == "adapter":
            base = target.base_override or target.base_model or adapter_base(src)
            _merge(src, base, tmp)
            info = {"merged": True, "adapter": str(src), "base_model": base}
        else:
            for f in sorted(src.iterdir()):
                if f.is_file() and f.name not in SKIP:
                    shutil.copy2(f, tmp / f.name)
            info = {"merged": False, "model": str(src)}
        info.update(exported_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                    job=target.record.id if target.record is not None else None)
        (tmp / "export.json").write_text(json.dumps(info, indent=1) + "\n")
        write_manifest(tmp)
    return output


def _merge(adapter: Path, base: str, out: Path) -> None:
    from peft import PeftModel
    from transformers import AutoTokenizer
    from transformers.utils import logging as hf_logging

    from .inference.hf import _from_pretrained

    hf_logging.set_verbosity_error()
    model = _from_pretrained(base, "the adapter's base model", dtype="auto")
    merged = PeftModel.from_pretrained(model, str(adapter)).merge_and_unload()
    merged.save_pretrained(out, safe_serialization=True)
    AutoTokenizer.from_pretrained(str(adapter)).save_pretrained(out)
