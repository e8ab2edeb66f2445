"""Plans: from a spec and data statistics to a CostEstimate — the mechanics every provider's
``estimate()`` calls. Pure computation from catalogs; imports no SDK, torch or transformers.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from ..errors import ConfigError
from ..types import CostEstimate, CostLine, DataStats, Money
from . import calibration
from .hardware import CPU, GPUS, Gpu, get_gpu, normalize_gpu
from .model_size import ModelSize, model_size
from .pricing import Catalog, Offer, staleness_note
from .workload import GB, eval_flops_per_token, flops_per_token, max_batch, memory_per_gpu, usable_bytes


@dataclass(frozen=True)
class Workload:
    """What one training run has to compute, independent of the hardware."""

    size: ModelSize
    method: str
    seq: int  # longest sequence a batch holds (memory)
    context: float  # mean tokens per example (attention FLOPs)
    batch: int
    lora_r: int
    lora_target: str | list[str]
    train_tokens: int
    epochs: float
    flops: float  # training + evaluation FLOPs in total

    def memory(self, batch: int | None = None):
        return memory_per_gpu(self.size, self.method, seq=self.seq, batch=self.batch if batch is None else batch,
                              lora_r=self.lora_r, lora_target=self.lora_target)

    def describe(self) -> str:
        per_tok = flops_per_token(self.size, self.method, self.context)
        rule = "6·N" if self.method == "full" else "4·N"
        return (f"{self.train_tokens:,} train tokens × {self.epochs:g} epochs × {per_tok / 1e9:.2f} GFLOP/token "
                f"({rule} + attention, N = {self.size.compute_params / 1e9:.3g}B) + evaluation = {self.flops:.3g} FLOPs")


def workload(spec, stats: DataStats) -> Workload:
    hp = spec.hyperparameters
    size = model_size(spec.base_model)
    train = stats.train
    seq = min(hp.max_seq_length, train.max_tokens) if train.max_tokens > 0 else hp.max_seq_length
    context = min(train.tokens / train.examples, hp.max_seq_length) if train.examples else 0.0
    flops = train.tokens * hp.epochs * flops_per_token(size, spec.method, context)
    val = stats.splits.get("validation")
    if val is not None and val.tokens:
        val_context = min(val.tokens / max(val.examples, 1), hp.max_seq_length)
        flops += val.tokens * (math.ceil(hp.epochs) + 1) * eval_flops_per_token(size, val_context)
    return Workload(size, spec.method, max(seq, 1), context, hp.batch_size, hp.lora.r, hp.lora.target_modules,
                    train.tokens, hp.epochs, flops)


def _basics(work: Workload, stats: DataStats) -> list[str]:
    out = [f"model size: {work.size.params / 1e9:.3g}B parameters, from {work.size.source}",
           f"compute: {work.describe()}",
           "time = FLOPs / (GPUs × peak dense bf16 FLOP/s × MFU); padding to the longest example in a batch is not counted",
           "memory: data parallel (every GPU holds the whole model), gradient checkpointing, bf16 weights"]
    if stats.approximate:
        out.append(f"token counts are approximate ({stats.tokenizer or 'no tokenizer'})")
    return out


def _hours_for(work: Workload, gpu: Gpu, count: int, tflops_per_gpu: float | None = None) -> tuple[float, str]:
    if tflops_per_gpu is not None:
        rate = tflops_per_gpu * 1e12 * count
        how = f"{count}× {gpu.name} at a measured {tflops_per_gpu:.3g} TFLOP/s each"
    else:
        mfu = gpu.default_mfu(work.method)
        rate = gpu.peak_tflops * 1e12 * mfu * count
        how = f"{count}× {gpu.name} at {gpu.peak_tflops:g} TFLOP/s peak × MFU {mfu:g} (planning assumption)"
    return work.flops / rate / 3600, how


def _hours_decimal(hours: float) -> Decimal:
    return Decimal(str(round(hours, 4)))


def _fit_reason(work: Workload, memory_gb: float) -> str | None:
    mem = work.memory()
    if mem.total <= usable_bytes(memory_gb):
        return None
    best = max_batch(work.size, work.method, seq=work.seq, memory_gb=memory_gb, lora_r=work.lora_r,
                     lora_target=work.lora_target)
    hint = f"; fits at batch ≤ {best}" if best >= 1 else "; does not fit even at batch 1"
    return (f"needs {mem.total / GB:.1f} GB per GPU > {usable_bytes(memory_gb) / GB:.1f} GB usable "
            f"({mem.describe()} at batch {work.batch} × seq {work.seq}){hint}")


def _offer_notes(offer: Offer) -> list[str]:
    notes = []
    for part in offer.parts:
        p = part.price
        if p.derived or p.confidence == "L":
            why = f": {p.derived}" if p.derived else ""
            notes.append(f"price of {part.item} is {'derived' if p.derived else 'low-confidence'} "
                         f"(confidence {p.confidence}){why}")
        if part.regional is not None:
            notes.append(f"price of {part.item} in this region is an assumption: {part.regional.note}")
    return notes


def plan_gpu(spec, stats: DataStats, catalog: Catalog, *, provider: str | None = None,
             notes: Iterable[str] = ()) -> CostEstimate:
    """The cheapest instance in ``catalog`` whose GPUs fit the model, method, sequence length and batch,
    within ``compute.max_hours``; every other instance is listed in ``rejected`` with the reason."""
    name = provider or catalog.provider
    work = workload(spec, stats)
    compute = spec.compute
    want_gpu = normalize_gpu(compute.gpu) if compute.gpu else None
    if compute.gpu and want_gpu is None:
        raise ConfigError(f"compute.gpu: unknown GPU {compute.gpu!r}", [f"known: {', '.join(GPUS)}"])
    exact_count = "gpu_count" in compute.model_fields_set
    rejected: list[str] = []
    fitting: list[tuple[Decimal, Decimal | None, float, str, Offer]] = []
    spot_policy = catalog.data.spot
    overhead_h = catalog.data.overhead_minutes / 60
    for inst in catalog.data.instances:
        label = f"{inst.name} ({inst.gpu_count}× {inst.gpu} {inst.gpu_memory_gb:g} GB)"
        gpu = get_gpu(inst.gpu)
        offer = catalog.offer(inst)
        why = None
        if isinstance(offer, str):
            why = offer
        elif want_gpu and normalize_gpu(inst.gpu) != want_gpu:
            why = f"not a {want_gpu} (compute.gpu)"
        elif exact_count and inst.gpu_count != compute.gpu_count:
            why = f"{inst.gpu_count} GPUs, compute.gpu_count asks for {compute.gpu_count}"
        elif compute.min_gpu_memory_gb and inst.gpu_memory_gb < compute.min_gpu_memory_gb:
            why = f"{inst.gpu_memory_gb:g} GB per GPU < compute.min_gpu_memory_gb {compute.min_gpu_memory_gb:g}"
        elif gpu is None:
            why = f"GPU {inst.gpu!r} is not in anytune's hardware catalog, so its speed is unknown"
        else:
            why = _fit_reason(work, inst.gpu_memory_gb)
        if why is None:
            hours, how = _hours_for(work, gpu, inst.gpu_count)
            hours += overhead_h
            if hours > compute.max_hours:
                why = f"needs {hours:.1f} h > compute.max_hours {compute.max_hours:g}"
        if why is not None:
            rejected.append(f"{label}: {why}")
            continue
        q = _hours_decimal(hours)
        on_demand = offer.hourly * q
        spot = _spot_hourly(offer, spot_policy)
        fitting.append((on_demand, None if spot is None else spot * q, hours, how, offer))
    notes = list(notes)
    assumptions = _basics(work, stats)
    if overhead_h:
        assumptions.append(f"{catalog.data.overhead_minutes:g} min of billed start-up per job (catalog assumption)")
    if not fitting:
        return CostEstimate(provider=name, fits=False, notes=tuple(notes), assumptions=tuple(assumptions),
                            rejected=tuple(rejected))
    key = (lambda f: (f[1] if f[1] is not None else f[0], f[0])) if compute.spot else (lambda f: (f[0],))
    fitting.sort(key=lambda f: (*key(f), f[4].instance.gpu_count))
    on_demand, spot_total, hours, how, offer = fitting[0]
    for other in fitting[1:]:
        rejected.append(f"{other[4].instance.name}: fits, but costs {Money(amount=other[0])} on demand")
    assumptions.append(f"throughput: {how}")
    if spot_total is not None and any(p.spot is None for p in offer.parts) and spot_policy is not None:
        assumptions.append(f"spot = {spot_policy.fraction} × on-demand: {spot_policy.assumption}")
    q = _hours_decimal(hours)
    lines = tuple(
        CostLine(item=part.item, quantity=q * part.quantity, unit="GPU-hour" if "accelerator" in part.item else "hour",
                 unit_price=Money(amount=part.on_demand, currency=catalog.data.currency), source=part.price.source,
                 as_of=part.price.as_of)
        for part in offer.parts)
    as_of = min(p.price.as_of for p in offer.parts)
    notes += _offer_notes(offer)
    stale = staleness_note(name, as_of)
    if stale:
        notes.append(stale)
    inst = offer.instance
    return CostEstimate(
        provider=name, instance=inst.name, gpu=inst.gpu, gpu_count=inst.gpu_count, fits=True, hours=hours,
        lines=lines, spot_total=None if spot_total is None else Money(amount=spot_total, currency=catalog.data.currency),
        as_of=as_of, notes=tuple(notes), assumptions=tuple(assumptions), rejected=tuple(rejected))


def _spot_hourly(offer: Offer, policy) -> Decimal | None:
    total = Decimal(0)
    for part in offer.parts:
        if part.spot is not None:
            total += part.spot * part.quantity
        elif policy is not None:
            total += part.on_demand * policy.fraction * part.quantity
        else:
            return None
    return total


def plan_local(spec, stats: DataStats, price_per_hour: Decimal, gpu: str | None, gpu_count: int, *,
               notes: Iterable[str] = ()) -> CostEstimate:
    """A run on this machine: ``gpu`` as the driver names it (None = CPU), at ``price_per_hour`` (default 0).
    Uses a calibrated throughput (`anytune calibrate`) for this GPU and method when there is one."""
    work = workload(spec, stats)
    hw = get_gpu(gpu) if gpu else CPU
    notes = list(notes)
    assumptions = _basics(work, stats)
    count = max(gpu_count, 1) if gpu else 1
    if hw is None:
        raise ConfigError(f"local GPU {gpu!r} is not in anytune's hardware catalog",
                          ["run `anytune calibrate` after a short local run, or set compute.gpu to a known type"])
    cal = calibration.lookup(hw.name, work.method)
    if cal is not None:
        hours, how = _hours_for(work, hw, count, cal.tflops_per_gpu)
        assumptions.append(f"throughput: {how} (calibrated {cal.measured_at} with {cal.base_model}, {cal.method})")
    else:
        hours, how = _hours_for(work, hw, count)
        assumptions.append(f"throughput: {how}")
        notes.append("not calibrated: run `anytune calibrate` after a local run for a measured speed")
    fits, rejected = True, ()
    if gpu:
        why = _fit_reason(work, hw.memory_gb)
        if why:
            fits, rejected = False, (f"local {count}× {hw.name} {hw.memory_gb:g} GB: {why}",)
    q = _hours_decimal(hours)
    line = CostLine(item=f"local {'CPU' if not gpu else f'{count}× {hw.name}'}", quantity=q, unit="hour",
                    unit_price=Money.of(price_per_hour), source="provider_options.local.price_per_hour")
    return CostEstimate(provider="local", instance="this machine", gpu=hw.name if gpu else "", gpu_count=count if gpu else 0,
                        fits=fits, hours=hours, lines=(line,) if fits else (), notes=tuple(notes),
                        assumptions=tuple(assumptions), rejected=rejected)
