"""Which priced instance a cloud job runs on, for providers whose catalog lists instances (SageMaker,
Azure ML): the one the user fixed, else the cheapest that fits, as :func:`anytune.estimation.plan_gpu` plans it.

    est = estimate_instances(spec, stats, pricing_path, provider="azureml", region=None,
                             instance_type=options.instance_type, option="provider_options.azureml.instance_type")
    est = estimate_instances(spec, seq_length_stats(spec), ...)   # choosing hardware before the data is known

No SDK, torch or transformers is imported.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from ..types import CostEstimate, DataStats, SplitStats

if TYPE_CHECKING:
    from ..spec import JobSpec


def estimate_instances(spec: JobSpec, stats: DataStats, pricing: Path, *, provider: str, region: str | None,
                       instance_type: str | None, option: str, notes: Iterable[str] = ()) -> CostEstimate:
    """``plan_gpu`` over the provider's catalog, or over the one instance ``instance_type`` names."""
    from ..estimation import load_catalog, plan_gpu

    catalog = load_catalog(pricing, provider=provider, region=region)
    notes = list(notes)
    if instance_type:
        wanted = [i for i in catalog.data.instances if i.name == instance_type]
        catalog = dataclasses.replace(catalog, data=catalog.data.model_copy(update={"instances": wanted}))
        notes.append(f"instance fixed by {option} = {instance_type}")
        if not wanted:
            return CostEstimate(provider=provider, fits=False, notes=tuple(notes), rejected=(
                f"{instance_type}: not in the {provider} price catalog ({Path(pricing).name})",))
    return plan_gpu(spec, stats, catalog, provider=provider, notes=notes)


def seq_length_stats(spec: JobSpec) -> DataStats:
    """Stand-in statistics for choosing hardware without the data: one example of ``max_seq_length``
    tokens (memory depends on the sequence length; the data's size only changes the time)."""
    seq = spec.hyperparameters.max_seq_length
    return DataStats(splits={"train": SplitStats(examples=1, tokens=seq, max_tokens=seq)}, approximate=True)

