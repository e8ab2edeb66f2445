"""Training FLOPs and GPU memory for a model, method, sequence length and batch. Formulas and sources
are written out in docs/estimation.md; every constant here is named there.
"""

from __future__ import annotations

from dataclasses import dataclass

from .model_size import ModelSize

GB = 1e9
OVERHEAD_BYTES = 1.0 * GB  # CUDA context, cuBLAS workspace, allocator caching
USABLE_FRACTION = 0.95  # of the GPU's memory; the rest is lost to fragmentation
LOGIT_BYTES = 8  # per logit: fp32 logits for the loss + their fp32 gradient
ACT_BYTES_PER_LAYER = 34  # x s·b·h bytes: one transformer layer's stored activations (Korthikanti et al. 2022)
NF4_BYTES = 0.5 + 0.127 / 8  # 4-bit NF4 weight + double-quantised constants (Dettmers et al. 2023)


@dataclass(frozen=True)
class Memory:
    """Bytes one GPU needs to train, by component."""

    weights: float
    gradients: float
    optimizer: float
    activations: float
    logits: float
    overhead: float = OVERHEAD_BYTES

    @property
    def total(self) -> float:
        return self.weights + self.gradients + self.optimizer + self.activations + self.logits + self.overhead

    def describe(self) -> str:
        parts = [("weights", self.weights), ("gradients", self.gradients), ("optimizer", self.optimizer),
                 ("activations", self.activations), ("logits", self.logits), ("overhead", self.overhead)]
        return " + ".join(f"{name} {v / GB:.1f}" for name, v in parts if v >= 0.05 * GB) + " GB"


def memory_per_gpu(size: ModelSize, method: str, *, seq: int, batch: int, lora_r: int = 8,
                   lora_target: str | list[str] = "auto", checkpointing: bool = True) -> Memory:
    """Memory one GPU needs under data parallelism (each GPU holds the whole model; no FSDP/ZeRO sharding).

    full:  bf16 weights (2 B/param) + bf16 gradients (2) + fp32 master copy and Adam m, v (12) = 16 B/param
           (Rajbhandari et al. 2020, ZeRO, section 3.1).
    lora:  frozen bf16 weights (2 B/param) + trainable adapter parameters at 16 B each.
    qlora: linear weights in 4-bit NF4 (~0.516 B/param), embeddings in bf16, adapters at 16 B each.
    Activations with gradient checkpointing: every layer keeps its bf16 input (2·s·b·h bytes) and one
    layer at a time is recomputed in full (34·s·b·h bytes; the 5·a·s² attention-score term is left out
    because SDPA/flash attention does not store the score matrix).
    """
    n = size.params
    if method == "full":
        weights, grads, optim = 2.0 * n, 2.0 * n, 12.0 * n
    else:
        trainable = size.lora_params(lora_r, lora_target)
        if method == "qlora":
            embed = size.embedding_params * (1 if size.tied_embeddings else 2)
            weights = (n - embed) * NF4_BYTES + 2.0 * embed
        else:
            weights = 2.0 * n
        weights += 4.0 * trainable  # adapters in fp32
        grads, optim = 4.0 * trainable, 8.0 * trainable
    sbh = float(seq) * batch * size.hidden
    if checkpointing:
        acts = 2 * sbh * size.layers + ACT_BYTES_PER_LAYER * sbh
    else:
        acts = ACT_BYTES_PER_LAYER * sbh * size.layers
    logits = float(seq) * batch * size.vocab * LOGIT_BYTES
    return Memory(weights, grads, optim, acts, logits)


def usable_bytes(memory_gb: float) -> float:
    return memory_gb * GB * USABLE_FRACTION


def max_batch(size: ModelSize, method: str, *, seq: int, memory_gb: float, lora_r: int = 8,
              lora_target: str | list[str] = "auto", checkpointing: bool = True) -> int:
    """The largest per-GPU batch that fits at this sequence length (0 if not even batch 1)."""
    kw = dict(seq=seq, lora_r=lora_r, lora_target=lora_target, checkpointing=checkpointing)
    fixed = memory_per_gpu(size, method, batch=0, **kw).total
    per = memory_per_gpu(size, method, batch=1, **kw).total - fixed
    room = usable_bytes(memory_gb) - fixed
    return max(int(room // per), 0) if per > 0 else 0


def recompute_factor(method: str) -> float:
    """Extra hardware work of gradient checkpointing: one more forward pass (2·N) per token,
    on 6·N (full) or 4·N (LoRA/QLoRA)."""
    return 8 / 6 if method == "full" else 6 / 4


def flops_per_token(size: ModelSize, method: str, context: float) -> float:
    """Training FLOPs per token: 6·N (full) or 4·N (LoRA/QLoRA: forward 2·N + backward to the activations
    2·N; frozen weights need no weight gradients), plus attention 12·L·H·Q·T (PaLM, Chowdhery et al.
    2022, appendix B), where T is the context the token attends over."""
    n = size.compute_params
    attn = 12.0 * size.layers * size.heads * size.head_dim * context
    return (6.0 if method == "full" else 4.0) * n + attn


def eval_flops_per_token(size: ModelSize, context: float) -> float:
    """Forward only: a third of full training's 6·N + 12·L·H·Q·T."""
    return 2.0 * size.compute_params + 4.0 * size.layers * size.heads * size.head_dim * context
