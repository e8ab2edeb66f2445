"""Training FLOPs and GPU memory for a model, method, sequence length, batch and trainer setup. Formulas
and sources are written out in docs/estimation.md; every constant here is named there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from .model_size import ModelSize
from .setup import LOSS_CHUNKS, Setup

DEFAULT_SETUP = Setup()

GB = 1e9
OVERHEAD_BYTES = 1.0 * GB  # CUDA context, cuBLAS workspace, allocator caching
USABLE_FRACTION = 0.95  # of the GPU's memory; the rest is lost to fragmentation
NF4_BYTES = 0.5 + 0.127 / 8  # 4-bit NF4 weight + double-quantised constants (Dettmers et al. 2023)
# Per logit, loss "full": the fp32 log-softmax kept for backward (4) + its fp32 gradient (4) + the
# gradient of the upcast input (4) at the peak of the backward pass.
LOGIT_BYTES_FULL = 12
# Loss "chunked": one chunk's 12 bytes at a time, spread over the micro-batch (+ the bf16 chunk output).
LOGIT_BYTES_CHUNKED = (12 + 2) / LOSS_CHUNKS
# Loss "liger": Liger's fused linear cross-entropy takes the logits of ~BT·H/V tokens at a time (its rule:
# chunk = next_power_of_2(ceil(BT / ceil(V / H))) rows, so at most 2·BT·H logits, in bf16, overwritten by
# their gradient) plus the bf16 gradient of the hidden states (BT·H): bytes per token per hidden unit.
LIGER_BYTES_PER_HIDDEN = 2 * 2 + 2
# Fixed time per decoder layer per training micro-batch on a GPU, whatever its size: kernel launches, Python,
# peft and checkpointing hooks. Qwen's single-A100 table (Hugging Face Trainer + peft, batch 1, lengths 256 to
# 8,192) runs ~0.1 s per micro-batch slower than its FLOPs for Qwen-7B (32 layers) and Qwen-14B (40) alike;
# 3 ms × layers brings its twelve LoRA rows within 0.89-1.10 (docs/estimation.md, "Fixed cost per step").
# Evaluation micro-batches (forward only) cost a third of it.
LAYER_OVERHEAD_S = 0.003
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


def activation_bytes_per_layer(size: ModelSize) -> float:
    """Bytes one decoder layer keeps for backward, per token, in bf16 (× s·b for a micro-batch).

    Counted tensor by tensor for a Llama-style layer as Transformers and peft run it (docs/estimation.md §3):
    two RMSNorms keep their fp32 input and bf16 output (2 × 6·h); attention keeps q, k, v before and after
    the rotary embedding (2 × 2·(q + 2·kv)) and its output (2·q), but not the score matrix (SDPA/flash
    attention recompute it); the MLP keeps gate and up outputs, the activation and the product (4 × 2·i,
    gated) or the first linear's output and the activation (2 × 2·i, GPT-2 style). Llama-2-7B: 47.5·h; LitGPT
    measured ~45.5·h (§3). Korthikanti et al. 2022's 34·h is GPT-3's layer (no rotary copies, bf16 norms).
    """
    q = size.heads * size.head_dim
    kv = size.kv_heads * size.head_dim
    norms = 2 * 6.0 * size.hidden
    attention = 4.0 * (q + 2 * kv) + 2.0 * q
    mlp = (8.0 if size.gated_mlp else 4.0) * size.intermediate * max(size.experts_active, 1)
    return norms + attention + mlp


def memory_per_gpu(size: ModelSize, method: str, *, seq: int, batch: int, lora_r: int = 8,
                   lora_target: str | list[str] = "auto", checkpointing: bool = True,
                   setup: Setup = DEFAULT_SETUP) -> Memory:
    """Memory one GPU needs. Under data parallelism (``setup.shards`` = 1) every GPU holds the whole model;
    sharded (FSDP/ZeRO-3) each holds 1/shards of the weights, gradients and optimizer states, plus two
    layers gathered whole (the one computing and the one being fetched).

    full:  bf16 weights (2 B/param) + bf16 gradients (2) + fp32 master copy and Adam m, v (12) = 16 B/param
           (Rajbhandari et al. 2020, ZeRO, section 3.1).
    lora:  frozen bf16 weights (2 B/param) + trainable adapter parameters at 16 B each.
    qlora: linear weights in 4-bit NF4 (~0.516 B/param), embeddings in bf16, adapters at 16 B each.
    Activations: all layers' (:func:`activation_bytes_per_layer`) without gradient checkpointing; with it,
    every layer keeps its bf16 input (2·h per token) and one layer at a time is recomputed in full.
    Logits: per token × vocabulary, LOGIT_BYTES_FULL or, with the chunked loss, LOGIT_BYTES_CHUNKED; with
    Liger's fused cross-entropy per token × hidden size, LIGER_BYTES_PER_HIDDEN.
    """
    n = size.params
    if method == "full":
        weights, grads, optim = 2.0 * n, 2.0 * n, 12.0 * n
        per_param = 16.0
    else:
        trainable = size.lora_params(lora_r, lora_target)
        if method == "qlora":
            embed = size.embedding_params * (1 if size.tied_embeddings else 2)
            weights = (n - embed) * NF4_BYTES + 2.0 * embed
        else:
            weights = 2.0 * n
        weights += 4.0 * trainable  # adapters in fp32
        grads, optim = 4.0 * trainable, 8.0 * trainable
        per_param = weights / n
    shards = max(setup.shards, 1)
    if shards > 1:
        layer = (n - size.embedding_params * (1 if size.tied_embeddings else 2)) / max(size.layers, 1)
        gathered = 2 * layer * min(per_param, 2.0)  # two layers' weights unsharded, in bf16 (or NF4)
        weights, grads, optim = weights / shards + gathered, grads / shards, optim / shards
    tokens = float(seq) * batch
    per_layer = activation_bytes_per_layer(size) * tokens
    if checkpointing:
        acts = 2 * tokens * size.hidden * size.layers + per_layer
    else:
        acts = per_layer * size.layers
    logit_bytes = LOGIT_BYTES_CHUNKED if setup.loss == "chunked" else LOGIT_BYTES_FULL
    if setup.loss == "liger":
        logits = tokens * min(size.vocab * logit_bytes, size.hidden * LIGER_BYTES_PER_HIDDEN)
    else:
        logits = tokens * size.vocab * logit_bytes
    return Memory(weights, grads, optim, acts, logits)


def in_fp32(mem: Memory, method: str) -> Memory:
    """The same run on a CPU, where the trainer keeps everything in fp32: frozen weights and activations
    take twice their bf16 bytes; full fine-tuning holds fp32 weights and gradients (4 + 4) and Adam's m and v
    (8) instead of bf16 weights and gradients and an fp32 master copy (2 + 2 + 12): 16 bytes either way."""
    if method == "full":
        return replace(mem, weights=2 * mem.weights, gradients=2 * mem.gradients, optimizer=mem.optimizer * 2 / 3,
                       activations=2 * mem.activations)
    return replace(mem, weights=2 * mem.weights, activations=2 * mem.activations)


def usable_bytes(memory_bytes: float) -> float:
    return memory_bytes * USABLE_FRACTION


def max_batch(size: ModelSize, method: str, *, seq: int, memory_bytes: float, lora_r: int = 8,
              lora_target: str | list[str] = "auto", checkpointing: bool = True, setup: Setup = DEFAULT_SETUP) -> int:
    """The largest per-GPU batch that fits at this sequence length (0 if not even batch 1)."""
    kw = dict(seq=seq, lora_r=lora_r, lora_target=lora_target, checkpointing=checkpointing, setup=setup)
    fixed = memory_per_gpu(size, method, batch=0, **kw).total
    per = memory_per_gpu(size, method, batch=1, **kw).total - fixed
    room = usable_bytes(memory_bytes) - fixed
    return max(int(room // per), 0) if per > 0 else 0


def recompute_factor(method: str) -> float:
    """Extra hardware work of gradient checkpointing: one more forward pass (2·N) per token, on 6·N (full)
    or 4·N (LoRA/QLoRA). The MFU table is measured with checkpointing on, so a run without it is this much
    faster at the same hardware utilisation (applied once, in plan._hours_for)."""
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


def padding_factor(*, mean: float, minimum: float, median: float, p95: float, maximum: float, batch: int,
                   cap: int) -> float:
    """Tokens a padded (unpacked) run computes per real token: E[longest of ``batch`` examples] / mean.

    The length distribution is taken as the piecewise-linear quantile function through the data pipeline's
    min, median, p95 and max (capped at max_seq_length); E[max of b] = ∫ Q(u) · b·u^(b-1) du. 1.0 for
    batch 1 or equal lengths.
    """
    if batch <= 1 or mean <= 0 or maximum <= minimum:
        return 1.0
    pts = [(0.0, minimum), (0.5, median), (0.95, p95), (1.0, maximum)]
    pts = [(u, min(float(v), cap)) for u, v in pts]

    def q(u: float) -> float:
        for (u0, v0), (u1, v1) in zip(pts, pts[1:], strict=False):
            if u <= u1:
                return v0 + (v1 - v0) * (u - u0) / (u1 - u0)
        return pts[-1][1]

    steps = 400
    grid = [(i + 0.5) / steps for i in range(steps)]
    q_mean = sum(q(u) for u in grid) / steps
    q_max = sum(q(u) * batch * u ** (batch - 1) for u in grid) / steps
    return max(1.0, q_max / q_mean) if q_mean > 0 and not math.isnan(q_max) else 1.0
