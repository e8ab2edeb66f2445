"""Cost estimation shared by every provider: hardware catalog, model size, throughput and memory model,
price catalogs, and the plans providers' ``estimate()`` return. Imports no SDK, torch or transformers.

    plan_gpu(spec, stats, catalog, provider=..., notes=...)    cheapest fitting instance of a priced catalog
    plan_machine(spec, stats, price_per_hour, gpu, gpu_count)    this machine, calibrated when measured
    plan_tokens(spec, stats, catalog, provider=..., notes=...) per-token fine-tuning (OpenAI)
    openai_billed_tokens(records, model, epochs, catalog=...)  billed tokens exactly as OpenAI counts
    memory_plan(spec, gpu_memory_gb)                           fits? needs gradient checkpointing? (trainer)
    pricing.load_catalog(path, provider=..., region=...)       a provider's dated, sourced prices

Names load on first use (PEP 562), so importing the package costs nothing until one is needed.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "Fit": "plan", "Workload": "plan", "memory_plan": "plan", "plan_gpu": "plan", "plan_machine": "plan",
    "workload": "plan", "Catalog": "pricing", "load_catalog": "pricing", "BilledTokens": "tokens",
    "openai_billed_tokens": "tokens", "openai_default_epochs": "tokens", "plan_tokens": "tokens",
}
__all__ = [
    "BilledTokens", "Catalog", "Fit", "Workload", "load_catalog", "memory_plan", "openai_billed_tokens",
    "openai_default_epochs", "plan_gpu", "plan_machine", "plan_tokens", "workload",
]

if TYPE_CHECKING:
    from .plan import Fit, Workload, memory_plan, plan_gpu, plan_machine, workload
    from .pricing import Catalog, load_catalog
    from .tokens import BilledTokens, openai_billed_tokens, openai_default_epochs, plan_tokens


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value
