"""Can this machine train with this method, and how many processes to start. No torch import here:
providers call these from a parent process that must stay light."""

from __future__ import annotations

import importlib.util

TRAIN_DEPS = ("torch", "transformers", "accelerate", "safetensors")


def _importable(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):  # a broken install, or an import hook refusing the module
        return False


def missing_modules(names: tuple[str, ...]) -> list[str]:
    """Which of ``names`` cannot be imported; found without importing them."""
    return [n for n in names if not _importable(n)]


def check_method(method: str, *, cuda: bool) -> str | None:
    """Why ``method`` cannot run here (a sentence naming the fix), or None when it can.

    ``cuda`` says whether a CUDA GPU is usable; the caller finds out (the trainer asks torch,
    the local provider asks nvidia-smi so it need not import torch)."""
    missing = missing_modules(TRAIN_DEPS + (("peft",) if method in ("lora", "qlora") else ()))
    if missing:
        return f"the trainer needs {', '.join(missing)}: pip install 'anytune[train]'"
    if method == "qlora":
        if not cuda:
            return ("QLoRA needs a CUDA GPU (bitsandbytes 4-bit kernels); none is usable here. "
                    "Use method: lora (or full) on this machine, or run on a GPU provider")
        if not _importable("bitsandbytes"):
            return "QLoRA needs bitsandbytes: pip install bitsandbytes"
    elif method not in ("full", "lora"):
        return f"unknown training method {method!r} (full, lora or qlora)"
    return None


def check_spec(spec, *, cuda: bool) -> str | None:
    """:func:`check_method` for the spec's method, then its options that need something of the machine."""
    problem = check_method(spec.method, cuda=cuda)
    if problem or not spec.hyperparameters.liger:
        return problem
    if not cuda:
        return ("hyperparameters.liger: Liger's kernels are Triton kernels for CUDA GPUs; none is usable here. "
                "Set liger: false on this machine, or run on a GPU provider")
    if not _importable("liger_kernel"):
        return "hyperparameters.liger needs Liger's kernels: pip install 'anytune[liger]'"
    return None
