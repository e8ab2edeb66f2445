"""Which engine ``anytune serve`` answers with (``--engine``): the one place that chooses.

A serving engine loads a base model once and answers for it and for LoRA adapters put onto it:
``add_adapter(name, path)``, ``remove_adapter(name)``, ``answering(adapter_or_None)`` (an engine with
``generate``, ``stream``, ``count_tokens`` and ``context_length``).
"""

from __future__ import annotations

from pathlib import Path

from ..errors import ConfigError

ENGINES = ("transformers", "vllm")


def check(engine: str) -> None:
    """ConfigError (exit 2) when ``engine`` cannot run on this machine; called before the server starts."""
    if engine not in ENGINES:
        raise ConfigError(f"--engine {engine}: choose {' or '.join(ENGINES)}")
    if engine == "vllm":
        from .vllm_engine import check as vllm_ready

        vllm_ready()


def load(engine: str, path: Path, *, label: str, max_batch: int):
    if engine == "vllm":
        from .vllm_engine import load as load_vllm

        return load_vllm(path, label=label, max_batch=max_batch)
    from .hf import load as load_hf

    loaded = load_hf(path, label=label)
    loaded.batch_size = max_batch
    return loaded
