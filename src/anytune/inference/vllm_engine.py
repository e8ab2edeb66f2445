"""vLLM as ``anytune serve``'s engine (``--engine vllm``): a CUDA machine with ``pip install vllm``.

The base model loads once into one ``vllm.LLM`` with LoRA enabled; each fine-tuned LoRA model is a
``LoRARequest`` naming its adapter folder, so every adapter shares the loaded base, as with transformers.
Prompts are rendered and tokenized exactly as the transformers engine does (the same chat template and BOS
rule, :func:`anytune.inference.hf.render` / ``encode``) and handed to vLLM as token ids.

Streaming: vLLM's offline ``LLM`` has no token iterator, so a streamed request arrives as one piece when its
generation ends (the SSE chunk format is unchanged; time to first token equals the whole answer's time).

Not yet run by anytune's tests or benchmarks: no CUDA machine was available when it was written (see the
closing note of the serve-inference issue). ``check()`` is tested: without vLLM or CUDA it refuses in one line.
"""

from __future__ import annotations

import copy
import itertools
import threading
from collections.abc import Iterator
from pathlib import Path

from ..errors import ConfigError
from .engine import Generation, GenerationParams, Prompt
from .hf import encode, render

MAX_LORA_RANK = 64  # the largest adapter rank vLLM reserves room for; larger adapters are refused when added


def check() -> None:
    """ConfigError (exit 2) unless vLLM can run here."""
    import importlib.util

    if importlib.util.find_spec("vllm") is None:
        raise ConfigError("--engine vllm needs vLLM, which is not installed",
                          ["on a Linux machine with an NVIDIA GPU: pip install vllm", "or use --engine transformers"])
    import torch

    if not torch.cuda.is_available():
        raise ConfigError("--engine vllm needs a CUDA GPU, and none is visible here",
                          ["use --engine transformers (CPU or GPU)"])


class VLLMEngine:
    """The serving engine interface (see :class:`anytune.serve.inference.Loaded`) over one ``vllm.LLM``."""

    def __init__(self, llm, tokenizer, *, label: str):
        self.llm, self.tokenizer, self.label = llm, tokenizer, label
        self.adapter = None  # the LoRARequest this engine answers with (None: the base)
        self.adapters: dict = {}  # name -> LoRARequest
        self._ids = itertools.count(1)  # vLLM's LoRA ids: unique for the life of the LLM
        self._lock = threading.Lock()

    # adapters
    def add_adapter(self, name: str, path: Path) -> None:
        import json

        from vllm.lora.request import LoRARequest

        rank = json.loads((Path(path) / "adapter_config.json").read_text()).get("r", 0)
        if rank > MAX_LORA_RANK:
            raise ConfigError(f"adapter {name} has rank {rank}; vLLM was started for ranks up to {MAX_LORA_RANK}")
        with self._lock:
            self.adapters[name] = LoRARequest(name, next(self._ids), str(path))

    def remove_adapter(self, name: str) -> None:
        with self._lock:
            request = self.adapters.pop(name, None)
        if request is not None:
            self.llm.llm_engine.remove_lora(request.lora_int_id)

    def answering(self, adapter: str | None) -> VLLMEngine:
        """A view on the same LLM (and the same adapters, ids and lock) answering with ``adapter``."""
        view = copy.copy(self)
        view.label, view.adapter = adapter or self.label, self.adapters[adapter] if adapter else None
        return view

    # prompts
    def count_tokens(self, prompt: Prompt) -> int:
        return len(encode(self.tokenizer, render(self.tokenizer, prompt)))

    @property
    def context_length(self) -> int | None:
        return self.llm.llm_engine.model_config.max_model_len

    # generating
    def _sampling(self, params: GenerationParams):
        from vllm import SamplingParams

        return SamplingParams(n=1, temperature=params.temperature, top_p=params.top_p if params.temperature else 1.0,
                              max_tokens=params.max_new_tokens, stop=list(params.stop) or None, seed=params.seed)

    def generate(self, prompts: list[Prompt], params: GenerationParams, on_progress=None) -> list[Generation]:
        ids = [encode(self.tokenizer, render(self.tokenizer, p)) for p in prompts]
        outs = self.llm.generate([{"prompt_token_ids": i} for i in ids], self._sampling(params),
                                 lora_request=self.adapter, use_tqdm=False)
        if on_progress:
            on_progress(len(prompts))
        result = []
        for i, out in zip(ids, outs, strict=True):
            done = out.outputs[0]
            result.append(Generation(text=done.text.strip(), prompt_tokens=len(i),
                                     completion_tokens=len(done.token_ids),
                                     finish_reason="length" if done.finish_reason == "length" else "stop"))
        return result

    def stream(self, prompt: Prompt, params: GenerationParams) -> Iterator[str]:
        text = self.generate([prompt], params)[0].text
        if text:
            yield text


def load(path: str | Path, *, label: str, max_batch: int) -> VLLMEngine:
    check()
    from transformers import AutoTokenizer
    from vllm import LLM

    llm = LLM(model=str(path), enable_lora=True, max_loras=8, max_lora_rank=MAX_LORA_RANK, max_num_seqs=max_batch)
    return VLLMEngine(llm, AutoTokenizer.from_pretrained(str(path)), label=label)
