"""Canonical JSONL -> token ids with loss masks, and the batch collator.

Each record is rendered by :func:`anytune.data.template.render` into (prompt, completion); the prompt's
tokens get label -100 so the loss covers only what the model should learn to write. Examples longer than
``max_seq_length`` are truncated from the right; an example with no completion token left is dropped and
counted.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..data.template import render
from ..errors import DataError

IGNORE = -100


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    records = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"not valid JSON: {exc.msg}", file=str(path), line=n) from None
            if not isinstance(rec, dict):
                raise DataError("each line must be a JSON object", file=str(path), line=n)
            records.append(rec)
    if not records:
        raise DataError("no records", file=str(path), hint="the prepared split is empty")
    return records


@dataclass
class Tokenized:
    examples: list[dict[str, list[int]]]
    dropped: int
    tokens: int  # input tokens kept (no padding)
    completion_tokens: int  # tokens the loss is taken on

    def __len__(self) -> int:
        return len(self.examples)

    def __getitem__(self, i: int) -> dict[str, list[int]]:
        return self.examples[i]


def tokenize(records: list[dict[str, Any]], tokenizer, max_len: int, *, source: str = "") -> Tokenized:
    pairs = []
    for n, rec in enumerate(records, 1):
        try:
            pairs.append(render(rec, tokenizer))
        except DataError as exc:
            raise DataError(str(exc), file=source or None, line=n) from None
    prompts = tokenizer([p for p, _ in pairs], add_special_tokens=False)["input_ids"]
    completions = tokenizer([c for _, c in pairs], add_special_tokens=False)["input_ids"]
    bos = tokenizer.bos_token_id if getattr(tokenizer, "add_bos_token", False) else None
    out, dropped, tokens, trained = [], 0, 0, 0
    for p, c in zip(prompts, completions, strict=True):
        if bos is not None and (p[:1] or c[:1]) != [bos]:
            p = [bos] + p
        ids = (p + c)[:max_len]
        labels = ([IGNORE] * len(p) + c)[:max_len]
        kept = sum(1 for x in labels if x != IGNORE)
        if kept == 0:
            dropped += 1
            continue
        out.append({"input_ids": ids, "labels": labels})
        tokens += len(ids)
        trained += kept
    if not out:
        raise DataError(f"every example lost its completion to max_seq_length={max_len}", file=source or None,
                        hint="raise hyperparameters.max_seq_length or shorten the prompts")
    return Tokenized(out, dropped, tokens, trained)


@dataclass
class Collator:
    """Pads a batch to its longest example (to a multiple of ``multiple_of`` on GPU)."""

    pad_id: int
    multiple_of: int = 1

    def __call__(self, batch: list[dict[str, list[int]]]) -> dict[str, Any]:
        import torch

        longest = max(len(x["input_ids"]) for x in batch)
        width = -(-longest // self.multiple_of) * self.multiple_of
        ids = torch.full((len(batch), width), self.pad_id, dtype=torch.long)
        labels = torch.full((len(batch), width), IGNORE, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for i, x in enumerate(batch):
            n = len(x["input_ids"])
            ids[i, :n] = torch.tensor(x["input_ids"])
            labels[i, :n] = torch.tensor(x["labels"])
            mask[i, :n] = 1
        return {"input_ids": ids, "labels": labels, "attention_mask": mask}


@dataclass
class Flattening:
    """Packs a batch into one row without padding: the examples are concatenated, position ids restart at 0
    for each, and each example's first label is -100 so no token learns to predict across a boundary. With
    no attention mask and no cache, Transformers reads the boundaries from the position ids and masks
    attention to stay inside each example (``masking_utils.find_packed_sequence_indices``)."""

    def __call__(self, batch: list[dict[str, list[int]]]) -> dict[str, Any]:
        import torch

        ids, labels, positions = [], [], []
        for x in batch:
            n = len(x["input_ids"])
            ids += x["input_ids"]
            labels += [IGNORE] + x["labels"][1:]
            positions += range(n)
        return {"input_ids": torch.tensor([ids]), "labels": torch.tensor([labels]),
                "position_ids": torch.tensor([positions]), "use_cache": False}
