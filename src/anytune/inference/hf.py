"""The Hugging Face transformers engine: a local full model, or a LoRA adapter loaded onto its base.

    engine = load("runs/x/job-1")            # model folder or adapter folder (adapter_config.json)
    base = engine.base()                     # an adapter's base: the same weights with the adapter off
    engine.generate([Prompt.chat(msgs)], GenerationParams(max_new_tokens=64))

Batched: prompts are sorted by length and left-padded in batches, so a batch wastes little on padding.
Prompts are rendered by :func:`anytune.data.template.prompt_text`, the function the trainer prompts with.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from pathlib import Path
from typing import Any

from ..data.template import has_chat_template, prompt_text
from ..errors import ConfigError
from .engine import Generation, GenerationParams, Prompt

ADAPTER_CONFIG = "adapter_config.json"


def model_kind(path: Path) -> str:
    """"adapter" or "full" for a model folder; ConfigError naming what is missing otherwise."""
    if not path.is_dir():
        raise ConfigError(f"{path} is not a model folder (it does not exist or is a file)",
                          ["pass a folder holding config.json (a model) or adapter_config.json (a LoRA adapter)"])
    if (path / ADAPTER_CONFIG).is_file():
        return "adapter"
    if (path / "config.json").is_file():
        return "full"
    raise ConfigError(f"{path} holds no model: neither config.json nor {ADAPTER_CONFIG} is there",
                      ["pass a folder written by the trainer, `anytune retrieve` or `save_pretrained`"])


def adapter_base(path: Path, override: str | None = None) -> str:
    """The base model an adapter folder needs: ``override``, else its ``base_model_name_or_path``."""
    if override:
        return override
    try:
        base = json.loads((path / ADAPTER_CONFIG).read_text()).get("base_model_name_or_path")
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read {path / ADAPTER_CONFIG}: {exc}") from None
    if not base:
        raise ConfigError(f"{path / ADAPTER_CONFIG} names no base model (base_model_name_or_path)",
                          ["pass the base model with --base"])
    return base


def _device_and_dtype():
    import torch

    if torch.cuda.is_available():
        return "cuda", torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return "cpu", torch.float32


def _from_pretrained(source: str, what: str, **kwargs):
    from transformers import AutoModelForCausalLM

    from ..trainer.loop import _dtype_keyword

    dtype = kwargs.pop("dtype")
    try:
        return AutoModelForCausalLM.from_pretrained(source, **{_dtype_keyword(): dtype}, **kwargs)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot load {what} {source!r}: {str(exc).splitlines()[0]}",
                          ["pass a local model folder, or a Hugging Face id that is in the local cache"]) from None


def load(path: str | Path, *, base: str | None = None, label: str | None = None) -> TransformersEngine:
    """An engine over the model or adapter in ``path`` (``base`` overrides an adapter's base model)."""
    from transformers import AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    path = Path(path)
    kind = model_kind(path)
    device, dtype = _device_and_dtype()
    if kind == "adapter":
        from peft import PeftModel

        base_source = adapter_base(path, base)
        if not Path(base_source).exists() and ("/" not in base_source or base_source.startswith(("/", "."))):
            raise ConfigError(f"the adapter in {path} needs its base model {base_source}, which does not exist",
                              ["pass the base model folder with --base"])
        model = _from_pretrained(base_source, "the adapter's base model", dtype=dtype)
        model = PeftModel.from_pretrained(model, str(path))
    else:
        model = _from_pretrained(str(path), "the model", dtype=dtype)
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(path))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot load the tokenizer in {path}: {str(exc).splitlines()[0]}") from None
    return TransformersEngine(model.to(device), tokenizer, label=label or path.name)


def encode(tokenizer, text: str) -> list[int]:
    """A rendered prompt's token ids as training saw them (the BOS token once, where the tokenizer adds one)."""
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    bos = tokenizer.bos_token_id if getattr(tokenizer, "add_bos_token", False) else None
    if bos is not None and ids[:1] != [bos]:
        ids = [bos] + ids
    return ids


