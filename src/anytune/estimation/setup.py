"""The trainer configuration a plan models, decided once for the estimate and for the trainer.

The estimate must model the trainer that will run: if it assumes a chunked loss, the trainer computes a
chunked loss; if it assumes no padding, the trainer packs. Both call :func:`trainer_setup`, so they cannot
disagree (``tests/test_estimate_setup.py`` holds them together). Pure computation; no torch.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

Loss = Literal["full", "chunked", "liger"]

# `loss: auto` trains with the chunked loss when one micro-batch's fp32 logits would take more than this
# share of the GPU's memory: below it the full logits cost little and one big matmul is the fastest path
# (on an H200 the chunked loss ran at 0.86x the tokens/s of the full one for a 0.6B model whose 2 GB of
# logits are 1.4 % of the card; benchmarks/train_throughput.py). Where the GPU is not known (CPU, or before
# an instance is chosen) the limit is CHUNKED_LOSS_ABOVE_BYTES.
CHUNKED_LOSS_SHARE = 0.05
CHUNKED_LOSS_ABOVE_BYTES = 0.5e9
LOSS_CHUNKS = 8  # the chunked loss computes the logits of 1/8 of a micro-batch's tokens at a time


@dataclass(frozen=True)
class Setup:
    """How the run trains, as far as time and memory are concerned."""

    loss: Loss = "full"  # full: the whole micro-batch's logits at once; chunked: LOSS_CHUNKS pieces; liger:
    # Liger's fused linear cross-entropy (hyperparameters.liger: its kernels patch the model)
    packing: bool = False  # True: examples concatenated, no padding (position ids keep them apart)
    compile: bool = False  # torch.compile (hyperparameters.compile; no time factor: none measured yet)
    shards: int = 1  # GPUs the weights, gradients and optimizer states are split over (FSDP/ZeRO-3)
    sharded_by: str = "FSDP"  # which engine splits them when shards > 1 (the same memory model for both)
    source: str = "anytune's trainer"
    logits_bytes: float = 0.0  # one micro-batch's fp32 logits at max_seq_length, when `loss: auto` decides

    def for_gpu(self, gpu_bytes: float | None) -> Setup:
        """This setup on a GPU with ``gpu_bytes`` of memory: `loss: auto` decides by the GPU's size."""
        if not self.logits_bytes:
            return self
        return replace(self, loss=_auto_loss(self.logits_bytes, gpu_bytes))

    def describe(self) -> str:
        named = {"chunked": f" ({LOSS_CHUNKS} chunks)", "liger": " (Liger's kernels, fused linear cross-entropy)"}
        parts = [f"loss {self.loss}" + named.get(self.loss, ""),
                 "packed, no padding" if self.packing else "padded to the longest example of each batch"]
        if self.compile:
            parts.append("torch.compile")
        if self.shards > 1:
            parts.append(f"states sharded over {self.shards} GPUs")
        return f"{self.source}: " + ", ".join(parts)


def _auto_loss(logits_bytes: float, gpu_bytes: float | None) -> Loss:
    """`loss: auto`: chunked when one micro-batch's fp32 logits exceed CHUNKED_LOSS_SHARE of the GPU's
    memory (CHUNKED_LOSS_ABOVE_BYTES where no GPU is known)."""
    limit = CHUNKED_LOSS_SHARE * gpu_bytes if gpu_bytes else CHUNKED_LOSS_ABOVE_BYTES
    return "chunked" if logits_bytes > limit else "full"


def trainer_setup(spec, *, vocab: int, gpu_bytes: float | None = None) -> Setup:
    """What anytune's trainer will do for ``spec`` on a GPU of ``gpu_bytes`` (None: not known yet; the plan
    calls :meth:`Setup.for_gpu` per instance): decided from the spec, the model's vocabulary and the GPU's
    memory alone, so the estimate (before any data is read) and the trainer reach the same answer."""
    hp = spec.hyperparameters
    sft = getattr(spec, "objective", "sft") == "sft"  # DPO trains through TRL's own loss
    one_gpu = spec.compute.gpu_count == 1 and spec.compute.nodes == 1  # the chunked loss bypasses DDP's forward
    packing = bool(hp.packing) and sft
    compiled = hp.compile
    if sft and hp.liger:  # the spec refuses liger with loss: chunked
        return Setup(loss="liger", packing=packing, compile=compiled)
    if sft and hp.loss == "chunked":
        return Setup(loss="chunked", packing=packing, compile=compiled)
    if sft and hp.loss == "auto" and one_gpu:
        logits = 4.0 * hp.batch_size * hp.max_seq_length * vocab
        return Setup(loss=_auto_loss(logits, gpu_bytes), packing=packing, compile=compiled, logits_bytes=logits)
    return Setup(loss="full", packing=packing, compile=compiled)
