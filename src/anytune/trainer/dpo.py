"""``objective: dpo``: preference pairs (prompt, chosen, rejected) trained with TRL's ``DPOTrainer``.

The loop in :mod:`.loop` stays the same (evaluation before and after, checkpoints, SIGTERM, outputs); only the
datasets and the trainer class differ. With LoRA/QLoRA the reference model is the base itself (the adapter
switched off, no second copy); with full fine-tuning TRL keeps a frozen copy. Records are given to TRL in its
conversational form when the tokenizer has a chat template, so they are rendered with the model's own template.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..data.template import has_chat_template, preference_prompt
from ..errors import DataError
from .dataset import read_jsonl


@dataclass
class Pairs:
    """One split of preference pairs: a ``datasets.Dataset`` for TRL, and its token count (chosen + rejected)."""

    dataset: Any
    tokens: int
    dropped: int = 0
    completion_tokens: int = 0

    def __len__(self) -> int:
        return len(self.dataset)


def pairs(path: Path, tokenizer) -> Pairs:
    from datasets import Dataset

    records = read_jsonl(path)
    rows, tokens = [], 0
    chat = has_chat_template(tokenizer)
    for n, rec in enumerate(records, 1):
        if not {"chosen", "rejected"} <= set(rec):
            raise DataError("objective: dpo needs preference records (prompt, chosen, rejected)", file=str(path),
                            line=n, hint="convert the data to preference pairs, or use objective: sft")
        messages, prompt = preference_prompt(rec)
        chosen, rejected = str(rec["chosen"]), str(rec["rejected"])
        tokens += sum(len(tokenizer(x, add_special_tokens=False)["input_ids"]) for x in (prompt, chosen, rejected))
        if chat:
            rows.append({"prompt": messages,
                         "chosen": [{"role": "assistant", "content": chosen}],
                         "rejected": [{"role": "assistant", "content": rejected}]})
        else:
            rows.append({"prompt": prompt, "chosen": chosen, "rejected": rejected})
    return Pairs(Dataset.from_list(rows), tokens, completion_tokens=tokens)


def trainer(model, tokenizer, args_kwargs: dict[str, Any], spec, splits: dict[str, Pairs], callbacks):
    from trl import DPOConfig, DPOTrainer

    args = DPOConfig(**args_kwargs, beta=spec.hyperparameters.beta, max_length=spec.hyperparameters.max_seq_length)
    return DPOTrainer(model=model, args=args, train_dataset=splits["train"].dataset,
                      eval_dataset=splits["validation"].dataset if "validation" in splits else None,
                      processing_class=tokenizer, callbacks=callbacks)