def render(tokenizer, prompt: Prompt) -> str:
    """The text a model sees for ``prompt``: its raw text (completions, or no chat template), else the chat."""
    if prompt.raw is not None and (prompt.plain or not has_chat_template(tokenizer)):
        return prompt.raw
    return prompt_text(list(prompt.messages), tokenizer)


class TransformersEngine:
    def __init__(self, model, tokenizer, *, label: str = "model", adapters: bool = True, batch_size: int = 16,
                 adapter: str | None = None):
        self.model, self.tokenizer, self.label = model, tokenizer, label
        self.adapters, self.batch_size = adapters, batch_size
        self.adapter = adapter  # with several adapters loaded: the one this engine answers with
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token

    @property
    def is_adapter(self) -> bool:
        return hasattr(self.model, "disable_adapter") and hasattr(self.model, "peft_config")

    def base(self, label: str = "base") -> TransformersEngine | None:
        """For an adapter: the base model, sharing the loaded weights (no second copy). None for a full model."""
        if not self.is_adapter:
            return None
        return TransformersEngine(self.model, self.tokenizer, label=label, adapters=False, batch_size=self.batch_size)

    # --- prompting ---------------------------------------------------------------------------------

    def prompt_text(self, prompt: Prompt) -> str:
        return render(self.tokenizer, prompt)

    def _encode(self, text: str) -> list[int]:
        return encode(self.tokenizer, text)

    def _eos_ids(self) -> list[int]:
        ids = {self.tokenizer.eos_token_id}
        configured = getattr(self.model.generation_config, "eos_token_id", None)
        ids.update(configured if isinstance(configured, list) else [configured])
        return sorted(i for i in ids if i is not None)

    def _config(self, params: GenerationParams):
        from transformers import GenerationConfig

        sample = params.temperature > 0
        extra: dict[str, Any] = {"temperature": params.temperature, "top_p": params.top_p} if sample else {}
        return GenerationConfig(max_new_tokens=params.max_new_tokens, do_sample=sample, use_cache=True,
                                pad_token_id=self.tokenizer.pad_token_id, eos_token_id=self._eos_ids(), **extra)

    def with_adapter(self, name: str, label: str) -> TransformersEngine:
        """An engine over the same loaded model answering with the adapter ``name`` (see ``load_adapter``)."""
        return TransformersEngine(self.model, self.tokenizer, label=label, batch_size=self.batch_size, adapter=name)

    # --- adapters over one loaded base (anytune serve) ----------------------------------------------

    def add_adapter(self, name: str, path: Path) -> None:
        """Put the LoRA adapter in ``path`` onto the loaded weights as ``name`` (the base is not loaded again)."""
        if self.is_adapter:
            self.model.load_adapter(str(path), adapter_name=name)
        else:
            from peft import PeftModel

            self.model = PeftModel.from_pretrained(self.model, str(path), adapter_name=name)

    def remove_adapter(self, name: str) -> None:
        self.model.delete_adapter(name)

    def answering(self, adapter: str | None) -> TransformersEngine:
        """The engine that answers with ``adapter`` (None: the loaded model itself, adapters off)."""
        if adapter is None:
            return self.base(label=self.label) or self
        return self.with_adapter(adapter, label=adapter)

    def _context(self):
        """Which weights answer: the base alone, or a named adapter. The model is shared, so callers that use
        several engines over one model serialise their calls (``anytune serve`` does, one worker per model)."""
        if self.is_adapter and not self.adapters:
            return self.model.disable_adapter()
        if self.is_adapter and self.adapter:
            self.model.set_adapter(self.adapter)
        return nullcontext()

    def _limit(self, ids: list[int], params: GenerationParams) -> list[int]:
        """Keep the end of a prompt too long for the model's context with the answer added."""
        most = getattr(self.model.config, "max_position_embeddings", None)
        room = (most - params.max_new_tokens) if most else None
        return ids[-room:] if room and room > 0 and len(ids) > room else ids

    # --- generating --------------------------------------------------------------------------------

    def generate(self, prompts: list[Prompt], params: GenerationParams,
                 on_progress: Callable[[int], None] | None = None) -> list[Generation]:
        import torch

        encoded = [self._limit(self._encode(self.prompt_text(p)), params) for p in prompts]
        order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]))
        results: list[Generation | None] = [None] * len(encoded)
        config, eos = self._config(params), set(self._eos_ids())
        device = next(self.model.parameters()).device
        self.model.eval()
        if params.seed is not None:
            torch.manual_seed(params.seed)
        for start in range(0, len(order), self.batch_size):
            batch = order[start:start + self.batch_size]
            width = max(len(encoded[i]) for i in batch)
            ids = torch.full((len(batch), width), self.tokenizer.pad_token_id, dtype=torch.long)
            mask = torch.zeros((len(batch), width), dtype=torch.long)
            for row, i in enumerate(batch):  # left padding: every prompt ends where generation starts
                n = len(encoded[i])
                ids[row, width - n:] = torch.tensor(encoded[i])
                mask[row, width - n:] = 1
            with torch.inference_mode(), self._context():
                out = self.model.generate(input_ids=ids.to(device), attention_mask=mask.to(device),
                                          generation_config=config)
            for row, i in enumerate(batch):
                results[i] = self._finish(out[row, width:].tolist(), eos, len(encoded[i]), params)
            if on_progress:
                on_progress(len(batch))
        return [r for r in results if r is not None]

    def _finish(self, new: list[int], eos: set[int], prompt_tokens: int, params: GenerationParams) -> Generation:
        end = next((k for k, t in enumerate(new) if t in eos), None)
        kept = new if end is None else new[:end]
        text = self.tokenizer.decode(kept, skip_special_tokens=True)
        reason = "length" if end is None else "stop"
        for s in params.stop:
            if s and s in text:
                text, reason = text[:text.index(s)], "stop"
        return Generation(text=text.strip(), prompt_tokens=prompt_tokens,
                          completion_tokens=len(new) if end is None else end + 1, finish_reason=reason)

    def stream(self, prompt: Prompt, params: GenerationParams) -> Iterator[str]:
        import torch
        from transformers import TextIteratorStreamer

        ids = torch.tensor([self._limit(self._encode(self.prompt_text(prompt)), params)])
        device = next(self.model.parameters()).device
        streamer = TextIteratorStreamer(self.tokenizer, skip_prompt=True, skip_special_tokens=True)
        self.model.eval()
        failure: list[BaseException] = []

        def work():
            try:
                with torch.inference_mode(), self._context():
                    self.model.generate(input_ids=ids.to(device), attention_mask=torch.ones_like(ids).to(device),
                                        generation_config=self._config(params), streamer=streamer)
            except BaseException as exc:  # surfaced in the caller's thread below
                failure.append(exc)
                streamer.end()

        thread = threading.Thread(target=work, daemon=True)
        thread.start()
        yield from _tidy(streamer, params.stop)
        thread.join()
        if failure:
            raise failure[0]

    def count_tokens(self, prompt: Prompt) -> int:
        return len(self._encode(self.prompt_text(prompt)))

    @property
    def context_length(self) -> int | None:
        return getattr(self.model.config, "max_position_embeddings", None)


def _tidy(pieces, stop: tuple[str, ...]):
    """Stream pieces that join to what ``generate`` returns: no leading or trailing whitespace, cut at the
    first stop string (trailing whitespace is held back until more text follows)."""
    text, sent = "", 0
    for piece in pieces:
        text += piece
        visible = text.lstrip()
        cut = min((visible.index(s) for s in stop if s and s in visible), default=None)
        if cut is not None:
            out = visible[:cut].rstrip()[sent:]
            if out:
                yield out
            return
        keep = max((len(s) - 1 for s in stop if s), default=0)  # a stop string may be arriving
        ready = visible.rstrip()
        ready = ready[:max(sent, len(ready) - keep)] if keep else ready
        if len(ready) > sent:
            yield ready[sent:]
            sent = len(ready)
    rest = text.lstrip().rstrip()[sent:]
    if rest:
        yield rest
