"""The chunked loss: cross-entropy without a whole batch's logits in memory.

A causal LM's logits are batch × sequence × vocabulary; in fp32 with their gradient that is the largest
tensor of a fine-tune with a large vocabulary (12 bytes × 4,096 tokens × 128,256 = 6.3 GB for Llama 3 at
batch 2 × 2,048). Here the decoder's last hidden states go through the output layer only for the tokens
that carry a label, 1/LOSS_CHUNKS of them at a time, each chunk under activation checkpointing: its
logits are computed, reduced to a loss and dropped, and recomputed in the backward pass. The loss and the
gradients are those of the plain loss (``tests/test_trainer_losses.py``); the estimate plans the same
memory (``anytune.estimation.setup``).
"""

from __future__ import annotations

from typing import Any

from ..estimation.setup import LOSS_CHUNKS

IGNORE = -100


def _parts(model):
    """The decoder and output layer of a causal LM, under peft and accelerate wrappers."""
    lm = model.get_base_model() if hasattr(model, "get_base_model") else model
    decoder = getattr(lm, lm.base_model_prefix, None)
    head = lm.get_output_embeddings()
    if decoder is None or head is None or getattr(lm.config, "final_logit_softcapping", None):
        raise ValueError(f"{type(lm).__name__}: the chunked loss needs a decoder and a plain output layer")
    return decoder, head


def _chunk_loss(head, hidden, labels):
    import torch.nn.functional as F

    return F.cross_entropy(head(hidden).float(), labels, reduction="sum")


def chunked_loss(model, inputs: dict[str, Any], num_items_in_batch=None):
    """Mean cross-entropy over the labelled next tokens (sum / ``num_items_in_batch`` when the Trainer
    gives it, as Transformers' own loss does under gradient accumulation)."""
    import torch
    from torch.utils.checkpoint import checkpoint

    decoder, head = _parts(model)
    labels = inputs["labels"]
    kwargs = {k: v for k, v in inputs.items() if k != "labels"}
    kwargs["use_cache"] = False
    hidden = decoder(**kwargs).last_hidden_state
    hidden, target = hidden[:, :-1], labels[:, 1:].to(hidden.device)
    keep = target != IGNORE
    hidden, target = hidden[keep], target[keep]
    total = hidden.new_zeros((), dtype=torch.float32)
    for h, y in zip(hidden.chunk(LOSS_CHUNKS), target.chunk(LOSS_CHUNKS), strict=True):
        total = total + checkpoint(_chunk_loss, head, h, y, use_reentrant=False)
    count = num_items_in_batch if num_items_in_batch is not None else max(int(keep.sum()), 1)
    if torch.is_tensor(count):
        count = count.to(total.device)
    return total / count


def trainer_class():
    """``transformers.Trainer`` with the chunked loss."""
    from transformers import Trainer

    class ChunkedLossTrainer(Trainer):
        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            loss = chunked_loss(model, inputs, num_items_in_batch)
            return (loss, {"loss": loss}) if return_outputs else loss

    return ChunkedLossTrainer
