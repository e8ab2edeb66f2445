"""Cost estimation shared by every provider: hardware catalog, model size, throughput and memory model,
price catalogs, and the plans providers' ``estimate()`` return. Imports no SDK, torch or transformers.

    plan_gpu(spec, stats, catalog, provider=..., notes=...)   cheapest fitting instance of a priced catalog
    plan_local(spec, stats, price_per_hour, gpu, gpu_count)   this machine, calibrated when measured
    plan_tokens(spec, stats, catalog, provider=..., notes=...)  per-token fine-tuning (OpenAI)
    openai_billed_tokens(records, model, epochs, catalog=...)   billed tokens exactly as OpenAI counts
    pricing.load_catalog(path, provider=..., region=...)      a provider's dated, sourced prices
"""

from .plan import Fit, Workload, memory_plan, plan_gpu, plan_local, workload
from .pricing import Catalog, load_catalog
from .tokens import BilledTokens, openai_billed_tokens, openai_default_epochs, plan_tokens

__all__ = [
    "BilledTokens",
    "Catalog",
    "Fit",
    "Workload",
    "load_catalog",
    "memory_plan",
    "openai_billed_tokens",
    "openai_default_epochs",
    "plan_gpu",
    "plan_local",
    "plan_tokens",
    "workload",
]
