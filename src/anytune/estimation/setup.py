"""The trainer configuration a plan models, decided once for the estimate and for the trainer.

The estimate must model the trainer that will run: if it assumes a chunked loss, the trainer computes a
chunked loss; if it assumes no padding, the trainer packs. Both call :func:`trainer_setup`, so they cannot
disagree (``tests/test_estimate_setup.py`` holds them together). Pure computation; no torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Loss = Literal["full", "chunked"]

# A micro-batch whose fp32 logits would take more than this is trained with the chunked loss under
# `loss: auto`: below it the full logits cost little memory and one big matmul is the fastest path.
CHUNKED_LOSS_ABOVE_BYTES = 0.5e9
LOSS_CHUNKS = 8  # the chunked loss computes the logits of 1/8 of a micro-batch's tokens at a time


@dataclass(frozen=True)
class Setup:
    """How the run trains, as far as time and memory are concerned."""

    loss: Loss = "full"  # full: the whole micro-batch's logits at once; chunked: LOSS_CHUNKS pieces
    packing: bool = False  # True: examples concatenated, no padding (position ids keep them apart)
    compile: bool = False  # torch.compile (published runs; anytune's trainer does not compile yet)
    shards: int = 1  # GPUs the weights, gradients and optimizer states are split over (FSDP/ZeRO-3)
    source: str = "anytune's trainer"

    def describe(self) -> str:
        parts = [f"loss {self.loss}" + (f" ({LOSS_CHUNKS} chunks)" if self.loss == "chunked" else ""),
                 "packed, no padding" if self.packing else "padded to the longest example of each batch"]
        if self.compile:
            parts.append("torch.compile")
        if self.shards > 1:
            parts.append(f"states sharded over {self.shards} GPUs")
        return f"{self.source}: " + ", ".join(parts)


def loss_mode(requested: str, *, batch: int, seq: int, vocab: int) -> Loss:
    """``hyperparameters.loss`` resolved: auto = chunked when one micro-batch's fp32 logits exceed
    CHUNKED_LOSS_ABOVE_BYTES."""
    if requested in ("full", "chunked"):
        return requested  # type: ignore[return-value]
    return "chunked" if 4.0 * batch * seq * vocab > CHUNKED_LOSS_ABOVE_BYTES else "full"


def trainer_setup(spec, *, vocab: int) -> Setup:
    """What anytune's trainer will do for ``spec``: decided from the spec and the model's vocabulary alone,
    so the estimate (before any data is read) and the trainer reach the same answer."""
    hp = spec.hyperparameters
    sft = getattr(spec, "objective", "sft") == "sft"  # DPO trains through TRL's own loss
    one_gpu = spec.compute.gpu_count == 1  # the chunked loss bypasses the DDP wrapper's forward
    loss: Loss = "full"
    if sft and (hp.loss == "chunked" or (hp.loss == "auto" and one_gpu)):
        loss = loss_mode(hp.loss, batch=hp.batch_size, seq=hp.max_seq_length, vocab=vocab)
    return Setup(loss=loss, packing=bool(hp.packing) and sft)
