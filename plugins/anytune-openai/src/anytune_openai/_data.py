"""Prepared data -> OpenAI fine-tuning files: converted, then checked against OpenAI's rules.

Conversion and the per-line rules live once in ``anytune.openai_format`` (the server checks uploads
with the same code). Here: the whole-file rules — at least 10 training examples, and examples longer
than the model's context (OpenAI truncates them; ``data.too_long: fail`` refuses them instead).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from anytune import openai_format
from anytune.errors import DataError


@dataclass(frozen=True)
class OpenAIFiles:
    kind: str  # "chat" | "preference" after conversion
    files: dict[str, Path]  # "train", "validation" (OpenAI has no test split)
    sha256: dict[str, str]
    examples: dict[str, int]
    truncated: int = 0  # training examples OpenAI will cut at the model's context

    @property
    def method(self) -> str:
        return openai_format.METHOD_OF[self.kind]


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def convert(spec, prepared, out_dir: Path, *, model: str | None = None, catalog=None) -> OpenAIFiles:
    """Write the prepared train/validation splits as OpenAI JSONL into ``out_dir`` and check them.
    ``model`` and ``catalog`` (when the catalog knows the model) enable the per-example token check."""
    files, sums, counts = {}, {}, {}
    kind = None
    truncated = 0
    for split in ("train", "validation"):
        src = prepared.files.get(split)
        if src is None:
            continue
        records = [openai_format.to_openai(r, prepared.format, spec.data.system_prompt)
                   for r in openai_format.read_jsonl(Path(src))]
        dest = Path(out_dir) / f"{split}.jsonl"
        openai_format.write_jsonl(records, dest)
        checked = openai_format.check_file(dest, source=str(src))
        kind = kind or checked.kind
        files[split], sums[split], counts[split] = dest, _sha256(dest), checked.examples
        if split == "train" and kind == openai_format.CHAT and catalog is not None and catalog.model(model):
            truncated = _check_lengths(records, model, catalog, spec, str(src))
    if counts.get("train", 0) < openai_format.MIN_EXAMPLES:
        raise DataError(f"OpenAI needs at least {openai_format.MIN_EXAMPLES} training examples; the train split has "
                        f"{counts.get('train', 0)}", file=str(prepared.files.get("train", "")) or None,
                        hint="add examples (OpenAI suggests 50-100 to see an improvement)")
    if counts.get("validation") == 0:
        files.pop("validation"), sums.pop("validation"), counts.pop("validation")
    return OpenAIFiles(kind or openai_format.CHAT, files, sums, counts, truncated)


def _check_lengths(records: list[dict], model: str, catalog, spec, source: str) -> int:
    from anytune.estimation import openai_billed_tokens

    billed = openai_billed_tokens(records, model, epochs=1, catalog=catalog)
    if billed.truncated and spec.data.too_long == "fail":
        first = next(i for i, t in enumerate(billed.per_example, 1) if t > billed.context)
        raise DataError(f"example has {billed.per_example[first - 1]:,} tokens; {model} takes at most "
                        f"{billed.context:,} per example ({billed.truncated} examples are too long)",
                        file=source, line=first, hint="shorten them, or set data.too_long: truncate")
    return billed.truncated
