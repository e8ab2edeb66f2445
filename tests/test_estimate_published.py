"""Published fine-tuning runs as a regression table: anytune's planned tokens/s must be within ±30 % of the
measured figure, and its memory plan must accept the runs measured to fit and reject those measured not to.

Sources (shapes from each model's published config.json):
- torchtune README, "Memory and training speed" (Llama 3.1; batch 2, packed to 2,048, torch.compile,
  activation checkpointing, chunked cross-entropy; tokens/s over one epoch, all GPUs together);
- LitGPT tutorials/resource-tables.md (A100-SXM4-40GB, bf16-true, Alpaca: longest example 1,304 tokens
  for Llama 2; LoRA r=8 on query and value; no activation checkpointing; chunked cross-entropy);
- Qwen (QwenLM/Qwen) README, "Profiling of Memory and Speed": one A100-SXM4-80G, Hugging Face Trainer + peft
  (finetune.py), flash attention 2, gradient checkpointing, batch 1 × gradient accumulation 8, every example
  padded to the length profiled, LoRA r=64 on all linear layers; s/iter over 8 micro-batches. Its Q-LoRA is
  GPTQ 4-bit with the exllama kernels off, not bitsandbytes NF4: printed, not asserted.
Rows anytune cannot model say why and are printed, not asserted.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from anytune.estimation.hardware import GPUS
from anytune.estimation.model_size import ModelSize, from_config, model_size
from anytune.estimation.plan import Workload, training_hours
from anytune.estimation.setup import Setup
from anytune.estimation.workload import flops_per_token, memory_per_gpu, usable_bytes

GIB = 2**30
TORCHTUNE = "https://github.com/pytorch/torchtune/blob/main/README.md#memory-and-training-speed"
LITGPT = "https://github.com/Lightning-AI/litgpt/blob/main/tutorials/resource-tables.md"
QWEN = "https://github.com/QwenLM/Qwen/blob/main/README.md#profiling-of-memory-and-speed"

# Qwen-7B and Qwen-14B from their config.json (remote code: w1, w2 and c_proj each intermediate_size / 2 wide,
# the same shapes as a Llama MLP of that width; untied embeddings)
Q7 = {"hidden_size": 4096, "num_hidden_layers": 32, "num_attention_heads": 32, "intermediate_size": 11008,
      "vocab_size": 151936, "tie_word_embeddings": False, "model_type": "llama"}
Q14 = {"hidden_size": 5120, "num_hidden_layers": 40, "num_attention_heads": 40, "intermediate_size": 13696,
       "vocab_size": 152064, "tie_word_embeddings": False, "model_type": "llama"}
L405 = {"hidden_size": 16384, "num_hidden_layers": 126, "num_attention_heads": 128, "num_key_value_heads": 8,
        "intermediate_size": 53248, "vocab_size": 128256, "tie_word_embeddings": False, "model_type": "llama"}


@dataclass(frozen=True)
class Run:
    model: str | dict
    method: str
    gpu: str
    gpus: int
    batch: int
    seq: int
    checkpointing: bool
    setup: Setup
    source: str
    tokens_per_s: float | None = None  # all GPUs together
    fits: bool | None = None  # measured: ran (True) or out of memory (False)
    peak_gb: float | None = None
    not_modelled: str = ""  # why this row's memory or speed is outside what anytune models
    lora_r: int = 8

    def size(self) -> ModelSize:
        return from_config(self.model) if isinstance(self.model, dict) else model_size(self.model)


TT = Setup(loss="chunked", packing=True, compile=True, source="torchtune")
TT_FSDP = Setup(loss="chunked", packing=True, compile=True, shards=8, source="torchtune")
LIT = Setup(loss="chunked", source="LitGPT")
L8, L2_7, L2_13 = "meta-llama/Llama-3.1-8B", "meta-llama/Llama-2-7b-hf", "meta-llama/Llama-2-13b-hf"

RUNS = [
    Run(L8, "lora", "RTX-4090", 1, 2, 2048, True, TT, TORCHTUNE, 3083, True, 16.2 * GIB),
    Run(L8, "qlora", "RTX-4090", 1, 2, 2048, True, TT, TORCHTUNE, 2413, True, 7.4 * GIB),
    Run(L8, "full", "RTX-4090", 1, 2, 2048, True, TT, TORCHTUNE, 1650, True, 18.9 * GIB,
        not_modelled="memory: bitsandbytes paged 8-bit AdamW with the step fused into backward"),
    Run(L8, "lora", "RTX-A6000", 1, 2, 2048, False, TT, TORCHTUNE, 4699, True, 30.3 * GIB,
        not_modelled="speed: implies MFU 1.0 at the A6000's 155 TFLOP/s dense bf16 peak, physically implausible"),
    Run(L8, "full", "RTX-A6000", 1, 2, 2048, True, TT, TORCHTUNE, 2579, True, 37.4 * GIB,
        not_modelled="speed implies MFU 0.8 on an A6000; memory: 8-bit paged AdamW"),
    Run("meta-llama/Llama-3.1-70B", "lora", "A100-80GB", 8, 2, 2048, True, TT_FSDP, TORCHTUNE, 3497, True,
        27.6 * GIB),
    Run("meta-llama/Llama-3.1-70B", "full", "A100-80GB", 8, 2, 2048, True, TT_FSDP, TORCHTUNE, 1568, True,
        13.9 * GIB, not_modelled="memory: optimizer states offloaded to CPU"),
    Run(L405, "qlora", "A100-80GB", 8, 2, 2048, True, TT_FSDP, TORCHTUNE, 653, True, 44.8e9),
    Run(L2_7, "lora", "A100-40GB", 1, 1, 1304, False, LIT, LITGPT, fits=True, peak_gb=21.30e9),
    Run(L2_7, "lora", "A100-40GB", 1, 2, 1304, False, LIT, LITGPT, fits=True, peak_gb=29.07e9),
    Run(L2_7, "lora", "A100-40GB", 1, 4, 1304, False, LIT, LITGPT, fits=False),
    Run(L2_7, "qlora", "A100-40GB", 1, 1, 1304, False, LIT, LITGPT, fits=True, peak_gb=13.84e9),
    Run(L2_13, "lora", "A100-40GB", 1, 1, 1304, False, LIT, LITGPT, fits=True, peak_gb=38.12e9),
    Run(L2_13, "lora", "A100-40GB", 1, 2, 1304, False, LIT, LITGPT, fits=False),
    Run(L2_13, "qlora", "A100-40GB", 1, 1, 1304, False, LIT, LITGPT, fits=True, peak_gb=22.55e9),
]
QW = Setup(loss="full", source="Qwen")
_GPTQ = "speed: GPTQ 4-bit with the exllama kernels off (not bitsandbytes NF4)"
# (model, method, sequence length, published GB, published s/iter of 8 micro-batches)
_QWEN = [(Q7, "lora", 256, 20.1, 1.2), (Q7, "lora", 512, 20.4, 1.5), (Q7, "lora", 1024, 21.5, 2.8),
         (Q7, "lora", 2048, 23.8, 5.2), (Q7, "lora", 4096, 29.7, 10.1), (Q7, "lora", 8192, 36.6, 21.3),
         (Q14, "lora", 256, 34.6, 1.6), (Q14, "lora", 512, 35.1, 2.4), (Q14, "lora", 1024, 35.3, 4.4),
         (Q14, "lora", 2048, 37.4, 8.4), (Q14, "lora", 4096, 42.5, 17.0), (Q14, "lora", 8192, 55.2, 36.0),
         (Q7, "qlora", 2048, 13.9, 7.0), (Q7, "qlora", 8192, 23.5, 22.3),
         (Q14, "qlora", 2048, 19.9, 11.8), (Q14, "qlora", 8192, 27.9, 38.3)]
RUNS += [Run(m, method, "A100-80GB", 1, 1, seq, True, QW, QWEN, 8 * seq / s, True, gb * 1e9,
             not_modelled=_GPTQ if method == "qlora" else "", lora_r=64) for m, method, seq, gb, s in _QWEN]


def planned_tokens_per_s(run: Run, micro_batches: int = 1000) -> float:
    """Tokens/s by the plan's own arithmetic (plan.training_hours) for ``micro_batches`` micro-batches of
    batch × seq tokens on each GPU, every token attending over its sequence (packed rows: the row)."""
    size, gpu = run.size(), GPUS[run.gpu]
    tokens = micro_batches * run.batch * run.seq * run.gpus
    flops = tokens * flops_per_token(size, run.method, run.seq)
    work = Workload(size, run.method, run.seq, run.seq, run.batch, run.lora_r, "all-linear", tokens, 1, flops,
                    run.setup, micro_batches=micro_batches * run.gpus)
    hours, _ = training_hours(work, gpu, run.gpus, checkpointing=run.checkpointing)
    return tokens / (hours * 3600)


def planned_memory(run: Run) -> float:
    size = run.size()
    lora_target = "auto" if run.source == LITGPT else "all-linear"
    return memory_per_gpu(size, run.method, seq=run.seq, batch=run.batch, checkpointing=run.checkpointing,
                          lora_target=lora_target, lora_r=run.lora_r, setup=run.setup).total


def table() -> str:
    lines = ["| model | method | GPUs | batch × seq | published tok/s | planned | ratio | measured peak | planned "
             "| fits? measured / planned | note |", "|" + "---|" * 11]
    for r in RUNS:
        name = r.model if isinstance(r.model, str) else {id(Q7): "Qwen-7B", id(Q14): "Qwen-14B"}.get(
            id(r.model), "Llama-3.1-405B")
        mem = planned_memory(r)
        plan_fits = mem <= usable_bytes(GPUS[r.gpu].memory_bytes)
        tps = planned_tokens_per_s(r) if r.tokens_per_s else None
        lines.append(
            f"| {name.split('/')[-1]} | {r.method} | {r.gpus}× {r.gpu} | {r.batch} × {r.seq} | "
            f"{f'{r.tokens_per_s:.0f}' if r.tokens_per_s else '—'} | {f'{tps:.0f}' if tps else '—'} | "
            f"{f'{tps / r.tokens_per_s:.2f}' if tps else '—'} | {f'{r.peak_gb / 1e9:.1f} GB' if r.peak_gb else '—'} | "
            f"{mem / 1e9:.1f} GB | {'yes' if r.fits else 'OOM'} / {'yes' if plan_fits else 'no'} | {r.not_modelled} |")
    return "\n".join(lines)


@pytest.mark.parametrize("run", [r for r in RUNS if r.tokens_per_s and "speed" not in r.not_modelled],
                         ids=lambda r: f"{r.method}-{r.gpus}x{r.gpu}-{r.tokens_per_s}")
def test_planned_tokens_per_second_within_30_percent_of_published(run):
    ratio = planned_tokens_per_s(run) / run.tokens_per_s
    assert 0.7 <= ratio <= 1.3, f"{ratio:.2f}\n{table()}"


@pytest.mark.parametrize("run", [r for r in RUNS if r.fits is not None and "memory" not in r.not_modelled],
                         ids=lambda r: f"{r.method}-{r.gpu}-b{r.batch}x{r.seq}-{'fits' if r.fits else 'oom'}")
def test_memory_plan_agrees_with_what_was_measured_to_fit(run):
    need = planned_memory(run)
    room = usable_bytes(GPUS[run.gpu].memory_bytes)
    assert (need <= room) == run.fits, f"planned {need / 1e9:.1f} GB, usable {room / 1e9:.1f} GB\n{table()}"


@pytest.mark.parametrize("run", [r for r in RUNS if r.peak_gb and "memory" not in r.not_modelled],
                         ids=lambda r: f"{r.method}-{r.gpu}-b{r.batch}x{r.seq}-{r.peak_gb / 1e9:.1f}GB")
def test_planned_memory_is_near_the_measured_peak(run):
    """Not only the verdict: the plan's bytes within -15 % / +40 % of the published peak. The plan errs high:
    it keeps a 1 GB overhead a peak read with max_memory_allocated leaves out, and counts the activations of
    an eager model (torchtune's compiled A6000 LoRA run without checkpointing keeps fewer: 1.36)."""
    ratio = planned_memory(run) / run.peak_gb
    assert 0.85 <= ratio <= 1.4, f"{ratio:.2f}\n{table()}"


def test_the_table_covers_two_independent_sources_and_prints(capsys):
    assert {r.source for r in RUNS} == {TORCHTUNE, LITGPT, QWEN}
    print(table())
    assert "Llama-3.1-8B | lora" in capsys.readouterr().out
